"""The embedded engine ends a containerSet pod as Argo's controller does (issue 10, point 10).

Once a container exits non-zero, Argo sends SIGTERM to every container still running
(``podHasContainerNeedingTermination``, operator.go, v3.6 to v4.x); a container whose dependency failed
ends with exit code 64 without running. A local job then reads as a cluster job: the step that failed
is named, not the ones terminated because of it.
"""

from __future__ import annotations

import shutil
import time

import pytest

from argo_papermill.status import job_from_workflow
from test_engine_run import by_display, engine, submit, wait  # noqa: F401 - the engine fixture

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

# stands in for s3-mount: serves until papermill's done marker, exits 143 on SIGTERM before it
HELPER = ("trap 'if test -e /workspace/papermill-done; then exit 0; fi; exit 143' TERM; "
          "while ! test -e /workspace/papermill-done; do sleep 0.2; done")


def pod(name: str, containers: list[dict]) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "argo-papermill",
                                              "pygeoapi.io/job-id": name}},
        "spec": {"entrypoint": "notebook", "templates": [{
            "name": "notebook",
            "volumes": [{"name": "workspace", "emptyDir": {}}],
            "containerSet": {"volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
                             "containers": [{"image": "job", **c} for c in containers]},
        }]},
    }


def test_a_failed_container_gets_the_running_ones_terminated(engine):  # noqa: F811
    """papermill (killed: no done marker) fails; the running helper is SIGTERMed at once and exits 143, a
    container still waiting for a running dependency ends with 143 without running; the job names
    papermill, the step that failed."""
    name = submit(engine, pod("term-1", [
        {"name": "s3-mount", "command": ["sh", "-c", HELPER]},
        {"name": "slow", "command": ["sh", "-c", "sleep 30"]},
        {"name": "tail", "command": ["sh", "-c", "echo ran > /workspace/tail"], "dependencies": ["slow"]},
        {"name": "papermill", "command": ["sh", "-c", "sleep 0.5; exit 1"]},
        {"name": "main", "command": ["true"]},
    ]))
    started = time.time()
    wf = wait(engine, name, timeout=60)
    assert time.time() - started < 15  # not the 30 s of "slow", nor s3-mount's endless wait
    nodes = by_display(wf)
    assert nodes["papermill"]["phase"] == "Failed"
    assert nodes["papermill"]["message"] == "papermill: Error (exit code 1): "
    assert nodes["s3-mount"]["phase"] == "Failed"
    assert nodes["s3-mount"]["message"] == "s3-mount: Error (exit code 143): "
    assert nodes["slow"]["message"] == "slow: Error (exit code 143): "
    assert nodes["tail"]["message"] == "tail: Error (exit code 143): "
    assert nodes["main"]["phase"] == "Succeeded"
    assert wf["status"]["nodes"][name]["message"] == "papermill: Error (exit code 1)"  # first by name, as Argo
    job = job_from_workflow(wf)
    assert job["message"].startswith("Step papermill failed: Error (exit code 1)"), job["message"]


def test_a_helper_terminated_after_papermill_is_done_succeeds(engine):  # noqa: F811
    """papermill fails but touches its done marker (its trap): the helper, SIGTERMed, exits 0."""
    name = submit(engine, pod("term-2", [
        {"name": "s3-mount", "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]},
        {"name": "papermill", "command": ["sh", "-c", ": > /workspace/papermill-done; exit 1"]},
        {"name": "main", "command": ["true"]},
    ]))
    wf = wait(engine, name, timeout=60)
    nodes = by_display(wf)
    assert nodes["s3-mount"]["phase"] == "Succeeded"
    assert job_from_workflow(wf)["message"].startswith("Step papermill failed: Error (exit code 1)")


def test_a_failed_dependency_ends_its_dependant_with_64_and_the_cause_is_named(engine):  # noqa: F811
    name = submit(engine, pod("term-3", [
        {"name": "git-checkout", "command": ["sh", "-c", "echo 'fatal: repository not found' >&2; exit 128"]},
        {"name": "s3-mount", "command": ["sh", "-c", HELPER]},
        {"name": "papermill", "command": ["sh", "-c", "echo ran > /workspace/ran"], "dependencies": ["git-checkout"]},
        {"name": "main", "command": ["true"]},
    ]))
    wf = wait(engine, name, timeout=60)
    nodes = by_display(wf)
    assert nodes["papermill"]["phase"] == "Error"
    assert nodes["papermill"]["message"] == (
        'papermill: Error (exit code 64): dependency "git-checkout" exited with non-zero code: 128')
    assert nodes["s3-mount"]["message"] == "s3-mount: Error (exit code 143): "
    assert job_from_workflow(wf)["message"] == "Step git-checkout failed: Error (exit code 128)"
