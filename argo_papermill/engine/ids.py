"""Node ids and pod names computed exactly as the Argo controller does.

``Workflow.NodeID`` (workflow_types.go) and ``GeneratePodName`` (workflow/util/pod_name.go, v2):
both hash the node *name* with 32-bit FNV-1a and print it in decimal.
"""

from __future__ import annotations

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MAX_POD_PREFIX = 242  # 253 - 10 (hash) - 1 (dash)


def fnv32a(text: str) -> int:
    """32-bit FNV-1a over the UTF-8 bytes of ``text`` (Go's hash/fnv New32a)."""
    value = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def node_id(workflow_name: str, node_name: str) -> str:
    """The root node's id is the workflow name; every other id is ``<wf>-<fnv32a(name)>``."""
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{fnv32a(node_name)}"


def pod_name(workflow_name: str, node_name: str, template_name: str) -> str:
    """Pod name format v2 (Argo's default since v3.2)."""
    if node_name == workflow_name:
        return workflow_name
    prefix = f"{workflow_name}-{template_name}" if template_name else workflow_name
    prefix = prefix[:_MAX_POD_PREFIX]
    return f"{prefix}-{fnv32a(node_name)}"
