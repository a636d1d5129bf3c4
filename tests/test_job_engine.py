"""The in-pod papermill engine ``argo_progress`` with real papermill, a real kernel and the real CLI.

The 20-cell notebook observes the progress file itself: before running, cell k reads the last
line of ``$ARGO_PROGRESS_FILE`` (the kernel inherits papermill's environment), so the test sees
what Argo would have seen after every single cell, not only the file at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from argo_papermill import contract
from argo_papermill.job.reporting import ProgressReporter, write_atomically

_SCRIPT = Path(sys.executable).parent / "papermill"  # the plain papermill CLI of this environment
PAPERMILL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "papermill"]
CELLS = 20

OBSERVE = """\
import os, pathlib
_p = pathlib.Path(os.environ["ARGO_PROGRESS_FILE"])
_last = _p.read_text().splitlines()[-1] if _p.exists() else "<none>"
with open(os.environ["OBSERVATIONS"], "a") as _fh:
    _fh.write(_last + "\\n")
"""


def _notebook(path: Path, sources: list[str], markdown_at: tuple[int, ...] = ()) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if i in markdown_at else nbformat.v4.new_code_cell(src)
        for i, src in enumerate(sources)
    ]
    nbformat.write(nb, path)
    return path


def _run(tmp_path: Path, notebook: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in (contract.ENV_PROGRESS_FILE, contract.ENV_ERROR_FILE)}
    full_env.update(env)
    return subprocess.run(
        [*PAPERMILL, "--engine", contract.PAPERMILL_ENGINE, "--no-progress-bar", *extra,
         str(notebook), str(tmp_path / "out.ipynb")],
        env=full_env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "progress": tmp_path / "argo" / "progress",
        "error": tmp_path / "outputs" / "error.json",
        "observations": tmp_path / "observations.txt",
    }


def _env(files: dict[str, Path]) -> dict[str, str]:
    return {
        contract.ENV_PROGRESS_FILE: str(files["progress"]),
        contract.ENV_ERROR_FILE: str(files["error"]),
        "OBSERVATIONS": str(files["observations"]),
    }


def test_engine_is_registered_for_the_papermill_cli():
    from papermill.engines import papermill_engines

    from argo_papermill.job.engine import ArgoProgressEngine

    assert papermill_engines.get_engine(contract.PAPERMILL_ENGINE) is ArgoProgressEngine


def test_twenty_cells_write_twenty_increasing_lines_seen_after_every_cell(tmp_path, files):
    # 19 observing code cells and one markdown cell: every cell counts, code or not
    sources = [OBSERVE] * CELLS
    notebook = _notebook(tmp_path / "in.ipynb", sources, markdown_at=(10,))
    result = _run(tmp_path, notebook, _env(files))
    assert result.returncode == 0, result.stderr

    lines = files["progress"].read_text().splitlines()
    assert lines == [f"{n}/{CELLS}" for n in range(1, CELLS + 1)]
    assert lines[-1] == "20/20"
    seen = files["observations"].read_text().splitlines()
    # cell k (0-based) ran after exactly k cells were done; cell 10 is markdown and observes nothing
    assert seen == ["<none>"] + [f"{k}/{CELLS}" for k in range(1, CELLS) if k != 10]
    assert not files["error"].exists()
    assert [p.name for p in files["progress"].parent.iterdir()] == ["progress"]  # no temp files left


def test_failing_cell_leaves_the_error_record(tmp_path, files):
    sources = ["x = 1", "y = 2", "z = 3", "1 / 0", "never = True"] + ["pass"] * 15
    notebook = _notebook(tmp_path / "fail.ipynb", sources)
    result = _run(tmp_path, notebook, _env(files))
    assert result.returncode != 0
    assert "ZeroDivisionError" in result.stderr

    record = json.loads(files["error"].read_text())
    assert record == {"cell_index": 3, "execution_count": 4, "ename": "ZeroDivisionError",
                      "evalue": "division by zero"}  # fmt: skip
    assert files["progress"].read_text().splitlines() == ["1/20", "2/20", "3/20"]  # the failing cell is not done
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)  # papermill adds its error banner cell on top
    failed = [c for c in out.cells if c.cell_type == "code" and c.execution_count == record["execution_count"]]
    assert failed[0].outputs[0]["ename"] == "ZeroDivisionError"  # papermill's own output is unchanged


def test_status_mapping_reads_the_record_the_engine_wrote(tmp_path, files):
    from argo_papermill.status import job_from_workflow

    notebook = _notebook(tmp_path / "fail.ipynb", ["a = 1", "raise ValueError('bad input: n must be > 0')"])
    assert _run(tmp_path, notebook, _env(files)).returncode != 0
    wf = {
        "metadata": {"name": "pygeoapi-job-abc"},
        "status": {"phase": "Failed", "nodes": {"pygeoapi-job-abc": {
            "id": "pygeoapi-job-abc", "name": "pygeoapi-job-abc", "type": "Pod", "phase": "Failed",
            "templateName": "notebook", "message": "papermill: Error (exit code 1)",
            "outputs": {"parameters": [{"name": "error", "value": files["error"].read_text()}]}}}},
    }  # fmt: skip
    assert job_from_workflow(wf)["message"] == (
        "papermill failed at cell 1: ValueError: bad input: n must be > 0"
    )


def test_kernel_that_does_not_exist_is_recorded_outside_any_cell(tmp_path, files):
    # papermill reaches the engine with the notebook loaded; the kernel starts inside it
    notebook = _notebook(tmp_path / "k.ipynb", ["a = 1", "b = 2"])
    result = _run(tmp_path, notebook, _env(files), "-k", "python9")
    assert result.returncode != 0
    record = json.loads(files["error"].read_text())
    assert record == {"cell_index": None, "execution_count": None, "ename": "NoSuchKernel",
                      "evalue": "No such kernel named python9"}  # fmt: skip
    assert not files["progress"].exists()  # no cell ran


def test_cell_timeout_is_recorded(tmp_path, files):
    notebook = _notebook(tmp_path / "slow.ipynb", ["a = 1", "import time\ntime.sleep(30)", "b = 2"])
    result = _run(tmp_path, notebook, _env(files), "--execution-timeout", "2")
    assert result.returncode != 0
    record = json.loads(files["error"].read_text())
    assert (record["cell_index"], record["ename"]) == (1, "CellTimeoutError")
    assert files["progress"].read_text().splitlines() == ["1/3"]


def test_without_the_variables_the_engine_writes_nothing(tmp_path, files):
    notebook = _notebook(tmp_path / "plain.ipynb", ["a = 1", "1 / 0"])
    result = _run(tmp_path, notebook, {})
    assert result.returncode != 0 and "ZeroDivisionError" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ipynb", "plain.ipynb"]


def test_reporter_never_fails_the_notebook_on_an_unwritable_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    reporter = ProgressReporter(3, str(blocker / "progress"), str(blocker / "error.json"))
    reporter.cell_completed(0)
    reporter.cell_failed({"execution_count": 2}, 1, ZeroDivisionError("division by zero"))
    assert reporter.progress_path is None and not reporter.error_written


def test_reporter_is_a_no_op_when_unset():
    reporter = ProgressReporter.from_env(5, environ={})
    assert not reporter.active
    reporter.cell_completed(0)
    reporter.cell_failed({}, 1, None)


def test_write_atomically_replaces_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "progress"
    write_atomically(target, "1/2\n")
    inode = target.stat().st_ino
    write_atomically(target, "1/2\n2/2\n")
    assert target.read_text() == "1/2\n2/2\n"
    assert target.stat().st_ino != inode  # a rename, never an in-place rewrite a reader could catch half-done
    assert [p.name for p in tmp_path.iterdir()] == ["progress"]
