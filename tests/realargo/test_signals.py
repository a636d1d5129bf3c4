"""Argo's controller signals containers through ``pods/exec`` (the pod's kill-cmd annotations): a stop from
outside (``argo stop``, the Argo Server's stop endpoint) and the termination of the other containers once
one exits non-zero. The node agent carries the signal to the container's first process (spdy_exec.py)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import requests
from server import PygeoapiServer

from fakes.s3 import s3_client

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "examples" / "notebooks"


@pytest.fixture(scope="module")
def home(argo_stack) -> Path:
    folder = argo_stack.claim_dir("home")
    shutil.copytree(NOTEBOOKS, folder / "notebooks", dirs_exist_ok=True)
    os.chmod(folder, 0o777)
    return folder


def _manager(argo_stack, path_map: dict, **extra) -> dict:
    return {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": argo_stack.namespace,
            "kubernetes": {"kubeconfig": argo_stack.server_kubeconfig}, "results": {"path_map": path_map}, **extra}


def _processor(**extra) -> dict:
    return {"default_image": "argo-papermill-job:stack", "home_volume_claim_name": "home",
            "job_service_account": "argo-papermill-job", "pod_gc_strategy": None, **extra}


def _signals_sent(argo_stack, workflow: str) -> list[str]:
    log = (argo_stack.dir / "logs" / "node-agent.log").read_text(errors="replace")
    return [line.split("exec in ", 1)[1] for line in log.splitlines()
            if f"exec in {argo_stack.namespace}/{workflow}/" in line]


def test_argo_stop_reaches_papermill_through_its_kill_command(argo_stack, home, tmp_path, record):
    server = PygeoapiServer(tmp_path / "pygeoapi", _manager(argo_stack, {"/home/jovyan": str(home)}), _processor())
    try:
        # 20 cells of 6 s: the stop lands long before the notebook could end by itself, also on a loaded machine
        job_id = server.submit({"notebook": "notebooks/long.ipynb", "parameters_json": {"delay": 6}})
        server.wait(job_id, want=("running",))
        time.sleep(2)
        name = f"pygeoapi-job-{job_id}"
        stopped = requests.put(f"{argo_stack.argo_url}/api/v1/workflows/{argo_stack.namespace}/{name}/stop",
                               headers={"Authorization": f"Bearer {argo_stack.argo_token}"}, json={}, timeout=30)
        assert stopped.status_code == 200, stopped.text
        job = server.wait(job_id, want=("failed", "successful"), timeout=120)
        record("notebook-stopped", job)
        assert job["status"] == "failed", job
        assert "Stop" in job["message"], job
        deadline = time.monotonic() + 120  # the controller may mark the Workflow before it signals the pod
        while time.monotonic() < deadline and not any("/papermill: " in s for s in _signals_sent(argo_stack, name)):
            time.sleep(0.5)
        sent = _signals_sent(argo_stack, name)
        assert any(s.startswith(f"{argo_stack.namespace}/{name}/papermill: signal 15") for s in sent), sent
        papermill = next(n for n in argo_stack.workflow(name)["status"]["nodes"].values()
                         if n["displayName"] == "papermill")
        assert papermill["phase"] in ("Failed", "Error"), papermill
    finally:
        server.stop()


def test_papermill_failing_beside_s3_mount_blames_papermill(argo_stack, home, tmp_path, moto_endpoint, record):
    """Argo terminates the containers still running once papermill exits 1: s3-mount ends cleanly and the
    job's message names the failing cell, not the terminated s3-mount."""
    s3 = s3_client(moto_endpoint, "AKIASIG", "sig-secret")
    s3.create_bucket(Bucket="signal-bucket")
    import base64

    argo_stack.admin.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-sig"}, "type": "Opaque",
                            "data": {"username": base64.b64encode(b"AKIASIG").decode(),
                                     "password": base64.b64encode(b"sig-secret").decode()}}, argo_stack.namespace)
    server = PygeoapiServer(
        tmp_path / "pygeoapi", _manager(argo_stack, {"/home/jovyan": str(home)}),
        _processor(s3={"bucket_name": "signal-bucket", "secret_name": "s3-sig", "s3_url": moto_endpoint,
                       "path_style": True}))
    try:
        job_id = server.submit({"notebook": "notebooks/fail.ipynb"})
        job = server.wait(job_id)
        record("s3-mount-papermill-failed", job)
        assert job["status"] == "failed", job
        assert job["message"].startswith("papermill failed at cell 3: ZeroDivisionError"), job
        nodes = {n["displayName"]: n for n in argo_stack.workflow(f"pygeoapi-job-{job_id}")["status"]["nodes"].values()}
        assert nodes["papermill"]["phase"] == "Failed"
        assert nodes["s3-mount"]["phase"] == "Succeeded", nodes["s3-mount"]
    finally:
        server.stop()
