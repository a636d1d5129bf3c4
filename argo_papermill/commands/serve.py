"""``argo-papermill serve``: pygeoapi with the local backend under gunicorn, in one command.

With no ``--config`` it writes a pygeoapi configuration for ``backend: local`` (the job home
``/home/jovyan`` is the current folder, results under ``job-output/`` in it) into the data
folder, generates the OpenAPI document there (``pygeoapi openapi generate``), and replaces
itself with gunicorn serving ``argo_papermill.app:APP`` (one worker with threads; the
engine starts lazily inside it). It prints the URL and a curl example first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import yaml

from argo_papermill.contract import JOB_HOME

EXAMPLE_NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebooks" / "hello.ipynb"
HOME_CLAIM = "home"


def build_config(host: str, port: int | str, data_dir: str, home: str) -> dict:
    """The pygeoapi configuration ``serve`` uses when none is given (also examples/configs/local.config.yml)."""
    return {
        "server": {
            "bind": {"host": host, "port": port},
            "url": f"http://{host}:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            "languages": ["en-US"],
            "cors": True,
            "pretty_print": True,
            "limits": {"default_items": 10, "max_items": 50},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "&copy; OpenStreetMap contributors"},
            "manager": {
                "name": "argo_papermill.ArgoManager",
                "backend": "local",
                "connection": "local",  # required by pygeoapi's schema; the local engine keeps its own store
                "output_dir": f"{data_dir}/pygeoapi",
                "local": {"data_dir": data_dir, "home": home, "max_parallel": 4},
                "results": {"path_map": {JOB_HOME: home}},
                "sync_poll_interval": 0.1,
            },
        },
        # ERROR, not WARNING: pygeoapi's l10n.translate tries every key of every flat dict in the process
        # description (JSON schemas, links) as a locale and warns "unknown locale 'type'" dozens of times
        # per GET /processes, and pygeoapi's config has one level for all loggers. Errors (ours too) show.
        # ``serve`` itself gives gunicorn LOGGING, which also shows warnings except pygeoapi's.
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": "argo-papermill (local)"},
                "description": {"en": "Jupyter notebooks as OGC API - Processes jobs, run by the embedded engine"},
                "keywords": {"en": ["notebook", "papermill"]},
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": "https://github.com/argo-papermill",
            },
            "license": {"name": "CC-BY 4.0 license", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "argo-papermill", "url": "https://github.com/argo-papermill"},
            "contact": {"name": "argo-papermill"},
        },
        "resources": {
            "execute-notebook": {
                "type": "process",
                "processor": {
                    "name": "argo_papermill.NotebookProcessor",
                    "home_volume_claim_name": HOME_CLAIM,  # the engine binds the home folder at /home/jovyan
                    "output_directory": f"{JOB_HOME}/job-output",
                    "log_output": True,
                    "progress_engine": True,
                },
            },
        },
    }


# gunicorn's logging (merged into gunicorn.glogging.CONFIG_DEFAULTS) for a generated configuration. It
# configures the root logger before pygeoapi does, so pygeoapi's ``logging.level`` (one level for every
# logger, set through basicConfig) does not apply: warnings show, ours included, except pygeoapi's, whose
# l10n warns "unknown locale 'type'" for every key of every flat dict of a process description (JSON
# schemas, links) on each GET /processes. gunicorn writes one access line per request when given a logging
# configuration; the access logger stays quiet, as without one.
LOGGING = {
    "root": {"level": "WARNING", "handlers": ["console"]},
    "loggers": {
        "pygeoapi": {"level": "ERROR"},
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False,
                           "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False, "qualname": "gunicorn.access"},
    },
}


def curl_example(url: str, notebook: str) -> str:
    """A ready-to-paste request that runs ``notebook``, and the calls that follow it."""
    body = json.dumps({"inputs": {"notebook": notebook, "parameters_json": {"name": "argo-papermill"}}})
    return (
        f"curl -si -X POST {url}/processes/execute-notebook/execution \\\n"
        f"  -H 'Content-Type: application/json' -H 'Prefer: respond-async' \\\n"
        f"  -d {shlex.quote(body)}\n"
        f"# then, with <id> from the Location header:\n"
        f"#   curl -s {url}/jobs/<id>            (status, progress)\n"
        f"#   curl -s {url}/jobs/<id>/results    (the result)\n"
        f"#   curl -s {url}/jobs/<id>/logs       (the containers' output)"
    )


def notebook_hint(home: Path, url: str) -> str:
    """What to paste to run a first notebook: the bundled hello notebook when this is a source checkout."""
    if EXAMPLE_NOTEBOOK.exists():
        try:
            shown = str(EXAMPLE_NOTEBOOK.relative_to(home))  # relative paths start at the job home
        except ValueError:
            shown = str(EXAMPLE_NOTEBOOK)  # the host filesystem is visible to jobs: an absolute path works
        return f"Run the hello notebook:\n{curl_example(url, shown)}"
    return (f"No example notebooks beside this installation (they are in examples/notebooks/ of a source "
            f"checkout).\nPut a notebook into {home} (the job home, /home/jovyan in the job) and run it by its "
            f"path relative to that folder, or by an absolute path:\n{curl_example(url, 'my-notebook.ipynb')}")


def _openapi(config_file: Path, openapi_file: Path) -> None:
    """Generate the OpenAPI document unless it is newer for the same configuration."""
    stamp = openapi_file.with_suffix(".sha256")
    digest = hashlib.sha256(config_file.read_bytes()).hexdigest()
    if openapi_file.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    pygeoapi = Path(sys.executable).parent / "pygeoapi"
    cmd = [str(pygeoapi) if pygeoapi.exists() else "pygeoapi", "openapi", "generate", str(config_file),
           "--output-file", str(openapi_file)]
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config_file), "PYGEOAPI_OPENAPI": str(openapi_file)}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise click.ClickException(f"pygeoapi openapi generate failed:\n{result.stderr[-2000:]}")
    stamp.write_text(digest)


@click.command("serve")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="pygeoapi configuration; default: generated for the local backend")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--data", "data_dir", default=".argo-papermill", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="state of the local engine and generated files")
@click.option("--threads", default=16, show_default=True, type=int, help="gunicorn threads of the one worker")
def serve(config_file: Path | None, host: str, port: int, data_dir: Path, threads: int) -> None:
    """Serve pygeoapi with argo-papermill (local backend unless --config says otherwise)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    logging_args: list[str] = []
    if config_file is None:
        home = Path.cwd().resolve()
        config_file = data_dir / "pygeoapi-config.yml"
        config_file.write_text(yaml.safe_dump(build_config(host, port, str(data_dir), str(home)), sort_keys=False))
        log_file = data_dir / "logging.json"
        log_file.write_text(json.dumps(LOGGING, indent=1))
        logging_args = ["--log-config-json", str(log_file)]
    config_file = config_file.resolve()
    _check_sandbox(config_file)
    openapi_file = data_dir / "pygeoapi-openapi.yml"
    _openapi(config_file, openapi_file)
    url = f"http://{host}:{port}"
    click.echo(f"argo-papermill serving {url} (config {config_file}, data {data_dir})")
    click.echo(notebook_hint(Path.cwd().resolve(), url))
    sys.stdout.flush()
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config_file), "PYGEOAPI_OPENAPI": str(openapi_file)}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    argv = [str(gunicorn) if gunicorn.exists() else "gunicorn", "--workers", "1", "--worker-class", "gthread",
            "--threads", str(threads), "--bind", f"{host}:{port}", "--timeout", "120", "--graceful-timeout", "5",
            *logging_args, *_no_control_socket(), "argo_papermill.app:APP"]
    os.execvpe(argv[0], argv, env)


def _check_sandbox(config_file: Path) -> None:
    """Refuse to serve the local backend where no pod could get its own mount namespace (every job would
    fail): one line naming what to install, or how to run without a sandbox on purpose."""
    try:
        manager = ((yaml.safe_load(config_file.read_text()) or {}).get("server") or {}).get("manager") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return  # pygeoapi reports an unreadable configuration itself
    if not isinstance(manager, dict) or (manager.get("backend") or "local") != "local":
        return
    local = manager.get("local") if isinstance(manager.get("local"), dict) else {}
    sandbox = local.get("sandbox", "auto")
    if sandbox == "none":
        return
    from argo_papermill.engine.config import NO_SANDBOX_HELP, EngineConfig

    try:
        kind, _ = EngineConfig(data_dir=Path(local.get("data_dir") or ".argo-papermill"), sandbox=sandbox).sandbox_tool
    except RuntimeError as err:
        raise click.ClickException(f"cannot serve the local backend: {err}") from None
    if kind is None:
        raise click.ClickException(
            f"cannot serve the local backend: {NO_SANDBOX_HELP}; or set server.manager.local.sandbox: none "
            "(then only volumes whose mount path is the host path work, and jobs can read the store)")


def _no_control_socket() -> list[str]:
    """gunicorn >= 25 opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for every server of
    the user (a second ``serve`` takes it over); ``serve`` needs no control interface, so it opens none."""
    try:
        from gunicorn.config import Config

        return ["--no-control-socket"] if "control_socket_disable" in Config().settings else []
    except ImportError:
        return []
