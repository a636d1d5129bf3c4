"""Contract tests: ArgoServerBackend (hera's WorkflowsService) against the fake Argo Server over HTTP."""

from __future__ import annotations

import time

import pytest
from fakes.fixtures import NAMESPACE, TOKEN, argo, free_port  # noqa: F401 - fixture
from fakes.processor import build_manifest

from argo_papermill.backends.argo_server import ArgoServerBackend, phase_selector
from argo_papermill.backends.base import AlreadyExists, Forbidden, NotFound, Rejected, Unavailable


def backend(url, **settings) -> ArgoServerBackend:
    return ArgoServerBackend({"url": url, "token": TOKEN, **settings}, namespace=NAMESPACE, request_timeout=5)


def make(b, job, process="scenario"):
    wf = b.create(build_manifest(job, "json", 1, process))
    time.sleep(1.01)  # creationTimestamp has second resolution; keep the order unambiguous
    return wf


def test_create_sends_a_create_request_and_bearer_token(argo):
    b = backend(argo.url)
    wf = b.create(build_manifest("a", "json", 1))
    assert wf["metadata"]["name"] == "pygeoapi-job-a" and wf["metadata"]["namespace"] == NAMESPACE
    method, path, _, body = [r for r in argo.requests if r[0] == "POST"][0]
    assert path == f"/api/v1/workflows/{NAMESPACE}" and body["workflow"]["spec"]["entrypoint"] == "notebook"
    with pytest.raises(AlreadyExists):
        b.create(build_manifest("a", "json", 1))
    with pytest.raises(NotFound):
        b.get("pygeoapi-job-zzz")


def test_rejected_manifest_carries_argos_reason(argo):
    with pytest.raises(Rejected) as e:
        backend(argo.url).create(build_manifest("r", "reject", 1))
    assert "entrypoint" in e.value.reason


def test_list_uses_offsets_fields_and_counts(argo):
    b = backend(argo.url)
    for j in ["a", "b", "c"]:
        make(b, j, "p1" if j != "b" else "p2")
    argo.requests.clear()
    page = b.list("app.kubernetes.io/managed-by=argo-papermill", limit=2, offset=1)
    assert [w["metadata"]["name"] for w in page.items] == ["pygeoapi-job-b", "pygeoapi-job-a"]
    assert page.total == 3
    # one list request asks for the page's names and the count; then one GET per item of the page
    lists = [r for r in argo.requests if r[1].endswith(f"/workflows/{NAMESPACE}")]
    assert len(lists) == 1
    _, path, q, _ = lists[0]
    assert q["listOptions.continue"] == ["1"] and q["listOptions.limit"] == ["2"]
    assert q["listOptions.fieldSelector"] == ["ext.showRemainingItemCount=true"]
    assert q["fields"] == ["metadata,items.metadata.name"]  # no spec, no nodes in the list answer
    gets = sorted(r[1].rsplit("/", 1)[1] for r in argo.requests if r not in lists)
    assert gets == ["pygeoapi-job-a", "pygeoapi-job-b"]
    assert page.items[0]["spec"]["templates"]  # the page's items are the full workflows, as get returns them
    assert b.list("pygeoapi.io/process-id=p1").total == 2
    assert b.list("", phases=frozenset({"Succeeded"})).total == 0
    assert b.list("", phases=frozenset({"", "Pending"})).total == 3


def test_phase_selector():
    assert phase_selector(frozenset({"Succeeded"})) == "workflows.argoproj.io/phase in (Succeeded)"
    assert phase_selector(frozenset({"", "Pending"})) == \
        "workflows.argoproj.io/phase notin (Error,Failed,Running,Succeeded)"


def test_stop_and_delete_including_the_archived_copy(argo):
    b = backend(argo.url)
    b.create(build_manifest("a", "json", 1))
    out = b.patch("pygeoapi-job-a", {"spec": {"shutdown": "Stop"}})
    assert out["spec"]["shutdown"] == "Stop"
    assert any(r[1].endswith("/pygeoapi-job-a/stop") for r in argo.requests)
    argo.mutate(NAMESPACE, "pygeoapi-job-a", lambda w: w["status"].update(phase="Failed"))  # archived now
    assert len(argo.archived) == 1
    b.delete("pygeoapi-job-a")
    assert not argo.archived and not argo.live
    with pytest.raises(NotFound):
        b.get("pygeoapi-job-a")
    with pytest.raises(NotFound):
        b.delete("pygeoapi-job-a")


def test_metadata_patch_needs_a_kubernetes_connection(argo):
    b = backend(argo.url)
    b.create(build_manifest("a", "json", 1))
    with pytest.raises(Rejected):
        b.patch("pygeoapi-job-a", {"metadata": {"annotations": {"x": "1"}}})


def test_errors(argo, tmp_path):
    with pytest.raises(Forbidden) as e:
        backend(argo.url, token="wrong").list("")
    assert "'list workflows.argoproj.io' in namespace 'jobs'" in e.value.reason
    argo.fail("POST", "/api/v1/workflows", 403, "workflows.argoproj.io is forbidden")
    with pytest.raises(Forbidden) as e:
        backend(argo.url).create(build_manifest("a", "json", 1))
    assert "create workflows.argoproj.io" in e.value.reason
    argo.clear_faults()
    argo.fail("GET", "/api/v1/workflows", 500, "database is locked")  # lasting: reads are retried
    with pytest.raises(Unavailable):
        backend(argo.url).list("")
    argo.clear_faults()
    with pytest.raises(Unavailable) as e:
        backend(f"http://127.0.0.1:{free_port()}").get("x")
    assert "unreachable" in e.value.reason


def test_token_file_is_read_per_request(argo, tmp_path):
    tf = tmp_path / "t"
    tf.write_text(TOKEN)
    b = ArgoServerBackend({"url": argo.url, "token_file": str(tf)}, namespace=NAMESPACE)
    b.create(build_manifest("a", "json", 1))
    argo.token = "rotated"
    tf.write_text("rotated")
    assert b.get("pygeoapi-job-a")["metadata"]["name"] == "pygeoapi-job-a"


def test_logs_ndjson(argo):
    b = backend(argo.url)
    b.create(build_manifest("a", "json", 1))
    argo.logs[(NAMESPACE, "pygeoapi-job-a")] = [("pod", "hello"), ("pod", "world")]
    assert list(b.logs("pygeoapi-job-a")) == ["hello", "world"]


def test_workflow_template_read_as_stored_and_its_errors(argo):
    b = backend(argo.url)
    stored = {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate",
              "metadata": {"name": "t", "namespace": NAMESPACE},
              "spec": {"entrypoint": "notebook", "activeDeadlineSeconds": 60, "templates": [{"name": "notebook"}]}}
    argo.templates[(NAMESPACE, "t")] = stored
    assert b.get_workflow_template("t") == stored  # exactly as stored: the fingerprint check reads the spec
    with pytest.raises(NotFound):
        b.get_workflow_template("missing")
    argo.fail("GET", r"/workflow-templates/", 403, "denied")
    with pytest.raises(Forbidden) as e:
        b.get_workflow_template("t")
    assert f"'get workflowtemplates.argoproj.io' in namespace '{NAMESPACE}'" in e.value.reason
    argo.clear_faults()
    with pytest.raises(Unavailable):
        backend(f"http://127.0.0.1:{free_port()}").get_workflow_template("t")


def test_unreachable_message_leaves_out_credentials_in_the_url():
    """The message reaches API clients (503) and logs: user info in argo_server.url must not."""
    port = free_port()
    with pytest.raises(Unavailable) as e:
        backend(f"http://argo:s3cretpw@127.0.0.1:{port}").get("x")
    assert "unreachable" in e.value.reason and f"127.0.0.1:{port}" in e.value.reason
    assert "s3cretpw" not in e.value.reason and "s3cretpw" not in str(e.value)
