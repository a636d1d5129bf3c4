"""``papermill --engine argo_progress``: papermill's nbclient engine plus per-cell reports to Argo.

After every cell it writes ``<cells done>/<total cells>`` as the last line of
``$ARGO_PROGRESS_FILE`` (Argo's self-reported progress), and on a failing cell, or a kernel that
cannot start (papermill starts it inside the engine: ``NoSuchKernel``, ``"cell_index": null``), it
writes ``{"cell_index", "execution_count", "ename", "evalue"}`` to ``$ARGO_PAPERMILL_ERROR_FILE``,
which the notebook template exports as its ``error`` output parameter. Failures before papermill
reaches the engine (notebook missing or unreadable, parameters) are recorded by the papermill
step's script from papermill's stderr (``argo_papermill.translate.scripts``). Either variable unset
means that report is skipped; with both unset the engine is exactly papermill's default.
"""

from __future__ import annotations

import sys
from typing import Any

from papermill.engines import NBClientEngine

from argo_papermill.job.reporting import ProgressReporter


class ArgoProgressEngine(NBClientEngine):
    """papermill's ``NBClientEngine`` with the execution manager's cell hooks wrapped."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        reporter = ProgressReporter.from_env(len(nb_man.nb.cells))
        if not reporter.active:
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
        _attach(nb_man, reporter)
        try:
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
        except Exception as exc:  # a kernel that cannot start or dies, a cell timeout: no cell_exception
            index = reporter.current_index
            cell = nb_man.nb.cells[index] if index is not None and 0 <= index < len(nb_man.nb.cells) else {}
            reporter.write_error(index, cell.get("execution_count"), type(exc).__name__, _short(exc))
            raise


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _attach(nb_man: Any, reporter: ProgressReporter) -> None:
    """Wrap ``cell_start``/``cell_exception``/``cell_complete`` of this one execution manager."""
    cell_start, cell_exception, cell_complete = nb_man.cell_start, nb_man.cell_exception, nb_man.cell_complete
    outer = [sys.exception()]  # an exception being handled around the whole run is not the cell's

    def on_start(cell: Any, cell_index: int | None = None, **kwargs: Any) -> Any:
        outer[0] = sys.exception()
        reporter.cell_started(cell_index)
        return cell_start(cell, cell_index, **kwargs)

    def on_exception(cell: Any, cell_index: int | None = None, **kwargs: Any) -> Any:
        result = cell_exception(cell, cell_index, **kwargs)
        reporter.cell_failed(cell, cell_index, kwargs.get("exception"))
        return result

    def on_complete(cell: Any, cell_index: int | None = None, **kwargs: Any) -> Any:
        # papermill calls this from a ``finally``: an exception in flight (a cell timeout, a dead
        # kernel) means the cell did not complete, so it must not be counted as done
        in_flight = sys.exception()
        result = cell_complete(cell, cell_index, **kwargs)
        if in_flight is None or in_flight is outer[0]:
            reporter.cell_completed(cell_index)
        return result

    nb_man.cell_start, nb_man.cell_exception, nb_man.cell_complete = on_start, on_exception, on_complete
