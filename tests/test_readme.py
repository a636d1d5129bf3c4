"""README.md is the user's first contract: its tables and commands must match the code and CI."""

from pathlib import Path

from argo_papermill.config import GitRepoConfig, ProcessorConfig, S3Config
from argo_papermill.manager_config import ManagerConfig
from argo_papermill.processor import NotebookProcessor

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return README.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_test_command_is_what_ci_runs() -> None:
    quickstart = _section("Quickstart")
    test_command = ".venv/bin/python -m pytest -q"
    assert test_command in quickstart
    ci_commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
    assert ci_commands[-1] == test_command


def test_every_processor_key_is_in_the_readme_table() -> None:
    table = _section("Processor configuration")
    for key in ProcessorConfig.model_fields:
        assert f"| `{key}` |" in table, key
    for key in S3Config.model_fields:
        assert f"| `s3.{key}` |" in table, key
    git_row = table.split("| `checkout_git_repo` |", 1)[1].split("\n", 1)[0]
    for key in GitRepoConfig.model_fields:
        assert key in git_row, key


def test_every_process_input_is_in_the_readme_table() -> None:
    table = _section("Process inputs (`execute-notebook`)")
    for name in NotebookProcessor({"name": "NotebookProcessor"}).metadata["inputs"]:
        assert f"`{name}`" in table, name


def test_every_manager_key_is_in_the_readme_table() -> None:
    table = _section("Manager configuration (`server.manager`)")
    for name, field in ManagerConfig.model_fields.items():
        key = field.alias or name
        if key in {"connection", "output_dir", "processes"}:  # pygeoapi's own keys
            continue
        assert f"`{key}`" in table, key
