"""Shared pytest fixtures. Add fixtures additively; keep heavy loads session-scoped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_dir() -> Path:
    """``../shared`` beside the repository (or $ARGO_PAPERMILL_SHARED)."""
    env = os.environ.get("ARGO_PAPERMILL_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def argo_crd_validator():
    """Argo's full Workflow CRD schema, made strict (unknown fields rejected), as a jsonschema validator.

    The 2.8 MB YAML is loaded once per session with the C loader.
    """
    path = shared_dir() / "fixtures" / "argo-schema" / "crd-full-argoproj.io_workflows.yaml"
    if not path.is_file():
        pytest.skip(f"Argo CRD schema fixture not found at {path} (../shared is absent)")
    from lint_workflow import strict_crd_validator

    return strict_crd_validator(path)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """Stop the callback notifiers of the managers the tests built before pytest prints its summary,
    so none of them logs about its (by then stopped) fake API server after it."""
    from argo_papermill.notify import stop_all_notifiers

    stop_all_notifiers()


@pytest.fixture
def moto_endpoint():
    """moto's S3 server on loopback for one test: its URL, ``http://127.0.0.1:<port>``."""
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def pytest_collection_modifyitems(config, items):
    """The load suite (marker ``load``) runs only when ``-m`` names it (``pytest -q -m load``): the default
    run and ``-m "not realargo"`` leave it out."""
    if "load" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("load") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("load")])
        items[:] = kept
