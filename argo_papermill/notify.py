"""Subscriber callbacks (OGC ``successUri`` / ``inProgressUri`` / ``failedUri``), at least once, never twice.

The record of what was delivered lives on the Workflow, not in this process: annotation
``pygeoapi.io/notified-<state>`` (a timestamp) once the receiver answered 2xx. Before
sending, a process *claims* the state with annotation ``pygeoapi.io/notifying-<state>``
in a patch that carries the Workflow's ``resourceVersion`` as a precondition, so of
several server processes (WSGI workers, replicas) exactly one wins; a claim older than
its lease is taken over (the claimant died), which is where "at least once" comes from.
Jobs still owing a callback carry label ``pygeoapi.io/notify=pending``, so the notifier
lists only those; a restarted server picks them up again.

Sending happens on background threads with per-attempt timeouts, retries and exponential
backoff, never inside a request. pygeoapi's rule is kept: a URI that resolves to a private
address is refused unless the process has ``allow_internal_requests: true``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests

from argo_papermill.backends.base import BackendError, Conflict, NotFound, Rejected, full_items
from argo_papermill.contract import (
    ANNOTATION_NOTIFIED_PREFIX,
    ANNOTATION_NOTIFYING_PREFIX,
    ANNOTATION_SUBSCRIBER,
    DATETIME_FORMAT,
    LABEL_MANAGED_BY,
    LABEL_NOTIFY,
    MANAGED_BY,
    NOTIFY_DONE,
    NOTIFY_PENDING,
)
from argo_papermill.manager_config import CallbackSettings
from argo_papermill.masking import redact_url

if TYPE_CHECKING:
    from argo_papermill.backends.base import WorkflowBackend

LOGGER = logging.getLogger(__name__)

URI_KEYS = {"running": "inProgressUri", "successful": "successUri", "failed": "failedUri"}
FINAL = {"successful", "failed", "dismissed"}


def subscriber_annotation(subscriber: Any) -> str | None:
    """JSON of a pygeoapi ``Subscriber`` (or a dict with the OGC keys); None when there is no URI."""
    if subscriber is None:
        return None
    if isinstance(subscriber, dict):
        uris = {k: subscriber.get(k) for k in URI_KEYS.values()}
    else:
        uris = {"successUri": subscriber.success_uri, "inProgressUri": subscriber.in_progress_uri,
                "failedUri": subscriber.failed_uri}
    uris = {k: v for k, v in uris.items() if v}
    return json.dumps(uris, sort_keys=True) if uris else None


def parse_subscriber(workflow: dict) -> dict[str, str]:
    raw = ((workflow.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SUBSCRIBER)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if k in URI_KEYS.values() and isinstance(v, str)} \
        if isinstance(value, dict) else {}


def due_states(status: str, subscriber: dict[str, str]) -> list[str]:
    """States owed a callback for a job now in ``status``, in the order they happened."""
    due = []
    if status in ("running", "successful", "failed") and subscriber.get("inProgressUri"):
        due.append("running")
    if status in ("successful", "failed") and subscriber.get(URI_KEYS[status]):
        due.append(status)
    return due


def payload(job: dict, state: str) -> dict:
    """What a receiver gets: enough to name the job and the state and to de-duplicate."""
    return {
        "jobID": job.get("identifier"),
        "processID": job.get("process_id"),
        "status": state,
        "message": job.get("message"),
        "progress": job.get("progress"),
        "created": job.get("created"),
        "started": job.get("started"),
        "finished": job.get("finished"),
        "updated": job.get("updated"),
        "notificationID": f"{job.get('identifier')}:{state}",
    }


def _now() -> str:
    return datetime.now(UTC).strftime(DATETIME_FORMAT)


class _Refused(Exception):
    pass


_CLAIMED, _LOST, _LOCAL = object(), object(), object()  # outcomes of Notifier._claim
MAX_OUTPUTS_BYTES = 65536  # a successful callback carries a JSON result up to this size


_STARTED: "weakref.WeakSet[Notifier]" = weakref.WeakSet()


@atexit.register
def stop_all_notifiers() -> None:
    """Daemon threads outlive atexit: stop the notifiers so they do not poll (and log) during shutdown."""
    for notifier in list(_STARTED):
        notifier.stop()


class Notifier:
    """Background delivery of subscriber callbacks for one manager."""

    def __init__(self, backend_fn: Callable[[], WorkflowBackend], job_fn: Callable[[dict], dict],
                 allow_internal_fn: Callable[[str], bool], settings: CallbackSettings,
                 result_fn: Callable[[str], Any] | None = None):
        self._backend_fn = backend_fn
        self._job_fn = job_fn
        self._allow_internal = allow_internal_fn
        self.settings = settings
        self._result_fn = result_fn
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="argo-papermill-callback")
        self._in_flight: set[str] = set()
        self._retry_at: dict[tuple[str, str], float] = {}
        self._local_done: set[tuple[str, str]] = set()  # where the backend cannot store annotations
        self._lock = threading.Lock()

    # ---- lifecycle
    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="argo-papermill-notifier", daemon=True)
                self._thread.start()
                _STARTED.add(self)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except BackendError as exc:
                if not self._stop.is_set():  # an API gone away at shutdown is no news
                    LOGGER.warning("callbacks: cannot list jobs with pending callbacks: %s", exc.reason)
            except Exception:  # the notifier must survive anything
                LOGGER.exception("callbacks: unexpected error")
            self._wake.wait(self.settings.poll_interval)
            self._wake.clear()

    # ---- one round
    def run_once(self) -> None:
        backend = self._backend_fn()
        page = backend.list(f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_NOTIFY}={NOTIFY_PENDING}")
        for wf in full_items(backend, page.items):
            self.consider(wf)

    def consider(self, wf: dict) -> None:
        """Queue the callbacks this workflow still owes; mark it done when none are left."""
        name = wf["metadata"]["name"]
        subscriber = parse_subscriber(wf)
        job = self._job_fn(wf)
        status = job["status"]
        annotations = wf["metadata"].get("annotations") or {}
        owed = [s for s in due_states(status, subscriber)
                if not annotations.get(ANNOTATION_NOTIFIED_PREFIX + s) and (name, s) not in self._local_done]
        if not owed:
            if status in FINAL:
                self._mark_done(name)
            return
        with self._lock:  # one delivery chain per workflow at a time in this process
            if name in self._in_flight or self._retry_at.get((name, owed[0]), 0) > time.monotonic():
                return
            self._in_flight.add(name)
        self._pool.submit(self._deliver_chain, name, owed)

    def _mark_done(self, name: str) -> None:
        try:
            self._backend_fn().patch(name, {"metadata": {"labels": {LABEL_NOTIFY: NOTIFY_DONE}}})
        except (NotFound, Rejected):
            pass
        except BackendError as exc:
            LOGGER.info("callbacks: cannot mark %s done: %s", name, exc.reason)

    # ---- delivery
    def _deliver_chain(self, name: str, states: list[str]) -> None:
        try:
            for state in states:
                if not self._deliver(name, state):
                    return
        except BackendError as exc:  # e.g. no patch permission: say so, try again later
            LOGGER.warning("callbacks: cannot record the %s callback of %s: %s", states[0], name, exc.reason)
            self._retry_at[(name, states[0])] = time.monotonic() + self.settings.backoff_max
        except Exception:  # a pool thread must not die silently
            LOGGER.exception("callbacks: unexpected error for %s", name)
            self._retry_at[(name, states[0])] = time.monotonic() + self.settings.backoff_max
        finally:
            with self._lock:
                self._in_flight.discard(name)
            self.wake()

    def _lease(self) -> float:
        s = self.settings
        return (s.retries + 1) * s.timeout + sum(min(s.backoff * 2 ** i, s.backoff_max) for i in range(s.retries)) + 30

    def _deliver(self, name: str, state: str) -> bool:
        """Claim, send, record. True when the state is (now or already) delivered."""
        backend = self._backend_fn()
        try:
            wf = backend.get(name)
        except NotFound:
            return False
        annotations = wf["metadata"].get("annotations") or {}
        if annotations.get(ANNOTATION_NOTIFIED_PREFIX + state):
            return True
        if self._claimed_elsewhere(annotations.get(ANNOTATION_NOTIFYING_PREFIX + state)):
            return False
        claim = self._claim(backend, wf, state)
        if claim is _LOST:
            return False
        job = self._job_fn(wf)
        uri = parse_subscriber(wf).get(URI_KEYS[state])
        if not uri:
            return True
        try:
            ok = self._send(uri, self._body(job, state), job.get("process_id") or "")
        except _Refused:
            self._local_done.add((name, state))  # permanent: never retried by this process
            ok = False
        if ok:
            self._record(backend, name, state, local=claim is _LOCAL)
            return True
        self._retry_at[(name, state)] = time.monotonic() + self.settings.backoff_max
        if claim is _CLAIMED:
            try:
                backend.patch(name, {"metadata": {"annotations": {ANNOTATION_NOTIFYING_PREFIX + state: None}}})
            except BackendError:
                pass
        return False

    def _claimed_elsewhere(self, claim: str | None) -> bool:
        """Whether another process holds a claim younger than its lease."""
        if not claim:
            return False
        owner, _, since = claim.rpartition(" ")
        try:
            fresh = time.time() - float(since) < self._lease()
        except ValueError:
            return False
        return fresh and owner != self.owner

    def _claim(self, backend: WorkflowBackend, wf: dict, state: str) -> object:
        """Annotate the claim with the read ``resourceVersion`` as precondition: _CLAIMED, _LOST (changed
        meanwhile, maybe claimed elsewhere) or _LOCAL (the backend cannot store annotations)."""
        try:
            backend.patch(wf["metadata"]["name"], {"metadata": {
                "resourceVersion": wf["metadata"].get("resourceVersion"),
                "annotations": {ANNOTATION_NOTIFYING_PREFIX + state: f"{self.owner} {time.time():.3f}"}}})
        except (Conflict, NotFound):
            return _LOST
        except Rejected:
            return _LOCAL  # an Argo Server without a Kubernetes connection: records in this process only
        return _CLAIMED

    def _body(self, job: dict, state: str) -> dict:
        """The payload; ``successful`` carries the JSON result up to 64 KB."""
        body = payload(job, state)
        if state == "successful" and self._result_fn is not None:
            try:
                # the cap goes into the read: a large result-file is refused before it is read
                mimetype, outputs = self._result_fn(job["identifier"], max_bytes=MAX_OUTPUTS_BYTES)
                if mimetype == "application/json" and len(json.dumps(outputs)) <= MAX_OUTPUTS_BYTES:
                    body["outputs"] = outputs
            except Exception:  # noqa: BLE001 - the callback names the job; results stay at /results
                pass
        return body

    def _record(self, backend: WorkflowBackend, name: str, state: str, *, local: bool) -> None:
        """Record a delivery on the Workflow (and drop the claim); in this process where that cannot be."""
        if not local:
            record = {ANNOTATION_NOTIFIED_PREFIX + state: _now(), ANNOTATION_NOTIFYING_PREFIX + state: None}
            try:
                backend.patch(name, {"metadata": {"annotations": record}})
                return
            except BackendError as exc:
                LOGGER.warning("callbacks: delivered %s of %s but could not record it: %s", state, name, exc.reason)
        self._local_done.add((name, state))

    def _send(self, uri: str, body: dict, process_id: str) -> bool:
        from pygeoapi.util import is_request_allowed

        s = self.settings
        for attempt in range(s.retries + 1):
            if self._stop.is_set():
                return False
            try:
                if not is_request_allowed(uri, self._allow_internal(process_id)):
                    LOGGER.error("callbacks: URL not allowed (private address): %s", redact_url(uri))
                    raise _Refused()
                resp = requests.post(uri, json=body, timeout=s.timeout, allow_redirects=False)
                if 200 <= resp.status_code < 300:
                    return True
                LOGGER.info("callbacks: %s answered %s (attempt %d)", redact_url(uri), resp.status_code, attempt + 1)
            except (requests.RequestException, OSError) as exc:
                LOGGER.info("callbacks: %s failed: %s (attempt %d)", redact_url(uri), type(exc).__name__,
                            attempt + 1)
            if attempt < s.retries:
                self._stop.wait(min(s.backoff * 2 ** attempt, s.backoff_max))
        return False

