"""A local HTTP receiver for subscriber callbacks: records every POST; can fail (503) or hang the first N."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from fakes.http import start


class Receiver:
    def __init__(self, fail_first: int = 0, hang_first: int = 0, hang_seconds: float = 5.0):
        self.calls: list[tuple[str, dict]] = []  # the POSTs answered 2xx
        self.attempts: list[float] = []  # time.monotonic() of every POST
        self.fail_first = fail_first
        self.hang_first, self.hang_seconds = hang_first, hang_seconds
        self.lock = threading.Lock()
        recv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with recv.lock:
                    recv.attempts.append(time.monotonic())
                    hang = recv.hang_first > 0
                    recv.hang_first -= hang
                if hang:  # answer only after the sender gave up
                    time.sleep(recv.hang_seconds)
                    self.close_connection = True
                    return
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
