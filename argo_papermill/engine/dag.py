"""DAG dependency parsing: the subset of Argo's ``depends`` the engine implements."""

from __future__ import annotations

import re

_TERM = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_]*)(\.Succeeded)?$")


def parse_depends(expression: str) -> list[str]:
    """``"A && B.Succeeded"`` -> ["A", "B"]; anything beyond ``&&`` of succeeded tasks is refused."""
    names = []
    for term in expression.split("&&"):
        term = term.strip()
        match = _TERM.match(term)
        if not match:
            raise ValueError(f"only 'task' or 'task.Succeeded' joined by && is supported, not {term!r}")
        names.append(match.group(1))
    return names


def task_dependencies(task: dict) -> list[str]:
    if task.get("depends"):
        return parse_depends(task["depends"])
    return list(task.get("dependencies") or [])
