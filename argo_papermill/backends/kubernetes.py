"""Workflows through the Kubernetes API (``argoproj.io/v1alpha1`` custom objects).

Connection follows kubectl: an explicit ``server`` + token, else ``kubeconfig`` /
``$KUBECONFIG`` / ``~/.kube/config``, else the in-cluster service account. Nothing is
read or contacted before the first request.

Listing: the Kubernetes API has no offsets, no ordering and no ``fields``, and its
continue tokens are name-ordered and expire. So a page is answered from the workflows'
*metadata* only (``PartialObjectMetadataList``: labels, annotations, timestamps, never
spec or nodes), sorted newest first here, and only the page's workflows are then read in
full. With ``list_cache: watch`` (default) that metadata is an in-memory index fed by a
metadata watch, so a page costs O(page) API reads whatever the number of workflows; if
the watch cannot run (RBAC without ``watch``, a broken stream) every page falls back to
one metadata list. docs/manager.md explains the choice.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from argo_papermill.backends.base import (
    AlreadyExists,
    BackendError,
    Conflict,
    Forbidden,
    NotFound,
    Page,
    PageReader,
    Rejected,
    Unavailable,
    parse_retry_after,
    retry_read,
)
from argo_papermill.contract import ARGO_CONTAINERS, LABEL_ARGO_PHASE
from argo_papermill.manager_config import KubernetesSettings
from argo_papermill.selectors import match_labels

LOGGER = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"
RESOURCE = f"{PLURAL}.{GROUP}"
TEMPLATE_PLURAL = "workflowtemplates"
ACCEPT_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
ACCEPT_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
LIST_CHUNK = 1000


# --------------------------------------------------------------------------- pure helpers
def decode_compressed_nodes(workflow: dict) -> dict:
    """Argo moves big node maps into ``status.compressedNodes``; undo that as the Argo Server's GET does.

    One decoder with the status mapping (``status_nodes.decode_nodes``: gzip, zlib, zstd/brotli, with a
    bound on the decoded size); an undecodable map stays as it is."""
    from argo_papermill.status_nodes import decode_nodes

    status = workflow.get("status") or {}
    if status.get("compressedNodes") and not status.get("nodes"):
        nodes = decode_nodes(status)
        if nodes:
            status["nodes"] = nodes
            status.pop("compressedNodes", None)
        else:
            LOGGER.warning("cannot decode compressedNodes of %s", workflow.get("metadata", {}).get("name"))
    return workflow


def _ts_key(meta: dict) -> str:
    """Sortable creation time: the submission annotation (microseconds) or creationTimestamp."""
    from argo_papermill.contract import ANNOTATION_CREATED

    ts = (meta.get("annotations") or {}).get(ANNOTATION_CREATED) or meta.get("creationTimestamp") or ""
    if ts.endswith("Z") and "." not in ts:
        ts = ts[:-1] + ".000000Z"
    return ts


def newest_first(metas: list[dict]) -> list[dict]:
    """Newest first, ties broken by name (stable across calls, so paging is stable)."""
    return sorted(metas, key=lambda m: (_ts_key(m), m.get("name", "")), reverse=True)


def _slim(meta: dict) -> dict:
    """The metadata fields the index keeps (no managedFields)."""
    return {
        k: meta.get(k)
        for k in ("name", "namespace", "creationTimestamp", "labels", "annotations", "deletionTimestamp",
                  "resourceVersion", "uid")
        if meta.get(k) is not None
    }


def select(metas: list[dict], label_selector: str, phases: frozenset[str] | None) -> list[dict]:
    """Metadata matching the selector and (via the controller's phase label) the phases; skip deleting ones."""
    out = []
    for m in metas:
        if m.get("deletionTimestamp"):
            continue
        labels = m.get("labels") or {}
        if label_selector and not match_labels(label_selector, labels):
            continue
        if phases is not None and labels.get(LABEL_ARGO_PHASE, "") not in phases:
            continue
        out.append(m)
    return out

READ_VERBS = frozenset({"get", "list"})  # idempotent: retried while the API is Unavailable

# --------------------------------------------------------------------------- errors
def permission_for(verb: str, namespace: str, resource: str = RESOURCE) -> str:
    return f"'{verb} {resource}' in namespace '{namespace}'"


def translate_api_error(exc: Exception, verb: str, namespace: str, resource: str = RESOURCE) -> BackendError:
    """A client exception -> one of our BackendErrors with a reason safe for clients."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        message = _status_message(exc) or exc.reason or "no reason given"
        code = exc.status or 0
        if code in (401, 403):
            what = "not authenticated" if code == 401 else "forbidden"
            return Forbidden(
                f"Kubernetes API: {what}; the server's service account needs permission "
                f"{permission_for(verb, namespace, resource)} ({message})"
            )
        if code == 404:
            return NotFound(message)
        if code == 409:
            return AlreadyExists(message) if verb == "create" else Conflict(message)
        if code == 0 or code >= 500 or code == 429:
            headers = getattr(exc, "headers", None) or {}
            return Unavailable(f"Kubernetes API unavailable ({code}): {message}",
                               retry_after=parse_retry_after(headers.get("Retry-After")))
        return Rejected(f"Kubernetes API rejected the request ({code}): {message}")
    return Unavailable(f"Kubernetes API unreachable: {type(exc).__name__}: {_short(exc)}")


def _status_message(exc: Any) -> str:
    try:
        body = json.loads(exc.body or "{}")
        return str(body.get("message") or "")
    except (TypeError, ValueError):
        return ""


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "..."


# --------------------------------------------------------------------------- metadata index
class MetadataIndex:
    """Workflow metadata kept current by a list + watch (an informer for PartialObjectMetadata).

    ``snapshot()`` gives the metadata newest first. It relists synchronously when the
    watch is not healthy, so a caller never reads an index that is silently stale.
    """

    def __init__(self, relist: Callable[[], tuple[list[dict], str]],
                 watch: Callable[[str], Iterator[dict]], use_watch: bool = True):
        self._relist, self._watch, self._use_watch = relist, watch, use_watch
        self._lock = threading.Lock()
        self._items: dict[str, dict] = {}
        self._sorted: list[dict] | None = None
        self._selected: dict[tuple, list[dict]] = {}  # (selector, phases) -> matches of _sorted
        self._rv = ""
        self._healthy = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def snapshot(self) -> list[dict]:
        alive = self._thread is not None and self._thread.is_alive()  # False in a forked child, too
        if not (self._use_watch and self._healthy and alive):
            self._load()  # errors propagate to the request that needed the list
            if self._use_watch and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="argo-papermill-wf-watch", daemon=True)
                self._thread.start()
        with self._lock:
            if self._sorted is None:
                self._sorted = newest_first(list(self._items.values()))
            return self._sorted

    def matching(self, selector: str, phases: frozenset[str] | None) -> list[dict]:
        """``select`` over the snapshot, remembered until the index changes (a page is then O(page))."""
        metas = self.snapshot()
        key = (selector, phases)
        with self._lock:
            if self._sorted is metas and key in self._selected:
                return self._selected[key]
        result = select(metas, selector, phases)
        with self._lock:
            if self._sorted is metas:
                if len(self._selected) > 64:
                    self._selected.clear()
                self._selected[key] = result
        return result

    def upsert(self, meta: dict) -> None:
        with self._lock:
            self._items[meta["name"]] = _slim(meta)
            self._sorted = None
            self._selected = {}

    def remove(self, name: str) -> None:
        with self._lock:
            self._items.pop(name, None)
            self._sorted = None
            self._selected = {}

    def close(self) -> None:
        self._stop.set()

    def _load(self) -> None:
        metas, rv = self._relist()
        with self._lock:
            self._items = {m["name"]: _slim(m) for m in metas}
            self._sorted = None
            self._selected = {}
            self._rv = rv

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not self._rv:
                    self._load()
                self._healthy = True
                for event in self._watch(self._rv):
                    if self._stop.is_set():
                        return
                    self._apply(event)
                backoff = 0.5  # server closed the stream (timeoutSeconds): resume from rv
            except _Gone:
                self._healthy = False
                self._rv = ""
            except Exception as exc:  # noqa: BLE001 - any failure: next page relists itself
                self._healthy = False
                self._rv = ""
                LOGGER.info("workflow metadata watch stopped (%s); pages relist until it recovers", _short(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _apply(self, event: dict) -> None:
        typ, obj = event.get("type"), event.get("object") or {}
        meta = obj.get("metadata") or {}
        if typ == "ERROR":
            if (obj.get("code") == 410) or obj.get("reason") in ("Expired", "Gone"):
                raise _Gone()
            raise RuntimeError(f"watch error: {obj.get('message')}")
        if meta.get("resourceVersion"):
            self._rv = meta["resourceVersion"]
        if typ == "BOOKMARK":
            return
        if typ == "DELETED":
            self.remove(meta.get("name", ""))
        elif typ in ("ADDED", "MODIFIED") and meta.get("name"):
            self.upsert(meta)


class _Gone(Exception):
    pass


# --------------------------------------------------------------------------- backend
class KubernetesBackend:
    """WorkflowBackend on the Kubernetes API with the official ``kubernetes`` client."""

    lists_full_workflows = True  # a page's items are read with get

    def __init__(self, settings: KubernetesSettings | dict | None = None, *, namespace: str | None = None,
                 request_timeout: float = 30.0, label_selector: str | None = None,
                 service_account_dir: Path = SA_DIR):
        if not isinstance(settings, KubernetesSettings):
            settings = KubernetesSettings.model_validate(settings or {})
        self.settings = settings
        self._namespace = namespace
        self.request_timeout = request_timeout
        self.service_account_dir = service_account_dir  # token, ca.crt, namespace of the in-cluster account
        self._api_client: Any = None
        self._lock = threading.Lock()
        # the index watches this selector; list() selectors narrow it further
        from argo_papermill.contract import LABEL_MANAGED_BY, MANAGED_BY

        self.base_selector = label_selector or f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        self._index = MetadataIndex(self._relist_metadata, self._watch_metadata,
                                    use_watch=settings.list_cache == "watch")
        self._pages = PageReader(self.get, on_missing=self._index.remove)  # a name gone since the index saw it

    # ---- connection (lazy)
    @property
    def namespace(self) -> str:
        if self._namespace is None:
            self._namespace = self._discover_namespace()
        return self._namespace

    def _kubeconfig_path(self) -> str | None:
        if self.settings.kubeconfig:
            return os.path.expanduser(self.settings.kubeconfig)
        env = os.environ.get("KUBECONFIG")
        if env and any(env.split(os.pathsep)):
            return env  # the client merges a path list as kubectl does
        default = Path("~/.kube/config").expanduser()
        return str(default) if default.exists() else None

    def _mode(self) -> str:
        if self.settings.server:
            return "explicit"
        if self._kubeconfig_path():
            return "kubeconfig"
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return "incluster"
        return "none"

    def _discover_namespace(self) -> str:
        mode = self._mode()
        if mode == "kubeconfig":
            try:
                from kubernetes import config as kconfig

                contexts, current = kconfig.list_kube_config_contexts(self._kubeconfig_path())
                chosen = next((c for c in contexts if c["name"] == self.settings.context), current) \
                    if self.settings.context else current
                ns = (chosen or {}).get("context", {}).get("namespace")
                if ns:
                    return ns
            except Exception as exc:  # noqa: BLE001
                LOGGER.warning("cannot read the namespace from the kubeconfig: %s", exc)
        sa_ns = self.service_account_dir / "namespace"
        if mode in ("incluster", "explicit") and sa_ns.exists():
            return sa_ns.read_text().strip()
        return "default"

    def _client(self):
        with self._lock:
            if self._api_client is None:
                self._api_client = self._build_client()
            return self._api_client

    def _build_client(self):
        from kubernetes import client
        from kubernetes import config as kconfig

        cfg = client.Configuration()
        mode = self._mode()
        s = self.settings
        try:
            if mode == "explicit":
                cfg.host = s.server
                token_file = s.token_file
                if s.token:
                    cfg.api_key = {"authorization": s.token}
                    cfg.api_key_prefix = {"authorization": "Bearer"}
                elif token_file:
                    def refresh(conf, path=token_file):
                        conf.api_key = {"authorization": Path(path).read_text().strip()}
                        conf.api_key_prefix = {"authorization": "Bearer"}
                    refresh(cfg)
                    cfg.refresh_api_key_hook = refresh
            elif mode == "kubeconfig":
                kconfig.load_kube_config(config_file=self._kubeconfig_path(), context=s.context,
                                         client_configuration=cfg, persist_config=False)
            elif mode == "incluster":  # what load_incluster_config does, from service_account_dir
                from kubernetes.config.incluster_config import InClusterConfigLoader

                InClusterConfigLoader(token_filename=str(self.service_account_dir / "token"),
                                      cert_filename=str(self.service_account_dir / "ca.crt"),
                                      try_refresh_token=True).load_and_set(cfg)  # re-reads the rotating token
            else:
                raise Unavailable("no Kubernetes configuration found: set server.manager.kubernetes.server, "
                                  "a kubeconfig, or run in a cluster")
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(f"cannot load the Kubernetes configuration: {_short(exc)}") from None
        if mode == "explicit":
            cfg.verify_ssl = s.verify_ssl
            if s.ca_cert:
                cfg.ssl_ca_cert = s.ca_cert
        cfg.retries = False  # a down API answers 503 now, not after urllib3's retries
        return client.ApiClient(cfg)

    def _api(self):
        from kubernetes import client

        return client.CustomObjectsApi(self._client())

    def _call(self, verb: str, fn: Callable[[], Any], resource: str = RESOURCE) -> Any:
        """``fn()`` with client errors as BackendErrors; reads (get, list) retried while Unavailable."""
        def once() -> Any:
            try:
                return fn()
            except BackendError:
                raise
            except Exception as exc:  # noqa: BLE001 - every client failure becomes a BackendError
                raise translate_api_error(exc, verb, self.namespace, resource) from None

        return retry_read(once) if verb in READ_VERBS else once()

    # ---- WorkflowBackend
    def create(self, workflow: dict) -> dict:
        workflow = dict(workflow)
        workflow["metadata"] = {**workflow.get("metadata", {}), "namespace": self.namespace}
        created = self._call("create", lambda: self._api().create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, workflow, _request_timeout=self.request_timeout))
        if not isinstance(created, dict):  # a 200 instead of 201 yields None with client >= 37
            created = self.get(workflow["metadata"]["name"])
        self._index.upsert(created["metadata"])
        return created

    def get(self, name: str) -> dict:
        wf = self._call("get", lambda: self._api().get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self.request_timeout))
        return decode_compressed_nodes(wf)

    def list(self, label_selector: str, *, limit: int | None = None, offset: int = 0,
             phases: frozenset[str] | None = None) -> Page:
        extra = label_selector if label_selector and label_selector != self.base_selector else ""
        matched = self._call("list", lambda: self._index.matching(extra, phases))
        window = matched[offset: None if limit is None else offset + limit]
        return Page(items=self._pages.read(m["name"] for m in window), total=len(matched))

    def patch(self, name: str, patch: dict) -> dict:
        """Merge patch; ``metadata.resourceVersion`` in the patch is a precondition (409 -> Conflict)."""
        wf = self._call("patch", lambda: self._api().patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, patch, _request_timeout=self.request_timeout))
        self._index.upsert(wf["metadata"])
        return decode_compressed_nodes(wf)

    def delete(self, name: str) -> None:
        self._call("delete", lambda: self._api().delete_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, propagation_policy="Background",
            _request_timeout=self.request_timeout))
        self._index.remove(name)

    def logs(self, name: str) -> Iterator[str]:
        from kubernetes import client

        core = client.CoreV1Api(self._client())
        pods = self._call("list", lambda: core.list_namespaced_pod(
            self.namespace, label_selector=f"workflows.argoproj.io/workflow={name}",
            _request_timeout=self.request_timeout), resource="pods")
        for pod in sorted(pods.items, key=lambda p: str(p.metadata.creation_timestamp or "")):
            for container in pod.spec.containers:
                if container.name in ARGO_CONTAINERS:  # Argo's own: init, wait, v4.1's supervisor
                    continue
                text = self._call("get", lambda c=container.name, p=pod.metadata.name: core.read_namespaced_pod_log(
                    p, self.namespace, container=c, _request_timeout=self.request_timeout), resource="pods/log")
                for line in (text or "").splitlines():
                    yield f"[{container.name}] {line}"

    def list_secret_metadata(self) -> list[dict]:
        """Names and labels of the namespace's Secrets, asked for as PartialObjectMetadata so the API never
        sends their data; annotations are dropped too (kubectl's last-applied-configuration holds the data)."""
        from kubernetes import client

        core = client.CoreV1Api(self._client())
        return [{"metadata": {"name": m.get("name"), "labels": m.get("labels") or {}}} for m in self._metadata_pages(
            lambda token: core.list_namespaced_secret(
                self.namespace, limit=LIST_CHUNK, _continue=token, _headers={"Accept": ACCEPT_METADATA_LIST},
                _preload_content=False, _request_timeout=self.request_timeout),
            verb="list", resource="secrets")[0]]

    def get_workflow_template(self, name: str) -> dict:
        return self._call("get", lambda: self._api().get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, TEMPLATE_PLURAL, name, _request_timeout=self.request_timeout),
            resource=f"{TEMPLATE_PLURAL}.{GROUP}")

    def close(self) -> None:
        self._index.close()
        self._pages.close()

    # ---- metadata list / watch used by the index
    def _relist_metadata(self) -> tuple[list[dict], str]:
        return self._metadata_pages(lambda token: self._api().list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, label_selector=self.base_selector, limit=LIST_CHUNK,
            _continue=token, _headers={"Accept": ACCEPT_METADATA_LIST}, _preload_content=False,
            _request_timeout=self.request_timeout))

    def _metadata_pages(self, list_page: Callable[[str | None], Any], verb: str | None = None,
                        resource: str = RESOURCE) -> tuple[list[dict], str]:
        """Every item's metadata of a chunked PartialObjectMetadataList, and its resourceVersion.

        ``verb`` given: client errors become BackendErrors naming ``verb resource``."""
        metas: list[dict] = []
        token = None
        rv = ""
        while True:
            resp = self._call(verb, lambda t=token: list_page(t), resource=resource) if verb else list_page(token)
            body = json.loads(resp.data)
            metas.extend(item.get("metadata", {}) for item in body.get("items") or [])
            rv = body.get("metadata", {}).get("resourceVersion", rv)
            token = body.get("metadata", {}).get("continue")
            if not token:
                return metas, rv

    def _watch_metadata(self, resource_version: str) -> Iterator[dict]:
        resp = self._api().list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, label_selector=self.base_selector, watch=True,
            resource_version=resource_version, allow_watch_bookmarks=True, timeout_seconds=300,
            _headers={"Accept": ACCEPT_METADATA}, _preload_content=False,
            _request_timeout=(self.request_timeout, 330))
        try:
            buf = b""
            for chunk in resp.stream(None, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()
