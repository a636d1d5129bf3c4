"""A typo in a processor block stops pygeoapi at start-up, not with a 500 on the first request."""

import pytest

from argo_papermill import ArgoManager
from argo_papermill.errors import ConfigurationError


def _manager_def(processor: dict) -> dict:
    return {
        "name": "argo_papermill.ArgoManager",
        "backend": "local",
        "local": {"data_dir": "/nonexistent/never-created"},
        "processes": {
            "execute-notebook": {"type": "process", "processor": {"name": "argo_papermill.NotebookProcessor", **processor}},
            "hello-world": {"type": "process", "processor": {"name": "HelloWorld", "anything": 1}},
        },
    }


def test_processor_key_typo_fails_the_manager_constructor() -> None:
    with pytest.raises(ConfigurationError) as err:
        ArgoManager(_manager_def({"defualt_image": "x"}))
    assert "resources.execute-notebook.processor" in str(err.value)
    assert "defualt_image" in str(err.value)


def test_bad_processor_value_fails_the_manager_constructor() -> None:
    with pytest.raises(ConfigurationError) as err:
        ArgoManager(_manager_def({"max_timeout_seconds": "soon"}))
    assert "max_timeout_seconds" in str(err.value)


def test_valid_configuration_constructs_without_io(tmp_path) -> None:
    manager = ArgoManager(_manager_def({"default_image": "registry.example/job:1"}))
    assert manager.is_async and manager.supports_subscribing
