"""The workflow's ``status.nodes`` map, shaped exactly as the Argo controller writes it.

Names, ids, display names, types, boundary ids, children, phases, progress and
timestamps follow ``workflow/controller/operator.go`` and ``workflow/progress/updater.go``.
The tree is owned by one ``WorkflowRun``; every mutation holds its lock.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

from argo_papermill.engine.ids import node_id

EXECUTABLE = frozenset({"Pod", "HTTP", "Plugin", "Container", "Suspend"})
FULFILLED = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
COMPLETED = frozenset({"Succeeded", "Failed", "Error"})


def now_rfc3339() -> str:
    """UTC timestamp at second precision, as Kubernetes serialises metav1.Time."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_progress(text: str | None) -> tuple[int, int] | None:
    """``"N/M"`` -> (N, M) if valid in Argo's sense (M > 0, 0 <= N <= M), else None."""
    if not text or "/" not in text:
        return None
    left, _, right = text.strip().partition("/")
    try:
        done, total = int(left), int(right)
    except ValueError:
        return None
    if total <= 0 or done < 0 or done > total:
        return None
    return done, total


class NodeTree:
    """All nodes of one workflow plus the helpers that create and finish them."""

    def __init__(self, workflow_name: str, nodes: dict[str, dict] | None = None):
        self.workflow_name = workflow_name
        self.nodes: dict[str, dict] = nodes if nodes is not None else {}
        self.lock = threading.RLock()

    def id_of(self, name: str) -> str:
        return node_id(self.workflow_name, name)

    def create(
        self,
        name: str,
        node_type: str,
        *,
        display_name: str,
        template_name: str | None,
        boundary_id: str | None,
        template_scope: str,
        phase: str = "Pending",
        template_ref: dict | None = None,
        node_flag: dict | None = None,
        message: str | None = None,
    ) -> dict:
        """Create (or return the existing) node called ``name``."""
        with self.lock:
            nid = self.id_of(name)
            if nid in self.nodes:
                return self.nodes[nid]
            node: dict[str, Any] = {
                "id": nid,
                "name": name,
                "displayName": display_name,
                "type": node_type,
                "templateScope": template_scope,
                "phase": phase,
                "startedAt": now_rfc3339(),
                "finishedAt": None,
            }
            if template_ref:
                node["templateRef"] = template_ref
            elif template_name:
                node["templateName"] = template_name
            if boundary_id:
                node["boundaryID"] = boundary_id
            if node_flag:
                node["nodeFlag"] = node_flag
            if message:
                node["message"] = message
            if node_type in EXECUTABLE:
                node["progress"] = "0/1"
            self.nodes[nid] = node
            return node

    def add_child(self, parent_id: str, child_id: str) -> None:
        with self.lock:
            children = self.nodes[parent_id].setdefault("children", [])
            if child_id not in children:
                children.append(child_id)

    def mark(self, nid: str, phase: str, message: str | None = None) -> dict:
        """Set a node's phase (and message); finishing sets finishedAt once."""
        with self.lock:
            node = self.nodes[nid]
            node["phase"] = phase
            if message is not None:
                if message:
                    node["message"] = message
                else:
                    node.pop("message", None)
            if phase in FULFILLED and not node.get("finishedAt"):
                node["finishedAt"] = now_rfc3339()
            return node

    def unfinished(self) -> list[dict]:
        with self.lock:
            return [n for n in self.nodes.values() if n.get("phase") not in FULFILLED]

    def update_progress(self) -> str:
        """Argo's UpdateProgress: executable nodes own their progress, the rest sum children."""
        with self.lock:
            total_done, total_all = 0, 0
            for node in self.nodes.values():
                if node.get("type") not in EXECUTABLE:
                    continue
                parsed = parse_progress(node.get("progress")) or (0, 1)
                if node.get("phase") in ("Succeeded", "Skipped", "Omitted"):
                    parsed = (parsed[1], parsed[1])
                node["progress"] = f"{parsed[0]}/{parsed[1]}"
                total_done += parsed[0]
                total_all += parsed[1]
            for node in self.nodes.values():
                if node.get("type") in EXECUTABLE:
                    continue
                done, total = self._sum(node, set())
                if total > 0:
                    node["progress"] = f"{done}/{total}"
            return f"{total_done}/{total_all}"

    def _sum(self, node: dict, visited: set[str]) -> tuple[int, int]:
        done, total = 0, 0
        for child_id in node.get("children", []):
            if child_id in visited:
                continue
            visited.add(child_id)
            child = self.nodes.get(child_id)
            if child is None:
                continue
            sub_done, sub_total = self._sum(child, visited)
            done, total = done + sub_done, total + sub_total
            if child.get("type") in EXECUTABLE:
                parsed = parse_progress(child.get("progress"))
                if parsed:
                    done, total = done + parsed[0], total + parsed[1]
        return done, total

    def snapshot(self) -> dict[str, dict]:
        """A deep-enough copy for serialisation outside the lock."""
        import copy

        with self.lock:
            return copy.deepcopy(self.nodes)
