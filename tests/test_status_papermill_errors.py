"""Why papermill failed, from the real papermill step to the job's message.

The papermill step's constant script runs with real papermill and a real kernel (as in
test_translate_run_papermill.py); the error record it leaves on the workspace becomes the ``error``
output parameter of a constructed Argo workflow, which ``status.job_from_workflow`` maps. Covered:
a missing notebook, a missing kernel (both with and without the progress engine) and a failing cell,
plus Argo's dangling ``: `` and the log hint when no record exists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from argo_papermill.status import error_record, job_from_workflow
from test_status_constructed import JOB_ID, containerset_wf, cs
from test_translate_run_papermill import VENV_BIN, _notebook, _pod

needs_papermill = pytest.mark.skipif(
    shutil.which("papermill", path=VENV_BIN) is None, reason="papermill not installed"
)
ARGO_EMPTY = "papermill: Error (exit code 1): "  # Argo's "<reason> (exit code N): <message>", empty message


def _failed_workflow(error: str | None, pm_message: str = ARGO_EMPTY) -> dict:
    return containerset_wf(
        "Failed", ("Failed", ARGO_EMPTY),
        cs(s3="Succeeded", pm="Failed", main="Failed", msgs={"pm": pm_message}),
        pod_progress="0/1", error=error, wf_message=ARGO_EMPTY, finished=True,
    )  # fmt: skip


def _run_step(tmp_path: Path, engine: bool, inputs: dict, code: str | None = None) -> str | None:
    """Run the papermill container of the generated manifest; the ``error`` output Argo would read."""
    pod = _pod(tmp_path, {"progress_engine": engine}, inputs)
    if code is not None:
        _notebook(pod.local(inputs["notebook"]), code)
    assert pod.run("papermill").returncode != 0
    path = pod.workspace / "outputs" / "error.json"
    return path.read_text().strip() if path.exists() else None  # valueFrom.default: ""


@needs_papermill
@pytest.mark.parametrize("engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_missing_notebook_is_named_in_the_job_message(tmp_path: Path, engine: bool) -> None:
    error = _run_step(tmp_path, engine, {"notebook": "/home/jovyan/nonexist.ipynb"})
    job = job_from_workflow(_failed_workflow(error))
    missing = tmp_path / "home" / "nonexist.ipynb"  # /home/jovyan as the test pod sees it
    assert job["status"] == "failed"
    assert job["message"] == f"papermill failed: FileNotFoundError: No such file or directory: '{missing}'"


@needs_papermill
@pytest.mark.parametrize("engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_missing_kernel_is_named_in_the_job_message(tmp_path: Path, engine: bool) -> None:
    inputs = {"notebook": "/home/jovyan/k.ipynb", "kernel": "python9"}
    error = _run_step(tmp_path, engine, inputs, "print(1)")
    assert job_from_workflow(_failed_workflow(error))["message"] == (
        "papermill failed: NoSuchKernel: No such kernel named python9"
    )


@needs_papermill
@pytest.mark.parametrize("engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_failing_cell_is_named_in_the_job_message(tmp_path: Path, engine: bool) -> None:
    error = _run_step(tmp_path, engine, {"notebook": "/home/jovyan/bad.ipynb"}, "1 / 0")
    workflow = _failed_workflow(error)
    where = "cell 1" if engine else "In [2]"  # cell 0 sets the parameters; plain papermill: execution count
    assert job_from_workflow(workflow)["message"] == f"papermill failed at {where}: ZeroDivisionError: division by zero"
    assert error_record(workflow)["ename"] == "ZeroDivisionError"


def test_record_without_a_cell_has_no_cell_in_the_message() -> None:
    record = '{"cell_index": null, "execution_count": null, "ename": "ValueError", "evalue": ""}'
    assert job_from_workflow(_failed_workflow(record))["message"] == "papermill failed: ValueError"


def test_without_a_record_argos_dangling_colon_goes_and_the_logs_are_named() -> None:
    for error in (None, ""):  # no output parameter, or the template's default ""
        message = job_from_workflow(_failed_workflow(error))["message"]
        # the step is named once (issue 10, point 7): Argo >= 3.7 prefixes the Container node's message
        # with its container name, which the mapping drops as "Step papermill failed" names it already
        assert message == f"Step papermill failed: Error (exit code 1); see its log: GET /jobs/{JOB_ID}/logs"


def test_a_message_after_the_exit_code_is_kept() -> None:
    message = job_from_workflow(_failed_workflow(None, "papermill: Error (exit code 70): no S3 mount"))["message"]
    assert message.startswith("Step papermill failed: Error (exit code 70): no S3 mount; see its log")  # named once
