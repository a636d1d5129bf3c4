"""``backend: argo-server`` against the real Argo Server (``--auth-mode client``: every call runs with the
RBAC of the server's ServiceAccount token): submit, list, get, logs and dismiss."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import requests
from server import PygeoapiServer

from kubeapi import KubeApi

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "examples" / "notebooks"


@pytest.fixture(scope="module")
def api(argo_stack, tmp_path_factory):
    home = argo_stack.claim_dir("home")
    shutil.copytree(NOTEBOOKS, home / "notebooks", dirs_exist_ok=True)
    os.chmod(home, 0o777)
    manager = {"name": "argo_papermill.ArgoManager", "backend": "argo-server", "namespace": argo_stack.namespace,
               "argo_server": {"url": argo_stack.argo_url, "token": argo_stack.argo_token},
               "results": {"path_map": {"/home/jovyan": str(home)}},
               "sync_timeout": 240, "sync_poll_interval": 0.5}
    processor = {"default_image": "argo-papermill-job:stack", "home_volume_claim_name": "home",
                 "job_service_account": "argo-papermill-job", "pod_gc_strategy": None}  # logs read after the job
    server = PygeoapiServer(tmp_path_factory.mktemp("pygeoapi-argo-server"), manager, processor)
    yield server
    server.stop()


def test_submit_get_list_logs_through_the_argo_server(argo_stack, api):
    job_id = api.submit({"notebook": "notebooks/hello.ipynb", "parameters_json": {"name": "server"}})
    job = api.wait(job_id)
    assert job["status"] == "successful", job
    assert job["progress"] == 100
    assert api.results(job_id).text == "Hello, server!"
    listed = requests.get(f"{api.url}/jobs?f=json&limit=50", timeout=30).json()["jobs"]
    assert job_id in [j["jobID"] for j in listed]
    logs = requests.get(f"{api.url}/jobs/{job_id}/logs", timeout=30)
    assert logs.status_code == 200 and "Hello, server!" in logs.text, logs.text  # the cell's output


def test_sync_execution_through_the_argo_server(api):
    response = api.execute({"notebook": "notebooks/hello.ipynb", "parameters_json": {"name": "sync"}}, sync=True)
    assert response.status_code == 200, response.text
    assert "Hello, sync!" in response.text


def test_dismiss_through_the_argo_server(argo_stack, api):
    job_id = api.submit({"notebook": "notebooks/long.ipynb"})
    api.wait(job_id, want=("running",))
    response = requests.delete(f"{api.url}/jobs/{job_id}", timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dismissed"
    assert requests.delete(f"{api.url}/jobs/{job_id}", timeout=60).status_code == 404
    assert requests.get(f"{api.url}/jobs/{job_id}?f=json", timeout=30).status_code == 404
    deadline = time.monotonic() + 90
    pods = None
    while time.monotonic() < deadline:
        pods = argo_stack.admin.get(KubeApi.path("Pod", namespace=argo_stack.namespace),
                                    labelSelector=f"workflows.argoproj.io/workflow=pygeoapi-job-{job_id}")["items"]
        if not pods:
            break
        time.sleep(0.5)
    assert pods == []
