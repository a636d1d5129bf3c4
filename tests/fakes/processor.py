"""A pygeoapi processor with ``workflow_manifest`` whose Workflows the fake controller runs.

It stands in for ``NotebookProcessor`` in the manager's tests, so those tests depend only on
the manager's interface: ``workflow_manifest(job_id, inputs) -> dict`` and
``errors.InvalidInputError`` for bad input. The manifest has the real shape (one
containerSet pod ``notebook``, labels and annotations from the contract).
"""

from __future__ import annotations

import json

from pygeoapi.process.base import BaseProcessor

from argo_papermill import contract
from argo_papermill.errors import InvalidInputError

SCENARIOS = ("json", "text", "file", "image", "many", "none", "fail", "escape-dotdot", "escape-abs",
             "escape-symlink", "hold", "reject", "html-display", "svg-display")
RESULTS_ROOT = "/home/jovyan/results"

PROCESS_METADATA = {
    "version": "0.1.0",
    "id": "scenario",
    "title": "Scenario notebook",
    "description": "Runs the scenario notebook of the manager tests",
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": ["test"],
    "inputs": {
        "scenario": {"title": "scenario", "description": "what the notebook does",
                     "schema": {"type": "string", "enum": list(SCENARIOS)}, "minOccurs": 1, "maxOccurs": 1},
        "x": {"title": "x", "description": "a number", "schema": {"type": "integer"}, "minOccurs": 0,
              "maxOccurs": 1},
    },
    "outputs": {"result": {"title": "result", "description": "the notebook's result",
                           "schema": {"type": "object", "contentMediaType": "application/json"}}},
    "example": {"inputs": {"scenario": "json", "x": 5}},
}


class ScenarioProcessor(BaseProcessor):
    def __init__(self, processor_def: dict):
        super().__init__(processor_def, PROCESS_METADATA)

    def execute(self, data, outputs=None):  # pragma: no cover - the manager never calls it
        raise NotImplementedError("runs as an Argo Workflow")

    def workflow_manifest(self, job_id: str, inputs: dict) -> dict:
        inputs = inputs or {}
        scenario = inputs.get("scenario")
        if scenario not in SCENARIOS:
            raise InvalidInputError(f"inputs.scenario: must be one of {', '.join(SCENARIOS)}", field="scenario")
        x = inputs.get("x", 5)
        if not isinstance(x, int) or isinstance(x, bool):
            raise InvalidInputError("inputs.x: must be an integer", field="x")
        return build_manifest(job_id, scenario, x, self.metadata["id"])


def build_manifest(job_id: str, scenario: str, x: int, process_id: str = "scenario") -> dict:
    name = f"{contract.WORKFLOW_NAME_PREFIX}{job_id}"
    results_dir = f"{RESULTS_ROOT}/{job_id}"
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "labels": {contract.LABEL_MANAGED_BY: contract.MANAGED_BY, contract.LABEL_PROCESS_ID: process_id,
                       contract.LABEL_JOB_ID: job_id},
            "annotations": {
                contract.ANNOTATION_TITLE: f"{process_id} {scenario}",
                contract.ANNOTATION_PARAMETERS: json.dumps({"scenario": scenario, "x": x}),
                contract.ANNOTATION_RESULT_NOTEBOOK: f"{results_dir}/result.ipynb",
                contract.ANNOTATION_RESULTS_DIRECTORY: results_dir,
            },
        },
        "spec": {
            "entrypoint": contract.TEMPLATE_NOTEBOOK,
            "arguments": {"parameters": [{"name": "scenario", "value": scenario}, {"name": "x", "value": str(x)}]},
            "templates": [{
                "name": contract.TEMPLATE_NOTEBOOK,
                "containerSet": {
                    "volumeMounts": [{"name": contract.WORKSPACE_VOLUME, "mountPath": contract.WORKSPACE_PATH}],
                    "containers": [
                        {"name": contract.CONTAINER_PAPERMILL, "image": "jupyter/base-notebook",
                         "command": ["sh", "-c", "papermill \"$0\" \"$1\" -p scenario \"$2\"", "nb.ipynb",
                                     f"{results_dir}/result.ipynb", "{{workflow.parameters.scenario}}"]},
                        {"name": contract.CONTAINER_MAIN, "image": "jupyter/base-notebook", "command": ["true"],
                         "dependencies": [contract.CONTAINER_PAPERMILL]},
                    ],
                },
                "volumes": [{"name": contract.WORKSPACE_VOLUME, "emptyDir": {}}],
            }],
        },
    }
    if scenario == "reject":
        manifest["spec"]["entrypoint"] = "does-not-exist"
        manifest["spec"]["templates"][0]["containerSet"]["containers"][0].pop("image")
    return manifest
