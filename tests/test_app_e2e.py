"""End to end: a real pygeoapi server (argo_papermill.app under gunicorn, 2 workers) over HTTP on loopback,
backed by the fake Kubernetes API, the fake controller and real papermill results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from fakes import kube as fake_kube
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, TOKEN, free_port
from fakes.receiver import Receiver

pytestmark = pytest.mark.e2e

VENV_BIN = Path(sys.executable).parent
TESTS = Path(__file__).resolve().parent


def pygeoapi_config(port: int, manager: dict, extra_resources: dict | None = None,
                    logging: dict | None = None) -> dict:
    config = {
        "server": {"bind": {"host": "127.0.0.1", "port": port}, "url": f"http://127.0.0.1:{port}",
                   "mimetype": "application/json; charset=UTF-8", "encoding": "utf-8", "languages": ["en-US"],
                   "limits": {"default_items": 10, "max_items": 50},
                   "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OSM"},
                   "manager": manager},
        "logging": {"level": "ERROR"},
        "metadata": {"identification": {"title": "t", "description": "d", "keywords": ["k"],
                                        "url": "http://example.org",
                                        "terms_of_service": "https://creativecommons.org/licenses/by/4.0/"},
                     "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
                     "provider": {"name": "p", "url": "http://example.org"}, "contact": {"name": "c"}},
        "resources": {
            "scenario": {"type": "process", "allow_internal_requests": True,
                         "processor": {"name": "fakes.processor.ScenarioProcessor"}},
            "hello-world": {"type": "process", "processor": {"name": "HelloWorld"}},
        },
    }
    config["resources"].update(extra_resources or {})
    config["logging"] = logging or config["logging"]
    return config


def start_server(tmp: Path, manager: dict, extra_resources: dict | None = None, workers: int = 2,
                 threads: int = 4, logging: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cfg, oas = tmp / "pygeoapi.yml", tmp / "openapi.yml"
    cfg.write_text(yaml.safe_dump(pygeoapi_config(port, manager, extra_resources, logging)))
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(oas),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([str(VENV_BIN / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(oas)],
                   env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", str(threads),
                             "--timeout", "120", "argo_papermill.app:APP"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "gunicorn.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"{url}/processes", timeout=2).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError((tmp / "gunicorn.log").read_text())


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL when gunicorn's graceful stop takes longer than 30 s (a loaded machine)."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    home = tmp / "home"
    home.mkdir()
    httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    ctrl = FakeController(fake, NAMESPACE, home).start()
    recv = Receiver()
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
               "connection": "argo", "output_dir": str(tmp / "out"),
               "kubernetes": {"server": kube_url, "token": TOKEN},
               "results": {"path_map": {"/home/jovyan": str(home)}},
               "sync_timeout": 60, "sync_poll_interval": 0.1, "request_timeout": 3,
               "callbacks": {"timeout": 2, "retries": 2, "backoff": 0.1, "backoff_max": 0.5, "poll_interval": 0.2}}
    proc, url = start_server(tmp, manager)
    yield {"url": url, "fake": fake, "home": home, "recv": recv, "ctrl": ctrl, "tmp": tmp}
    proc.terminate()
    proc.wait(60)  # gunicorn waits up to its graceful timeout (30 s) for workers
    ctrl.stop()
    recv.close()
    httpd.shutdown()
    httpd.server_close()


def execute(env, inputs, prefer_async=True, subscriber=None):
    body = {"inputs": inputs}
    if subscriber:
        body["subscriber"] = subscriber
    headers = {"Prefer": "respond-async"} if prefer_async else {}
    return requests.post(f"{env['url']}/processes/scenario/execution", json=body, headers=headers, timeout=90)


def wait_job(env, job_id, want=("successful", "failed"), timeout=60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = requests.get(f"{env['url']}/jobs/{job_id}?f=json", timeout=10).json()
        if job.get("status") in want:
            return job
        time.sleep(0.1)
    raise AssertionError(job)


def result(env, job_id):
    return requests.get(f"{env['url']}/jobs/{job_id}/results?f=json", timeout=30)


def test_async_execute_get_and_result(env):
    r = execute(env, {"scenario": "json", "x": 5})
    assert r.status_code == 201, r.text
    assert r.headers["Preference-Applied"] == "respond-async"
    job_id = r.json()["jobID"]
    assert r.headers["Location"].endswith(f"/jobs/{job_id}")
    assert r.json()["status"] == "accepted"
    job = wait_job(env, job_id)
    assert job["status"] == "successful" and job["progress"] == 100 and job["processID"] == "scenario"
    res = result(env, job_id)
    assert res.status_code == 200 and res.json() == 105


def test_sync_execute(env):
    r = execute(env, {"scenario": "text", "x": 7}, prefer_async=False)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain") and r.text == "hello 7"


@pytest.mark.parametrize("scenario,check", [
    ("file", lambda r: r.headers["Content-Type"].startswith("text/csv") and r.content == b"a,b\n1,5\n"),
    ("image", lambda r: r.headers["Content-Type"] == "image/png" and r.content.startswith(b"\x89PNG")),
    ("many", lambda r: r.json() == {"a": 5, "b": {"c": [1, 2]}, "label": "some text"}),
    ("none", lambda r: r.json()["notebook"].endswith("/result.ipynb")),
])
def test_result_kinds(env, scenario, check):
    job_id = execute(env, {"scenario": scenario}).json()["jobID"]
    assert wait_job(env, job_id)["status"] == "successful"
    assert check(result(env, job_id))


def test_result_file_escape_is_refused(env):
    job_id = execute(env, {"scenario": "escape-dotdot"}).json()["jobID"]
    wait_job(env, job_id)
    r = result(env, job_id)
    assert r.status_code == 403 and "outside" in r.json()["description"]
    assert "Traceback" not in r.text


def test_failed_and_unfinished_results(env):
    failed = execute(env, {"scenario": "fail"}).json()["jobID"]
    job = wait_job(env, failed)
    assert job["status"] == "failed" and "ZeroDivisionError" in job["message"]
    assert result(env, failed).status_code == 400
    hold = execute(env, {"scenario": "hold"}).json()["jobID"]
    assert result(env, hold).status_code == 404
    assert requests.get(f"{env['url']}/jobs/nope?f=json").status_code == 404


def test_list_paging(env):
    for _ in range(3):
        execute(env, {"scenario": "hold"})
    total = requests.get(f"{env['url']}/jobs?f=json&limit=50").json()  # pygeoapi does not print numberMatched
    assert len(total["jobs"]) >= 4
    ids = [j["jobID"] for j in total["jobs"]]
    page1 = requests.get(f"{env['url']}/jobs?f=json&limit=2").json()
    page2 = requests.get(f"{env['url']}/jobs?f=json&limit=2&offset=2").json()
    assert [j["jobID"] for j in page1["jobs"] + page2["jobs"]] == ids[:4]
    assert any(link["rel"] == "next" for link in page1["links"])
    created = [j["created"] for j in total["jobs"]]
    assert created == sorted(created, reverse=True)


def test_dismiss_then_404(env):
    job_id = execute(env, {"scenario": "file"}).json()["jobID"]
    wait_job(env, job_id)
    assert (env["home"] / "results" / job_id / "out.csv").exists()
    r = requests.delete(f"{env['url']}/jobs/{job_id}?f=json")
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert not (env["home"] / "results" / job_id).exists()
    assert requests.delete(f"{env['url']}/jobs/{job_id}?f=json").status_code == 404
    assert requests.get(f"{env['url']}/jobs/{job_id}?f=json").status_code == 404
    running = execute(env, {"scenario": "hold"}).json()["jobID"]
    wait_job(env, running, want=("running",))
    assert requests.delete(f"{env['url']}/jobs/{running}").status_code == 200
    assert not [w for w in env["fake"].workflows(NAMESPACE) if running in w["metadata"]["name"]]


def test_callbacks_exactly_once_with_two_workers(env):
    recv = env["recv"]
    sub = {"successUri": f"{recv.url}/ok", "inProgressUri": f"{recv.url}/progress", "failedUri": f"{recv.url}/bad"}
    job_id = execute(env, {"scenario": "json"}, subscriber=sub).json()["jobID"]
    wait_job(env, job_id)
    deadline = time.time() + 30
    while time.time() < deadline and len([c for c in recv.calls if c[1]["jobID"] == job_id]) < 2:
        time.sleep(0.1)
    time.sleep(1.5)  # both workers' notifiers go round several times more
    mine = [(p, b["status"]) for p, b in recv.calls if b["jobID"] == job_id]
    assert mine == [("/progress", "running"), ("/ok", "successful")]


def test_logs_route(env):
    job_id = execute(env, {"scenario": "hold"}).json()["jobID"]
    wait_job(env, job_id, want=("running",))
    r = requests.get(f"{env['url']}/jobs/{job_id}/logs")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain") and "Cell 1/2" in r.text


def test_bad_input_names_the_field(env):
    r = execute(env, {"scenario": "nonsense"})
    assert r.status_code == 400 and "scenario" in r.json()["description"]


def test_rejected_manifest_is_a_400_with_the_reason(env):
    r = execute(env, {"scenario": "reject"})
    assert r.status_code == 400 and "spec.entrypoint" in r.json()["description"]


def test_forbidden_names_the_permission(env):
    fake = env["fake"]
    fake.fail("POST", r"/workflows$", 403, "Forbidden", 'workflows.argoproj.io is forbidden: User '
              '"system:serviceaccount:jobs:pygeoapi" cannot create resource "workflows"')
    fake.fail("GET", r"/workflows/", 403, "Forbidden", "cannot get")
    try:
        r = execute(env, {"scenario": "json"})
        assert r.status_code == 403
        assert "'create workflows.argoproj.io' in namespace 'jobs'" in r.json()["description"]
        g = requests.get(f"{env['url']}/jobs/some-id?f=json")
        assert g.status_code == 403 and "'get workflows.argoproj.io'" in g.json()["description"]
    finally:
        fake.clear_faults()


def test_api_errors_are_503_without_a_stack_trace(env):
    fake = env["fake"]
    fake.fail("*", r"/workflows", 503, "ServiceUnavailable", "etcdserver: request timed out")
    try:
        for r in (requests.get(f"{env['url']}/jobs/x?f=json"), requests.delete(f"{env['url']}/jobs/x"),
                  execute(env, {"scenario": "json"})):
            assert r.status_code == 503, r.text
            assert "Traceback" not in r.text and "etcdserver" in r.json()["description"]
    finally:
        fake.clear_faults()


def test_api_unreachable_is_503(tmp_path):
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
               "connection": "argo", "output_dir": str(tmp_path),
               "kubernetes": {"server": f"http://127.0.0.1:{free_port()}", "token": TOKEN}, "request_timeout": 2}
    proc, url = start_server(tmp_path, manager)
    try:
        for r in (requests.get(f"{url}/jobs?f=json"), requests.get(f"{url}/jobs/x?f=json"),
                  requests.post(f"{url}/processes/scenario/execution", json={"inputs": {"scenario": "json"}},
                                headers={"Prefer": "respond-async"})):
            assert r.status_code == 503, r.text
            assert "unreachable" in r.json()["description"] and "Traceback" not in r.text
        assert requests.post(f"{url}/processes/hello-world/execution",
                             json={"inputs": {"name": "x"}}).json() == {"id": "echo", "value": "Hello x!"}
    finally:
        proc.terminate()
        proc.wait(60)  # gunicorn waits up to its graceful timeout (30 s) for workers


def test_cli_submit_jobs_logs(env):
    from click.testing import CliRunner

    from argo_papermill.cli import main

    runner = CliRunner()
    out = runner.invoke(main, ["submit", "--url", env["url"], "--process", "scenario", "-i", "scenario=json",
                               "-i", "x=2", "--wait"])
    assert out.exit_code == 0, out.output
    # stdout is only the result; the job id (and the progress bar) go to stderr
    assert out.stdout.strip() == "42"
    job_id = out.stderr.split("\n", 1)[0].removeprefix("job ").strip()
    listed = runner.invoke(main, ["jobs", "--url", env["url"], "--limit", "50", "--status", "successful",
                                  "--process", "scenario", "--json"])
    assert listed.exit_code == 0 and job_id in [j["jobID"] for j in json.loads(listed.output)]
    one = runner.invoke(main, ["jobs", "--url", env["url"], job_id])
    assert json.loads(one.output)["status"] == "successful"
    bad = runner.invoke(main, ["submit", "--url", env["url"], "--process", "scenario", "-i", "scenario=nope"])
    assert bad.exit_code != 0 and "400" in bad.output and "scenario" in bad.output
    held = runner.invoke(main, ["submit", "--url", env["url"], "--process", "scenario", "-i", "scenario=hold"])
    wait_job(env, held.output.strip(), want=("running",))
    logs = runner.invoke(main, ["logs", "--url", env["url"], held.output.strip()])
    assert logs.exit_code == 0 and "Cell 1/2" in logs.output


def test_html_job_pages_render(env):
    job_id = execute(env, {"scenario": "json"}).json()["jobID"]
    wait_job(env, job_id)
    for path in ("/jobs?f=html", f"/jobs/{job_id}?f=html", f"/jobs/{job_id}/results"):
        r = requests.get(env["url"] + path, timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), (path, r.text[:300])
    assert job_id in requests.get(env["url"] + "/jobs?f=html").text


def test_ordinary_processor_over_http(env):
    r = requests.post(f"{env['url']}/processes/hello-world/execution", json={"inputs": {"name": "z"}})
    assert r.status_code == 200 and r.json() == {"id": "echo", "value": "Hello z!"}


def test_result_notebook_route(env):
    import nbformat

    ok, failed, gone = (execute(env, {"scenario": s}).json()["jobID"] for s in ("json", "fail", "none"))
    hold = execute(env, {"scenario": "hold"}).json()["jobID"]
    for job_id in (ok, failed, gone):
        wait_job(env, job_id)
    r = requests.get(f"{env['url']}/jobs/{ok}/notebook", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/x-ipynb+json")
    assert r.content == (env["home"] / "results" / ok / "result.ipynb").read_bytes()
    assert nbformat.reads(r.text, as_version=4).cells
    html = requests.get(f"{env['url']}/jobs/{failed}/notebook?f=html", timeout=60)  # a failed one: the useful one
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert "ZeroDivisionError" in html.text and "<html" in html.text
    assert "sandbox" in html.headers["Content-Security-Policy"]  # the notebook's own HTML runs no script here
    (env["home"] / "results" / gone / "result.ipynb").unlink()
    for job_id in (hold, gone, "nope"):  # running (no notebook yet), notebook missing, unknown job
        for suffix in ("", "?f=html"):
            r = requests.get(f"{env['url']}/jobs/{job_id}/notebook{suffix}", timeout=30)
            assert r.status_code == 404 and "Traceback" not in r.text, (job_id, r.text)
