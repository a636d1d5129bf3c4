"""Contract tests: KubernetesBackend with the real ``kubernetes`` client against the fake API over HTTP."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib

import pytest
from fakes.fixtures import NAMESPACE, TOKEN, free_port, kube  # noqa: F401 - fixture
from fakes.processor import build_manifest

from argo_papermill.backends.base import AlreadyExists, Conflict, Forbidden, NotFound, Rejected, Unavailable
from argo_papermill.backends.kubernetes import ACCEPT_METADATA_LIST, KubernetesBackend, match_labels
from argo_papermill.contract import ANNOTATION_CREATED


def backend(url, **settings) -> KubernetesBackend:
    return KubernetesBackend({"server": url, "token": TOKEN, **settings}, namespace=NAMESPACE, request_timeout=5)


def created(i: int) -> str:
    return f"2026-01-01T00:00:{i:02d}.000000Z"


def make(b: KubernetesBackend, job: str, i: int, process: str = "scenario") -> dict:
    m = build_manifest(job, "json", 1, process)
    m["metadata"]["annotations"][ANNOTATION_CREATED] = created(i)
    return b.create(m)


def test_create_get_conflict_and_missing(kube):
    b = backend(kube.url)
    wf = make(b, "j1", 1)
    assert wf["metadata"]["name"] == "pygeoapi-job-j1" and wf["metadata"]["namespace"] == NAMESPACE
    assert wf["metadata"]["uid"]
    with pytest.raises(AlreadyExists):
        make(b, "j1", 1)
    assert b.get("pygeoapi-job-j1")["metadata"]["labels"]["pygeoapi.io/job-id"] == "j1"
    with pytest.raises(NotFound):
        b.get("pygeoapi-job-nope")


def test_rejected_manifest_keeps_the_servers_reason(kube):
    b = backend(kube.url)
    with pytest.raises(Rejected) as e:
        b.create(build_manifest("bad", "reject", 1))
    assert "spec.entrypoint" in e.value.reason and "422" in e.value.reason


def test_list_newest_first_stable_paging_from_metadata_only(kube):
    b = backend(kube.url, list_cache="none")
    for i, job in enumerate(["a", "b", "c", "d", "e"]):
        make(b, job, i, "p1" if i % 2 else "p2")
    kube.requests.clear()
    page = b.list("app.kubernetes.io/managed-by=argo-papermill", limit=2, offset=1)
    assert [w["metadata"]["labels"]["pygeoapi.io/job-id"] for w in page.items] == ["d", "c"]
    assert page.total == 5
    # one metadata list of the collection, then one GET per item of the page: never a full list
    collection = [r for r in kube.requests if r[1].endswith("/workflows")]
    assert len(collection) == 1
    gets = [r for r in kube.requests if r[1].endswith("/workflows/pygeoapi-job-d") or r[1].endswith("-c")]
    assert len(gets) == 2
    assert page.items[0]["spec"]["templates"]  # the page's items are full objects
    # filters: process label and phases (from the controller's phase label)
    p1 = b.list("app.kubernetes.io/managed-by=argo-papermill,pygeoapi.io/process-id=p1")
    assert [w["metadata"]["labels"]["pygeoapi.io/job-id"] for w in p1.items] == ["d", "b"]
    assert b.list("app.kubernetes.io/managed-by=argo-papermill", phases=frozenset({"Succeeded"})).total == 0
    assert b.list("app.kubernetes.io/managed-by=argo-papermill", phases=frozenset({"", "Pending"})).total == 5
    # paging is stable: consecutive pages cover everything once
    seen = []
    for off in range(0, 5, 2):
        seen += [w["metadata"]["name"] for w in b.list("", limit=2, offset=off).items]
    assert len(seen) == len(set(seen)) == 5


def test_metadata_list_asks_for_partial_object_metadata(kube):
    b = backend(kube.url, list_cache="none")
    make(b, "a", 1)
    metas, rv = b._relist_metadata()
    assert metas[0]["name"] == "pygeoapi-job-a" and "spec" not in metas[0] and rv
    assert ACCEPT_METADATA_LIST.startswith("application/json;as=PartialObjectMetadataList")


def test_watch_fed_index_sees_changes_from_elsewhere(kube):
    b = backend(kube.url)  # list_cache: watch
    other = backend(kube.url, list_cache="none")  # another server process
    make(b, "a", 1)
    assert b.list("").total == 1
    make(other, "b", 2)
    deadline = time.time() + 5
    while b.list("").total != 2 and time.time() < deadline:
        time.sleep(0.05)
    assert [w["metadata"]["name"] for w in b.list("").items] == ["pygeoapi-job-b", "pygeoapi-job-a"]
    other.delete("pygeoapi-job-b")
    while b.list("").total != 1 and time.time() < deadline:
        time.sleep(0.05)
    assert b.list("").total == 1
    kube.requests.clear()
    b.list("", limit=1)
    assert not [r for r in kube.requests if r[1].endswith("/workflows") and "watch" not in r[2]]
    b.close()


def test_watch_forbidden_falls_back_to_listing(kube):
    kube.fail("GET", r"/workflows$", 403, "Forbidden", "cannot watch", watch=True)
    b = backend(kube.url)
    make(b, "a", 1)
    assert b.list("").total == 1
    make(backend(kube.url, list_cache="none"), "b", 2)
    time.sleep(0.3)
    assert b.list("").total == 2  # each page relists while the watch is refused
    b.close()


def test_patch_merge_and_resource_version_precondition(kube):
    b = backend(kube.url)
    wf = make(b, "a", 1)
    rv = wf["metadata"]["resourceVersion"]
    out = b.patch("pygeoapi-job-a", {"metadata": {"resourceVersion": rv, "annotations": {"x": "1"}}})
    assert out["metadata"]["annotations"]["x"] == "1"
    with pytest.raises(Conflict):
        b.patch("pygeoapi-job-a", {"metadata": {"resourceVersion": rv, "annotations": {"x": "2"}}})
    assert b.patch("pygeoapi-job-a", {"spec": {"shutdown": "Stop"}})["spec"]["shutdown"] == "Stop"


def test_delete_with_finalizer_hides_the_workflow_from_lists(kube):
    b = backend(kube.url, list_cache="none")
    m = build_manifest("a", "json", 1)
    m["metadata"]["finalizers"] = ["workflows.argoproj.io/artifact-gc"]
    b.create(m)
    b.delete("pygeoapi-job-a")
    assert b.get("pygeoapi-job-a")["metadata"]["deletionTimestamp"]
    assert b.list("").total == 0
    b.delete("pygeoapi-job-a")  # repeated delete while finalizing is fine for the API
    b.patch("pygeoapi-job-a", {"metadata": {"finalizers": None}})
    with pytest.raises(NotFound):
        b.get("pygeoapi-job-a")


def test_compressed_nodes_are_decoded(kube):
    b = backend(kube.url)
    m = build_manifest("a", "json", 1)
    nodes = {"n": {"id": "n", "name": "n", "type": "Pod", "phase": "Running"}}
    m["status"] = {"phase": "Running", "compressedNodes": base64.b64encode(gzip.compress(json.dumps(nodes).encode()))
                   .decode()}
    b.create(m)
    assert b.get("pygeoapi-job-a")["status"]["nodes"] == nodes
    # a decompression bomb is not inflated: the object stays readable, without nodes
    bomb = build_manifest("bomb", "json", 1)
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip, streamed: 300 MiB of JSON never sits in memory here
    packed = gz.compress(b'{"n": "') + b"".join(gz.compress(b"x" * 2**20) for _ in range(300)) + gz.compress(b'"}')
    bomb["status"] = {"phase": "Running", "compressedNodes": base64.b64encode(packed + gz.flush()).decode()}
    b.create(bomb)
    status = b.get("pygeoapi-job-bomb")["status"]
    assert "nodes" not in status and status["compressedNodes"]


def test_forbidden_names_the_missing_permission(kube):
    kube.fail("POST", r"/workflows$", 403, "Forbidden", 'workflows.argoproj.io is forbidden: User "x" cannot create')
    with pytest.raises(Forbidden) as e:
        make(backend(kube.url), "a", 1)
    assert "'create workflows.argoproj.io' in namespace 'jobs'" in e.value.reason
    with pytest.raises(Forbidden) as e:
        backend(kube.url, token="wrong").get("x")  # 401
    assert "get workflows.argoproj.io" in e.value.reason


def test_server_errors_and_unreachable_are_unavailable(kube):
    kube.fail("GET", r"pygeoapi-job-a$", 503, "ServiceUnavailable", "etcd down")  # lasting: reads are retried
    b = backend(kube.url)
    with pytest.raises(Unavailable) as e:
        b.get("pygeoapi-job-a")
    assert "503" in e.value.reason
    kube.clear_faults()
    dead = backend(f"http://127.0.0.1:{free_port()}")
    t0 = time.time()
    with pytest.raises(Unavailable) as e:
        dead.list("")
    assert "unreachable" in e.value.reason and time.time() - t0 < 5


def test_token_file_is_reread(kube, tmp_path):
    tf = tmp_path / "token"
    tf.write_text(TOKEN)
    b = KubernetesBackend({"server": kube.url, "token_file": str(tf)}, namespace=NAMESPACE)
    make(b, "a", 1)
    kube.token = "rotated"
    tf.write_text("rotated\n")
    assert b.get("pygeoapi-job-a")["metadata"]["name"] == "pygeoapi-job-a"


def test_kubeconfig_like_kubectl(kube, tmp_path, monkeypatch):
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "c1",
           "clusters": [{"name": "k", "cluster": {"server": kube.url}}],
           "users": [{"name": "u", "user": {"token": TOKEN}}],
           "contexts": [{"name": "c1", "context": {"cluster": "k", "user": "u", "namespace": NAMESPACE}},
                        {"name": "c2", "context": {"cluster": "k", "user": "u", "namespace": "other"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(cfg))
    monkeypatch.setenv("KUBECONFIG", str(path))
    b = KubernetesBackend({})
    assert b.namespace == NAMESPACE  # from the current context; nothing was contacted to learn it
    make(b, "a", 1)
    assert KubernetesBackend({"context": "c2"}).namespace == "other"


def test_logs_from_the_workflows_pods(kube):
    b = backend(kube.url)
    kube.add_pod(NAMESPACE, "pygeoapi-job-a", {"workflows.argoproj.io/workflow": "pygeoapi-job-a"},
                 {"papermill": "line 1\nline 2\n"})
    assert list(b.logs("pygeoapi-job-a")) == ["[papermill] line 1", "[papermill] line 2"]


def test_logs_skip_argos_own_containers_also_v41s_supervisor(kube):
    """Argo v4.1's init-less pods carry a ``supervisor`` container beside ``wait``: not a step (issue 10, 9)."""
    b = backend(kube.url)
    kube.add_pod(NAMESPACE, "pygeoapi-job-b", {"workflows.argoproj.io/workflow": "pygeoapi-job-b"},
                 {"papermill": "cell 1\n", "supervisor": "argoexec supervisor: loading artifacts\n",
                  "init": "argoexec init\n"})
    assert list(b.logs("pygeoapi-job-b")) == ["[papermill] cell 1"]


@pytest.mark.parametrize("selector,labels,expected", [
    ("a=b", {"a": "b"}, True), ("a!=b", {}, True), ("a in (x,y)", {"a": "y"}, True),
    ("a notin (x)", {}, True), ("a notin (x)", {"a": "x"}, False), ("!a", {"a": "1"}, False),
    ("a,b=c", {"a": "1", "b": "c"}, True), ("a in (x)", {}, False)])
def test_label_selector_semantics(selector, labels, expected):
    assert match_labels(selector, labels) is expected


def test_kubeconfig_path_list_is_merged(kube, tmp_path, monkeypatch):
    a = {"apiVersion": "v1", "kind": "Config", "current-context": "c1",
         "contexts": [{"name": "c1", "context": {"cluster": "k", "user": "u", "namespace": "merged-ns"}}]}
    b = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "k", "cluster": {"server": kube.url}}],
         "users": [{"name": "u", "user": {"token": TOKEN}}]}
    (tmp_path / "a").write_text(json.dumps(a))
    (tmp_path / "b").write_text(json.dumps(b))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    bk = KubernetesBackend({})
    assert bk.namespace == "merged-ns"
    assert bk.list("").total == 0  # reached the fake with the token from the second file
