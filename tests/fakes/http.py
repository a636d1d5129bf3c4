"""What the fake HTTP servers share: a quiet JSON request handler and a server thread on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


INVALID_JSON = object()


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive like the real APIs, no access log, JSON in and out."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, *a):
        pass

    def read_request(self) -> tuple[str, dict, object]:
        """(path, parsed query, JSON body or None); INVALID_JSON when the body is not JSON."""
        u = urlparse(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = INVALID_JSON
        return u.path, parse_qs(u.query), body

    def send_payload(self, code: int, payload, ctype: str = "application/json") -> None:
        """A str is sent as it is, anything else as JSON."""
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start(handler: type[BaseHTTPRequestHandler], port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``handler`` on 127.0.0.1 in a daemon thread; (server, base URL). ``shutdown()`` stops it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
