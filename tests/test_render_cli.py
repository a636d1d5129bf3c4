"""``argo-papermill render``: the manifest as YAML, or the validation error without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from argo_papermill.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "argo-papermill"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120)


def test_render_prints_the_workflow() -> None:
    result = CliRunner().invoke(main, ["render", "--inputs", '{"notebook": "a.ipynb"}', "--job-id", "j-1"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.output)
    assert doc["kind"] == "Workflow" and doc["metadata"]["name"] == "pygeoapi-job-j-1"


def test_render_accepts_a_whole_request_body() -> None:
    body = json.dumps({"inputs": {"notebook": "a.ipynb", "kernel": "python3"}})
    result = CliRunner().invoke(main, ["render", "--inputs", body, "--job-id", "j"])
    assert result.exit_code == 0
    assert '"kernel"' in yaml.safe_load(result.output)["metadata"]["annotations"]["pygeoapi.io/parameters"]


def test_render_with_pygeoapi_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MY_IMAGE", "registry.example/jupyter:9")
    config = tmp_path / "pygeoapi.yml"
    config.write_text(
        "resources:\n  execute-notebook:\n    type: process\n    processor:\n"
        "      name: argo_papermill.NotebookProcessor\n      default_image: ${MY_IMAGE}\n"
        "      use_workflow_template: true\n"
    )
    result = CliRunner().invoke(main, ["render", "--inputs", '{"notebook": "a.ipynb"}', "--config", str(config)])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.output)
    assert doc["spec"]["workflowTemplateRef"] == {"name": "papermill-notebook"}
    params = {p["name"]: p["value"] for p in doc["spec"]["arguments"]["parameters"]}
    assert params["image"] == "registry.example/jupyter:9"


def test_bad_input_names_field_exits_nonzero_without_traceback() -> None:
    proc = run("render", "--inputs", '{"notebook": "a.ipynb", "kernel": "-x"}')
    assert proc.returncode != 0
    assert "'kernel'" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""


def test_bad_json_bad_config_and_unknown_process(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["render", "--inputs", "{not json"])
    assert result.exit_code != 0 and "not valid JSON" in result.output
    config = tmp_path / "c.yml"
    config.write_text("resources:\n  execute-notebook:\n    type: process\n    processor:\n"
                      "      name: argo_papermill.NotebookProcessor\n      defualt_image: x\n"
                      "  hello:\n    type: process\n    processor:\n      name: HelloWorld\n")
    result = runner.invoke(main, ["render", "--inputs", '{"notebook": "a"}', "--config", str(config)])
    assert result.exit_code != 0 and "defualt_image" in result.output
    result = runner.invoke(main, ["render", "--inputs", '{"notebook": "a"}', "--config", str(config), "--process", "x"])
    assert result.exit_code != 0 and "'x'" in result.output
    result = runner.invoke(main, ["render", "--inputs", '{"notebook": "a"}', "--config", str(config), "--process",
                                  "hello"])
    assert result.exit_code != 0 and "HelloWorld" in result.output
    result = runner.invoke(main, ["render", "--inputs", '{"notebook": "a"}', "--job-id", "UPPER"])
    assert result.exit_code != 0 and "job id" in result.output
    assert not isinstance(result.exception, (ValueError, KeyError))


@pytest.mark.parametrize(
    "text,needle",
    [
        ("resources: [\n", "not valid YAML"),
        ("just a string\n", "not a pygeoapi configuration"),
        ("resources: [1, 2]\n", "no process resource 'execute-notebook'"),
        ("resources:\n  execute-notebook:\n    type: process\n    processor:\n"
         "      name: argo_papermill.NotebookProcessor\n      default_image: ${ARGO_PAPERMILL_UNSET_VAR}\n",
         "ARGO_PAPERMILL_UNSET_VAR"),
        ("resources:\n  execute-notebook:\n    type: process\n    processor:\n"
         "      name: argo_papermill.NotebookProcessor\n      tolerations: 5\n      max_cpu: [1]\n",
         "'tolerations': must be a valid list; configuration key 'max_cpu'"),
    ],
    ids=["yaml", "not-a-mapping", "resources-list", "unset-env", "bad-keys"],
)
def test_unusable_config_file_is_a_message_not_a_traceback(tmp_path: Path, monkeypatch, text: str, needle: str) -> None:
    monkeypatch.delenv("ARGO_PAPERMILL_UNSET_VAR", raising=False)
    config = tmp_path / "pygeoapi.yml"
    config.write_text(text)
    for args in (["render", "--inputs", '{"notebook": "a.ipynb"}'], ["templates", "render", "--check"]):
        result = CliRunner().invoke(main, [*args, "--config", str(config)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
        assert needle in result.output, result.output
