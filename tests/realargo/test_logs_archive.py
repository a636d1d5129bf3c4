"""Logs that outlive the pod, on the real controller and executor (issue 14, point 2): with an artifact
repository (moto) and ``result_artifact``, the Workflow archives its logs (``archiveLogs``), Argo's wait
container uploads every container's log as ``<container>-logs``, the default pod GC (``OnPodSuccess``)
removes the pod, and ``GET /jobs/{id}/logs`` reads the logs from the repository. The result notebook is
also there as HTML (``result-html``, stored as is, key ``.html``) for the Argo UI."""

from __future__ import annotations

import time

import requests
import yaml
from server import PygeoapiServer
from test_cluster_features import home, manager, processor, secret  # noqa: F401 - home is a fixture

from fakes.s3 import s3_client
from kubeapi import KubeApi

KEY, SECRET = "AKIALOGS", "logs-secret"


def test_logs_are_read_from_the_artifact_repository_after_the_pod_is_gone(argo_stack, home, tmp_path,
                                                                           moto_endpoint):
    s3 = s3_client(moto_endpoint, KEY, SECRET)
    s3.create_bucket(Bucket="artifacts")
    secret(argo_stack, "artifact-cred", {"accesskey": KEY, "secretkey": SECRET})
    repositories = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "artifact-repositories",
                                 "annotations": {"workflows.argoproj.io/default-artifact-repository": "moto"}},
                    "data": {"moto": yaml.safe_dump({"s3": {
                        "bucket": "artifacts", "endpoint": moto_endpoint.removeprefix("http://"), "insecure": True,
                        "accessKeySecret": {"name": "artifact-cred", "key": "accesskey"},
                        "secretKeySecret": {"name": "artifact-cred", "key": "secretkey"}}})}}
    argo_stack.admin.apply(repositories, argo_stack.namespace)
    server = PygeoapiServer(tmp_path / "pygeoapi",
                            manager(argo_stack, {"/home/jovyan": str(home)},
                                    artifacts={"storage_options": {"key": KEY, "secret": SECRET}}),
                            processor(result_artifact=True))
    try:
        job_id = server.submit({"notebook": "notebooks/hello.ipynb", "parameters_json": {"name": "archive"}})
        job = server.wait(job_id)
        assert job["status"] == "successful", job
        name = f"pygeoapi-job-{job_id}"
        workflow = argo_stack.workflow(name)
        assert workflow["spec"]["archiveLogs"] is True
        artifacts = {a["name"]: a for n in workflow["status"]["nodes"].values()
                     for a in (n.get("outputs") or {}).get("artifacts") or []}
        assert {"papermill-logs", "result-notebook", "result-html"} <= set(artifacts), sorted(artifacts)
        assert artifacts["result-html"]["s3"]["key"].endswith("/result.html")
        page = s3.get_object(Bucket="artifacts", Key=artifacts["result-html"]["s3"]["key"])["Body"].read()
        assert b"<html" in page.lower() and b"Hello, archive!" in page
        # the pod is gone (podGC OnPodSuccess): the logs come from the artifact repository
        deadline = time.monotonic() + 60
        while argo_stack.admin.get(f"/api/v1/namespaces/{argo_stack.namespace}/pods",
                                   labelSelector=f"workflows.argoproj.io/workflow={name}")["items"]:
            assert time.monotonic() < deadline, "the pod was not garbage-collected"
            time.sleep(0.5)
        r = requests.get(f"{server.url}/jobs/{job_id}/logs", timeout=60)
        assert r.status_code == 200, r.text
        assert "[papermill] " in r.text and "Hello, archive!" in r.text, r.text[-2000:]
        assert SECRET not in r.text
    finally:
        server.stop()
        argo_stack.admin.delete(KubeApi.path("ConfigMap", "artifact-repositories", argo_stack.namespace))
