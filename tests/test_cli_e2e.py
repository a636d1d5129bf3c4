"""The job commands of the CLI against a real local server (``argo-papermill serve``, real papermill).

The CLI runs as a subprocess, as a user runs it: stdout and stderr are what a terminal (or a
redirection) gets, the exit code is the process's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from test_serve_e2e import Server, free_port, make_home, request

pytestmark = [pytest.mark.e2e]
CLI = str(Path(sys.executable).parent / "argo-papermill")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import shutil

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    tmp = tmp_path_factory.mktemp("cli")
    srv = Server(make_home(tmp), tmp / "data").start()
    yield srv
    srv.kill()


def cli(*args: str, url: str | None = None, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    argv = [CLI, *args] + (["--url", url] if url else [])
    return subprocess.run(argv, capture_output=True, cwd=cwd, timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess, alone: bool = True) -> str:
    """The CLI failed the way a user should see it: exit code 1, one error line on stderr, no traceback.

    ``alone``: stderr holds nothing else; else (a followed job) the error is the last line, after the
    job id and the progress bar.
    """
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, err)
    assert "Traceback" not in err, err
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    if alone:
        assert len(lines) == 1, err
    return errors[0]


def bar_values(stderr: bytes) -> list[int]:
    """The percentages the tqdm bar showed, in order (one per redraw, ``\\r``-separated)."""
    return [int(m.group(1)) for m in re.finditer(r"(?:^|[\r\n])\s*(\d{1,3})%\|", stderr.decode())]


def test_submit_wait_shows_a_bar_that_advances_to_100_and_prints_only_the_result(server):
    proc = cli("submit", "notebooks/long.ipynb", "-p", "delay=0.3", "--wait", "--interval", "0.2",
               url=server.url)
    assert proc.returncode == 0, proc.stderr.decode()
    seen = bar_values(proc.stderr)
    distinct = sorted(set(seen))
    assert len([v for v in distinct if 0 < v < 100]) >= 3, seen  # at least three values between the ends
    assert seen == sorted(seen), seen  # it never goes backwards
    assert seen[-1] == 100, seen
    assert "successful: Job finished successfully" in proc.stderr.decode()
    # stdout is the result alone (long.ipynb glues no scrap: the notebook's location), no job id before it
    result = json.loads(proc.stdout)
    assert result["notebook"].endswith("long_result.ipynb") and result["scraps"] == {}
    job_id = re.search(r"^job (\S+)$", proc.stderr.decode(), re.M).group(1)
    assert job_id in result["notebook"]


def test_submit_wait_redirected_writes_only_the_png(server, tmp_path):
    out = tmp_path / "out.png"
    with out.open("wb") as stdout:
        proc = subprocess.run([CLI, "submit", "notebooks/plot.ipynb", "--wait", "--url", server.url],
                              stdout=stdout, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000
    job_id = re.search(r"^job (\S+)$", proc.stderr.decode(), re.M).group(1)
    # results writes the PNG into a file (the current folder by default, or -o)
    proc = cli("results", job_id, url=server.url, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr.decode()
    assert (tmp_path / f"{job_id}.png").read_bytes() == data
    assert f"wrote {job_id}.png (image/png" in proc.stderr.decode()
    proc = cli("results", job_id, "-o", str(tmp_path / "plot.png"), url=server.url)
    assert proc.returncode == 0 and (tmp_path / "plot.png").read_bytes() == data
    # and the executed notebook, as the notebook file and as one HTML page
    proc = cli("notebook", job_id, "-o", str(tmp_path / "nb.ipynb"), url=server.url)
    assert proc.returncode == 0, proc.stderr.decode()
    executed = nbformat.reads((tmp_path / "nb.ipynb").read_text(), as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    proc = cli("notebook", job_id, "--html", url=server.url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    page = (tmp_path / f"{job_id}.html").read_text()
    assert "<html" in page.lower() and "sin(x)" in page


def test_a_failing_notebook_exits_non_zero_with_the_cells_error(server):
    proc = cli("submit", "notebooks/fail.ipynb", "--wait", url=server.url)
    line = one_error_line(proc, alone=False)
    job_id = re.search(r"^job (\S+)$", proc.stderr.decode(), re.M).group(1)
    assert line == f"Error: job {job_id} failed: papermill failed at cell 3: ZeroDivisionError: division by zero"
    assert proc.stdout == b""
    # watch says the same of the finished job; status shows it
    proc = cli("watch", job_id, url=server.url)
    assert one_error_line(proc, alone=False) == line
    proc = cli("status", job_id, url=server.url)
    assert proc.returncode == 0 and re.search(r"^status:\s+failed$", proc.stdout.decode(), re.M)
    # the executed notebook of a failed job is there too, with the traceback of the cell
    proc = cli("notebook", job_id, "-o", "-", url=server.url)
    assert proc.returncode == 0 and b"ZeroDivisionError" in proc.stdout


def test_json_output_parses(server):
    proc = cli("submit", "notebooks/hello.ipynb", "-p", "name=json", "--json", url=server.url)
    assert proc.returncode == 0, proc.stderr.decode()
    submitted = json.loads(proc.stdout)
    job_id = submitted["jobID"]
    assert submitted["location"] == f"{server.url}/jobs/{job_id}"
    proc = cli("watch", job_id, "--json", url=server.url)
    assert proc.returncode == 0, proc.stderr.decode()
    job = json.loads(proc.stdout)
    assert (job["jobID"], job["status"], job["progress"], job["result"]) == (job_id, "successful", 100, "Hello, json!")
    assert proc.stderr == b""  # no bar with --json
    proc = cli("submit", "notebooks/hello.ipynb", "-p", "name=again", "--wait", "--json", url=server.url)
    assert proc.returncode == 0 and json.loads(proc.stdout)["result"] == "Hello, again!"
    for args in (("jobs", "--json"), ("status", job_id, "--json"), ("results", job_id, "--json")):
        proc = cli(*args, url=server.url)
        assert proc.returncode == 0, (args, proc.stderr.decode())
        json.loads(proc.stdout)
    assert json.loads(cli("results", job_id, "--json", url=server.url).stdout) == "Hello, json!"
    assert job_id in [j["jobID"] for j in json.loads(cli("jobs", "--json", "--limit", "50", url=server.url).stdout)]
    proc = cli("dismiss", job_id, "--json", url=server.url)
    assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == "dismissed"
    # a second dismiss: the server answers 404, one line naming it
    assert "404" in one_error_line(cli("dismiss", job_id, url=server.url))


def test_jobs_is_a_table(server):
    job_id = json.loads(cli("submit", "notebooks/hello.ipynb", "--wait", "--json", url=server.url).stdout)["jobID"]
    proc = cli("jobs", "--limit", "50", url=server.url)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert re.match(r"^JOB ID\s+STATUS\s+PROGRESS\s+PROCESS\s+DURATION\s+MESSAGE$", lines[0]), lines[0]
    row = next(line for line in lines if line.startswith(job_id))
    assert re.match(rf"^{job_id}\s+successful\s+100%\s+execute-notebook\s+\d+s\s+Job finished successfully", row), row


def test_server_errors_are_one_line_and_exit_code_1(server, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    for args in (("jobs",), ("submit", "notebooks/hello.ipynb", "--wait"), ("status", "x"), ("watch", "x"),
                 ("logs", "x"), ("results", "x"), ("notebook", "x"), ("dismiss", "x")):
        line = one_error_line(cli(*args, url=down))
        assert line == f"Error: cannot reach the server at {down}: Connection refused", (args, line)
    for bad in ("localhost:5000", "ftp://host/", "http://", "http://host:notaport", "http://[::1"):
        line = one_error_line(cli("jobs", url=bad))
        assert "--url" in line and repr(bad) in line, line
    # 4xx from the server: one line with the status and pygeoapi's description
    assert "404" in one_error_line(cli("status", "no-such-job", url=server.url))
    line = one_error_line(cli("submit", "notebooks/hello.ipynb", "-i", "timeout=-5", url=server.url))
    assert "400" in line and "timeout" in line, line
    # something that is not an argo-papermill server (200 with an HTML page): one line too
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>hello</body></html>")

        def log_message(self, *args):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        other_url = f"http://127.0.0.1:{other.server_address[1]}"
        for args in (("jobs",), ("status", "x"), ("watch", "x")):
            line = one_error_line(cli(*args, url=other_url))
            assert "answered text/html instead of JSON" in line, line
    finally:
        other.shutdown()


def test_server_dying_during_wait_is_one_line(tmp_path):
    import shutil

    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    srv = Server(make_home(tmp_path), tmp_path / "data").start()
    try:
        proc = subprocess.Popen([CLI, "submit", "notebooks/long.ipynb", "-p", "delay=2", "--wait", "--url", srv.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        job_id = None
        while job_id is None and proc.poll() is None:
            status, _, body = request("GET", f"{srv.url}/jobs?f=json")
            jobs = json.loads(body)["jobs"] if status == 200 else []
            running = [j for j in jobs if j["status"] == "running"]
            job_id = running[0]["jobID"] if running else None
            time.sleep(0.2)
        srv.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        srv.kill()
    finished = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = one_error_line(finished, alone=False)
    assert line == f"Error: cannot reach the server at {srv.url} while waiting for job {job_id}: Connection refused", line
    assert out == b""
