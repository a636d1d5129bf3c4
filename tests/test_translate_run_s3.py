"""The s3-mount and papermill containers' real commands against a real S3 protocol server.

s3fs-fuse (Debian) mounts a bucket of moto's server on loopback; papermill reads the notebook
from the mount and writes its result into it; s3-mount notices papermill's done marker, unmounts
and exits 0 by itself. Needs root, /dev/fuse and s3fs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from fakes.s3 import s3_client
from test_translate_run_papermill import Pod, _notebook
from argo_papermill import NotebookProcessor

pytestmark = [
    pytest.mark.needs_fuse,
    pytest.mark.skipif(
        shutil.which("s3fs") is None or not os.path.exists("/dev/fuse") or os.geteuid() != 0,
        reason="needs root, /dev/fuse and s3fs",
    ),
]


@pytest.fixture()
def moto_s3(moto_endpoint):
    client = s3_client(moto_endpoint, "ak", "sk")
    client.create_bucket(Bucket="user-bucket")
    return moto_endpoint, client


def test_s3_mount_serves_papermill_and_ends_by_itself(tmp_path: Path, moto_s3) -> None:
    url, client = moto_s3
    config = {"s3": {"bucket_name": "user-bucket", "secret_name": "s3-cred", "s3_url": url, "path_style": True,
                     "mount_timeout_seconds": 30},
              "output_directory": "/home/jovyan/s3/out"}
    manifest = NotebookProcessor(config).workflow_manifest("s3-1", {"notebook": "s3/nb.ipynb",
                                                                     "parameters_json": {"x": 2}})
    pod = Pod(tmp_path, manifest)
    local_nb = tmp_path / "nb.ipynb"
    _notebook(local_nb, "print(x * 21)")
    client.put_object(Bucket="user-bucket", Key="nb.ipynb", Body=local_nb.read_bytes())
    secrets = {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk"}  # what the Secret would provide
    mount = _s3_mount(pod, secrets)
    try:
        proc = pod.run("papermill", timeout=240)
        assert proc.returncode == 0, proc.stderr
        out, err = mount.communicate(timeout=60)
    finally:
        if mount.poll() is None:
            mount.kill()
            subprocess.run(["fusermount", "-u", str(pod.home / "s3")], capture_output=True)
    assert mount.returncode == 0, err
    assert (pod.workspace / "s3-mounted").exists()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="user-bucket").get("Contents", [])]
    result_key = manifest["metadata"]["annotations"]["pygeoapi.io/result-notebook"].removeprefix("/home/jovyan/s3/")
    assert result_key in keys, keys
    body = client.get_object(Bucket="user-bucket", Key=result_key)["Body"].read()
    executed = nbformat.reads(body.decode(), as_version=4)
    assert executed.cells[-1].outputs[0]["text"].strip() == "42"
    assert not os.path.ismount(pod.home / "s3")


def _s3_mount(pod: Pod, env: dict) -> subprocess.Popen:
    s3 = pod.container("s3-mount")
    argv = [pod.substitute(a) for a in s3["command"] + s3["args"]]
    # its own process group, as the emissary starts it (and forwards signals to the group)
    return subprocess.Popen(argv, env={"PATH": os.environ["PATH"], **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.parametrize("done,code", [(True, 0), (False, 143)], ids=["after-papermill-done", "before"])
def test_argos_sigterm_after_papermill_is_done_is_no_failure(tmp_path: Path, moto_s3, done: bool,
                                                             code: int) -> None:
    """Issue 10, point 3: Argo SIGTERMs a still running s3-mount once papermill exited non-zero; after
    papermill's done marker s3-mount unmounts and exits 0 (its node is not Failed), before it 143."""
    url, _ = moto_s3
    config = {"s3": {"bucket_name": "user-bucket", "secret_name": "s3-cred", "s3_url": url, "path_style": True,
                     "mount_timeout_seconds": 30}}
    pod = Pod(tmp_path, NotebookProcessor(config).workflow_manifest("s3-t", {"notebook": "a.ipynb"}))
    mount = _s3_mount(pod, {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk"})
    try:
        deadline = time.time() + 60
        while not (pod.workspace / "s3-mounted").exists():
            assert mount.poll() is None and time.time() < deadline, mount.communicate()
            time.sleep(0.1)
        if done:
            (pod.workspace / "papermill-done").touch()  # papermill's trap, just before it exited 1
        os.killpg(mount.pid, signal.SIGTERM)  # at once: before s3-mount's own poll sees the marker
        _, err = mount.communicate(timeout=60)
    finally:
        if mount.poll() is None:
            mount.kill()
            subprocess.run(["fusermount", "-u", str(pod.home / "s3")], capture_output=True)
    assert mount.returncode == code, err
    assert not os.path.ismount(pod.home / "s3")


def test_s3fs_refusing_to_mount_is_reported_to_papermill(tmp_path: Path) -> None:
    config = {"s3": {"bucket_name": "b", "secret_name": "s3-cred", "s3_url": "http://127.0.0.1:9"}}
    pod = Pod(tmp_path, NotebookProcessor(config).workflow_manifest("s3-2", {"notebook": "a.ipynb"}))
    mount = _s3_mount(pod, {})  # no credentials: s3fs exits at once
    _, err = mount.communicate(timeout=60)
    assert mount.returncode == 1 and "could not mount" in err
    assert (pod.workspace / "s3-failed").exists() and not (pod.workspace / "s3-mounted").exists()
    papermill = pod.run("papermill")
    assert papermill.returncode == 70 and "S3 mount failed" in papermill.stderr
    assert (pod.workspace / "papermill-done").exists()


def test_s3fs_ending_early_fails_the_mount_step(tmp_path: Path) -> None:
    """An unreachable endpoint: s3fs mounts, checks the bucket, gives up (exit 0!) and unmounts."""
    config = {"s3": {"bucket_name": "b", "secret_name": "s3-cred", "s3_url": "http://127.0.0.1:9"}}
    pod = Pod(tmp_path, NotebookProcessor(config).workflow_manifest("s3-3", {"notebook": "a.ipynb"}))
    mount = _s3_mount(pod, {"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk"})
    try:
        _, err = mount.communicate(timeout=120)
    finally:
        if mount.poll() is None:
            mount.kill()
    assert mount.returncode == 1 and "ended before papermill" in err
    assert (pod.workspace / "s3-failed").exists()
    assert not os.path.ismount(pod.home / "s3")
