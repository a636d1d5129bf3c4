"""A small JSON client for the real Kubernetes API server of the test stack.

The stack's setup and the node agent speak plain REST (dicts in, dicts out) instead of the typed
``kubernetes`` client: the node agent writes the ``pods/status`` and ``pods/binding`` subresources and
applies custom resources, which the typed client models awkwardly. Standard library plus ``requests``
(a dependency of ``kubernetes``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
import yaml

MERGE_PATCH = "application/merge-patch+json"

# kind -> (group/version prefix, plural, namespaced); only what the stack and the node agent touch
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("api/v1", "namespaces", False),
    "Node": ("api/v1", "nodes", False),
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Secret": ("api/v1", "secrets", True),
    "Pod": ("api/v1", "pods", True),
    "PersistentVolumeClaim": ("api/v1", "persistentvolumeclaims", True),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "CustomResourceDefinition": ("apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "Workflow": ("apis/argoproj.io/v1alpha1", "workflows", True),
    "WorkflowTemplate": ("apis/argoproj.io/v1alpha1", "workflowtemplates", True),
    "ClusterWorkflowTemplate": ("apis/argoproj.io/v1alpha1", "clusterworkflowtemplates", False),
    "WorkflowTaskResult": ("apis/argoproj.io/v1alpha1", "workflowtaskresults", True),
}


class ApiError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass
class KubeApi:
    server: str
    token: str
    ca_file: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        # per request, not session.verify: requests lets $REQUESTS_CA_BUNDLE override the session's CA
        self.verify: str | bool = self.ca_file or False

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> KubeApi:
        """Server, CA and bearer token of the current context (the stack writes token-based kubeconfigs)."""
        config = yaml.safe_load(Path(path).read_text())
        current = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == current)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        return cls(cluster["server"], user["token"], cluster.get("certificate-authority"))

    def request(self, method: str, path: str, body: object = None, *, content_type: str = "application/json",
                params: dict | None = None, ok: tuple[int, ...] = (200, 201, 202), stream: bool = False,
                timeout: float | None = None) -> requests.Response:
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        response = self.session.request(
            method, self.server.rstrip("/") + "/" + path.lstrip("/"), data=data, params=params,
            headers={"Content-Type": content_type} if data is not None else None,
            timeout=timeout or self.timeout, stream=stream, verify=self.verify,
        )
        if response.status_code not in ok:
            raise ApiError(response.status_code, response.text)
        return response

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body).json()

    def patch(self, path: str, body: dict, content_type: str = MERGE_PATCH) -> dict:
        return self.request("PATCH", path, body, content_type=content_type).json()

    def delete(self, path: str, body: dict | None = None) -> None:
        self.request("DELETE", path, body, ok=(200, 202, 404))

    @staticmethod
    def path(kind: str, name: str | None = None, namespace: str | None = None) -> str:
        prefix, plural, namespaced = KINDS[kind]
        parts = [prefix]
        if namespaced and namespace:
            parts += ["namespaces", quote(namespace)]
        parts.append(plural)
        if name:
            parts.append(quote(name))
        return "/".join(parts)

    def apply(self, obj: dict, namespace: str | None = None) -> dict:
        """Create ``obj``, or replace it (with its current resourceVersion) when it exists."""
        kind = obj["kind"]
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace") or namespace
        if KINDS[kind][2]:
            meta["namespace"] = ns
        try:
            return self.post(self.path(kind, namespace=ns), obj)
        except ApiError as err:
            if err.status != 409:
                raise
        current = self.get(self.path(kind, meta["name"], ns))
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.request("PUT", self.path(kind, meta["name"], ns), obj).json()

    def apply_yaml(self, text: str, namespace: str | None = None) -> list[dict]:
        return [self.apply(doc, namespace) for doc in yaml.safe_load_all(text) if doc]
