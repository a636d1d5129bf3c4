"""``backend: local``: Workflows stored in SQLite and run by the embedded engine.

The constructor does no work at all (pygeoapi builds managers in every worker and in
``pygeoapi openapi generate``). The store is opened on first use, and the engine
(``argo_papermill.engine``) is started then in whichever process obtains the data
folder's lock; other processes only read and write the store.
"""

from __future__ import annotations

import copy
import re
import shutil
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from argo_papermill.backends.base import AlreadyExists, Conflict, NotFound, Page, Rejected
from argo_papermill.errors import ConfigurationError
from argo_papermill.selectors import matches, parse_selector

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
DEFAULT_DATA_DIR = ".argo-papermill"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class LocalBackend:
    """WorkflowBackend over the embedded engine's store (see ``argo_papermill.backends.base``)."""

    def __init__(
        self,
        data_dir: str | Path = DEFAULT_DATA_DIR,
        home: str | Path | None = None,
        max_parallel: int = 4,
        secrets_dir: str | Path | None = None,
        claims: dict[str, str] | None = None,
        template_dirs: list[str] | None = None,
        namespace: str = "local",
        grace_seconds: float = 5.0,
        poll_seconds: float = 0.1,
        sandbox: str = "auto",
        start_engine: bool = True,
        **unknown: Any,
    ):
        if unknown:
            raise ConfigurationError(
                f"server.manager.local: unknown key(s) {sorted(unknown)}; known: data_dir, home, max_parallel, "
                "secrets_dir, claims, template_dirs, namespace, grace_seconds, poll_seconds, sandbox"
            )
        if sandbox not in ("auto", "bwrap", "unshare", "none"):
            raise ConfigurationError("server.manager.local.sandbox: must be auto, bwrap, unshare or none")
        try:
            max_parallel = int(max_parallel)
        except (TypeError, ValueError):
            raise ConfigurationError("server.manager.local.max_parallel: must be an integer") from None
        if max_parallel < 1:
            raise ConfigurationError("server.manager.local.max_parallel: must be >= 1")
        self.namespace = namespace
        self._settings = dict(
            data_dir=Path(data_dir), home=Path(home) if home else None, max_parallel=max_parallel,
            secrets_dir=secrets_dir, claims=dict(claims or {}), template_dirs=list(template_dirs or []),
            namespace=namespace, grace_seconds=float(grace_seconds), poll_seconds=float(poll_seconds),
            sandbox=sandbox,
        )
        self._start_engine = start_engine
        self._cfg = None
        self._store = None
        self._engine = None
        self._lock = threading.Lock()

    # --- lazy start ---------------------------------------------------------------------------------
    @property
    def config(self):
        from argo_papermill.engine.config import EngineConfig

        if self._cfg is None:
            settings = dict(self._settings)
            if settings["home"] is None:
                settings["home"] = Path.cwd()
            self._cfg = EngineConfig(**settings)
        return self._cfg

    @property
    def store(self):
        """Open the store and, in the process that gets the lock, start the engine."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from argo_papermill.engine.store import Store

                    self._store = Store(self.config.data_dir)
                    self._ensure_engine()
        elif self._engine is None:
            self._ensure_engine()
        return self._store

    def _ensure_engine(self) -> None:
        """Try to become the engine (cheap; retried at most every 2 s, so a dead engine's lock is taken over)."""
        import time

        if not self._start_engine or self._engine is not None:
            return
        now = time.monotonic()
        if now - getattr(self, "_last_try", -10.0) < 2.0:
            return
        self._last_try = now
        from argo_papermill.engine.service import Engine

        self._engine = Engine.acquire(self.config)

    def close(self) -> None:
        """Stop this process's engine (tests); a server just exits and its pods die with it."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # --- WorkflowBackend ------------------------------------------------------------------------------
    def create(self, workflow: dict) -> dict:
        from argo_papermill.engine.validate import UnsupportedField, check_workflow

        if not isinstance(workflow, dict) or workflow.get("kind", "Workflow") != "Workflow":
            raise Rejected("the local backend only accepts objects of kind Workflow")
        metadata = copy.deepcopy(workflow.get("metadata") or {})
        name = metadata.get("name")
        if not name and metadata.get("generateName"):
            name = metadata["generateName"] + uuid.uuid4().hex[:5]
        if not name or not _NAME_RE.match(name):
            raise Rejected(f"metadata.name: {name!r} is not a valid Kubernetes object name")
        spec = copy.deepcopy(workflow.get("spec") or {})
        try:
            check_workflow({"spec": spec})
            if spec.get("workflowTemplateRef"):
                self._check_template_ref(spec)
        except UnsupportedField as err:
            raise Rejected(f"Workflow.argoproj.io \"{name}\" is invalid: {err}") from None
        metadata.update(
            name=name, namespace=self.namespace, uid=str(uuid.uuid4()),
            creationTimestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        metadata.pop("generateName", None)
        metadata.pop("resourceVersion", None)
        if not self.store.insert(name, metadata, spec):
            raise AlreadyExists(f'workflows.argoproj.io "{name}" already exists')
        if self._engine is not None:
            self._engine.wake()
        return self.get(name)

    def _check_template_ref(self, spec: dict) -> None:
        from argo_papermill.engine.templates import TemplateLibrary, TemplateNotFound, join_spec
        from argo_papermill.engine.validate import UnsupportedField, check_template_spec

        try:
            wft = TemplateLibrary(self.config.template_dirs).get(spec["workflowTemplateRef"]["name"])
        except TemplateNotFound as err:
            raise UnsupportedField("spec.workflowTemplateRef.name", f"cannot be resolved: {err}") from None
        check_template_spec(join_spec(spec, wft.get("spec") or {}), "storedWorkflowTemplateSpec")

    def get(self, name: str) -> dict:
        workflow = self.store.get(name)
        if workflow is None:
            raise NotFound(f'workflows.argoproj.io "{name}" not found')
        return workflow

    def list(self, label_selector: str, *, limit: int | None = None, offset: int = 0,
             phases: frozenset[str] | None = None) -> Page:
        try:
            terms = parse_selector(label_selector)
        except ValueError as err:
            raise Rejected(str(err)) from None
        if phases is not None and "" in phases:
            phases = frozenset(phases) | {""}
        items, total = self.store.page(lambda labels: matches(terms, labels), phases, max(0, offset), limit)
        return Page(items=items, total=total)

    def patch(self, name: str, patch: dict) -> dict:
        if not isinstance(patch, dict):
            raise Rejected("a merge patch must be a JSON object")
        current = self.get(name)
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected is not None and str(expected) != current["metadata"].get("resourceVersion"):
            raise Conflict(f'Operation cannot be fulfilled on workflows.argoproj.io "{name}": the object has been '
                           "modified; please apply your changes to the latest version and try again")
        metadata = merge_patch(current["metadata"], patch.get("metadata") or {})
        for key in ("resourceVersion", "name", "namespace", "uid", "creationTimestamp"):
            if key in current["metadata"]:
                metadata[key] = current["metadata"][key]
        labels = dict(metadata.get("labels") or {})
        for key in ("workflows.argoproj.io/phase", "workflows.argoproj.io/completed"):
            labels.pop(key, None)  # kept by the store from the status phase
        metadata["labels"] = labels
        metadata.pop("resourceVersion", None)
        spec = merge_patch(current["spec"], patch["spec"]) if "spec" in patch else current["spec"]
        if spec.get("shutdown") not in (None, "Stop", "Terminate"):
            raise Rejected(f"spec.shutdown: must be Stop or Terminate, not {spec.get('shutdown')!r}")
        if not self.store.update_user_fields(name, metadata, spec, spec != current["spec"]):
            raise NotFound(f'workflows.argoproj.io "{name}" not found')
        if patch.get("status") is not None:  # no status subresource, as with Argo's CRD: status is patchable
            status = merge_patch(current.get("status") or {}, patch["status"])
            nodes = status.pop("nodes", None) or {}
            self.store.write_status(name, status, nodes)
        if self._engine is not None:
            self._engine.wake()
        return self.get(name)

    def delete(self, name: str) -> None:
        if not self.store.delete(name):
            raise NotFound(f'workflows.argoproj.io "{name}" not found')
        if self._engine is not None:
            self._engine.wake()
        data = self.config.data_dir
        for folder in (data / "logs" / name, data / "pods" / name):
            shutil.rmtree(folder, ignore_errors=True)

    def list_secret_metadata(self) -> list[dict]:
        """The local Secrets are the folders ``secrets_dir/<name>/`` (no labels); no value is read."""
        folder = self.config.secrets_dir
        if folder is None or not folder.is_dir():
            return []
        return [{"metadata": {"name": p.name}} for p in sorted(folder.iterdir()) if p.is_dir()]

    def get_workflow_template(self, name: str) -> dict:
        """The WorkflowTemplate of that name from the template folders (YAML), as the engine resolves it."""
        from argo_papermill.engine.templates import TemplateLibrary, TemplateNotFound

        try:
            return TemplateLibrary(self.config.template_dirs).get(name)
        except TemplateNotFound as err:
            raise NotFound(str(err)) from None

    def logs(self, name: str) -> Iterator[str]:
        """Container logs, pod by pod in node start order, each line prefixed like ``argo logs``."""
        workflow = self.get(name)
        folder = self.config.data_dir / "logs" / name
        nodes = sorted(((workflow.get("status") or {}).get("nodes") or {}).values(),
                       key=lambda n: (n.get("startedAt") or "", n.get("name", "")))
        from argo_papermill.engine.ids import pod_name

        seen: list[str] = []
        for node in nodes:
            if node.get("type") != "Pod":
                continue
            template = node.get("templateName") or (node.get("templateRef") or {}).get("template", "")
            seen.append(pod_name(name, node["name"], template))
        if folder.is_dir():
            seen += sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in seen)
        for pod in seen:
            pod_dir = folder / pod
            if not pod_dir.is_dir():
                continue
            logs = sorted(pod_dir.glob("*.log"), key=lambda p: (p.stat().st_mtime, p.name))
            for log in logs:
                if log.name == "sandbox.log" and log.stat().st_size == 0:
                    continue
                container = log.stem
                with open(log, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        yield f"{pod}/{container}: {line.rstrip(chr(10))}"
