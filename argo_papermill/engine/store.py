"""SQLite (WAL) store of Workflow objects, shared by the engine and every server process.

One row per Workflow. The engine writes only ``status``/``nodes``/``phase``; the API
side writes ``metadata``/``spec`` (create, patch) and deletes rows. Each side therefore
updates its own columns and nobody clobbers the other's writes. Every thread gets its
own connection; the database lives under the engine's data folder.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    metadata TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT '{}',
    nodes TEXT NOT NULL DEFAULT '{}',
    phase TEXT NOT NULL DEFAULT '',
    spec_version INTEGER NOT NULL DEFAULT 0,
    rv INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS workflows_created ON workflows(created DESC);
CREATE INDEX IF NOT EXISTS workflows_phase ON workflows(phase);
"""

LABEL_PHASE = "workflows.argoproj.io/phase"
LABEL_COMPLETED = "workflows.argoproj.io/completed"
COMPLETED_PHASES = frozenset({"Succeeded", "Failed", "Error"})


class Store:
    """Thread-safe access to ``<data_dir>/workflows.sqlite``."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "workflows.sqlite"
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    # --- API side -------------------------------------------------------------------------
    def insert(self, name: str, metadata: dict, spec: dict) -> bool:
        """Insert a new Workflow; False if the name is taken."""
        try:
            self._conn().execute(
                "INSERT INTO workflows(name, created, metadata, spec) VALUES (?, ?, ?, ?)",
                (name, time.time(), json.dumps(metadata), json.dumps(spec)),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def update_user_fields(self, name: str, metadata: dict, spec: dict, spec_changed: bool) -> bool:
        cur = self._conn().execute(
            "UPDATE workflows SET metadata=?, spec=?, spec_version=spec_version+?, rv=rv+1 WHERE name=?",
            (json.dumps(metadata), json.dumps(spec), 1 if spec_changed else 0, name),
        )
        return cur.rowcount > 0

    def delete(self, name: str) -> bool:
        cur = self._conn().execute("DELETE FROM workflows WHERE name=?", (name,))
        return cur.rowcount > 0

    def exists(self, name: str) -> bool:
        return self._conn().execute("SELECT 1 FROM workflows WHERE name=?", (name,)).fetchone() is not None

    def get(self, name: str) -> dict | None:
        row = self._conn().execute(
            "SELECT metadata, spec, status, nodes, phase, rv FROM workflows WHERE name=?", (name,)
        ).fetchone()
        if row is None:
            return None
        return _assemble(row[0], row[1], row[2], row[3], row[4], row[5], with_nodes=True)

    def page(self, predicate, phases: frozenset[str] | None, offset: int, limit: int | None) -> tuple[list[dict], int]:
        """Newest first; ``predicate(labels)`` filters; nodes are not read."""
        query = "SELECT name, metadata, phase FROM workflows"
        args: list[Any] = []
        if phases is not None:
            query += f" WHERE phase IN ({','.join('?' * len(phases))})"
            args.extend(sorted(phases))
        query += " ORDER BY created DESC, name DESC"
        page: list[str] = []
        total = 0
        for name, metadata, phase in self._conn().execute(query, args).fetchall():
            if not predicate(_labels(json.loads(metadata), phase)):
                continue
            total += 1
            if total > offset and (limit is None or len(page) < limit):
                page.append(name)
        items = []
        for name in page:  # spec and status are read and parsed for the page only
            row = self._conn().execute(
                "SELECT metadata, spec, status, phase, rv FROM workflows WHERE name=?", (name,)).fetchone()
            if row is not None:  # deleted meanwhile
                items.append(_assemble(row[0], row[1], row[2], "{}", row[3], row[4], with_nodes=False))
        return items, total

    # --- engine side ----------------------------------------------------------------------
    def write_status(self, name: str, status: dict, nodes: dict) -> bool:
        phase = status.get("phase") or ""
        cur = self._conn().execute(
            "UPDATE workflows SET status=?, nodes=?, phase=?, rv=rv+1 WHERE name=?",
            (json.dumps(status), json.dumps(nodes), phase, name),
        )
        return cur.rowcount > 0

    def unfinished_versions(self) -> dict[str, tuple[str, int]]:
        """name -> (phase, spec_version) of every workflow not yet finished (no JSON, no finished rows:
        the engine asks every poll, and finished workflows pile up)."""
        rows = self._conn().execute(
            "SELECT name, phase, spec_version FROM workflows WHERE phase IN ('', 'Pending', 'Running')"
        )
        return {name: (phase, version) for name, phase, version in rows}

    def finished_phases(self) -> dict[str, str]:
        """name -> phase of every finished workflow."""
        placeholders = ",".join("?" * len(COMPLETED_PHASES))
        rows = self._conn().execute(
            f"SELECT name, phase FROM workflows WHERE phase IN ({placeholders})", sorted(COMPLETED_PHASES)
        )
        return dict(rows.fetchall())

    def queued(self) -> list[str]:
        """Workflows not yet started, oldest first."""
        rows = self._conn().execute(
            "SELECT name FROM workflows WHERE phase IN ('', 'Pending') ORDER BY created ASC, name ASC"
        )
        return [row[0] for row in rows]

    def names_in_phase(self, phases: tuple[str, ...]) -> list[str]:
        rows = self._conn().execute(
            f"SELECT name FROM workflows WHERE phase IN ({','.join('?' * len(phases))})", phases
        )
        return [row[0] for row in rows]


def _labels(meta: dict, phase: str) -> dict:
    """The labels with the phase labels the Argo controller maintains."""
    labels = dict(meta.get("labels") or {})
    if phase:
        labels[LABEL_PHASE] = phase
        labels[LABEL_COMPLETED] = "true" if phase in COMPLETED_PHASES else "false"
    return labels


def _assemble(metadata: str, spec: str, status: str, nodes: str, phase: str, rv: int, *, with_nodes: bool) -> dict:
    meta = json.loads(metadata)
    meta["labels"] = _labels(meta, phase)
    meta["resourceVersion"] = str(rv)
    status_obj = json.loads(status)
    if with_nodes:
        node_map = json.loads(nodes)
        if node_map:
            status_obj["nodes"] = node_map
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": meta,
        "spec": json.loads(spec),
        "status": status_obj,
    }
