"""Load with restarts (issue 13), marker ``load``: not part of the default run (``pytest -q``), run by
``.ci/run`` as ``pytest -q -m load`` and in bounded time (a job count and the settling waits are fixed; a
run takes about 2-4 minutes on 2 cores). ``bench/bench_load_restarts.py`` prints the same figures.

40 executions (hello.ipynb, with subscriber callbacks; ARGO_PAPERMILL_LOAD_JOBS=200 or the bench for 200)
submitted by 16 concurrent clients over 20 s against ``argo-papermill serve`` (local backend, real
papermill), the server killed with SIGKILL at two random times while jobs are submitted and once while they
run, and restarted on the same data folder each time. 200 jobs take ~15 minutes on a loaded 2-core machine
(4 in parallel, each a kernel start), too long for CI; the bench prints their figures.
"""

from __future__ import annotations

import os
import shutil

import pytest
from load_restarts import run_load

pytestmark = [
    pytest.mark.load,
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"),
]

JOBS = int(os.environ.get("ARGO_PAPERMILL_LOAD_JOBS", "40"))  # bench/bench_load_restarts.py: 200


def test_sigkill_restarts_under_load_lose_nothing(tmp_path):
    figures = run_load(tmp_path, jobs=JOBS, kills=3, seed=13)
    print(figures)
    assert figures["restarts"] == 3 and figures["SIGKILLs"] == 3
    assert figures["accepted (201)"] == JOBS  # clients retry while the server is down
    assert figures["jobs lost (accepted, not listed)"] == 0
    assert figures["jobs listed more than once"] == 0
    assert figures["jobs not finished"] == 0
    assert figures["pod processes surviving a SIGKILL"] == 0
    assert figures["callbacks missing"] == 0
    assert figures["callbacks duplicated"] == 0
    assert figures["processes left after the runs"] == 0
