"""End to end over HTTP: ``argo-papermill serve`` as a subprocess, real papermill, real kernels.

The server runs in a temporary folder (the job home), with copies of examples/notebooks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "examples" / "notebooks"
FINAL = ("successful", "failed", "dismissed")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``argo-papermill serve`` in ``home``, killed at the end (its process group)."""

    def __init__(self, home: Path, data: Path, port: int | None = None, config: dict | None = None):
        self.home, self.data = home, data
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        argv = [str(Path(sys.executable).parent / "argo-papermill"), "serve", "--port", str(self.port),
                "--data", str(self.data)]
        if self.config is not None:
            config_file = self.home / "custom-config.yml"
            config_file.write_text(yaml.safe_dump(self.config))
            argv += ["--config", str(config_file)]
        self.log = open(self.home / f"server-{self.port}.log", "ab")
        self.proc = subprocess.Popen(argv, cwd=self.home, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if request("GET", f"{self.url}/processes")[0] == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError((self.home / f"server-{self.port}.log").read_text())
            time.sleep(0.2)
        raise AssertionError("server did not start")

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)

    # --- the OGC API ------------------------------------------------------------------------
    def submit(self, notebook: str, **inputs) -> str:
        status, headers, body = request(
            "POST", f"{self.url}/processes/execute-notebook/execution",
            {"inputs": {"notebook": notebook, **inputs}}, headers={"Prefer": "respond-async"})
        assert status == 201, body
        return headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    def job(self, job_id: str) -> dict:
        status, _, body = request("GET", f"{self.url}/jobs/{job_id}?f=json")
        assert status == 200, body
        return json.loads(body)

    def wait(self, job_id: str, timeout: float = 120, seen: list | None = None) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.job(job_id)
            if seen is not None:
                seen.append((job["status"], job.get("progress")))
            if job["status"] in FINAL:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} not final: {job}")

    def results(self, job_id: str) -> tuple[int, dict, bytes]:
        return request("GET", f"{self.url}/jobs/{job_id}/results?f=json", raw=True)


def request(method: str, url: str, body: dict | None = None, headers: dict | None = None, raw: bool = False):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            payload = resp.read()
            return resp.status, dict(resp.headers), payload if raw else payload.decode()
    except urllib.error.HTTPError as err:
        payload = err.read()
        return err.code, dict(err.headers), payload if raw else payload.decode()


def pids_matching(needle: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmd and "pytest" not in cmd:
                pids.append(int(entry.name))
    return pids


def with_descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them (papermill's kernel is its child, not named by the job id)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def kernel_running(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            pass
    return False


def wait_gone(pids: list[int], timeout: float = 15) -> list[int]:
    deadline = time.time() + timeout
    alive = list(pids)
    while alive and time.time() < deadline:
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and "zombie" not in _state(p)]
        time.sleep(0.1)
    return alive


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


def make_home(tmp: Path) -> Path:
    home = tmp / "home"
    shutil.copytree(NOTEBOOKS, home / "notebooks")
    return home


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    srv = Server(make_home(tmp), tmp / "data").start()
    yield srv
    srv.kill()


def test_printed_curl_runs_hello_and_the_log_stays_quiet(server):
    """What a new user sees: the printed curl, pasted into a shell, runs the hello notebook; no warning flood."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    assert request("GET", f"{server.url}/processes/execute-notebook")[0] == 200
    printed = (server.home / f"server-{server.port}.log").read_text()
    command = printed[printed.index("curl -si -X POST"):printed.index("# then")]
    response = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60).stdout
    location = next(line for line in response.splitlines() if line.lower().startswith("location:"))
    job_id = location.strip().rstrip("/").rsplit("/", 1)[-1]
    assert server.wait(job_id)["status"] == "successful"
    assert b"Hello, argo-papermill!" in server.results(job_id)[2]
    log = (server.home / f"server-{server.port}.log").read_text()
    assert "unknown locale" not in log and " WARNING " not in log and "[WARNING]" not in log, log[-3000:]
    assert "GET /processes" not in log  # no access log line per request


def test_parameters_reach_the_notebook(server):
    job_id = server.submit("notebooks/hello.ipynb", parameters_json={"name": "e2e"})
    job = server.wait(job_id)
    assert job["status"] == "successful", job
    assert job["progress"] == 100
    status, headers, body = server.results(job_id)
    assert status == 200
    assert b"Hello, e2e!" in body


def test_progress_between_0_and_100_while_running_then_100(server):
    seen: list = []
    job_id = server.submit("notebooks/long.ipynb", parameters_json={"delay": 0.4})
    job = server.wait(job_id, seen=seen)
    assert job["status"] == "successful", job
    running = [p for s, p in seen if s == "running"]
    inside = sorted({p for p in running if 0 < p < 100})
    assert len(inside) >= 5, seen  # per-cell progress arrives while the notebook runs
    assert job["progress"] == 100
    # the "notebook" case: no scraps -> the result names the executed notebook
    status, _, body = server.results(job_id)
    assert status == 200
    result = json.loads(body)
    assert result["scraps"] == {} and result["notebook"].endswith("_result.ipynb")
    assert Path(result["notebook"].removeprefix("file://")).is_file()


def test_scrap_and_png_results(server):
    scrap_id = server.submit("notebooks/scrap.ipynb", parameters_json={"numbers": [2, 4, 6]})
    png_id = server.submit("notebooks/plot.ipynb")
    assert server.wait(scrap_id)["status"] == "successful"
    assert server.wait(png_id)["status"] == "successful"
    status, headers, body = server.results(scrap_id)
    assert status == 200 and json.loads(body) == {"count": 3, "total": 12, "mean": 4.0}
    status, headers, body = server.results(png_id)
    assert status == 200
    assert headers["Content-Type"].startswith("image/png")
    assert body.startswith(b"\x89PNG\r\n\x1a\n")


def test_failing_notebook_names_cell_and_exception(server):
    job = server.wait(server.submit("notebooks/fail.ipynb"))
    assert job["status"] == "failed"
    assert "ZeroDivisionError" in job["message"] and "division by zero" in job["message"]
    assert "cell 3" in job["message"], job["message"]  # the failing cell's index in fail.ipynb


def test_timeout_fails_with_deadline_message(server):
    job = server.wait(server.submit("notebooks/long.ipynb", timeout=2))
    assert job["status"] == "failed"
    assert "deadline" in job["message"].lower() or "time limit" in job["message"].lower(), job


def test_dismiss_running_job_kills_its_processes(server):
    job_id = server.submit("notebooks/long.ipynb", parameters_json={"delay": 2})
    deadline = time.time() + 60
    while time.time() < deadline and not (server.job(job_id)["status"] == "running"
                                          and kernel_running(with_descendants(pids_matching(job_id)))):
        time.sleep(0.1)
    pids = with_descendants(pids_matching(job_id))
    assert kernel_running(pids), "papermill of the job and its kernel are not running"
    status, _, body = request("DELETE", f"{server.url}/jobs/{job_id}")
    assert status == 200, body
    assert wait_gone(pids) == []
    assert request("DELETE", f"{server.url}/jobs/{job_id}")[0] == 404
    assert request("GET", f"{server.url}/jobs/{job_id}")[0] == 404


def test_twenty_concurrent_submissions_all_finish_distinct(server):
    ids: dict[int, str] = {}

    def go(n: int) -> None:
        ids[n] = server.submit("notebooks/hello.ipynb", parameters_json={"name": f"n{n}"})

    threads = [threading.Thread(target=go, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids.values())) == 20
    results = set()
    for n, job_id in ids.items():
        job = server.wait(job_id, timeout=300)
        assert job["status"] == "successful", job
        body = server.results(job_id)[2]
        assert f"Hello, n{n}!".encode() in body
        results.add(body)
    assert len(results) == 20


def test_sigkill_restart_loses_no_job(tmp_path):
    home, data = make_home(tmp_path), tmp_path / "data"
    srv = Server(home, data).start()
    try:
        done = [srv.submit("notebooks/hello.ipynb", parameters_json={"name": f"k{i}"}) for i in range(2)]
        for job_id in done:
            assert srv.wait(job_id)["status"] == "successful"
        running = srv.submit("notebooks/long.ipynb", parameters_json={"delay": 2})
        deadline = time.time() + 60
        while time.time() < deadline and not kernel_running(with_descendants(pids_matching(running))):
            time.sleep(0.1)
        pids = with_descendants(pids_matching(running))
        assert kernel_running(pids)  # papermill and its kernel
        srv.kill(signal.SIGKILL)
        assert wait_gone(pids) == [], "the job's processes survived the server"
        srv = Server(home, data, port=srv.port).start()
        status, _, body = request("GET", f"{srv.url}/jobs?limit=50&f=json")
        assert status == 200
        listed = {j["jobID"] if "jobID" in j else j["identifier"]: j for j in json.loads(body)["jobs"]}
        assert set(done) | {running} <= set(listed)
        interrupted = srv.wait(running, timeout=30)
        assert interrupted["status"] == "failed"
        assert "restart" in interrupted["message"]
        for job_id in done:
            assert srv.job(job_id)["status"] == "successful"
            assert b"Hello, k" in srv.results(job_id)[2]
    finally:
        srv.kill()
