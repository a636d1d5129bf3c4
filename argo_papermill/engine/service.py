"""The engine service: one per data folder, found and started lazily.

``Engine.acquire(cfg)`` takes an exclusive ``fcntl`` lock on ``<data_dir>/engine.lock``;
only the process holding it runs workflows. Every other process (more WSGI workers,
a reloader, ``pygeoapi openapi generate``) only reads and writes the SQLite store,
which the engine polls for new, patched and deleted workflows. On start the engine
fails what a previous engine left running (its processes died with it) and runs what
is still queued.
"""

from __future__ import annotations

import calendar
import fcntl
import logging
import os
import shutil
import threading
import time
from pathlib import Path

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.executor import WorkflowRun, stopped_message
from argo_papermill.engine.nodes import now_rfc3339
from argo_papermill.engine.pod import kill_leftovers
from argo_papermill.engine.store import Store
from argo_papermill.engine.templates import TemplateLibrary

LOGGER = logging.getLogger(__name__)
TTL_CHECK_SECONDS = 2  # finished workflows are looked at this often (Argo's TTL controller is no faster)
POSTPONED_MESSAGE = "Workflow processing has been postponed because too many workflows are already running"

_engines: dict[Path, "Engine"] = {}
_engines_lock = threading.Lock()


class Engine:
    """Schedules queued workflows (at most ``max_parallel`` at once) and watches for patches and deletes."""

    def __init__(self, cfg: EngineConfig, lock_fd: int):
        self.cfg = cfg
        self.store = Store(cfg.data_dir)
        self.library = TemplateLibrary(cfg.template_dirs)
        self._lock_fd = lock_fd
        self.runs: dict[str, WorkflowRun] = {}
        self._versions: dict[str, int] = {}
        self._waiting: dict[str, int] = {}
        self._ttl_due: dict[str, float | None] = {}
        self._last_ttl = 0.0
        self._runs_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._recover()
        self._thread = threading.Thread(target=self._loop, name="argo-papermill-engine", daemon=True)
        self._thread.start()

    # --- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def acquire(cls, cfg: EngineConfig) -> "Engine | None":
        """Start the engine for ``cfg.data_dir`` in this process if no other process runs it."""
        key = cfg.data_dir
        with _engines_lock:
            if key in _engines:
                return _engines[key]
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(cfg.data_dir / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            engine = cls(cfg, fd)
            _engines[key] = engine
            return engine

    def close(self) -> None:
        """Stop scheduling, kill running pods, release the lock (tests; a server just exits)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        with self._runs_lock:
            runs = list(self.runs.values())
        for run in runs:
            run.mark_deleted()
        with _engines_lock:
            _engines.pop(self.cfg.data_dir, None)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
        except OSError:
            pass

    def wake(self) -> None:
        """Look at the store now (after a create or patch in this process)."""
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------------
    def _recover(self) -> None:
        for name in self.store.names_in_phase(("Running",)):
            workflow = self.store.get(name)
            if workflow is None:
                continue
            status, nodes = WorkflowRun.interrupted(workflow)
            self.store.write_status(name, status, nodes)
            kill_leftovers(self.cfg.data_dir / "pods" / name)  # only without a sandbox can anything be left
            shutil.rmtree(self.cfg.data_dir / "pods" / name, ignore_errors=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - keep scheduling; a store hiccup must not kill the engine
                LOGGER.exception("local engine: scheduling failed; retrying")
                time.sleep(0.5)
            self._wake.wait(self.cfg.poll_seconds)
            self._wake.clear()

    def _tick(self) -> None:
        versions = self.store.unfinished_versions()
        with self._runs_lock:
            running = dict(self.runs)
        for name, run in running.items():
            if name not in versions:
                if not self.store.exists(name):  # deleted, not merely finished a moment ago
                    run.mark_deleted()
                continue
            _, spec_version = versions[name]
            if spec_version != self._versions.get(name):
                self._versions[name] = spec_version
                workflow = self.store.get(name)
                shutdown = ((workflow or {}).get("spec") or {}).get("shutdown")
                if shutdown:
                    run.request_shutdown(shutdown)
        free = self.cfg.max_parallel - len(running)
        for name in self.store.queued():
            if name in running:
                continue
            phase, version = versions.get(name, ("", 0))
            if free <= 0 and phase == "Pending" and self._waiting.get(name) == version:
                continue  # still waiting, and nobody patched it since we looked
            self._waiting[name] = version
            workflow = self.store.get(name)
            if workflow is None:
                continue
            shutdown = (workflow.get("spec") or {}).get("shutdown")
            if shutdown:
                self._fail_unstarted(name, workflow, shutdown)
                continue
            if free <= 0:
                if (workflow.get("status") or {}).get("phase") != "Pending":
                    self.store.write_status(name, {"phase": "Pending", "message": POSTPONED_MESSAGE}, {})
                continue
            free -= 1
            self._waiting.pop(name, None)
            run = WorkflowRun(self.cfg, self.store, self.library, workflow, on_done=self._done)
            self._versions[name] = versions.get(name, ("", 0))[1]
            with self._runs_lock:
                self.runs[name] = run
            threading.Thread(target=run.run, name=f"wf-{name}", daemon=True).start()
        self._expire_ttl()

    def _fail_unstarted(self, name: str, workflow: dict, strategy: str) -> None:
        """A Pending workflow that is stopped fails at once, as Argo does."""
        self.store.write_status(name, {
            "phase": "Failed", "message": stopped_message(strategy),
            "startedAt": now_rfc3339(), "finishedAt": now_rfc3339(), "progress": "0/0",
        }, {})

    def _done(self, name: str) -> None:
        with self._runs_lock:
            self.runs.pop(name, None)
        self._versions.pop(name, None)
        self._wake.set()

    def _expire_ttl(self) -> None:
        """ttlStrategy: delete finished workflows whose time is up (each finished workflow is read once)."""
        now = time.time()
        if now - self._last_ttl < TTL_CHECK_SECONDS:
            return
        self._last_ttl = now
        finished = self.store.finished_phases()
        for name in [n for n in self._ttl_due if n not in finished]:
            del self._ttl_due[name]
        for name, phase in finished.items():
            if name not in self._ttl_due:
                self._ttl_due[name] = ttl_due(self.store.get(name) or {}, phase)
            due = self._ttl_due[name]
            with self._runs_lock:
                still_closing = name in self.runs  # its run thread may still write logs
            if due is not None and now >= due and not still_closing:
                # files first: once the workflow is gone from the store, nothing of it is left
                for folder in ("logs", "pods"):
                    shutil.rmtree(self.cfg.data_dir / folder / name, ignore_errors=True)
                self.store.delete(name)
                self._ttl_due.pop(name, None)


def ttl_due(workflow: dict, phase: str) -> float | None:
    """When a finished workflow is to be deleted under its (or its template's) ttlStrategy, or None."""
    status = workflow.get("status") or {}
    ttl = (workflow.get("spec") or {}).get("ttlStrategy") or (status.get("storedWorkflowTemplateSpec") or {}).get(
        "ttlStrategy")
    finished = status.get("finishedAt")
    if not ttl or not finished:
        return None
    seconds = ttl.get("secondsAfterSuccess" if phase == "Succeeded" else "secondsAfterFailure")
    if seconds is None:
        seconds = ttl.get("secondsAfterCompletion")
    if seconds is None:
        return None
    return calendar.timegm(time.strptime(finished, "%Y-%m-%dT%H:%M:%SZ")) + int(seconds)
