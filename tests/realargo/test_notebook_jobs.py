"""Notebook jobs through ArgoManager (backend kubernetes, the server's own RBAC) on the real Argo controller.

The real API server stores the Workflow, the real workflow-controller makes the pod, the node agent runs it
with the real argoexec (init, wait, emissary), and each test reads the job back through pygeoapi over HTTP.
"""

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
def home(argo_stack) -> Path:
    """The home claim's folder (the job pods' /home/jovyan), with the example notebooks in it."""
    folder = argo_stack.claim_dir("home")
    shutil.copytree(NOTEBOOKS, folder / "notebooks", dirs_exist_ok=True)
    os.chmod(folder, 0o777)
    return folder


@pytest.fixture(scope="module")
def api(argo_stack, home, tmp_path_factory):
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": argo_stack.namespace,
               "kubernetes": {"kubeconfig": argo_stack.server_kubeconfig},
               "results": {"path_map": {"/home/jovyan": str(home)}},
               "sync_timeout": 240, "sync_poll_interval": 0.5}
    # pods kept (pod_gc_strategy null): the default podGC (OnPodSuccess) removes them, and their logs, at once
    processor = {"default_image": "argo-papermill-job:stack", "home_volume_claim_name": "home",
                 "job_service_account": "argo-papermill-job", "pod_gc_strategy": None}
    server = PygeoapiServer(tmp_path_factory.mktemp("pygeoapi-kube"), manager, processor)
    yield server
    server.stop()


def pod_processes(argo_stack, workflow: str) -> list[int]:
    """Host pids whose environment names this workflow's pod (ARGO_POD_NAME / HOSTNAME)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
        except OSError:
            continue
        if f"HOSTNAME={workflow}".encode() in environ:
            pids.append(int(entry.name))
    return pids


def test_notebook_with_parameters_succeeds(argo_stack, api, record):
    job_id = api.submit({"notebook": "notebooks/hello.ipynb", "parameters_json": {"name": "Argo"}})
    job = api.wait(job_id)
    record("notebook-parameters-succeeded", job)
    assert job["status"] == "successful", job
    assert job["progress"] == 100
    result = api.results(job_id)
    assert result.status_code == 200, result.text
    assert result.text == "Hello, Argo!", result.text  # the one scrap, as text
    notebook = requests.get(f"{api.url}/jobs/{job_id}/notebook", timeout=30)
    assert notebook.status_code == 200 and "Hello, Argo!" in notebook.text
    logs = requests.get(f"{api.url}/jobs/{job_id}/logs", timeout=30)
    assert logs.status_code == 200, logs.text
    assert "papermill" in logs.text
    workflow = argo_stack.workflow(f"pygeoapi-job-{job_id}")
    assert workflow["status"]["phase"] == "Succeeded"


def test_failing_cell_names_cell_and_exception(argo_stack, api, record):
    job_id = api.submit({"notebook": "notebooks/fail.ipynb"})
    job = api.wait(job_id)
    record("notebook-cell-failed", job)
    assert job["status"] == "failed", job
    assert "cell 3" in job["message"] and "ZeroDivisionError: division by zero" in job["message"], job
    assert argo_stack.workflow(f"pygeoapi-job-{job_id}")["status"]["phase"] == "Failed"


def test_self_reported_progress_reaches_the_job(api, record):
    job_id = api.submit({"notebook": "notebooks/long.ipynb"})
    seen: list[dict] = []
    job = api.wait(job_id, seen=seen)
    record("notebook-20-cells-succeeded", job)
    assert job["status"] == "successful", job
    between = {j["progress"] for j in seen if 0 < j.get("progress", 0) < 100}
    assert len(between) >= 3, sorted(between)


def test_timeout_stops_the_job_and_its_processes(argo_stack, api, record):
    job_id = api.submit({"notebook": "notebooks/long.ipynb", "timeout": 5})
    job = api.wait(job_id)
    record("notebook-deadline-exceeded", job)
    assert job["status"] == "failed", job
    assert "deadline" in job["message"].lower(), job
    deadline = time.monotonic() + 60
    while pod_processes(argo_stack, f"pygeoapi-job-{job_id}") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pod_processes(argo_stack, f"pygeoapi-job-{job_id}") == []


def test_dismiss_running_job(argo_stack, api):
    job_id = api.submit({"notebook": "notebooks/long.ipynb"})
    api.wait(job_id, want=("running",))
    response = requests.delete(f"{api.url}/jobs/{job_id}", timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dismissed"
    assert requests.delete(f"{api.url}/jobs/{job_id}", timeout=60).status_code == 404
    name = f"pygeoapi-job-{job_id}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pods = argo_stack.admin.get(KubeApi.path("Pod", namespace=argo_stack.namespace),
                                    labelSelector=f"workflows.argoproj.io/workflow={name}")["items"]
        if not pods and not pod_processes(argo_stack, name):
            break
        time.sleep(0.5)
    assert pods == []
    assert pod_processes(argo_stack, name) == []
