"""The fakes speak the real protocols: the official kubernetes client and hera's WorkflowsService use them
directly (generateName, label selectors, limit/continue, watch, both patch types, 404/409/5xx)."""

from __future__ import annotations

import threading
import time

import pytest
from fakes.fixtures import NAMESPACE, TOKEN, argo, kube  # noqa: F401 - fixtures
from fakes.processor import build_manifest

G, V, P = "argoproj.io", "v1alpha1", "workflows"


@pytest.fixture
def api(kube):
    from kubernetes import client

    cfg = client.Configuration(host=kube.url)
    cfg.api_key = {"authorization": TOKEN}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    return client.CustomObjectsApi(client.ApiClient(cfg))


def unnamed(job):
    m = build_manifest(job, "json", 1)
    del m["metadata"]["name"]
    m["metadata"]["generateName"] = "pygeoapi-job-"
    return m


def test_kubernetes_client_against_the_fake(api, kube):
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    made = [api.create_namespaced_custom_object(G, V, NAMESPACE, P, unnamed(f"j{i}")) for i in range(5)]
    assert all(m["metadata"]["name"].startswith("pygeoapi-job-") and len(m["metadata"]["name"]) > 13 for m in made)
    names, token = [], None
    while True:
        page = api.list_namespaced_custom_object(G, V, NAMESPACE, P, limit=2, _continue=token,
                                                 label_selector="pygeoapi.io/job-id in (j0,j2,j3,j4)")
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert len(names) == 4 and names == sorted(names)
    name = made[0]["metadata"]["name"]
    api.patch_namespaced_custom_object(G, V, NAMESPACE, P, name, {"spec": {"shutdown": "Stop"}})
    api.patch_namespaced_custom_object(G, V, NAMESPACE, P, name,
                                       [{"op": "add", "path": "/metadata/annotations/x", "value": "1"}],
                                       _content_type="application/json-patch+json")
    got = api.get_namespaced_custom_object(G, V, NAMESPACE, P, name)
    assert got["spec"]["shutdown"] == "Stop" and got["metadata"]["annotations"]["x"] == "1"
    m = build_manifest("dup", "json", 1)
    api.create_namespaced_custom_object(G, V, NAMESPACE, P, m)
    with pytest.raises(ApiException) as e:
        api.create_namespaced_custom_object(G, V, NAMESPACE, P, build_manifest("dup", "json", 1))
    assert e.value.status == 409
    kube.fail("GET", "pygeoapi-job-dup$", 500, times=1)
    with pytest.raises(ApiException) as e:
        api.get_namespaced_custom_object(G, V, NAMESPACE, P, "pygeoapi-job-dup")
    assert e.value.status == 500
    api.delete_namespaced_custom_object(G, V, NAMESPACE, P, "pygeoapi-job-dup")
    with pytest.raises(ApiException) as e:
        api.get_namespaced_custom_object(G, V, NAMESPACE, P, "pygeoapi-job-dup")
    assert e.value.status == 404

    events = []

    def later():
        time.sleep(0.3)
        kube.mutate(NAMESPACE, name, lambda w: w.setdefault("status", {}).update(phase="Succeeded"))

    threading.Thread(target=later).start()
    for ev in watch.Watch().stream(api.list_namespaced_custom_object, G, V, NAMESPACE, P, timeout_seconds=2,
                                   label_selector="pygeoapi.io/job-id=j0"):
        events.append((ev["type"], (ev["object"].get("status") or {}).get("phase")))
        if ev["type"] == "MODIFIED" and events[-1][1] == "Succeeded":
            break
    assert events[0][0] == "ADDED" and ("MODIFIED", "Succeeded") in events


def test_hera_workflows_service_against_the_fake(argo):
    import warnings

    from hera.exceptions import AlreadyExists, NotFound
    from hera.workflows.models import Workflow, WorkflowCreateRequest, WorkflowStopRequest
    from hera.workflows.service import WorkflowsService

    warnings.simplefilter("ignore")
    svc = WorkflowsService(host=argo.url + "/", token=TOKEN, namespace=NAMESPACE)
    wf = svc.create_workflow(WorkflowCreateRequest(workflow=Workflow.model_validate(unnamed("a"))))
    assert wf.metadata.name.startswith("pygeoapi-job-")
    svc.create_workflow(WorkflowCreateRequest(workflow=Workflow.model_validate(build_manifest("b", "json", 1))))
    with pytest.raises(AlreadyExists):
        svc.create_workflow(WorkflowCreateRequest(workflow=Workflow.model_validate(build_manifest("b", "json", 1))))
    # hera's WorkflowList model requires items[].spec, so a list may drop parts of spec but not spec itself
    page = svc.list_workflows(label_selector="pygeoapi.io/job-id=b", fields="-items.spec.templates")
    assert [w.metadata.name for w in page.items] == ["pygeoapi-job-b"] and page.items[0].spec.templates is None
    first = svc.list_workflows(limit="1")
    assert len(first.items) == 1 and first.metadata.continue_ == "1"
    svc.stop_workflow("pygeoapi-job-b", WorkflowStopRequest(name="pygeoapi-job-b", namespace=NAMESPACE))
    assert svc.get_workflow("pygeoapi-job-b").spec.shutdown == "Stop"
    svc.delete_workflow("pygeoapi-job-b")
    with pytest.raises(NotFound):
        svc.get_workflow("pygeoapi-job-b")
