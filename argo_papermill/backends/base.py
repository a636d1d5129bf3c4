"""The one small interface every backend implements.

A backend stores and runs Workflow objects; it knows nothing about pygeoapi.
All objects are plain dicts shaped like the Kubernetes API returns them.
Errors are the ``BackendError`` subclasses below, never a client library's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")

PAGE_READERS = 8  # threads that read one page's workflows concurrently
READ_ATTEMPTS = 3  # a read (get, list) is tried this often while the API is Unavailable
READ_BACKOFF = 0.2  # seconds before the 2nd try, doubled per try
READ_BACKOFF_MAX = 2.0  # the longest wait, also for a server's Retry-After


class BackendError(Exception):
    """Base of all backend errors; ``reason`` is safe to show to a client."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotFound(BackendError):
    pass


class AlreadyExists(BackendError):
    pass


class Conflict(BackendError):
    """409 on an update: the object changed since it was read (a ``resourceVersion`` precondition failed)."""


class Rejected(BackendError):
    """The API refused the object (4xx other than 401/403/404/409)."""


class Forbidden(BackendError):
    """401/403: the reason names the verb and resource that is missing."""


class Unavailable(BackendError):
    """Connection refused, timeout, 429 or 5xx; ``retry_after``: seconds the server asked to wait."""

    def __init__(self, reason: str, retry_after: float | None = None, transient: bool = True):
        super().__init__(reason)
        self.retry_after = retry_after
        self.transient = transient  # False: trying again cannot help (e.g. 501 Not Implemented)


class Unsupported(BackendError):
    """The backend, as configured, cannot do this (e.g. list Secrets through an Argo Server alone)."""


@dataclass(frozen=True)
class Page:
    """One page of workflows, newest first, and the number of all that matched."""

    items: list[dict]
    total: int


class WorkflowBackend(Protocol):
    """CRUD on Workflow objects in one namespace (or one local data folder)."""

    namespace: str
    # True when ``list`` items are the full Workflows ``get`` returns; otherwise ``full_items`` reads them again
    lists_full_workflows: bool

    def create(self, workflow: dict) -> dict:
        """Create the Workflow; AlreadyExists if the name is taken."""

    def get(self, name: str) -> dict:
        """The full Workflow (nodes decoded where the backend can); NotFound if absent."""

    def list(
        self,
        label_selector: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        phases: frozenset[str] | None = None,
    ) -> Page:
        """Workflows matching the selector (and Argo phases, if given), newest first.

        With ``lists_full_workflows`` the items are the full Workflows as ``get`` returns them (nodes,
        spec), so a list entry maps to exactly the job ``get_job`` shows; a page must not cost reading
        every workflow in full.
        """

    def patch(self, name: str, patch: dict) -> dict:
        """JSON merge patch (RFC 7386) on the Workflow, e.g. annotations or spec.shutdown."""

    def delete(self, name: str) -> None:
        """Delete the Workflow (and an archived copy where there is one); NotFound if absent."""

    def logs(self, name: str) -> Iterator[str]:
        """Log lines of the workflow's containers, oldest first."""

    def list_secret_metadata(self) -> list[dict]:
        """``[{"metadata": {name, labels, ...}}]`` of the namespace's Secrets, never their data.

        For ``auto_mount_secrets`` (which selects by name and label); Unsupported where the backend
        has no way to list Secrets."""

    def get_workflow_template(self, name: str) -> dict:
        """The installed WorkflowTemplate ``name`` (for ``use_workflow_template``); NotFound if absent."""


def retry_read(fn: Callable[[], T], attempts: int = READ_ATTEMPTS) -> T:
    """``fn()`` (a read: idempotent), tried again while it raises ``Unavailable`` (5xx, 429, timeout,
    dropped connection), ``attempts`` times in all, waiting ``READ_BACKOFF`` doubled per try, or the
    server's ``Retry-After``, never longer than ``READ_BACKOFF_MAX``; then the last error. Writes are never
    retried here (the manager retries a create, which is idempotent by name)."""
    for attempt in range(attempts):
        try:
            return fn()
        except Unavailable as exc:
            if attempt == attempts - 1 or not exc.transient:
                raise
            wait = exc.retry_after if exc.retry_after is not None else READ_BACKOFF * 2 ** attempt
            time.sleep(max(0.0, min(wait, READ_BACKOFF_MAX)))
    raise AssertionError("unreachable")  # pragma: no cover


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of an HTTP ``Retry-After`` (delta-seconds only; a date is ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except (TypeError, ValueError):
        return None


def full_items(backend: WorkflowBackend, items: list[dict]) -> list[dict]:
    """A page's items as ``get`` returns them: read again unless the backend lists full Workflows
    (a list item without nodes maps to another message and progress than ``get_job`` shows)."""
    if getattr(backend, "lists_full_workflows", False):
        return items
    full = []
    for item in items:
        try:
            full.append(backend.get(item["metadata"]["name"]))
        except NotFound:  # deleted since it was listed
            continue
    return [wf for wf in full if not (wf.get("metadata") or {}).get("deletionTimestamp")]


class PageReader:
    """Reads one page's workflows with ``get`` on a few threads (one round trip instead of ten).

    A workflow deleted since it was listed (NotFound) or being deleted is left out."""

    def __init__(self, get: Callable[[str], dict], on_missing: Callable[[str], None] | None = None):
        self._get, self._on_missing = get, on_missing
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def read(self, names: Iterable[str]) -> list[dict]:
        names = list(names)
        fetched = self._pool().map(self._get_or_none, names) if len(names) > 1 else map(self._get_or_none, names)
        return [wf for wf in fetched if wf is not None and not (wf.get("metadata") or {}).get("deletionTimestamp")]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def _get_or_none(self, name: str) -> dict | None:
        try:
            return self._get(name)
        except NotFound:
            if self._on_missing is not None:
                self._on_missing(name)
            return None

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=PAGE_READERS, thread_name_prefix="argo-papermill-get")
            return self._executor
