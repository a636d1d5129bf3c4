"""How the manager finds its API, with the real ``kubernetes`` client against the fake API over HTTP(S):
no network I/O in the constructor, kubectl's kubeconfig order, the in-cluster service account, and the
namespace (the ``namespace`` key, else the kubeconfig context or the service account's)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from fakes import kube as fake_kube
from fakes.fixtures import NAMESPACE, TOKEN, argo, free_port, home, kube, manager_def  # noqa: F401 - fixtures
from fakes.http import loopback_certificate

from argo_papermill.backends.base import Unavailable
from argo_papermill.backends.kubernetes import KubernetesBackend
from argo_papermill.manager import ArgoManager

SELECTOR = "app.kubernetes.io/managed-by=argo-papermill"


class CountingListener:
    """A TCP port that accepts and counts connections and never answers (a hung API server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._open: list[socket.socket] = []  # held open, unanswered: the client's read times out
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)

    def close(self):
        self.sock.close()
        for conn in self._open:
            conn.close()


def kubeconfig(path: Path, server: str, namespace: str, token: str = TOKEN) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": namespace}}]}))
    return path


@pytest.fixture
def no_cluster_env(monkeypatch, tmp_path):
    """No KUBECONFIG, an empty HOME, not in a cluster."""
    for var in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))


@pytest.mark.parametrize("backend", ["kubernetes", "argo-server"])
def test_the_constructor_contacts_nothing(backend, home, no_cluster_env):
    """``pygeoapi openapi generate`` constructs the manager: with an API that never answers, construction
    (and reading the configured namespace) opens no connection; the first request does, times out, and is
    a 503 that says so."""
    hung = CountingListener()
    mgr = ArgoManager(manager_def(backend, hung.url, home, request_timeout=0.5))
    try:
        assert mgr.backend.namespace == NAMESPACE and repr(mgr) == f"<ArgoManager> {backend}"
        assert hung.accepted == 0
        with pytest.raises(Exception) as e:
            mgr.get_jobs(limit=1)
        assert e.value.http_status_code == 503 and hung.accepted >= 1
        assert "timeout" in e.value.message.lower(), e.value.message
    finally:
        mgr.notifier.stop()
        hung.close()


def test_kubeconfig_env_wins_over_home_and_the_context_names_the_namespace(kube, tmp_path, monkeypatch,
                                                                           no_cluster_env):
    kubeconfig(tmp_path / "empty-home" / ".kube" / "config", kube.url, "from-home")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "env-config", kube.url, "from-env")))
    b = KubernetesBackend({})
    assert b.namespace == "from-env"
    assert kube.requests == []  # the namespace came from the file, not from the API
    assert b.list(SELECTOR).total == 0 and kube.requests[-1][1].startswith("/apis/argoproj.io/v1alpha1/namespaces/"
                                                                          "from-env/workflows")


def test_home_kubeconfig_without_the_env(kube, tmp_path, no_cluster_env):
    kubeconfig(tmp_path / "empty-home" / ".kube" / "config", kube.url, "from-home")
    b = KubernetesBackend({})
    assert b.namespace == "from-home" and b.list(SELECTOR).total == 0


def test_the_namespace_key_wins(kube, tmp_path, monkeypatch, no_cluster_env):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "env-config", kube.url, "from-env")))
    mgr = ArgoManager({"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": "chosen"})
    assert mgr.backend.namespace == "chosen"


def test_in_cluster_service_account(tmp_path, monkeypatch, no_cluster_env):
    """Without a kubeconfig: the pod's service account (token, CA, namespace) and the service env vars."""
    cert, key = loopback_certificate(tmp_path)
    httpd, fake, url = fake_kube.serve(fake_kube.FakeKube(token="sa-token"), tls=(cert, key))
    try:
        sa = tmp_path / "serviceaccount"
        sa.mkdir()
        (sa / "token").write_text("sa-token")
        (sa / "ca.crt").write_bytes(cert.read_bytes())
        (sa / "namespace").write_text("from-sa\n")
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", url.rsplit(":", 1)[1])
        b = KubernetesBackend({}, service_account_dir=sa)
        assert b.namespace == "from-sa" and fake.requests == []
        assert b.list(SELECTOR).total == 0  # over TLS, verified with the account's CA, with its token
        assert fake.requests[-1][1] == "/apis/argoproj.io/v1alpha1/namespaces/from-sa/workflows"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_no_configuration_at_all_is_a_clear_503_reason(no_cluster_env, tmp_path):
    b = KubernetesBackend({}, service_account_dir=tmp_path / "none")
    assert b.namespace == "default"
    with pytest.raises(Unavailable) as e:
        b.get("pygeoapi-job-x")
    assert "no Kubernetes configuration found" in e.value.reason


def test_explicit_server_is_used_before_any_kubeconfig(kube, tmp_path, monkeypatch, no_cluster_env):
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path / "env-config", f"http://127.0.0.1:{free_port()}",
                                                    "from-env")))
    b = KubernetesBackend({"server": kube.url, "token": TOKEN}, service_account_dir=tmp_path / "none")
    assert b.namespace == "default" and b.list(SELECTOR).total == 0


@pytest.mark.parametrize("backend", ["kubernetes", "argo-server"])
def test_tls_settings(backend, tmp_path):
    """An API with its own CA: verified with ``ca_cert``; refused (503 naming no secret) with the system CAs;
    reachable with ``verify_ssl: false``."""
    from fakes import argo_server as fake_argo

    from argo_papermill.backends import make_backend

    cert, key = loopback_certificate(tmp_path)
    module, fake = (fake_kube, fake_kube.FakeKube(token=TOKEN)) if backend == "kubernetes" else \
        (fake_argo, fake_argo.FakeArgoServer(token=TOKEN))
    httpd, fake, url = module.serve(fake, tls=(cert, key))
    block = "kubernetes" if backend == "kubernetes" else "argo_server"
    key_name = "server" if backend == "kubernetes" else "url"

    made = []

    def connect(**tls) -> object:
        made.append(make_backend({"backend": backend, "namespace": NAMESPACE,
                                  block: {key_name: url, "token": TOKEN, **tls}, "request_timeout": 5}))
        return made[-1]

    try:
        assert connect(ca_cert=str(cert)).list(SELECTOR).total == 0
        assert connect(verify_ssl=False).list(SELECTOR).total == 0
        with pytest.raises(Unavailable) as e:
            connect().list(SELECTOR)
        assert TOKEN not in e.value.reason
    finally:
        for b in made:
            b.close()
        httpd.shutdown()
        httpd.server_close()
