"""The papermill step's fallback error record: the constant awk program over papermill's stderr tail.

Fed with stderr shapes papermill produces (and awkward variants), run by the system's awk exactly as
the script runs it; the output must be the error record JSON (or nothing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from argo_papermill.translate.scripts import STDERR_ERROR_AWK

pytestmark = pytest.mark.skipif(shutil.which("awk") is None, reason="awk not installed")

TRACEBACK = """Input Notebook:  /home/jovyan/a.ipynb
Output Notebook: /home/jovyan/out.ipynb
Traceback (most recent call last):
  File "/opt/conda/bin/papermill", line 8, in <module>
    sys.exit(papermill())
             ^^^^^^^^^^^
  File "/opt/conda/lib/python3.12/site-packages/jupyter_client/kernelspec.py", line 295, in get_kernel_spec
    raise NoSuchKernel(kernel_name)
jupyter_client.kernelspec.NoSuchKernel: No such kernel named python9
"""


def _record(tmp_path: Path, stderr: str) -> dict | None:
    tail = tmp_path / "tail"
    tail.write_text(stderr, encoding="utf-8")
    out = subprocess.run(["awk", STDERR_ERROR_AWK, str(tail)], capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else None


def test_the_last_exception_of_a_traceback_without_its_module(tmp_path: Path) -> None:
    assert _record(tmp_path, TRACEBACK) == {
        "cell_index": None, "execution_count": None, "ename": "NoSuchKernel", "evalue": "No such kernel named python9",
    }  # fmt: skip


def test_a_traceback_glued_to_a_progress_bar_and_chained_exceptions(tmp_path: Path) -> None:
    stderr = (
        "Executing:   0%|          | 0/2 [00:00<?, ?cell/s]\rExecuting:  50%|     | 1/2Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\nKeyError: \'a\'\n\nDuring handling of the above exception, another exception occurred:\n\n'
        + TRACEBACK.replace("jupyter_client.kernelspec.NoSuchKernel: No such kernel named python9",
                            "yaml.scanner.ScannerError: mapping values are not allowed here\n  in \"<unicode string>\", line 1")
    )  # fmt: skip
    record = _record(tmp_path, stderr)
    assert (record["ename"], record["evalue"]) == ("ScannerError", "mapping values are not allowed here")


def test_plain_papermill_cell_error_names_the_cells_exception_and_execution_count(tmp_path: Path) -> None:
    stderr = TRACEBACK.replace(
        "jupyter_client.kernelspec.NoSuchKernel: No such kernel named python9",
        "papermill.exceptions.PapermillExecutionError: \n" + "-" * 75 + '\nException encountered at "In [7]":\n'
        + "-" * 75 + "\n\x1b[0;31mValueError\x1b[0m                         Traceback (most recent call last)\n"
        "Cell In[7], line 1\n----> 1 raise ValueError('bad \"input\" \\\\ here')\n\n"
        "\x1b[0;31mValueError\x1b[0m: bad \"input\" \\ here\n",
    )  # fmt: skip
    assert _record(tmp_path, stderr) == {
        "cell_index": None, "execution_count": 7, "ename": "ValueError", "evalue": 'bad "input" \\ here',
    }  # fmt: skip


def test_without_a_traceback_the_last_line_with_click_prefix_dropped(tmp_path: Path) -> None:
    click = "Usage: papermill [OPTIONS] NOTEBOOK_PATH [OUTPUT_PATH]\nTry 'papermill -h' for help.\n\nError: No such option: --foo\n\n"
    assert _record(tmp_path, click) == {
        "cell_index": None, "execution_count": None, "ename": "Error", "evalue": "No such option: --foo",
    }  # fmt: skip
    assert _record(tmp_path, "sh: 1: papermill: not found\n")["evalue"] == "sh: 1: papermill: not found"


def test_errno_prefix_is_dropped_control_characters_become_spaces_and_empty_input_gives_nothing(tmp_path: Path) -> None:
    record = _record(tmp_path, "Traceback (most recent call last):\n  x\nFileNotFoundError: [Errno 2] No\x07 such\x01file\n")
    assert (record["ename"], record["evalue"]) == ("FileNotFoundError", "No  such file")
    assert _record(tmp_path, "") is None
    assert _record(tmp_path, "\n  \n") is None


def test_long_values_are_cut(tmp_path: Path) -> None:
    record = _record(tmp_path, "Traceback (most recent call last):\nValueError: " + "é" * 5000 + "\n")
    assert record["ename"] == "ValueError" and 0 < len(record["evalue"].encode()) <= 2000
