"""Benchmark: does the ``argo_progress`` engine add measurable time per cell?

Runs the same notebook (trivial cells, so any per-cell overhead is as visible as it can be) with
papermill's default engine and with ``argo_progress`` in the same process, alternating, and
reports medians (and the minimum, the run least disturbed by other load) and their ratios for:

- cell loop: last cell's end - first cell's start, from papermill's own per-cell timestamps in the
  output notebook. It excludes kernel start-up and includes our write after every cell but the
  last, so this is the number that shows a per-cell cost.
- run: the whole ``papermill.execute_notebook`` wall time (kernel start dominates; noisy).
- report: one ``ProgressReporter.cell_completed`` (temp file + rename) on its own, in microseconds
  (the first write of a run also creates the directory).

Usage: .venv/bin/python bench/bench_progress_engine.py [--cells 40] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
import papermill

from argo_papermill.contract import ENV_ERROR_FILE, ENV_PROGRESS_FILE, PAPERMILL_ENGINE
from argo_papermill.job.reporting import ProgressReporter


def make_notebook(path: Path, cells: int) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(f"x{i} = {i} * 2") for i in range(cells)]
    nbformat.write(nb, path)


def cell_loop_seconds(output: Path) -> float:
    cells = nbformat.read(output, as_version=4).cells
    first = datetime.fromisoformat(cells[0].metadata.papermill["start_time"])
    last = datetime.fromisoformat(cells[-1].metadata.papermill["end_time"])
    return (last - first).total_seconds()


def run_once(engine: str | None, notebook: Path, workdir: Path) -> tuple[float, float]:
    output = workdir / f"out-{engine or 'default'}.ipynb"
    started = time.perf_counter()
    papermill.execute_notebook(
        str(notebook), str(output), engine_name=engine, kernel_name="python3", progress_bar=False
    )
    return time.perf_counter() - started, cell_loop_seconds(output)


def report_micro(workdir: Path, cells: int, notebooks: int = 50) -> list[float]:
    """Microseconds per ``cell_completed`` over ``notebooks`` simulated runs of ``cells`` cells."""
    samples = []
    for run in range(notebooks):
        reporter = ProgressReporter(cells, str(workdir / "micro" / f"progress-{run}"), None)
        for index in range(cells):
            started = time.perf_counter()
            reporter.cell_completed(index)
            samples.append((time.perf_counter() - started) * 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=40, help="cells in the notebook (20-50 is typical)")
    parser.add_argument("--runs", type=int, default=9, help="runs per engine (alternating)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-progress-") as tmp:
        workdir = Path(tmp)
        notebook = workdir / "in.ipynb"
        make_notebook(notebook, args.cells)
        os.environ[ENV_PROGRESS_FILE] = str(workdir / "argo" / "progress")
        os.environ[ENV_ERROR_FILE] = str(workdir / "outputs" / "error.json")

        run_once(None, notebook, workdir)  # warm-up: imports, kernel spec lookup, page cache
        results: dict[str, dict[str, list[float]]] = {
            name: {"run": [], "loop": []} for name in ("default", PAPERMILL_ENGINE)
        }
        for _ in range(args.runs):
            for name, engine in (("default", None), (PAPERMILL_ENGINE, PAPERMILL_ENGINE)):
                wall, loop = run_once(engine, notebook, workdir)
                results[name]["run"].append(wall)
                results[name]["loop"].append(loop)
        progress_lines = (workdir / "argo" / "progress").read_text().splitlines()
        micro = report_micro(workdir, args.cells)

    base, ours = results["default"], results[PAPERMILL_ENGINE]
    loop_base, loop_ours = statistics.median(base["loop"]), statistics.median(ours["loop"])
    run_base, run_ours = statistics.median(base["run"]), statistics.median(ours["run"])
    per_cell_base = loop_base / max(args.cells - 1, 1) * 1e3
    print(f"notebook: {args.cells} trivial code cells, {args.runs} runs per engine (alternating), python3 kernel")
    print(f"last progress line written: {progress_lines[-1]!r} ({len(progress_lines)} lines)")
    print(f"{'':14}{'default':>12}{PAPERMILL_ENGINE:>14}{'ratio':>9}")
    print(f"{'cell loop ms':14}{loop_base * 1e3:12.1f}{loop_ours * 1e3:14.1f}{loop_ours / loop_base:9.3f}  (median)")
    lb, lo = min(base["loop"]), min(ours["loop"])
    print(f"{'cell loop ms':14}{lb * 1e3:12.1f}{lo * 1e3:14.1f}{lo / lb:9.3f}  (min: least disturbed by load)")
    print(f"{'run ms':14}{run_base * 1e3:12.1f}{run_ours * 1e3:14.1f}{run_ours / run_base:9.3f}  (median)")
    print(f"per cell (default engine): {per_cell_base:.2f} ms; "
          f"one progress report: median {statistics.median(micro):.1f} us, "
          f"p95 {sorted(micro)[int(len(micro) * 0.95)]:.1f} us "
          f"({statistics.median(micro) / 1e3 / per_cell_base * 100:.2f}% of a trivial cell)")  # fmt: skip
    print("spread (min-max) cell loop ms: default "
          f"{min(base['loop']) * 1e3:.1f}-{max(base['loop']) * 1e3:.1f}, {PAPERMILL_ENGINE} "
          f"{min(ours['loop']) * 1e3:.1f}-{max(ours['loop']) * 1e3:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
