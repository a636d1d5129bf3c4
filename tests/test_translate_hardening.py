"""Rendered manifests against what a real Argo controller does to them (issue 10).

Each test names the behaviour of Argo's source it guards against; the status-mapping side is in
``test_status_versions.py`` and the embedded engine's side in ``test_engine_controller.py``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from argo_papermill import NotebookProcessor
from argo_papermill.contract import CONTAINER_MAIN
from argo_papermill.templates import template_manifest
from argo_papermill.translate.quantity import parse_quantity
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
        assert script.count(UMASK) == 1, name
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


# ---------------------------------------------------------------------------------------------- 2

# The workflow-controller's mainContainer default of Argo's documented example
# (docs/workflow-controller-configmap.yaml, v3.6.19 to v4.1.2), merged into every container of a containerSet
# (createWorkflowPod, workflowpod.go: strategic merge of the default, then the container)
HARDENED_DEFAULT = {
    "imagePullPolicy": "IfNotPresent",
    "resources": {"requests": {"cpu": "0.1", "memory": "64Mi"}, "limits": {"cpu": "0.5", "memory": "512Mi"}},
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 1000},
}


def _merge(default: dict, container: dict) -> dict:
    """A strategic merge of ``container`` onto ``default`` for these fields: maps merge, the container wins."""
    out = dict(default)
    for key, value in container.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _kubernetes_refuses(container: dict) -> list[str]:
    """What the API server's pod validation (or the kubelet) refuses of a merged container."""
    sc = container.get("securityContext", {})
    problems = []
    if sc.get("privileged") and sc.get("allowPrivilegeEscalation") is False:
        problems.append("privileged with allowPrivilegeEscalation false")
    if sc.get("runAsNonRoot") and sc.get("runAsUser") == 0:
        problems.append("runAsNonRoot with runAsUser 0")
    if sc.get("runAsNonRoot") and "runAsUser" not in sc:
        problems.append("runAsNonRoot without a numeric user (the image's USER may be a name)")
    for kind in ("cpu", "memory"):
        req = container.get("resources", {}).get("requests", {}).get(kind)
        lim = container.get("resources", {}).get("limits", {}).get(kind)
        if req and lim and parse_quantity(req) > parse_quantity(lim):
            problems.append(f"{kind} request {req} above limit {lim}")
    return problems


HARDENED_INPUTS = [
    {"notebook": "a.ipynb"},
    {"notebook": "a.ipynb", "cpu_requests": "2", "mem_requests": "4Gi"},  # above the default's limits
    {"notebook": "a.ipynb", "cpu_limit": "50m", "mem_limit": "32Mi"},  # below the default's requests
]


@pytest.mark.parametrize("name,config,inputs", VARIANTS, ids=[v[0] for v in VARIANTS])
@pytest.mark.parametrize("request_inputs", HARDENED_INPUTS, ids=["no-resources", "big-requests", "small-limits"])
def test_a_hardened_controller_default_neither_rejects_the_pod_nor_breaks_a_step(name, config, inputs,
                                                                                 request_inputs) -> None:
    resources = ("cpu_requests", "cpu_limit", "mem_requests", "mem_limit")
    base = {k: v for k, v in inputs.items() if k not in resources}
    manifest = manifest_for(config, {**base, **request_inputs, "notebook": inputs["notebook"]})
    if manifest["spec"].get("templates"):
        template = _template(manifest)
    else:  # template mode: the WorkflowTemplate with this Workflow's arguments, its podSpecPatch applied
        template = _patched_template(config, manifest)
    for container in template["containerSet"]["containers"]:
        merged = _merge(HARDENED_DEFAULT, container)
        assert _kubernetes_refuses(merged) == [], (name, container["name"])
        sc = merged["securityContext"]
        mounts = {m["mountPath"] for m in template["containerSet"]["volumeMounts"] + container.get("volumeMounts", [])}
        if container["name"] == "s3-mount":
            assert (sc["privileged"], sc["runAsUser"], sc["readOnlyRootFilesystem"]) == (True, 0, False)
        else:
            assert sc["runAsUser"] != 0 and sc["allowPrivilegeEscalation"] is False
        if container["name"] in ("git-checkout", "papermill") and sc.get("readOnlyRootFilesystem"):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            assert "/tmp" in mounts, container["name"]
            assert any(env["HOME"] == m or env["HOME"].startswith(m + "/") for m in mounts), container["name"]
        # every container's cpu and memory are its own, not the default's
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container.get("resources", {}).get(section, {})), (
                name, container["name"], section)


def _patched_template(config: dict, manifest: dict) -> dict:
    """The template Argo runs for a template-mode Workflow: arguments substituted, podSpecPatch applied to the
    containers (a strategic merge by container name)."""
    wft = template_manifest(NotebookProcessor(config).config)
    values = {p["name"]: p.get("value", "") for p in wft["spec"]["arguments"]["parameters"]}
    values.update({p["name"]: p["value"] for p in manifest["spec"]["arguments"]["parameters"]})
    template = argo_substitute(_template(wft), values)
    patch = json.loads(template.get("podSpecPatch") or "{}")
    for change in patch.get("containers", []):
        for container in template["containerSet"]["containers"]:
            if container["name"] == change["name"]:
                container.update(_merge(container, change))
    return template


def test_the_hardened_default_would_break_the_old_s3_mount() -> None:
    """The check above can fail: the s3-mount of before issue 10 (privileged, root, nothing else)."""
    old = {"name": "s3-mount", "securityContext": {"privileged": True, "runAsUser": 0, "runAsGroup": 0}}
    assert _kubernetes_refuses(_merge(HARDENED_DEFAULT, old)) == [
        "privileged with allowPrivilegeEscalation false", "runAsNonRoot with runAsUser 0"]


# ---------------------------------------------------------------------------------------------- 6

_TAG_RE = re.compile(r"{{(.*?)}}")
_ASINT_RE = re.compile(r"=\s*asInt\(workflow\.parameters\['([^']+)'\]\)")
HOSTILE = [  # a value that breaks out of a JSON string, and one that is a patch itself
    '1"}}],"volumes":[{"name":"h","hostPath":{"path":"/"}}],"serviceAccountName":"admin","x":[{"a":"',
    '{"volumes":[{"name":"h","hostPath":{"path":"/"}}],"containers":[{"name":"papermill","securityContext":'
    '{"privileged":true}}]}',
]


def argo_substitute(template: dict, values: dict[str, str]) -> dict:
    """Argo's parameter substitution of a template (``SubstituteParams``): the template as JSON, each
    ``{{workflow.parameters.x}}`` replaced by the value escaped for that JSON (``strconv.Quote``), an
    ``{{=asInt(...)}}`` by the integer or, failing, left as it is (unresolved), then parsed back."""

    def replace(match: re.Match) -> str:
        tag = match.group(1).strip()
        expression = _ASINT_RE.fullmatch(tag)
        if expression:
            value = values[expression.group(1)]
            return str(int(value)) if re.fullmatch(r"[+-]?[0-9]+", value) else match.group(0)
        if tag.startswith("workflow.parameters."):
            return json.dumps(values[tag.split(".", 2)[2]])[1:-1]
        return match.group(0)

    return json.loads(_TAG_RE.sub(replace, json.dumps(template)))


def _shape(value):
    """The structure of a JSON value without its strings: what no parameter may change."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


TEMPLATE_CONFIGS = [
    {"use_workflow_template": True},
    {**FULL_CONFIG, "use_workflow_template": True, "auto_mount_secrets": False},
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=["breakout", "patch"])
@pytest.mark.parametrize("config", TEMPLATE_CONFIGS, ids=["default", "full"])
def test_no_template_parameter_can_change_the_pods_structure(config, hostile) -> None:
    """A submitter of the WorkflowTemplate (Argo UI, CLI) chooses every parameter's value: none, however
    hostile, adds a volume, a privilege or a service account, in the podSpecPatch or anywhere else."""
    wft = template_manifest(NotebookProcessor(config).config)
    declared = [p["name"] for p in wft["spec"]["arguments"]["parameters"]]
    template = _template(wft)
    substituted = argo_substitute(template, {name: hostile for name in declared})
    assert _shape(substituted) == _shape(template)
    patch_text = substituted.get("podSpecPatch")
    if patch_text:
        try:
            patch = json.loads(patch_text)
        except ValueError:
            patch = None  # unparseable: Argo fails the pod ("invalid podSpecPatch")
        if patch is not None:
            assert set(patch) == {"containers"}
            assert [set(c) for c in patch["containers"]] == [{"name", "resources"}]
            assert patch["containers"][0]["name"] == "papermill"


def test_the_old_pod_spec_patch_parameter_would_fail_that_check() -> None:
    old = {"name": "notebook", "podSpecPatch": "{{workflow.parameters.pod-spec-patch}}"}
    substituted = argo_substitute(old, {"pod-spec-patch": '{"volumes":[{"name":"h","hostPath":{"path":"/"}}]}'})
    assert _shape(substituted) == _shape(old)  # the structure check alone does not see it ...
    assert set(json.loads(substituted["podSpecPatch"])) == {"volumes"}  # ... the patch check does


@pytest.mark.parametrize("inputs", [FULL_INPUTS, {"notebook": "a.ipynb"}, {"notebook": "a.ipynb", "cpu_limit": "1.5"}],
                         ids=["full", "defaults", "fraction"])
def test_template_mode_gives_papermill_the_resources_inline_mode_gives(inputs) -> None:
    config = {**FULL_CONFIG, "auto_mount_secrets": False}
    inline = _containers(manifest_for(config, inputs))["papermill"]["resources"]
    tconfig = {**config, "use_workflow_template": True}
    ref = manifest_for(tconfig, inputs)
    args = {p["name"]: p["value"] for p in ref["spec"]["arguments"]["parameters"]}
    wft = template_manifest(NotebookProcessor(tconfig).config)
    defaults = {p["name"]: p.get("value", "") for p in wft["spec"]["arguments"]["parameters"]}
    template = argo_substitute(_template(wft), {**defaults, **args})
    patched = json.loads(template["podSpecPatch"])["containers"][0]["resources"]
    base = _containers(wft)["papermill"].get("resources", {})
    for section in ("requests", "limits"):
        merged = {**base.get(section, {}), **patched.get(section, {})}
        assert {k: parse_quantity(v) for k, v in merged.items()} == {
            k: parse_quantity(v) for k, v in inline[section].items()}, section


def test_template_mode_refuses_auto_mounted_secrets() -> None:
    from argo_papermill.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="auto_mount_secrets cannot be combined with use_workflow_template"):
        NotebookProcessor({"use_workflow_template": True, "auto_mount_secrets": True})
    with pytest.raises(ConfigurationError, match="missing: memory limit"):
        NotebookProcessor({"use_workflow_template": True, "default_resource_limits": {"cpu": "1"}})


def test_template_mode_image_is_the_default_unless_a_regex_allows_others() -> None:
    params = {p["name"]: p for p in template_manifest(NotebookProcessor({}).config)["spec"]["arguments"]["parameters"]}
    assert params["image"]["enum"] == [params["image"]["value"]]
    free = template_manifest(NotebookProcessor({"allowed_images_regex": "r/.*"}).config)
    assert "enum" not in {p["name"]: p for p in free["spec"]["arguments"]["parameters"]}["image"]


# ---------------------------------------------------------------------------------------------- 1


@pytest.mark.parametrize("name,config,inputs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_argo_never_runs_the_shared_argoexec_to_signal_a_container(name, config, inputs) -> None:
    """Argo's controller signals a container by running a command in it (workflow/signal/signal.go): by
    default /var/run/argo/argoexec, a file in a folder the notebook can write; run in s3-mount that is root on
    the node. Every container names its image's own shell instead (kill-cmd annotation)."""
    for manifest in _pods(config, inputs):
        template = _template(manifest)
        annotations = template["metadata"]["annotations"]
        for container in template["containerSet"]["containers"]:
            command = json.loads(annotations[f"workflows.argoproj.io/kill-cmd-{container['name']}"])
            assert command == ["/bin/sh", "-c", "kill -%d 1"], container["name"]
            assert not any("/var/run/argo" in part for part in command)


def test_with_an_executor_account_no_container_gets_a_token() -> None:
    """automountServiceAccountToken: false where Argo allows it: beside executor.serviceAccountName
    (setupServiceAccount refuses it otherwise); the wait container gets the executor's token (exec-sa-token)."""
    for mode in (False, True):
        config = {"executor_service_account": "argo-executor", "job_service_account": "job",
                  "use_workflow_template": mode}
        for manifest in _pods(config, {"notebook": "a.ipynb"}):
            template = _template(manifest)
            assert template["automountServiceAccountToken"] is False
            assert template["executor"] == {"serviceAccountName": "argo-executor"}
    template = _template(manifest_for({}, {"notebook": "a.ipynb"}))
    assert "automountServiceAccountToken" not in template and "executor" not in template


def test_a_csi_mounted_bucket_needs_no_privileged_container(argo_crd_validator) -> None:
    """The alternative to s3-mount (docs/architecture.md): a bucket as a CSI volume (here the Mountpoint for
    Amazon S3 CSI driver, inline), mounted by the kubelet: no s3-mount container, nothing privileged."""
    from lint_workflow import crd_errors

    config = {"extra_volumes": [{"name": "bucket", "csi": {"driver": "s3.csi.aws.com", "volumeAttributes": {
        "bucketName": "user-bucket"}}}], "extra_volume_mounts": [{"name": "bucket", "mountPath": "/home/jovyan/s3"}]}
    manifest = manifest_for(config, {"notebook": "s3/nb.ipynb"})
    assert crd_errors(argo_crd_validator, manifest) == []
    containers = _containers(manifest)
    assert "s3-mount" not in containers
    assert not any(c.get("securityContext", {}).get("privileged") for c in containers.values())
    mounts = {m["mountPath"]: m["name"] for m in containers["papermill"]["volumeMounts"]}
    assert mounts["/home/jovyan/s3"] == "bucket"


def test_architecture_doc_has_the_threat_model_and_the_tolerated_controller_defaults() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    threat = doc.split("## Threat model", 1)[1].split("\n## ", 1)[0]
    for term in ("kill-cmd", "/var/run/argo", "s3-mount", "automountServiceAccountToken", "symbolic link",
                 "cannot", "can"):
        assert term in threat, term
    defaults = doc.split("## Controller defaults the templates tolerate", 1)[1].split("\n## ", 1)[0]
    for term in ("mainContainer", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
                 "resources", "v4.0.5"):
        assert term in defaults, term
