"""``argo-papermill render``: print the Workflow an execution would submit, without a cluster."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import click

from argo_papermill.translate.plan import PROCESS_ID


def _load_pygeoapi_config(config_file: Path) -> dict:
    """The configuration as pygeoapi reads it at start-up (``${ENV}`` substituted); ClickException if unusable."""
    import yaml
    from pygeoapi.util import yaml_load

    try:
        with open(config_file, encoding="utf-8") as handle:
            config = yaml_load(handle) or {}
    except yaml.YAMLError as err:
        raise click.ClickException(f"{config_file}: not valid YAML: {err}") from None
    except OSError as err:  # also pygeoapi's "Could not find the 'X' environment variable"
        raise click.ClickException(f"{config_file}: {err}") from None
    if not isinstance(config, dict):
        raise click.ClickException(f"{config_file}: not a pygeoapi configuration (a mapping with 'resources')")
    return config


def processor_definition(config_file: Path | None, process: str) -> dict:
    """The ``resources.<process>.processor`` block of a pygeoapi configuration (``{}`` without a file)."""
    if config_file is None:
        return {"name": "argo_papermill.NotebookProcessor"}
    config = _load_pygeoapi_config(config_file)
    resources = config.get("resources") or {}
    resource = resources.get(process) if isinstance(resources, dict) else None
    if not isinstance(resource, dict) or resource.get("type") not in (None, "process"):
        raise click.ClickException(f"{config_file}: no process resource {process!r} under 'resources'")
    processor = resource.get("processor")
    if not isinstance(processor, dict):
        raise click.ClickException(f"{config_file}: resources.{process} has no 'processor' block")
    if str(processor.get("name", "")).rsplit(".", 1)[-1] != "NotebookProcessor":
        raise click.ClickException(
            f"{config_file}: resources.{process} uses processor {processor.get('name')!r}, "
            "not argo_papermill.NotebookProcessor"
        )
    return processor


def load_processor(config_file: Path | None, process: str):
    from argo_papermill.errors import ConfigurationError
    from argo_papermill.processor import NotebookProcessor

    try:
        return NotebookProcessor(processor_definition(config_file, process))
    except ConfigurationError as err:
        raise click.ClickException(str(err)) from None


@click.command("render")
@click.option("--inputs", "inputs_json", required=True, help="The execution request's inputs as a JSON object.")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="pygeoapi configuration file; the processor settings are read from resources.<process>.processor.",
)
@click.option("--process", default=PROCESS_ID, show_default=True, help="Process id (resource name) in the config.")
@click.option("--job-id", default=None, help="Job id (default: a new UUID).")
def render(inputs_json: str, config_file: Path | None, process: str, job_id: str | None) -> None:
    """Print the Argo Workflow manifest for an execution of PROCESS with INPUTS, as YAML."""
    from argo_papermill.errors import InvalidInputError
    from argo_papermill.templates import dump_yaml

    try:
        inputs = json.loads(inputs_json)
    except json.JSONDecodeError as err:
        raise click.ClickException(f"--inputs is not valid JSON: {err}") from None
    if isinstance(inputs, dict) and set(inputs) == {"inputs"} and isinstance(inputs["inputs"], dict):
        inputs = inputs["inputs"]  # a whole execute request body is fine too
    processor = load_processor(config_file, process)
    try:
        manifest = processor.workflow_manifest(job_id or str(uuid.uuid4()), inputs)
    except InvalidInputError as err:
        raise click.ClickException(err.message) from None
    except ValueError as err:  # a job id that cannot name a Workflow
        raise click.ClickException(str(err)) from None
    click.echo(dump_yaml(manifest), nl=False)


command = render
