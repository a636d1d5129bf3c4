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
from test_app_e2e import start_server, stop

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
               "results": {"path_map": {"/home/jovyan": str(home)}, "max_bytes": MAX_RESULT_BYTES},
               "sync_timeout": 60, "sync_poll_interval": 0.1, "request_timeout": 3,
               "callbacks": {"timeout": 2, "retries": 0, "backoff": 0.1, "backoff_max": 0.5, "poll_interval": 0.2}}
    proc, url = start_server(tmp, manager)
    yield {"url": url, "fake": fake, "home": home, "tmp": tmp}
    stop(proc)
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
    assert "Content-Security-Policy" not in r.headers  # passive content: shown as it is


# ---------------------------------------------------------------- 2. a FIFO does not hang the server
def test_fifo_result_file_is_refused_without_blocking(env):
    job_id = finished(env, "file")
    target = retarget(env, job_id, "pipe.csv")
    os.mkfifo(target)
    rs = [results(env, job_id) for _ in range(12)]  # more than the server's 2 workers x 4 threads
    for r in rs:
        assert r.status_code == 404 and "not a regular file" in r.json()["description"], r.text
    assert requests.get(f"{env['url']}/jobs?f=json", timeout=HANG).status_code == 200


def test_fifo_result_notebook_is_refused_without_blocking(env):
    job_id = finished(env, "json")
    nb = env["home"] / "results" / job_id / "result.ipynb"
    nb.unlink()
    os.mkfifo(nb)
    for route in ("results", "notebook", "notebook?f=html"):
        r = requests.get(f"{env['url']}/jobs/{job_id}/{route}", timeout=HANG)
        assert r.status_code == 404 and "not a regular file" in r.json()["description"], (route, r.text)


# ---------------------------------------------------------------- 3. a size limit on result reads
def test_result_file_over_the_limit_is_refused(env):
    job_id = finished(env, "file")
    target = retarget(env, job_id, "big.csv")
    with open(target, "wb") as fh:  # sparse: costs no disk
        fh.truncate(MAX_RESULT_BYTES + 1)
    r = results(env, job_id)
    assert r.status_code == 422, r.text
    doc = r.json()
    assert doc["code"] == "ResultTooLarge" and str(MAX_RESULT_BYTES) in doc["description"]
    with open(target, "wb") as fh:
        fh.truncate(MAX_RESULT_BYTES)  # at the limit: served
    r = results(env, job_id)
    assert r.status_code == 200 and len(r.content) == MAX_RESULT_BYTES


def test_result_notebook_over_the_limit_is_refused(env):
    job_id = finished(env, "json")
    nb = env["home"] / "results" / job_id / "result.ipynb"
    with open(nb, "ab") as fh:
        fh.truncate(MAX_RESULT_BYTES + 10)
    for route in ("results", "notebook"):
        r = requests.get(f"{env['url']}/jobs/{job_id}/{route}", timeout=HANG)
        assert r.status_code == 422 and r.json()["code"] == "ResultTooLarge", (route, r.text)


# ---------------------------------------------------------------- 4. missing or unreadable results: 404 / 422
def test_missing_result_file_or_folder_is_404(env):
    job_id = finished(env, "file")
    (env["home"] / "results" / job_id / "out.csv").unlink()
    r = results(env, job_id)
    assert r.status_code == 404 and "Traceback" not in r.text, r.text
    (env["home"] / "results" / job_id / "out.csv").mkdir()
    r = results(env, job_id)
    assert r.status_code == 404, r.text


def test_missing_result_notebook_is_404_without_server_paths(env):
    job_id = finished(env, "json")
    folder = env["home"] / "results" / job_id
    (folder / "result.ipynb").unlink()
    for route in ("results", "notebook", "notebook?f=html"):
        r = requests.get(f"{env['url']}/jobs/{job_id}/{route}", timeout=HANG)
        assert r.status_code == 404, (route, r.text)
        assert str(env["home"]) not in r.text and "/home/jovyan" not in r.text, r.text
    (folder / "result.ipynb").mkdir()
    for route in ("results", "notebook"):
        assert requests.get(f"{env['url']}/jobs/{job_id}/{route}", timeout=HANG).status_code == 404


def test_invalid_json_result_file_is_a_permanent_422(env):
    job_id = finished(env, "file")
    retarget(env, job_id, "data.json").write_text('{"a": ')
    r = results(env, job_id, "?f=json")
    assert r.status_code == 422 and "data.json" in r.json()["description"], r.text


def test_unknown_scrap_encoder_is_a_permanent_422(env):
    job_id = finished(env, "json")
    nb = env["home"] / "results" / job_id / "result.ipynb"
    doc = json.loads(nb.read_text())
    text = json.dumps(doc).replace('"encoder": "json"', '"encoder": "no-such-encoder"')
    assert "no-such-encoder" in text
    nb.write_text(text)
    r = results(env, job_id, "?f=json")
    assert r.status_code == 422 and "no-such-encoder" in r.json()["description"], r.text


def test_corrupt_result_notebook_is_a_permanent_422(env):
    job_id = finished(env, "json")
    (env["home"] / "results" / job_id / "result.ipynb").write_bytes(b"\xff\xfe not a notebook")
    r = results(env, job_id, "?f=json")
    assert r.status_code == 422, r.text
