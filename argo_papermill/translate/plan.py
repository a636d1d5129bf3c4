"""Resolve one execution into plain values: names, paths, Argo parameters, pod fields.

Pure: configuration + validated request + job id + the submission time in, a ``JobPlan`` out.
The builders in ``notebook.py`` only arrange these values into hera objects.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import yaml

from argo_papermill._version import __version__
from argo_papermill.config import ProcessorConfig
from argo_papermill.contract import (
    ANNOTATION_CREATED,
    ANNOTATION_DESCRIPTION,
    ANNOTATION_PARAMETERS,
    ANNOTATION_RESULT_NOTEBOOK,
    ANNOTATION_RESULTS_DIRECTORY,
    ANNOTATION_TITLE,
    DATETIME_FORMAT,
    JOB_HOME,
    LABEL_JOB_ID,
    LABEL_MANAGED_BY,
    LABEL_PROCESS_ID,
    LABEL_VERSION,
    MANAGED_BY,
    MAX_PARAMETERS_ANNOTATION_BYTES,
    WORKFLOW_NAME_PREFIX,
)
from argo_papermill.inputs import NotebookRequest
from argo_papermill.masking import mask_secrets
from argo_papermill.translate.quantity import parse_quantity

PROCESS_ID = "execute-notebook"
JOB_ID_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
FARGATE_LABEL = ("runtime", "fargate")  # the predecessor's pod label, selected by a Fargate profile

# Argo parameter names (workflow arguments) carrying the per-request values
P_NOTEBOOK = "notebook"
P_OUTPUT = "output-notebook"
P_CWD = "cwd"
P_KERNEL = "kernel"
P_PARAMETERS = "parameters"
P_IMAGE = "image"
P_RESULTS = "results-directory"
P_DATA_DIR = "result-data-directory"
P_GIT_REVISION = "git-revision"
# template mode only: scalars that the WorkflowTemplate places into a fixed structure
P_RUNTIME = "runtime"  # "fargate" or "" (enum): the pod label
P_NODE_PURPOSE = "node-purpose"  # a label value: the node affinity's value
P_NODE_PURPOSE_OPERATOR = "node-purpose-operator"  # "In" (a purpose) or "NotIn" with "" (none) (enum)
# papermill's cpu (millicores) and memory (bytes) as integers: read in the podSpecPatch through Argo's
# asInt(), which yields an integer or fails, so no value can change the patch's structure
P_RESOURCE = {
    ("requests", "cpu"): "cpu-request-millicores",
    ("limits", "cpu"): "cpu-limit-millicores",
    ("requests", "memory"): "memory-request-bytes",
    ("limits", "memory"): "memory-limit-bytes",
}


def quantity_integer(kind: str, quantity: str) -> str:
    """A cpu quantity in millicores or a memory quantity in bytes, rounded up (as Kubernetes rounds)."""
    value = parse_quantity(quantity) * (1000 if kind == "cpu" else 1)
    return str(int(value.to_integral_value(rounding="ROUND_CEILING")))


def workflow_name(job_id: str) -> str:
    """``pygeoapi-job-<job id>``; ValueError if the job id cannot be part of a Kubernetes name/label."""
    if not isinstance(job_id, str) or len(job_id) > 50 or not JOB_ID_RE.match(job_id):
        raise ValueError(f"job id {job_id!r} must be lower-case letters, digits and '-', at most 50 characters")
    return WORKFLOW_NAME_PREFIX + job_id


@dataclass(frozen=True)
class JobPlan:
    """Everything one execution needs, resolved."""

    name: str
    job_id: str
    request: NotebookRequest
    output_notebook: str
    results_directory: str
    result_data_directory: str  # absolute, "" = none
    cwd: str
    labels: dict[str, str]
    annotations: dict[str, str]
    pod_labels: dict[str, str] = field(default_factory=dict)

    def arguments(self, config: ProcessorConfig) -> dict[str, str]:
        """The values of the workflow parameters, in declaration order."""
        req = self.request
        args = {
            P_NOTEBOOK: req.notebook,
            P_OUTPUT: self.output_notebook,
            P_CWD: self.cwd,
            P_KERNEL: req.kernel,
            P_PARAMETERS: req.parameters_b64,
            P_IMAGE: req.image,
            P_RESULTS: self.results_directory,
            P_DATA_DIR: self.result_data_directory,
        }
        if config.checkout_git_repo is not None:
            args[P_GIT_REVISION] = req.git_revision
        return args


def papermill_resources(
    config: ProcessorConfig, requested: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """The papermill container's resources: the request's (with ``extra_resource_*``, as validated), cpu and
    memory completed from ``default_resource_requests`` / ``default_resource_limits``.

    A default never conflicts with a value the request chose: a default limit below the request's request
    is raised to it, a default request above the request's limit is lowered to it; a default limit is at
    most ``max_cpu`` / ``max_memory``.
    """
    requests = dict(requested.get("requests") or {})
    limits = dict(requested.get("limits") or {})
    for kind, maximum in (("cpu", config.max_cpu), ("memory", config.max_memory)):
        default_request = kind not in requests and kind in config.default_resource_requests
        default_limit = kind not in limits and kind in config.default_resource_limits
        if default_request:
            requests[kind] = config.default_resource_requests[kind]
        if default_limit:
            limit = config.default_resource_limits[kind]
            if maximum is not None and parse_quantity(limit) > parse_quantity(maximum):
                limit = maximum
            limits[kind] = limit
        if kind in requests and kind in limits and parse_quantity(requests[kind]) > parse_quantity(limits[kind]):
            if default_limit:
                limits[kind] = requests[kind]
            elif default_request:
                requests[kind] = limits[kind]
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def output_paths(
    config: ProcessorConfig, request: NotebookRequest, job_id: str, now: datetime
) -> tuple[str, str]:
    """(output notebook, results directory) as the pod sees them.

    ``<output_directory>/<YYYY-MM-DD>/<output_dirname>/`` holds one folder per job,
    ``<YYYYmmdd-HHMMSS-ffffff>-<stem>-<job id>``, which is the job's own results directory. With
    ``results_in_output_dir`` (default) the notebook goes inside it (``<stem>_result.ipynb`` or
    ``output_filename``); without, beside it as the predecessor did
    (``<stem>_result_<timestamp>_<job id>.ipynb`` or ``output_filename``).
    """
    stem = PurePosixPath(request.notebook).stem
    stamp = now.strftime("%Y%m%d-%H%M%S-%f")
    base = PurePosixPath(config.output_directory) / now.strftime("%Y-%m-%d")
    if request.output_dirname:
        base = base / request.output_dirname
    results = base / f"{stamp}-{stem}-{job_id}"
    if config.results_in_output_dir:
        notebook = results / (request.output_filename or f"{stem}_result.ipynb")
    else:
        notebook = base / (request.output_filename or f"{stem}_result_{stamp}_{job_id}.ipynb")
    return str(notebook), str(results)


def parameters_annotation(request: NotebookRequest) -> str:
    """The request as JSON for the annotation: credentials masked, always valid JSON, <= 4 KiB.

    Base64 ``parameters`` are decoded first so that their secrets are masked too.
    """
    data: dict[str, Any] = request.inputs.model_dump(exclude_unset=True)
    if "parameters" in data:
        try:
            data["parameters"] = yaml.safe_load(base64.b64decode(data["parameters"]).decode())
        except (ValueError, yaml.YAMLError):  # validated before; keep the annotation best-effort
            data["parameters"] = "*"
    data = mask_secrets(data)
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    if len(text.encode()) <= MAX_PARAMETERS_ANNOTATION_BYTES:
        return text
    short = {k: (_shorten(v) if k not in ("notebook",) else v) for k, v in data.items()}
    short["_truncated"] = True
    text = json.dumps(short, ensure_ascii=False, sort_keys=True, default=str)
    if len(text.encode()) <= MAX_PARAMETERS_ANNOTATION_BYTES:
        return text
    return json.dumps({"notebook": request.notebook[:512], "_truncated": True})


def _shorten(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= 200 else text[:200] + "…"


UI_TITLE_CHARS = 60
UI_PATH_CHARS = 100


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters; a longer text keeps its start and end around an ellipsis."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def ui_title(notebook_name: str) -> str:
    """The Argo UI's list title (``workflows.argoproj.io/title``, rendered as Markdown since v3.6): the
    notebook's file name, short, with only characters that Markdown shows as they are."""
    safe = "".join(c if c.isalnum() or c in " .-_" else "?" for c in notebook_name).strip() or "notebook"
    return _shorten(safe, UI_TITLE_CHARS)


def ui_description(notebook: str, kernel: str | None, job_id: str) -> str:
    """One line under the title: the pygeoapi job and the notebook (and kernel), each a code span, so a
    user's path can neither format nor link anything (backticks and line breaks are dropped)."""
    def code(value: str, limit: int) -> str:
        return "`" + _shorten(" ".join(value.replace("`", "'").split()), limit) + "`"

    kernel_part = f", kernel {code(kernel, 40)}" if kernel else ""
    return f"pygeoapi job {code(job_id, 64)}: {code(notebook, UI_PATH_CHARS)}{kernel_part}"


def plan_job(config: ProcessorConfig, request: NotebookRequest, job_id: str, now: datetime) -> JobPlan:
    """Resolve a validated request into a JobPlan (pure)."""
    name = workflow_name(job_id)
    output_notebook, results = output_paths(config, request, job_id, now)
    data_dir = ""
    if request.result_data_directory:
        data_dir = str(PurePosixPath(JOB_HOME) / request.result_data_directory.replace("{job_name}", name))
    nb = PurePosixPath(request.notebook)
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_VERSION: __version__,
        LABEL_PROCESS_ID: PROCESS_ID,
        LABEL_JOB_ID: job_id,
    }
    annotations = {
        ANNOTATION_TITLE: ui_title(nb.name),
        ANNOTATION_DESCRIPTION: ui_description(request.notebook, request.kernel, job_id),
        ANNOTATION_PARAMETERS: parameters_annotation(request),
        ANNOTATION_RESULT_NOTEBOOK: output_notebook,
        ANNOTATION_RESULTS_DIRECTORY: results,
        ANNOTATION_CREATED: now.strftime(DATETIME_FORMAT),
    }
    pod_labels = dict([FARGATE_LABEL]) if request.run_on_fargate else {}
    return JobPlan(
        name=name,
        job_id=job_id,
        request=request,
        output_notebook=output_notebook,
        results_directory=results,
        result_data_directory=data_dir,
        cwd=str(nb.parent),
        labels=labels,
        annotations=annotations,
        pod_labels=pod_labels,
    )
