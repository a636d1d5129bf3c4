"""job_from_workflow over every Workflow in Argo's own status fixtures (shared/fixtures/argo-status).

The expected status, progress and message of each fixture are written out below, derived from
Argo's semantics (shared/reference/argo-facts.md §1 and §12), not computed by the code under test.
Progress follows the formula in ``argo_papermill.status.job_progress``: executable nodes (Pod,
Container, HTTP, Plugin, Suspend; a containerSet Pod counts as its containers; a retried step only
by its last attempt), 1 for Succeeded/Skipped/Omitted, else 0 unless a started node self-reports
N/M with M > 1; 0 while accepted, 100 when successful, at most 99 otherwise.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from argo_papermill.status import JOB_STATUSES, decode_nodes, job_from_workflow, job_status
from argo_papermill.status_nodes import DATETIME_FORMAT


def _shared() -> Path:
    env = os.environ.get("ARGO_PAPERMILL_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


FIXTURES = _shared() / "fixtures" / "argo-status"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"Argo status fixtures not found at {FIXTURES}")

TIMESTAMP_RE = re.compile(r"^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
JOB_KEYS = {
    "identifier", "process_id", "status", "message", "progress", "created", "started",
    "finished", "updated", "mimetype", "parameters",
}  # fmt: skip


def load(relative: str) -> list[dict]:
    path = FIXTURES / relative
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def assert_valid_job(job: dict) -> None:
    assert set(job) == JOB_KEYS
    assert job["status"] in JOB_STATUSES
    assert isinstance(job["progress"], int) and not isinstance(job["progress"], bool)
    assert 0 <= job["progress"] <= 100
    for key in ("created", "started", "updated"):
        assert isinstance(job[key], str)
        assert TIMESTAMP_RE.match(job[key]), job[key]
        datetime.strptime(job[key], DATETIME_FORMAT)
    assert job["finished"] is None or TIMESTAMP_RE.match(job["finished"])
    for key in ("identifier", "process_id", "message", "mimetype", "parameters"):
        assert isinstance(job[key], str)
    assert job["message"]
    json.loads(job["parameters"])


# file -> (status, progress, the message, why)
EXPECTED: dict[str, tuple[str, int, str, str]] = {
    "01-steps-succeeded-s3-output-artifacts-artgc.yaml": (
        "successful", 100, "Job finished successfully in 11s", "Succeeded 22:29:58 -> 22:30:09"),
    "02-steps-withitems-13-pods-succeeded-no-progress.yaml": (
        "successful", 100, "Job finished successfully in 40s",
        "Succeeded; no progress field anywhere (pre-2.12) is no problem"),
    "03-pod-root-hello-world-succeeded.json": ("successful", 100, "Job finished successfully in 8s",
        "JSON, single Pod root"),
    "04-pod-root-hello-world-running.json": (
        "running", 0, "Running: whalesay", "the Pod node is Running (pod started), nothing reported yet; "
        "the root is not under metadata.name"),
    "05-dag-withparam-retries-failed-omitted-skipped.yaml": (
        "running", 90, "Running; step process-tasks(3:3)(2) failed: failed with exit code 1",
        "wf still Running: 11 steps (gen-tasks + 10 process-tasks, only the last attempt of (3:3)), "
        "10 Succeeded -> floor(100*10/11)=90; the failed attempt is the news"),
    "06-dag-retry-nodes-terminate-strategy.yaml": (
        "failed", 33, "Stopped outside pygeoapi (argo stop/terminate): Stopped with strategy 'Terminate'",
        "spec.shutdown=Terminate without our dismissed annotation = someone else stopped it; A done, B, C failed"),
    "07-dag-continueon-leaf-failed-progress.yaml": (
        "running", 50, "Running; step B failed: failed with exit code 1",
        "continueOn: wf Running with A Succeeded and B Failed; stored 3/3 is test-edited and not used"),
    "08-dag-skipped-node-output-param.yaml": (
        "running", 99, "All steps finished; Argo is completing the workflow",
        "wf Running; the only executable node (stage-a) Succeeded, stage-b is a Skipped node -> capped at 99"),
    "09-dag-containerset-pod-and-containers-pending.yaml": (
        "failed", 0, "Stopped outside pygeoapi (argo stop/terminate): Stopped with strategy 'Terminate'",
        "shutdown=Terminate while the containerSet pod and both containers are still Pending"),
    "10-dag-containerset-podinitializing-progress-2of4.yaml": (
        "running", 50, "Step B is waiting: PodInitializing",
        "containerSet A (container main) Succeeded, B Pending with PodInitializing -> 1 of 2 steps"),
    "11-steps-error-phase-lifecycle-hook.yaml": (
        "failed", 0, "Step step1 failed",
        "wf phase Error -> failed; the Error pod's 1/1 is not a completion"),
    "12-steps-workflowtemplateref-stored-spec.yaml": (
        "running", 0, "Running: step-1, step2",
        "both pods Running; their 1/1 is Argo's completion marker, not a self-report (test-edited)"),
    "13-steps-nested-templateref-nodes.yaml": ("running", 0, "Running: step-1",
        "one Pod Running inside nested Steps"),
    "14-workflowtemplateref-pod-root-succeeded.yaml": ("successful", 100, "Job finished successfully in 6s",
        "templateRef Pod root"),
    "15-steps-suspend-node-running.yaml": (
        "running", 50, "Suspended at step approve, waiting to be resumed",
        "build Succeeded, Suspend node approve Running (counts as a step)"),
    "16-pod-root-pending-progress-0of1.yaml": (
        "accepted", 0, "Job accepted, waiting for its pod to start",
        "wf Running but its only Pod is Pending without a reason"),
    "17-retry-quota-exceeded-pending-bad-wf-phase.yaml": (
        "running", 0, "Step exceeded-quota(1) is waiting: test1.test \"test\" is forbidden: exceeded quota",
        "unknown phase 'Runningg' is decided by the nodes: attempt (0) already Failed (not Pending), so the "
        "job left 'accepted'; attempt (1) is Pending with the quota message"),
    "18-steps-stopped-message-running-garbage-nodes.yaml": (
        "failed", 0, "Stopped outside pygeoapi (argo stop/terminate): Stopped with strategy 'Stop'",
        "status.message says it was stopped (label completed=true); no executable nodes, stored 0/3"),
    "19-dag-6-pods-succeeded-progress-6of6.yaml": (
        "running", 99, "All steps finished; Argo is completing the workflow",
        "wf phase still Running although all 6 pods Succeeded -> not successful yet"),
    "20-dag-retry-loop-output-params-succeeded.yaml": ("successful", 100, "Job finished successfully in 21s",
        "Succeeded despite retries"),
    "21-steps-retry-error-phase-nodes.yaml": (
        "running", 50, "Running; step retry(1) failed: Error (exit code 1)",
        "safe-to-retry Succeeded; retry(1) (last attempt) Error while the Retry node is still Running"),
    "22-steps-mutex-pods-pending-waiting-for-lock.yaml": (
        "accepted", 0, "Waiting for argo/mutex/welcome lock. Lock status: 0/1",
        "every pod Pending, waiting for a mutex"),
    "23-pod-root-pending-containercreating.yaml": ("accepted", 0, "ContainerCreating", "single pod Pending"),
    "24-steps-failed-child-failed-message.yaml": (
        "failed", 50, "Step fail failed: failed with exit code 1",
        "pass Succeeded, fail Failed; the pod's message beats \"child '...' failed\""),
    "25-pod-root-failed-onexit-steps-skipped.yaml": (
        "failed", 66, "Step intentional-fail failed: main: Error (exit code 1)",
        "root Pod Failed, exit-handler pods cry and notify Succeeded -> 2 of 3 (Argo's stored 2/3)"),
    "26-dag-nested-suspend-nodes-failed-11of12.yaml": (
        "failed", 91, "Step dag1-step5-tofail failed: Error (exit code 1)",
        "6 pods + 6 Suspend nodes, one pod Failed -> 11/12 (stored 11/12)"),
    "27-dag-nested-16-pods-succeeded.yaml": ("successful", 100, "Job finished successfully in 58s",
        "16 pods Succeeded"),
    "28-dag-exhausted-retries-omitted-skipped.yaml": (
        "running", 50, "Running; step fail(1) failed: failed with exit code 1",
        "wf Running: success1(0) Succeeded, fail(1) (last attempt) Failed, success2 Omitted (not executable)"),
    "29-steps-failed-retries-no-more-retries.yaml": (
        "running", 0, "Running; step fail(1) failed: failed with exit code 1",
        "wf Running, the last attempts of fail and delayed-fail both Failed"),
    "30-dag-disable-fail-fast-failed.yaml": (
        "failed", 80, "Step C(1) failed: failed with exit code 2",
        "A, B(0), D, E Succeeded; C(1) (last attempt) Failed -> 4/5"),
    "derived/D1-compressednodes-from-01.yaml": ("successful", 100, "Job finished successfully in 11s",
        "01 with compressedNodes"),
    "derived/D2-offloaded-nodes-from-01.yaml": (
        "successful", 100, "Job finished successfully in 11s",
        "01 with offloaded nodes: the workflow-level phase is enough"),
}  # fmt: skip

ALL_FILES = sorted(
    str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.suffix in (".yaml", ".json")
) if FIXTURES.is_dir() else []  # fmt: skip


def test_every_status_fixture_has_an_expectation():
    with_status = [f for f in ALL_FILES if not f.startswith("spec-examples/")]
    assert sorted(EXPECTED) == with_status


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_status_progress_message(name: str):
    status, progress, message, _why = EXPECTED[name]
    (workflow,) = load(name)
    job = job_from_workflow(workflow)
    assert_valid_job(job)
    assert (job["status"], job["progress"], job["message"]) == (status, progress, message)
    assert job_status(workflow) == status


@pytest.mark.parametrize("name", [f for f in ALL_FILES if f.startswith("spec-examples/")])
def test_spec_examples_without_status_are_accepted(name: str):
    for doc in load(name):
        job = job_from_workflow(doc)
        assert_valid_job(job)
        assert (job["status"], job["progress"], job["finished"]) == ("accepted", 0, None)


def test_timestamps_use_pygeoapi_format():
    from pygeoapi.util import DATETIME_FORMAT as PYGEOAPI_FORMAT

    assert DATETIME_FORMAT == PYGEOAPI_FORMAT
    (wf,) = load("01-steps-succeeded-s3-output-artifacts-artgc.yaml")
    job = job_from_workflow(wf)
    assert job["created"] == "2022-08-01T22:29:58.000000Z"
    assert job["started"] == "2022-08-01T22:29:58.000000Z"
    assert job["finished"] == "2022-08-01T22:30:09.000000Z"
    assert job["updated"] == "2022-08-01T22:30:09.000000Z"


def test_running_job_has_no_finished_even_if_argo_left_one():
    (wf,) = load("04-pod-root-hello-world-running.json")  # Running with a finishedAt (test-edited)
    assert job_from_workflow(wf)["finished"] is None


def test_accepted_job_started_is_its_creation_time():
    (wf,) = load("16-pod-root-pending-progress-0of1.yaml")
    job = job_from_workflow(wf)
    assert job["started"] == job["created"] == "2021-04-05T21:50:18.000000Z"


def test_yaml_datetimes_are_accepted():
    (wf,) = load("30-dag-disable-fail-fast-failed.yaml")  # unquoted timestamps: PyYAML gives datetimes
    job = job_from_workflow(wf)
    assert job["created"] == "2019-06-26T09:11:58.000000Z"
    assert job["finished"] == "2019-06-26T09:12:46.000000Z"


def test_null_timestamps_still_give_strings():
    (wf,) = load("09-dag-containerset-pod-and-containers-pending.yaml")  # creationTimestamp/startedAt null
    job = job_from_workflow(wf)
    assert isinstance(job["created"], str) and isinstance(job["started"], str)
    assert job["updated"] >= job["created"]


def test_compressed_nodes_decode_to_fixture_01_nodes():
    (plain,) = load("01-steps-succeeded-s3-output-artifacts-artgc.yaml")
    (packed,) = load("derived/D1-compressednodes-from-01.yaml")
    assert "nodes" not in packed["status"] and packed["status"]["compressedNodes"]
    assert json.loads(json.dumps(decode_nodes(packed["status"]), default=str)) == json.loads(
        json.dumps(plain["status"]["nodes"], default=str)
    )


def test_offloaded_nodes_decode_to_nothing_without_error():
    (offloaded,) = load("derived/D2-offloaded-nodes-from-01.yaml")
    assert decode_nodes(offloaded["status"]) == {}


def test_identifier_falls_back_to_name():
    (wf,) = load("23-pod-root-pending-containercreating.yaml")
    job = job_from_workflow(wf)
    assert job["identifier"] == "hello-world-prtl9"
    assert job["mimetype"] == "application/json"
    assert job["parameters"] == "{}"
