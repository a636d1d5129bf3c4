"""The local engine without bubblewrap (issue 14, point 4): util-linux's ``unshare`` gives each pod its own
user, mount and pid namespace and the runner builds the same root bubblewrap would; where neither exists,
``serve`` refuses at start with one message naming what to install instead of failing every job.

``bwrap`` is hidden from ``PATH`` (a folder with links to every command of ``/usr/bin`` but it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_engine_run import submit, wait
from test_local_confinement import PROBE
from test_serve_e2e import Server, make_home

from argo_papermill.engine.config import EngineConfig, unshare_problem
from argo_papermill.engine.service import Engine

CLI = str(Path(sys.executable).parent / "argo-papermill")


def need_unshare() -> None:
    problem = unshare_problem()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to run unshare with user namespaces (util-linux): {problem}")
        pytest.skip(f"util-linux's unshare cannot be used here: {problem}")


def path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH like this one with the commands ``hidden`` left out."""
    folder = tmp_path / "bin-without-" / "-".join(hidden)
    folder.mkdir(parents=True)
    dirs = []
    for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        if not entry or not os.path.isdir(entry) or os.path.realpath(entry) in dirs:
            continue
        dirs.append(os.path.realpath(entry))
        for name in os.listdir(entry):
            if name not in hidden and not (folder / name).exists():
                (folder / name).symlink_to(Path(entry) / name)
    return str(folder)


def test_unshare_sandbox_confines_like_bubblewrap(tmp_path):
    """The confinement test of bubblewrap (tests/test_local_confinement.py), with ``sandbox: unshare``:
    volumes at their mount paths, the job's own Secret readable, the store and other Secrets hidden."""
    need_unshare()
    home = tmp_path / "home"
    cfg = EngineConfig(data_dir=home / ".ap-data", home=home, secrets_dir=tmp_path / "secrets", grace_seconds=1,
                       poll_seconds=0.05, sandbox="unshare")
    assert cfg.sandbox_tool[0] == "unshare" and cfg.bwrap is None
    for name, key, value in (("creds", "username", "alice"), ("other", "password", "s3cr3t-other")):
        (cfg.secrets_dir / name).mkdir(parents=True)
        (cfg.secrets_dir / name / key).write_text(value)
    claim = tmp_path / "claim"
    cfg.claims["data"] = claim
    engine = Engine.acquire(cfg)
    try:
        wf = {"metadata": {"name": "probe-unshare"}, "spec": {"entrypoint": "t", "volumes": [
            {"name": "s", "secret": {"secretName": "creds"}}, {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "w", "emptyDir": {}}],
            "templates": [{"name": "t", "container": {
                "image": "x", "command": ["sh", "-c", PROBE + 'echo in-workspace > /workspace/w && cat /workspace/w >> /data/report'],
                "env": [{"name": "SECRETS", "value": str(cfg.secrets_dir)}, {"name": "DATA", "value": str(cfg.data_dir)}],
                "volumeMounts": [{"name": "s", "mountPath": "/etc/creds", "readOnly": True},
                                 {"name": "d", "mountPath": "/data"}, {"name": "w", "mountPath": "/workspace"}]}}]}}
        done = wait(engine, submit(engine, wf))
        assert done["status"]["phase"] == "Succeeded", done["status"]
        report = (claim / "report").read_bytes().decode(errors="replace")
        assert report.startswith("alice") and "done" in report and report.rstrip().endswith("in-workspace"), report
        assert "s3cr3t-other" not in report and "READ" not in report and "other" not in report, report
        assert not (cfg.data_dir / "planted").exists()
        assert not Path("/workspace/w").exists()  # /workspace was the pod's own, on its own root
    finally:
        engine.close()


@pytest.mark.e2e
def test_serve_without_bwrap_runs_a_notebook_with_unshare(tmp_path, monkeypatch):
    need_unshare()
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), path_without(tmp_path, "bwrap")]))
    assert shutil.which("bwrap") is None and shutil.which("unshare")
    srv = Server(make_home(tmp_path), tmp_path / "data").start()
    try:
        proc = subprocess.run([CLI, "submit", "notebooks/hello.ipynb", "-p", "name=unshared", "--wait",
                               "--url", srv.url], capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout.decode().strip() == "Hello, unshared!"
    finally:
        srv.kill()


def test_serve_refuses_at_start_without_any_sandbox(tmp_path, monkeypatch):
    path = os.pathsep.join([str(Path(sys.executable).parent), path_without(tmp_path, "bwrap", "unshare")])
    proc = subprocess.run([CLI, "serve", "--port", "1", "--data", str(tmp_path / "data")], cwd=tmp_path,
                          capture_output=True, timeout=120, env={**os.environ, "PATH": path})
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.returncode, err, proc.stdout.decode())
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "apt-get install bubblewrap" in lines[0] and "unshare" in lines[0] and "sandbox: none" in lines[0], err
