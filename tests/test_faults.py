"""Faults of the Kubernetes API and the Argo Server, injected into the fakes, seen through a real pygeoapi
server (argo_papermill.app under gunicorn) (issue 13): 500s, 429 with Retry-After, dropped connections,
slow answers past the request timeout, a Workflow deleted between list and get, a create committed but
unanswered, watch streams cut mid-event, failing patches of the callback records.

Reads are retried with bounded backoff (``backends.base.retry_read``: 3 tries); a create is retried and
is idempotent by name; whatever still fails is a 503 document. Never a duplicate Workflow, never a lost
job, callbacks exactly once per state.
"""

from __future__ import annotations

import time

import pytest
import requests
from fakes import argo_server as fake_argo
from fakes import kube as fake_kube
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, TOKEN
from fakes.receiver import Receiver
from test_app_e2e import start_server, stop

from argo_papermill.backends.base import READ_ATTEMPTS

pytestmark = pytest.mark.e2e

REQUEST_TIMEOUT = 1.0
HANG = 60  # a request or wait taking longer counts as hanging (not a speed assertion)


def _manager(tmp, home, **backend) -> dict:
    return {"name": "argo_papermill.ArgoManager", "namespace": NAMESPACE, "connection": "argo",
            "output_dir": str(tmp / "out"), "results": {"path_map": {"/home/jovyan": str(home)}},
            "sync_timeout": 60, "sync_poll_interval": 0.1, "request_timeout": REQUEST_TIMEOUT,
            "callbacks": {"timeout": 2, "retries": 1, "backoff": 0.1, "backoff_max": 0.3, "poll_interval": 0.2},
            **backend}


@pytest.fixture(scope="module")
def kube_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults-kube")
    home = tmp / "home"
    home.mkdir()
    httpd, fake, url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    ctrl = FakeController(fake, NAMESPACE, home).start()
    recv = Receiver()
    proc, api = start_server(tmp, _manager(tmp, home, backend="kubernetes",
                                           kubernetes={"server": url, "token": TOKEN}))
    yield {"url": api, "fake": fake, "recv": recv}
    print(f"\nfake Kubernetes API: {fake.faults_fired} injected faults answered, {len(fake.requests)} requests")
    stop(proc)
    ctrl.stop()
    recv.close()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def argo_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults-argo")
    home = tmp / "home"
    home.mkdir()
    httpd, fake, url = fake_argo.serve(fake_argo.FakeArgoServer(token=TOKEN))
    ctrl = FakeController(fake, NAMESPACE, home).start()
    proc, api = start_server(tmp, _manager(tmp, home, backend="argo-server",
                                           argo_server={"url": url, "token": TOKEN}))
    yield {"url": api, "fake": fake}
    print(f"\nfake Argo Server: {fake.faults_fired} injected faults answered, {len(fake.requests)} requests")
    stop(proc)
    ctrl.stop()
    httpd.shutdown()
    httpd.server_close()


def submit(env, scenario="json", subscriber=None) -> requests.Response:
    body = {"inputs": {"scenario": scenario}}
    if subscriber:
        body["subscriber"] = subscriber
    return requests.post(f"{env['url']}/processes/scenario/execution", json=body,
                         headers={"Prefer": "respond-async"}, timeout=HANG)


def finished(env, job_id) -> dict:
    deadline = time.time() + HANG
    while time.time() < deadline:
        r = requests.get(f"{env['url']}/jobs/{job_id}?f=json", timeout=HANG)
        if r.status_code == 200 and r.json()["status"] in ("successful", "failed"):
            return r.json()
        time.sleep(0.1)
    raise AssertionError(r.text)


def copies(env, job_id) -> int:
    return sum(job_id in w["metadata"]["name"] for w in env["fake"].workflows(NAMESPACE))


def gets_of(env, name_part: str) -> int:
    return sum(1 for method, path, *_ in env["fake"].requests if method == "GET" and path.endswith(name_part))


@pytest.mark.parametrize("fault", [
    {"status": 500, "times": 2},
    {"status": 503, "times": 2, "reason": "ServiceUnavailable"},
    {"status": 429, "times": 2, "reason": "TooManyRequests", "retry_after": "1"},
    {"status": 0, "times": 2, "drop": True},
    {"status": 0, "times": 1, "delay": REQUEST_TIMEOUT * 2},  # slower than request_timeout
])
def test_transient_read_faults_are_retried(kube_env, fault):
    job_id = submit(kube_env).json()["jobID"]
    finished(kube_env, job_id)
    before = gets_of(kube_env, job_id)
    kube_env["fake"].fail("GET", rf"pygeoapi-job-{job_id}$", **fault)
    try:
        r = requests.get(f"{kube_env['url']}/jobs/{job_id}?f=json", timeout=HANG)
    finally:
        kube_env["fake"].clear_faults()
    assert r.status_code == 200 and r.json()["status"] == "successful", r.text
    assert gets_of(kube_env, job_id) - before == fault["times"] + 1  # retried, once per fault


def test_lasting_read_fault_is_a_503_after_bounded_tries(kube_env):
    job_id = submit(kube_env).json()["jobID"]
    finished(kube_env, job_id)
    before = gets_of(kube_env, job_id)
    kube_env["fake"].fail("GET", rf"pygeoapi-job-{job_id}$", 500, message="etcdserver: leader changed")
    try:
        r = requests.get(f"{kube_env['url']}/jobs/{job_id}?f=json", timeout=HANG)
    finally:
        kube_env["fake"].clear_faults()
    assert r.status_code == 503 and "leader changed" in r.json()["description"] and "Traceback" not in r.text
    assert gets_of(kube_env, job_id) - before == READ_ATTEMPTS


@pytest.mark.parametrize("fault", [
    {"status": 0, "times": 1, "drop": True, "after_apply": True},  # committed, the answer lost
    {"status": 504, "times": 1, "after_apply": True, "message": "the server was unable to return a response"},
    {"status": 500, "times": 2},  # refused before anything was stored
    {"status": 0, "times": 1, "delay": REQUEST_TIMEOUT * 2},  # too slow: the client gives up, the API commits
])
def test_create_faults_make_exactly_one_workflow(kube_env, fault):
    kube_env["fake"].fail("POST", r"/workflows$", **fault)
    try:
        r = submit(kube_env)
    finally:
        kube_env["fake"].clear_faults()
    assert r.status_code == 201, r.text
    job_id = r.json()["jobID"]
    assert finished(kube_env, job_id)["status"] == "successful"
    assert copies(kube_env, job_id) == 1


def test_lasting_create_fault_is_a_503_and_nothing(kube_env):
    before = len(kube_env["fake"].workflows(NAMESPACE))
    kube_env["fake"].fail("POST", r"/workflows$", 503, "ServiceUnavailable", "apiserver is shutting down")
    try:
        r = submit(kube_env)
    finally:
        kube_env["fake"].clear_faults()
    assert r.status_code == 503 and "shutting down" in r.json()["description"]
    assert len(kube_env["fake"].workflows(NAMESPACE)) == before


def test_workflow_deleted_between_list_and_get_is_left_out(kube_env):
    kept, gone = (submit(kube_env).json()["jobID"] for _ in range(2))
    for job_id in (kept, gone):
        finished(kube_env, job_id)
    kube_env["fake"].fail("GET", rf"pygeoapi-job-{gone}$", 404, "NotFound", f"workflows \"{gone}\" not found",
                          watch=False)
    try:
        r = requests.get(f"{kube_env['url']}/jobs?f=json&limit=50", timeout=HANG)
    finally:
        kube_env["fake"].clear_faults()
    assert r.status_code == 200, r.text
    ids = [j["jobID"] for j in r.json()["jobs"]]
    assert kept in ids and gone not in ids and len(ids) == len(set(ids))


def test_watch_streams_cut_mid_event_lose_no_job(kube_env):
    requests.get(f"{kube_env['url']}/jobs?f=json", timeout=HANG)  # the index and its watch are running
    kube_env["fake"].fail("GET", r"/workflows$", 0, watch=True, cut_watch=True, times=6)
    try:
        ids = [submit(kube_env).json()["jobID"] for _ in range(3)]
        for job_id in ids:
            finished(kube_env, job_id)
        deadline = time.time() + HANG
        while time.time() < deadline:
            listed = [j["jobID"] for j in requests.get(f"{kube_env['url']}/jobs?f=json&limit=50",
                                                         timeout=HANG).json()["jobs"]]
            if all(i in listed for i in ids):
                break
            time.sleep(0.2)
    finally:
        kube_env["fake"].clear_faults()
    assert all(listed.count(i) == 1 for i in ids), listed


def test_callbacks_exactly_once_while_patches_fail(kube_env):
    recv = kube_env["recv"]
    sub = {"successUri": f"{recv.url}/ok", "inProgressUri": f"{recv.url}/progress"}
    kube_env["fake"].fail("PATCH", r"/workflows/", 500, times=4)
    kube_env["fake"].fail("PATCH", r"/workflows/", 0, times=2, drop=True, after_apply=True)
    try:
        job_id = submit(kube_env, subscriber=sub).json()["jobID"]
        finished(kube_env, job_id)
        deadline = time.time() + HANG
        while time.time() < deadline and len([c for c in recv.calls if c[1]["jobID"] == job_id]) < 2:
            time.sleep(0.1)
    finally:
        kube_env["fake"].clear_faults()
    time.sleep(1.5)  # both workers' notifiers go round several times more
    mine = [(p, b["status"]) for p, b in recv.calls if b["jobID"] == job_id]
    assert mine == [("/progress", "running"), ("/ok", "successful")]


@pytest.mark.parametrize("fault", [{"status": 500, "times": 2}, {"status": 0, "times": 2, "drop": True},
                                   {"status": 429, "times": 1, "retry_after": "1"}])
def test_argo_server_read_faults_are_retried(argo_env, fault):
    r = submit(argo_env)
    assert r.status_code == 201, r.text
    job_id = r.json()["jobID"]
    finished(argo_env, job_id)
    argo_env["fake"].fail("GET", rf"/pygeoapi-job-{job_id}$", **fault)
    try:
        r = requests.get(f"{argo_env['url']}/jobs/{job_id}?f=json", timeout=HANG)
    finally:
        argo_env["fake"].clear_faults()
    assert r.status_code == 200 and r.json()["status"] == "successful", r.text


def test_argo_server_create_answer_lost_makes_one_workflow(argo_env):
    argo_env["fake"].fail("POST", r"/api/v1/workflows/", 0, times=1, drop=True, after_apply=True)
    try:
        r = submit(argo_env)
    finally:
        argo_env["fake"].clear_faults()
    assert r.status_code == 201, r.text
    job_id = r.json()["jobID"]
    finished(argo_env, job_id)
    assert copies(argo_env, job_id) == 1
