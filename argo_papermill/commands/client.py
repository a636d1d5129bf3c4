"""The HTTP side of the job commands: one place that turns every failure into one line.

A command never shows a traceback for what the server or the network did: an unreachable server, a
connection lost while waiting, a malformed ``--url``, a 4xx/5xx answer or an answer that is not the
JSON it should be each become a :class:`click.ClickException` (``Error: <one line>`` on stderr, exit
code 1).
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

import click

DEFAULT_URL = "http://localhost:5000"


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line (whitespace runs, newlines included, become one space), at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def base_url(url: str) -> str:
    """The server's base URL without a trailing slash; a malformed one is a one-line error naming ``--url``."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as err:
        raise click.ClickException(f"--url {text!r} is not a valid URL: {one_line(err)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.ClickException(
            f"--url {text!r} is not an http(s) URL with a host, e.g. {DEFAULT_URL} (or set ARGO_PAPERMILL_URL)")
    if parts.query or parts.fragment:
        raise click.ClickException(f"--url {text!r} must not have a query or fragment")
    return text.rstrip("/")


def job_path(job_id: str) -> str:
    """``/jobs/<id>`` with the id quoted, so an odd id never changes the path."""
    return "/jobs/" + quote(job_id, safe="")


class Client:
    """A requests session against one server; every error is a :class:`click.ClickException`."""

    def __init__(self, url: str, timeout: float = 60):
        import requests

        self.url = base_url(url)
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), timeout: float | None = None,
                doing: str = "", **kwargs):
        import requests

        target = f"{self.url}{path}"
        try:
            resp = self.session.request(method, target, timeout=timeout or self.timeout, **kwargs)
        except requests.ConnectionError as err:
            raise click.ClickException(
                f"cannot reach the server at {self.url}{' ' + doing if doing else ''}: {_reason(err)}") from None
        except requests.Timeout:
            raise click.ClickException(
                f"the server at {self.url} did not answer {method} {path} within {timeout or self.timeout:g} s"
            ) from None
        except requests.RequestException as err:
            raise click.ClickException(f"{method} {target} failed: {one_line(err)}") from None
        if resp.status_code not in ok:
            raise click.ClickException(f"{method} {path}: {resp.status_code} {_detail(resp)}")
        return resp

    def json(self, method: str, path: str, **kwargs):
        resp = self.request(method, path, **kwargs)
        try:
            return resp.json()
        except ValueError:
            ctype = resp.headers.get("Content-Type", "")
            raise click.ClickException(
                f"{method} {path}: the server at {self.url} answered {ctype or 'something'} instead of JSON "
                "(is it an argo-papermill server?)") from None

    def job(self, job_id: str, **kwargs) -> dict:
        job = self.json("GET", job_path(job_id), params={"f": "json"}, **kwargs)
        if not isinstance(job, dict) or "status" not in job:
            raise click.ClickException(f"GET {job_path(job_id)}: the answer is not a job document")
        return job


def _reason(err: Exception) -> str:
    """The innermost reason of a requests connection error (``Connection refused``), not urllib3's repr chain."""
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out",
                   "Connection reset by peer", "Remote end closed connection", "Connection aborted",
                   "Temporary failure in name resolution", "Network is unreachable"):
        if marker in text:
            return marker
    return one_line(text, 200)


def _detail(resp) -> str:
    """The OGC exception's ``description`` (pygeoapi), else the start of the body, on one line."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("description") or body.get("detail") or body.get("title") or body.get("type")
        if detail:
            return one_line(detail if isinstance(detail, str) else json.dumps(detail))
    return one_line(resp.reason or "") if not resp.text.strip() else one_line(resp.text, 300)
