"""A scenario notebook and a papermill runner that produce real executed notebooks with scrapbook scraps.

Each (scenario, x) runs papermill once per test session; later jobs copy that run's
results folder (notebook, written files, symlinks) into their own results folder.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import nbformat

PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

CODE = f'''
import os, base64, time
import scrapbook as sb
os.makedirs(results_dir, exist_ok=True)
if scenario == "json":
    sb.glue("answer", x * 21)
elif scenario == "text":
    sb.glue("greeting", f"hello {{x}}", encoder="text")
elif scenario == "file":
    with open(os.path.join(results_dir, "out.csv"), "w") as fh:
        fh.write("a,b\\n1,{{x}}\\n".format(x=x))
    sb.glue("result-file", "out.csv")
elif scenario == "image":
    from IPython.display import Image
    sb.glue("plot", Image(data=base64.b64decode("{PNG_1X1}")), encoder="display")
elif scenario == "many":
    sb.glue("a", x)
    sb.glue("b", {{"c": [1, 2]}})
    sb.glue("label", "some text", encoder="text")
elif scenario == "none":
    pass
elif scenario == "html-display":
    from IPython.display import HTML
    sb.glue("page", HTML("<script>fetch('/jobs')</script><p>report</p>"), encoder="display")
elif scenario == "svg-display":
    from IPython.display import SVG
    sb.glue("plot", SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/jobs")</script></svg>'),
            encoder="display")
elif scenario == "fail":
    1 / 0
elif scenario == "escape-dotdot":
    sb.glue("result-file", "../../../../etc/hostname")
elif scenario == "escape-abs":
    sb.glue("result-file", "/etc/hostname")
elif scenario == "escape-symlink":
    os.symlink("/etc/hostname", os.path.join(results_dir, "link.txt"))
    sb.glue("result-file", "link.txt")
'''


def scenario_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('scenario = "json"\nx = 5\nresults_dir = "."')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(CODE)]
    return nb


class ScenarioRunner:
    """Run (or reuse) a papermill execution of the scenario notebook into a results folder."""

    def __init__(self):
        self._cache_root = Path(tempfile.mkdtemp(prefix="ap-nb-cache-"))
        self._lock = threading.Lock()
        self._locks: dict[tuple, threading.Lock] = {}
        self.runs = 0

    def _run_papermill(self, scenario: str, x: int, out_dir: Path) -> bool:
        import papermill

        out_dir.mkdir(parents=True, exist_ok=True)
        src = out_dir.parent / f"{out_dir.name}-input.ipynb"
        nbformat.write(scenario_notebook(), src)
        self.runs += 1
        try:
            papermill.execute_notebook(str(src), str(out_dir / "result.ipynb"), kernel_name="python3",
                                       parameters={"scenario": scenario, "x": x, "results_dir": str(out_dir)},
                                       progress_bar=False, log_output=False, cwd=str(out_dir))
            return True
        except papermill.PapermillExecutionError:
            return False

    def run(self, scenario: str, x: int, results_dir: Path) -> bool:
        """Fill ``results_dir`` with ``result.ipynb`` (+ files); True when the notebook succeeded."""
        key = (scenario, x)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._cache_root / f"{scenario}-{x}"
            ok_marker = cached / ".ok"
            if not cached.exists():
                ok = self._run_papermill(scenario, x, cached)
                if ok:
                    ok_marker.touch()
            ok = ok_marker.exists()
        results_dir.parent.mkdir(parents=True, exist_ok=True)
        if results_dir.exists():
            shutil.rmtree(results_dir)
        shutil.copytree(cached, results_dir, symlinks=True, ignore=shutil.ignore_patterns(".ok"))
        return ok


_RUNNER: ScenarioRunner | None = None


def shared_runner() -> ScenarioRunner:
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = ScenarioRunner()
    return _RUNNER


