"""Fixtures of the real-Argo suite: the stack (scripts/argo-stack) and pygeoapi servers in front of it.

Every test here is marked ``realargo``. The stack is built (or taken from the cache) and started once per
session; ``ARGO_STACK_DIR`` pointing at a stack already up (``scripts/argo-stack up DIR``) reuses it.
In CI (``CI=true``) a missing prerequisite fails the run; elsewhere the suite skips, naming what is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.append(str(HERE))  # kubeapi, server; appended: tests/conftest.py stays `conftest`

from kubeapi import KubeApi  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "real-argo"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.realargo)


def _missing() -> str | None:
    for tool in ("go", "bwrap", "openssl", "git"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (the real-Argo suite builds and runs Argo from Go modules)"
    if os.geteuid() != 0:
        return "the node agent runs pods as root (bubblewrap sandboxes, FUSE)"
    return None


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


@pytest.fixture(scope="session")
def argo_stack(tmp_path_factory):
    """The running stack: its env (ARGO_SERVER_URL, ARGO_TOKEN, KUBECONFIG, ...) and an admin API client."""
    reuse = os.environ.get("ARGO_STACK_DIR")
    if reuse and (Path(reuse) / "env").exists():
        env = _read_env(Path(reuse) / "env")
        yield Stack(env)
        return
    problem = _missing()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"real-Argo suite cannot run in CI: {problem}")
        pytest.skip(problem)
    folder = tmp_path_factory.mktemp("argo-stack")
    result = subprocess.run([str(ROOT / "scripts" / "argo-stack"), "up", str(folder)], capture_output=True,
                            text=True, env={**os.environ, "PYTHON": sys.executable})
    if result.returncode != 0:
        pytest.fail(f"scripts/argo-stack up failed ({result.returncode}):\n{result.stderr[-5000:]}")
    try:
        yield Stack(_read_env(folder / "env"))
    finally:
        subprocess.run([str(ROOT / "scripts" / "argo-stack"), "down", str(folder)], capture_output=True,
                       env={**os.environ, "PYTHON": sys.executable})


class Stack:
    """What a test needs of the running stack."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.dir = Path(env["ARGO_STACK_DIR"])
        self.kubeconfig = env["KUBECONFIG"]
        self.server_kubeconfig = env["ARGO_STACK_SERVER_KUBECONFIG"]
        self.argo_url = env["ARGO_SERVER_URL"]
        self.argo_token = env["ARGO_TOKEN"]
        self.namespace = env["ARGO_NAMESPACE"]
        self.version = env["ARGO_VERSION"]
        self.node_dir = Path(env["ARGO_STACK_NODE_DIR"])
        self.admin = KubeApi.from_kubeconfig(self.kubeconfig)

    def claim_dir(self, claim: str) -> Path:
        """The host folder the node agent binds for a PersistentVolumeClaim of the test namespace."""
        path = self.node_dir / "claims" / self.namespace / claim
        path.mkdir(parents=True, exist_ok=True)
        return path

    def workflow(self, name: str) -> dict:
        return self.admin.get(KubeApi.path("Workflow", name, self.namespace))


@pytest.fixture(scope="session")
def record(argo_stack):
    """``record(scenario, job)``: with ``ARGO_RECORD_FIXTURES=1`` the job's Workflow (with its status, as the
    real controller left it) and the job pygeoapi answered are written to
    ``tests/fixtures/real-argo/<argo version>/<scenario>.json`` (tests/test_status_real_argo.py maps them)."""
    enabled = os.environ.get("ARGO_RECORD_FIXTURES") == "1"

    def save(scenario: str, job: dict) -> None:
        if not enabled:
            return
        workflow = argo_stack.workflow(f"pygeoapi-job-{job['jobID']}")
        for key in ("managedFields",):
            workflow["metadata"].pop(key, None)
        folder = FIXTURES / argo_stack.version
        folder.mkdir(parents=True, exist_ok=True)
        expected = {key: job.get(key) for key in ("status", "progress", "message")}
        (folder / f"{scenario}.json").write_text(json.dumps(
            {"argo_version": argo_stack.version, "scenario": scenario, "job": expected, "workflow": workflow},
            indent=1, sort_keys=True) + "\n")

    return save
