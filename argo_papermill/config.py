"""The processor's configuration: every key of the predecessor's processor, plus Argo's own.

pygeoapi hands a processor the ``resources.<id>.processor`` block of its configuration. It is
parsed here once, strictly: an unknown key (a typo) or a bad value is a ``ConfigurationError``
naming the key, raised when the processor is constructed, never a silently ignored setting.
``docs/configuration.md`` documents every key; keep the two in step.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from argo_papermill import contract
from argo_papermill._version import __version__
from argo_papermill.errors import ConfigurationError
from argo_papermill.translate.quantity import is_quantity, parse_quantity

DEFAULT_IMAGE = f"argo-papermill-job:{__version__}"
DEFAULT_TEMPLATE_NAME = "papermill-notebook"
S3_DEFAULT_LIMITS = {"cpu": "200m", "memory": "512Mi"}  # the predecessor's s3fs sidecar
S3_DEFAULT_REQUESTS = {"cpu": "50m", "memory": "32Mi"}
# papermill's cpu/memory when a request names none: explicit, so that a workflow-controller's mainContainer
# default (Argo's documented example: limits 0.5 CPU / 512Mi) does not decide a notebook's size, nor refuse a
# pod whose request is above that default limit
PAPERMILL_DEFAULT_REQUESTS = {"cpu": "250m", "memory": "1Gi"}
PAPERMILL_DEFAULT_LIMITS = {"cpu": "4", "memory": "16Gi"}
PAPERMILL_RESOURCE_KINDS = ("cpu", "memory")
# The largest notebook parameters (base64 text) a request may carry: they travel as one argv item,
# and Argo moves a pod's args elsewhere beyond 128 KiB. ``max_parameters_bytes`` may lower it.
MAX_PARAMETERS_BYTES = 96 * 1024

Quantity = str
K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def is_label_value(value: str) -> bool:
    """Whether Kubernetes accepts ``value`` as a label value (node affinity values are label values)."""
    return len(value) <= 63 and LABEL_VALUE_RE.match(value) is not None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _k8s_name(value: str | None, what: str = "name") -> str | None:
    if value == "":
        return None  # the predecessor's way of saying "not set"
    if value is not None and (len(value) > 253 or not K8S_NAME_RE.match(value)):
        raise ValueError(f"{value!r} is not a valid Kubernetes {what} (lower case letters, digits, '-', '.')")
    return value


def _quantity(value: Any, what: str = "") -> str:
    """A Kubernetes quantity as a string (YAML numbers such as ``2`` become ``"2"``); ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not is_quantity(value):
        raise ValueError(f"{what}{value!r} is not a Kubernetes quantity")
    return value


def _quantities(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be a mapping of resource name to quantity")
    return {str(key): _quantity(qty, f"{key}: ") for key, qty in value.items()}


def _requests_above_limits(requests: dict[str, str], limits: dict[str, str]) -> list[str]:
    """Resources whose request is larger than its limit (Kubernetes refuses such a pod)."""
    return [
        f"{name}: request {requests[name]} > limit {limits[name]}"
        for name in sorted(requests.keys() & limits.keys())
        if is_quantity(requests[name]) and is_quantity(limits[name])
        and parse_quantity(requests[name]) > parse_quantity(limits[name])
    ]


def _absolute_path(value: str) -> str:
    """An absolute path without ``..``, without a trailing slash."""
    if not value.startswith("/") or ".." in value.split("/"):
        raise ValueError("must be an absolute path without '..'")
    return value.rstrip("/") or "/"


def _compile(value: str | None) -> str | None:
    if value:
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"not a valid regular expression: {err}") from err
    return value or None


class S3Config(_Strict):
    """A bucket mounted with s3fs-fuse by the ``s3-mount`` container for the papermill step."""

    bucket_name: str = Field(min_length=1)
    secret_name: str  # Secret with keys ``username`` (access key id) and ``password`` (secret key)
    s3_url: str | None = None  # endpoint; None = AWS
    mount_path: str = "/home/jovyan/s3"
    resource_limits: dict[str, Quantity] = {}
    resource_requests: dict[str, Quantity] = {}
    image: str | None = None  # image with sh and s3fs; None = the job image
    path_style: bool = False  # s3fs use_path_request_style (MinIO, moto, most non-AWS stores)
    mount_timeout_seconds: int = Field(default=300, ge=1, le=3600)

    _name = field_validator("secret_name")(lambda v: _k8s_name(v, "Secret name"))
    _q = field_validator("resource_limits", "resource_requests", mode="before")(_quantities)

    _path = field_validator("mount_path")(_absolute_path)

    @property
    def limits(self) -> dict[str, str]:
        """The s3-mount container's limits: the predecessor's defaults, overridden by ``resource_limits``."""
        return {**S3_DEFAULT_LIMITS, **self.resource_limits}

    @property
    def requests(self) -> dict[str, str]:
        return {**S3_DEFAULT_REQUESTS, **self.resource_requests}

    @model_validator(mode="after")
    def _requests_within_limits(self) -> S3Config:
        above = _requests_above_limits(self.requests, self.limits)
        if above:
            raise ValueError(f"resource_requests larger than resource_limits ({'; '.join(above)})")
        return self

    @field_validator("s3_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; they belong in the Secret named by secret_name")
        if "," in v:
            raise ValueError("must not contain ','")
        return v


class GitRepoConfig(_Strict):
    """A repository cloned by the ``git-checkout`` container into ~/git/algorithm."""

    url: str = Field(min_length=1)
    secret_name: str | None = None  # Secret with keys ``username`` and ``password``
    image: str | None = None  # image with sh and git; None = the job image
    enabled: bool = True  # accepted for the predecessor's Helm values; false = not configured

    _name = field_validator("secret_name")(lambda v: _k8s_name(v, "Secret name"))

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" not in v and not v.startswith("git@"):
            v = "https://" + v  # the predecessor's form: host/path without a scheme
        parts = urlsplit(v)
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; they belong in the Secret named by secret_name")
        if v.startswith("-"):
            raise ValueError("must not start with '-'")
        return v


class SecretConfig(_Strict):
    name: str
    access: Literal["mount", "env"] = "mount"

    _name = field_validator("name")(lambda v: _k8s_name(v, "Secret name"))


class ExtraPvc(_Strict):
    claim_name: str
    mount_path: str
    sub_path: str | None = None

    _name = field_validator("claim_name")(lambda v: _k8s_name(v, "claim name"))
    _path = field_validator("mount_path")(_absolute_path)

    @field_validator("sub_path")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        if v is not None and (v.startswith("/") or ".." in v.split("/")):
            raise ValueError("must be a relative path without '..' (as Kubernetes requires of subPath)")
        return v or None


class ProcessorConfig(_Strict):
    """Every key of ``resources.execute-notebook.processor`` (see docs/configuration.md)."""

    name: str | None = None  # pygeoapi's plugin name, e.g. argo_papermill.NotebookProcessor
    allow_internal_requests: bool = False  # read by pygeoapi itself

    # image
    default_image: str = DEFAULT_IMAGE
    allowed_images_regex: str | None = None
    image_pull_secret: str | None = None
    # storage and results
    s3: S3Config | None = None
    output_directory: str = "/home/jovyan/job-output"
    results_in_output_dir: bool = True
    home_volume_claim_name: str | None = None
    extra_pvcs: list[ExtraPvc] = []
    extra_volumes: list[dict[str, Any]] = []
    extra_volume_mounts: list[dict[str, Any]] = []
    secrets: list[SecretConfig] = []
    auto_mount_secrets: bool = False
    checkout_git_repo: GitRepoConfig | None = None
    conda_store_groups: list[str] = []
    conda_store_claim_name: str = "conda-store-core-share"
    jupyter_base_url: str | None = None  # accepted for old configurations; unused (as in the predecessor)
    # papermill
    log_output: bool = True
    progress_engine: bool = True  # the job image has the argo_progress papermill engine
    # scheduling
    node_purpose_label_key: str = "hub.eox.at/node-purpose"
    default_node_purpose: str | None = None
    allowed_node_purposes_regex: str | None = None
    tolerations: list[dict[str, Any]] = []
    job_service_account: str | None = None
    executor_service_account: str | None = None  # Argo's executor's own account: the pod gets no token
    allow_fargate: bool = False
    run_as_user: int | None = Field(default=None, ge=0)
    run_as_group: int | None = Field(default=None, ge=0)
    extra_resource_limits: dict[str, Quantity] = {}
    extra_resource_requests: dict[str, Quantity] = {}
    default_resource_requests: dict[str, Quantity] = PAPERMILL_DEFAULT_REQUESTS
    default_resource_limits: dict[str, Quantity] = PAPERMILL_DEFAULT_LIMITS
    max_cpu: Quantity | None = None
    max_memory: Quantity | None = None
    max_parameters_bytes: int = Field(default=MAX_PARAMETERS_BYTES, ge=1, le=MAX_PARAMETERS_BYTES)
    # Argo
    default_timeout_seconds: int | None = Field(default=86400, ge=1)
    max_timeout_seconds: int | None = Field(default=7 * 86400, ge=1)
    workflow_ttl_seconds: int | None = Field(default=100 * 86400, ge=0)
    pod_gc_strategy: Literal["OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"] | None = (
        "OnPodSuccess"
    )
    result_artifact: bool = False  # an Argo artifact repository is configured: upload the result notebook
    use_workflow_template: bool = False  # reference the installed WorkflowTemplate instead of inlining
    workflow_template_name: str = DEFAULT_TEMPLATE_NAME

    _regexes = field_validator("allowed_images_regex", "allowed_node_purposes_regex")(_compile)
    _quant = field_validator(
        "extra_resource_limits", "extra_resource_requests", "default_resource_requests", "default_resource_limits",
        mode="before",
    )(_quantities)

    @field_validator("default_resource_requests", "default_resource_limits")
    @classmethod
    def _cpu_memory(cls, v: dict[str, str]) -> dict[str, str]:
        other = sorted(set(v) - set(PAPERMILL_RESOURCE_KINDS))
        if other:
            raise ValueError(f"only cpu and memory have defaults ({', '.join(other)}: use extra_resource_*)")
        return v
    _names = field_validator(
        "image_pull_secret", "home_volume_claim_name", "job_service_account", "workflow_template_name",
        "conda_store_claim_name", "executor_service_account",
    )(_k8s_name)

    _outdir = field_validator("output_directory")(_absolute_path)

    @field_validator("max_cpu", "max_memory", mode="before")
    @classmethod
    def _max(cls, v: Any) -> Any:
        return None if v is None else _quantity(v)

    @field_validator("node_purpose_label_key")
    @classmethod
    def _label_key(cls, v: str) -> str:
        if not LABEL_KEY_RE.match(v):
            raise ValueError(f"{v!r} is not a valid Kubernetes label key")
        return v

    @field_validator("default_node_purpose")
    @classmethod
    def _purpose(cls, v: str | None) -> str | None:
        if v and not is_label_value(v):
            raise ValueError(f"{v!r} is not a valid Kubernetes label value")
        return v or None

    @field_validator("conda_store_groups")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        for group in v:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", group):
                raise ValueError(f"{group!r} is not a valid conda-store group name")
        return v

    @field_validator("checkout_git_repo")
    @classmethod
    def _git_enabled(cls, v: GitRepoConfig | None) -> GitRepoConfig | None:
        return v if v is not None and v.enabled else None

    @model_validator(mode="before")
    @classmethod
    def _default_within_max(cls, data: Any) -> Any:
        """A maximum timeout alone lowers the built-in default timeout to it."""
        if isinstance(data, dict) and "default_timeout_seconds" not in data:
            maximum = data.get("max_timeout_seconds")
            if isinstance(maximum, int) and not isinstance(maximum, bool) and 1 <= maximum < 86400:
                data = {**data, "default_timeout_seconds": maximum}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ProcessorConfig:
        if (
            self.default_timeout_seconds is not None
            and self.max_timeout_seconds is not None
            and self.default_timeout_seconds > self.max_timeout_seconds
        ):
            raise ValueError("default_timeout_seconds must not exceed max_timeout_seconds")
        braces = _argo_syntax(self.model_dump(exclude={"name"}))
        if braces:
            raise ValueError(f"{braces}: must not contain '{{{{' or '}}}}' (Argo would read it as an expression)")
        above = _requests_above_limits(self.extra_resource_requests, self.extra_resource_limits)
        if above:
            raise ValueError(f"extra_resource_requests larger than extra_resource_limits ({'; '.join(above)})")
        above = _requests_above_limits(self.default_resource_requests, self.default_resource_limits)
        if above:
            raise ValueError(f"default_resource_requests larger than default_resource_limits ({'; '.join(above)})")
        if self.use_workflow_template:
            missing = [f"{kind} {what}" for kind in PAPERMILL_RESOURCE_KINDS for what, default, extra in (
                ("request", self.default_resource_requests, self.extra_resource_requests),
                ("limit", self.default_resource_limits, self.extra_resource_limits),
            ) if kind not in default and kind not in extra]
            if missing:
                raise ValueError(
                    "use_workflow_template: the WorkflowTemplate gives papermill's cpu and memory requests and "
                    f"limits a fixed place, so each needs a default; missing: {', '.join(missing)} "
                    "(default_resource_requests / default_resource_limits)")
            if self.auto_mount_secrets:
                raise ValueError(
                    "auto_mount_secrets cannot be combined with use_workflow_template: the Secrets it adds "
                    "differ per job, and a WorkflowTemplate parameter naming Secrets would let anyone who can "
                    "submit the template (Argo UI, CLI) read any Secret of the namespace into the notebook")
        if len(self.extra_volumes) != len({v.get("name") for v in self.extra_volumes}):
            raise ValueError("extra_volumes: volume names must be unique")
        reserved = _reserved_problems(self)
        if reserved:
            raise ValueError("; ".join(reserved))
        return self

    @field_validator("extra_volumes", "extra_volume_mounts", "tolerations")
    @classmethod
    def _k8s_objects(cls, v: list[dict[str, Any]], info: ValidationInfo) -> list[dict[str, Any]]:
        from hera.workflows.models import Toleration, Volume, VolumeMount

        model = {"extra_volumes": Volume, "extra_volume_mounts": VolumeMount, "tolerations": Toleration}[info.field_name]
        return [strict_k8s_object(model, item, f"[{i}]") for i, item in enumerate(v)]

    @property
    def pod_user(self) -> int:
        """The uid the papermill step runs as (the image's jovyan, 1000, unless configured)."""
        return 1000 if self.run_as_user is None else self.run_as_user

    @property
    def pod_group(self) -> int:
        return 100 if self.run_as_group is None else self.run_as_group


# Volume names of the pod (docs/architecture.md) that configured volumes must not take, besides Argo's own
_OUR_VOLUMES = frozenset({
    contract.WORKSPACE_VOLUME, contract.HOME_VOLUME, contract.GIT_VOLUME, contract.S3_VOLUME,
    contract.CONDA_VOLUME, contract.TMP_VOLUME,
})
_NUMBERED_VOLUME_RE = re.compile(
    rf"^({re.escape(contract.EXTRA_PVC_VOLUME_PREFIX)}|{re.escape(contract.SECRET_VOLUME_PREFIX)})[0-9]+$"
)


def _reserved_volume(name: Any) -> str | None:
    """Why ``name`` cannot be a configured volume's name, or None."""
    if name in contract.ARGO_VOLUMES:
        return "is the name of a volume Argo adds to every workflow pod"
    if name in _OUR_VOLUMES or (isinstance(name, str) and _NUMBERED_VOLUME_RE.match(name)):
        return "is the name of a volume of the job pod (docs/architecture.md)"
    return None


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _reserved_path(path: Any) -> str | None:
    """Why a mount at ``path`` in the papermill container is refused, or None."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None  # Kubernetes' own validation (hera's model) speaks to that
    path = path.rstrip("/") or "/"
    for argo in contract.ARGO_PATHS:
        if _under(path, argo) or _under(argo, path):
            return f"Argo mounts or uses {argo} in every workflow pod"
    if _under(path, contract.WORKSPACE_PATH) or _under(contract.WORKSPACE_PATH, path):
        return f"{contract.WORKSPACE_PATH} is the pod's shared workspace volume"
    if path in ("/", contract.JOB_HOME, contract.TMP_PATH):
        return f"{path} is a volume of the job pod already (docs/architecture.md)"
    return None


def _reserved_problems(config: ProcessorConfig) -> list[str]:
    """Configured volumes and mounts that would take a name or path of Argo's or of the pod's own.

    Kubernetes refuses a pod with two volumes of one name or two mounts at one path only when Argo creates
    the pod, as a Workflow error at run time; at start-up the key is named instead.
    """
    problems = []
    for i, volume in enumerate(config.extra_volumes):
        why = _reserved_volume(volume.get("name"))
        if why:
            problems.append(f"extra_volumes[{i}].name {volume.get('name')!r} {why}")
    for i, mount in enumerate(config.extra_volume_mounts):
        if mount.get("name") in contract.ARGO_VOLUMES:
            problems.append(f"extra_volume_mounts[{i}].name {mount.get('name')!r} is a volume Argo manages")
    mounts: list[tuple[str, str]] = [(f"extra_pvcs[{i}].mount_path", pvc.mount_path)
                                     for i, pvc in enumerate(config.extra_pvcs)]
    mounts += [(f"extra_volume_mounts[{i}].mountPath", m.get("mountPath")) for i, m in enumerate(config.extra_volume_mounts)]
    if config.s3 is not None:
        mounts.append(("s3.mount_path", config.s3.mount_path))
    for key, path in mounts:
        why = _reserved_path(path)
        if why:
            problems.append(f"{key} {path!r}: {why}")
    # mounts of the papermill container, ours included: two at one path are refused by Kubernetes
    taken: dict[str, str] = {}
    if config.checkout_git_repo is not None:
        taken[contract.GIT_MOUNT_PATH] = "checkout_git_repo (the git checkout)"
    for secret in config.secrets:
        if secret.access == "mount":
            taken[f"{contract.SECRET_MOUNT_DIR}/{secret.name}"] = f"secrets ({secret.name!r})"
    for group in config.conda_store_groups:
        taken[f"/home/conda/{group}"] = f"conda_store_groups ({group!r})"
    for key, path in mounts:
        if not isinstance(path, str):
            continue
        path = path.rstrip("/") or "/"
        if path in taken:
            problems.append(f"{key} {path!r} is the mount path of {taken[path]} as well")
        taken.setdefault(path, key)
    return problems


def _argo_syntax(value: Any, path: str = "") -> str | None:
    """The path of the first string holding Argo's ``{{`` / ``}}``, if any."""
    if isinstance(value, str):
        return path or "value" if ("{{" in value or "}}" in value) else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _argo_syntax(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def strict_k8s_object(model: type, data: Any, where: str) -> dict[str, Any]:
    """``data`` as Kubernetes would store it (camelCase); ValueError on unknown keys or bad types.

    hera's models silently drop unknown keys, so the dump is compared with the input to catch typos.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be a mapping")
    try:
        obj = model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"{where}.{_error_location(first['loc'])}: {first['msg']}") from None
    dumped = obj.model_dump(by_alias=True, exclude_none=True, mode="json")
    lost = _lost_keys(_camel(data), dumped)
    if lost:
        raise ValueError(f"{where}: unknown field {lost!r}")
    return dumped


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_key(k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    head, *rest = str(key).split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _lost_keys(given: Any, kept: Any, path: str = "") -> str | None:
    if isinstance(given, dict) and isinstance(kept, dict):
        for key, value in given.items():
            if value is None:
                continue
            if key not in kept:
                return f"{path}{key}"
            lost = _lost_keys(value, kept[key], f"{path}{key}.")
            if lost:
                return lost
    elif isinstance(given, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(given, kept)):
            lost = _lost_keys(a, b, f"{path}{i}.")
            if lost:
                return lost
    return None


def _error_location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "processor"


def _rule(message: str) -> str:
    """pydantic's message as a rule: "Value error, x" -> "x", "Input should be a list" -> "must be a list"."""
    return re.sub(r"^(Input|String|Value) should", "must", message.removeprefix("Value error, "))


def load_processor_config(processor_def: dict | None) -> ProcessorConfig:
    """Parse the ``processor`` block of a pygeoapi resource; ConfigurationError names the bad key."""
    try:
        return ProcessorConfig.model_validate(dict(processor_def or {}))
    except ValidationError as err:
        problems = []
        for item in err.errors():
            where = _error_location(item["loc"])
            if item["type"] == "extra_forbidden":
                problems.append(f"unknown configuration key {where!r}")
            elif not item["loc"]:  # a check across keys: its message names them
                problems.append(_rule(item["msg"]))
            else:
                problems.append(f"configuration key {where!r}: {_rule(item['msg'])}")
        raise ConfigurationError("execute-notebook processor: " + "; ".join(problems)) from None
