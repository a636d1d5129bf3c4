"""Writing Argo's self-reported progress and the papermill error record, atomically.

Argo reads the *last line* of ``$ARGO_PROGRESS_FILE`` as ``N/M`` (polled every few seconds up to
v4.0, an fsnotify watch on the directory from v4.1, which sees a rename onto the path as a
create). A reader must never see half a line, so every write goes to a temporary file in the same
directory and is renamed over the target (``os.replace``). The file keeps one line per finished
cell (the last ``MAX_LINES``), which is what Argo needs and makes every report visible afterwards.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from typing import Any

from argo_papermill.contract import ENV_ERROR_FILE, ENV_PROGRESS_FILE

log = logging.getLogger(__name__)

MAX_LINES = 1000
MAX_EVALUE_CHARS = 2000


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path``'s content with ``text`` in one step: write ``.<name>.<pid>.tmp`` beside it, rename.

    Lean on purpose (a few syscalls, ~0.1 ms): it runs after every cell. The parent directory must
    exist (``ProgressReporter`` creates it once).
    """
    target = os.fspath(path)
    head, name = os.path.split(target)
    tmp = os.path.join(head, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _ensure_parent(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)


class ProgressReporter:
    """Per-cell reports of one notebook run; each method is a no-op for a path that is not set.

    Reporting never fails the notebook: an unwritable path is logged once and then ignored.
    """

    def __init__(self, total_cells: int, progress_path: str | None, error_path: str | None):
        self.total = max(int(total_cells), 0)
        self.progress_path = progress_path or None
        self.error_path = error_path or None
        self.done = 0
        self.current_index: int | None = None
        self.failed_index: int | None = None
        self.error_written = False
        self._lines: deque[str] = deque(maxlen=MAX_LINES)
        self._progress_ready = False

    @classmethod
    def from_env(cls, total_cells: int, environ: dict[str, str] | None = None) -> "ProgressReporter":
        env = os.environ if environ is None else environ
        return cls(total_cells, env.get(ENV_PROGRESS_FILE), env.get(ENV_ERROR_FILE))

    @property
    def active(self) -> bool:
        return bool(self.progress_path or self.error_path)

    def cell_started(self, cell_index: int | None) -> None:
        self.current_index = cell_index

    def cell_completed(self, cell_index: int | None) -> None:
        """Record one more finished cell and publish ``done/total`` (not for the failing cell)."""
        if cell_index is not None and cell_index == self.failed_index:
            return
        self.done = max(self.done + 1, (cell_index + 1) if cell_index is not None else 0)
        if not self.progress_path or self.total <= 0:
            return
        self._lines.append(f"{min(self.done, self.total)}/{self.total}\n")
        try:
            if not self._progress_ready:
                _ensure_parent(self.progress_path)
                self._progress_ready = True
            write_atomically(self.progress_path, "".join(self._lines))
        except OSError as exc:
            log.warning("cannot write progress to %s (%s); progress reporting is off", self.progress_path, exc)
            self.progress_path = None

    def cell_failed(self, cell: Any, cell_index: int | None, exception: BaseException | None) -> None:
        """Record the failing cell: index, execution count, exception name and message."""
        self.failed_index = cell_index
        execution_count = cell.get("execution_count") if isinstance(cell, dict) else None
        self.write_error(
            cell_index,
            execution_count,
            getattr(exception, "ename", None) or (type(exception).__name__ if exception else "Error"),
            getattr(exception, "evalue", None) if hasattr(exception, "ename") else str(exception or ""),
        )

    def write_error(self, cell_index: int | None, execution_count: Any, ename: str, evalue: Any) -> None:
        if not self.error_path or self.error_written:
            return
        record = {
            "cell_index": cell_index,
            "execution_count": execution_count if isinstance(execution_count, int) else None,
            "ename": str(ename),
            "evalue": str(evalue if evalue is not None else "")[:MAX_EVALUE_CHARS],
        }
        try:
            _ensure_parent(self.error_path)
            write_atomically(self.error_path, json.dumps(record) + "\n")
            self.error_written = True
        except OSError as exc:
            log.warning("cannot write the error record to %s (%s)", self.error_path, exc)
