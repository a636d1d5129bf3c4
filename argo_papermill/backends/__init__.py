"""Where Workflows live: the Kubernetes API, an Argo Server, or the embedded engine.

``make_backend`` imports the chosen implementation lazily, so a server configured for
one backend never imports the client libraries of the others. Constructing a backend
does no network I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argo_papermill.backends.base import WorkflowBackend
    from argo_papermill.manager_config import ManagerConfig


def make_backend(manager_def: dict | ManagerConfig) -> WorkflowBackend:
    """The backend named by ``server.manager.backend`` (default ``local``)."""
    from argo_papermill.manager_config import ManagerConfig, load_manager_config

    cfg = manager_def if isinstance(manager_def, ManagerConfig) else load_manager_config(
        {"name": "argo_papermill.ArgoManager", **manager_def}
    )
    if cfg.backend == "kubernetes":
        from argo_papermill.backends.kubernetes import KubernetesBackend

        return KubernetesBackend(cfg.kubernetes, namespace=cfg.namespace, request_timeout=cfg.request_timeout)
    if cfg.backend == "argo-server":
        from argo_papermill.backends.argo_server import ArgoServerBackend

        assert cfg.argo_server is not None
        kube = None  # the Kubernetes API beside the Argo Server: annotations, and Secrets for auto_mount_secrets
        if cfg.argo_server.annotate_via_kubernetes or "kubernetes" in cfg.model_fields_set:
            from argo_papermill.backends.kubernetes import KubernetesBackend

            kube = KubernetesBackend(cfg.kubernetes, namespace=cfg.namespace, request_timeout=cfg.request_timeout)
        return ArgoServerBackend(cfg.argo_server, namespace=cfg.namespace or (kube.namespace if kube else None),
                                 request_timeout=cfg.request_timeout, kubernetes=kube,
                                 metadata_patcher=kube if cfg.argo_server.annotate_via_kubernetes else None)
    from argo_papermill.backends.local import LocalBackend

    return LocalBackend(**cfg.local)
