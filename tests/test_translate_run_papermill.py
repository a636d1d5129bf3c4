"""Run the generated containers' real commands (papermill, git) on this machine.

The manifest's argv is taken verbatim, workflow parameters substituted as Argo would, and the
in-pod paths (/workspace, /home/jovyan) moved under a temporary folder: this proves the fixed
scripts of the in-pod contract work with real papermill, a real kernel and real git.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from argo_papermill import NotebookProcessor
from argo_papermill.contract import JOB_HOME, WORKSPACE_PATH
from argo_papermill.translate.scripts import PAPERMILL_SCRIPT

VENV_BIN = str(Path(sys.executable).parent)
pytestmark = pytest.mark.skipif(shutil.which("papermill", path=VENV_BIN) is None, reason="papermill not installed")


def _notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nname = 'nobody'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


class Pod:
    """A temporary stand-in for the pod's filesystem and Argo's parameter substitution."""

    def __init__(self, tmp: Path, manifest: dict):
        self.tmp = tmp
        self.workspace = tmp / "workspace"
        self.home = tmp / "home"
        self.workspace.mkdir()
        self.home.mkdir()
        self.manifest = manifest
        self.params = {p["name"]: p["value"] for p in manifest["spec"]["arguments"]["parameters"]}

    def path(self, text: str) -> str:
        text = text.replace(WORKSPACE_PATH, str(self.workspace))
        return text.replace(JOB_HOME, str(self.home))

    def local(self, pod_path: str) -> Path:
        return Path(self.path(pod_path))

    def substitute(self, text: str) -> str:
        text = re.sub(r"{{workflow\.parameters\.([^}]+)}}", lambda m: self.params[m.group(1)], text)
        return self.path(text.replace("{{workflow.name}}", self.manifest["metadata"]["name"]))

    def container(self, name: str) -> dict:
        containers = self.manifest["spec"]["templates"][0]["containerSet"]["containers"]
        return next(c for c in containers if c["name"] == name)

    def run(self, name: str, timeout: int = 180, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        c = self.container(name)
        argv = [self.substitute(a) for a in c["command"] + c.get("args", [])]
        env = {"PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")}
        env.update({e["name"]: self.substitute(e["value"]) for e in c.get("env", []) if "value" in e})
        env.update(extra_env or {})
        cwd = self.substitute(c.get("workingDir", str(self.tmp)))
        # as Argo's emissary runs every container's command: with umask 0 (emissary.go, v3.6 to v4.x)
        return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=lambda: os.umask(0))


def _pod(tmp_path: Path, config: dict, inputs: dict) -> Pod:
    manifest = NotebookProcessor(config).workflow_manifest("run-1", inputs)
    return Pod(tmp_path, manifest)


@pytest.mark.parametrize("engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_papermill_step_runs_a_notebook(tmp_path: Path, engine: bool) -> None:
    inputs = {
        "notebook": "work/hello.ipynb",
        "parameters_json": {"x": 5, "name": "-world"},
        "kernel": "python3",
        "result_data_directory": "data/{job_name}",
    }
    pod = _pod(tmp_path, {"progress_engine": engine}, inputs)
    _notebook(pod.home / "work" / "hello.ipynb", "import os\nopen('cwd.txt','w').write(os.getcwd())\ny = x * 21\nprint(name, y)")
    proc = pod.run("papermill", extra_env={"ARGO_PROGRESS_FILE": str(tmp_path / "progress")})
    assert proc.returncode == 0, proc.stderr
    ann = pod.manifest["metadata"]["annotations"]
    out = pod.local(ann["pygeoapi.io/result-notebook"])
    executed = nbformat.read(out, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "x = 5" in injected[0].source and "-world" in injected[0].source
    assert "-world 105" in executed.cells[-1].outputs[0]["text"]
    assert (pod.home / "work" / "cwd.txt").read_text() == str(pod.home / "work")  # --cwd = notebook folder
    assert (pod.workspace / "outputs" / "result.ipynb").read_bytes() == out.read_bytes()
    assert (pod.workspace / "papermill-done").exists()
    assert pod.local(ann["pygeoapi.io/results-directory"]).is_dir()
    assert (pod.home / "data" / "pygeoapi-job-run-1").is_dir()
    assert "Executing" in proc.stderr or "Executing" in proc.stdout  # --log-output / progress bar
    progress = tmp_path / "progress"
    if engine:  # 3 cells: parameters, injected parameters, code
        assert progress.read_text().strip().splitlines()[-1] == "3/3"
    else:
        assert not progress.exists()


@pytest.mark.parametrize("engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_papermill_step_failure_still_marks_done_and_keeps_notebook(tmp_path: Path, engine: bool) -> None:
    pod = _pod(tmp_path, {"progress_engine": engine}, {"notebook": "/home/jovyan/bad.ipynb"})
    _notebook(pod.home / "bad.ipynb", "1 / 0")
    proc = pod.run("papermill", extra_env={"ARGO_PROGRESS_FILE": str(tmp_path / "progress")})
    assert proc.returncode != 0
    assert (pod.workspace / "papermill-done").exists()
    assert (pod.workspace / "outputs" / "result.ipynb").exists()
    record = json.loads((pod.workspace / "outputs" / "error.json").read_text())
    assert (record["ename"], record["evalue"]) == ("ZeroDivisionError", "division by zero")
    # the engine knows the cell (0 parameters, 1 the code; nothing injected); plain papermill's stderr
    # only names the failing cell's execution count ("In [2]")
    assert (record["cell_index"], record["execution_count"]) == ((1, 2) if engine else (None, 2))


def _error_record(pod: Pod) -> dict:
    return json.loads((pod.workspace / "outputs" / "error.json").read_text())


@pytest.mark.parametrize("engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_missing_notebook_fails_with_a_record_and_marks_done(tmp_path: Path, engine: bool) -> None:
    pod = _pod(tmp_path, {"progress_engine": engine}, {"notebook": "nope.ipynb"})
    proc = pod.run("papermill")
    assert proc.returncode == 1
    assert (pod.workspace / "papermill-done").exists()
    missing = pod.home / "nope.ipynb"
    assert _error_record(pod) == {
        "cell_index": None,
        "execution_count": None,
        "ename": "FileNotFoundError",
        "evalue": f"No such file or directory: '{missing}'",
    }
    # the pod log still carries papermill's whole stderr (the traceback), unchanged
    assert "Traceback (most recent call last):" in proc.stderr
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{missing}'" in proc.stderr


def test_fallback_record_escapes_quotes_and_backslashes(tmp_path: Path) -> None:
    name = 'it\'s "odd" \\ \tname.ipynb'
    pod = _pod(tmp_path, {}, {"notebook": "/home/jovyan/plain.ipynb"})
    pod.params["notebook"] = f"/home/jovyan/{name}"  # an operator's submission: no input validation
    assert pod.run("papermill").returncode == 1
    record = _error_record(pod)  # valid JSON despite the quotes and backslashes
    assert record["ename"] == "FileNotFoundError"
    assert record["evalue"].startswith("No such file or directory: ") and "odd" in record["evalue"]


@pytest.mark.parametrize("engine", [True, False], ids=["progress-engine", "plain-papermill"])
def test_missing_kernel_fails_with_a_record(tmp_path: Path, engine: bool) -> None:
    pod = _pod(tmp_path, {"progress_engine": engine}, {"notebook": "/home/jovyan/k.ipynb", "kernel": "python9"})
    _notebook(pod.home / "k.ipynb", "print(1)")
    proc = pod.run("papermill")
    assert proc.returncode == 1
    record = _error_record(pod)
    assert (record["cell_index"], record["ename"], record["evalue"]) == (None, "NoSuchKernel", "No such kernel named python9")
    assert "NoSuchKernel: No such kernel named python9" in proc.stderr


def test_bad_parameters_fail_with_a_record(tmp_path: Path) -> None:
    pod = _pod(tmp_path, {}, {"notebook": "/home/jovyan/p.ipynb", "parameters_json": {"x": 1}})
    _notebook(pod.home / "p.ipynb", "print(x)")
    pod.params["parameters"] = "bm90OiB5YW1sOiBbCg=="  # base64 of "not: yaml: [" (an operator's submission)
    assert pod.run("papermill").returncode == 1
    record = _error_record(pod)
    assert record["cell_index"] is None and record["ename"].endswith("Error") and record["evalue"]


def test_no_record_is_written_when_papermill_succeeds_or_never_runs(tmp_path: Path) -> None:
    pod = _pod(tmp_path, {"s3": {"bucket_name": "b", "secret_name": "s"}}, {"notebook": "/home/jovyan/x.ipynb"})
    (pod.workspace / "s3-failed").touch()
    assert pod.run("papermill").returncode == 70
    assert not (pod.workspace / "outputs" / "error.json").exists()


def test_script_treats_dash_values_as_paths(tmp_path: Path) -> None:
    """Even past validation, a notebook named like an option stays a path (papermill ... -- nb out)."""
    nb = tmp_path / "-k.ipynb"
    _notebook(nb, "print('ran')")
    (tmp_path / "ws").mkdir()
    script = PAPERMILL_SCRIPT.replace(WORKSPACE_PATH, str(tmp_path / "ws"))
    argv = ["sh", "-c", script, "papermill", str(nb), str(tmp_path / "-o.ipynb"), "", "", "", "false", "", "0",
            str(tmp_path / "res"), "", str(tmp_path)]
    env = {"PATH": VENV_BIN + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "-o.ipynb").exists()


def test_operator_submission_with_only_a_relative_notebook(tmp_path: Path) -> None:
    """The WorkflowTemplate submitted from the Argo UI/CLI with ``notebook=op.ipynb`` and every other
    parameter at its default (""): the notebook resolves under $HOME and runs in its folder (also with no
    folder in its name), and the result
    goes to <output directory>/<workflow name>/."""
    home = tmp_path / "home"
    _notebook(home / "op.ipynb", "import os\nopen('cwd.txt','w').write(os.getcwd())")
    (tmp_path / "ws").mkdir()
    script = PAPERMILL_SCRIPT.replace(WORKSPACE_PATH, str(tmp_path / "ws"))
    argv = ["sh", "-c", script, "papermill", "op.ipynb", "", "", "", "", "false", "", "0", "", "",
            str(home / "job-output")]
    env = {"PATH": VENV_BIN + os.pathsep + os.environ["PATH"], "HOME": str(home), "JOB_NAME": "papermill-op-x1"}
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert (home / "job-output" / "papermill-op-x1" / "op_result.ipynb").is_file()
    assert (home / "cwd.txt").read_text() == str(home)


def test_papermill_waits_for_s3_mount_marker_and_gives_up(tmp_path: Path) -> None:
    config = {"s3": {"bucket_name": "b", "secret_name": "s", "mount_timeout_seconds": 2}}
    pod = _pod(tmp_path, config, {"notebook": "a.ipynb"})
    _notebook(pod.home / "a.ipynb", "print(1)")
    proc = pod.run("papermill")
    assert proc.returncode == 70 and "S3" in proc.stderr
    assert (pod.workspace / "papermill-done").exists()
    (pod.workspace / "papermill-done").unlink()
    (pod.workspace / "s3-failed").touch()
    assert pod.run("papermill").returncode == 70
    (pod.workspace / "s3-failed").unlink()
    (pod.workspace / "s3-mounted").touch()
    proc = pod.run("papermill")
    assert proc.returncode == 0, proc.stderr


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@e"})


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_checkout_step_clones_revision_and_marks_done_on_failure(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "a.txt").write_text("one")
    _git("add", "a.txt", cwd=repo)
    _git("commit", "-qm", "one", cwd=repo)
    _git("tag", "v1", cwd=repo)
    (repo / "a.txt").write_text("two")
    _git("commit", "-qam", "two", cwd=repo)
    _git("checkout", "-q", "-b", "feature", cwd=repo)
    (repo / "a.txt").write_text("three")
    _git("commit", "-qam", "three", cwd=repo)
    _git("checkout", "-q", "main", cwd=repo)
    config = {"checkout_git_repo": {"url": f"file://{repo}"}}
    for rev, expected in (("v1", "one"), ("feature", "three"), (None, "two")):
        sub = tmp_path / (rev or "default")
        sub.mkdir()
        inputs = {"notebook": "a.ipynb", **({"git_revision": rev} if rev else {})}
        pod = _pod(sub, config, inputs)
        proc = pod.run("git-checkout")
        assert proc.returncode == 0, proc.stderr
        assert (pod.home / "git" / "algorithm" / "a.txt").read_text() == expected
        assert not (pod.workspace / "papermill-done").exists()
    sub = tmp_path / "missing"
    sub.mkdir()
    pod = _pod(sub, config, {"notebook": "a.ipynb", "git_revision": "nope"})
    proc = pod.run("git-checkout")
    assert proc.returncode != 0 and "nope" in proc.stderr
    assert (pod.workspace / "papermill-done").exists()  # papermill never runs: s3-mount must still end



def _serve_repo_with_auth(root: Path, user: str, password: str):
    import base64
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    seen: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get("Authorization") or "")
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_checkout_uses_secret_credentials_over_http(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "algo.py").write_text("print('hi')\n")
    _git("add", "algo.py", cwd=work)
    _git("commit", "-qm", "init", cwd=work)
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(served / "algo.git")], check=True)
    subprocess.run(["git", "update-server-info"], cwd=served / "algo.git", check=True)
    server, seen = _serve_repo_with_auth(served, "alice", "s3cr3t-pw")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/algo.git"
        config = {"checkout_git_repo": {"url": url, "secret_name": "git-credentials"}}
        for password, ok in (("s3cr3t-pw", True), ("wrong", False)):
            sub = tmp_path / ("good" if ok else "bad")
            sub.mkdir()
            pod = _pod(sub, config, {"notebook": "a.ipynb"})
            assert "s3cr3t-pw" not in json.dumps(pod.manifest)
            # what the Secret's keys username/password become in the container
            proc = pod.run("git-checkout", extra_env={"GIT_USERNAME": "alice", "GIT_PASSWORD": password})
            assert (proc.returncode == 0) is ok, proc.stderr
            assert (pod.home / "git" / "algorithm" / "algo.py").exists() is ok
            assert (pod.workspace / "papermill-done").exists() is not ok
            assert "s3cr3t-pw" not in proc.stdout + proc.stderr
        assert any(h.startswith("Basic ") for h in seen)
    finally:
        server.shutdown()


def test_no_record_when_papermill_is_killed_by_a_signal(tmp_path: Path) -> None:
    # the tail then holds only the notebook's output (here a traceback the cell printed itself)
    pod = _pod(tmp_path, {"progress_engine": False}, {"notebook": "/home/jovyan/kill.ipynb"})
    _notebook(pod.home / "kill.ipynb", "import os, signal, sys, traceback\n"
              "try:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()\n"
              "os.kill(os.getppid(), signal.SIGKILL)")  # fmt: skip
    proc = pod.run("papermill")
    assert proc.returncode == 137
    assert not (pod.workspace / "outputs" / "error.json").exists()


def test_a_process_left_holding_papermills_stderr_does_not_hang_the_step(tmp_path: Path) -> None:
    # the cell starts a long process writing to papermill's own stderr (the FIFO the script reads);
    # the step must still end, after the bounded wait for the reader, with papermill's exit code
    pod = _pod(tmp_path, {"progress_engine": False}, {"notebook": "/home/jovyan/bg.ipynb"})
    pid_file = tmp_path / "bg.pid"
    _notebook(pod.home / "bg.ipynb", "import os, subprocess\n"
              "err = open(f'/proc/{os.getppid()}/fd/2', 'w')\n"
              "p = subprocess.Popen(['sleep', '120'], stderr=err, stdout=subprocess.DEVNULL, start_new_session=True)\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid))")  # fmt: skip
    try:
        proc = pod.run("papermill", timeout=60)  # raises TimeoutExpired if the step hangs
        assert proc.returncode == 0, proc.stderr
        assert (pod.workspace / "papermill-done").exists()
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 15)


def test_results_are_not_world_writable_although_the_emissary_sets_umask_0(tmp_path: Path) -> None:
    """Issue 10, point 5: the step script sets umask 022, so folders are 0755 and files 0644."""
    pod = _pod(tmp_path, {}, {"notebook": "/home/jovyan/u.ipynb", "result_data_directory": "data"})
    _notebook(pod.home / "u.ipynb", "open('/dev/null').close()")
    proc = pod.run("papermill", extra_env={"ARGO_PROGRESS_FILE": str(tmp_path / "progress")})
    assert proc.returncode == 0, proc.stderr
    ann = pod.manifest["metadata"]["annotations"]
    results = pod.local(ann["pygeoapi.io/results-directory"])
    notebook = pod.local(ann["pygeoapi.io/result-notebook"])
    for folder in (results, results.parent, pod.home / "data", pod.workspace / "outputs"):
        assert folder.stat().st_mode & 0o777 == 0o755, folder
    for path in (notebook, pod.workspace / "outputs" / "result.ipynb", pod.workspace / "papermill-done"):
        assert path.stat().st_mode & 0o777 == 0o644, path
