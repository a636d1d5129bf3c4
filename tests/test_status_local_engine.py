"""The whole chain on this machine: translated manifest -> embedded engine (real papermill with the
``argo_progress`` engine, real kernel, Argo-shaped status) -> job_from_workflow.

Every status the engine writes while the job runs is mapped; the test checks what a user of
``GET /jobs/{id}`` would see over the job's life.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest

from argo_papermill import NotebookProcessor
from argo_papermill.status import job_from_workflow

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
FINAL = ("Succeeded", "Failed", "Error")


@pytest.fixture
def engine(tmp_path):
    from argo_papermill.engine.config import EngineConfig
    from argo_papermill.engine.service import Engine

    cfg = EngineConfig(data_dir=tmp_path / "data", home=tmp_path / "home", grace_seconds=1, poll_seconds=0.05)
    eng = Engine.acquire(cfg)
    assert eng is not None
    yield eng
    eng.close()


def _notebook(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _run(
    engine, job_id: str, notebook: str, timeout: float = 120, kernel: str = "python3", config: dict | None = None
) -> list[dict]:
    """Submit the translated Workflow and map every status snapshot until it finishes."""
    manifest = NotebookProcessor({"home_volume_claim_name": "user-home", **(config or {})}).workflow_manifest(
        job_id, {"notebook": notebook, "kernel": kernel}
    )
    name = manifest["metadata"]["name"]
    assert engine.store.insert(name, manifest["metadata"], manifest["spec"])
    engine.wake()
    jobs: list[dict] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        workflow = engine.store.get(name)
        job = job_from_workflow(workflow)
        if not jobs or (job["status"], job["progress"], job["message"]) != (
            jobs[-1]["status"], jobs[-1]["progress"], jobs[-1]["message"]
        ):
            jobs.append(job)
        if (workflow.get("status") or {}).get("phase") in FINAL:
            return jobs
        time.sleep(0.05)
    raise AssertionError(f"{name} did not finish in {timeout}s: {jobs[-1]}")


def test_progress_climbs_cell_by_cell_to_successful(engine, tmp_path):
    _notebook(tmp_path / "home" / "slow.ipynb", ["import time; time.sleep(0.2)"] * 10)
    jobs = _run(engine, "status-ok", "slow.ipynb")
    progress = [j["progress"] for j in jobs]
    assert progress == sorted(progress), progress
    assert jobs[-1]["status"] == "successful" and jobs[-1]["progress"] == 100
    assert jobs[-1]["message"].startswith("Job finished successfully in ")
    assert {j["status"] for j in jobs} <= {"accepted", "running", "successful"}
    cells = [j["message"] for j in jobs if "cells done" in j["message"]]
    assert len(cells) >= 3, [j["message"] for j in jobs]  # polled every 50 ms, cells take 200 ms
    assert all(j["identifier"] == "status-ok" and j["process_id"] == "execute-notebook" for j in jobs)


def test_failing_cell_reaches_the_job_message(engine, tmp_path):
    _notebook(tmp_path / "home" / "fail.ipynb", ["a = 1", "b = 2", "c = 3", "1 / 0", "d = 4"])
    jobs = _run(engine, "status-fail", "fail.ipynb")
    last = jobs[-1]
    assert last["status"] == "failed"
    assert last["message"] == "papermill failed at cell 3: ZeroDivisionError: division by zero"
    # at most 3 of 5 cells were reported before the failure; a failed job keeps what it reached
    assert last["progress"] <= 60 and last["progress"] == max(j["progress"] for j in jobs)
    assert last["finished"] is not None


@pytest.mark.parametrize("progress_engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_missing_notebook_is_named_in_the_job_message(engine, progress_engine):
    jobs = _run(engine, "status-nonb", "nonexist.ipynb", config={"progress_engine": progress_engine})
    assert jobs[-1]["status"] == "failed"
    assert jobs[-1]["message"] == (
        "papermill failed: FileNotFoundError: No such file or directory: '/home/jovyan/nonexist.ipynb'"
    )


def test_missing_kernel_is_named_in_the_job_message(engine, tmp_path):
    _notebook(tmp_path / "home" / "k.ipynb", ["a = 1"])
    jobs = _run(engine, "status-nokernel", "k.ipynb", kernel="python9")
    assert jobs[-1]["status"] == "failed"
    assert jobs[-1]["message"] == "papermill failed: NoSuchKernel: No such kernel named python9"
