"""Peak memory of a server worker under the result-size probe (issue 13, point 3).

A real pygeoapi server (argo_papermill.app under gunicorn, one worker) over the fake Kubernetes API and
the fake controller; a finished job's result-file is replaced by a sparse file of each size and
``GET /jobs/{id}/results`` is called. Printed per size: the answer, and the worker's resident set before and
its peak (VmHWM) after. With the default ``results.max_bytes`` (64 MiB) a larger file is refused before it
is read (422), so the peak stays where it was; before the limit, a 1 GiB file took the worker from ~345 MB
to 1.2 GB.

    python bench/bench_result_size.py [--sizes-mib 1,64,65,1024]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import kube as fake_kube  # noqa: E402
from fakes.controller import FakeController  # noqa: E402
from fakes.fixtures import NAMESPACE, TOKEN  # noqa: E402
from test_app_e2e import start_server  # noqa: E402


def worker_pid(master: int) -> int:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return int(out.split()[0])


def mem_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mib", default="1,64,65,1024")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes_mib.split(",")]
    with tempfile.TemporaryDirectory(prefix="ap-size-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        home.mkdir()
        httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
        ctrl = FakeController(fake, NAMESPACE, home).start()
        manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
                   "connection": "argo", "output_dir": str(tmp / "out"),
                   "kubernetes": {"server": kube_url, "token": TOKEN},
                   "results": {"path_map": {"/home/jovyan": str(home)}}, "request_timeout": 5}
        proc, url = start_server(tmp, manager, workers=1, threads=4)
        try:
            worker = worker_pid(proc.pid)
            print(f"{'size':>9}  {'answer':<24} {'RSS before':>11} {'peak after':>11}")
            for size in sizes:
                job = requests.post(f"{url}/processes/scenario/execution", json={"inputs": {"scenario": "file"}},
                                    headers={"Prefer": "respond-async"}, timeout=60).json()["jobID"]
                while requests.get(f"{url}/jobs/{job}?f=json", timeout=60).json()["status"] != "successful":
                    time.sleep(0.1)
                folder = home / "results" / job
                nb = folder / "result.ipynb"
                nb.write_text(nb.read_text().replace("out.csv", "big.bin"))
                with open(folder / "big.bin", "wb") as fh:
                    fh.truncate(size * 1024 * 1024)
                before = mem_kib(worker, "VmRSS")
                r = requests.get(f"{url}/jobs/{job}/results", timeout=300)
                answer = f"{r.status_code} {len(r.content) // (1024 * 1024)} MiB" if r.ok else \
                    f"{r.status_code} {r.json().get('code')}"
                print(f"{size:>5} MiB  {answer:<24} {before / 1024:>8.0f} MB {mem_kib(worker, 'VmHWM') / 1024:>8.0f} MB")
        finally:
            proc.terminate()
            proc.wait(10)
            ctrl.stop()
            httpd.shutdown()


if __name__ == "__main__":
    main()
