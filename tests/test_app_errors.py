"""argo_papermill.app's error handlers on a Flask app with a small manager that fails on purpose: every
error is an OGC exception document with its status, and nothing of the internals reaches the client."""

from __future__ import annotations

import pytest
from flask import Flask

from argo_papermill import app as app_module
from argo_papermill.backends.base import Conflict, Forbidden, NotFound, Rejected, Unavailable, Unsupported
from argo_papermill.errors import SyncTimeoutError


class FailingManager:
    """Raises the exception named by the job id from the routes argo_papermill.app adds."""

    ERRORS = {
        "forbidden": Forbidden("Kubernetes API: forbidden; needs permission 'get pods/log' in namespace 'jobs'"),
        "gone": NotFound("workflows.argoproj.io \"pygeoapi-job-gone\" not found"),
        "rejected": Rejected("Kubernetes API rejected the request (422): spec.entrypoint"),
        "unsupported": Unsupported("needs a kubernetes: block"),
        "down": Unavailable("Kubernetes API unreachable: ConnectTimeoutError"),
        "conflict": Conflict("the object has been modified"),
        "slow": SyncTimeoutError("job slow did not finish within 1 s and keeps running; follow it at /jobs/slow"),
        "bug": RuntimeError("internal detail: token=abc123 in /etc/pygeoapi/config.yml"),
    }

    def job_logs(self, job_id):
        raise self.ERRORS[job_id]

    def get_job_notebook(self, job_id):
        raise self.ERRORS[job_id]


class Api:
    config: dict = {}
    manager = FailingManager()


@pytest.fixture(scope="module")
def client():
    flask_app = Flask("errors")
    app_module.register(flask_app, Api())
    return flask_app.test_client()


@pytest.mark.parametrize("job_id,status,code", [
    ("forbidden", 403, "Forbidden"), ("gone", 404, "NoSuchJob"), ("rejected", 400, "InvalidParameterValue"),
    ("unsupported", 400, "InvalidParameterValue"), ("down", 503, "ServiceUnavailable"),
    ("conflict", 503, "ServiceUnavailable"), ("slow", 504, None), ("bug", 500, "NoApplicableCode")])
@pytest.mark.parametrize("route", ["logs", "notebook"])
def test_errors_are_ogc_documents_without_internals(client, route, job_id, status, code):
    r = client.get(f"/jobs/{job_id}/{route}")
    doc = r.get_json()
    assert r.status_code == status and set(doc) == {"type", "code", "description"}
    if code:
        assert doc["code"] == code
    assert "Traceback" not in r.text and "abc123" not in r.text and "config.yml" not in r.text
    if job_id == "forbidden":
        assert "'get pods/log' in namespace 'jobs'" in doc["description"]
