"""Resolve ``workflowTemplateRef`` and step ``templateRef`` from WorkflowTemplate YAML files.

The folders are the repo's ``workflow_templates/`` and any configured ``template_dirs``;
every ``*.yaml``/``*.yml`` document of kind WorkflowTemplate (or ClusterWorkflowTemplate)
is indexed by ``metadata.name``. Merging follows Argo's JoinWorkflowSpec for the keys
the engine supports: the Workflow's values win, ``arguments.parameters`` merge by name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterable

import yaml

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "workflow_templates"


class TemplateNotFound(LookupError):
    pass


class TemplateLibrary:
    """Re-reads the folders when a file was added, removed or changed, so edits apply to the next run."""

    def __init__(self, dirs: Iterable[str | Path] | None = None):
        self.dirs = [Path(d) for d in (dirs or [])]
        if REPO_TEMPLATES not in self.dirs:
            self.dirs.append(REPO_TEMPLATES)
        self._index: dict[str, dict] = {}
        self._seen: list[tuple[str, int]] | None = None

    def _files(self) -> list[tuple[Path, int]]:
        files = []
        for folder in self.dirs:
            if folder.is_dir():
                for path in sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml"))):
                    try:
                        files.append((path, path.stat().st_mtime_ns))
                    except OSError:
                        continue
        return files

    def _refresh(self) -> None:
        files = self._files()
        seen = [(str(path), mtime) for path, mtime in files]
        if seen == self._seen:
            return
        index: dict[str, dict] = {}
        for path, _ in files:
            try:
                docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except (OSError, yaml.YAMLError):
                continue
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") in ("WorkflowTemplate", "ClusterWorkflowTemplate"):
                    name = (doc.get("metadata") or {}).get("name")
                    if name and name not in index:
                        index[name] = doc
        self._index, self._seen = index, seen

    def get(self, name: str) -> dict:
        self._refresh()
        if name not in self._index:
            raise TemplateNotFound(
                f'WorkflowTemplate "{name}" not found in {", ".join(str(d) for d in self.dirs)}'
            )
        return copy.deepcopy(self._index[name])

    def template(self, ref: dict) -> tuple[dict, dict]:
        """(WorkflowTemplate, its template called ``ref.template``)."""
        wft = self.get(ref["name"])
        for template in (wft.get("spec") or {}).get("templates") or []:
            if template.get("name") == ref.get("template"):
                return wft, template
        raise TemplateNotFound(f'template "{ref.get("template")}" not found in WorkflowTemplate "{ref["name"]}"')


def join_spec(workflow_spec: dict, template_spec: dict) -> dict:
    """Workflow spec over WorkflowTemplate spec; arguments.parameters merged by name."""
    merged = copy.deepcopy(template_spec)
    for key, value in workflow_spec.items():
        if key in ("workflowTemplateRef", "arguments"):
            continue
        merged[key] = copy.deepcopy(value)
    params = {p["name"]: dict(p) for p in (template_spec.get("arguments") or {}).get("parameters") or []}
    order = list(params)
    for param in (workflow_spec.get("arguments") or {}).get("parameters") or []:
        if param["name"] not in params:
            order.append(param["name"])
        params[param["name"]] = {**params.get(param["name"], {}), **param}
    if params:
        merged.setdefault("arguments", {})["parameters"] = [params[name] for name in order]
    return merged
