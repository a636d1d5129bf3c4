"""Result files and scraps that attack the reader (issue 13, points 1-4), through a real pygeoapi server
(argo_papermill.app under gunicorn) backed by the fake Kubernetes API and the fake controller.

A job's result folder is written by user code, so each test lets a real job finish and then puts what a
hostile notebook could have left there: active content (HTML/SVG), a named pipe, a huge sparse file, a
folder, invalid JSON, a scrap with an unknown encoder.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import requests
from fakes import kube as fake_kube
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, TOKEN
from test_app_e2e import start_server

pytestmark = pytest.mark.e2e

MAX_RESULT_BYTES = 1024 * 1024
HANG = 30  # seconds a request may take before the test calls it hanging (not a speed assertion)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    home = tmp / "home"
    home.mkdir()
    httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    ctrl = FakeController(fake, NAMESPACE, home).start()
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
               "connection": "argo", "output_dir": str(tmp / "out"),
               "kubernetes": {"server": kube_url, "token": TOKEN},
               "results": {"path_map": {"/home/jovyan": str(home)}},
               "sync_timeout": 60, "sync_poll_interval": 0.1, "request_timeout": 3,
               "callbacks": {"timeout": 2, "retries": 0, "backoff": 0.1, "backoff_max": 0.5, "poll_interval": 0.2}}
    proc, url = start_server(tmp, manager)
    yield {"url": url, "fake": fake, "home": home, "tmp": tmp}
    proc.terminate()
    proc.wait(10)
    ctrl.stop()
    httpd.shutdown()
    httpd.server_close()


def finished(env, scenario: str) -> str:
    r = requests.post(f"{env['url']}/processes/scenario/execution", json={"inputs": {"scenario": scenario}},
                      headers={"Prefer": "respond-async"}, timeout=HANG)
    assert r.status_code == 201, r.text
    job_id = r.json()["jobID"]
    deadline = time.time() + 60
    while time.time() < deadline:
        job = requests.get(f"{env['url']}/jobs/{job_id}?f=json", timeout=HANG).json()
        if job.get("status") == "successful":
            return job_id
        time.sleep(0.1)
    raise AssertionError(job)


def retarget(env, job_id: str, name: str) -> os.PathLike:
    """Make the job's ``result-file`` scrap name ``name`` (as a notebook could have); the path of that file."""
    folder = env["home"] / "results" / job_id
    nb = folder / "result.ipynb"
    nb.write_text(nb.read_text().replace("out.csv", name))
    return folder / name


def results(env, job_id: str, suffix: str = "") -> requests.Response:
    return requests.get(f"{env['url']}/jobs/{job_id}/results{suffix}", timeout=HANG)


def assert_sandboxed(r: requests.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    csp = r.headers.get("Content-Security-Policy", "")
    assert csp.startswith("sandbox") and "default-src 'none'" in csp and "allow-scripts" not in csp, csp


# ---------------------------------------------------------------- 1. stored XSS through /results
@pytest.mark.parametrize("name,content", [
    ("page.html", "<html><script>fetch('/jobs', {method: 'POST'})</script></html>"),
    ("pic.svg", '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'),
    ("page.xhtml", '<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>'),
])
def test_active_result_file_is_served_sandboxed(env, name, content):
    job_id = finished(env, "file")
    retarget(env, job_id, name).write_text(content)
    for suffix in ("", "?f=json", "?f=html"):
        r = results(env, job_id, suffix)
        assert_sandboxed(r)
        assert "<script>" in r.text  # served as the job wrote it, but inert


@pytest.mark.parametrize("scenario,mimetype", [("html-display", "text/html"), ("svg-display", "image/svg+xml")])
def test_active_display_scrap_is_served_sandboxed(env, scenario, mimetype):
    job_id = finished(env, scenario)
    r = results(env, job_id)
    assert r.headers["Content-Type"].startswith(mimetype)
    assert_sandboxed(r)


def test_plain_results_say_nosniff(env):
    job_id = finished(env, "file")
    r = results(env, job_id)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
