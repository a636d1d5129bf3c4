"""The embedded engine behind ``backend: local``: runs Workflow manifests on this machine.

See ``docs/local.md``. Entry points: ``Engine.acquire`` (service.py), ``check_workflow``
(validate.py) and the SQLite ``Store`` shared with ``argo_papermill.backends.local``.
"""

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.validate import UnsupportedField, check_workflow

__all__ = ["EngineConfig", "UnsupportedField", "check_workflow"]
