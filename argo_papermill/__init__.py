"""argo-papermill: OGC API - Processes executions of Jupyter notebooks as Argo Workflows.

The classes named in pygeoapi configurations are imported lazily, so that
``import argo_papermill`` (done by the in-pod progress engine, too) stays cheap.
"""

from argo_papermill._version import __version__

__all__ = ["ArgoManager", "NotebookProcessor", "__version__"]


def __getattr__(name: str):
    if name == "ArgoManager":
        from argo_papermill.manager import ArgoManager

        return ArgoManager
    if name == "NotebookProcessor":
        from argo_papermill.processor import NotebookProcessor

        return NotebookProcessor
    raise AttributeError(f"module 'argo_papermill' has no attribute {name!r}")
