"""End-to-end time of a 10-cell notebook: HTTP API on the local backend vs plain ``papermill``.

Both are measured in the same run on the same notebook. The API time is from the POST
(``Prefer: respond-async``) until ``GET /jobs/{id}`` says ``successful``, polling every 50 ms;
the server is started once beforehand (not timed). Prints both medians and their ratio
(target: <= 1.2).

    python bench/bench_local_vs_papermill.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

BIN = Path(sys.executable).parent


def ten_cell_notebook(path: Path) -> None:
    cells = [new_code_cell("n = 10", metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(f"x{i} = sum(range({i} * n))\nprint(x{i})") for i in range(9)]
    nbformat.write(new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), path)


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, dict(resp.headers), resp.read()


def plain_papermill(home: Path, run: int) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "papermill"), "--no-progress-bar", str(home / "ten.ipynb"),
                    str(home / f"plain-{run}.ipynb"), "-p", "n", "10"], check=True, capture_output=True)
    return time.perf_counter() - started


def through_api(url: str) -> float:
    started = time.perf_counter()
    _, headers, _ = call("POST", f"{url}/processes/execute-notebook/execution",
                         {"inputs": {"notebook": "ten.ipynb", "parameters_json": {"n": 10}}},
                         {"Prefer": "respond-async"})
    job_url = headers["Location"]
    while True:
        status = json.loads(call("GET", f"{job_url}?f=json")[2])["status"]
        if status == "successful":
            return time.perf_counter() - started
        if status in ("failed", "dismissed"):
            raise RuntimeError(f"benchmark job {status}")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ten_cell_notebook(home / "ten.ipynb")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(BIN / "argo-papermill"), "serve", "--port", str(port), "--data",
                                   str(home / "data")], cwd=home, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            for _ in range(300):
                try:
                    call("GET", f"{url}/processes")
                    break
                except OSError:
                    time.sleep(0.1)
            through_api(url)  # warm-up: engine start, imports
            plain_papermill(home, -1)
            api, plain = [], []
            for run in range(args.runs):  # interleaved, so drift affects both alike
                plain.append(plain_papermill(home, run))
                api.append(through_api(url))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    p, a = statistics.median(plain), statistics.median(api)
    print(f"runs: {args.runs}")
    print(f"plain papermill median: {p:.3f} s  (all: {', '.join(f'{x:.2f}' for x in plain)})")
    print(f"local backend via HTTP median: {a:.3f} s  (all: {', '.join(f'{x:.2f}' for x in api)})")
    print(f"ratio (API / plain): {a / p:.3f}  target <= 1.2: {'met' if a / p <= 1.2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
