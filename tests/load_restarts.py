"""Load with restarts, shared by ``tests/test_load_restarts.py`` (marker ``load``) and
``bench/bench_load_restarts.py``: N concurrent executions against ``argo-papermill serve`` (local backend,
real papermill), the server killed with SIGKILL at random points and restarted on the same data folder,
more than once. Then every accepted job must be listed exactly once and be finished, callbacks must have
arrived once per state, and no process of the engine may be left.

Returns the figures; asserts nothing itself.
"""

from __future__ import annotations

import collections
import http.client
import json
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fakes.receiver import Receiver
from test_serve_e2e import FINAL, Server, free_port, make_home, pids_matching, wait_gone, with_descendants

from argo_papermill.commands.serve import build_config


def _post(url: str, body: dict, timeout: float = 60) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Prefer": "respond-async"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null") or {}
    except urllib.error.HTTPError as err:
        return err.code, {}


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def list_all_jobs(base: str) -> list[dict]:
    jobs, offset = [], 0
    while True:
        page = _get_json(f"{base}/jobs?f=json&limit=50&offset={offset}")["jobs"]
        jobs += page
        if len(page) < 50:
            return jobs
        offset += 50


def engine_processes(data: Path) -> list[int]:
    """Processes of the engine's pods (bwrap, runner: their argv names the data folder) and below them."""
    return with_descendants(pids_matching(str(data)))


def run_load(workdir: Path, jobs: int = 200, kills: int = 3, clients: int = 16, seed: int = 13,
             max_parallel: int = 4, settle_timeout: float = 240, spread: float = 20.0) -> dict:
    """``jobs`` submissions spread over ``spread`` seconds by ``clients`` threads; ``kills - 1`` SIGKILLs at
    random times during the submissions, one more while the jobs run; then settle and count."""
    rng = random.Random(seed)
    home, data = make_home(workdir), workdir / "data"
    recv = Receiver()
    port = free_port()
    config = build_config("127.0.0.1", port, str(data), str(home))
    config["server"]["manager"]["local"]["max_parallel"] = max_parallel
    config["server"]["manager"]["callbacks"] = {"timeout": 2, "retries": 2, "backoff": 0.2, "backoff_max": 1,
                                                "poll_interval": 0.5}
    config["resources"]["execute-notebook"]["allow_internal_requests"] = True  # the receiver is on loopback
    figures: dict = collections.Counter()
    accepted: list[str] = []
    lock = threading.Lock()
    up = threading.Event()
    srv = Server(home, data, port=port, config=config).start()
    up.set()
    started = time.monotonic()
    sub = {"successUri": f"{recv.url}/success", "inProgressUri": f"{recv.url}/running",
           "failedUri": f"{recv.url}/failed"}

    offsets = sorted(rng.uniform(0, spread) for _ in range(jobs))

    def client(i: int) -> None:
        body = {"inputs": {"notebook": "notebooks/hello.ipynb", "parameters_json": {"name": f"n{i}"}},
                "subscriber": sub}
        time.sleep(max(0.0, started + offsets[i] - time.monotonic()))
        for _ in range(60):  # a client retries while the server is down, as a real one would
            up.wait(120)
            with lock:
                figures["requests sent"] += 1
            try:
                status, doc = _post(f"{srv.url}/processes/execute-notebook/execution", body)
            except (OSError, http.client.HTTPException):  # refused, reset, or cut mid-answer
                with lock:
                    figures["requests failed (server down)"] += 1
                time.sleep(0.2)
                continue
            with lock:
                figures[f"answers {status}"] += 1
                if status == 201:
                    accepted.append(doc["jobID"])
                    return
            time.sleep(0.2)

    # kill points: random times during the submissions, and once while the jobs run
    kill_at = sorted(rng.uniform(0.1 * spread, 0.9 * spread) for _ in range(max(0, kills - 1)))
    kill_while_running = kills > 0
    restarts = []

    def kill_and_restart(when: str) -> None:
        nonlocal srv
        pods = engine_processes(data)
        up.clear()
        srv.kill(signal.SIGKILL)
        figures["SIGKILLs"] += 1
        left = wait_gone(pods, timeout=30)
        figures["pod processes surviving a SIGKILL"] += len(left)
        time.sleep(rng.uniform(0.0, 1.0))
        srv = Server(home, data, port=port, config=config).start()
        restarts.append(when)
        up.set()

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, i) for i in range(jobs)]
        for at in kill_at:
            time.sleep(max(0.0, started + at - time.monotonic()))
            kill_and_restart(f"at {at:.1f} s, after {len(accepted)} accepted")
        for f in futures:
            f.result()
    figures["accepted (201)"] = len(accepted)
    if kill_while_running:
        time.sleep(rng.uniform(1.0, 4.0))
        kill_and_restart("while jobs run")

    # settle: every accepted job final, its callbacks in
    deadline = time.monotonic() + settle_timeout
    listed: list[dict] = []
    while time.monotonic() < deadline:
        listed = list_all_jobs(srv.url)
        by_id = {j["jobID"]: j for j in listed}
        if all(by_id.get(j, {}).get("status") in FINAL for j in accepted):
            break
        time.sleep(1)
    counts = collections.Counter(j["jobID"] for j in listed)
    by_id = {j["jobID"]: j for j in listed}
    figures["jobs lost (accepted, not listed)"] = sum(1 for j in accepted if counts[j] == 0)
    figures["jobs listed more than once"] = sum(1 for j in accepted if counts[j] > 1)
    figures["jobs not finished"] = sum(1 for j in accepted if by_id.get(j, {}).get("status") not in FINAL)
    figures["jobs listed, not accepted (server died before answering)"] = len(set(counts) - set(accepted))
    statuses = collections.Counter(by_id[j]["status"] for j in accepted if j in by_id)
    for status, n in statuses.items():
        figures[f"accepted jobs {status}"] = n
    figures["Workflows per job > 1"] = figures["jobs listed more than once"]

    def owed() -> set[str]:
        want = set()
        for j in accepted:
            status = by_id.get(j, {}).get("status")
            if status in ("successful", "failed"):
                want |= {f"{j}:running", f"{j}:{status}"}
        return want

    while time.monotonic() < deadline + 60:  # a claim of a killed server is taken over after its lease
        got = {b.get("notificationID") for _, b in list(recv.calls)}
        if owed() <= got:
            break
        time.sleep(1)
    time.sleep(3)  # notifiers go round a few more times: a duplicate would show now
    ids = collections.Counter(b.get("notificationID") for _, b in list(recv.calls))
    want = owed()
    figures["callbacks expected"] = len(want)
    figures["callbacks received"] = sum(ids.values())
    figures["callbacks missing"] = len(want - set(ids))
    figures["callbacks duplicated"] = sum(n - 1 for n in ids.values() if n > 1)
    figures["seconds"] = round(time.monotonic() - started, 1)
    srv.kill(signal.SIGTERM)
    figures["processes left after the runs"] = len(wait_gone(engine_processes(data), timeout=30))
    recv.close()
    figures["restarts"] = len(restarts)
    figures["kill points"] = "; ".join(restarts)
    return dict(figures)
