"""Workflows through an Argo Server (REST, hera's ``WorkflowsService``).

The Argo Server gives what the Kubernetes API lacks for listing: integer offsets in
``listOptions.continue``, a newest-first order, ``fields`` to leave out the heavy parts,
and (with ``ext.showRemainingItemCount=true`` in the field selector) the count of the
remaining items, so a page is one request. Its list and get also return archived
workflows, so a dismiss deletes the archived copy too.

The bearer token is read per request when it comes from a file (rotating service-account
tokens). Nothing is contacted before the first request.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from argo_papermill.backends.base import (
    AlreadyExists,
    BackendError,
    Forbidden,
    NotFound,
    Page,
    PageReader,
    Rejected,
    Unavailable,
    Unsupported,
    parse_retry_after,
    retry_read,
)
from argo_papermill.contract import LABEL_ARGO_PHASE
from argo_papermill.manager_config import ArgoServerSettings
from argo_papermill.masking import redact_url

LOGGER = logging.getLogger(__name__)

ALL_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Error")
# a page lists names only (and the list's count); the page's workflows are then read with get, so a list entry
# is exactly what get_job shows (list items lack hydrated nodes, and archived ones have no nodes at all)
LIST_FIELDS = "metadata,items.metadata.name"
RESOURCE = "workflows.argoproj.io"
READ_VERBS = frozenset({"get", "list"})  # idempotent: retried while the server is Unavailable
_STATUS_RE = re.compile(r"status code (\d{3})")
_MESSAGE_RE = re.compile(r"with message: `(.*)`", re.DOTALL)


def phase_selector(phases: frozenset[str]) -> str:
    """A label requirement on the controller's phase label; ``""`` (no label yet) via ``notin``."""
    if "" in phases:
        others = sorted(p for p in ALL_PHASES if p not in phases)
        return f"{LABEL_ARGO_PHASE} notin ({','.join(others)})" if others else ""
    return f"{LABEL_ARGO_PHASE} in ({','.join(sorted(phases))})"


class _TimeoutSession(requests.Session):
    """hera passes no timeout; every request through this session gets one."""

    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


def _dump(model: Any) -> dict:
    if isinstance(model, dict):
        return model
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


class ArgoServerBackend:
    """WorkflowBackend on an Argo Server."""

    lists_full_workflows = True  # a page's items are read with get

    def __init__(self, settings: ArgoServerSettings | dict, *, namespace: str | None = None,
                 request_timeout: float = 30.0, metadata_patcher: Any = None, kubernetes: Any = None):
        if not isinstance(settings, ArgoServerSettings):
            settings = ArgoServerSettings.model_validate(settings)
        self.settings = settings
        self.namespace = namespace or "default"
        self.host = settings.url if settings.url.endswith("/") else settings.url + "/"
        self._session = _TimeoutSession(request_timeout)
        self.metadata_patcher = metadata_patcher  # e.g. a KubernetesBackend for annotation patches
        self.kubernetes = kubernetes or metadata_patcher  # a KubernetesBackend for what the Argo API lacks (Secrets)
        self._pages = PageReader(self.get)

    # ---- plumbing
    def _token(self) -> str | None:
        if self.settings.token_file:
            try:
                return Path(self.settings.token_file).read_text().strip()
            except OSError as exc:
                raise Unavailable(f"cannot read argo_server.token_file: {exc.strerror}") from None
        return self.settings.token

    def _svc(self):
        from hera.workflows.service import WorkflowsService

        verify: Any = self.settings.ca_cert if (self.settings.verify_ssl and self.settings.ca_cert) \
            else self.settings.verify_ssl
        return WorkflowsService(host=self.host, token=self._token(), verify_ssl=verify,
                                namespace=self.namespace, session=self._session)

    def _call(self, verb: str, fn: Callable[[Any], Any], resource: str = RESOURCE) -> Any:
        """``fn(service)`` with errors as BackendErrors; reads (get, list) retried while Unavailable."""
        if verb in READ_VERBS:
            return retry_read(lambda: self._call_once(verb, fn, resource))
        return self._call_once(verb, fn, resource)

    def _call_once(self, verb: str, fn: Callable[[Any], Any], resource: str = RESOURCE) -> Any:
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # hera's pydantic .json() deprecation warning per call
                return fn(self._svc())
        except BackendError:
            raise
        except requests.RequestException as exc:
            raise Unavailable(f"Argo Server unreachable at {redact_url(self.settings.url)}: {type(exc).__name__}") from None
        except Exception as exc:  # noqa: BLE001 - hera's exceptions carry the status only in the text
            raise self._translate(exc, verb, resource) from None

    def _translate(self, exc: Exception, verb: str, resource: str) -> BackendError:
        text = str(exc)
        m = _STATUS_RE.search(text)
        code = int(m.group(1)) if m else 0
        mm = _MESSAGE_RE.search(text)
        message = (mm.group(1) if mm else text)[:500] or type(exc).__name__
        if code in (401, 403):
            what = "not authenticated" if code == 401 else "forbidden"
            return Forbidden(f"Argo Server: {what}; the token needs permission '{verb} {resource}' in namespace "
                             f"'{self.namespace}' ({message})")
        if code == 404:
            return NotFound(message)
        if code == 409:
            return AlreadyExists(message)
        if 400 <= code < 500 and code != 429:
            return Rejected(f"Argo Server rejected the request ({code}): {message}")
        if code:
            return Unavailable(f"Argo Server unavailable ({code}): {message}", transient=code != 501)
        return Unavailable(f"unexpected answer from the Argo Server: {type(exc).__name__}")

    # ---- WorkflowBackend
    def create(self, workflow: dict) -> dict:
        from hera.workflows.models import Workflow, WorkflowCreateRequest

        body = dict(workflow)
        body["metadata"] = {**workflow.get("metadata", {}), "namespace": self.namespace}
        try:
            req = WorkflowCreateRequest(namespace=self.namespace, workflow=Workflow.model_validate(body))
        except ValueError as exc:  # pydantic's ValidationError: the manifest does not fit Argo's schema
            raise Rejected(f"the workflow manifest is invalid: {str(exc)[:500]}") from None
        return _dump(self._call("create", lambda s: s.create_workflow(req, namespace=self.namespace)))

    def get(self, name: str) -> dict:
        return _dump(self._call("get", lambda s: s.get_workflow(name, namespace=self.namespace)))

    def list(self, label_selector: str, *, limit: int | None = None, offset: int = 0,
             phases: frozenset[str] | None = None) -> Page:
        """One list request for the page's names and the count (offsets, newest first), then a get per item."""
        if phases is not None and not phases:
            return Page(items=[], total=0)
        selector = ",".join(p for p in (label_selector, phase_selector(phases) if phases is not None else "") if p)
        params = {"listOptions.fieldSelector": "ext.showRemainingItemCount=true", "fields": LIST_FIELDS}
        if selector:
            params["listOptions.labelSelector"] = selector
        if limit:
            params["listOptions.limit"] = str(limit)
        if offset:
            params["listOptions.continue"] = str(offset)
        data = self._get_json(f"api/v1/workflows/{self.namespace}", "list", RESOURCE, params)
        names = [(w.get("metadata") or {}).get("name") for w in data.get("items") or []]
        meta = data.get("metadata") or {}
        remaining = meta.get("remainingItemCount")
        total = offset + len(names) + int(remaining or 0)
        if remaining is None and meta.get("continue"):  # an older server without the count: at least one more
            total += 1
        return Page(items=self._pages.read(n for n in names if n), total=total)

    def patch(self, name: str, patch: dict) -> dict:
        """``spec.shutdown`` goes through the stop/terminate endpoints; metadata needs a Kubernetes patcher."""
        from hera.workflows.models import WorkflowStopRequest, WorkflowTerminateRequest

        patch = json.loads(json.dumps(patch))
        spec = patch.pop("spec", None) or {}
        shutdown = spec.pop("shutdown", None)
        if spec:
            raise Rejected(f"the Argo Server API cannot patch spec fields {sorted(spec)}")
        result: dict | None = None
        if patch:
            if self.metadata_patcher is None:
                raise Rejected("the Argo Server API cannot change workflow metadata; configure a Kubernetes "
                               "connection for annotations")
            result = self.metadata_patcher.patch(name, patch)
        if shutdown == "Stop":
            result = _dump(self._call("stop", lambda s: s.stop_workflow(
                name, WorkflowStopRequest(name=name, namespace=self.namespace), namespace=self.namespace)))
        elif shutdown == "Terminate":
            result = _dump(self._call("terminate", lambda s: s.terminate_workflow(
                name, WorkflowTerminateRequest(name=name, namespace=self.namespace), namespace=self.namespace)))
        return result if result is not None else self.get(name)

    def delete(self, name: str) -> None:
        """Delete the live workflow and every archived copy of that name; NotFound if neither existed."""
        found = False
        try:
            self._call("delete", lambda s: s.delete_workflow(name, namespace=self.namespace))
            found = True
        except NotFound:
            pass
        for uid in self._archived_uids(name):
            try:
                self._call("delete", lambda s, u=uid: s.delete_archived_workflow(u, namespace=self.namespace),
                           resource="archived workflows")
                found = True
            except NotFound:
                pass
        if not found:
            raise NotFound(f'workflows.argoproj.io "{name}" not found')

    def _archived_uids(self, name: str) -> list[str]:
        try:
            data = _dump(self._call("list", lambda s: s.list_archived_workflows(
                namespace=self.namespace, name_prefix=name), resource="archived workflows"))
        except (NotFound, Rejected):  # archive not configured: the server answers 404/400/501
            return []
        except Unavailable as exc:
            if "(501)" in exc.reason:
                return []
            raise
        return [i["metadata"]["uid"] for i in data.get("items") or []
                if i.get("metadata", {}).get("name") == name and i["metadata"].get("uid")]

    def logs(self, name: str) -> Iterator[str]:
        """Workflow logs as NDJSON LogEntry lines (hera's own ``workflow_logs`` cannot parse the stream)."""
        resp = self._get(f"api/v1/workflows/{self.namespace}/{name}/log", "get", "pods/log",
                         params={"logOptions.container": "papermill"}, stream=True)
        with resp:
            for line in resp.iter_lines():
                if not line:
                    continue
                msg = json.loads(line)
                if msg.get("error"):
                    raise Unavailable(str(msg["error"].get("message", "log stream error")))
                result = msg.get("result") or {}
                yield str(result.get("content", ""))

    def get_workflow_template(self, name: str) -> dict:
        """The WorkflowTemplate as the server stores it (raw JSON: a model round trip could change the spec)."""
        return self._get_json(f"api/v1/workflow-templates/{self.namespace}/{name}", "get",
                              "workflowtemplates.argoproj.io")

    def list_secret_metadata(self) -> list[dict]:
        """The Argo Server API has no Secrets: only through the ``kubernetes:`` block."""
        if self.kubernetes is None:
            raise Unsupported("auto_mount_secrets needs Kubernetes access to list the namespace's Secrets, which the "
                              "Argo Server API does not offer: configure server.manager.kubernetes (`kubernetes: {}` "
                              "uses the in-cluster service account) with permission 'list secrets'")
        return self.kubernetes.list_secret_metadata()

    def close(self) -> None:
        self._pages.close()

    def _get_json(self, path: str, verb: str, resource: str, params: dict | None = None) -> dict:
        """GET ``path`` and decode its JSON object; errors as BackendErrors."""
        with self._get(path, verb, resource, params=params) as resp:
            try:
                data = resp.json()
            except ValueError:
                raise Unavailable("unexpected answer from the Argo Server: not JSON") from None
        if not isinstance(data, dict):
            raise Unavailable("unexpected answer from the Argo Server: not a JSON object")
        return data

    def _get(self, path: str, verb: str, resource: str, params: dict | None = None,
             stream: bool = False) -> requests.Response:
        """GET on the server's REST API with the bearer token, retried while Unavailable; errors as
        BackendErrors; the caller closes."""
        return retry_read(lambda: self._get_once(path, verb, resource, params, stream))

    def _get_once(self, path: str, verb: str, resource: str, params: dict | None = None,
                  stream: bool = False) -> requests.Response:
        token = self._token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: Any = self.settings.ca_cert if (self.settings.verify_ssl and self.settings.ca_cert) \
            else self.settings.verify_ssl
        try:
            resp = self._session.get(urljoin(self.host, path), params=params, headers=headers, verify=verify,
                                     stream=stream)
        except requests.RequestException as exc:
            raise Unavailable(f"Argo Server unreachable at {redact_url(self.settings.url)}: {type(exc).__name__}") from None
        if resp.ok:
            return resp
        with resp:
            try:
                message = str(resp.json().get("message") or resp.reason)
            except ValueError:
                message = resp.reason or ""
        error = self._translate(RuntimeError(f"status code {resp.status_code} with message: `{message}`"),
                                verb, resource)
        if isinstance(error, Unavailable):
            error.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise error
