"""Argo's ``{{...}}`` parameter substitution for one template invocation.

Argo replaces every ``{{name}}`` whose name is in the scope, in every string of the
template. A reference into a scope Argo owns (``inputs.``, ``workflow.``, ``steps.``,
``tasks.``, ``pod.``) that cannot be resolved is an error, as in Argo; other braces
(Jinja in a script, say) are left alone. Expression templates (``{{=...}}``) are refused.
"""

from __future__ import annotations

import re
from typing import Any

_TAG = re.compile(r"{{\s*([^{}]+?)\s*}}")
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
        if key.startswith("="):
            raise SubstitutionError(f"expression templates are not supported by the local engine: {{{{{key}}}}}")
        if key in scope:
            return scope[key]
        if key.startswith(_OWNED_PREFIXES):
            raise SubstitutionError(f"failed to resolve {{{{{key}}}}}")
        return match.group(0)

    return _TAG.sub(replace, text)
