"""Every generated manifest validates against Argo's full CRD (strict), lints clean, and
round-trips through hera's models unchanged; the in-pod contract's shape is asserted."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
import yaml
from hera.workflows import Workflow
from hera.workflows import models as m

from argo_papermill import NotebookProcessor
from argo_papermill.config import ProcessorConfig
from argo_papermill.contract import (
    ANNOTATION_CREATED,
    ANNOTATION_DESCRIPTION,
    ANNOTATION_PARAMETERS,
    ANNOTATION_RESULT_NOTEBOOK,
    ANNOTATION_RESULTS_DIRECTORY,
    ANNOTATION_TITLE,
    ENV_ERROR_FILE,
    ERROR_RECORD_PATH,
    LABEL_JOB_ID,
    LABEL_MANAGED_BY,
    LABEL_PROCESS_ID,
    LABEL_VERSION,
    PAPERMILL_ENGINE,
    RESULT_NOTEBOOK_COPY,
)
from argo_papermill.templates import template_manifest
from argo_papermill.translate.scripts import GIT_SCRIPT, PAPERMILL_SCRIPT, S3_SCRIPT
from lint_workflow import crd_errors, lint

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)

# every configuration key of the processor, set to a non-default value
FULL_CONFIG: dict = {
    "name": "argo_papermill.NotebookProcessor",
    "allow_internal_requests": True,
    "default_image": "registry.example/jupyter-user:1.2",
    "allowed_images_regex": r"registry\.example/.*",
    "image_pull_secret": "regcred",
    "s3": {
        "bucket_name": "user-bucket",
        "secret_name": "s3-credentials",
        "s3_url": "https://s3.example:9000",
        "mount_path": "/home/jovyan/s3",
        "resource_limits": {"cpu": "1", "memory": "1Gi"},
        "resource_requests": {"cpu": "100m"},
        "image": "registry.example/s3fs:1",
        "path_style": True,
        "mount_timeout_seconds": 120,
    },
    "output_directory": "/home/jovyan/out",
    "results_in_output_dir": False,
    "home_volume_claim_name": "user-home",
    "extra_pvcs": [{"claim_name": "shared-data", "mount_path": "/data", "sub_path": "team"}],
    "extra_volumes": [{"name": "scratch", "emptyDir": {"medium": "Memory"}}],
    "extra_volume_mounts": [{"name": "scratch", "mountPath": "/scratch"}],
    "secrets": [{"name": "api-token", "access": "env"}, {"name": "certs", "access": "mount"}, {"name": "plain"}],
    "auto_mount_secrets": True,  # (not with use_workflow_template: full_t turns it off)
    "checkout_git_repo": {"url": "git.example/algo.git", "secret_name": "git-credentials", "image": "alpine/git:2"},
    "conda_store_groups": ["analysts", "ml"],
    "conda_store_claim_name": "conda-share",
    "jupyter_base_url": "https://hub.example",
    "log_output": False,
    "progress_engine": False,
    "node_purpose_label_key": "example.org/node-purpose",
    "default_node_purpose": "user",
    "allowed_node_purposes_regex": "user|userg[0-9]",
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "job_service_account": "pygeoapi-job",
    "allow_fargate": True,
    "run_as_user": 1000,
    "run_as_group": 100,
    "extra_resource_limits": {"nvidia.com/gpu": "1"},
    "extra_resource_requests": {"ephemeral-storage": "1Gi"},
    "default_resource_requests": {"cpu": "100m", "memory": "512Mi"},
    "default_resource_limits": {"cpu": "2", "memory": "8Gi"},
    "executor_service_account": "argo-executor",
    "max_cpu": "8",
    "max_memory": "32Gi",
    "max_parameters_bytes": 64 * 1024,
    "default_timeout_seconds": 3600,
    "max_timeout_seconds": 86400,
    "workflow_ttl_seconds": 604800,
    "pod_gc_strategy": "OnPodCompletion",
    "result_artifact": True,
    "use_workflow_template": False,
    "workflow_template_name": "papermill-notebook",
}

# every input, set
FULL_INPUTS: dict = {
    "notebook": "algo/run.ipynb",
    "parameters": base64.b64encode(b"a: 1\nsecret_key: hunter2\n").decode(),
    "parameters_json": {"x": 3, "name": "world", "nested": {"password": "pw"}},
    "kernel": "python3",
    "image": "registry.example/custom:2",
    "output_filename": "out.ipynb",
    "output_dirname": "batch",
    "cpu_requests": "500m",
    "cpu_limit": "2",
    "mem_requests": "1Gi",
    "mem_limit": "4Gi",
    "result_data_directory": "results/{job_name}",
    "git_revision": "v1.2",
    "node_purpose": "userg1",
    "run_on_fargate": False,
    "timeout": 600,
}

FARGATE_INPUTS = {"notebook": "/home/jovyan/nb.ipynb", "run_on_fargate": True, "timeout": 60}


def _variants() -> list[tuple[str, dict, dict]]:
    # template mode refuses auto_mount_secrets (issue 10, point 6: a parameter naming Secrets would let any
    # submitter of the template read any Secret of the namespace)
    full_t = {**FULL_CONFIG, "use_workflow_template": True, "auto_mount_secrets": False}
    s3_only = {"s3": {"bucket_name": "b", "secret_name": "s"}}
    git_only = {"checkout_git_repo": {"url": "https://git.example/a.git"}}
    return [
        ("default-minimal", {}, {"notebook": "hello.ipynb"}),
        ("default-template", {"use_workflow_template": True}, {"notebook": "hello.ipynb", "cpu_limit": "1"}),
        ("full-inline", FULL_CONFIG, FULL_INPUTS),
        ("full-template", full_t, FULL_INPUTS),
        ("full-inline-fargate", FULL_CONFIG, FARGATE_INPUTS),
        ("full-template-fargate", full_t, FARGATE_INPUTS),
        ("s3-only", s3_only, {"notebook": "s3/nb.ipynb", "parameters_json": {}}),
        ("git-only", git_only, {"notebook": "git/algorithm/nb.ipynb", "git_revision": "main"}),
        ("git-template", {**git_only, "use_workflow_template": True}, {"notebook": "a.ipynb"}),
        ("no-ttl-no-gc", {"workflow_ttl_seconds": None, "pod_gc_strategy": None, "default_timeout_seconds": None,
                          "max_timeout_seconds": None}, {"notebook": "a.ipynb"}),
    ]


VARIANTS = _variants()


def manifest_for(config: dict, inputs: dict, job_id: str = "0b1f2c3d-4e5f-11ef-9a8b-0242ac120002") -> dict:
    return NotebookProcessor(config).workflow_manifest(job_id, inputs, now=NOW, extra_env_secrets=("auto-creds",))


def test_full_config_sets_every_key() -> None:
    assert set(FULL_CONFIG) == set(ProcessorConfig.model_fields)
    parsed = ProcessorConfig.model_validate(FULL_CONFIG)
    defaults = ProcessorConfig()
    for key in ProcessorConfig.model_fields:
        if key not in ("use_workflow_template", "workflow_template_name"):
            assert getattr(parsed, key) != getattr(defaults, key), key


def test_full_inputs_set_every_input() -> None:
    from argo_papermill.inputs import NotebookInputs

    assert set(FULL_INPUTS) == set(NotebookInputs.model_fields)


@pytest.mark.parametrize("name,config,inputs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_manifest_valid_against_strict_crd(argo_crd_validator, name, config, inputs) -> None:
    assert crd_errors(argo_crd_validator, manifest_for(config, inputs)) == []
    assert crd_errors(argo_crd_validator, template_manifest(NotebookProcessor(config).config)) == []


@pytest.mark.parametrize("name,config,inputs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_manifest_lints_clean_and_round_trips(name, config, inputs) -> None:
    from hera.workflows import WorkflowTemplate

    from argo_papermill.templates import dump_yaml

    manifest = manifest_for(config, inputs)
    template = template_manifest(NotebookProcessor(config).config)
    assert lint(manifest, template) == []
    assert lint(template) == []
    # hera round trip, both through the wrapper and the generated model, and through our YAML
    assert Workflow.from_dict(manifest).to_dict() == manifest
    model = m.Workflow.model_validate(manifest)
    assert model.model_dump(by_alias=True, exclude_none=True, mode="json") == manifest
    assert yaml.safe_load(dump_yaml(manifest)) == manifest
    assert WorkflowTemplate.from_dict(template).to_dict() == template
    tmodel = m.WorkflowTemplate.model_validate(template)
    assert tmodel.model_dump(by_alias=True, exclude_none=True, mode="json") == template
    assert "namespace" not in manifest["metadata"]


def test_crd_validator_rejects_unknown_fields(argo_crd_validator) -> None:
    manifest = manifest_for({}, {"notebook": "a.ipynb"})
    manifest["spec"]["templates"][0]["containerSet"]["containers"][0]["imagee"] = "typo"
    assert any("imagee" in e for e in crd_errors(argo_crd_validator, manifest))
    manifest = manifest_for({}, {"notebook": "a.ipynb"})
    manifest["spec"]["templates"][0]["containerSet"]["containers"][0]["resources"] = {"limits": {"cpu": "{{x}}"}}
    assert crd_errors(argo_crd_validator, manifest)


def test_lint_catches_semantic_errors() -> None:
    manifest = manifest_for({}, {"notebook": "a.ipynb"})
    containers = manifest["spec"]["templates"][0]["containerSet"]["containers"]
    broken = json.loads(json.dumps(manifest))
    broken["spec"]["templates"][0]["containerSet"]["containers"] = [c for c in containers if c["name"] != "main"]
    assert any("main" in p for p in lint(broken))
    broken = json.loads(json.dumps(manifest))
    del broken["spec"]["templates"][0]["containerSet"]["containers"][0]["command"]
    assert any("command" in p for p in lint(broken))
    broken = json.loads(json.dumps(manifest))
    broken["spec"]["arguments"]["parameters"] = broken["spec"]["arguments"]["parameters"][1:]
    assert any("undeclared" in p for p in lint(broken))
    broken = json.loads(json.dumps(manifest))
    broken["spec"]["templates"][0]["containerSet"]["containers"][0]["name"] = "wait"
    assert any("reserved" in p for p in lint(broken))


def _containers(manifest: dict) -> dict[str, dict]:
    return {c["name"]: c for c in manifest["spec"]["templates"][0]["containerSet"]["containers"]}


def test_default_manifest_follows_the_contract() -> None:
    manifest = manifest_for({}, {"notebook": "nb/hello.ipynb", "kernel": "python3"}, job_id="j1")
    meta = manifest["metadata"]
    assert manifest["apiVersion"] == "argoproj.io/v1alpha1" and manifest["kind"] == "Workflow"
    assert meta["name"] == "pygeoapi-job-j1"
    assert meta["labels"][LABEL_MANAGED_BY] == "argo-papermill"
    assert meta["labels"][LABEL_JOB_ID] == "j1" and meta["labels"][LABEL_PROCESS_ID] == "execute-notebook"
    assert meta["labels"][LABEL_VERSION]
    ann = meta["annotations"]
    results = "/home/jovyan/job-output/2026-03-04/20260304-050607-890123-hello-j1"
    assert ann[ANNOTATION_RESULTS_DIRECTORY] == results
    assert ann[ANNOTATION_RESULT_NOTEBOOK] == results + "/hello_result.ipynb"
    assert ann[ANNOTATION_CREATED] == "2026-03-04T05:06:07.890123Z"
    assert "hello.ipynb" in ann[ANNOTATION_TITLE] and "j1" in ann[ANNOTATION_DESCRIPTION]
    assert json.loads(ann[ANNOTATION_PARAMETERS]) == {"notebook": "nb/hello.ipynb", "kernel": "python3"}
    spec = manifest["spec"]
    assert spec["entrypoint"] == "notebook"
    assert spec["activeDeadlineSeconds"] == 86400
    assert spec["ttlStrategy"] == {"secondsAfterCompletion": 8640000}
    assert spec["podGC"] == {"strategy": "OnPodSuccess"}
    template = spec["templates"][0]
    assert list(_containers(manifest)) == ["papermill", "main"]
    assert template["containerSet"]["volumeMounts"] == [{"mountPath": "/workspace", "name": "workspace"}]
    assert {"name": "workspace", "emptyDir": {}} in template["volumes"]
    assert template["outputs"] == {
        "parameters": [{"name": "error", "valueFrom": {"default": "", "path": ERROR_RECORD_PATH}}]
    }
    papermill = _containers(manifest)["papermill"]
    assert papermill["command"] == ["sh", "-c", PAPERMILL_SCRIPT]
    assert PAPERMILL_ENGINE in papermill["args"]
    env = {e["name"]: e.get("value") for e in papermill["env"]}
    assert env[ENV_ERROR_FILE] == ERROR_RECORD_PATH
    assert env["HOME"] == "/home/jovyan" and env["JOB_NAME"] == "{{workflow.name}}"
    assert {"JUPYTER_IMAGE", "RESULTS_DIRECTORY"} <= set(env)
    assert papermill["workingDir"] == "/home/jovyan"
    # main depends on no step (issue 10, point 4): it used to depend on papermill, which made a failed
    # papermill turn main into an Error node (exit 64) that Argo named in the Pod's and Workflow's message
    assert "dependencies" not in _containers(manifest)["main"]
    args = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    assert args["notebook"] == "/home/jovyan/nb/hello.ipynb" and args["cwd"] == "/home/jovyan/nb"
    assert args["kernel"] == "python3" and args["parameters"] == ""


def test_no_progress_engine_means_no_engine_and_no_error_file() -> None:
    manifest = manifest_for({"progress_engine": False}, {"notebook": "a.ipynb"})
    papermill = _containers(manifest)["papermill"]
    assert PAPERMILL_ENGINE not in papermill["args"]
    assert ENV_ERROR_FILE not in {e["name"] for e in papermill["env"]}
    assert PAPERMILL_SCRIPT == papermill["command"][2]


def test_full_inline_manifest_maps_every_key() -> None:
    manifest = manifest_for(FULL_CONFIG, FULL_INPUTS, job_id="j2")
    spec = manifest["spec"]
    template = spec["templates"][0]
    containers = _containers(manifest)
    assert list(containers) == ["git-checkout", "s3-mount", "papermill", "main"]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["ttlStrategy"] == {"secondsAfterCompletion": 604800}
    assert spec["podGC"] == {"strategy": "OnPodCompletion"}
    assert template["serviceAccountName"] == "pygeoapi-job"
    assert template["securityContext"] == {"runAsGroup": 100, "runAsUser": 1000}
    assert template["tolerations"] == FULL_CONFIG["tolerations"]
    term = template["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "example.org/node-purpose", "operator": "In", "values": ["userg1"]}
    ]
    assert template["outputs"]["artifacts"] == [
        {"archive": {"none": {}}, "name": "result-notebook", "optional": True, "path": RESULT_NOTEBOOK_COPY},
        {"archive": {"none": {}}, "name": "result-html", "optional": True, "path": "/workspace/outputs/result.html"},
    ]
    vols = {v["name"]: v for v in template["volumes"]}
    assert vols["home"] == {"name": "home", "persistentVolumeClaim": {"claimName": "user-home"}}
    assert vols["extra-0"]["persistentVolumeClaim"] == {"claimName": "shared-data"}
    assert vols["scratch"] == {"name": "scratch", "emptyDir": {"medium": "Memory"}}
    assert vols["secret-0"]["secret"] == {"secretName": "certs"} and vols["secret-1"]["secret"] == {"secretName": "plain"}
    assert vols["conda-store"]["persistentVolumeClaim"] == {"claimName": "conda-share", "readOnly": True}
    assert {"git", "s3", "workspace"} <= set(vols)

    papermill = containers["papermill"]
    assert papermill["dependencies"] == ["git-checkout"]
    assert papermill["image"] == "{{workflow.parameters.image}}"
    args = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    assert args["image"] == "registry.example/custom:2"
    assert args["git-revision"] == "v1.2"
    assert args["output-notebook"] == "/home/jovyan/out/2026-03-04/batch/out.ipynb"
    assert args["results-directory"] == "/home/jovyan/out/2026-03-04/batch/20260304-050607-890123-run-j2"
    assert args["result-data-directory"] == "/home/jovyan/results/pygeoapi-job-j2"
    assert json.loads(base64.b64decode(args["parameters"])) == FULL_INPUTS["parameters_json"]
    assert papermill["resources"] == {
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
    }
    assert papermill["envFrom"] == [{"secretRef": {"name": "api-token"}}, {"secretRef": {"name": "auto-creds"}}]
    mounts = {vm["mountPath"]: vm for vm in papermill["volumeMounts"]}
    assert mounts["/home/jovyan"]["name"] == "home"
    assert mounts["/home/jovyan/git"]["name"] == "git"
    assert mounts["/home/jovyan/s3"] == {"mountPath": "/home/jovyan/s3", "mountPropagation": "HostToContainer",
                                         "name": "s3"}
    assert mounts["/data"] == {"mountPath": "/data", "name": "extra-0", "subPath": "team"}
    assert mounts["/scratch"]["name"] == "scratch"
    assert mounts["/secret/certs"]["readOnly"] is True
    assert mounts["/home/conda/ml"] == {"mountPath": "/home/conda/ml", "name": "conda-store", "readOnly": True,
                                        "subPath": "ml"}
    env = {e["name"]: e.get("value") for e in papermill["env"]}
    assert env["CONDA_ENVS_PATH"] == "/home/conda/analysts/envs:/home/conda/ml/envs"
    assert ENV_ERROR_FILE not in env  # progress_engine: false
    assert papermill["args"][6:9] == ["false", "", "120"]  # log_output off, no engine, s3 wait

    git = containers["git-checkout"]
    assert git["command"] == ["sh", "-c", GIT_SCRIPT]
    assert git["args"] == ["git-checkout", "https://git.example/algo.git", "{{workflow.parameters.git-revision}}"]
    assert git["image"] == "alpine/git:2"
    genv = {e["name"]: e for e in git["env"]}
    assert genv["GIT_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"key": "password", "name": "git-credentials"}}

    s3 = containers["s3-mount"]
    assert s3["command"] == ["sh", "-c", S3_SCRIPT]
    assert s3["args"][:3] == ["s3-mount", "user-bucket", "/home/jovyan/s3"]
    assert "url=https://s3.example:9000" in s3["args"][3] and "use_path_request_style" in s3["args"][3]
    # privileged root, and every field a controller's mainContainer default could merge in set explicitly
    # (issue 10, point 2: runAsNonRoot, allowPrivilegeEscalation: false and a read-only root would break it)
    assert s3["securityContext"] == {"privileged": True, "runAsGroup": 0, "runAsUser": 0, "runAsNonRoot": False,
                                     "allowPrivilegeEscalation": True, "readOnlyRootFilesystem": False}
    assert s3["volumeMounts"] == [{"mountPath": "/home/jovyan/s3", "mountPropagation": "Bidirectional", "name": "s3"}]
    assert s3["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "32Mi"}}
    senv = {e["name"]: e for e in s3["env"]}
    assert senv["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"key": "password", "name": "s3-credentials"}

    masked = json.loads(manifest["metadata"]["annotations"][ANNOTATION_PARAMETERS])
    assert masked["parameters"] == {"a": 1, "secret_key": "*"}
    assert masked["parameters_json"]["nested"] == {"password": "*"}


def test_fargate_drops_affinity_and_labels_the_pod() -> None:
    manifest = manifest_for(FULL_CONFIG, FARGATE_INPUTS)
    template = manifest["spec"]["templates"][0]
    assert "affinity" not in template
    assert template["metadata"]["labels"] == {"runtime": "fargate"}  # (annotations: test_translate_hardening)


def test_template_mode_is_a_small_reference() -> None:
    # issue 10, point 6: the template holds the structure of every pod field and only scalars travel as
    # arguments (the pod-spec-patch parameter, a whole podSpecPatch from the submitter, is gone); auto-mounted
    # Secrets are refused in template mode (full_t), so no envFrom travels either
    config = {**FULL_CONFIG, "use_workflow_template": True, "auto_mount_secrets": False}
    manifest = manifest_for(config, FULL_INPUTS, job_id="j3")
    spec = manifest["spec"]
    # archiveLogs (result_artifact): one of the fields Strict templateReferencing allows beside the reference
    assert set(spec) == {"arguments", "workflowTemplateRef", "activeDeadlineSeconds", "ttlStrategy", "podGC",
                         "archiveLogs"}
    assert spec["workflowTemplateRef"] == {"name": "papermill-notebook"}
    args = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    assert "pod-spec-patch" not in args
    # 500m / 2 CPUs, 1Gi / 4Gi as millicores and bytes
    assert (args["cpu-request-millicores"], args["cpu-limit-millicores"]) == ("500", "2000")
    assert (args["memory-request-bytes"], args["memory-limit-bytes"]) == (str(2**30), str(4 * 2**30))
    assert (args["node-purpose"], args["node-purpose-operator"]) == ("userg1", "In")
    assert args["runtime"] == ""
    fargate = manifest_for(config, FARGATE_INPUTS)
    fargs = {p["name"]: p["value"] for p in fargate["spec"]["arguments"]["parameters"]}
    assert fargs["runtime"] == "fargate"
    assert (fargs["node-purpose"], fargs["node-purpose-operator"]) == ("", "NotIn")  # no purpose: no constraint
    # the template carries the parameterised pod fields
    template = template_manifest(NotebookProcessor(config).config)
    tmpl = template["spec"]["templates"][0]
    patch = json.loads(tmpl["podSpecPatch"])
    assert patch == {"containers": [{"name": "papermill", "resources": {
        "requests": {"cpu": "{{=asInt(workflow.parameters['cpu-request-millicores'])}}m",
                     "memory": "{{=asInt(workflow.parameters['memory-request-bytes'])}}"},
        "limits": {"cpu": "{{=asInt(workflow.parameters['cpu-limit-millicores'])}}m",
                   "memory": "{{=asInt(workflow.parameters['memory-limit-bytes'])}}"}}}]}
    term = tmpl["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"] == [{
        "key": "example.org/node-purpose", "operator": "{{workflow.parameters.node-purpose-operator}}",
        "values": ["{{workflow.parameters.node-purpose}}"]}]
    assert tmpl["metadata"]["labels"] == {"runtime": "{{workflow.parameters.runtime}}"}
    declared = {p["name"]: p for p in template["spec"]["arguments"]["parameters"]}
    assert declared["runtime"]["enum"] == ["", "fargate"]
    assert declared["node-purpose-operator"]["enum"] == ["In", "NotIn"]
    assert (declared["node-purpose"]["value"], declared["node-purpose-operator"]["value"]) == ("user", "In")
    assert declared["cpu-limit-millicores"]["value"] == "2000"  # default_resource_limits.cpu
    inline = manifest_for({**FULL_CONFIG, "auto_mount_secrets": False}, FULL_INPUTS, job_id="j3")
    # same containers and scripts in both modes
    assert [c["command"] for c in tmpl["containerSet"]["containers"]] == [
        c["command"] for c in inline["spec"]["templates"][0]["containerSet"]["containers"]
    ]
    assert manifest["metadata"] == inline["metadata"]


def test_auto_mount_secrets_only_when_configured() -> None:
    manifest = manifest_for({"secrets": [{"name": "x", "access": "env"}]}, {"notebook": "a.ipynb"})
    assert _containers(manifest)["papermill"]["envFrom"] == [{"secretRef": {"name": "x"}}]


def test_results_in_output_dir_default_puts_notebook_in_job_folder() -> None:
    manifest = manifest_for({}, {"notebook": "/data/x.ipynb", "output_filename": "r.ipynb", "output_dirname": "d"},
                            job_id="j4")
    ann = manifest["metadata"]["annotations"]
    assert ann[ANNOTATION_RESULT_NOTEBOOK] == ann[ANNOTATION_RESULTS_DIRECTORY] + "/r.ipynb"
    assert ann[ANNOTATION_RESULTS_DIRECTORY].startswith("/home/jovyan/job-output/2026-03-04/d/")
    assert ann[ANNOTATION_RESULTS_DIRECTORY].endswith("-x-j4")


def test_processor_metadata_and_execute() -> None:
    from pygeoapi.process.base import ProcessorExecuteError

    processor = NotebookProcessor({"name": "argo_papermill.NotebookProcessor"})
    meta = processor.metadata
    assert meta["id"] == "execute-notebook"
    assert set(meta["jobControlOptions"]) == {"async-execute", "sync-execute"}
    assert all(i["description"] for i in meta["inputs"].values())
    assert meta["inputs"]["notebook"]["minOccurs"] == 1
    from argo_papermill.inputs import NotebookInputs

    assert list(meta["inputs"]) == list(NotebookInputs.model_fields)  # one described schema per input
    assert meta["example"]["inputs"]["notebook"]
    with pytest.raises(ProcessorExecuteError, match="ArgoManager"):
        processor.execute({"notebook": "a.ipynb"})


def test_bad_job_id_is_refused() -> None:
    with pytest.raises(ValueError, match="job id"):
        manifest_for({}, {"notebook": "a.ipynb"}, job_id="Bad_Id")


def test_auto_mount_secret_names_follow_the_predecessor_rule() -> None:
    from argo_papermill.processor import auto_mount_secret_names

    secrets = [
        {"metadata": {"name": "eurodatacube-user-default"}},
        {"metadata": {"name": "mine", "labels": {"owner": "edc-my-credentials"}}},
        {"metadata": {"name": "eurodatacube-other"}},
        {"metadata": {"name": "unrelated", "labels": {"owner": "someone"}}},
    ]
    assert auto_mount_secret_names(secrets) == ("eurodatacube-user-default", "mine")
    names = auto_mount_secret_names(secrets)
    off = NotebookProcessor({}).workflow_manifest("j", {"notebook": "a.ipynb"}, extra_env_secrets=names)
    assert "envFrom" not in _containers(off)["papermill"]  # auto_mount_secrets is off


@pytest.mark.parametrize("name,config,inputs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_embedded_engine_accepts_every_manifest(name, config, inputs) -> None:
    """The local engine refuses what it does not implement; it must implement all we generate."""
    validate = pytest.importorskip("argo_papermill.engine.validate")
    validate.check_workflow(manifest_for(config, inputs))
    validate.check_template_spec(template_manifest(NotebookProcessor(config).config)["spec"], "template")
