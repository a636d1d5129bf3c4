"""job_from_workflow on Workflows built by hand in the two shapes a notebook job can take.

containerSet shape (what the translation produces, docs/architecture.md): the entrypoint is the
``notebook`` containerSet, so the root node is a Pod node (id = workflow name) whose children are
Container nodes ``<wf>.git-checkout``, ``<wf>.s3-mount``, ``<wf>.papermill``, ``<wf>.main``;
self-reported progress lands on the Pod node and the ``error`` output parameter too.
steps shape: a Steps root, StepGroups, and one Pod per step (``git-checkout``, then ``papermill``).

Node messages use the formats Argo's controller writes (argo-facts.md §1.6, §8).
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from argo_papermill import contract
from argo_papermill.status import (
    JOB_STATUSES,
    error_record,
    job_from_workflow,
    job_progress,
    job_status,
    parameters_json,
)
from argo_papermill.status_nodes import DATETIME_FORMAT

JOB_ID = "2f0c7a9e-5e5b-11ef-9d1c-0242ac120002"
WF = contract.WORKFLOW_NAME_PREFIX + JOB_ID
T0 = "2026-11-26T10:00:00Z"
T_POD = "2026-11-26T10:00:05Z"
T_END = "2026-11-26T10:02:05Z"
RECORD = {"cell_index": 3, "execution_count": 3, "ename": "ZeroDivisionError", "evalue": "division by zero"}
IMAGE_PULL = 'ImagePullBackOff: Back-off pulling image "ghcr.io/example/notebook:does-not-exist"'
UNSCHEDULABLE = "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available"
STOP_POD = "workflow shutdown with strategy:  Stop"


def _meta(extra_annotations: dict | None = None) -> dict:
    annotations = {
        contract.ANNOTATION_CREATED: "2026-11-26T09:59:59.123456Z",
        contract.ANNOTATION_PARAMETERS: json.dumps({"notebook": "a.ipynb", "parameters": {"n": 3}}),
        contract.ANNOTATION_TITLE: "execute-notebook a.ipynb",
        **(extra_annotations or {}),
    }
    return {
        "name": WF,
        "namespace": "default",
        "creationTimestamp": T0,
        "labels": {
            contract.LABEL_MANAGED_BY: contract.MANAGED_BY,
            contract.LABEL_PROCESS_ID: "execute-notebook",
            contract.LABEL_JOB_ID: JOB_ID,
        },
        "annotations": annotations,
    }


def _node(node_id: str, name: str, ntype: str, phase: str, **extra) -> dict:
    node = {
        "id": node_id,
        "name": name,
        "displayName": name.rsplit(".", 1)[-1],
        "type": ntype,
        "phase": phase,
        "startedAt": T_POD,
        "finishedAt": T_END if phase in ("Succeeded", "Failed", "Error") else None,
        "templateScope": f"local/{WF}",
    }
    node.update({k: v for k, v in extra.items() if v is not None})
    return node


def _error_output(error: dict | str | None) -> dict | None:
    if error is None:
        return None
    value = error if isinstance(error, str) else json.dumps(error)
    return {"parameters": [{"name": contract.OUTPUT_ERROR, "value": value}], "exitCode": "1"}


def containerset_wf(
    wf_phase: str,
    pod: tuple[str, str | None],
    containers: dict[str, tuple[str, str | None]],
    *,
    pod_progress: str | None = None,
    error: dict | str | None = None,
    wf_message: str | None = None,
    shutdown: str | None = None,
    annotations: dict | None = None,
    finished: bool = False,
) -> dict:
    pod_phase, pod_message = pod
    children = []
    nodes = {}
    for index, (name, (phase, message)) in enumerate(containers.items()):
        cid = f"{WF}-{1000 + index}"  # stable ids (hash() of a str changes from run to run)
        children.append(cid)
        nodes[cid] = _node(
            cid, f"{WF}.{name}", "Container", phase, message=message, boundaryID=WF, templateName="notebook"
        )
    nodes[WF] = _node(
        WF, WF, "Pod", pod_phase, message=pod_message, children=children, templateName="notebook",
        progress=pod_progress or ("1/1" if pod_phase == "Succeeded" else "0/1"), outputs=_error_output(error),
    )  # fmt: skip
    status = {"phase": wf_phase, "startedAt": T0, "finishedAt": T_END if finished else None, "nodes": nodes}
    if wf_message:
        status["message"] = wf_message
    spec = {"entrypoint": "notebook", "templates": [{"name": "notebook", "containerSet": {"containers": [
        {"name": name, "command": ["sh", "-c"]} for name in containers]}}]}  # fmt: skip
    if shutdown:
        spec["shutdown"] = shutdown
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": _meta(annotations),
            "spec": spec, "status": status}  # fmt: skip


def steps_wf(
    wf_phase: str,
    git: tuple[str, str | None] | None,
    papermill: tuple[str, str | None] | None,
    *,
    papermill_progress: str | None = None,
    error: dict | str | None = None,
    wf_message: str | None = None,
    shutdown: str | None = None,
    annotations: dict | None = None,
    finished: bool = False,
) -> dict:
    """Steps root -> [0] -> git-checkout Pod -> [1] -> papermill Pod (nodes exist once Argo reaches them)."""
    group_phase = "Running" if wf_phase == "Running" else wf_phase
    nodes = {WF: _node(WF, WF, "Steps", group_phase, children=[f"{WF}-g0"], templateName="main")}
    nodes[f"{WF}-g0"] = _node(f"{WF}-g0", f"{WF}[0]", "StepGroup", group_phase, boundaryID=WF, children=[])
    if git is not None:
        nodes[f"{WF}-g0"]["children"] = [f"{WF}-git"]
        nodes[f"{WF}-git"] = _node(
            f"{WF}-git", f"{WF}[0].git-checkout", "Pod", git[0], message=git[1], boundaryID=WF,
            templateName="git-checkout", progress="1/1" if git[0] == "Succeeded" else "0/1",
        )  # fmt: skip
    if papermill is not None:
        nodes[f"{WF}-git"]["children"] = [f"{WF}-g1"]
        nodes[f"{WF}-g1"] = _node(
            f"{WF}-g1", f"{WF}[1]", "StepGroup", group_phase, boundaryID=WF, children=[f"{WF}-pm"]
        )
        nodes[f"{WF}-pm"] = _node(
            f"{WF}-pm", f"{WF}[1].papermill", "Pod", papermill[0], message=papermill[1], boundaryID=WF,
            templateName="papermill", outputs=_error_output(error),
            progress=papermill_progress or ("1/1" if papermill[0] == "Succeeded" else "0/1"),
        )  # fmt: skip
    status = {"phase": wf_phase, "startedAt": T0, "finishedAt": T_END if finished else None, "nodes": nodes}
    if wf_message:
        status["message"] = wf_message
    spec = {"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "git-checkout", "template": "git-checkout"}],
                                   [{"name": "papermill", "template": "papermill"}]]},
        {"name": "git-checkout", "container": {"image": "alpine/git", "command": ["sh", "-c"]}},
        {"name": "papermill", "container": {"image": "jupyter/base", "command": ["sh", "-c"]}},
    ]}  # fmt: skip
    if shutdown:
        spec["shutdown"] = shutdown
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": _meta(annotations),
            "spec": spec, "status": status}  # fmt: skip


PENDING_ALL = {"git-checkout": ("Pending", None), "s3-mount": ("Pending", None), "papermill": ("Pending", None),
               "main": ("Pending", None)}  # fmt: skip


def cs(git="Succeeded", s3="Running", pm="Running", main="Pending", msgs: dict | None = None) -> dict:
    msgs = msgs or {}
    return {
        "git-checkout": (git, msgs.get("git")),
        "s3-mount": (s3, msgs.get("s3")),
        "papermill": (pm, msgs.get("pm")),
        "main": (main, msgs.get("main")),
    }


# name -> (workflow, status, progress, message substring)
CASES: dict[str, tuple[dict, str, int, str]] = {
    # --- image pull failure
    "containerset/image-pull-pending": (
        containerset_wf("Running", ("Pending", IMAGE_PULL), PENDING_ALL), "accepted", 0, IMAGE_PULL),
    "containerset/image-pull-failed": (
        containerset_wf("Failed", ("Error", "Pod failed before git-checkout container starts due to "
                                   'ErrImagePull: rpc error: pull access denied for "ghcr.io/example/nb"'),
                        PENDING_ALL, wf_message="Pod failed before git-checkout container starts", finished=True),
        "failed", 0,
        "Step notebook failed: Pod failed before git-checkout container starts due to ErrImagePull: "
        "rpc error: pull access denied for \"ghcr.io/example/nb\""),
    "steps/image-pull-pending-first-pod": (
        steps_wf("Running", ("Pending", IMAGE_PULL), None), "accepted", 0, IMAGE_PULL),
    "steps/image-pull-pending-papermill-pod": (
        steps_wf("Running", ("Succeeded", None), ("Pending", IMAGE_PULL)), "running", 11,
        "Step papermill is waiting: " + IMAGE_PULL),
    # --- unschedulable pod
    "containerset/unschedulable": (
        containerset_wf("Running", ("Pending", UNSCHEDULABLE), PENDING_ALL), "accepted", 0, UNSCHEDULABLE),
    "steps/unschedulable": (steps_wf("Running", ("Pending", UNSCHEDULABLE), None), "accepted", 0, UNSCHEDULABLE),
    # --- failed papermill cell: git and s3 done (1+1), papermill 7/20 (8*0.35), main weight 0 -> 4.8/10
    "containerset/papermill-cell-failed": (
        containerset_wf("Failed", ("Failed", "papermill: Error (exit code 1)"),
                        cs(s3="Succeeded", pm="Failed", main="Failed", msgs={"pm": "Error (exit code 1)"}),
                        pod_progress="7/20", error=RECORD, wf_message="papermill: Error (exit code 1)", finished=True),
        "failed", 48, "papermill failed at cell 3: ZeroDivisionError: division by zero"),
    # git (1) + papermill 7/20 (8*0.35) -> 3.8/9
    "steps/papermill-cell-failed": (
        steps_wf("Failed", ("Succeeded", None), ("Failed", "Error (exit code 1)"), papermill_progress="7/20",
                 error=RECORD, wf_message="child 'x' failed", finished=True),
        "failed", 42, "papermill failed at cell 3: ZeroDivisionError: division by zero"),
    # --- deadline exceeded: killed at 12/20; s3-mount killed too -> (1 + 0 + 8*0.6)/10
    "containerset/deadline": (
        containerset_wf("Failed", ("Failed", "Step exceeded its deadline"),
                        cs(s3="Failed", pm="Failed", main="Pending",
                           msgs={"s3": "Step exceeded its deadline", "pm": "Step exceeded its deadline"}),
                        pod_progress="12/20", wf_message="Step exceeded its deadline", finished=True),
        "failed", 58,
        "Time limit exceeded: Step exceeded its deadline"),
    "steps/deadline": (
        steps_wf("Failed", ("Succeeded", None), ("Failed", "Step exceeded its deadline"),
                 papermill_progress="12/20", wf_message="child 'x' failed", finished=True),
        "failed", 64,
        "Time limit exceeded: Step exceeded its deadline"),
    # --- dismissed by the manager (annotation beside spec.shutdown), while stopping and once stopped
    "containerset/dismissed-stopping": (
        containerset_wf("Running", ("Running", None), cs(), pod_progress="7/20", shutdown="Stop",
                        annotations={contract.ANNOTATION_DISMISSED: "2026-11-26T10:01:00.000000Z"}),
        "dismissed", 38, "Job dismissed"),
    "containerset/dismissed-stopped": (
        containerset_wf("Failed", ("Failed", STOP_POD), cs(s3="Failed", pm="Failed", msgs={"pm": STOP_POD}),
                        pod_progress="7/20", shutdown="Stop", wf_message="Stopped with strategy 'Stop'",
                        annotations={contract.ANNOTATION_DISMISSED: "2026-11-26T10:01:00.000000Z"}, finished=True),
        "dismissed", 38, "Job dismissed"),
    "steps/dismissed": (
        steps_wf("Failed", ("Succeeded", None), ("Failed", STOP_POD), papermill_progress="7/20", shutdown="Stop",
                 wf_message="Stopped with strategy 'Stop'", finished=True,
                 annotations={contract.ANNOTATION_DISMISSED: "2026-11-26T10:01:00.000000Z"}),
        "dismissed", 42, "Job dismissed"),
    # --- an operator's argo stop (no dismissed annotation): failed with the stop message
    "containerset/operator-stop-stopping": (
        containerset_wf("Running", ("Running", None), cs(), pod_progress="7/20", shutdown="Stop"),
        "failed", 38,
        "Stopped outside pygeoapi (argo stop/terminate): Stopped with strategy 'Stop'"),
    "containerset/operator-stop-stopped": (
        containerset_wf("Failed", ("Failed", STOP_POD), cs(s3="Failed", pm="Failed", msgs={"pm": STOP_POD}),
                        pod_progress="7/20", shutdown="Stop", wf_message="Stopped with strategy 'Stop'", finished=True),
        "failed", 38,
        "Stopped outside pygeoapi (argo stop/terminate): Stopped with strategy 'Stop'"),
    "steps/operator-terminate": (
        steps_wf("Failed", ("Succeeded", None), ("Failed", "terminated"), papermill_progress="7/20",
                 shutdown="Terminate", wf_message="Stopped with strategy 'Terminate'", finished=True),
        "failed", 42,
        "Stopped outside pygeoapi (argo stop/terminate): Stopped with strategy 'Terminate'"),
    # --- papermill still running at 7/20 cells
    "containerset/running-7-of-20": (
        containerset_wf("Running", ("Running", None), cs(), pod_progress="7/20"),
        "running", 38,
        "Running papermill: 7 of 20 cells done"),
    "steps/running-7-of-20": (
        steps_wf("Running", ("Succeeded", None), ("Running", None), papermill_progress="7/20"),
        "running", 42,
        "Running papermill: 7 of 20 cells done"),
    # --- the rest of a life
    "containerset/successful": (
        containerset_wf("Succeeded", ("Succeeded", None), cs(s3="Succeeded", pm="Succeeded", main="Succeeded"),
                        pod_progress="20/20", finished=True),
        "successful", 100, "Job finished successfully in 2m 5s"),
    "containerset/git-checkout-failed": (
        containerset_wf("Failed", ("Failed", "git-checkout: Error (exit code 128)"),
                        cs(git="Failed", s3="Succeeded", pm="Failed", main="Failed",
                           msgs={"git": "Error (exit code 128)", "pm": "Error (exit code 1)"}), finished=True),
        "failed", 10, "Step git-checkout failed: Error (exit code 128)"),
    "steps/git-checkout-failed": (
        steps_wf("Failed", ("Failed", "main: Error (exit code 128)"), None, finished=True,
                 wf_message="child 'x' failed"),
        "failed", 0, "Step git-checkout failed: main: Error (exit code 128)"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_constructed_workflow(name: str):
    workflow, status, progress, message = CASES[name]
    job = job_from_workflow(workflow)
    assert set(job) == {"identifier", "process_id", "status", "message", "progress", "created", "started",
                        "finished", "updated", "mimetype", "parameters"}  # fmt: skip
    assert (job["status"], job["progress"], job["message"]) == (status, progress, message)
    assert job_status(workflow) == status and job_progress(workflow) == progress
    assert job["identifier"] == JOB_ID and job["process_id"] == "execute-notebook"
    # one format, one precision: the microseconds of pygeoapi.io/created are cut to Argo's whole seconds
    assert job["created"] == "2026-11-26T09:59:59.000000Z" and job["started"] >= job["created"]
    for key in ("created", "started", "finished", "updated"):
        assert job[key] is None or job[key].endswith(".000000Z"), (key, job[key])
    if status in ("successful", "failed", "dismissed") and workflow["status"]["finishedAt"]:
        assert job["finished"] == "2026-11-26T10:02:05.000000Z"
    else:
        assert job["finished"] is None


def test_message_never_says_only_exit_code_for_a_failed_cell():
    workflow = CASES["containerset/papermill-cell-failed"][0]
    assert job_from_workflow(workflow)["message"] == (
        "papermill failed at cell 3: ZeroDivisionError: division by zero"
    )
    assert error_record(workflow) == RECORD


def test_unreadable_error_record_falls_back_to_the_failing_step():
    workflow = containerset_wf(
        "Failed", ("Failed", "papermill: Error (exit code 1)"),
        cs(s3="Succeeded", pm="Failed", main="Failed", msgs={"pm": "Error (exit code 1)"}),
        error='{"cell_index": 3, "ena', finished=True,
    )  # fmt: skip
    assert error_record(workflow) is None
    assert job_from_workflow(workflow)["message"] == (
        f"Step papermill failed: Error (exit code 1); see its log: GET /jobs/{JOB_ID}/logs"
    )


def test_empty_error_output_of_a_successful_run_is_ignored():
    workflow = CASES["containerset/successful"][0]
    workflow["status"]["nodes"][WF]["outputs"] = _error_output("")
    assert error_record(workflow) is None
    assert job_from_workflow(workflow)["status"] == "successful"


def _life_containerset() -> list[dict]:
    no_status = {"metadata": _meta(), "spec": {"entrypoint": "notebook"}}
    pending_wf = {"metadata": _meta(), "spec": {}, "status": {"phase": "Pending", "message": "Workflow processing "
                  "has been postponed because too many workflows are already running"}}  # fmt: skip
    life = [no_status, pending_wf, containerset_wf("Running", ("Pending", IMAGE_PULL), PENDING_ALL)]
    life.append(containerset_wf("Running", ("Running", None), cs(git="Running", s3="Running", pm="Pending")))
    life.append(containerset_wf("Running", ("Running", None), cs(pm="Running")))  # no report yet
    life += [containerset_wf("Running", ("Running", None), cs(), pod_progress=f"{n}/20") for n in range(21)]
    life.append(containerset_wf("Running", ("Running", None), cs(s3="Succeeded", pm="Succeeded", main="Running"),
                                pod_progress="20/20"))  # fmt: skip
    life.append(CASES["containerset/successful"][0])
    return life


def _life_steps() -> list[dict]:
    life = [steps_wf("Running", None, None), steps_wf("Running", ("Pending", "ContainerCreating"), None)]
    life.append(steps_wf("Running", ("Running", None), None))
    life.append(steps_wf("Running", ("Succeeded", None), None))
    life.append(steps_wf("Running", ("Succeeded", None), ("Pending", "PodInitializing")))
    life += [steps_wf("Running", ("Succeeded", None), ("Running", None), papermill_progress=f"{n}/20")
             for n in range(21)]  # fmt: skip
    life.append(steps_wf("Succeeded", ("Succeeded", None), ("Succeeded", None), finished=True))
    return life


@pytest.mark.parametrize("life", [_life_containerset, _life_steps], ids=["containerset", "steps"])
def test_progress_and_status_never_go_backwards_over_a_job_life(life):
    order = {"accepted": 0, "running": 1, "successful": 2}
    jobs = [job_from_workflow(w) for w in life()]
    statuses = [j["status"] for j in jobs]
    progress = [j["progress"] for j in jobs]
    assert statuses[0] == "accepted" and statuses[-1] == "successful"
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses), statuses
    assert progress == sorted(progress), progress
    assert progress[0] == 0 and progress[-1] == 100 and max(progress[:-1]) <= 99
    updated = [datetime.strptime(j["updated"], DATETIME_FORMAT) for j in jobs]
    assert all(isinstance(j["started"], str) for j in jobs)
    assert updated[-1] == max(updated)


def test_running_progress_follows_the_reported_cells():
    seen = [job_progress(containerset_wf("Running", ("Running", None), cs(), pod_progress=f"{n}/20"))
            for n in (0, 7, 14, 20)]  # fmt: skip
    assert seen == [10, 38, 66, 90]  # (1 + 8*n/20) / 10 with git-checkout done, s3-mount running


def test_parameters_are_json_with_secrets_masked():
    raw = json.dumps({"notebook": "a.ipynb", "parameters": {"n": 1, "api_token": "abc"},
                      "s3": {"secret_name": "x", "AWS_SECRET_ACCESS_KEY": "y"}, "password": "p"})  # fmt: skip
    wf = containerset_wf("Running", ("Running", None), cs(), annotations={contract.ANNOTATION_PARAMETERS: raw})
    params = json.loads(job_from_workflow(wf)["parameters"])
    assert params == {"notebook": "a.ipynb", "parameters": {"n": 1, "api_token": "*"},
                      "s3": {"secret_name": "*", "AWS_SECRET_ACCESS_KEY": "*"}, "password": "*"}  # fmt: skip
    assert "abc" not in job_from_workflow(wf)["parameters"]


def test_truncated_parameters_stay_valid_json():
    assert json.loads(parameters_json('{"notebook": "a.ipy')) == {"truncated": '{"notebook": "a.ipy'}
    assert parameters_json(None) == "{}"


def test_mimetype_annotation_and_identifier_fallbacks():
    wf = containerset_wf("Running", ("Running", None), cs(),
                         annotations={contract.ANNOTATION_RESULT_MIMETYPE: "image/png"})  # fmt: skip
    assert job_from_workflow(wf)["mimetype"] == "image/png"
    del wf["metadata"]["labels"][contract.LABEL_JOB_ID]
    assert job_from_workflow(wf)["identifier"] == JOB_ID  # from the name minus pygeoapi-job-
    wf["metadata"]["name"] = "hand-made"
    assert job_from_workflow(wf)["identifier"] == "hand-made"


def test_list_item_without_nodes_uses_workflow_level_fields():
    item = {"metadata": _meta(), "status": {"phase": "Running", "startedAt": T0, "progress": "3/10"}}
    job = job_from_workflow(item)
    assert (job["status"], job["progress"], job["started"]) == ("running", 30, "2026-11-26T10:00:00.000000Z")
    failed = {"metadata": _meta(), "status": {"phase": "Failed", "message": "boom", "finishedAt": T_END}}
    assert job_from_workflow(failed)["message"] == "boom"
    assert job_from_workflow(failed)["status"] in JOB_STATUSES
