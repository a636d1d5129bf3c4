"""Logs that outlive the pod (issue 14, point 2), through a real server (argo_papermill.app under gunicorn)
over HTTP, against the fake Kubernetes API and moto's S3 server as Argo's artifact repository.

With ``result_artifact`` the Workflow sets ``archiveLogs: true``; Argo's wait container then uploads each
container's log as output artifact ``<container>-logs`` of the pod's node (key ``<wf>/<pod>/<container>.log``,
bucket and endpoint from ``status.artifactRepositoryRef``), which the Workflows below carry as Argo v4.0.5
writes them. ``GET /jobs/{id}/logs`` reads the pods while they exist, the archive once they are gone, and
without an archive says that the logs went with the pods and how to keep them.
"""

from __future__ import annotations

import copy
from urllib.parse import urlsplit

import pytest
import requests
from fakes import kube as fake_kube
from fakes.fixtures import NAMESPACE, TOKEN
from fakes.s3 import s3_client
from test_app_e2e import start_server, stop

from argo_papermill import NotebookProcessor

pytestmark = pytest.mark.e2e
BUCKET = "argo-artifacts"
KEY, SECRET = "AKIAARTIFACTS", "artifact-secret-value"


def finished_workflow(job_id: str, endpoint: str | None, archived: bool) -> dict:
    wf = NotebookProcessor({"result_artifact": True}).workflow_manifest(job_id, {"notebook": "hello.ipynb"})
    assert wf["spec"]["archiveLogs"] is True  # the rendered Workflow archives its logs
    name = wf["metadata"]["name"]
    wf["metadata"]["namespace"] = NAMESPACE
    pod = {"id": name, "name": name, "displayName": name, "type": "Pod", "templateName": "notebook",
           "phase": "Succeeded", "startedAt": "2026-11-29T01:00:00Z", "finishedAt": "2026-11-29T01:00:09Z",
           "progress": "1/1", "outputs": {"exitCode": "0", "parameters": [{"name": "error", "value": ""}]}}
    if archived:
        pod["outputs"]["artifacts"] = [
            {"name": f"{c}-logs", "s3": {"key": f"{name}/{name}/{c}.log"}} for c in ("papermill", "main")]
    wf["status"] = {"phase": "Succeeded", "startedAt": "2026-11-29T01:00:00Z", "finishedAt": "2026-11-29T01:00:10Z",
                    "progress": "1/1", "nodes": {name: pod}}
    if endpoint:
        wf["status"]["artifactRepositoryRef"] = {
            "configMap": "artifact-repositories", "key": "default", "namespace": NAMESPACE,
            "artifactRepository": {"archiveLogs": True, "s3": {
                "bucket": BUCKET, "endpoint": urlsplit(endpoint).netloc, "insecure": True,
                "accessKeySecret": {"name": "artifacts-s3", "key": "accesskey"},
                "secretKeySecret": {"name": "artifacts-s3", "key": "secretkey"}}}}
    return wf


@pytest.fixture
def stack(tmp_path, moto_endpoint):
    httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    s3 = s3_client(moto_endpoint, KEY, SECRET)
    s3.create_bucket(Bucket=BUCKET)
    # only credentials: the endpoint comes from the repository the Workflow resolved (insecure: http)
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
               "connection": "argo", "kubernetes": {"server": kube_url, "token": TOKEN},
               "artifacts": {"storage_options": {"key": KEY, "secret": SECRET}}, "request_timeout": 5}
    proc, url = start_server(tmp_path, manager, workers=1)
    yield {"url": url, "fake": fake, "s3": s3, "moto": moto_endpoint}
    stop(proc)
    httpd.shutdown()
    httpd.server_close()


def logs(stack, job_id: str) -> requests.Response:
    return requests.get(f"{stack['url']}/jobs/{job_id}/logs", timeout=30)


def test_logs_come_from_the_pods_then_from_the_artifact_repository(stack):
    job_id = "7e5f1c1a-0000-4000-8000-000000000001"
    wf = finished_workflow(job_id, stack["moto"], archived=True)
    name = wf["metadata"]["name"]
    stack["fake"].put(copy.deepcopy(wf))
    stack["s3"].put_object(Bucket=BUCKET, Key=f"{name}/{name}/papermill.log",
                           Body=b"Executing notebook with kernel: python3\nHello, archive!\n")
    stack["s3"].put_object(Bucket=BUCKET, Key=f"{name}/{name}/main.log", Body=b"")
    # while the pod exists: its logs
    stack["fake"].add_pod(NAMESPACE, name, {"workflows.argoproj.io/workflow": name},
                          {"papermill": "Hello, pod!\n", "main": ""})
    r = logs(stack, job_id)
    assert r.status_code == 200, r.text
    assert r.text == "[papermill] Hello, pod!\n"
    # Argo's pod GC removed it: the archived logs
    stack["fake"].pods.clear()
    stack["fake"].pod_logs.clear()
    r = logs(stack, job_id)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text == "[papermill] Executing notebook with kernel: python3\n[papermill] Hello, archive!\n"
    # the credentials are used, never shown
    assert SECRET not in r.text


def test_without_an_archive_the_answer_says_the_logs_went_with_the_pod_and_how_to_keep_them(stack):
    job_id = "7e5f1c1a-0000-4000-8000-000000000002"
    stack["fake"].put(finished_workflow(job_id, None, archived=False))
    r = logs(stack, job_id)
    assert r.status_code == 404, r.text
    doc = r.json()
    assert doc["code"] == "NoSuchLogs"
    assert "gone with its pods" in doc["description"] and "result_artifact: true" in doc["description"]
    assert "archiveLogs" in doc["description"]


def test_an_archived_log_missing_from_the_bucket_is_a_clear_404(stack):
    job_id = "7e5f1c1a-0000-4000-8000-000000000003"
    stack["fake"].put(finished_workflow(job_id, stack["moto"], archived=True))  # nothing uploaded
    r = logs(stack, job_id)
    assert r.status_code == 404, r.text
    assert "archived logs of job" in r.json()["description"] and BUCKET not in r.json()["description"]
