"""Kubernetes label selectors (``a=b,c!=d,e in (x,y),f notin (z),g,!h``), parsed and matched.

One implementation for every backend that filters labels itself: the local store and the Kubernetes
backend's watch-fed index.
"""

from __future__ import annotations

import re

_SELECTOR_TERM = re.compile(
    r"^\s*(?P<neg>!)?(?P<key>[A-Za-z0-9_./-]+)\s*(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*(?P<value>.*?))?\s*$"
)


def parse_selector(selector: str) -> list[tuple[str, str, set[str]]]:
    """A Kubernetes label selector -> [(key, op, values)], op in =, !=, in, notin, exists, !exists."""
    terms: list[tuple[str, str, set[str]]] = []
    for raw in _split_selector(selector or ""):
        match = _SELECTOR_TERM.match(raw)
        if not match:
            raise ValueError(f"unable to parse label selector term {raw!r}")
        key, op, value = match.group("key"), (match.group("op") or "").strip(), match.group("value")
        if match.group("neg"):
            terms.append((key, "!exists", set()))
        elif not op:
            terms.append((key, "exists", set()))
        elif op in ("=", "=="):
            terms.append((key, "=", {value}))
        elif op == "!=":
            terms.append((key, "!=", {value}))
        else:
            values = {v.strip() for v in value.strip().strip("()").split(",") if v.strip()}
            terms.append((key, op, values))
    return terms


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()]


def matches(terms: list[tuple[str, str, set[str]]], labels: dict[str, str]) -> bool:
    for key, op, values in terms:
        present = key in labels
        value = labels.get(key)
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op in ("=", "in") and value not in values:
            return False
        if op in ("!=", "notin") and present and value in values:
            return False
    return True


def match_labels(selector: str, labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy ``selector`` (ValueError for an unparsable selector)."""
    return matches(parse_selector(selector), labels)
