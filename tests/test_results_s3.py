"""Results read from S3 (moto's server on loopback) through fsspec/s3fs with credentials from the
manager's configuration: the server never mounts anything. Dismiss removes the job's prefix."""

from __future__ import annotations

import time

import pytest
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, free_port, home, kube, manager_def  # noqa: F401 - fixtures
from fakes.notebooks import shared_runner
from fakes.s3 import s3_client
from pygeoapi.util import RequestedProcessExecutionMode

from argo_papermill.manager import ArgoManager, ResultForbiddenError


@pytest.fixture
def s3(moto_endpoint):
    client = s3_client(moto_endpoint)
    client.create_bucket(Bucket="results")
    return client, moto_endpoint


class UploadingRunner:
    """Runs the scenario notebook, then uploads the results folder as the pod's S3 mount would hold it."""

    def __init__(self, client, home):
        self.client, self.home = client, home

    def run(self, scenario, x, results_dir):
        ok = shared_runner().run(scenario, x, results_dir)
        for f in results_dir.rglob("*"):
            if f.is_file() and not f.is_symlink():
                key = f"home/{f.relative_to(self.home)}"
                self.client.put_object(Bucket="results", Key=key, Body=f.read_bytes())
        return ok


def test_results_from_s3_and_dismiss_removes_them(kube, home, s3):
    client, endpoint = s3
    ctrl = FakeController(kube, NAMESPACE, home, runner=UploadingRunner(client, home)).start()
    results = {"path_map": {"/home/jovyan": "s3://results/home"},
               "storage_options": {"endpoint_url": endpoint, "key": "k", "secret": "s"}}
    mgr = ArgoManager(manager_def("kubernetes", kube.url, home, results=results))
    try:
        ids = {}
        for scenario in ("json", "file", "escape-dotdot"):
            ids[scenario], *_ = mgr.execute_process("scenario", {"scenario": scenario, "x": 2},
                                                    execution_mode=RequestedProcessExecutionMode.respond_async)
        for job_id in ids.values():
            deadline = time.time() + 60
            while mgr.get_job(job_id)["status"] != "successful" and time.time() < deadline:
                time.sleep(0.05)
        assert mgr.get_job_result(ids["json"]) == ("application/json", 42)
        assert mgr.get_job_result(ids["file"]) == ("text/csv", b"a,b\n1,2\n")
        with pytest.raises(ResultForbiddenError):
            mgr.get_job_result(ids["escape-dotdot"])
        prefix = f"home/results/{ids['file']}/"
        assert client.list_objects_v2(Bucket="results", Prefix=prefix)["KeyCount"] == 2
        assert mgr.delete_job(ids["file"]) is True
        assert client.list_objects_v2(Bucket="results", Prefix=prefix)["KeyCount"] == 0
        assert client.list_objects_v2(Bucket="results", Prefix=f"home/results/{ids['json']}/")["KeyCount"] == 1
    finally:
        ctrl.stop()
        mgr.backend.close()
