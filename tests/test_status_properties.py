"""Property tests: any mutation of an Argo status fixture gives a valid job dict and never raises.

Mutations: removed keys, nulls, unknown phases, dangling or garbage child ids, wrong types,
garbage timestamps and progress, corrupted compressedNodes, and arbitrary JSON in any place.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from argo_papermill.status import JOB_STATUSES, decode_nodes, job_from_workflow, job_status
from argo_papermill.status_nodes import DATETIME_FORMAT


def _shared() -> Path:
    env = os.environ.get("ARGO_PAPERMILL_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


FIXTURES = _shared() / "fixtures" / "argo-status"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"Argo status fixtures not found at {FIXTURES}")


def _load_all() -> list[dict]:
    docs: list[dict] = []
    if not FIXTURES.is_dir():
        return docs
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix == ".json":
            docs.append(json.loads(path.read_text(encoding="utf-8")))
        elif path.suffix == ".yaml":
            docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict))
    return docs


DOCS = _load_all()
TIMESTAMP_RE = re.compile(r"^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
JOB_KEYS = {"identifier", "process_id", "status", "message", "progress", "created", "started", "finished",
            "updated", "mimetype", "parameters"}  # fmt: skip
INTERESTING_KEYS = {"phase", "children", "progress", "startedAt", "finishedAt", "message", "type", "outputs",
                    "nodes", "status", "metadata", "annotations", "labels", "boundaryID", "displayName", "name",
                    "id", "templateName", "parameters", "value", "compressedNodes", "spec", "shutdown",
                    "creationTimestamp", "nodeFlag"}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
weird_phases = st.sampled_from(
    ["Runningg", "", "Unknown", "Omitted", "Skipped", "Pending", "Error", "succeeded", "RUNNING"]
) | st.text(max_size=12)
weird_times = st.sampled_from(
    ["", "yesterday", "2024-13-45T99:99:99Z", "0000-00-00T00:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
     "2024-01-01T00:00:00+14:00", "2024-01-01", "1970-01-01T00:00:00.000000Z"]
) | st.text(max_size=30)  # fmt: skip
weird_progress = st.sampled_from(["0/0", "5/3", "-1/4", "3/", "/", "a/b", "7/20", "20/20", "1/1", " 2 / 4 "]) | (
    st.text(max_size=8)
)


def _paths(obj: Any, out: list[tuple[Any, Any]], depth: int = 0) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in ``obj``, so a mutation can target any place."""
    if depth > 12:
        return out
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.append((obj, key))
            _paths(value, out, depth + 1)
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            out.append((obj, index))
            _paths(value, out, depth + 1)
    return out


@st.composite
def mutated_workflows(draw) -> dict:
    workflow = copy.deepcopy(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(1, 6))):
        paths = _paths(workflow, [])
        if not paths:
            break
        interesting = [p for p in paths if isinstance(p[1], str) and p[1] in INTERESTING_KEYS]
        container, key = draw(st.sampled_from(interesting or paths))
        action = draw(st.sampled_from(["remove", "null", "phase", "dangling", "json", "time", "progress",
                                       "compressed", "wrongtype"]))  # fmt: skip
        if key not in container if isinstance(container, dict) else key >= len(container):
            continue
        if action == "remove":
            del container[key]
        elif action == "null":
            container[key] = None
        elif action == "phase":
            container[key] = draw(weird_phases)
        elif action == "dangling":
            container[key] = draw(st.lists(st.text(max_size=12) | st.none() | st.integers(), max_size=3))
        elif action == "json":
            container[key] = draw(json_values)
        elif action == "time":
            container[key] = draw(weird_times)
        elif action == "progress":
            container[key] = draw(weird_progress)
        elif action == "compressed":
            blob = draw(st.binary(max_size=40))
            container[key] = base64.b64encode(draw(st.sampled_from([blob, gzip.compress(blob)]))).decode()
        else:
            container[key] = draw(st.sampled_from([[], ["x"], {}, {"a": 1}, 0, "x", True, 1.5]))
    return workflow


def assert_valid_job(job: dict) -> None:
    assert set(job) == JOB_KEYS
    assert job["status"] in JOB_STATUSES
    assert type(job["progress"]) is int and 0 <= job["progress"] <= 100
    for key in ("created", "started", "updated"):
        assert TIMESTAMP_RE.match(job[key]), job[key]
        datetime.strptime(job[key], DATETIME_FORMAT)
    if job["finished"] is not None:
        assert TIMESTAMP_RE.match(job["finished"]), job["finished"]
    for key in ("identifier", "process_id", "message", "mimetype", "parameters"):
        assert isinstance(job[key], str)
    json.loads(job["parameters"])
    assert job["created"] <= job["started"] <= job["updated"]
    if job["status"] == "accepted":
        assert job["progress"] == 0 and job["finished"] is None
    if job["status"] == "successful":
        assert job["progress"] == 100


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_workflows())
def test_mutated_fixtures_give_valid_jobs(workflow: dict):
    job = job_from_workflow(workflow)
    assert_valid_job(job)
    assert job_status(workflow) == job["status"]
    json.dumps(job)  # pygeoapi serialises it


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(value: Any):
    assert_valid_job(job_from_workflow(value))
    assert isinstance(decode_nodes(value), dict)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5), st.sampled_from(DOCS or [{}]))
def test_garbage_nodes_never_raise(nodes: dict, base: dict):
    workflow = copy.deepcopy(base)
    status = workflow.setdefault("status", {}) if isinstance(workflow.get("status"), dict) else {}
    workflow["status"] = status
    status["nodes"] = nodes
    assert_valid_job(job_from_workflow(workflow))


def test_compressed_nodes_with_dangling_children_decode():
    nodes = {"wf": {"id": "wf", "name": "wf", "type": "Pod", "phase": "Running", "children": ["gone", 3, None]}}
    packed = base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()
    workflow = {"metadata": {"name": "wf"}, "status": {"phase": "Running", "compressedNodes": packed}}
    assert decode_nodes(workflow["status"]) == nodes
    assert job_from_workflow(workflow)["status"] == "running"


@pytest.mark.parametrize("blob", [b"\x28\xb5\x2f\xfd" + b"\x00" * 12, b"\x1f\x8b\x08garbage", b"\x0b\x02\x80{}\x03",
                                  b"[1, 2]", b"{not json"])  # fmt: skip
def test_undecodable_compressed_nodes_degrade_to_the_workflow_phase(blob: bytes):
    """zstd/brotli (Argo >= 4.1) without their modules, corrupt gzip, non-map JSON: no nodes, no error."""
    workflow = {"metadata": {"name": "wf"}, "status": {"phase": "Failed", "message": "boom",
                                                        "compressedNodes": base64.b64encode(blob).decode()}}
    assert decode_nodes(workflow["status"]) == {}
    job = job_from_workflow(workflow)
    assert (job["status"], job["message"]) == ("failed", "boom")
