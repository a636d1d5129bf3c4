"""``ArgoManager``: the pygeoapi 0.24 process manager whose job store is Argo.

Every execution of a processor that can build a Workflow (``workflow_manifest``) becomes
one Workflow named ``pygeoapi-job-<job id>``; jobs are read back from the Workflows.
Ordinary pygeoapi processors (HelloWorld, ...) keep pygeoapi's own in-process handlers.
``add_job``/``update_job`` store nothing: the Workflow is the record.

Errors: backend failures become ``errors.*`` (``ProcessorExecuteError`` subclasses with an
HTTP status); pygeoapi maps them on execute, ``argo_papermill.app`` maps them elsewhere.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from pygeoapi.process.base import JobNotFoundError, JobResultNotFoundError, ProcessorExecuteError
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import JobStatus, RequestedResponse, Subscriber, is_request_allowed

from argo_papermill import contract
from argo_papermill.backends.base import (
    AlreadyExists,
    BackendError,
    Forbidden,
    NotFound,
    Rejected,
    Unavailable,
    Unsupported,
    full_items,
)
from argo_papermill.errors import (  # SyncTimeoutError, ResultForbiddenError: also imported from here
    BackendForbiddenError,
    BackendUnavailableError,
    InvalidInputError,
    ResultForbiddenError,
    ResultInvalidError,
    ResultNotFoundError,
    ResultTooLargeError,
    SubmissionRejectedError,
    SyncBusyError,
    SyncTimeoutError,
)
from argo_papermill.manager_config import ManagerConfig, load_manager_config
from argo_papermill.notify import Notifier, subscriber_annotation
from argo_papermill.processor import check_notebook_processors

LOGGER = logging.getLogger(__name__)

DATETIME_FORMAT = contract.DATETIME_FORMAT  # pygeoapi.util.DATETIME_FORMAT
STATUS_PHASES: dict[str, frozenset[str]] = {
    # finished states come from the controller's phase label; accepted/running see _active_jobs
    "accepted": frozenset({"", "Pending"}),
    "running": frozenset({"Running"}),
    "successful": frozenset({"Succeeded"}),
    "failed": frozenset({"Failed", "Error"}),
    "dismissed": frozenset(),  # a dismissed job is deleted at once
}
PROGRESS_MEMORY = 10_000
LOCAL_JOBS = 1000  # jobs of ordinary (non-workflow) processors kept in memory
CREATE_ATTEMPTS = 3


def workflow_name(job_id: str) -> str:
    return f"{contract.WORKFLOW_NAME_PREFIX}{job_id}"


def client_error(exc: BackendError, *, submitting: bool = False) -> ProcessorExecuteError:
    """A backend error as the client-visible pygeoapi error (403, 400 with the API's reason, else 503)."""
    if isinstance(exc, Forbidden):
        return BackendForbiddenError(exc.reason)
    if isinstance(exc, Unsupported):
        return SubmissionRejectedError(exc.reason)
    if isinstance(exc, Rejected):
        return SubmissionRejectedError(exc.reason) if submitting else InvalidInputError(exc.reason)
    return BackendUnavailableError(exc.reason)


def _now() -> str:
    return datetime.now(UTC).strftime(DATETIME_FORMAT)


def _status_name(status: Any) -> str | None:
    if status is None:
        return None
    return status.value if isinstance(status, JobStatus) else str(status)


class ArgoManager(BaseManager):
    """pygeoapi process manager: jobs are Argo Workflows (Kubernetes API, Argo Server or local engine)."""

    def __init__(self, manager_def: dict):
        super().__init__(manager_def)
        self.config: ManagerConfig = load_manager_config(manager_def)
        # pygeoapi builds processors per request: a typo in a processor block would otherwise be a 500 later
        check_notebook_processors(manager_def.get("processes"))
        # pygeoapi's schema requires output_dir; results live where jobs write them (and in memory for
        # ordinary processors), so pygeoapi's handlers must not write (or fail on a missing folder) there
        self.output_dir = None
        self.is_async = True
        self.supports_subscribing = True
        self._backend = None
        self._backend_lock = threading.Lock()
        self._progress: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._progress_lock = threading.Lock()
        self._local_jobs: collections.OrderedDict[str, dict] = collections.OrderedDict()
        self._local_lock = threading.Lock()
        self._verified_templates: set[tuple[str, str]] = set()  # (process id, template name) checked
        self._sync_slots = threading.BoundedSemaphore(self.config.limits.sync_waits)
        self.notifier = Notifier(lambda: self.backend, self._job, self._allow_internal, self.config.callbacks,
                                 result_fn=self.get_job_result)

    # ------------------------------------------------------------ plumbing
    @property
    def backend(self):
        """The workflow backend, built on first use (the constructor does no I/O)."""
        if self._backend is None:
            with self._backend_lock:
                if self._backend is None:
                    from argo_papermill.backends import make_backend

                    self._backend = make_backend(self.config)
        return self._backend

    def start_background(self) -> None:
        """Start the callback notifier (the WSGI app does this once at start-up)."""
        self.notifier.start()

    def _allow_internal(self, process_id: str) -> bool:
        """``allow_internal_requests`` of the process: on the resource (where pygeoapi reads it) or in its
        processor block (where this project documents it)."""
        resource = self.processes.get(process_id) or {}
        processor = resource.get("processor") if isinstance(resource.get("processor"), dict) else {}
        return bool(resource.get("allow_internal_requests", False) or processor.get("allow_internal_requests"))

    def _job(self, workflow: dict) -> dict:
        """The job dict of a Workflow, with progress never lower than this process saw before."""
        from argo_papermill.status import job_from_workflow

        job = job_from_workflow(workflow)
        job_id = job.get("identifier")
        if job_id and job["status"] in ("accepted", "running"):
            with self._progress_lock:
                best = max(int(job.get("progress") or 0), self._progress.get(job_id, 0))
                self._progress[job_id] = best
                self._progress.move_to_end(job_id)
                while len(self._progress) > PROGRESS_MEMORY:
                    self._progress.popitem(last=False)
            job["progress"] = best
        return job

    def _read(self, job_id: str) -> dict:
        """The live Workflow of a job; JobNotFoundError when absent or being deleted."""
        try:
            wf = self.backend.get(workflow_name(job_id))
        except NotFound:
            raise JobNotFoundError(f"job {job_id} not found") from None
        except BackendError as exc:
            raise client_error(exc) from None
        meta = wf.get("metadata") or {}
        if meta.get("deletionTimestamp") or (meta.get("labels") or {}).get(contract.LABEL_MANAGED_BY) != \
                contract.MANAGED_BY:
            raise JobNotFoundError(f"job {job_id} not found")
        return wf

    # ------------------------------------------------------------ pygeoapi store hooks (Argo is the store)
    def add_job(self, job_metadata: dict) -> str:
        """Workflow jobs: nothing to store, the Workflow is the record.

        Jobs of ordinary pygeoapi processors (HelloWorld, ...) run in this process with pygeoapi's own
        handlers; they are kept in a small in-memory table so that their status, result and dismiss work
        (in this process, not listed by ``get_jobs``, gone after a restart).
        """
        p = getattr(self, "processor", None)  # set by pygeoapi's execute_process just before (shared: re-check)
        if p is None or (p.metadata or {}).get("id") != job_metadata.get("process_id"):
            try:
                p = self.get_processor(job_metadata.get("process_id"))
            except Exception:  # noqa: BLE001 - unknown process: pygeoapi refuses it elsewhere
                return job_metadata["identifier"]
        if not self._is_workflow_processor(p):
            with self._local_lock:
                self._local_jobs[job_metadata["identifier"]] = {**job_metadata, "parameters": None}
                while len(self._local_jobs) > LOCAL_JOBS:
                    self._local_jobs.popitem(last=False)
        return job_metadata["identifier"]

    def update_job(self, job_id: str, update_dict: dict) -> bool:
        """Workflow jobs: status is read from the Workflow; ordinary processors' jobs: the in-memory table."""
        with self._local_lock:
            job = self._local_jobs.get(job_id)
            if job is not None:
                job.update(update_dict)
        return True

    def _local_job(self, job_id: str) -> dict | None:
        with self._local_lock:
            job = self._local_jobs.get(job_id)
            return {k: v for k, v in job.items() if k != "_outputs"} if job is not None else None

    # ------------------------------------------------------------ execution
    @staticmethod
    def _is_workflow_processor(p: Any) -> bool:
        return callable(getattr(p, "workflow_manifest", None))

    def _execute_handler_async(self, p, job_id: str, data_dict: dict, requested_outputs: dict | None = None,
                               subscriber: Subscriber | None = None,
                               requested_response: str | None = RequestedResponse.raw.value):
        if not self._is_workflow_processor(p):
            return super()._execute_handler_async(p, job_id, data_dict, requested_outputs, subscriber,
                                                  requested_response)
        self.submit(p, job_id, data_dict, subscriber)
        return "application/json", None, JobStatus.accepted

    def _execute_handler_sync(self, p, job_id: str, data_dict: dict, requested_outputs: dict | None = None,
                              subscriber: Subscriber | None = None,
                              requested_response: str | None = RequestedResponse.raw.value):
        if not self._is_workflow_processor(p):
            mimetype, outputs, status = super()._execute_handler_sync(p, job_id, data_dict, requested_outputs,
                                                                      subscriber, requested_response)
            self.update_job(job_id, {"_outputs": (mimetype, outputs)})
            return mimetype, outputs, status
        from argo_papermill.request_guard import client_gone_probe

        if not self._sync_slots.acquire(blocking=False):  # before anything is created
            raise SyncBusyError(
                f"{self.config.limits.sync_waits} synchronous executions are already waiting in this server "
                "process (limits.sync_waits); retry later or execute asynchronously (Prefer: respond-async)")
        try:
            self.submit(p, job_id, data_dict, subscriber)
            job = self.wait(job_id, self.config.sync_timeout, gone=client_gone_probe())
        finally:
            self._sync_slots.release()
        if job.get("_client_gone"):
            LOGGER.info("sync execution of job %s: the client went away; the job keeps running", job_id)
            raise SyncTimeoutError(f"the client went away; job {job_id} keeps running at /jobs/{job_id}")
        if job["status"] == "successful":
            mimetype, outputs = self.get_job_result(job_id)
            if requested_response == RequestedResponse.document.value:
                outputs = {"outputs": [outputs]}
            return mimetype, outputs, JobStatus.successful
        if job["status"] in ("accepted", "running"):
            raise SyncTimeoutError(
                f"job {job_id} did not finish within {self.config.sync_timeout:g} s and keeps running; "
                f"follow it at /jobs/{job_id}")
        outputs = {"type": "NoApplicableCode", "code": "NoApplicableCode", "jobID": job_id,
                   "description": f"job {job_id} {job['status']}: {job.get('message') or ''}".strip()}
        return "application/json", outputs, JobStatus(job["status"])

    def submit(self, p, job_id: str, data_dict: dict, subscriber: Subscriber | None = None) -> dict:
        """Create the job's Workflow; idempotent for one job id (a 409 for our own job is success)."""
        pconf = getattr(p, "config", None)
        if getattr(pconf, "auto_mount_secrets", False):
            manifest = p.workflow_manifest(job_id, data_dict, extra_env_secrets=self._auto_mount_secrets())
        else:
            manifest = p.workflow_manifest(job_id, data_dict)
        if getattr(pconf, "use_workflow_template", False):
            self._verify_template(p)
        meta = manifest.setdefault("metadata", {})
        name = meta.setdefault("name", workflow_name(job_id))
        annotations = meta.setdefault("annotations", {})
        labels = meta.setdefault("labels", {})
        annotations.setdefault(contract.ANNOTATION_CREATED, _now())
        sub = subscriber_annotation(subscriber)
        if sub:
            self._check_subscriber(json.loads(sub), labels.get(contract.LABEL_PROCESS_ID) or p.metadata.get("id", ""))
            annotations[contract.ANNOTATION_SUBSCRIBER] = sub
            labels[contract.LABEL_NOTIFY] = contract.NOTIFY_PENDING
        try:
            created = self._create(manifest, name, job_id)
        except ProcessorExecuteError:
            self._verified_templates.discard(self._template_key(p))  # e.g. the template was removed: check again
            raise
        if sub:
            self.notifier.start()
            self.notifier.wake()
        return created or {}

    def _create(self, manifest: dict, name: str, job_id: str) -> dict:
        """Create, retrying timeouts; a 409 for a Workflow of this same job counts as created."""
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return self.backend.create(manifest)
            except AlreadyExists:
                return self._existing_same_job(name, job_id)
            except Unavailable as exc:
                if attempt == CREATE_ATTEMPTS - 1:
                    raise client_error(exc, submitting=True) from None
                time.sleep(0.2 * (attempt + 1))
            except BackendError as exc:
                raise client_error(exc, submitting=True) from None
        return {}

    def _auto_mount_secrets(self) -> tuple[str, ...]:
        """Names of the namespace's Secrets that ``auto_mount_secrets`` adds (metadata only; no value is read)."""
        from argo_papermill.processor import auto_mount_secret_names

        try:
            return auto_mount_secret_names(self.backend.list_secret_metadata())
        except BackendError as exc:
            raise client_error(exc, submitting=True) from None

    @staticmethod
    def _template_key(p) -> tuple[str, str]:
        return (p.metadata or {}).get("id", ""), getattr(getattr(p, "config", None), "workflow_template_name", "")

    def _verify_template(self, p) -> None:
        """Check the installed WorkflowTemplate once per process (again after a failed submission)."""
        from argo_papermill.templates import TemplateMismatchError

        key = self._template_key(p)
        if key in self._verified_templates:
            return
        name = key[1]
        try:
            installed = self.backend.get_workflow_template(name)
        except NotFound:
            raise TemplateMismatchError(
                f"WorkflowTemplate {name!r} is not installed in namespace {self.backend.namespace!r}: render it "
                "with `argo-papermill templates render --config <pygeoapi config> --output-dir <dir>` and "
                f"install it with `kubectl apply -n {self.backend.namespace} -f <dir>`") from None
        except BackendError as exc:
            raise client_error(exc) from None
        p.verify_installed_template(installed)
        self._verified_templates.add(key)

    def _existing_same_job(self, name: str, job_id: str) -> dict:
        try:
            existing = self.backend.get(name)
        except BackendError as exc:
            raise client_error(exc, submitting=True) from None
        if ((existing.get("metadata") or {}).get("labels") or {}).get(contract.LABEL_JOB_ID) != job_id:
            raise SubmissionRejectedError(f"a workflow named {name} exists and belongs to another job")
        return existing

    def _check_subscriber(self, uris: dict, process_id: str) -> None:
        allow = self._allow_internal(process_id)
        for key, url in uris.items():
            if not isinstance(url, str):
                raise InvalidInputError(f"subscriber.{key} must be a string (an http(s) URL)",
                                        field=f"subscriber.{key}")
            if not url.startswith(("http://", "https://")):
                raise InvalidInputError(f"subscriber.{key} must be an http(s) URL", field=f"subscriber.{key}")
            try:
                allowed = is_request_allowed(url, allow)
            except OSError:
                raise InvalidInputError(f"subscriber.{key}: host cannot be resolved", field=f"subscriber.{key}") \
                    from None
            if not allowed:
                raise InvalidInputError(f"subscriber.{key}: URL not allowed (private address)",
                                        field=f"subscriber.{key}")

    def wait(self, job_id: str, timeout: float, gone: Callable[[], bool] | None = None) -> dict:
        """Poll the job until it is final, ``timeout`` seconds passed or ``gone()`` says the client left
        (then the job dict has ``_client_gone``); the last job dict."""
        deadline = time.monotonic() + timeout
        while True:
            job = self._job(self._read(job_id))
            if job["status"] in ("successful", "failed", "dismissed") or time.monotonic() >= deadline:
                return job
            if gone is not None and gone():
                return {**job, "_client_gone": True}
            time.sleep(min(self.config.sync_poll_interval, max(0.0, deadline - time.monotonic())))

    # ------------------------------------------------------------ jobs
    def get_jobs(self, status: Any = None, limit: int | None = None, offset: int | None = None,
                 process_id: str | None = None, **kwargs: Any) -> dict:
        """Newest first, stable paging; ``status`` and ``process_id`` filter (pygeoapi 0.24 passes neither)."""
        self.notifier.start()
        selector = f"{contract.LABEL_MANAGED_BY}={contract.MANAGED_BY}"
        process_id = process_id or kwargs.get("processID")
        if process_id:
            selector += f",{contract.LABEL_PROCESS_ID}={process_id}"
        name = _status_name(status)
        phases = STATUS_PHASES.get(name) if name else None
        if name and phases is None:
            raise InvalidInputError(f"status must be one of {sorted(STATUS_PHASES)}", field="status")
        offset = int(offset or 0)
        try:
            if name in ("accepted", "running"):
                return self._active_jobs(selector, name, limit, offset)
            page = self.backend.list(selector, limit=limit or None, offset=offset, phases=phases)
            workflows = full_items(self.backend, page.items)
        except BackendError as exc:
            raise client_error(exc) from None
        return {"jobs": [self._job(wf) for wf in workflows], "numberMatched": page.total}

    def _active_jobs(self, selector: str, status: str, limit: int | None, offset: int) -> dict:
        """Accepted vs running needs the nodes (Argo says Running while the pod waits), so these two
        filters read the not-yet-finished Workflows in full: as many as run or queue, not the history."""
        active = []
        for phases in (STATUS_PHASES["accepted"], STATUS_PHASES["running"]):
            active += full_items(self.backend, self.backend.list(selector, phases=phases).items)
        jobs = [job for job in (self._job(wf) for wf in active) if job["status"] == status]
        jobs.sort(key=lambda j: (j.get("created") or "", j.get("identifier") or ""), reverse=True)
        return {"jobs": jobs[offset: offset + limit if limit else None], "numberMatched": len(jobs)}

    def get_job(self, job_id: str) -> dict:
        self.notifier.start()
        local = self._local_job(job_id)
        if local is not None:
            return local
        return self._job(self._read(job_id))

    def get_job_result(self, job_id: str, max_bytes: int | None = None) -> tuple[str, Any]:
        """(mimetype, result); ``max_bytes`` lowers ``results.max_bytes`` for the result-file (callbacks)."""
        from argo_papermill import results

        with self._local_lock:
            local = self._local_jobs.get(job_id)
            if local is not None:
                if local.get("status") != "successful" or "_outputs" not in local:
                    raise JobResultNotFoundError(f"job {job_id} has no result")
                return local["_outputs"]
        rcfg = self.config.results
        with self._result_errors(job_id):
            wf, loc, data = self._read_notebook(job_id, ("successful",))
            return results.result_from_notebook(
                data, notebook_url=loc.url,
                results_dir=(wf["metadata"].get("annotations") or {}).get(contract.ANNOTATION_RESULTS_DIRECTORY),
                path_map=rcfg.path_map, storage_options=rcfg.storage_options, job_id=job_id,
                max_bytes=min(max_bytes or rcfg.max_bytes, rcfg.max_bytes))

    def get_job_notebook(self, job_id: str) -> bytes:
        """The executed output notebook (ipynb bytes) of a finished job, successful or failed."""
        if self._local_job(job_id) is not None:
            raise JobResultNotFoundError(f"job {job_id} runs no notebook")
        with self._result_errors(job_id):
            return self._read_notebook(job_id, ("successful", "failed"))[2]

    def _read_notebook(self, job_id: str, statuses: tuple[str, ...]):
        """(Workflow, mapped location, bytes) of the job's output notebook, read through ``results.path_map``."""
        from argo_papermill import results

        wf = self._read(job_id)
        job = self._job(wf)
        if job["status"] not in statuses:
            raise JobResultNotFoundError(f"job {job_id} is {job['status']}: no result")  # pygeoapi checks first
        nb_path = (wf["metadata"].get("annotations") or {}).get(contract.ANNOTATION_RESULT_NOTEBOOK)
        if not nb_path:
            raise ResultNotFoundError(f"job {job_id} records no result notebook")
        rcfg = self.config.results
        loc = results.map_path(nb_path, rcfg.path_map, rcfg.storage_options)
        return wf, loc, results.read_bytes(loc, rcfg.max_bytes)

    @contextlib.contextmanager
    def _result_errors(self, job_id: str) -> Iterator[None]:
        """Result reading errors as client errors: 403 outside the results directory, 404 missing or not a
        regular file, 422 too large or never servable (permanent, so not a 503), else 503."""
        from argo_papermill import results

        try:
            yield
        except results.ForbiddenPath as exc:
            raise ResultForbiddenError(exc.reason) from None
        except results.ResultTooLarge as exc:
            raise ResultTooLargeError(exc.reason) from None
        except results.ResultUnreadable as exc:
            raise ResultInvalidError(exc.reason) from None
        except results.ResultError as exc:
            raise ResultNotFoundError(f"job {job_id}: {exc.reason}") from None
        except (OSError, ValueError) as exc:
            raise BackendUnavailableError(f"cannot read the result of job {job_id}: {type(exc).__name__}") \
                from None

    def delete_job(self, job_id: str) -> bool:
        """Dismiss: mark and stop the Workflow, delete its result files, delete it (a second call -> 404)."""
        with self._local_lock:
            if self._local_jobs.pop(job_id, None) is not None:
                return True
        wf = self._read(job_id)
        name = wf["metadata"]["name"]
        phase = (wf.get("status") or {}).get("phase") or ""
        patch: dict = {"metadata": {"annotations": {contract.ANNOTATION_DISMISSED: _now()}}}
        if phase not in ("Succeeded", "Failed", "Error"):
            patch["spec"] = {"shutdown": "Stop"}
        try:
            self.backend.patch(name, patch)
        except Rejected:  # an Argo Server cannot store the annotation: stop alone, the delete follows
            if "spec" in patch:
                self._stop_only(name)
        except NotFound:
            raise JobNotFoundError(f"job {job_id} not found") from None
        except BackendError as exc:
            raise client_error(exc) from None
        self._delete_result_files(job_id, wf)
        try:
            self.backend.delete(name)
        except NotFound:
            raise JobNotFoundError(f"job {job_id} not found") from None
        except BackendError as exc:
            raise client_error(exc) from None
        with self._progress_lock:
            self._progress.pop(job_id, None)
        return True

    def _stop_only(self, name: str) -> None:
        try:
            self.backend.patch(name, {"spec": {"shutdown": "Stop"}})
        except (NotFound, Rejected):
            pass
        except BackendError as exc:
            raise client_error(exc) from None

    def _delete_result_files(self, job_id: str, wf: dict) -> None:
        """Remove the job's own results directory (only one that names the job) and its notebook."""
        from argo_papermill import results

        if not self.config.results.delete_on_dismiss:
            return
        annotations = wf["metadata"].get("annotations") or {}
        rcfg = self.config.results
        targets = []
        results_dir = annotations.get(contract.ANNOTATION_RESULTS_DIRECTORY)
        if results_dir and results.owned_by_job(results_dir, job_id):
            targets.append(results_dir)
        nb = annotations.get(contract.ANNOTATION_RESULT_NOTEBOOK)
        if nb and not (results_dir and results.inside(nb, results_dir)) and results.owned_by_job(nb, job_id):
            targets.append(nb)
        for pod_path in targets:
            try:
                results.delete_tree(results.map_path(pod_path, rcfg.path_map, rcfg.storage_options))
            except Exception as exc:  # noqa: BLE001 - the job is dismissed anyway; say what was left
                LOGGER.warning("dismiss %s: could not delete %s: %s", job_id, pod_path, type(exc).__name__)

    def argo_ui_link(self, job_id: str) -> dict | None:
        """An OGC link from a job to its Workflow in the Argo UI (``argo_ui_url``), or None."""
        base = self.config.argo_ui_url
        if not base or not job_id or job_id in self._local_jobs:  # an ordinary processor's job has no Workflow
            return None
        from urllib.parse import quote

        return {"href": f"{base}/workflows/{quote(self.backend.namespace, safe='')}/{quote(workflow_name(job_id), safe='')}",
                "rel": "related", "type": "text/html", "title": "The job's Workflow in the Argo UI"}

    def job_logs(self, job_id: str) -> Iterator[str]:
        """Log lines of the job's containers (for ``GET /jobs/{id}/logs``): from the pods while they exist,
        then, for a finished job, from the logs Argo archived in the artifact repository (``archiveLogs``);
        without either, ``LogsGoneError`` says they went with the pods and how to keep them. The local
        engine keeps a job's logs as long as the job."""
        from argo_papermill import archived_logs, results
        from argo_papermill.errors import LogsGoneError, ResultNotFoundError

        wf = self._read(job_id)
        try:
            lines = list(self.backend.logs(workflow_name(job_id)))
        except NotFound:
            raise JobNotFoundError(f"job {job_id} not found") from None
        except BackendError as exc:
            raise client_error(exc) from None
        if lines or self.config.backend == "local" or self._job(wf)["status"] not in ("successful", "failed"):
            yield from lines
            return
        archived = archived_logs.archived_logs(wf)
        if not archived:
            raise LogsGoneError(
                f"the logs of job {job_id} are gone with its pods (Argo's pod GC or the Workflow's TTL removed "
                "them). To keep them, configure an Argo artifact repository and set the processor's "
                "result_artifact: true: every job then archives its containers' logs (archiveLogs), and this "
                "route reads them from there (docs/manager.md)")
        options = self.config.artifacts.storage_options or self.config.results.storage_options
        try:
            yield from archived_logs.read_archived_logs(archived, options, self.config.results.max_bytes)
        except results.ResultError as exc:
            raise ResultNotFoundError(f"the archived logs of job {job_id} cannot be read: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - an unreachable or refusing object store
            raise BackendUnavailableError(
                f"the archived logs of job {job_id} cannot be read from the artifact repository: "
                f"{type(exc).__name__}") from None

    def __repr__(self) -> str:
        return f"<ArgoManager> {self.config.backend}"
