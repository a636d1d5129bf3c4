"""``argo-papermill templates render [--check]``: the WorkflowTemplates under workflow_templates/."""

from __future__ import annotations

from pathlib import Path

import click

from argo_papermill.commands.render import load_processor
from argo_papermill.translate.plan import PROCESS_ID


@click.group("templates")
def templates() -> None:
    """WorkflowTemplates rendered from the processor's builders."""


@templates.command("render")
@click.option("--check", is_flag=True, help="Fail (exit 1) if the files differ from a fresh rendering; write nothing.")
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="pygeoapi configuration; default: the processor's defaults (the checked-in templates).",
)
@click.option("--process", default=PROCESS_ID, show_default=True, help="Process id (resource name) in the config.")
@click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Folder of the YAML files (default: the repository's workflow_templates/).",
)
def render_command(check: bool, config_file: Path | None, process: str, output_dir: Path | None) -> None:
    """Render (or --check) the WorkflowTemplate YAML files."""
    from argo_papermill.templates import TEMPLATES_DIR, render_templates, stale_files

    directory = output_dir or TEMPLATES_DIR
    rendered = render_templates(load_processor(config_file, process).config)
    if check:
        stale = stale_files(directory, rendered)
        if stale:
            raise click.ClickException(
                f"stale WorkflowTemplates in {directory}: {', '.join(stale)}; run `argo-papermill templates render`"
            )
        click.echo(f"{len(rendered)} WorkflowTemplate(s) in {directory} are up to date")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (directory / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {directory / name}")


command = templates
