"""What a cluster adds, on the real controller: git-checkout with a Secret, s3-mount with FUSE, the
WorkflowTemplate under Strict templateReferencing, an artifact repository, callbacks and RBAC."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from server import PygeoapiServer

from kubeapi import ApiError, KubeApi

TESTS = Path(__file__).resolve().parents[1]

from fakes.receiver import Receiver  # noqa: E402
from fakes.s3 import s3_client  # noqa: E402
from test_serve_e2e_remote import PASSWORD, USER, _versioned_notebook, repo_over_http  # noqa: E402

ROOT = TESTS.parent
NOTEBOOKS = ROOT / "examples" / "notebooks"
CONTROLLER_CONFIGMAP = ("workflow-controller-configmap", "argo")


def secret(argo_stack, name: str, data: dict[str, str]) -> None:
    argo_stack.admin.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                            "type": "Opaque",
                            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}},
                           argo_stack.namespace)


def manager(argo_stack, path_map: dict, **extra) -> dict:
    return {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": argo_stack.namespace,
            "kubernetes": {"kubeconfig": argo_stack.server_kubeconfig}, "results": {"path_map": path_map},
            "sync_timeout": 240, "sync_poll_interval": 0.5, **extra}


def processor(**extra) -> dict:
    return {"default_image": "argo-papermill-job:stack", "home_volume_claim_name": "home",
            "job_service_account": "argo-papermill-job", **extra}


@pytest.fixture(scope="module")
def home(argo_stack) -> Path:
    folder = argo_stack.claim_dir("home")
    shutil.copytree(NOTEBOOKS, folder / "notebooks", dirs_exist_ok=True)
    os.chmod(folder, 0o777)
    return folder


def test_git_checkout_with_secret_at_revision(argo_stack, home, tmp_path, record):
    httpd, repo_url, first = repo_over_http(tmp_path, "nb.ipynb", _versioned_notebook("v1"),
                                            _versioned_notebook("v2"))
    secret(argo_stack, "git-cred", {"username": USER, "password": PASSWORD})
    server = PygeoapiServer(tmp_path / "pygeoapi", manager(argo_stack, {"/home/jovyan": str(home)}),
                            # pods kept: the default podGC (OnPodSuccess) removes them, and their logs, at once
                            processor(checkout_git_repo={"url": repo_url, "secret_name": "git-cred"},
                                      pod_gc_strategy=None))
    try:
        old = server.wait(server.submit({"notebook": "git/algorithm/nb.ipynb", "git_revision": first}))
        record("git-checkout-succeeded", old)
        assert old["status"] == "successful", old
        assert server.results(old["jobID"]).text.strip('"\n') == "v1"
        new = server.wait(server.submit({"notebook": "git/algorithm/nb.ipynb"}))
        assert new["status"] == "successful", new
        assert server.results(new["jobID"]).text.strip('"\n') == "v2"
        logs = requests.get(f"{server.url}/jobs/{new['jobID']}/logs", timeout=30).text
        assert "git-checkout" in logs and PASSWORD not in logs
    finally:
        server.stop()
        httpd.shutdown()


def test_s3_mount_reads_and_writes_the_bucket(argo_stack, home, tmp_path, moto_endpoint, record):
    s3 = s3_client(moto_endpoint, "AKIASTACK", "stack-secret")
    s3.create_bucket(Bucket="stack-bucket")
    s3.put_object(Bucket="stack-bucket", Key="notebooks/hello.ipynb", Body=(NOTEBOOKS / "hello.ipynb").read_bytes())
    secret(argo_stack, "s3-cred", {"username": "AKIASTACK", "password": "stack-secret"})
    server = PygeoapiServer(
        tmp_path / "pygeoapi",
        manager(argo_stack, {"/home/jovyan/s3": "s3://stack-bucket", "/home/jovyan": str(home)}) | {
            "results": {"path_map": {"/home/jovyan/s3": "s3://stack-bucket", "/home/jovyan": str(home)},
                        "storage_options": {"endpoint_url": moto_endpoint, "key": "AKIASTACK",
                                            "secret": "stack-secret"}}},
        processor(s3={"bucket_name": "stack-bucket", "secret_name": "s3-cred", "s3_url": moto_endpoint,
                      "path_style": True}, output_directory="/home/jovyan/s3/job-output"))
    try:
        job_id = server.submit({"notebook": "s3/notebooks/hello.ipynb", "parameters_json": {"name": "bucket"}})
        job = server.wait(job_id)
        record("s3-mount-succeeded", job)
        assert job["status"] == "successful", job
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="stack-bucket", Prefix="job-output/")["Contents"]]
        assert any(k.endswith("hello_result.ipynb") and job_id in k for k in keys), keys
        assert server.results(job_id).text == "Hello, bucket!"
        nodes = argo_stack.workflow(f"pygeoapi-job-{job_id}")["status"]["nodes"].values()
        assert {n["displayName"]: n["phase"] for n in nodes if n["type"] == "Container"}["s3-mount"] == "Succeeded"
    finally:
        server.stop()


@pytest.fixture
def strict_template_referencing(argo_stack):
    """The controller's workflowRestrictions.templateReferencing set to Strict for one test, then restored."""
    path = KubeApi.path("ConfigMap", *CONTROLLER_CONFIGMAP[:1], namespace=CONTROLLER_CONFIGMAP[1])
    original = argo_stack.admin.get(path)
    config = yaml.safe_load(original["data"]["config"]) or {}
    config["workflowRestrictions"] = {"templateReferencing": "Strict"}
    argo_stack.admin.patch(path, {"data": {"config": yaml.safe_dump(config)}})
    time.sleep(3)  # the controller reloads its ConfigMap through an informer
    yield
    argo_stack.admin.patch(path, {"data": {"config": original["data"]["config"]}})
    time.sleep(3)


def test_template_mode_under_strict_template_referencing(argo_stack, home, tmp_path, strict_template_referencing,
                                                         record):
    server = PygeoapiServer(tmp_path / "pygeoapi", manager(argo_stack, {"/home/jovyan": str(home)}),
                            processor(use_workflow_template=True, max_cpu="2", max_memory="2Gi",
                                      pod_gc_strategy=None))  # the pod is read below
    try:
        rendered = tmp_path / "templates"
        subprocess.run([str(Path(sys.executable).parent / "argo-papermill"), "templates", "render", "--config",
                        str(server.tmp / "pygeoapi.yml"), "--output-dir", str(rendered)], check=True,
                       capture_output=True, env=server.env)
        for path in rendered.glob("*.yaml"):
            argo_stack.admin.apply_yaml(path.read_text(), argo_stack.namespace)
        job_id = server.submit({"notebook": "notebooks/hello.ipynb", "parameters_json": {"name": "template"},
                                "cpu_requests": "250m", "mem_limit": "1Gi"})
        job = server.wait(job_id)
        record("template-ref-succeeded", job)
        assert job["status"] == "successful", job
        assert server.results(job_id).text == "Hello, template!"
        workflow = argo_stack.workflow(f"pygeoapi-job-{job_id}")
        assert "templates" not in workflow["spec"]
        assert workflow["spec"]["workflowTemplateRef"]["name"] == "papermill-notebook"
        pods = argo_stack.admin.get(KubeApi.path("Pod", namespace=argo_stack.namespace),
                                    labelSelector=f"workflows.argoproj.io/workflow=pygeoapi-job-{job_id}")["items"]
        papermill = next(c for p in pods for c in p["spec"]["containers"] if c["name"] == "papermill")
        assert papermill["resources"]["requests"]["cpu"] == "250m"
        # template mode passes quantities as integers (asInt in the template's podSpecPatch): 1Gi in bytes
        assert papermill["resources"]["limits"]["memory"] in ("1Gi", str(1024 ** 3))
        # an inline Workflow is refused by the same controller while Strict is on
        inline = PygeoapiServer(tmp_path / "pygeoapi-inline", manager(argo_stack, {"/home/jovyan": str(home)}),
                                processor())
        try:
            refused = inline.wait(inline.submit({"notebook": "notebooks/hello.ipynb"}))
            record("inline-refused-by-strict-template-referencing", refused)
            assert refused["status"] == "failed" and "workflowTemplateRef" in refused["message"], refused
        finally:
            inline.stop()
    finally:
        server.stop()


def test_artifact_repository_gets_the_result_notebook(argo_stack, home, tmp_path, moto_endpoint, record):
    s3 = s3_client(moto_endpoint, "AKIAART", "art-secret")
    s3.create_bucket(Bucket="artifacts")
    secret(argo_stack, "artifact-cred", {"accesskey": "AKIAART", "secretkey": "art-secret"})
    host = moto_endpoint.removeprefix("http://")
    repositories = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "artifact-repositories",
                                 "annotations": {"workflows.argoproj.io/default-artifact-repository": "moto"}},
                    "data": {"moto": yaml.safe_dump({"s3": {
                        "bucket": "artifacts", "endpoint": host, "insecure": True,
                        "accessKeySecret": {"name": "artifact-cred", "key": "accesskey"},
                        "secretKeySecret": {"name": "artifact-cred", "key": "secretkey"}}})}}
    argo_stack.admin.apply(repositories, argo_stack.namespace)
    server = PygeoapiServer(tmp_path / "pygeoapi", manager(argo_stack, {"/home/jovyan": str(home)}),
                            processor(result_artifact=True))
    try:
        job_id = server.submit({"notebook": "notebooks/hello.ipynb"})
        job = server.wait(job_id)
        record("artifact-repository-succeeded", job)
        assert job["status"] == "successful", job
        workflow = argo_stack.workflow(f"pygeoapi-job-{job_id}")
        artifacts = [a for n in workflow["status"]["nodes"].values()
                     for a in (n.get("outputs") or {}).get("artifacts") or []]
        notebook = next(a for a in artifacts if a["name"] == "result-notebook")
        body = s3.get_object(Bucket="artifacts", Key=notebook["s3"]["key"])["Body"].read()
        assert b"Hello, world!" in body
    finally:
        server.stop()
        argo_stack.admin.delete(KubeApi.path("ConfigMap", "artifact-repositories", argo_stack.namespace))


def test_callbacks_once_per_state(argo_stack, home, tmp_path):
    receiver = Receiver()
    server = PygeoapiServer(tmp_path / "pygeoapi",
                            manager(argo_stack, {"/home/jovyan": str(home)},
                                    callbacks={"poll_interval": 0.3, "timeout": 5, "retries": 2, "backoff": 0.1}),
                            processor(allow_internal_requests=True))
    try:
        subscriber = {"successUri": f"{receiver.url}/success", "inProgressUri": f"{receiver.url}/running",
                      "failedUri": f"{receiver.url}/failed"}
        ok = server.submit({"notebook": "notebooks/long.ipynb", "parameters_json": {"delay": 0.2}},
                           subscriber=subscriber)
        bad = server.submit({"notebook": "notebooks/fail.ipynb"}, subscriber=subscriber)
        assert server.wait(ok)["status"] == "successful"
        assert server.wait(bad)["status"] == "failed"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(receiver.calls) < 4:
            time.sleep(0.2)
        by_job: dict[str, list[str]] = {}
        for path, body in receiver.calls:
            by_job.setdefault(body.get("jobID") or body.get("id"), []).append(path)
        assert sorted(by_job[ok]) == ["/running", "/success"], receiver.calls
        assert by_job[bad].count("/failed") == 1 and "/success" not in by_job[bad], receiver.calls
    finally:
        server.stop()
        receiver.close()


def test_rbac_of_the_server_account_is_enforced(argo_stack):
    """The manager's account (examples/kubernetes/server-rbac.yaml) may do what the manager needs, no more."""
    server_api = KubeApi.from_kubeconfig(argo_stack.server_kubeconfig)
    server_api.get(KubeApi.path("Workflow", namespace=argo_stack.namespace))
    for forbidden in (KubeApi.path("Secret", namespace=argo_stack.namespace),
                      KubeApi.path("Workflow", namespace="argo"), "api/v1/pods"):
        with pytest.raises(ApiError) as err:
            server_api.get(forbidden)
        assert err.value.status == 403, forbidden
    with pytest.raises(ApiError) as err:
        server_api.post(KubeApi.path("Pod", namespace=argo_stack.namespace), {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "not-allowed"},
            "spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert err.value.status == 403
