"""LocalBackend implements WorkflowBackend over the engine's store, with the errors of base.py."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from argo_papermill.backends.base import AlreadyExists, Conflict, NotFound, Rejected
from argo_papermill.backends.local import LocalBackend, merge_patch
from argo_papermill.selectors import matches, parse_selector
from argo_papermill.errors import ConfigurationError

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


def wf(name: str, cmd: str = "true", labels: dict | None = None) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "argo-papermill", **(labels or {})}},
            "spec": {"entrypoint": "t", "templates": [{"name": "t", "container": {
                "image": "x", "command": ["sh", "-c", cmd]}}]}}


@pytest.fixture
def backend(tmp_path):
    b = LocalBackend(data_dir=tmp_path / "d", home=tmp_path / "h", poll_seconds=0.05, grace_seconds=1)
    yield b
    b.close()


def wait_phase(backend, name, phases=("Succeeded", "Failed", "Error"), timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = backend.get(name)
        if got["status"].get("phase") in phases:
            return got
        time.sleep(0.05)
    raise AssertionError(got["status"])


def test_constructor_does_no_work(tmp_path):
    b = LocalBackend(data_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()
    assert b.namespace == "local"


def test_unknown_config_key_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="datadir"):
        LocalBackend(datadir=tmp_path)


@needs_bwrap
def test_create_get_list_patch_delete_logs(backend):
    created = backend.create(wf("a", "echo hello-from-a"))
    assert created["metadata"]["namespace"] == "local" and created["metadata"]["uid"]
    with pytest.raises(AlreadyExists):
        backend.create(wf("a"))
    backend.create(wf("b", labels={"pygeoapi.io/process-id": "other"}))
    done = wait_phase(backend, "a")
    assert done["status"]["phase"] == "Succeeded"
    assert done["metadata"]["labels"]["workflows.argoproj.io/phase"] == "Succeeded"
    assert any("hello-from-a" in line and line.startswith("a/main: ") for line in backend.logs("a"))
    wait_phase(backend, "b")
    page = backend.list("app.kubernetes.io/managed-by=argo-papermill")
    assert [i["metadata"]["name"] for i in page.items] == ["b", "a"] and page.total == 2
    assert "nodes" not in page.items[0]["status"]
    page = backend.list("app.kubernetes.io/managed-by=argo-papermill", limit=1, offset=1)
    assert [i["metadata"]["name"] for i in page.items] == ["a"] and page.total == 2
    assert backend.list("pygeoapi.io/process-id=other").total == 1
    assert backend.list("", phases=frozenset({"Running"})).total == 0
    patched = backend.patch("a", {"metadata": {"annotations": {"x": "1"}}})
    assert patched["metadata"]["annotations"] == {"x": "1"}
    assert backend.patch("a", {"status": {"message": "hand-set"}})["status"]["message"] == "hand-set"
    assert backend.get("a")["status"]["nodes"]  # a merge patch keeps what it does not name
    with pytest.raises(Conflict):
        backend.patch("a", {"metadata": {"resourceVersion": "1", "annotations": {"y": "2"}}})
    backend.delete("a")
    with pytest.raises(NotFound):
        backend.delete("a")
    with pytest.raises(NotFound):
        backend.get("a")
    with pytest.raises(NotFound):
        backend.patch("a", {"metadata": {"annotations": {"x": "1"}}})


def test_unsupported_feature_is_rejected_naming_the_field(backend):
    bad = wf("c")
    bad["spec"]["onExit"] = "t"
    with pytest.raises(Rejected, match=r"spec\.onExit"):
        backend.create(bad)
    with pytest.raises(NotFound):
        backend.get("c")


@needs_bwrap
def test_patch_shutdown_stops_and_delete_kills(backend):
    backend.create(wf("long", "sleep 60"))
    wait_phase(backend, "long", phases=("Running",))
    time.sleep(0.3)
    backend.patch("long", {"spec": {"shutdown": "Stop"}})
    stopped = wait_phase(backend, "long")
    assert stopped["status"]["message"] == "Stopped with strategy 'Stop'"
    # a process in its own session (as jupyter starts kernels) dies with the pod's sandbox too
    backend.create(wf("long2", "setsid sleep 63 & sleep 61"))
    wait_phase(backend, "long2", phases=("Running",))
    deadline = time.time() + 10
    while time.time() < deadline and not (_running("sleep 61") and _running("sleep 63")):
        time.sleep(0.05)
    assert _running("sleep 61") and _running("sleep 63")
    backend.delete("long2")
    deadline = time.time() + 10
    while time.time() < deadline and (_running("sleep 61") or _running("sleep 63")):
        time.sleep(0.1)
    assert not _running("sleep 61") and not _running("sleep 63")


def _running(needle: str) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return any(line.startswith(needle) for line in out.splitlines())


def test_second_process_uses_the_store_without_an_engine(backend, tmp_path):
    backend.create(wf("from-here"))
    code = (
        "from argo_papermill.backends.local import LocalBackend\n"
        f"b = LocalBackend(data_dir={str(tmp_path / 'd')!r})\n"
        "print(sorted(i['metadata']['name'] for i in b.list('').items)); print(b._engine is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "['from-here']" and out[1] == "True"


def test_selector_and_merge_patch_helpers():
    terms = parse_selector("a=1,b!=2,c in (x, y),!d,e")
    assert matches(terms, {"a": "1", "b": "3", "c": "y", "e": ""})
    assert not matches(terms, {"a": "1", "b": "3", "c": "z", "e": ""})
    assert not matches(terms, {"a": "1", "c": "x", "d": "", "e": ""})
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {"a": {"c": 2, "d": 3}}


@pytest.mark.parametrize("field,edit", [
    ("templates", lambda s: s["templates"][0].update(name="t/../../../../../../../tmp/x") or s.update(
        entrypoint="t/../../../../../../../tmp/x")),
    ("volumes", lambda s: s.update(volumes=[{"name": "../../../../../../tmp/v", "emptyDir": {}}])),
    ("claimName", lambda s: s.update(volumes=[{"name": "v", "persistentVolumeClaim": {
        "claimName": "../../../../tmp/c"}}])),
    ("secretName", lambda s: s.update(volumes=[{"name": "v", "secret": {"secretName": "../../etc"}}])),
])
def test_names_that_become_folders_must_not_step_out_of_the_data_folder(backend, field, edit):
    """Template, volume, claim and Secret names end up as folder names under the data folder (pod
    folders that are rmtree'd, volumes, copied Secrets): '/' or '..' in them would escape it."""
    w = wf("escape")
    edit(w["spec"])
    with pytest.raises(Rejected, match=field):
        backend.create(w)
