"""pytest fixtures for the manager/backend tests: fake APIs on loopback, a fake controller, a manager."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fakes import argo_server as fake_argo
from fakes import kube as fake_kube
from fakes.controller import FakeController

NAMESPACE = "jobs"
TOKEN = "s3cr3t-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _served(module, fake):
    """Serve ``fake`` with ``module.serve`` for one test; the fake, its ``url`` set."""
    httpd, fake, url = module.serve(fake)
    fake.url = url
    yield fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def kube():
    yield from _served(fake_kube, fake_kube.FakeKube(token=TOKEN))


@pytest.fixture
def argo():
    yield from _served(fake_argo, fake_argo.FakeArgoServer(token=TOKEN))


@pytest.fixture
def home(tmp_path) -> Path:
    d = tmp_path / "home"
    d.mkdir()
    return d


def manager_def(backend: str, url: str, home: Path, **extra) -> dict:
    d = {
        "name": "argo_papermill.ArgoManager",
        "backend": backend,
        "namespace": NAMESPACE,
        "results": {"path_map": {"/home/jovyan": str(home)}},
        "sync_timeout": 60,
        "sync_poll_interval": 0.1,
        "request_timeout": 5,
        "callbacks": {"timeout": 2, "retries": 3, "backoff": 0.1, "backoff_max": 0.5, "poll_interval": 0.1},
        "processes": {"scenario": {"type": "process", "processor": {"name": "fakes.processor.ScenarioProcessor"}}},
    }
    if backend == "kubernetes":
        d["kubernetes"] = {"server": url, "token": TOKEN}
    else:
        d["argo_server"] = {"url": url, "token": TOKEN}
    d.update(extra)
    return d


@pytest.fixture(params=["kubernetes", "argo-server"])
def stack(request, kube, argo, home):
    """(manager, fake API, controller) for each remote backend, the controller running."""
    from argo_papermill.manager import ArgoManager

    fake = kube if request.param == "kubernetes" else argo
    ctrl = FakeController(fake, NAMESPACE, home).start()
    mgr = ArgoManager(manager_def(request.param, fake.url, home))
    yield mgr, fake, ctrl
    mgr.notifier.stop()
    ctrl.stop()
    close = getattr(mgr._backend, "close", None)
    if close:
        close()
