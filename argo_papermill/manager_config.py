"""The ``server.manager`` block of a pygeoapi config, as a strict pydantic model.

A typo in a key is a ``ConfigurationError`` at start-up, not a silently ignored
setting. Building the model does no I/O: ``pygeoapi openapi generate`` constructs
the manager.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from argo_papermill.errors import ConfigurationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class KubernetesSettings(_Strict):
    """How to reach the Kubernetes API (kubectl's rules when nothing is given)."""

    kubeconfig: str | None = None  # path; default: $KUBECONFIG, then ~/.kube/config, then in-cluster
    context: str | None = None
    server: str | None = None  # explicit API URL (with token / token_file)
    token: str | None = None
    token_file: str | None = None  # re-read before requests (rotating service-account tokens)
    verify_ssl: bool = True
    ca_cert: str | None = None
    list_cache: Literal["watch", "none"] = "watch"  # watch-fed metadata index, or one metadata list per page


class ArgoServerSettings(_Strict):
    """How to reach an Argo Server (REST, port 2746)."""

    url: str
    token: str | None = None
    token_file: str | None = None  # re-read per request
    verify_ssl: bool = True
    ca_cert: str | None = None
    # The Argo Server API cannot change a workflow's metadata. With this on, annotations (callback
    # records, the dismiss mark) are patched through the Kubernetes API configured under `kubernetes:`.
    annotate_via_kubernetes: bool = False

    @model_validator(mode="after")
    def _http(self) -> ArgoServerSettings:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("argo_server.url must start with http:// or https://")
        return self


class ResultsSettings(_Strict):
    """Where the manager reads what jobs wrote: pod path prefix -> fsspec URL or local folder."""

    path_map: dict[str, str] = Field(default_factory=dict)
    storage_options: dict[str, Any] = Field(default_factory=dict)
    delete_on_dismiss: bool = True
    # the largest result notebook or result-file the server reads (into memory) to answer a request
    max_bytes: int = Field(64 * 1024 * 1024, gt=0)


class ArtifactSettings(_Strict):
    """How the manager reads Argo's artifact repository (archived logs): fsspec options for ``s3://``
    (``endpoint_url``, ``key``, ``secret``, ...); empty: ``results.storage_options``, and the endpoint the
    repository names."""

    storage_options: dict[str, Any] = Field(default_factory=dict)


class CallbackSettings(_Strict):
    """Subscriber callbacks: per-attempt timeout, attempts and backoff, poll period of the notifier."""

    timeout: float = Field(10.0, gt=0)
    retries: int = Field(5, ge=0)
    backoff: float = Field(1.0, ge=0)  # seconds, doubled per attempt
    backoff_max: float = Field(60.0, ge=0)
    poll_interval: float = Field(5.0, gt=0)  # how often the notifier looks at jobs with subscribers


class LimitsSettings(_Strict):
    """What one request may cost: refused (413/400/503) before anything is created."""

    request_bytes: int = Field(1024 * 1024, gt=0)  # body of POST /processes/{id}/execution
    json_depth: int = Field(64, ge=2)  # nesting of that body (and so of parameters_json)
    sync_waits: int = Field(8, ge=1)  # synchronous executions waiting at once per server process


class ManagerConfig(_Strict):
    """``server.manager`` for ``name: argo_papermill.ArgoManager``."""

    name: str
    backend: Literal["kubernetes", "argo-server", "local"] = "local"
    namespace: str | None = None
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    argo_server: ArgoServerSettings | None = None
    local: dict[str, Any] = Field(default_factory=dict)  # validated by the local backend itself
    results: ResultsSettings = Field(default_factory=ResultsSettings)
    artifacts: ArtifactSettings = Field(default_factory=ArtifactSettings)
    # the Argo UI (e.g. https://argo.example.org): every job's JSON links to its Workflow there
    argo_ui_url: str | None = None
    callbacks: CallbackSettings = Field(default_factory=CallbackSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    sync_timeout: float = Field(600.0, gt=0)  # seconds a sync execution waits before answering with a timeout
    sync_poll_interval: float = Field(1.0, gt=0)
    request_timeout: float = Field(30.0, gt=0)  # per API request (connect + read)
    # keys pygeoapi itself puts into or documents for server.manager
    processes: dict[str, Any] = Field(default_factory=dict)
    connection: Any = None
    output_dir: str | None = None

    @field_validator("argo_ui_url")
    @classmethod
    def _ui_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be an http(s) URL of the Argo UI without query or fragment, "
                             "e.g. https://argo.example.org")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _backend_settings(self) -> ManagerConfig:
        if self.backend == "argo-server" and self.argo_server is None:
            raise ValueError("backend argo-server needs an argo_server: {url: ...} block")
        return self


def load_manager_config(manager_def: dict) -> ManagerConfig:
    """Validate ``server.manager``; every problem names its key."""
    try:
        return ManagerConfig.model_validate(manager_def)
    except ValidationError as exc:
        problems = "; ".join(
            f"server.manager.{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(problems) from None
