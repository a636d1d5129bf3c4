"""Checks for generated Workflow manifests that the CRD schema cannot express.

``strict_crd_validator`` emulates a v4 API server with ``fieldValidation=Strict``;
``lint`` checks the Argo semantics that matter here: a container named ``main`` where a
containerSet template has inputs/outputs, an explicit ``command`` on every container, every
``{{...}}`` reference declared, no names Argo reserves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import yaml

REFERENCE_RE = re.compile(r"{{\s*([^}]*?)\s*}}")
ASINT_RE = re.compile(r"=asInt\(workflow\.parameters\['([^']+)'\]\)")
# Argo's global variables we use or may use (docs/variables.md)
GLOBAL_VARIABLES = {
    "workflow.name", "workflow.namespace", "workflow.uid", "workflow.serviceAccountName",
    "workflow.creationTimestamp", "workflow.duration", "workflow.status", "pod.name",
}
RESERVED_CONTAINER_NAMES = {"wait", "init"}  # Argo's own executor containers
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _strictify(node: Any) -> None:
    if isinstance(node, dict):
        if (
            isinstance(node.get("properties"), dict)
            and not node.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in node
        ):
            node["additionalProperties"] = False
        for value in node.values():
            _strictify(value)
    elif isinstance(node, list):
        for value in node:
            _strictify(value)


def strict_crd_validator(path: Path):
    import jsonschema

    with open(path, "rb") as handle:
        crd = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    _strictify(schema)
    return jsonschema.Draft7Validator(schema)


def crd_errors(validator, manifest: dict) -> list[str]:
    """Schema errors of a Workflow (a WorkflowTemplate is checked as a Workflow: same spec type)."""
    doc = dict(manifest)
    doc["kind"] = "Workflow"
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def lint(manifest: dict, template: dict | None = None) -> list[str]:
    """Problems of a Workflow/WorkflowTemplate; ``template`` = the WorkflowTemplate a ref points to."""
    problems: list[str] = []
    spec = manifest.get("spec", {})
    declared = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
    templates = spec.get("templates", [])
    if "workflowTemplateRef" in spec:
        if template is None:
            return ["workflowTemplateRef without the referenced template"]
        if spec["workflowTemplateRef"].get("name") != template["metadata"]["name"]:
            problems.append("workflowTemplateRef names another template")
        tdeclared = {p["name"] for p in template["spec"].get("arguments", {}).get("parameters", [])}
        for name in declared - tdeclared:
            problems.append(f"argument {name!r} is not a parameter of the WorkflowTemplate")
        required = {
            p["name"] for p in template["spec"]["arguments"]["parameters"] if "value" not in p and "default" not in p
        }
        for name in required - declared:
            problems.append(f"required template parameter {name!r} has no value")
        allowed = {
            "arguments", "entrypoint", "shutdown", "suspend", "activeDeadlineSeconds", "priority", "ttlStrategy",
            "podGC", "volumeClaimGC", "archiveLogs", "workflowMetadata", "workflowTemplateRef", "metrics", "artifactGC",
        }
        for key in set(spec) - allowed:
            problems.append(f"spec.{key} is not allowed beside workflowTemplateRef (strict templateReferencing)")
        return problems
    names = {t["name"] for t in templates}
    if spec.get("entrypoint") not in names:
        problems.append(f"entrypoint {spec.get('entrypoint')!r} is not a template")
    for tmpl in templates:
        where = f"template {tmpl['name']}"
        if not DNS_LABEL_RE.match(tmpl["name"]):
            problems.append(f"{where}: not a DNS label")
        inputs = {p["name"] for p in tmpl.get("inputs", {}).get("parameters", [])}
        containers = []
        if "containerSet" in tmpl:
            containers = tmpl["containerSet"]["containers"]
            cnames = [c["name"] for c in containers]
            if (tmpl.get("inputs") or tmpl.get("outputs")) and "main" not in cnames:
                problems.append(f"{where}: has inputs/outputs but no container named main")
            if len(set(cnames)) != len(cnames):
                problems.append(f"{where}: duplicate container names")
            for c in containers:
                for dep in c.get("dependencies", []):
                    if dep not in cnames:
                        problems.append(f"{where}: {c['name']} depends on unknown {dep!r}")
            vol_names = {v["name"] for v in tmpl.get("volumes", []) + spec.get("volumes", [])}
            for c in containers:
                mounts = c.get("volumeMounts", []) + tmpl["containerSet"].get("volumeMounts", [])
                for m in mounts:
                    if m["name"] not in vol_names:
                        problems.append(f"{where}: {c['name']} mounts undeclared volume {m['name']!r}")
                paths = [m["mountPath"] for m in mounts]
                if len(set(paths)) != len(paths):
                    problems.append(f"{where}: {c['name']} mounts two volumes at one path")
        elif "container" in tmpl:
            containers = [tmpl["container"]]
        for c in containers:
            if not c.get("command"):
                problems.append(f"{where}: container {c.get('name')!r} has no explicit command")
            if c.get("name") in RESERVED_CONTAINER_NAMES:
                problems.append(f"{where}: container name {c['name']!r} is reserved by Argo")
            if not DNS_LABEL_RE.match(c.get("name", "main")):
                problems.append(f"{where}: container name {c.get('name')!r} is not a DNS label")
        for text in _strings(tmpl):
            for ref in REFERENCE_RE.findall(text):
                expression = ASINT_RE.fullmatch(ref)  # the one expression the translation writes
                if expression:
                    if expression.group(1) not in declared:
                        problems.append(f"{where}: undeclared {{{{{ref}}}}}")
                elif ref.startswith("workflow.parameters."):
                    if ref.split(".", 2)[2] not in declared:
                        problems.append(f"{where}: undeclared {{{{{ref}}}}}")
                elif ref.startswith("inputs.parameters."):
                    if ref.split(".", 2)[2] not in inputs:
                        problems.append(f"{where}: undeclared {{{{{ref}}}}}")
                elif ref not in GLOBAL_VARIABLES:
                    problems.append(f"{where}: unknown reference {{{{{ref}}}}}")
    for text in _strings(manifest.get("metadata", {})):
        if REFERENCE_RE.search(text):
            problems.append("metadata contains an Argo expression")
    return problems
