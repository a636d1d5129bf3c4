"""The WSGI app to serve: pygeoapi's Flask app plus error handlers, ``GET /jobs/<id>/logs`` and
``GET /jobs/<id>/notebook`` (the executed notebook; ``?f=html`` renders it).

pygeoapi 0.24 maps only its own job errors from ``get_jobs``/``get_job``/``delete_job``/
``get_job_result``; anything else becomes a bare 500 (with a stack trace in debug mode).
Here every ``ProcessorExecuteError`` (our ``errors.*``: 400/403/503/504 ...) and every
backend error becomes an OGC exception document with its status, and any other exception
a 500 document without internals.

Serve with ``gunicorn argo_papermill.app:APP`` (``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI``
set, as for ``pygeoapi.flask_app``). ``APP`` is built on first access, so importing this
module needs no configuration.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

LOGGER = logging.getLogger(__name__)

_APP: Any = None
IPYNB_MIMETYPE = "application/x-ipynb+json"
# a rendered notebook holds whatever HTML and script the notebook's user code printed: the sandbox makes it
# an opaque origin without scripts, so it cannot act on this API with the reader's credentials
HTML_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; "
                                           "img-src data:; font-src data:",
                "X-Content-Type-Options": "nosniff"}
# GET /jobs/{id}/results serves what a job wrote (a result-file, a display scrap) on the API's origin: every
# answer says nosniff, and anything a browser would run (HTML, SVG, XML, script) is an opaque, script-less
# sandbox that can load nothing, as the rendered notebook is (pygeoapi's own HTML result page too: it shows
# without its stylesheet).
RESULT_SANDBOX_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
PASSIVE_RESULT_TYPES = ("application/json", "text/plain", "text/csv", "application/octet-stream",
                        "application/x-ipynb+json", "application/pdf", "application/zip", "application/gzip")


def is_passive(mimetype: str) -> bool:
    """Whether a browser shows ``mimetype`` without running anything in it (images other than SVG, CSV ...)."""
    mimetype = (mimetype or "").split(";")[0].strip().lower()
    if mimetype.startswith("image/"):
        return mimetype != "image/svg+xml"
    return mimetype in PASSIVE_RESULT_TYPES or mimetype.startswith(("audio/", "video/"))


def harden_result_response(response) -> None:
    """Headers of a ``/jobs/{id}/results`` answer: nosniff always, the sandbox for active content."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if not is_passive(response.mimetype):
        response.headers["Content-Security-Policy"] = RESULT_SANDBOX_CSP


def notebook_html(notebook: bytes) -> str:
    """An executed notebook as one static HTML page (nbconvert's HTML exporter, in this request)."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.reads(notebook.decode("utf-8"), as_version=4)
    body, _ = HTMLExporter().from_notebook_node(node)
    return body


class ClientErrorLogFilter(logging.Filter):
    """pygeoapi's ``API.get_exception`` logs every error answer at ERROR with the traceback of the
    exception being handled, a 404 for an unknown job included (megabytes of log under a scanner). Client
    errors (4xx) become one WARNING line, server errors one ERROR line; our own handler below still logs
    the traceback of an unexpected exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.funcName != "get_exception":
            return True
        status = _get_exception_status()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            record.msg = f"{record.getMessage()} ({type(exc).__name__})"
            record.args = None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        if status is not None:
            record.msg = f"{status} {record.getMessage()}"
            record.args = None
            if status < 500:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _get_exception_status() -> int | None:
    """The HTTP status pygeoapi's ``get_exception`` (a caller of this log call) is answering with."""
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "get_exception" and "status" in frame.f_locals:
            try:
                return int(frame.f_locals["status"])
            except (TypeError, ValueError):
                return None
        frame = frame.f_back
    return None


def _quiet_client_errors() -> None:
    logger = logging.getLogger("pygeoapi.api")
    if not any(isinstance(f, ClientErrorLogFilter) for f in logger.filters):
        logger.addFilter(ClientErrorLogFilter())


def _document(status: int, code: str, description: str):
    from flask import Response

    body = json.dumps({"type": code, "code": code, "description": description})
    return Response(body, status=status, mimetype="application/json")


def register(app, api) -> None:
    """Add our error handlers and extra routes to pygeoapi's Flask ``app`` (whose API is ``api``)."""
    from flask import Response, request
    from pygeoapi.error import GenericError
    from pygeoapi.process.base import JobNotFoundError, JobResultNotFoundError
    from werkzeug.datastructures import Headers
    from werkzeug.exceptions import HTTPException

    from argo_papermill.backends.base import BackendError, Forbidden, NotFound, Rejected, Unsupported
    from argo_papermill.errors import RequestTooLargeError
    from argo_papermill.manager_config import LimitsSettings
    from argo_papermill.request_guard import check_execute_body

    backend_errors = ((Forbidden, 403, "Forbidden"), (NotFound, 404, "NoSuchJob"),
                      (Rejected, 400, "InvalidParameterValue"), (Unsupported, 400, "InvalidParameterValue"))

    @app.errorhandler(GenericError)
    def _generic(err):  # ProcessorExecuteError and our errors.* subclasses
        return _document(int(getattr(err, "http_status_code", 500)), getattr(err, "ogc_exception_code",
                                                                             "NoApplicableCode"),
                         getattr(err, "message", None) or "error")

    @app.errorhandler(BackendError)
    def _backend(err):  # Unavailable and anything else from a backend: 503
        status, code = next(((status, code) for kind, status, code in backend_errors if isinstance(err, kind)),
                            (503, "ServiceUnavailable"))
        return _document(status, code, err.reason)

    @app.errorhandler(JobNotFoundError)
    def _job_not_found(err):
        return _document(404, "NoSuchJob", str(err) or "job not found")

    @app.errorhandler(JobResultNotFoundError)
    def _result_not_found(err):
        return _document(404, "ResultNotReady", str(err) or "no result")

    @app.errorhandler(Exception)
    def _unexpected(err):
        if isinstance(err, HTTPException):
            return err
        LOGGER.exception("unhandled error")
        return _document(500, "NoApplicableCode", "internal server error (see the server log)")

    _quiet_client_errors()
    prefix = ""
    try:
        from pygeoapi.util import get_api_rules

        prefix = get_api_rules(api.config).get_url_prefix("flask") or ""
    except Exception:  # noqa: BLE001 - no prefix configured
        prefix = ""

    manager = getattr(api, "manager", None)
    limits = getattr(getattr(manager, "config", None), "limits", None) or LimitsSettings()
    execute_route = re.compile(rf"^{re.escape(prefix)}/processes/[^/]+/execution/?$")

    @app.before_request
    def _guard_execute():
        """The execute body within limits and an OGC execute request, before pygeoapi parses it."""
        if request.method != "POST" or not execute_route.match(request.path):
            return None
        too_large = RequestTooLargeError(f"the request body is larger than {limits.request_bytes} bytes "
                                         "(limits.request_bytes)")
        if request.content_length is not None and request.content_length > limits.request_bytes:
            raise too_large
        stream = request.environ.get("wsgi.input")  # (also a chunked body, which has no Content-Length)
        raw = stream.read(limits.request_bytes + 1) if stream is not None else b""
        if len(raw) > limits.request_bytes:
            raise too_large
        request._cached_data = raw  # what pygeoapi reads as request.data (werkzeug's get_data cache)
        check_execute_body(raw, limits.json_depth)
        return None
    results_route = re.compile(rf"^{re.escape(prefix)}/jobs/[^/]+/results/?$")
    jobs_route = re.compile(rf"^{re.escape(prefix)}/jobs(/[^/]+)?/?$")

    def _argo_ui_links(response) -> None:
        """With ``argo_ui_url``: every job of a JSON job answer links to its Workflow in the Argo UI (pygeoapi
        builds the job document from fixed keys, so the link is added to its answer)."""
        if (request.method != "GET" or response.status_code != 200 or response.mimetype != "application/json"
                or not jobs_route.match(request.path) or not getattr(getattr(manager, "config", None),
                                                                      "argo_ui_url", None)):
            return
        try:
            data = json.loads(response.get_data())
        except ValueError:
            return
        jobs = data.get("jobs") if isinstance(data, dict) and isinstance(data.get("jobs"), list) else [data]
        for job in jobs:
            if isinstance(job, dict) and isinstance(job.get("jobID"), str):
                link = manager.argo_ui_link(job["jobID"])
                if link and isinstance(job.setdefault("links", []), list):
                    job["links"].append(link)
        response.set_data(json.dumps(data))

    @app.after_request
    def _result_headers(response):
        if not isinstance(response.headers, Headers):  # pygeoapi assigns a plain dict (case-sensitive keys)
            response.headers = Headers(response.headers)
        if request.method in ("GET", "HEAD") and results_route.match(request.path):
            harden_result_response(response)
        _argo_ui_links(response)
        if response.status_code >= 400 and response.mimetype == "application/ld+json":
            # pygeoapi answers ?f=jsonld errors with its plain exception document labelled JSON-LD, a type
            # its OpenAPI document does not list for errors: it is JSON
            response.mimetype = "application/json"
        return response

    @app.route(f"{prefix}/jobs/<job_id>/logs", methods=["GET"])
    def job_logs(job_id: str):
        if manager is None or not hasattr(manager, "job_logs"):
            return _document(404, "NotFound", "logs are not available with this process manager")
        lines = list(manager.job_logs(job_id))
        return Response("".join(line if line.endswith("\n") else line + "\n" for line in lines),
                        mimetype="text/plain")

    @app.route(f"{prefix}/jobs/<job_id>/notebook", methods=["GET"])
    def job_notebook(job_id: str):
        """The executed notebook of a finished or failed job; ``?f=html`` renders it here, on demand."""
        if manager is None or not hasattr(manager, "get_job_notebook"):
            return _document(404, "NotFound", "notebooks are not available with this process manager")
        data = manager.get_job_notebook(job_id)
        if request.args.get("f") == "html":
            return Response(notebook_html(data), mimetype="text/html", headers=HTML_HEADERS)
        return Response(data, mimetype=IPYNB_MIMETYPE, headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{job_id}.ipynb"'})

    if manager is not None and hasattr(manager, "start_background"):
        manager.start_background()


def create_app():
    """pygeoapi's Flask app (configured from PYGEOAPI_CONFIG / PYGEOAPI_OPENAPI) with our additions."""
    from pygeoapi import flask_app

    register(flask_app.APP, flask_app.api_)
    return flask_app.APP


def __getattr__(name: str):
    global _APP
    if name in ("APP", "app", "application"):
        if _APP is None:
            _APP = create_app()
        return _APP
    raise AttributeError(f"module 'argo_papermill.app' has no attribute {name!r}")
