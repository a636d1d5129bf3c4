"""Argo's ``{{...}}`` parameter substitution for one template invocation.

Argo replaces every ``{{name}}`` whose name is in the scope, in every string of the
template. A reference into a scope Argo owns (``inputs.``, ``workflow.``, ``steps.``,
``tasks.``, ``pod.``) that cannot be resolved is an error, as in Argo; other braces
(Jinja in a script, say) are left alone. Of the expression templates (``{{=...}}``) only
``asInt(<scope>['<name>'])`` is evaluated (the translation reads papermill's resources with it),
as Argo's does (expr-lang's ``int()``: Go's ``strconv.Atoi``); every other expression is refused.
"""

from __future__ import annotations

import re
from typing import Any

_TAG = re.compile(r"{{\s*([^{}]+?)\s*}}")
_AS_INT = re.compile(r"=\s*asInt\(\s*(workflow\.parameters|inputs\.parameters)\['([^'\]]+)'\]\s*\)")
_ATOI = re.compile(r"[+-]?[0-9]+")
_OWNED_PREFIXES = ("inputs.", "workflow.", "steps.", "tasks.", "pod.", "outputs.", "item")


class SubstitutionError(ValueError):
    """A ``{{...}}`` reference that Argo would fail to resolve."""


def substitute(value: Any, scope: dict[str, str]) -> Any:
    """Return ``value`` (str, list, dict, scalar) with every known ``{{key}}`` replaced."""
    if isinstance(value, str):
        return _substitute_str(value, scope)
    if isinstance(value, list):
        return [substitute(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, scope) for key, item in value.items()}
    return value


def _substitute_str(text: str, scope: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        as_int = _AS_INT.fullmatch(key)
        if as_int:
            name = f"{as_int.group(1)}.{as_int.group(2)}"
            if name not in scope:
                raise SubstitutionError(f"failed to resolve {{{{{key}}}}}")
            if not _ATOI.fullmatch(scope[name]):
                raise SubstitutionError(f"failed to evaluate expression {{{{{key}}}}}: {scope[name]!r} is no integer")
            return str(int(scope[name]))
        if key.startswith("="):
            raise SubstitutionError(f"expression templates are not supported by the local engine: {{{{{key}}}}}")
        if key in scope:
            return scope[key]
        if key.startswith(_OWNED_PREFIXES):
            raise SubstitutionError(f"failed to resolve {{{{{key}}}}}")
        return match.group(0)

    return _TAG.sub(replace, text)
