"""Load with restarts: N concurrent executions against ``argo-papermill serve`` (local backend, real
papermill, subscriber callbacks), the server killed with SIGKILL at random points (while jobs are submitted
and while they run) and restarted on the same data folder; then the figures: requests, accepted jobs,
jobs lost, listed twice or unfinished, callbacks missing or duplicated, processes left.

    python bench/bench_load_restarts.py [--jobs 200] [--kills 3] [--seed 13]

The same run is the test ``tests/test_load_restarts.py`` (pytest -m load), which asserts the zeros.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from load_restarts import run_load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--max-parallel", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ap-load-") as tmp:
        figures = run_load(Path(tmp), jobs=args.jobs, kills=args.kills, seed=args.seed,
                           max_parallel=args.max_parallel)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
