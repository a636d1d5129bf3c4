"""``auto_mount_secrets`` and ``use_workflow_template`` through the manager with the real NotebookProcessor.

The fake Kubernetes API / Argo Server run over HTTP on loopback; no controller is needed: what is
checked is what the manager reads before a submission and what it submits.
"""

from __future__ import annotations

import json
import logging

import pytest
from fakes.fixtures import NAMESPACE, TOKEN, argo, home, kube, manager_def  # noqa: F401 - fixtures
from pygeoapi.util import RequestedProcessExecutionMode

from argo_papermill.backends.local import LocalBackend
from argo_papermill.config import load_processor_config
from argo_papermill.manager import ArgoManager
from argo_papermill.templates import template_manifest

ASYNC = RequestedProcessExecutionMode.respond_async
SECRET_VALUE = "TOPSECRET-do-not-leak"
PROCESS = "execute-notebook"


def notebook_processes(**processor) -> dict:
    return {PROCESS: {"type": "process", "processor": {"name": "argo_papermill.NotebookProcessor", **processor}}}


def add_secrets(kube) -> None:
    applied = json.dumps({"data": {"password": SECRET_VALUE}})  # what kubectl apply leaves in an annotation
    kube.add_secret(NAMESPACE, "eurodatacube-abc-default", {"password": SECRET_VALUE},
                    annotations={"kubectl.kubernetes.io/last-applied-configuration": applied})
    kube.add_secret(NAMESPACE, "mine", {"key": SECRET_VALUE}, labels={"owner": "edc-my-credentials"})
    kube.add_secret(NAMESPACE, "unrelated", {"token": SECRET_VALUE})
    kube.add_secret("elsewhere", "eurodatacube-other-default", {"password": SECRET_VALUE})


def env_from(workflow: dict) -> set[str]:
    containers = workflow["spec"]["templates"][0]["containerSet"]["containers"]
    papermill = next(c for c in containers if c["name"] == "papermill")
    return {e["secretRef"]["name"] for e in papermill.get("envFrom") or [] if "secretRef" in e}


def submit(mgr: ArgoManager, notebook: str = "hello.ipynb") -> str:
    job_id, *_ = mgr.execute_process(PROCESS, {"notebook": notebook}, execution_mode=ASYNC)
    return job_id


def error_of(mgr: ArgoManager) -> Exception:
    with pytest.raises(Exception) as e:
        submit(mgr)
    return e.value


@pytest.fixture
def kube_manager(kube, home):
    made = []

    def make(**processor) -> ArgoManager:
        mgr = ArgoManager(manager_def("kubernetes", kube.url, home, processes=notebook_processes(**processor)))
        made.append(mgr)
        return mgr

    yield make
    for mgr in made:
        if mgr._backend is not None:
            mgr._backend.close()


# ------------------------------------------------------------------ auto_mount_secrets
def test_auto_mount_secrets_adds_the_matching_secrets_by_metadata_only(kube, kube_manager, caplog):
    add_secrets(kube)
    caplog.set_level(logging.DEBUG)
    mgr = kube_manager(auto_mount_secrets=True)
    submit(mgr)
    [wf] = kube.workflows(NAMESPACE)
    assert env_from(wf) == {"eurodatacube-abc-default", "mine"}
    assert kube.secret_list_accepts and all("as=PartialObjectMetadataList" in a for a in kube.secret_list_accepts)
    listed = mgr.backend.list_secret_metadata()
    assert sorted(s["metadata"]["name"] for s in listed) == ["eurodatacube-abc-default", "mine", "unrelated"]
    assert SECRET_VALUE not in json.dumps(listed)  # not the data, not kubectl's last-applied annotation
    assert SECRET_VALUE not in json.dumps(wf) and SECRET_VALUE not in caplog.text


def test_without_auto_mount_secrets_no_secret_is_listed(kube, kube_manager):
    add_secrets(kube)
    submit(kube_manager())
    [wf] = kube.workflows(NAMESPACE)
    assert env_from(wf) == set() and kube.secret_list_accepts == []


def test_secrets_list_forbidden_names_the_permission_and_creates_nothing(kube, kube_manager):
    kube.fail("GET", r"/secrets$", 403, "Forbidden", 'secrets is forbidden: cannot list resource "secrets"')
    err = error_of(kube_manager(auto_mount_secrets=True))
    assert err.http_status_code == 403 and f"'list secrets' in namespace '{NAMESPACE}'" in err.message
    assert kube.workflows(NAMESPACE) == []


def test_argo_server_needs_kubernetes_access_for_auto_mount_secrets(argo, home):
    mgr = ArgoManager(manager_def("argo-server", argo.url, home, processes=notebook_processes(auto_mount_secrets=True)))
    err = error_of(mgr)
    assert err.http_status_code == 400 and "auto_mount_secrets needs Kubernetes access" in err.message
    assert argo.workflows(NAMESPACE) == []


def test_argo_server_lists_secrets_through_the_kubernetes_block(argo, kube, home):
    add_secrets(kube)
    mgr = ArgoManager(manager_def("argo-server", argo.url, home, processes=notebook_processes(auto_mount_secrets=True),
                                  kubernetes={"server": kube.url, "token": TOKEN, "list_cache": "none"}))
    submit(mgr)
    [wf] = argo.workflows(NAMESPACE)
    assert env_from(wf) == {"eurodatacube-abc-default", "mine"}
    assert all("as=PartialObjectMetadataList" in a for a in kube.secret_list_accepts)


# ------------------------------------------------------------------ use_workflow_template
def installed_template(processor: dict, **metadata_changes) -> dict:
    tmpl = template_manifest(load_processor_config(processor))
    tmpl["metadata"]["namespace"] = NAMESPACE
    for key, value in metadata_changes.items():
        tmpl["metadata"][key] = {**tmpl["metadata"].get(key, {}), **value}
    return tmpl


def template_gets(kube) -> int:
    return sum(1 for method, path, *_ in kube.requests if method == "GET" and "/workflowtemplates/" in path)


def test_missing_template_is_a_503_that_says_how_to_install_and_creates_nothing(kube, kube_manager):
    err = error_of(kube_manager(use_workflow_template=True))
    assert err.http_status_code == 503
    assert "'papermill-notebook' is not installed" in err.message and "templates render" in err.message
    assert kube.workflows(NAMESPACE) == []


def test_template_of_another_version_is_refused(kube, kube_manager):
    processor = {"use_workflow_template": True}
    kube.put(installed_template(processor, labels={"app.kubernetes.io/version": "0.0.1"}), plural="workflowtemplates")
    err = error_of(kube_manager(**processor))
    assert err.http_status_code == 503 and "version '0.0.1'" in err.message and "re-render" in err.message
    assert kube.workflows(NAMESPACE) == []


def test_installed_template_is_checked_once_and_again_after_a_failed_submission(kube, kube_manager):
    processor = {"use_workflow_template": True}
    kube.put(installed_template(processor), plural="workflowtemplates")
    mgr = kube_manager(**processor)
    submit(mgr)
    submit(mgr)
    assert template_gets(kube) == 1
    assert [w["spec"]["workflowTemplateRef"]["name"] for w in kube.workflows(NAMESPACE)] == ["papermill-notebook"] * 2
    kube.fail("POST", r"/workflows$", 422, "Invalid", "spec.workflowTemplateRef: template not found", times=1)
    assert error_of(mgr).http_status_code == 400
    submit(mgr)
    assert template_gets(kube) == 2 and len(kube.workflows(NAMESPACE)) == 3


def test_template_of_another_configuration_is_refused(kube, kube_manager):
    kube.put(installed_template({"use_workflow_template": True}), plural="workflowtemplates")
    err = error_of(kube_manager(use_workflow_template=True, log_output=False))
    assert err.http_status_code == 503 and "another processor configuration" in err.message


def test_argo_server_reads_the_template_through_its_api(argo, home):
    processor = {"use_workflow_template": True}
    mgr = ArgoManager(manager_def("argo-server", argo.url, home, processes=notebook_processes(**processor)))
    err = error_of(mgr)
    assert err.http_status_code == 503 and "is not installed" in err.message and argo.workflows(NAMESPACE) == []
    argo.templates[(NAMESPACE, "papermill-notebook")] = installed_template(processor)
    submit(mgr)
    [wf] = argo.workflows(NAMESPACE)
    assert wf["spec"]["workflowTemplateRef"] == {"name": "papermill-notebook"}


def test_template_read_forbidden_names_the_permission(kube, kube_manager):
    kube.fail("GET", r"/workflowtemplates/", 403, "Forbidden", "cannot get workflowtemplates")
    err = error_of(kube_manager(use_workflow_template=True))
    assert err.http_status_code == 403 and "'get workflowtemplates.argoproj.io'" in err.message


# ------------------------------------------------------------------ local backend
def test_local_backend_secrets_are_folder_names_and_templates_come_from_the_template_dirs(tmp_path):
    secrets = tmp_path / "secrets"
    (secrets / "eurodatacube-x-default").mkdir(parents=True)
    (secrets / "eurodatacube-x-default" / "password").write_text(SECRET_VALUE)
    (secrets / "plain").mkdir()
    (secrets / "not-a-secret.txt").write_text("x")
    templates = tmp_path / "templates"
    templates.mkdir()
    tmpl = installed_template({"use_workflow_template": True, "workflow_template_name": "custom-nb"})
    from argo_papermill.templates import dump_yaml

    (templates / "custom.yaml").write_text(dump_yaml(tmpl))
    backend = LocalBackend(data_dir=tmp_path / "data", secrets_dir=secrets, template_dirs=[str(templates)],
                           start_engine=False)
    listed = backend.list_secret_metadata()
    assert listed == [{"metadata": {"name": "eurodatacube-x-default"}}, {"metadata": {"name": "plain"}}]
    assert backend.get_workflow_template("custom-nb")["metadata"]["name"] == "custom-nb"
    from argo_papermill.backends.base import NotFound

    with pytest.raises(NotFound):
        backend.get_workflow_template("nope")
    assert LocalBackend(data_dir=tmp_path / "d2", start_engine=False).list_secret_metadata() == []
