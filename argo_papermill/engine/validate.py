"""What the local engine implements, checked at submission.

Every key of a submitted Workflow is either implemented, accepted as a no-op because
it only matters to a cluster scheduler (image, resources, node selection, service
accounts...), or refused with an error naming the field. Nothing is silently ignored.
"""

from __future__ import annotations

import re
from typing import Any


class UnsupportedField(ValueError):
    """A manifest field the local engine does not implement; ``field`` is its JSON path."""

    def __init__(self, field: str, why: str = "is not supported by the local engine"):
        super().__init__(f"{field} {why}")
        self.field = field


# keys that only matter to Kubernetes scheduling or admission: accepted, reported in docs/local.md
_CLUSTER_ONLY = {
    "serviceAccountName", "automountServiceAccountToken", "executor", "imagePullSecrets", "nodeSelector",
    "tolerations", "affinity", "securityContext", "podMetadata", "podSpecPatch", "priority", "priorityClassName",
    "schedulerName", "podPriorityClassName", "hostNetwork", "dnsPolicy", "dnsConfig", "podGC", "metadata",
    "podDisruptionBudget", "workflowMetadata", "archiveLogs", "volumeClaimGC",
}
_SPEC = {
    "entrypoint", "templates", "arguments", "workflowTemplateRef", "activeDeadlineSeconds", "volumes", "shutdown",
    "ttlStrategy", "retryStrategy",
} | _CLUSTER_ONLY
_TEMPLATE = {
    "name", "inputs", "outputs", "container", "script", "containerSet", "steps", "dag", "activeDeadlineSeconds",
    "retryStrategy", "volumes",
    "nodeSelector", "tolerations", "affinity", "securityContext", "serviceAccountName", "podSpecPatch",
    "priorityClassName", "metadata", "schedulerName", "automountServiceAccountToken", "archiveLocation", "executor",
}
_CONTAINER = {
    "name", "image", "command", "args", "env", "envFrom", "workingDir", "volumeMounts", "resources",
    "securityContext", "imagePullPolicy", "ports", "dependencies", "terminationMessagePath",
    "terminationMessagePolicy",
}
_SCRIPT = _CONTAINER | {"source"}
_VOLUME_TYPES = {"emptyDir", "persistentVolumeClaim", "hostPath", "secret"}
_RETRY = {"limit", "retryPolicy"}


def check_workflow(workflow: dict) -> None:
    """Raise ``UnsupportedField`` for the first field the engine cannot honour."""
    spec = workflow.get("spec") or {}
    _keys(spec, _SPEC, "spec")
    if not spec.get("templates") and not spec.get("workflowTemplateRef"):
        raise UnsupportedField("spec.templates", "is empty and there is no spec.workflowTemplateRef")
    ref = spec.get("workflowTemplateRef")
    if ref is not None:
        _keys(ref, {"name", "clusterScope"}, "spec.workflowTemplateRef")
    _check_spec_body(spec, "spec")


def check_template_spec(spec: dict, where: str) -> None:
    """Check a WorkflowTemplate's spec (resolved from a file) like a Workflow's."""
    _keys(spec, _SPEC, where)
    _check_spec_body(spec, where)


def _check_spec_body(spec: dict, where: str) -> None:
    for index, param in enumerate((spec.get("arguments") or {}).get("parameters") or []):
        _keys(param, {"name", "value", "description", "enum"}, f"{where}.arguments.parameters[{index}]")
    if (spec.get("arguments") or {}).get("artifacts"):
        raise UnsupportedField(f"{where}.arguments.artifacts")
    if spec.get("retryStrategy") is not None:
        _keys(spec["retryStrategy"], _RETRY, f"{where}.retryStrategy")
    if spec.get("shutdown") not in (None, "", "Stop", "Terminate"):
        raise UnsupportedField(f"{where}.shutdown", f"must be Stop or Terminate, not {spec['shutdown']!r}")
    for index, volume in enumerate(spec.get("volumes") or []):
        _volume(volume, f"{where}.volumes[{index}]")
    if spec.get("ttlStrategy") is not None:
        _keys(spec["ttlStrategy"], {"secondsAfterCompletion", "secondsAfterSuccess", "secondsAfterFailure"},
              f"{where}.ttlStrategy")
    for template in spec.get("templates") or []:
        _template(template, f"{where}.templates[{template.get('name', '?')}]")


_FOLDER_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$")


def _folder_name(value: Any, where: str) -> None:
    """Names the engine turns into folder names (pod folders, volumes, claims, Secrets): no '/' or '..'."""
    if value is None:
        return
    if not isinstance(value, str) or not _FOLDER_NAME.match(value) or ".." in value:
        raise UnsupportedField(where, "must be a name of letters, digits, '-', '_' and '.' (no '/' or '..')")


def _keys(obj: Any, allowed: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise UnsupportedField(where, "must be an object")
    for key, value in obj.items():
        if key not in allowed and value not in (None, [], ""):
            raise UnsupportedField(f"{where}.{key}")


def _template(template: dict, where: str) -> None:
    _keys(template, _TEMPLATE, where)
    _folder_name(template.get("name"), f"{where}.name")
    kinds = [k for k in ("container", "script", "containerSet", "steps", "dag") if template.get(k)]
    if len(kinds) != 1:
        raise UnsupportedField(where, "must have exactly one of container, script, containerSet, steps, dag")
    if template.get("archiveLocation"):
        raise UnsupportedField(f"{where}.archiveLocation")
    if template.get("retryStrategy") is not None:
        _keys(template["retryStrategy"], _RETRY, f"{where}.retryStrategy")
    inputs = template.get("inputs") or {}
    _keys(inputs, {"parameters", "artifacts"}, f"{where}.inputs")
    for index, param in enumerate(inputs.get("parameters") or []):
        _keys(param, {"name", "value", "default", "description", "enum"}, f"{where}.inputs.parameters[{index}]")
    for index, art in enumerate(inputs.get("artifacts") or []):
        _artifact(art, f"{where}.inputs.artifacts[{index}]", input_=True)
    outputs = template.get("outputs") or {}
    _keys(outputs, {"parameters", "artifacts"}, f"{where}.outputs")
    for index, param in enumerate(outputs.get("parameters") or []):
        pwhere = f"{where}.outputs.parameters[{index}]"
        _keys(param, {"name", "valueFrom", "description", "globalName"}, pwhere)
        if param.get("globalName"):
            raise UnsupportedField(f"{pwhere}.globalName")
        _keys(param.get("valueFrom") or {}, {"path", "default"}, f"{pwhere}.valueFrom")
        if not (param.get("valueFrom") or {}).get("path"):
            raise UnsupportedField(f"{pwhere}.valueFrom", "needs a path (the only source the local engine reads)")
    for index, art in enumerate(outputs.get("artifacts") or []):
        _artifact(art, f"{where}.outputs.artifacts[{index}]", input_=False)
    for index, volume in enumerate(template.get("volumes") or []):
        _volume(volume, f"{where}.volumes[{index}]")
    if template.get("container"):
        _container(template["container"], f"{where}.container", _CONTAINER)
    if template.get("script"):
        _container(template["script"], f"{where}.script", _SCRIPT)
    if template.get("containerSet"):
        cset = template["containerSet"]
        _keys(cset, {"containers", "volumeMounts"}, f"{where}.containerSet")
        names = {c.get("name") for c in cset.get("containers") or []}
        for c in cset.get("containers") or []:
            cwhere = f"{where}.containerSet.containers[{c.get('name', '?')}]"
            _folder_name(c.get("name"), f"{cwhere}.name")
            _container(c, cwhere, _CONTAINER)
            for dep in c.get("dependencies") or []:
                if dep not in names:
                    raise UnsupportedField(f"{cwhere}.dependencies", f"names an unknown container {dep!r}")
    if template.get("steps"):
        for gi, group in enumerate(template["steps"]):
            for si, step in enumerate(group or []):
                _step(step, f"{where}.steps[{gi}][{si}]")
    if template.get("dag"):
        _keys(template["dag"], {"tasks"}, f"{where}.dag")
        for ti, task in enumerate(template["dag"].get("tasks") or []):
            _step(task, f"{where}.dag.tasks[{ti}]", dag=True)


def _step(step: dict, where: str, dag: bool = False) -> None:
    allowed = {"name", "template", "templateRef", "arguments"} | ({"dependencies", "depends"} if dag else set())
    _keys(step, allowed, where)
    args = step.get("arguments") or {}
    _keys(args, {"parameters"}, f"{where}.arguments")
    for index, param in enumerate(args.get("parameters") or []):
        _keys(param, {"name", "value"}, f"{where}.arguments.parameters[{index}]")
    if step.get("templateRef"):
        _keys(step["templateRef"], {"name", "template", "clusterScope"}, f"{where}.templateRef")
    if dag and step.get("depends"):
        from argo_papermill.engine.dag import parse_depends

        try:
            parse_depends(step["depends"])
        except ValueError as err:
            raise UnsupportedField(f"{where}.depends", str(err)) from None


def _container(container: dict, where: str, allowed: set[str]) -> None:
    _keys(container, allowed, where)
    if not (container.get("command") or (allowed is _SCRIPT)):
        raise UnsupportedField(f"{where}.command", "is required (the local engine cannot read an image's entrypoint)")
    for index, env in enumerate(container.get("env") or []):
        ewhere = f"{where}.env[{index}]"
        _keys(env, {"name", "value", "valueFrom"}, ewhere)
        source = env.get("valueFrom")
        if source:
            _keys(source, {"secretKeyRef", "fieldRef"}, f"{ewhere}.valueFrom")
            if source.get("fieldRef") and source["fieldRef"].get("fieldPath") not in (
                "metadata.name", "metadata.namespace",
            ):
                raise UnsupportedField(f"{ewhere}.valueFrom.fieldRef.fieldPath")
    for index, env_from in enumerate(container.get("envFrom") or []):
        _keys(env_from, {"secretRef", "prefix"}, f"{where}.envFrom[{index}]")
    for index, mount in enumerate(container.get("volumeMounts") or []):
        _keys(mount, {"name", "mountPath", "subPath", "readOnly", "mountPropagation"}, f"{where}.volumeMounts[{index}]")


def _volume(volume: dict, where: str) -> None:
    kinds = [key for key in volume if key != "name"]
    _folder_name(volume.get("name"), f"{where}.name")
    if isinstance(volume.get("persistentVolumeClaim"), dict):
        _folder_name(volume["persistentVolumeClaim"].get("claimName"), f"{where}.persistentVolumeClaim.claimName")
    if isinstance(volume.get("secret"), dict):
        _folder_name(volume["secret"].get("secretName"), f"{where}.secret.secretName")
    for key in kinds:
        if key not in _VOLUME_TYPES:
            raise UnsupportedField(f"{where}.{key}", "is not a volume type the local engine binds "
                                   "(emptyDir, persistentVolumeClaim, hostPath, secret)")


def _artifact(art: dict, where: str, *, input_: bool) -> None:
    allowed = {"name", "path", "optional", "archive", "s3", "mode"} | ({"git"} if input_ else set())
    _keys(art, allowed, where)
    if input_ and not (art.get("git") or art.get("s3")):
        raise UnsupportedField(where, "needs a git or s3 source (the local engine has no artifact repository)")
    if not art.get("path"):
        raise UnsupportedField(f"{where}.path", "is required")
    if art.get("git"):
        _keys(art["git"], {"repo", "revision", "depth", "usernameSecret", "passwordSecret", "singleBranch", "branch",
                            "disableSubmodules", "insecureSkipTLS", "fetch"}, f"{where}.git")
    if art.get("s3"):
        _keys(art["s3"], {"key", "bucket", "endpoint", "insecure", "region", "accessKeySecret", "secretKeySecret"},
              f"{where}.s3")
    elif not input_ and not art.get("optional"):
        raise UnsupportedField(f"{where}.s3", "is required: the local engine has no default artifact repository")
