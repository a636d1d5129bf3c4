"""Argo Workflow object -> pygeoapi 0.24 job dict. Pure functions, no I/O.

Argo is the only job store, so everything ``GET /jobs/{id}`` shows is derived here from one
Workflow object as the Kubernetes API, the Argo Server or the embedded engine returns it.
The object may be partial (a list item without nodes), old (no progress), compressed
(``compressedNodes``), offloaded (no nodes at all) or hand-edited: nothing here raises.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Iterable

from argo_papermill import contract
from argo_papermill.masking import mask_secrets
from argo_papermill.status_nodes import (
    DONE_PHASES,
    EPOCH,
    EXECUTABLE_TYPES,
    FAILED_PHASES,
    STARTED_PHASES,
    as_dict,
    as_list,
    as_str,
    container_index,
    decode_nodes,
    format_time,
    node_label,
    output_parameter,
    parse_progress,
    parse_time,
    superseded_attempts,
)

__all__ = [
    "JOB_STATUSES",
    "decode_nodes",
    "error_record",
    "job_from_workflow",
    "job_progress",
    "job_status",
    "parameters_json",
]

ACCEPTED: Final = "accepted"
RUNNING: Final = "running"
SUCCESSFUL: Final = "successful"
FAILED: Final = "failed"
DISMISSED: Final = "dismissed"
JOB_STATUSES: Final = (ACCEPTED, RUNNING, SUCCESSFUL, FAILED, DISMISSED)
TERMINAL_STATUSES: Final = frozenset({SUCCESSFUL, FAILED, DISMISSED})

DEFAULT_MIMETYPE: Final = "application/json"
# The notebook is where a job spends its time: its step weighs as much as this many other steps.
PAPERMILL_WEIGHT: Final = 8.0
MAX_MESSAGE_CHARS: Final = 1000

_DEADLINE_RE = re.compile(
    r"exceeded its deadline|exceeded workflow deadline|Max duration limit exceeded|DeadlineExceeded"
    r"|longer than the specified deadline",
    re.IGNORECASE,
)
_STOPPED_RE = re.compile(r"Stopped with strategy|workflow shutdown with strategy", re.IGNORECASE)
_DANGLING_RE = re.compile(r"\s*:\s*$")  # Argo's "<reason> (exit code N): " with an empty message
_UNINFORMATIVE_RE = re.compile(r"^(child '.*' failed|No more retries left)$")
# Order in which the steps of one job start; among failures at the same moment, an earlier step explains
# the later ones (a failed mount makes papermill give up, a failed clone skips papermill).
_STEP_ORDER: Final = {contract.CONTAINER_GIT: 0, contract.CONTAINER_S3: 1, contract.CONTAINER_PAPERMILL: 2}
# "<reason> (exit code N)" in a node message: Argo's Container node message is "<reason> (exit code N): <msg>"
# (v3.6) or "<container>: <reason> (exit code N): <msg>" (v3.7 and later, v4.x); the Pod node's likewise.
_EXIT_RE = re.compile(r"(?:^|:\s)([A-Za-z][A-Za-z0-9]*) \(exit code (-?\d+)\)")
# Exit codes of a container that Argo terminated: once any container of a pod exited non-zero, the
# controller sends SIGTERM to every container still running (``podHasContainerNeedingTermination``,
# operator.go, v3.6 to v4.x), then SIGKILL after the grace period: 128 + 15, 128 + 9, reason "Error".
TERMINATED_EXIT_CODES: Final = frozenset({143, 137})
# What the emissary of a container whose dependency failed says (exit code 64, node Error).
_DEPENDENCY_RE = re.compile(r'dependency "[^"]*" exited with non-zero code')


@dataclass(frozen=True)
class _Unit:
    """One step counted by the progress formula."""

    node: dict
    fraction: float
    weight: float


def _plans_papermill(spec: dict, status: dict) -> bool:
    """Whether the Workflow's templates (inline or stored from a WorkflowTemplate) have a papermill step."""
    stored = as_dict(status.get("storedWorkflowTemplateSpec"))
    for template in as_list(spec.get("templates")) + as_list(stored.get("templates")):
        template = as_dict(template)
        if template.get("name") == contract.CONTAINER_PAPERMILL:
            return True
        containers = as_list(as_dict(template.get("containerSet")).get("containers"))
        if any(as_dict(c).get("name") == contract.CONTAINER_PAPERMILL for c in containers):
            return True
    return False


@dataclass
class _View:
    """The parts of a Workflow this module reads, each guaranteed to have the right type."""

    workflow: dict
    metadata: dict
    spec: dict
    status: dict
    labels: dict
    annotations: dict
    phase: str | None
    nodes: dict[str, dict]
    _units: list[_Unit] | None = field(default=None, repr=False)

    @property
    def units(self) -> list[_Unit]:
        if self._units is None:
            units = _progress_units(self.nodes)
            if not any(_is_papermill(u.node) for u in units) and _plans_papermill(self.spec, self.status):
                units.append(_Unit({}, 0.0, PAPERMILL_WEIGHT))  # not reached yet: Argo adds nodes as it goes
            self._units = units
        return self._units


def _view(workflow: Any) -> _View:
    workflow = as_dict(workflow)
    metadata = as_dict(workflow.get("metadata"))
    status = as_dict(workflow.get("status"))
    phase = status.get("phase")
    return _View(
        workflow=workflow,
        metadata=metadata,
        spec=as_dict(workflow.get("spec")),
        status=status,
        labels=as_dict(metadata.get("labels")),
        annotations=as_dict(metadata.get("annotations")),
        phase=phase if isinstance(phase, str) else None,
        nodes=decode_nodes(status),
    )


# --------------------------------------------------------------------------------------- status


def job_status(workflow: Any) -> str:
    """The OGC status of a Workflow: one of ``JOB_STATUSES``.

    - annotation ``pygeoapi.io/dismissed`` (set by the manager's dismiss) -> dismissed;
    - phase Succeeded -> successful; Failed or Error -> failed;
    - stopped by anyone else (``spec.shutdown`` set, or Argo's "Stopped with strategy" message) -> failed;
    - phase Pending or empty -> accepted;
    - phase Running (or an unknown phase): accepted while no executable node (Pod, Container, HTTP,
      Plugin, Suspend) has started, i.e. every one is still Pending (Argo sets Running as soon as the
      entry node exists, even while the pod waits for an image or a node), else running. Without
      nodes (offloaded, or a list item) Running -> running and an unknown phase -> accepted.
    """
    return _status(_view(workflow))


def _status(view: _View) -> str:
    if as_str(view.annotations.get(contract.ANNOTATION_DISMISSED)).strip():
        return DISMISSED
    if view.phase == "Succeeded":
        return SUCCESSFUL
    if view.phase in FAILED_PHASES:
        return FAILED
    if _stop_message(view) is not None:
        return FAILED
    if view.phase in (None, "", "Pending"):
        return ACCEPTED
    if not view.nodes:
        return RUNNING if view.phase == "Running" else ACCEPTED
    started = any(
        n.get("type") in EXECUTABLE_TYPES and n.get("phase") in STARTED_PHASES for n in view.nodes.values()
    )
    return RUNNING if started else ACCEPTED


def _stop_message(view: _View) -> str | None:
    """Argo's stop message when someone stopped or terminated the workflow, else None."""
    message = as_str(view.status.get("message"))
    if _STOPPED_RE.search(message):
        return message
    shutdown = as_str(view.spec.get("shutdown"))
    if shutdown:
        return f"Stopped with strategy '{shutdown}'"
    return None


# ------------------------------------------------------------------------------------- progress


def _is_papermill(node: dict) -> bool:
    return contract.CONTAINER_PAPERMILL in (node_label(node), as_str(node.get("templateName")))


def _self_reported(node: dict) -> float | None:
    """A node's self-reported fraction: ``N/M`` with ``M > 1`` (``0/1`` and ``1/1`` are Argo's own defaults)."""
    parsed = parse_progress(node.get("progress"))
    if parsed is None or parsed[1] <= 1:
        return None
    return parsed[0] / parsed[1]


def _progress_units(nodes: dict[str, dict]) -> list[_Unit]:
    """The steps of a Workflow with their done fraction and weight (see ``job_progress``)."""
    superseded = superseded_attempts(nodes)
    claimed: set[str] = set()
    units: list[_Unit] = []
    for pod_id, containers in container_index(nodes).items():
        node = nodes[pod_id]
        claimed.update(as_str(c.get("id")) for c in containers)
        if as_str(node.get("id")) in superseded:
            continue
        pod_done = node.get("phase") in DONE_PHASES
        reported = _self_reported(node) if node.get("phase") in STARTED_PHASES else None
        has_others = any(node_label(c) != contract.CONTAINER_MAIN for c in containers)
        for container in containers:
            if pod_done or container.get("phase") in DONE_PHASES:
                fraction = 1.0
            elif reported is not None and _is_papermill(container):
                fraction = reported
            else:
                fraction = 0.0
            units.append(_Unit(container, fraction, _weight(container, has_others)))
        claimed.add(as_str(node.get("id")))
    for node in nodes.values():
        node_id = as_str(node.get("id"))
        if node.get("type") not in EXECUTABLE_TYPES or node_id in claimed or node_id in superseded:
            continue
        if node.get("phase") in DONE_PHASES:
            fraction = 1.0
        elif node.get("phase") in STARTED_PHASES:
            fraction = _self_reported(node) or 0.0
        else:
            fraction = 0.0
        units.append(_Unit(node, min(max(fraction, 0.0), 1.0), _weight(node, True)))
    return units


def _weight(node: dict, has_other_containers: bool) -> float:
    if _is_papermill(node):
        return PAPERMILL_WEIGHT
    if node.get("type") == "Container" and node_label(node) == contract.CONTAINER_MAIN and has_other_containers:
        return 0.0  # the no-op container Argo needs to save a containerSet's outputs
    return 1.0


def job_progress(workflow: Any) -> int:
    """Progress in percent (0..100) of a Workflow.

    0 while accepted and 100 when successful. Otherwise (running, failed, dismissed), with
    ``w`` a step's weight and ``f`` its done fraction::

        progress = min(99, floor(100 * sum(w * f) / sum(w)))

    over the steps: every executable node (Pod, Container, HTTP, Plugin, Suspend), where a
    containerSet Pod is replaced by its Container nodes and a retried step counts only its latest
    attempt; a papermill step that the templates define but Argo has not created a node for yet
    counts as not started (so finishing ``git-checkout`` in a steps shape does not look like the end).
    ``f`` is 1 for Succeeded/Skipped/Omitted, the self-reported ``N/M`` for a started
    node (``M > 1``; Argo attaches what the pod writes to ``$ARGO_PROGRESS_FILE`` to the *Pod*
    node, so in a containerSet it is credited to the ``papermill`` container), else 0. ``w`` is
    8 for the papermill step (it is where a job spends its time), 0 for a containerSet's no-op
    ``main`` container, 1 otherwise. A failed job keeps what it reached (Argo keeps a failed pod's
    last reported ``N/M``). Without nodes (offloaded, list items) ``status.progress`` is used.

    Monotone over one job's life as far as the data allows: fractions only grow, and a retry's
    new attempt replaces the failed one instead of adding a step. It can still drop when Argo
    adds steps it did not know of before (DAG fan-out) or when a pod's progress is not yet
    reported; the manager keeps the maximum it has seen.
    """
    view = _view(workflow)
    return _progress(view, _status(view))


def _progress(view: _View, status: str) -> int:
    if status == SUCCESSFUL:
        return 100
    if status == ACCEPTED:
        return 0
    units = view.units
    total = sum(u.weight for u in units)
    if view.nodes and total > 0:
        ratio = sum(u.weight * u.fraction for u in units) / total
    else:
        ratio = _status_progress_ratio(view)
    return max(0, min(99, math.floor(100 * ratio + 1e-9)))


def _entry_containers(view: _View) -> int:
    """How many containers the entrypoint's containerSet has (inline or stored template), else 0."""
    stored = as_dict(view.status.get("storedWorkflowTemplateSpec"))
    entry = as_str(view.spec.get("entrypoint")) or as_str(stored.get("entrypoint"))
    for template in as_list(view.spec.get("templates")) + as_list(stored.get("templates")):
        template = as_dict(template)
        if template.get("name") == entry:
            return len(as_list(as_dict(template.get("containerSet")).get("containers")))
    return 0


def _status_progress_ratio(view: _View) -> float:
    """The done fraction from ``status.progress`` alone (nodes offloaded to Argo's database, a list item).

    Argo sums every executable node into it (``workflow/progress/updater.go``): a containerSet's Pod node
    (the notebook's own ``N/M``) *and* each of its K Container nodes (``0/1`` or ``1/1``). Those K are taken
    off both sides, which never reports more than was done: ``(N' - K) / (M' - K)`` for ``N'/M'``.
    """
    parsed = parse_progress(view.status.get("progress"))
    if parsed is None:
        return 0.0
    done, total = parsed
    containers = _entry_containers(view)
    if containers and total - containers > 1:
        return max(0, done - containers) / (total - containers)
    return done / total


# -------------------------------------------------------------------------------------- message


def error_record(workflow: Any) -> dict | None:
    """The papermill error record ``{"cell_index", "execution_count", "ename", "evalue"}``, if any.

    The progress engine writes it on a cell or kernel error, the papermill step's script from
    papermill's stderr on any other failure (``cell_index`` null); the notebook template exports it as output
    parameter ``error``; it is read from whichever node carries that output (the Pod node of the
    containerSet, or the papermill Pod in a steps shape).
    """
    return _error_record_in(decode_nodes(as_dict(as_dict(workflow).get("status"))))


def _error_record_in(nodes: dict[str, dict]) -> dict | None:
    for node in _in_order(nodes.values()):
        raw = output_parameter(node, contract.OUTPUT_ERROR)
        if not raw or not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and as_str(record.get("ename")):
            return record
    return None


def _step_rank(node: dict) -> int:
    return _STEP_ORDER.get(node_label(node), 3 if node_label(node) != contract.CONTAINER_MAIN else 9)


def _in_order(nodes: Iterable[dict]) -> list[dict]:
    """Nodes in the order they ended (finish, else start time; unknown last), then in the order a job's steps
    start (git-checkout, s3-mount, papermill, others, main) and by name: the step that failed first explains
    the ones after it, whatever its place in the pod."""

    def key(node: dict) -> tuple:
        finished = parse_time(node.get("finishedAt")) or parse_time(node.get("startedAt"))
        return (finished is None, finished or EPOCH, _step_rank(node), as_str(node.get("name")))

    return sorted(nodes, key=key)


def exit_status(node: dict) -> tuple[str, int] | None:
    """``(reason, exit code)`` from a node message in any of Argo's formats, e.g. ``("OOMKilled", 137)``."""
    match = _EXIT_RE.search(as_str(node.get("message")))
    return (match.group(1), int(match.group(2))) if match else None


def _terminated_by_argo(node: dict) -> bool:
    """Whether a failed step's exit looks like Argo terminating it (SIGTERM/SIGKILL, reason Error), which it
    does to every running container once another one exited non-zero, or its emissary giving up because a
    dependency failed (exit code 64): never the cause of a job's failure while another step failed."""
    if _DEPENDENCY_RE.search(as_str(node.get("message"))):
        return True
    status = exit_status(node)
    return status is not None and status[0] == "Error" and status[1] in TERMINATED_EXIT_CODES


def _failure_order(nodes: Iterable[dict]) -> list[dict]:
    """Failed steps, the one that failed first first: by finish time; at the same second a SIGTERM'd step
    (exit 143) after the others, then in the order the steps start (``_in_order``)."""

    def key(node: dict) -> tuple:
        finished = parse_time(node.get("finishedAt")) or parse_time(node.get("startedAt"))
        sigterm = (exit_status(node) or ("", 0))[1] == 143
        return (finished is None, finished or EPOCH, sigterm, _step_rank(node), as_str(node.get("name")))

    return sorted(nodes, key=key)


def _step_name(view: _View, node: dict) -> str:
    """A node's name for messages; a root Pod is named by its template, not by the workflow name."""
    label = node_label(node)
    if label and label not in (as_str(view.metadata.get("name")), as_str(node.get("id"))):
        return label
    template = as_str(node.get("templateName")) or as_str(as_dict(node.get("templateRef")).get("template"))
    return template or label or "?"


def _clean(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _node_text(node: dict) -> str:
    """A node's message, cleaned; without the dangling ``:`` of Argo's ``<reason> (exit code N): <msg>``
    when ``<msg>`` is empty (e.g. ``papermill: Error (exit code 1): ``), and without the ``<container>: ``
    prefix Argo >= 3.7 puts before a Container node's own message (the step is named beside it already:
    ``Step papermill failed: Error (exit code 1)``, not ``... failed: papermill: Error (exit code 1)``)."""
    text = _DANGLING_RE.sub("", _clean(as_str(node.get("message"))))
    if node.get("type") == "Container":
        prefix = node_label(node) + ": "
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix):]
    return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _papermill_message(record: dict) -> str:
    """``papermill failed at cell 3: E: v``; ``at In [2]`` when only the execution count is known (plain
    papermill's stderr); ``papermill failed: E: v`` for a failure outside any cell (missing notebook or
    kernel, parameters that cannot be injected)."""
    cell, count = record.get("cell_index"), record.get("execution_count")
    where = f" at cell {cell}" if _is_int(cell) else f" at In [{count}]" if _is_int(count) else ""
    ename = _clean(as_str(record.get("ename")), 200)
    evalue = _clean(as_str(record.get("evalue")), 500)
    return f"papermill failed{where}: {ename}: {evalue}" if evalue else f"papermill failed{where}: {ename}"


def _failure_message(view: _View) -> str:
    stop = _stop_message(view)
    if stop is not None:
        return f"Stopped outside pygeoapi (argo stop/terminate): {_clean(stop)}"
    messages = [as_str(view.status.get("message"))] + [
        as_str(n.get("message")) for n in _in_order(view.nodes.values())
    ]
    deadline = next((m for m in messages if _DEADLINE_RE.search(m)), None)
    if deadline is not None:
        return f"Time limit exceeded: {_clean(deadline)}"
    record = _error_record_in(view.nodes)
    if record is not None:
        return _papermill_message(record)
    failing = _failing_node(view)
    if failing is not None:
        text = _node_text(failing)
        name = _step_name(view, failing)
        message = f"Step {name} failed: {text}" if text else f"Step {name} failed"
        if _is_papermill(failing):  # no error record: papermill's own output is the only explanation
            message += f"; see its log: GET /jobs/{_identifier(view)}/logs"
        return message
    message = _DANGLING_RE.sub("", _clean(as_str(view.status.get("message"))))
    return message or "Job failed"


def _failing_node(view: _View) -> dict | None:
    """The node that best explains a failure: the failed step that failed first, with a message of its own.

    A step Argo terminated because another one failed (exit 143/137 after SIGTERM/SIGKILL), or whose
    dependency failed (exit 64), explains nothing while another step failed of its own accord.
    """
    units = [u.node for u in view.units if u.node.get("phase") in FAILED_PHASES]
    causes = [n for n in units if not _terminated_by_argo(n)]
    pods = [
        n for n in view.nodes.values() if n.get("type") == "Pod" and n.get("phase") in FAILED_PHASES
    ]  # a containerSet Pod says e.g. "Pod failed before papermill container starts due to ..."
    others = [n for n in view.nodes.values() if n.get("phase") in FAILED_PHASES]
    for group in (causes, units, pods, others):
        for node in _failure_order(group):
            text = as_str(node.get("message")).strip()
            if text and not _UNINFORMATIVE_RE.match(text):
                return node
    for node in _failure_order(units):
        return node
    return None


def _pending_reason(view: _View) -> tuple[dict, str] | None:
    """A Pending executable node and why it waits (Argo's ``getPendingReason``, quota, locks)."""
    pending = [
        n for n in view.nodes.values() if n.get("type") in EXECUTABLE_TYPES and n.get("phase") == "Pending"
    ]
    pending.sort(key=lambda n: (n.get("type") != "Pod", as_str(n.get("name"))))
    for node in pending:
        text = as_str(node.get("message")).strip()
        if text:
            return node, _clean(text)
    return None


def _waiting_step(view: _View, node: dict) -> str:
    """The step a Pending node stands for: a containerSet Pod stays Pending while any of its containers
    waits (an image that cannot be pulled) though others run; its first waiting container is named."""
    if node.get("type") == "Pod":
        waiting = [c for c in container_index(view.nodes).get(as_str(node.get("id")), []) if c.get("phase") == "Pending"]
        named = [c for c in waiting if node_label(c) != contract.CONTAINER_MAIN] or waiting
        if named and len(named) < len(container_index(view.nodes)[as_str(node.get("id"))]):
            return node_label(min(named, key=lambda c: (_step_rank(c), as_str(c.get("name")))))
    return _step_name(view, node)


def _running_message(view: _View) -> str:
    waiting = _pending_reason(view)
    if waiting is not None:
        node, reason = waiting
        return f"Step {_waiting_step(view, node)} is waiting: {reason}"
    suspended = sorted(
        _step_name(view, n) for n in view.nodes.values() if n.get("type") == "Suspend" and n.get("phase") == "Running"
    )
    if suspended:
        return f"Suspended at step {', '.join(suspended)}, waiting to be resumed"
    containers = container_index(view.nodes)
    for node in view.nodes.values():
        if node.get("type") == "Pod" and node.get("phase") == "Running":
            reported = parse_progress(node.get("progress"))
            is_papermill = _is_papermill(node) or any(_is_papermill(c) for c in containers.get(node["id"], []))
            if is_papermill and reported and reported[1] > 1:
                return f"Running papermill: {reported[0]} of {reported[1]} cells done"
    running = [
        _step_name(view, u.node) for u in view.units if u.node.get("phase") == "Running" and u.weight > 0
    ]
    if running:
        shown = sorted(set(running))
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        return f"Running: {', '.join(shown[:3])}{more}"
    failing = _failing_node(view)
    if failing is not None:  # continueOn, or a retry about to start: the job goes on for now
        text = _node_text(failing)
        return f"Running; step {_step_name(view, failing)} failed" + (f": {text}" if text else "")
    message = as_str(view.status.get("message"))
    if message:
        return _clean(message)
    counted = [u for u in view.units if u.weight > 0]
    if counted and all(u.fraction >= 1 for u in counted):
        return "All steps finished; Argo is completing the workflow"
    return "Job running"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _message(view: _View, status: str) -> str:
    if status == DISMISSED:
        return "Job dismissed"
    if status == SUCCESSFUL:
        started = parse_time(view.status.get("startedAt"))
        finished = parse_time(view.status.get("finishedAt"))
        if started and finished and finished >= started:
            return f"Job finished successfully in {_duration((finished - started).total_seconds())}"
        return "Job finished successfully"
    if status == FAILED:
        return _failure_message(view)
    if status == ACCEPTED:
        waiting = _pending_reason(view)
        if waiting is not None:
            return waiting[1]
        message = as_str(view.status.get("message"))
        return _clean(message) if message else "Job accepted, waiting for its pod to start"
    return _running_message(view)


# ------------------------------------------------------------------------- identity and metadata


def parameters_json(raw: Any) -> str:
    """The job's ``parameters``: a JSON string (pygeoapi's job page ``JSON.parse``s it), secrets masked.

    The annotation is already masked at submission; values under keys that look secret are masked
    again here so nothing slips through. A truncated (unparseable) annotation is returned as
    ``{"truncated": "<text>"}`` so the string stays valid JSON.
    """
    if not isinstance(raw, str) or not raw.strip():
        return "{}"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return json.dumps({"truncated": raw})
    return json.dumps(mask_secrets(parsed))


def _identifier(view: _View) -> str:
    job_id = as_str(view.labels.get(contract.LABEL_JOB_ID))
    if job_id:
        return job_id
    name = as_str(view.metadata.get("name"))
    if name.startswith(contract.WORKFLOW_NAME_PREFIX) and len(name) > len(contract.WORKFLOW_NAME_PREFIX):
        return name[len(contract.WORKFLOW_NAME_PREFIX) :]
    return name or as_str(view.metadata.get("uid")) or as_str(view.metadata.get("generateName"))


def _times(view: _View, status: str) -> dict[str, str | None]:
    created = (
        parse_time(view.annotations.get(contract.ANNOTATION_CREATED))
        or parse_time(view.metadata.get("creationTimestamp"))
        or parse_time(view.status.get("startedAt"))
        or EPOCH
    )
    # Argo's startedAt has whole seconds: never let it precede the (microsecond) creation time
    started = created if status == ACCEPTED else max(created, parse_time(view.status.get("startedAt")) or created)
    finished = parse_time(view.status.get("finishedAt")) if status in TERMINAL_STATUSES else None
    seen: list[datetime] = [created, started]
    if finished is not None:
        seen.append(finished)
    dismissed = parse_time(view.annotations.get(contract.ANNOTATION_DISMISSED))
    if dismissed is not None:
        seen.append(dismissed)
    for node in view.nodes.values():
        for key in ("startedAt", "finishedAt"):
            moment = parse_time(node.get(key))
            if moment is not None:
                seen.append(moment)
    return {
        "created": format_time(created),
        "started": format_time(started),
        "finished": format_time(finished) if finished is not None else None,
        "updated": format_time(max(seen)),
    }


def job_from_workflow(workflow: dict) -> dict:
    """The pygeoapi 0.24 job dict of an Argo Workflow (see module and function docs above).

    Keys: identifier, process_id, status, message, progress, created, started, finished,
    updated, mimetype, parameters. ``created``/``started``/``updated`` are always strings in
    pygeoapi's ``DATETIME_FORMAT`` (``started`` is the creation time until the job runs);
    ``finished`` is a string only once the job has finished. Never raises on odd input.
    """
    view = _view(workflow)
    status = _status(view)
    job = {
        "identifier": _identifier(view),
        "process_id": as_str(view.labels.get(contract.LABEL_PROCESS_ID)),
        "status": status,
        "message": _message(view, status),
        "progress": _progress(view, status),
        **_times(view, status),
        "mimetype": as_str(view.annotations.get(contract.ANNOTATION_RESULT_MIMETYPE)).strip() or DEFAULT_MIMETYPE,
        "parameters": parameters_json(view.annotations.get(contract.ANNOTATION_PARAMETERS)),
    }
    return job
