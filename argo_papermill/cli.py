"""``argo-papermill``: the command line. Each sub-command lives in ``argo_papermill/commands/``."""

from __future__ import annotations

import importlib

import click

from argo_papermill._version import __version__

# sub-command name -> module in argo_papermill.commands exposing a click command named ``command``
COMMANDS = {
    "render": "render",
    "templates": "templates",
    "serve": "serve",
    "submit": "jobs",
    "jobs": "jobs",
    "logs": "jobs",
    "watch": "jobs",
    "status": "jobs",
    "results": "jobs",
    "notebook": "jobs",
    "dismiss": "jobs",
}


class LazyGroup(click.Group):
    """Imports a sub-command's module only when it runs, so ``--help`` and ``render`` stay fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        try:
            module = importlib.import_module(f"argo_papermill.commands.{module_name}")
        except ModuleNotFoundError as err:
            if err.name == f"argo_papermill.commands.{module_name}":
                return None  # not built yet
            raise
        return getattr(module, name.replace("-", "_"), None) or getattr(module, "command", None)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="argo-papermill")
def main() -> None:
    """Run parameterised Jupyter notebooks as OGC API - Processes jobs on Argo Workflows."""


if __name__ == "__main__":
    main()
