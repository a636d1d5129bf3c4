"""The engine's node trees have the shape of Argo's own, for the same template shape.

The fixtures are Argo's verbatim unit-test Workflows (../shared/fixtures/argo-status):
01 (steps), 09 and 10 (DAG over containerSet pods). Each spec is run by the engine under
the fixture's own workflow name (commands replaced by ``true``), so node names *and ids*
must match; every fixture node must exist with the same type, displayName, templateName,
boundaryID and (for nodes Argo had finished building) children.
"""

from __future__ import annotations

import copy
import shutil
import time

import pytest
import yaml

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.service import Engine
from conftest import shared_dir

FIXTURES = shared_dir() / "fixtures" / "argo-status"
pytestmark = [
    pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"Argo status fixtures not found at {FIXTURES} (../shared absent)"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"),
]


def _load(name: str) -> dict:
    return yaml.safe_load((FIXTURES / name).read_text())


def _runnable(spec: dict) -> dict:
    """The fixture's spec with every command made instant and cluster-only extras removed."""
    spec = copy.deepcopy(spec)
    for key in ("shutdown", "artifactGC", "podSpecPatch", "activeDeadlineSeconds"):
        spec.pop(key, None)
    for template in spec["templates"]:
        template.pop("archiveLocation", None)
        (template.get("outputs") or {}).pop("artifacts", None)
        containers = [template["container"]] if template.get("container") else []
        containers += (template.get("containerSet") or {}).get("containers") or []
        for container in containers:
            container["command"], container["args"] = ["true"], []
            container.pop("name", None) if template.get("container") else None
    return spec


@pytest.fixture
def engine(tmp_path):
    eng = Engine.acquire(EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", poll_seconds=0.05))
    yield eng
    eng.close()


def _run(engine: Engine, fixture: dict) -> dict:
    name = fixture["metadata"]["name"]
    engine.store.insert(name, {"name": name}, _runnable(fixture["spec"]))
    engine.wake()
    deadline = time.time() + 60
    while time.time() < deadline:
        wf = engine.store.get(name)
        if wf["status"].get("phase") in ("Succeeded", "Failed", "Error"):
            return wf
        time.sleep(0.05)
    raise AssertionError(f"{name} did not finish")


def _assert_same_shape(ours: dict, theirs: dict, *, complete: set[str]) -> None:
    for nid, node in theirs.items():
        assert nid in ours, f"Argo node {node['name']} ({nid}) missing; ours: {[n['name'] for n in ours.values()]}"
        mine = ours[nid]
        for key in ("name", "displayName", "type", "templateName", "boundaryID"):
            assert mine.get(key) == node.get(key), f"{node['name']}: {key} {mine.get(key)!r} != {node.get(key)!r}"
        if nid in complete:
            assert sorted(mine.get("children") or []) == sorted(
                c for c in node.get("children") or [] if c in theirs or c in ours), node["name"]
        assert mine["phase"] == "Succeeded"
        assert mine["startedAt"] and mine["finishedAt"]


def test_steps_tree_matches_fixture_01(engine):
    fixture = _load("01-steps-succeeded-s3-output-artifacts-artgc.yaml")
    wf = _run(engine, fixture)
    assert wf["status"]["phase"] == "Succeeded"
    theirs = fixture["status"]["nodes"]
    _assert_same_shape(wf["status"]["nodes"], theirs, complete=set(theirs))
    root = wf["status"]["nodes"][fixture["metadata"]["name"]]
    assert root["outboundNodes"] == theirs[fixture["metadata"]["name"]]["outboundNodes"]
    assert wf["status"]["progress"] == fixture["status"]["progress"] == "2/2"
    for nid, node in theirs.items():
        assert wf["status"]["nodes"][nid]["progress"] == node["progress"]
        if node["type"] == "Pod":
            assert wf["status"]["nodes"][nid]["outputs"]["exitCode"] == node["outputs"]["exitCode"] == "0"


def test_containerset_in_dag_matches_fixture_10(engine):
    fixture = _load("10-dag-containerset-podinitializing-progress-2of4.yaml")
    wf = _run(engine, fixture)
    assert wf["status"]["phase"] == "Succeeded"
    theirs = fixture["status"]["nodes"]
    name = fixture["metadata"]["name"]
    # A and its container were complete when Argo captured the fixture: children must match exactly,
    # B's container is a child of B, and A.main leads to B (and C, which Argo had not created yet).
    a_main = f"{name}-70023156"
    _assert_same_shape(wf["status"]["nodes"], theirs, complete={f"{name}-1127450597", f"{name}-1077117740"})
    assert set(theirs[a_main]["children"]) <= set(wf["status"]["nodes"][a_main]["children"])
    assert len(wf["status"]["nodes"][a_main]["children"]) == 2  # B and C depend on A
    # 3 pods + 3 containers, all executable and succeeded
    assert wf["status"]["progress"] == "6/6"


def test_containerset_pod_matches_fixture_09(engine):
    fixture = _load("09-dag-containerset-pod-and-containers-pending.yaml")
    wf = _run(engine, fixture)
    assert wf["status"]["phase"] == "Succeeded"
    theirs = fixture["status"]["nodes"]
    pod_id = "container-set-termination-demopw5vv-842041608"
    _assert_same_shape(wf["status"]["nodes"], theirs, complete={pod_id})
    ours = wf["status"]["nodes"]
    assert ours[pod_id]["type"] == "Pod"
    assert {ours[c]["type"] for c in ours[pod_id]["children"]} == {"Container"}
    assert ours["container-set-termination-demopw5vv"]["children"] == [pod_id]  # the DAG root -> its task
