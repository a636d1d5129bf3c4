"""``NotebookProcessor``: the pygeoapi processor of ``execute-notebook``.

pygeoapi constructs it with the ``processor`` block of the resource (``NotebookProcessor(def)``);
the configuration is parsed strictly there and nothing else happens (no I/O). The manager
(``argo_papermill.ArgoManager``) calls ``workflow_manifest(job_id, inputs)`` and submits the result;
``execute`` itself cannot run a notebook and says so.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from argo_papermill._version import __version__
from argo_papermill.config import ProcessorConfig, load_processor_config
from argo_papermill.errors import ConfigurationError
from argo_papermill.inputs import validate_inputs
from argo_papermill.translate.plan import PROCESS_ID

_STR = {"type": "string"}


def _input(title: str, description: str, schema: dict, *, required: bool = False) -> dict:
    return {
        "title": title,
        "description": description,
        "schema": schema,
        "minOccurs": 1 if required else 0,
        "maxOccurs": 1,
    }


PROCESS_METADATA: dict[str, Any] = {
    "version": __version__,
    "id": PROCESS_ID,
    "title": {"en": "Execute a Jupyter notebook"},
    "description": {
        "en": "Runs a parameterised Jupyter notebook with papermill as an Argo Workflow. The result is the "
        "executed notebook's scrapbook scraps (a 'result-file' scrap returns that file); the executed "
        "notebook is written to the job's own result folder."
    },
    "jobControlOptions": ["async-execute", "sync-execute"],
    "outputTransmission": ["value"],
    "keywords": ["jupyter", "notebook", "papermill", "argo"],
    "links": [
        {
            "type": "text/html",
            "rel": "about",
            "title": "papermill",
            "href": "https://papermill.readthedocs.io/",
            "hreflang": "en-US",
        }
    ],
    "inputs": {
        "notebook": _input(
            "Notebook",
            "Path of the notebook in the job pod; relative paths start at /home/jovyan. Must not start with '-'.",
            {**_STR, "minLength": 1},
            required=True,
        ),
        "parameters": _input(
            "Parameters (base64 YAML)",
            "Notebook parameters as base64-encoded YAML mapping, injected into the cell tagged 'parameters'; "
            "at most 96 KiB (or the server's max_parameters_bytes).",
            {**_STR, "contentEncoding": "base64"},
        ),
        "parameters_json": _input(
            "Parameters (JSON)", "Notebook parameters as a JSON object; overrides 'parameters'; the same size limit.",
            {"type": "object"},
        ),
        "kernel": _input("Kernel", "Kernel name; default: the kernel saved in the notebook.", _STR),
        "image": _input("Image", "Container image; must match the server's allowed_images_regex.", _STR),
        "output_filename": _input("Output file name", "File name of the executed notebook (no '/').", _STR),
        "output_dirname": _input("Output folder name", "Folder under the dated output directory (no '/').", _STR),
        "cpu_requests": _input("CPU request", "Kubernetes quantity, e.g. '500m' or '2'.", _STR),
        "cpu_limit": _input("CPU limit", "Kubernetes quantity, e.g. '2'.", _STR),
        "mem_requests": _input("Memory request", "Kubernetes quantity, e.g. '1Gi'.", _STR),
        "mem_limit": _input("Memory limit", "Kubernetes quantity, e.g. '4Gi'.", _STR),
        "result_data_directory": _input(
            "Result data folder",
            "Folder under /home/jovyan created for result data (env RESULT_DATA_DIRECTORY); may hold {job_name}.",
            _STR,
        ),
        "git_revision": _input("Git revision", "Commit, tag or branch of the configured repository.", _STR),
        "node_purpose": _input("Node purpose", "Node pool label value; must match allowed_node_purposes_regex.", _STR),
        "run_on_fargate": _input("Run on Fargate", "Run the job on AWS Fargate (if allowed).", {"type": "boolean"}),
        "timeout": _input(
            "Timeout", "Seconds until the job is stopped (at most the configured maximum).",
            {"type": "integer", "minimum": 1},
        ),
    },
    "outputs": {
        "result": {
            "title": "Result",
            "description": "The notebook's result: its scrapbook scraps as JSON, or the file or image a scrap names.",
            "schema": {"type": "object", "contentMediaType": "application/json"},
        }
    },
    "example": {
        "inputs": {
            "notebook": "notebooks/hello.ipynb",
            "parameters_json": {"name": "world", "x": 3},
            "kernel": "python3",
        }
    },
}


AUTO_SECRET_NAME_RE = re.compile(r"eurodatacube-.*default")
AUTO_SECRET_LABEL = ("owner", "edc-my-credentials")


def auto_mount_secret_names(secrets: Iterable[dict]) -> tuple[str, ...]:
    """Names of the Secrets ``auto_mount_secrets`` adds, from the namespace's Secret objects.

    The predecessor's rule: a name matching ``eurodatacube-.*default`` or the label
    ``owner=edc-my-credentials``. Pure: the manager lists the Secrets (metadata is enough).
    """
    names = []
    for secret in secrets:
        metadata = secret.get("metadata") or {}
        name = metadata.get("name") or ""
        labels = metadata.get("labels") or {}
        if AUTO_SECRET_NAME_RE.fullmatch(name) or labels.get(AUTO_SECRET_LABEL[0]) == AUTO_SECRET_LABEL[1]:
            names.append(name)
    return tuple(sorted(set(names)))


def check_notebook_processors(processes: dict) -> None:
    """Parse the ``processor`` block of every ``NotebookProcessor`` among pygeoapi's process resources.

    pygeoapi builds a processor only when a request needs it, so a configuration typo would surface
    as a 500 on the first request; the manager calls this from its constructor (pygeoapi's start-up)
    to make it a ``ConfigurationError`` there. ``processes`` is ``manager_def["processes"]``.
    """
    for process_id, resource in (processes or {}).items():
        processor = (resource or {}).get("processor") if isinstance(resource, dict) else None
        if isinstance(processor, dict) and str(processor.get("name", "")).rsplit(".", 1)[-1] == "NotebookProcessor":
            try:
                load_processor_config(processor)
            except ConfigurationError as err:
                raise ConfigurationError(f"resources.{process_id}.processor: {err}") from None


class NotebookProcessor(BaseProcessor):
    """The ``execute-notebook`` process: inputs -> one Argo Workflow (built by ``workflow_manifest``)."""

    def __init__(self, processor_def: dict):
        self.config: ProcessorConfig = load_processor_config(processor_def)
        super().__init__({"name": "NotebookProcessor", **(processor_def or {})}, PROCESS_METADATA)

    def workflow_manifest(
        self,
        job_id: str,
        inputs: dict,
        *,
        now: datetime | None = None,
        extra_env_secrets: tuple[str, ...] = (),
    ) -> dict:
        """Validate ``inputs`` and return the Workflow manifest of this execution (no namespace).

        InvalidInputError (400, names the field) on a bad request. ``extra_env_secrets`` are Secret
        names added as envFrom of the papermill step: the manager passes the namespace's matching
        Secrets when ``auto_mount_secrets`` is on (``auto_mount_secret_names`` selects them); ignored
        when it is off.
        """
        from argo_papermill.translate.notebook import inline_workflow, template_ref_workflow
        from argo_papermill.translate.plan import plan_job

        request = validate_inputs(inputs, self.config)
        plan = plan_job(self.config, request, job_id, now or datetime.now(timezone.utc))
        secrets = tuple(extra_env_secrets) if self.config.auto_mount_secrets else ()
        if self.config.use_workflow_template:
            workflow = template_ref_workflow(self.config, plan, secrets)
        else:
            workflow = inline_workflow(self.config, plan, secrets)
        return workflow.to_dict()

    def verify_installed_template(self, template: dict) -> None:
        """Refuse an installed WorkflowTemplate of another package version (see templates.check_installed)."""
        from argo_papermill.templates import check_installed

        check_installed(template, self.config)

    def execute(self, data: dict, outputs: dict | None = None):
        raise ProcessorExecuteError(
            user_msg="execute-notebook runs as an Argo Workflow: configure argo_papermill.ArgoManager as "
            "pygeoapi's process manager (server.manager.name) to execute it."
        )

    def __repr__(self) -> str:
        return f"<NotebookProcessor {self.name}>"
