"""examples/configs/local.config.yml is what ``serve`` generates, and every part of it loads."""

from __future__ import annotations

from pathlib import Path

import yaml

from argo_papermill.backends.local import LocalBackend
from argo_papermill.commands.serve import build_config, curl_example
from argo_papermill.config import load_processor_config
from argo_papermill.manager_config import load_manager_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "configs" / "local.config.yml"


def test_example_is_the_generated_config_with_placeholders():
    placeholders = build_config("${ARGO_PAPERMILL_HOST:-127.0.0.1}", "${ARGO_PAPERMILL_PORT:-5000}",
                                "${ARGO_PAPERMILL_DATA:-.argo-papermill}", "${ARGO_PAPERMILL_HOME:-.}")
    assert yaml.safe_load(EXAMPLE.read_text()) == placeholders


def test_generated_config_loads_in_manager_backend_and_processor(tmp_path):
    config = build_config("127.0.0.1", 5000, str(tmp_path / "data"), str(tmp_path))
    manager = load_manager_config(config["server"]["manager"])
    assert manager.backend == "local"
    backend = LocalBackend(**manager.local)
    assert not (tmp_path / "data").exists()  # constructing it does nothing
    assert backend.config.home == tmp_path
    processor = load_processor_config(config["resources"]["execute-notebook"]["processor"])
    assert processor.home_volume_claim_name == "home"


def test_curl_example_is_a_valid_request():
    text = curl_example("http://127.0.0.1:5000", "examples/notebooks/hello.ipynb")
    assert "Prefer: respond-async" in text and '"notebook": "examples/notebooks/hello.ipynb"' in text
