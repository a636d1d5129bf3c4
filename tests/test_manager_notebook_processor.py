"""ArgoManager with the real NotebookProcessor (execute-notebook) on the fake Kubernetes API.

The fake controller runs what the workflow's papermill container would run (the example notebooks,
real papermill and kernel) at the paths the manifest names, mapped to a local home folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, home, kube, manager_def  # noqa: F401 - fixtures
from pygeoapi.util import RequestedProcessExecutionMode

from argo_papermill.manager import ArgoManager

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "notebooks"


@pytest.fixture
def nb_stack(kube, home):
    for name in ("hello.ipynb", "fail.ipynb"):
        shutil.copy(EXAMPLES / name, home / name)
    ctrl = FakeController(kube, NAMESPACE, home).start()
    processes = {"execute-notebook": {"type": "process",
                                      "processor": {"name": "argo_papermill.NotebookProcessor"}}}
    mgr = ArgoManager(manager_def("kubernetes", kube.url, home, processes=processes))
    yield mgr, kube
    ctrl.stop()
    mgr.backend.close()


def test_sync_hello_notebook_result(nb_stack):
    mgr, kube = nb_stack
    job_id, mime, outputs, status, _ = mgr.execute_process(
        "execute-notebook", {"notebook": "hello.ipynb", "parameters_json": {"name": "Argo"}})
    assert status.value == "successful", outputs
    assert (mime, outputs) == ("text/plain", "Hello, Argo!")  # scrapbook glues a str with the text encoder
    job = mgr.get_job(job_id)
    assert job["process_id"] == "execute-notebook" and job["progress"] == 100
    listed = mgr.get_jobs(process_id="execute-notebook")
    assert [j["identifier"] for j in listed["jobs"]] == [job_id]


def test_failing_notebook_and_dismiss(nb_stack, home):
    mgr, kube = nb_stack
    job_id, *_ = mgr.execute_process("execute-notebook", {"notebook": "fail.ipynb"},
                                     execution_mode=RequestedProcessExecutionMode.respond_async)
    job = mgr.wait(job_id, 60)
    assert job["status"] == "failed"
    wf = kube.workflows(NAMESPACE)[0]
    results_dir = wf["metadata"]["annotations"]["pygeoapi.io/results-directory"]
    local = home / Path(results_dir).relative_to("/home/jovyan")
    assert local.exists()
    assert mgr.delete_job(job_id) is True
    assert not local.exists() and kube.workflows(NAMESPACE) == []


def test_bad_input_from_the_real_processor(nb_stack):
    mgr, _ = nb_stack
    with pytest.raises(Exception) as e:
        mgr.execute_process("execute-notebook", {"notebook": "-rf.ipynb"},
                            execution_mode=RequestedProcessExecutionMode.respond_async)
    assert e.value.http_status_code == 400 and "notebook" in e.value.message
