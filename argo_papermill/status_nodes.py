"""Reading Argo Workflow node status defensively: decoding, typed access, timestamps.

Workflow objects come from a cluster, an Argo Server, the embedded engine or hand-edited
test data, so every accessor here tolerates missing keys, nulls and wrong types instead of
raising. Pure functions only; ``status.py`` builds the job view on top of them.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import zlib
from datetime import datetime, timezone
from typing import Any

from argo_papermill.contract import DATETIME_FORMAT

# Node types whose progress Argo counts itself (``workflow/progress/updater.go``).
EXECUTABLE_TYPES: frozenset[str] = frozenset({"Pod", "Container", "HTTP", "Plugin", "Suspend"})
# A node in one of these phases has begun to run (or ran and ended).
STARTED_PHASES: frozenset[str] = frozenset({"Running", "Succeeded", "Failed", "Error"})
DONE_PHASES: frozenset[str] = frozenset({"Succeeded", "Skipped", "Omitted"})
FAILED_PHASES: frozenset[str] = frozenset({"Failed", "Error"})

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_PROGRESS_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# Decompressed node maps larger than this are refused (a compressed bomb must not take the server down).
MAX_DECODED_NODES_BYTES = 256 * 1024 * 1024


# Node fields compared or looked up as strings; a node whose value has another type loses the field.
_STRING_FIELDS: frozenset[str] = frozenset(
    {"id", "name", "displayName", "type", "phase", "message", "boundaryID", "templateName", "progress"}
)


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _decompress(raw: bytes) -> bytes:
    """gzip (Argo's default), zlib, or zstd/brotli (Argo >= 4.1) when ``zstandard``/``brotli`` is installed."""
    if raw[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
            data = fh.read(MAX_DECODED_NODES_BYTES + 1)
    elif raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard  # type: ignore[import-not-found]  # optional; ImportError is handled by the caller

        data = zstandard.ZstdDecompressor().decompress(raw, max_output_size=MAX_DECODED_NODES_BYTES + 1)
    elif raw[:1] in (b"{", b"["):
        data = raw
    else:
        try:
            data = zlib.decompressobj().decompress(raw, MAX_DECODED_NODES_BYTES + 1)
        except zlib.error:
            import brotli  # type: ignore[import-not-found]  # Argo >= 4.1 may use it; optional here

            data = brotli.decompress(raw)
    if len(data) > MAX_DECODED_NODES_BYTES:
        raise ValueError("compressedNodes too large")
    return data


def decode_nodes(status: Any) -> dict[str, dict]:
    """The node map of ``status``: ``status.nodes``, else decoded ``status.compressedNodes``.

    Argo moves nodes into ``compressedNodes`` (base64 of gzip of the JSON map, ``workflow/packer``)
    when the object grows past 1 MiB. Offloaded nodes (``offloadNodeStatusVersion``) are not in the
    object at all; then, as for anything undecodable, the result is ``{}``. Entries that are not
    dicts are dropped, a node's ``id`` is always its key (children refer to keys), and fields that
    must be strings (type, phase, name, ...) are dropped when they are not.
    """
    status = as_dict(status)
    nodes: Any = status.get("nodes")
    if not (isinstance(nodes, dict) and nodes):
        packed = status.get("compressedNodes")
        nodes = {}
        if isinstance(packed, str) and packed:
            try:
                nodes = json.loads(_decompress(base64.b64decode(packed)))
            except Exception:  # noqa: BLE001 - bad base64/gzip/JSON, zstd/brotli errors: never fail a read
                nodes = {}
    if not isinstance(nodes, dict):
        return {}
    out: dict[str, dict] = {}
    for key, node in nodes.items():
        if not isinstance(node, dict):
            continue
        if any(k in node and not isinstance(node[k], str) for k in _STRING_FIELDS):
            node = {k: v for k, v in node.items() if k not in _STRING_FIELDS or isinstance(v, str)}
        out[str(key)] = node if node.get("id") == str(key) else {**node, "id": str(key)}
    return out


def parse_progress(value: Any) -> tuple[int, int] | None:
    """``"N/M"`` as ``(N, M)`` when Argo would accept it (``M > 0`` and ``0 <= N <= M``), else None."""
    match = _PROGRESS_RE.match(value) if isinstance(value, str) else None
    if not match:
        return None
    done, total = int(match.group(1)), int(match.group(2))
    if total <= 0 or done > total:
        return None
    return done, total


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 string, pygeoapi's format or a YAML datetime; else None."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            try:
                parsed = datetime.strptime(text, DATETIME_FORMAT)
            except ValueError:
                return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        parsed = parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
    # Go's zero time (0001-01-01) means "unset"; years before 1970 would also not format as 4 digits
    return parsed if parsed >= EPOCH else None


def format_time(value: datetime) -> str:
    """A job timestamp: pygeoapi's ``DATETIME_FORMAT`` at Argo's precision, whole seconds.

    Argo's ``startedAt``/``finishedAt`` have whole seconds; the creation time (microseconds in the
    ``pygeoapi.io/created`` annotation) is truncated to match, so every timestamp of a job has the
    same format and precision (``2026-01-02T03:04:05.000000Z``) and ``created <= started <= finished``.
    """
    return value.astimezone(timezone.utc).replace(microsecond=0).strftime(DATETIME_FORMAT)


def node_label(node: dict) -> str:
    """The short name Argo's UI shows: ``displayName``, else the last part of ``name``, else the id."""
    display = as_str(node.get("displayName"))
    if display:
        return display
    name = as_str(node.get("name"))
    if name:
        return name.rsplit(".", 1)[-1]
    return as_str(node.get("id"))


def is_hooked(node: dict) -> bool:
    return bool(as_dict(node.get("nodeFlag")).get("hooked"))


def container_index(nodes: dict[str, dict]) -> dict[str, list[dict]]:
    """Pod node id -> its ``Container`` nodes (a containerSet), found by ``boundaryID`` or as children."""
    index: dict[str, dict[str, dict]] = {}
    for node in nodes.values():
        if node.get("type") == "Container" and node.get("boundaryID") in nodes:
            index.setdefault(node["boundaryID"], {})[node["id"]] = node
    for node in nodes.values():
        if node.get("type") != "Pod":
            continue
        for child_id in as_list(node.get("children")):
            child = nodes.get(child_id) if isinstance(child_id, str) else None
            if child is not None and child.get("type") == "Container":
                index.setdefault(node["id"], {})[child["id"]] = child
    return {pod_id: list(found.values()) for pod_id, found in index.items() if nodes[pod_id].get("type") == "Pod"}


def superseded_attempts(nodes: dict[str, dict]) -> set[str]:
    """Ids of retry attempts that a later attempt replaced (every child of a Retry node but the last)."""
    superseded: set[str] = set()
    for node in nodes.values():
        if node.get("type") != "Retry":
            continue
        attempts = [
            c for c in as_list(node.get("children")) if isinstance(c, str) and c in nodes and not is_hooked(nodes[c])
        ]
        superseded.update(attempts[:-1])
    return superseded


def output_parameter(node: dict, name: str) -> str | None:
    """The value of output parameter ``name`` of ``node``, if any."""
    for param in as_list(as_dict(node.get("outputs")).get("parameters")):
        param = as_dict(param)
        if param.get("name") == name and isinstance(param.get("value"), str):
            return param["value"]
    return None
