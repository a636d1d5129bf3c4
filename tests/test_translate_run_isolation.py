"""What the notebook can no longer do to the other containers (issue 10, point 1), with the real scripts.

The threat model is in docs/architecture.md: the notebook runs as the pod's user with write access to the
shared /workspace and /var/run/argo emptyDirs; it must not reach Argo's wait container through symbolic
links, outlive its step to change the outputs, nor plant anything where s3-mount's root emissary writes.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from argo_papermill import NotebookProcessor
from argo_papermill.translate.scripts import ARGO_DIR_GUARD
from test_translate_run_papermill import VENV_BIN, Pod, _notebook

needs_papermill = pytest.mark.skipif(shutil.which("papermill", path=VENV_BIN) is None, reason="papermill missing")
needs_bwrap_root = pytest.mark.skipif(shutil.which("bwrap") is None or os.geteuid() != 0,
                                      reason="needs bubblewrap and root")


def _pod(tmp_path: Path, notebook_code: str) -> Pod:
    manifest = NotebookProcessor({}).workflow_manifest("iso-1", {"notebook": "/home/jovyan/nb.ipynb"})
    pod = Pod(tmp_path, manifest)
    _notebook(pod.home / "nb.ipynb", notebook_code)
    return pod


@needs_papermill
@pytest.mark.parametrize("plant", ["files", "folder"])
def test_links_in_the_outputs_folder_are_gone_before_the_wait_container_reads_it(tmp_path: Path, plant: str) -> None:
    """Argo's wait container reads /workspace/outputs/error.json (and result.ipynb) following links, in its
    own filesystem: a link to its service account token would put the token into the Workflow's status."""
    secret = tmp_path / "wait-container-token"
    secret.write_text("token-of-the-wait-container")
    outputs = tmp_path / "workspace" / "outputs"
    if plant == "files":
        code = (f"import os\nos.makedirs({str(outputs)!r}, exist_ok=True)\n"
                f"os.symlink({str(secret)!r}, {str(outputs / 'error.json')!r})\n"
                f"os.symlink({str(secret)!r}, {str(outputs / '.hidden')!r})\n"
                f"os.symlink({str(secret)!r}, {str(outputs / 'result.ipynb')!r})")
    else:
        (tmp_path / "elsewhere").mkdir()
        os.symlink(secret, tmp_path / "elsewhere" / "error.json")
        code = (f"import os, shutil\nshutil.rmtree({str(outputs)!r})\n"
                f"os.symlink({str(tmp_path / 'elsewhere')!r}, {str(outputs)!r})")
    pod = _pod(tmp_path, code)
    proc = pod.run("papermill", extra_env={"ARGO_PROGRESS_FILE": str(tmp_path / "progress")})
    assert proc.returncode == 0, proc.stderr
    assert outputs.is_dir() and not outputs.is_symlink()
    assert [p.name for p in outputs.iterdir() if p.is_symlink()] == []
    assert not (outputs / "error.json").exists()  # papermill succeeded: no record, and no link
    assert (outputs / "result.ipynb").is_file() and b"token-of" not in (outputs / "result.ipynb").read_bytes()
    assert secret.read_text() == "token-of-the-wait-container"  # cp did not write through the link


@needs_papermill
@needs_bwrap_root
def test_processes_the_notebook_left_die_before_papermill_is_done(tmp_path: Path) -> None:
    """In its own PID namespace under Argo's emissary (PID 1, the step's parent), the step kills what the
    notebook left running before it checks the outputs and touches the done marker: nothing can plant a
    link afterwards. Here a Python process stands in for the emissary as PID 1 (bwrap --as-pid-1)."""
    heartbeat = tmp_path / "heartbeat"
    outputs = tmp_path / "workspace" / "outputs"
    loop = (f"while :; do date +%s%N > {heartbeat}; ln -sfn /etc/hostname {outputs}/error.json 2>/dev/null; "
            "sleep 0.05; done")
    code = ("import subprocess\n"
            f"subprocess.Popen(['sh', '-c', {loop!r}], start_new_session=True, stdin=subprocess.DEVNULL, "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    pod = _pod(tmp_path, code)
    c = pod.container("papermill")
    argv = [pod.substitute(a) for a in c["command"] + c["args"]]
    emissary = ("import subprocess, sys, time\n"
                "code = subprocess.call(sys.argv[1:])\n"
                "time.sleep(3)\n"  # the container lives on a moment after the step, as the emissary's exit takes
                "sys.exit(code)")
    env = {"PATH": VENV_BIN + os.pathsep + os.environ["PATH"], "HOME": str(pod.home),
           "ARGO_PROGRESS_FILE": str(tmp_path / "progress"), "JOB_NAME": "iso"}
    proc = subprocess.Popen(
        ["bwrap", "--dev-bind", "/", "/", "--unshare-pid", "--as-pid-1", "--die-with-parent",
         "--chdir", str(pod.home), sys.executable, "-c", emissary, *argv],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        done = tmp_path / "workspace" / "papermill-done"
        deadline = time.time() + 120
        while not done.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
        assert heartbeat.exists()  # the left-behind loop did run
        beat = heartbeat.read_text()
        time.sleep(0.5)
        assert heartbeat.read_text() == beat  # and was dead when papermill was done
        assert not (outputs / "error.json").is_symlink()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()


def _argo_dir() -> Path:
    """A stand-in for the var-run-argo emptyDir as Argo leaves it when s3-mount starts: the folder 0777 (root),
    ctr/ and argoexec created by containers of user 1000, ctr/s3-mount by s3-mount's root emissary (umask 0)."""
    base = Path(tempfile.mkdtemp(prefix="var-run-argo-", dir="/tmp"))
    base.chmod(0o755)
    argo = base / "argo"
    argo.mkdir()
    argo.chmod(0o777)
    (argo / "argoexec").write_bytes(b"#!/bin/sh\n")
    (argo / "argoexec").chmod(0o555)
    (argo / "ctr" / "papermill").mkdir(parents=True)
    (argo / "ctr" / "s3-mount").mkdir()
    for path in (argo / "ctr", argo / "ctr" / "papermill", argo / "ctr" / "s3-mount"):
        path.chmod(0o777)
    for path in (argo / "argoexec", argo / "ctr", argo / "ctr" / "papermill"):
        os.chown(path, 1000, 100)
    return argo


ATTEMPTS = {  # in this order: the renames last
    "write its own signal": 'echo 15 > "$d/ctr/papermill/signal"',
    "write progress": 'echo 1/2 > "$d/progress"',
    "write signal of s3-mount": 'echo 19 > "$d/ctr/s3-mount/signal"',
    "plant exitcode link": 'ln -s /dev/null "$d/ctr/s3-mount/exitcode"',
    "replace argoexec": ': > "$d/evil" && mv -f "$d/evil" "$d/argoexec"',
    "rename s3-mount's folder": 'mv "$d/ctr/s3-mount" "$d/ctr/gone"',
    "rename ctr": 'mv "$d/ctr" "$d/ctr-gone"',
}


def _as_notebook(argo: Path) -> dict[str, bool]:
    """What user 1000 (the notebook) manages to do to the folder, one attempt after the other."""

    def drop():
        os.setgid(100)
        os.setgroups([])
        os.setuid(1000)

    done = {}
    for what, command in ATTEMPTS.items():
        proc = subprocess.run(["/bin/sh", "-c", command], env={"d": str(argo), "PATH": "/usr/bin:/bin"},
                              capture_output=True, preexec_fn=drop, cwd="/", timeout=30)
        done[what] = proc.returncode == 0
    return done


@needs_bwrap_root
def test_s3_mount_protects_argos_folder_from_the_notebook() -> None:
    argo = _argo_dir()
    try:
        unguarded = _argo_dir()
        before = _as_notebook(unguarded)  # without the guard: everything is possible
        shutil.rmtree(unguarded.parent, ignore_errors=True)
        assert all(before.values()), before
        var_run = os.path.realpath("/var/run")  # often a link to /run: a fresh one holds the stand-in
        proc = subprocess.run(["bwrap", "--dev-bind", "/", "/", "--tmpfs", var_run, "--bind", str(argo),
                               var_run + "/argo",
                               "sh", "-c", ARGO_DIR_GUARD + "\nguard_argo_dir", "s3-mount"],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert "protected /var/run/argo" in proc.stdout
        modes = {p: stat.S_IMODE((argo / p).stat().st_mode) for p in (".", "ctr", "ctr/s3-mount", "argoexec")}
        assert modes == {".": 0o1777, "ctr": 0o1777, "ctr/s3-mount": 0o755, "argoexec": 0o555}
        assert {(argo / p).stat().st_uid for p in ("ctr", "ctr/s3-mount", "argoexec")} == {0}
        after = _as_notebook(argo)
        assert after == {
            "write signal of s3-mount": False, "plant exitcode link": False, "rename s3-mount's folder": False,
            "rename ctr": False, "replace argoexec": False,
            "write its own signal": True, "write progress": True,  # the notebook's own container still works
        }
    finally:
        shutil.rmtree(argo.parent, ignore_errors=True)


def test_the_guard_leaves_a_machine_without_argos_folder_alone(tmp_path: Path) -> None:
    """Outside Argo (the local engine), there is no /var/run/argo/ctr/s3-mount: nothing is touched."""
    proc = subprocess.run(["sh", "-c", ARGO_DIR_GUARD + "\nguard_argo_dir && echo fine", "s3-mount-not-here"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == "fine"
