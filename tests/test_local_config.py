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


def test_serve_logging_shows_our_warnings_but_not_pygeoapis():
    """gunicorn merges LOGGING into its defaults; pygeoapi's basicConfig then changes nothing."""
    import json
    import subprocess
    import sys

    from argo_papermill.commands.serve import LOGGING

    code = (
        "import json, logging, logging.config, sys\n"
        "from gunicorn.glogging import CONFIG_DEFAULTS\n"
        "config = {**CONFIG_DEFAULTS, **json.loads(sys.argv[1])}\n"
        "logging.config.dictConfig(config)\n"
        "logging.basicConfig(level=logging.ERROR)  # what pygeoapi's setup_logger does with the config's level\n"
        "print(json.dumps([logging.getLogger(name).isEnabledFor(level) for name, level in [\n"
        "    ('argo_papermill.manager', logging.WARNING), ('pygeoapi.l10n', logging.WARNING),\n"
        "    ('pygeoapi.api', logging.ERROR), ('gunicorn.error', logging.INFO), ('gunicorn.access', logging.INFO)]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(LOGGING)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [True, False, True, True, False]
