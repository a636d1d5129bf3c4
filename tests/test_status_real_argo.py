"""Workflows as a real Argo controller left them, mapped to the job pygeoapi answered at the time.

``tests/fixtures/real-argo/<argo version>/<scenario>.json`` are recorded by the real-Argo suite
(``ARGO_RECORD_FIXTURES=1 .venv/bin/python -m pytest tests/realargo``): the Workflow with its status, read
from the real API server once the job was finished, and the job's status, progress and message as
``GET /jobs/{id}`` returned them. The status mapping is pure, so the same Workflow must keep giving the
same job.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from argo_papermill.status import job_from_workflow

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "real-argo"
RECORDED = sorted(FIXTURES.glob("*/*.json"))


def test_fixtures_are_there_for_every_scenario():
    scenarios = {path.stem for path in RECORDED}
    assert {"notebook-parameters-succeeded", "notebook-cell-failed", "notebook-deadline-exceeded",
            "git-checkout-succeeded", "s3-mount-succeeded", "template-ref-succeeded",
            "artifact-repository-succeeded"} <= scenarios


@pytest.mark.parametrize("path", RECORDED, ids=[f"{p.parent.name}/{p.stem}" for p in RECORDED])
def test_recorded_workflow_maps_to_the_job_seen_through_the_api(path: Path):
    recorded = json.loads(path.read_text())
    job = job_from_workflow(recorded["workflow"])
    assert {key: job[key] for key in ("status", "progress", "message")} == recorded["job"]


@pytest.mark.parametrize("path", RECORDED, ids=[f"{p.parent.name}/{p.stem}" for p in RECORDED])
def test_recorded_workflow_is_what_the_real_controller_writes(path: Path):
    """The shape our mapping relies on, as the real controller wrote it (not our fakes' reading of Argo)."""
    workflow = json.loads(path.read_text())["workflow"]
    status = workflow["status"]
    if "workflowTemplateRef" not in workflow["spec"] and status["phase"] == "Error":
        return  # refused before any node was made (Strict templateReferencing)
    nodes = list(status["nodes"].values())
    pods = [n for n in nodes if n["type"] == "Pod"]
    assert len(pods) == 1 and pods[0]["templateName"] == "notebook"
    containers = {n["displayName"]: n for n in nodes if n["type"] == "Container"}
    assert {"papermill", "main"} <= set(containers)
    assert all(c["boundaryID"] == pods[0]["id"] for c in containers.values())
    # a stopped Workflow: its nodes are failed at once, its phase follows once the pod is gone (v3.7.18 was
    # recorded in between: the job is already `failed` with the stop message)
    assert status["phase"] in ("Succeeded", "Failed", "Error") or workflow["spec"].get("shutdown") == "Stop"
    if status["phase"] == "Succeeded":
        assert pods[0]["progress"].split("/")[0] == pods[0]["progress"].split("/")[1]
