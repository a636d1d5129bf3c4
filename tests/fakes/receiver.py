"""A local HTTP receiver for subscriber callbacks: records every POST; can fail the first N."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler

from fakes.http import start


class Receiver:
    def __init__(self, fail_first: int = 0):
        self.calls: list[tuple[str, dict]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        recv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with recv.lock:
                    if recv.fail_first > 0:
                        recv.fail_first -= 1
                        code = 503
                    else:
                        recv.calls.append((self.path, body))
                        code = 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd, self.url = start(H)

    def paths(self) -> list[str]:
        with self.lock:
            return [p for p, _ in self.calls]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
