"""Rendered manifests against what a real Argo controller does to them (issue 10).

Each test names the behaviour of Argo's source it guards against; the status-mapping side is in
``test_status_versions.py`` and the embedded engine's side in ``test_engine_controller.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from argo_papermill import NotebookProcessor
from argo_papermill.contract import CONTAINER_MAIN
from argo_papermill.templates import template_manifest
from argo_papermill.translate.scripts import GIT_SCRIPT, PAPERMILL_SCRIPT, S3_SCRIPT, UMASK
from test_translate_manifests import FULL_CONFIG, FULL_INPUTS, VARIANTS, manifest_for


def _template(manifest: dict) -> dict:
    return manifest["spec"]["templates"][0]


def _pods(config: dict, inputs: dict) -> list[dict]:
    """The manifests that define the pod: the inline Workflow or, in template mode, the WorkflowTemplate."""
    manifest = manifest_for(config, inputs)
    pods = [template_manifest(NotebookProcessor(config).config)]
    if manifest["spec"].get("templates"):
        pods.append(manifest)
    return pods


def _containers(manifest: dict) -> dict[str, dict]:
    return {c["name"]: c for c in _template(manifest)["containerSet"]["containers"]}


# ---------------------------------------------------------------------------------------------- 4


@pytest.mark.parametrize("name,config,inputs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_main_depends_on_no_step(name, config, inputs) -> None:
    """With ``dependencies: [papermill]`` a failed papermill made main's emissary exit 64 and Argo named
    ``main: Error (exit code 64)`` in the Pod node and Workflow message; the wait container waits for every
    container anyway (emissary ``isComplete``)."""
    for manifest in _pods(config, inputs):
        main = _containers(manifest)[CONTAINER_MAIN]
        assert not main.get("dependencies"), name


# ---------------------------------------------------------------------------------------------- 5


def test_every_step_script_sets_a_umask_first() -> None:
    """Argo's emissary calls umask(0); each step script resets it before it creates anything."""
    manifest = manifest_for(FULL_CONFIG, FULL_INPUTS)
    scripts = {name: c["command"][2] for name, c in _containers(manifest).items() if c["command"][:2] == ["sh", "-c"]}
    assert set(scripts) == {"git-checkout", "s3-mount", "papermill"}
    for name, script in scripts.items():
        assert script.splitlines()[:2] == ["set -u", UMASK], name
    assert UMASK == "umask 022"
    assert {GIT_SCRIPT, S3_SCRIPT, PAPERMILL_SCRIPT} == set(scripts.values())


# ---------------------------------------------------------------------------------------------- 9


@pytest.mark.parametrize("name,config,inputs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_the_pods_default_container_is_papermill(name, config, inputs) -> None:
    """Argo sets ``kubectl.kubernetes.io/default-container: main`` (whose log is empty); the template's own
    annotation, copied onto the pod after it (``addMetadata``), names papermill."""
    for manifest in _pods(config, inputs):
        annotations = _template(manifest)["metadata"]["annotations"]
        assert annotations["kubectl.kubernetes.io/default-container"] == "papermill", name
