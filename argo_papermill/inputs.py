"""The execution request of ``execute-notebook``: typed, validated, every violation named.

``validate_inputs`` is pure: it takes the request's ``inputs`` and the processor configuration and
returns a ``NotebookRequest`` or raises ``InvalidInputError`` (HTTP 400) whose message names the
field and the rule. Nothing is created before validation succeeded.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from argo_papermill.config import ProcessorConfig, is_label_value
from argo_papermill.contract import JOB_HOME
from argo_papermill.errors import InvalidInputError
from argo_papermill.translate.quantity import is_quantity, parse_quantity

MAX_STRING = 1024
NAME_MAX = 255  # bytes of one file or folder name (Linux, and most object stores' key parts)
# the results folder is <YYYYmmdd-HHMMSS-ffffff>-<stem>-<job id> and the notebook <stem>_result_<stamp>_<id>.ipynb
MAX_STEM_BYTES = NAME_MAX - len("_result_20260101-000000-000000_.ipynb") - 36
MAX_PARAMETERS_DEPTH = 32  # nesting of parameters_json (each level is a mapping or list of the notebook's)
KERNEL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+@:-]*$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class NotebookInputs(BaseModel):
    """The inputs object of an execution request, as typed as JSON allows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notebook: StrictStr = Field(min_length=1, max_length=MAX_STRING)
    parameters: StrictStr | None = None
    parameters_json: dict[str, Any] | None = None
    kernel: StrictStr | None = Field(default=None, max_length=255)
    image: StrictStr | None = Field(default=None, max_length=MAX_STRING)
    output_filename: StrictStr | None = Field(default=None, max_length=255)
    output_dirname: StrictStr | None = Field(default=None, max_length=255)
    cpu_requests: StrictStr | None = None
    cpu_limit: StrictStr | None = None
    mem_requests: StrictStr | None = None
    mem_limit: StrictStr | None = None
    result_data_directory: StrictStr | None = Field(default=None, max_length=MAX_STRING)
    git_revision: StrictStr | None = Field(default=None, max_length=255)
    node_purpose: StrictStr | None = None
    run_on_fargate: StrictBool = False
    timeout: StrictInt | None = Field(default=None, ge=1)


class NotebookRequest(BaseModel):
    """A validated request: the inputs resolved against the configuration."""

    model_config = ConfigDict(frozen=True)

    inputs: NotebookInputs
    notebook: str  # absolute, normalised
    parameters_b64: str  # "" = none
    kernel: str  # "" = the notebook's own
    image: str
    output_filename: str | None
    output_dirname: str | None
    result_data_directory: str | None  # relative to the job home, may hold "{job_name}"
    git_revision: str  # "" = the default branch
    node_purpose: str | None  # None with fargate or without any purpose configured
    run_on_fargate: bool
    timeout_seconds: int | None
    resources: dict[str, dict[str, str]]  # {"requests": {...}, "limits": {...}} of the papermill container


def _bad(field: str, rule: str) -> InvalidInputError:
    return InvalidInputError(f"Invalid input {field!r}: {rule}", field=field)


def _plain(field: str, value: str | None, *, option_like: bool = True) -> None:
    """Rules shared by every string that travels as an argv item or an Argo parameter."""
    if value is None:
        return
    if CONTROL_RE.search(value):
        raise _bad(field, "must not contain control characters")
    if "{{" in value or "}}" in value:
        raise _bad(field, "must not contain '{{' or '}}' (Argo expression syntax)")
    if option_like and value.startswith("-"):
        raise _bad(field, "must not start with '-' (it would be read as an option)")


# pydantic error types -> the rule in the words of a JSON request
_TYPE_RULES = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_type": "must be a boolean (true or false)",
    "dict_type": "must be a JSON object (dictionary)",
}


def _from_pydantic(err: ValidationError) -> InvalidInputError:
    item = err.errors()[0]
    field = str(item["loc"][0]) if item["loc"] else "inputs"
    if item["type"] == "extra_forbidden":
        known = ", ".join(NotebookInputs.model_fields)
        return _bad(field, f"unknown input (known inputs: {known})")
    rule = _TYPE_RULES.get(item["type"]) or re.sub(r"^(Input|String|Value) should", "must", item["msg"])
    return _bad(field, rule)


def _parameters(inputs: NotebookInputs, limit: int) -> str:
    """The notebook parameters as base64 YAML (JSON is YAML), at most ``limit`` bytes; "" for none.

    ``parameters_json`` wins over ``parameters``, as in the predecessor.
    """
    if inputs.parameters_json is not None:
        from argo_papermill.request_guard import json_depth

        if json_depth(inputs.parameters_json) > MAX_PARAMETERS_DEPTH:
            raise _bad("parameters_json", f"nested deeper than {MAX_PARAMETERS_DEPTH} levels")
        return _within_limit("parameters_json", _encoded_json(inputs.parameters_json), limit)
    if inputs.parameters:
        text = inputs.parameters.strip()
        _within_limit("parameters", text, limit)  # before decoding: valid base64 keeps its length
        return _within_limit("parameters", _checked_base64_yaml(text), limit)
    return ""


def _encoded_json(value: dict[str, Any]) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise _bad("parameters_json", f"must be plain JSON: {err}") from None
    return base64.b64encode(text.encode()).decode()


def _checked_base64_yaml(text: str) -> str:
    """``text`` normalised, if it is base64 of a YAML mapping (or of nothing)."""
    try:
        raw = base64.b64decode(text, validate=True)
        loaded = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        raise _bad("parameters", "must be base64-encoded YAML (the decoded text is not YAML)") from None
    except (binascii.Error, ValueError):
        raise _bad("parameters", "must be base64-encoded YAML (not valid base64)") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise _bad("parameters", "must be base64-encoded YAML of a mapping (name: value)")
    return base64.b64encode(raw).decode()


def _within_limit(field: str, encoded: str, limit: int) -> str:
    if len(encoded) > limit:
        raise _bad(field, f"too large: {len(encoded)} bytes once base64-encoded, more than the configured "
                          f"maximum of {limit} bytes (max_parameters_bytes)")
    return encoded


def _name_bytes(field: str, name: str) -> None:
    """A file or folder name the job's filesystem can hold: at most 255 bytes (UTF-8)."""
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
        raise _bad(field, f"a file or folder name may have at most {NAME_MAX} bytes (UTF-8); "
                          f"{name[:40]!r}... has more")


def _notebook(value: str) -> str:
    _plain("notebook", value)
    path = posixpath.normpath(posixpath.join(JOB_HOME, value))
    if path in ("/", JOB_HOME):
        raise _bad("notebook", "must name a notebook file")
    for part in path.split("/"):
        _name_bytes("notebook", part)
    stem = posixpath.splitext(posixpath.basename(path))[0]
    if len(stem.encode("utf-8", "surrogatepass")) > MAX_STEM_BYTES:
        raise _bad("notebook", f"its name may have at most {MAX_STEM_BYTES} bytes without '.ipynb': the job's "
                               f"results folder and notebook are named after it, and a name has at most "
                               f"{NAME_MAX} bytes")
    return path


def _kernel(value: str | None) -> str:
    """The kernel name for ``-k``; "" = the notebook's own."""
    _plain("kernel", value)
    if value and not KERNEL_RE.match(value):
        raise _bad("kernel", "may contain only letters, digits and '_.+@:-'")
    return value or ""


def _git_revision(value: str | None, config: ProcessorConfig) -> str:
    """The revision git-checkout checks out; "" = the default branch."""
    if value is None:
        return ""
    _plain("git_revision", value)
    if re.search(r"\s|\.\.", value):
        raise _bad("git_revision", "must be a commit, tag or branch name (no spaces, no '..')")
    if config.checkout_git_repo is None:
        raise _bad("git_revision", "no git repository is configured (checkout_git_repo)")
    return value


def _name_part(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    _plain(field, value, option_like=False)
    if "/" in value or "\\" in value or value in ("", ".", ".."):
        raise _bad(field, "must be a plain file or folder name (no '/', '.' or '..': no path traversal)")
    _name_bytes(field, value)
    return value


def _result_data_directory(value: str | None) -> str | None:
    if value is None:
        return None
    _plain("result_data_directory", value, option_like=False)
    check = value.replace("{job_name}", "job")
    if re.search(r"[{}]", check):
        raise _bad("result_data_directory", "the only placeholder allowed is {job_name}")
    if check.startswith("/"):
        raise _bad("result_data_directory", f"must be relative to {JOB_HOME}")
    parts = [p for p in check.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise _bad("result_data_directory", f"must be a folder inside {JOB_HOME} (no '..': no path traversal)")
    for part in value.replace("{job_name}", "pygeoapi-job-" + "0" * 36).split("/"):
        _name_bytes("result_data_directory", part)
    return "/".join(p for p in value.split("/") if p not in ("", "."))


def _image(value: str | None, config: ProcessorConfig) -> str:
    if value is None or value == config.default_image:
        return config.default_image
    _plain("image", value)
    if not config.allowed_images_regex:
        raise _bad("image", "custom images are not allowed (no allowed_images_regex is configured)")
    if not re.fullmatch(config.allowed_images_regex, value):
        raise _bad("image", f"image {value!r} does not match allowed_images_regex")
    return value


def _node_purpose(inputs: NotebookInputs, config: ProcessorConfig) -> str | None:
    if inputs.run_on_fargate:
        if not config.allow_fargate:
            raise _bad("run_on_fargate", "running on Fargate is not allowed (allow_fargate is off)")
        if inputs.node_purpose is not None:
            raise _bad("node_purpose", "cannot be combined with run_on_fargate")
        return None
    value = inputs.node_purpose
    if value is None:
        return config.default_node_purpose
    _plain("node_purpose", value)
    if not is_label_value(value):
        raise _bad("node_purpose", "must be a valid Kubernetes label value")
    if not config.allowed_node_purposes_regex:
        raise _bad("node_purpose", "choosing a node purpose is not allowed (no allowed_node_purposes_regex)")
    if not re.fullmatch(config.allowed_node_purposes_regex, value):
        raise _bad("node_purpose", f"node purpose {value!r} does not match allowed_node_purposes_regex")
    return value


def _resources(inputs: NotebookInputs, config: ProcessorConfig) -> dict[str, dict[str, str]]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for field, kind, target, maximum in (
        ("cpu_requests", "cpu", requests, config.max_cpu),
        ("cpu_limit", "cpu", limits, config.max_cpu),
        ("mem_requests", "memory", requests, config.max_memory),
        ("mem_limit", "memory", limits, config.max_memory),
    ):
        value = getattr(inputs, field)
        if value is None:
            continue
        if not is_quantity(value):
            raise _bad(field, f"{value!r} is not a Kubernetes quantity (e.g. '500m', '2', '4Gi')")
        if maximum is not None and parse_quantity(value) > parse_quantity(maximum):
            raise _bad(field, f"{value} is larger than the configured maximum {maximum}")
        target[kind] = value
    # configured extras win over request values (as in the predecessor)
    requests.update(config.extra_resource_requests)
    limits.update(config.extra_resource_limits)
    for kind, req_field, limit_field in (("cpu", "cpu_requests", "cpu_limit"), ("memory", "mem_requests", "mem_limit")):
        if kind in requests and kind in limits and parse_quantity(requests[kind]) > parse_quantity(limits[kind]):
            field = limit_field if kind in config.extra_resource_requests else req_field  # the one the user chose
            where = " (configured extra_resource_limits)" if kind in config.extra_resource_limits else ""
            raise _bad(field, f"the request {requests[kind]} is larger than the limit {limits[kind]}{where}")
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def _timeout(value: int | None, config: ProcessorConfig) -> int | None:
    if value is None:
        return config.default_timeout_seconds
    if config.max_timeout_seconds is not None and value > config.max_timeout_seconds:
        raise _bad("timeout", f"{value} s is longer than the configured maximum {config.max_timeout_seconds} s")
    return value


def validate_inputs(data: Any, config: ProcessorConfig) -> NotebookRequest:
    """Validate an execution request's ``inputs``; InvalidInputError (400) names the field and rule."""
    if not isinstance(data, dict):
        raise InvalidInputError("Invalid input: the inputs must be a JSON object", field="inputs")
    try:
        inputs = NotebookInputs.model_validate(data)
    except ValidationError as err:
        raise _from_pydantic(err) from None
    return NotebookRequest(
        inputs=inputs,
        notebook=_notebook(inputs.notebook),
        parameters_b64=_parameters(inputs, config.max_parameters_bytes),
        kernel=_kernel(inputs.kernel),
        image=_image(inputs.image, config),
        output_filename=_name_part("output_filename", inputs.output_filename),
        output_dirname=_name_part("output_dirname", inputs.output_dirname),
        result_data_directory=_result_data_directory(inputs.result_data_directory),
        git_revision=_git_revision(inputs.git_revision, config),
        node_purpose=_node_purpose(inputs, config),
        run_on_fargate=inputs.run_on_fargate,
        timeout_seconds=_timeout(inputs.timeout, config),
        resources=_resources(inputs, config),
    )
