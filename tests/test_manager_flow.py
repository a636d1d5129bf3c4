"""ArgoManager over both remote backends (fake APIs over HTTP, fake controller, real papermill results)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from fakes.fixtures import NAMESPACE, argo, home, kube, manager_def, stack  # noqa: F401 - fixtures
from pygeoapi.process.base import JobNotFoundError, JobResultNotFoundError
from pygeoapi.util import RequestedProcessExecutionMode, Subscriber

from argo_papermill.errors import InvalidInputError, SubmissionRejectedError
from argo_papermill.manager import ArgoManager, ResultForbiddenError

ASYNC = RequestedProcessExecutionMode.respond_async


def run_async(mgr, scenario, x=5, subscriber=None) -> str:
    job_id, mime, outputs, status, headers = mgr.execute_process(
        "scenario", {"scenario": scenario, "x": x}, execution_mode=ASYNC, subscriber=subscriber)
    assert status.value == "accepted" and headers == {"Preference-Applied": "respond-async"}
    return job_id


def wait_status(mgr, job_id, want=("successful", "failed"), timeout=60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = mgr.get_job(job_id)
        if job["status"] in want:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stayed {job['status']}")


def test_async_job_lifecycle_and_results(stack):
    mgr, fake, ctrl = stack
    job_id = run_async(mgr, "json", 5)
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline:
        job = mgr.get_job(job_id)
        if not seen or seen[-1][0] != job["status"]:
            seen.append((job["status"], job["progress"]))
        if job["status"] == "successful":
            break
        time.sleep(0.02)
    statuses = [s for s, _ in seen]
    assert statuses[-1] == "successful" and statuses[0] == "accepted"
    progresses = [p for _, p in seen]
    assert progresses == sorted(progresses)  # never backwards
    job = mgr.get_job(job_id)
    assert job["identifier"] == job_id and job["process_id"] == "scenario" and job["progress"] == 100
    assert json.loads(job["parameters"]) == {"scenario": "json", "x": 5}
    assert mgr.get_job_result(job_id) == ("application/json", 105)


def test_sync_execution_returns_the_result(stack):
    mgr, fake, ctrl = stack
    job_id, mime, outputs, status, headers = mgr.execute_process("scenario", {"scenario": "text", "x": 3})
    assert (mime, outputs, status.value) == ("text/plain", "hello 3", "successful")
    assert mgr.get_job(job_id)["status"] == "successful"


def test_sync_failure_and_timeout(stack):
    mgr, fake, ctrl = stack
    _, mime, outputs, status, _ = mgr.execute_process("scenario", {"scenario": "fail"})
    assert status.value == "failed" and "ZeroDivisionError" in outputs["description"]
    mgr.config.sync_timeout = 0.5
    with pytest.raises(Exception) as e:
        mgr.execute_process("scenario", {"scenario": "hold"})
    assert e.value.http_status_code == 504 and "keeps running" in e.value.message


@pytest.mark.parametrize("scenario,expected", [
    ("file", ("text/csv", b"a,b\n1,5\n")),
    ("many", ("application/json", {"a": 5, "b": {"c": [1, 2]}, "label": "some text"})),
])
def test_result_kinds(stack, scenario, expected):
    mgr, fake, ctrl = stack
    job_id = run_async(mgr, scenario)
    assert wait_status(mgr, job_id)["status"] == "successful"
    assert mgr.get_job_result(job_id) == expected


def test_image_and_no_scrap_results(stack, home):
    mgr, fake, ctrl = stack
    img, none = run_async(mgr, "image"), run_async(mgr, "none")
    wait_status(mgr, img), wait_status(mgr, none)
    mime, data = mgr.get_job_result(img)
    assert mime == "image/png" and data.startswith(b"\x89PNG")
    mime, doc = mgr.get_job_result(none)
    assert mime == "application/json" and doc["notebook"] == str(home / "results" / none / "result.ipynb")


@pytest.mark.parametrize("scenario", ["escape-dotdot", "escape-abs", "escape-symlink"])
def test_result_file_never_leaves_the_jobs_results_directory(stack, scenario):
    mgr, fake, ctrl = stack
    job_id = run_async(mgr, scenario)
    assert wait_status(mgr, job_id)["status"] == "successful"
    with pytest.raises(ResultForbiddenError) as e:
        mgr.get_job_result(job_id)
    assert e.value.http_status_code == 403 and "outside" in e.value.message


def test_unfinished_failed_and_unknown_results(stack):
    mgr, fake, ctrl = stack
    hold = run_async(mgr, "hold")
    with pytest.raises(JobResultNotFoundError):
        mgr.get_job_result(hold)
    with pytest.raises(JobNotFoundError):
        mgr.get_job_result("nope")
    with pytest.raises(JobNotFoundError):
        mgr.get_job("nope")


def test_list_paging_newest_first_and_filters(stack):
    mgr, fake, ctrl = stack
    ctrl.paused = True
    ids = []
    for i in range(5):
        ids.append(run_async(mgr, "hold"))
        time.sleep(1.01 if mgr.config.backend == "argo-server" else 0.01)  # Argo orders by second-resolution time
    newest = list(reversed(ids))
    first = mgr.get_jobs(limit=2, offset=0)
    assert first["numberMatched"] == 5 and [j["identifier"] for j in first["jobs"]] == newest[:2]
    rest = mgr.get_jobs(limit=10, offset=2)
    assert [j["identifier"] for j in rest["jobs"]] == newest[2:]
    assert mgr.get_jobs(process_id="other")["numberMatched"] == 0
    assert mgr.get_jobs(process_id="scenario", limit=1)["numberMatched"] == 5
    accepted = mgr.get_jobs(status="accepted", limit=2, offset=1)
    assert accepted["numberMatched"] == 5 and [j["identifier"] for j in accepted["jobs"]] == newest[1:3]
    assert mgr.get_jobs(status="successful")["numberMatched"] == 0
    ctrl.paused = False  # the pods start: Argo says Running at once, the jobs stay accepted until a pod runs
    deadline = time.time() + 30
    while mgr.get_jobs(status="running")["numberMatched"] < 5 and time.time() < deadline:
        time.sleep(0.05)
    assert mgr.get_jobs(status="running")["numberMatched"] == 5
    assert mgr.get_jobs(status="accepted")["numberMatched"] == 0
    with pytest.raises(InvalidInputError):
        mgr.get_jobs(status="bogus")


def test_dismiss_stops_deletes_and_removes_files(stack, home):
    mgr, fake, ctrl = stack
    done = run_async(mgr, "file")
    wait_status(mgr, done)
    assert (home / "results" / done / "out.csv").exists()
    running = run_async(mgr, "hold")
    wait_status(mgr, running, want=("running",))
    fake.requests.clear()
    assert mgr.delete_job(running) is True
    # the running job was stopped before it was deleted: Argo's shutdown, so its pod does not keep running
    if mgr.config.backend == "kubernetes":
        stops = [r for r in fake.requests if r[0] == "PATCH" and (r[3] or {}).get("spec") == {"shutdown": "Stop"}]
    else:
        stops = [r for r in fake.requests if r[0] == "PUT" and r[1].endswith(f"pygeoapi-job-{running}/stop")]
    deletes = [r for r in fake.requests if r[0] == "DELETE"]
    assert stops and deletes and fake.requests.index(stops[0]) < fake.requests.index(deletes[0])
    assert mgr.delete_job(done) is True
    assert not (home / "results" / done).exists()
    for job_id in (running, done):
        with pytest.raises(JobNotFoundError):
            mgr.delete_job(job_id)
        with pytest.raises(JobNotFoundError):
            mgr.get_job(job_id)
    assert fake.workflows(NAMESPACE) == []
    if mgr.config.backend == "argo-server":  # the archived copy of the finished job went too
        assert not [w for w in fake.archived.values() if done in w["metadata"]["name"]]


def test_idempotent_submission(stack):
    mgr, fake, ctrl = stack
    p = mgr.get_processor("scenario")
    first = mgr.submit(p, "same-job", {"scenario": "hold"})
    again = mgr.submit(p, "same-job", {"scenario": "hold"})  # a retried request: 409 for our own job = success
    assert first["metadata"]["name"] == again["metadata"]["name"] == "pygeoapi-job-same-job"
    assert len(fake.workflows(NAMESPACE)) == 1


def test_bad_input_and_rejected_manifest(stack):
    mgr, fake, ctrl = stack
    with pytest.raises(InvalidInputError) as e:
        mgr.execute_process("scenario", {"scenario": "nonsense"}, execution_mode=ASYNC)
    assert e.value.http_status_code == 400 and "scenario" in e.value.message
    with pytest.raises(SubmissionRejectedError) as e:
        mgr.execute_process("scenario", {"scenario": "reject"}, execution_mode=ASYNC)
    assert e.value.http_status_code == 400 and "entrypoint" in e.value.message


def test_ordinary_pygeoapi_processors_keep_the_base_handlers(stack, home):
    mgr, fake, ctrl = stack
    mgr.processes["hello-world"] = {"type": "process", "processor": {"name": "HelloWorld"}}
    _, mime, outputs, status, _ = mgr.execute_process("hello-world", {"name": "x"})
    assert status.value == "successful" and outputs == {"id": "echo", "value": "Hello x!"}
    assert fake.workflows(NAMESPACE) == []


def test_private_callback_urls_are_refused_unless_allowed(stack):
    mgr, fake, ctrl = stack
    sub = Subscriber(success_uri="http://127.0.0.1:9/cb", in_progress_uri=None, failed_uri=None)
    with pytest.raises(InvalidInputError) as e:
        mgr.execute_process("scenario", {"scenario": "json"}, execution_mode=ASYNC, subscriber=sub)
    assert "not allowed" in e.value.message and e.value.http_status_code == 400


def test_result_from_fsspec_url(kube, home, tmp_path):
    """path_map may name any fsspec URL: here memory://, written by the controller through fsspec."""
    import fsspec

    from fakes.controller import FakeController

    mfs = fsspec.filesystem("memory")

    class MemoryRunner:
        def run(self, scenario, x, results_dir):
            from fakes.notebooks import shared_runner

            ok = shared_runner().run(scenario, x, results_dir)
            for f in results_dir.rglob("*"):
                if f.is_file():
                    mfs.pipe(f"/mem-home/{f.relative_to(home)}", f.read_bytes())
            return ok

    ctrl = FakeController(kube, NAMESPACE, home, runner=MemoryRunner()).start()
    mgr = ArgoManager(manager_def("kubernetes", kube.url, home,
                                  results={"path_map": {"/home/jovyan": "memory://mem-home"}}))
    try:
        job_id = run_async(mgr, "json", 2)
        wait_status(mgr, job_id)
        assert mgr.get_job_result(job_id) == ("application/json", 42)
        assert mgr.delete_job(job_id)
        assert not mfs.exists(f"/mem-home/results/{job_id}")
    finally:
        ctrl.stop()
        mgr.backend.close()


def test_image_bytes_match_the_glued_png(stack):
    from fakes.notebooks import PNG_1X1

    mgr, fake, ctrl = stack
    job_id = run_async(mgr, "image")
    wait_status(mgr, job_id)
    assert mgr.get_job_result(job_id)[1] == base64.b64decode(PNG_1X1)


def test_ordinary_processor_async_job_is_tracked_in_this_process(stack):
    mgr, fake, ctrl = stack
    mgr.processes["hello-world"] = {"type": "process", "processor": {"name": "HelloWorld"}}
    job_id, _, _, status, _ = mgr.execute_process("hello-world", {"name": "y"}, execution_mode=ASYNC)
    assert status.value == "accepted"
    deadline = time.time() + 10
    while mgr.get_job(job_id)["status"] != "successful" and time.time() < deadline:
        time.sleep(0.05)
    assert mgr.get_job_result(job_id) == ("application/json", {"id": "echo", "value": "Hello y!"})
    assert mgr.delete_job(job_id) is True
    with pytest.raises(JobNotFoundError):
        mgr.delete_job(job_id)
    assert fake.workflows(NAMESPACE) == []


def test_a_list_entry_is_the_job_get_job_shows(stack):
    """GET /jobs and GET /jobs/{id} map the same Workflow data: a failed job's papermill error and progress,
    a running job's message, and (Argo Server) a job whose live Workflow is gone and only the archive has it."""
    mgr, fake, ctrl = stack
    failed, running = run_async(mgr, "fail"), run_async(mgr, "hold")
    assert wait_status(mgr, failed)["status"] == "failed"
    wait_status(mgr, running, want=("running",))
    ctrl.paused = True  # nothing changes between the two reads
    one = {job_id: mgr.get_job(job_id) for job_id in (failed, running)}
    assert "ZeroDivisionError" in one[failed]["message"] and one[failed]["progress"] > 0
    listed = {j["identifier"]: j for j in mgr.get_jobs(limit=10)["jobs"]}
    assert listed == one
    assert mgr.get_jobs(status="failed")["jobs"] == [one[failed]]
    assert mgr.get_jobs(status="running")["jobs"] == [one[running]]
    if mgr.config.backend == "argo-server":  # Argo >= 3.5 lists archived runs without nodes; get reads the archive
        del fake.live[(NAMESPACE, f"pygeoapi-job-{failed}")]
        assert mgr.get_jobs(status="failed")["jobs"] == [mgr.get_job(failed)] == [one[failed]]


def test_a_create_that_timed_out_after_the_commit_makes_one_workflow(stack):
    """The API stored the Workflow but the answer was a timeout: the retry meets a 409 for this same job,
    which is success, and there is still one Workflow."""
    mgr, fake, ctrl = stack
    ctrl.paused = True
    fake.requests.clear()
    fake.fail("POST", r"/workflows", 504, message="the server was unable to return a response in time", times=1,
              after_apply=True)
    job_id = run_async(mgr, "hold")
    assert len([r for r in fake.requests if r[0] == "POST"]) == 2
    assert [w["metadata"]["name"] for w in fake.workflows(NAMESPACE)] == [f"pygeoapi-job-{job_id}"]
    assert mgr.get_job(job_id)["status"] == "accepted"


def test_a_name_taken_by_another_job_is_refused(stack):
    from fakes.processor import build_manifest

    mgr, fake, ctrl = stack
    ctrl.paused = True
    squatter = build_manifest("someone-else", "hold", 1)
    squatter["metadata"]["name"] = "pygeoapi-job-mine"
    mgr.backend.create(squatter)
    with pytest.raises(SubmissionRejectedError) as e:
        mgr.submit(mgr.get_processor("scenario"), "mine", {"scenario": "hold"})
    assert e.value.http_status_code == 400 and "belongs to another job" in e.value.message
    [wf] = fake.workflows(NAMESPACE)
    assert wf["metadata"]["labels"]["pygeoapi.io/job-id"] == "someone-else"


def test_local_backend_list_entries_are_the_jobs_get_job_shows(tmp_path, home):
    """The local store lists Workflows without nodes; the manager reads the page's items as get does, so a
    failed job's list entry shows the papermill error and its progress, not Argo's pod message and 0%."""
    from fakes.controller import FakeController, nodes_for
    from fakes.processor import build_manifest

    mgr = ArgoManager({**manager_def("kubernetes", "http://unused", home), "backend": "local",
                       "local": {"data_dir": str(tmp_path / "data"), "start_engine": False}})
    store = mgr.backend.store  # no engine: the statuses below are written as the engine writes them
    for job_id in ("failed-job", "running-job"):
        wf = mgr.backend.create(build_manifest(job_id, "json", 1))
        FakeController._accepted(wf)
        if job_id == "failed-job":
            FakeController._failed(wf)
        else:
            wf["status"]["nodes"] = nodes_for(wf, "Running", "Running", "Pending", started=wf["status"]["startedAt"])
        status = dict(wf["status"])
        store.write_status(wf["metadata"]["name"], status, status.pop("nodes"))
    one = {job_id: mgr.get_job(job_id) for job_id in ("failed-job", "running-job")}
    assert "ZeroDivisionError" in one["failed-job"]["message"] and one["failed-job"]["progress"] > 0
    assert {j["identifier"]: j for j in mgr.get_jobs(limit=10)["jobs"]} == one
    assert mgr.get_jobs(status="failed")["jobs"] == [one["failed-job"]]
    assert mgr.get_jobs(status="running")["jobs"] == [one["running-job"]]


@pytest.mark.parametrize("edited", ["{d}/..", "{d}/../..", "/home/jovyan/results/x/../{j}/../.."])
def test_dismiss_never_deletes_outside_the_jobs_own_folder(stack, home, edited):
    """Someone with workflow patch rights points the results-directory annotation at a parent folder
    (the path still names the job): dismiss must leave the parent and the other jobs' files alone."""
    from argo_papermill import contract
    from argo_papermill.manager import workflow_name

    mgr, fake, ctrl = stack
    if mgr.config.backend != "kubernetes":
        pytest.skip("the Argo Server API cannot edit annotations; the Kubernetes backend can")
    other = run_async(mgr, "file")
    victim = run_async(mgr, "file")
    wait_status(mgr, other)
    wait_status(mgr, victim)
    results_dir = f"/home/jovyan/results/{victim}"
    mgr.backend.patch(workflow_name(victim), {"metadata": {"annotations": {
        contract.ANNOTATION_RESULTS_DIRECTORY: edited.format(d=results_dir, j=victim),
        contract.ANNOTATION_RESULT_NOTEBOOK: edited.format(d=results_dir, j=victim) + "/../..",
    }}})
    assert mgr.delete_job(victim) is True
    assert (home / "results" / other / "out.csv").exists()
    assert home.exists() and (home / "results").exists()


def test_result_file_of_a_job_whose_results_annotation_was_pointed_elsewhere_is_refused(stack, home):
    """A results-directory annotation edited to another job's (or any) folder must not widen what a
    result-file scrap may read."""
    from argo_papermill import contract
    from argo_papermill.manager import workflow_name

    mgr, fake, ctrl = stack
    if mgr.config.backend != "kubernetes":
        pytest.skip("the Argo Server API cannot edit annotations; the Kubernetes backend can")
    other = run_async(mgr, "file")
    victim = run_async(mgr, "file")
    wait_status(mgr, other)
    wait_status(mgr, victim)
    mgr.backend.patch(workflow_name(victim), {"metadata": {"annotations": {
        contract.ANNOTATION_RESULTS_DIRECTORY: f"/home/jovyan/results/{victim}/../{other}"}}})
    with pytest.raises(ResultForbiddenError):
        mgr.get_job_result(victim)
