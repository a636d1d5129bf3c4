"""What the fake HTTP servers share: a quiet JSON request handler and a server thread on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from pathlib import Path
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

    def send_payload(self, code: int, payload, ctype: str = "application/json", headers: dict | None = None) -> None:
        """A str is sent as it is, anything else as JSON."""
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def drop_connection(self) -> None:
        """Close the connection without an answer (a crashed proxy, a reset)."""
        import socket

        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def fault_answered(self, fault, payload) -> bool:
        """Apply an injected fault (kube.Fault): wait ``delay``; drop the connection, or answer ``status``
        (with ``Retry-After``). True when the request is answered; False for a slow-only fault (status 0),
        after which the request is served as usual."""
        if fault is None:
            return False
        if fault.delay:
            import time

            time.sleep(fault.delay)
        if fault.drop:
            self.drop_connection()
            return True
        if not fault.status:
            return False
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        self.send_payload(fault.status, payload, headers=headers)
        return True


def loopback_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, written to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def start(handler: type[BaseHTTPRequestHandler], port: int = 0,
          tls: tuple[Path, Path] | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``handler`` on 127.0.0.1 in a daemon thread (HTTPS with ``tls`` = (cert, key));
    (server, base URL). ``shutdown()`` stops it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    scheme = "http"
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
