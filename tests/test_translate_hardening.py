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


# ---------------------------------------------------------------------------------------------- 8


RESERVED_CASES = [
    ({"extra_volumes": [{"name": "var-run-argo", "emptyDir": {}}]}, "extra_volumes[0].name 'var-run-argo'"),
    ({"extra_volumes": [{"name": "tmp-dir-argo", "emptyDir": {}}]}, "extra_volumes[0].name 'tmp-dir-argo'"),
    ({"extra_volumes": [{"name": "exec-sa-token", "emptyDir": {}}]}, "extra_volumes[0].name 'exec-sa-token'"),
    ({"extra_volumes": [{"name": "argoexec-bin", "emptyDir": {}}]}, "extra_volumes[0].name 'argoexec-bin'"),
    ({"extra_volumes": [{"name": "input-artifacts", "emptyDir": {}}]}, "extra_volumes[0].name 'input-artifacts'"),
    ({"extra_volumes": [{"name": "argo-env-config", "emptyDir": {}}]}, "extra_volumes[0].name 'argo-env-config'"),
    ({"extra_volumes": [{"name": "workspace", "emptyDir": {}}]}, "extra_volumes[0].name 'workspace'"),
    ({"extra_volumes": [{"name": "ok", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]},
     "extra_volumes[1].name 'home'"),
    ({"extra_volumes": [{"name": "extra-0", "emptyDir": {}}]}, "extra_volumes[0].name 'extra-0'"),
    ({"extra_volumes": [{"name": "secret-3", "emptyDir": {}}]}, "extra_volumes[0].name 'secret-3'"),
    ({"extra_volumes": [{"name": "s3", "emptyDir": {}}]}, "extra_volumes[0].name 's3'"),
    ({"extra_volume_mounts": [{"name": "var-run-argo", "mountPath": "/x"}]}, "extra_volume_mounts[0].name"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/var/run/argo"}]}, "extra_volume_mounts[0].mountPath"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/var/run/argo/ctr"}]}, "extra_volume_mounts[0].mountPath"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/mainctrfs"}]}, "extra_volume_mounts[0].mountPath"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/argo/inputs"}]}, "extra_volume_mounts[0].mountPath"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/argo-bin"}]}, "extra_volume_mounts[0].mountPath"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/var"}]}, "extra_volume_mounts[0].mountPath"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/workspace/outputs"}]},
     "extra_volume_mounts[0].mountPath"),
    ({"extra_volume_mounts": [{"name": "x", "mountPath": "/tmp"}]}, "extra_volume_mounts[0].mountPath"),
    ({"extra_pvcs": [{"claim_name": "c", "mount_path": "/home/jovyan"}]}, "extra_pvcs[0].mount_path"),
    ({"extra_pvcs": [{"claim_name": "c", "mount_path": "/var/run/secrets/kubernetes.io/serviceaccount"}]},
     "extra_pvcs[0].mount_path"),
    ({"s3": {"bucket_name": "b", "secret_name": "s", "mount_path": "/workspace"}}, "s3.mount_path"),
    ({"s3": {"bucket_name": "b", "secret_name": "s", "mount_path": "/data"},
      "extra_pvcs": [{"claim_name": "c", "mount_path": "/data"}]}, "s3.mount_path '/data' is the mount path of extra_pvcs[0].mount_path"),
    ({"secrets": [{"name": "certs"}], "extra_volume_mounts": [{"name": "x", "mountPath": "/secret/certs"}]},
     "extra_volume_mounts[0].mountPath '/secret/certs' is the mount path of secrets"),
    ({"checkout_git_repo": {"url": "https://git.example/a.git"},
      "extra_pvcs": [{"claim_name": "c", "mount_path": "/home/jovyan/git"}]},
     "extra_pvcs[0].mount_path '/home/jovyan/git' is the mount path of checkout_git_repo"),
]


@pytest.mark.parametrize("config,key", RESERVED_CASES, ids=[c[1] for c in RESERVED_CASES])
def test_reserved_volume_names_and_paths_stop_start_up_naming_the_key(config, key) -> None:
    """Argo's own volumes and paths, and the pod's, are refused at start-up with the key named: not a pod
    that Kubernetes rejects (or that shadows Argo's files) when a job runs."""
    from argo_papermill.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        NotebookProcessor(config)
    assert key in str(err.value)


def test_volumes_and_mounts_beside_the_reserved_ones_are_fine() -> None:
    config = {"extra_volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "argo-data", "emptyDir": {}}],
              "extra_volume_mounts": [{"name": "scratch", "mountPath": "/scratch"},
                                      {"name": "home", "mountPath": "/data/home", "subPath": "x"},
                                      {"name": "argo-data", "mountPath": "/var/run/argo-data"}],
              "extra_pvcs": [{"claim_name": "c", "mount_path": "/home/jovyan/data"}],
              "s3": {"bucket_name": "b", "secret_name": "s"}}
    NotebookProcessor(config)  # no error
