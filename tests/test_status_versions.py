"""The status mapping over statuses shaped as Argo v3.6.19, v3.7.18, v4.0.5 and v4.1.2 write them (issue 10).

The Workflows are in tests/fixtures/argo-status (README there: how each was built from Argo's source).
Points of the issue: 3 (the step that failed first is named, never one that Argo terminated because of
it), 7 (the step is named once whatever the version's message prefix), 9 (the ``status.progress``
fallback does not count the Container nodes beside the Pod node's own N/M).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from argo_papermill.status import exit_status, job_from_workflow

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "argo-status"
VERSIONS = ("v3.6.19", "v3.7.18", "v4.0.5", "v4.1.2")
JOB_ID = "6b1e7c52-0a4d-11f1-9e6a-0242ac120002"
LOGS = f"; see its log: GET /jobs/{JOB_ID}/logs"
IMAGE = "registry.example/jupyter-user:1.2"

# event -> (status, progress, message); the same for every version
EXPECTED = {
    # git 1 + s3-mount 0 + papermill 8 * 7/20 (its last report; main weighs 0) -> 3.8 / 10
    "oomkilled": ("failed", 38, "Step papermill failed: OOMKilled (exit code 137)" + LOGS),
    "signal": ("failed", 22, "Step papermill failed: Error (exit code 137)" + LOGS),
    "exit1-no-record": ("failed", 30, "Step papermill failed: Error (exit code 1)" + LOGS),
    "image-pull": ("running", 10, f'Step papermill is waiting: ImagePullBackOff: Back-off pulling image "{IMAGE}"'),
    "stop": ("failed", 58, "Stopped outside pygeoapi (argo stop/terminate): Stopped with strategy 'Stop'"),
    # status.progress "9/24" is the Pod node's 7/20 plus its four Container nodes (git-checkout and main
    # done: 2/4); their 4 come off both sides: (9 - 4) / (24 - 4) = 25 % (never more than was done)
    "offloaded": ("running", 25, "Job running"),
}


def _load(version: str, event: str) -> dict:
    return yaml.safe_load((FIXTURES / f"argo-{version}-{event}.yaml").read_text(encoding="utf-8"))


def test_fixtures_are_what_the_builder_writes() -> None:
    spec = importlib.util.spec_from_file_location("build_fixtures", FIXTURES / "build_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in FIXTURES.glob("argo-*.yaml")}
    assert built == on_disk
    assert set(module.VERSIONS) == set(VERSIONS) and set(module.EVENTS) == set(EXPECTED)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("event", sorted(EXPECTED))
def test_status_of_each_version(version: str, event: str) -> None:
    job = job_from_workflow(_load(version, event))
    assert (job["status"], job["progress"], job["message"]) == EXPECTED[event]


@pytest.mark.parametrize("version", VERSIONS)
def test_v37_prefix_is_there_from_v37_and_the_step_is_named_once(version: str) -> None:
    workflow = _load(version, "exit1-no-record")
    nodes = {n["displayName"]: n for n in workflow["status"]["nodes"].values()}
    prefixed = nodes["papermill"]["message"].startswith("papermill: ")
    assert prefixed == (version != "v3.6.19")
    assert workflow["status"]["message"].startswith("papermill: ") == prefixed
    assert job_from_workflow(workflow)["message"].count("papermill") == 1 + LOGS.count("papermill")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_step_argo_terminated_is_not_blamed_even_when_it_ends_first(version: str) -> None:
    """s3-mount's 143 (Argo's SIGTERM) is no cause, even if its node ends before papermill's."""
    workflow = _load(version, "oomkilled")
    for node in workflow["status"]["nodes"].values():
        if node["displayName"] == "s3-mount":
            node["finishedAt"] = "2026-12-01T09:01:00Z"  # before papermill's 09:01:40
    assert job_from_workflow(workflow)["message"] == EXPECTED["oomkilled"][2]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_step_that_failed_first_is_named_not_the_first_in_the_pod(version: str) -> None:
    """papermill fails (exit 1) before s3-mount fails of its own accord (exit 1): papermill is named, though
    s3-mount comes before it in the pod."""
    workflow = _load(version, "exit1-no-record")
    for node in workflow["status"]["nodes"].values():
        if node["displayName"] == "s3-mount":
            node["message"] = node["message"].replace("143", "1")
    assert job_from_workflow(workflow)["message"] == EXPECTED["exit1-no-record"][2]
    for node in workflow["status"]["nodes"].values():  # and s3-mount when it fails first
        if node["displayName"] == "s3-mount":
            node["finishedAt"] = "2026-12-01T09:00:20Z"
    assert job_from_workflow(workflow)["message"] == "Step s3-mount failed: Error (exit code 1)"


def test_exit_status_reads_every_version_format() -> None:
    assert exit_status({"message": "OOMKilled (exit code 137): "}) == ("OOMKilled", 137)
    assert exit_status({"message": "s3-mount: Error (exit code 143): "}) == ("Error", 143)
    assert exit_status({"message": "papermill: Error (exit code 1)"}) == ("Error", 1)
    assert exit_status({"message": "main: Error (exit code 64): dependency \"papermill\" exited with non-zero "
                                   "code: 1"}) == ("Error", 64)
    assert exit_status({"message": "workflow shutdown with strategy:  Stop"}) is None
