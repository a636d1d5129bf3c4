"""The processor configuration is parsed strictly at construction: a typo is an error naming the key."""

from __future__ import annotations

import pytest

from argo_papermill import NotebookProcessor
from argo_papermill.config import DEFAULT_IMAGE, ProcessorConfig, load_processor_config
from argo_papermill.errors import ConfigurationError


@pytest.mark.parametrize(
    "processor_def,needle",
    [
        ({"defualt_image": "x"}, "unknown configuration key 'defualt_image'"),
        ({"s3": {"bucket_name": "b", "secret_name": "s", "mountpath": "/x"}}, "'s3.mountpath'"),
        ({"s3": {"bucket_name": "b"}}, "'s3.secret_name'"),
        ({"s3": {"bucket_name": "b", "secret_name": "s", "s3_url": "https://k:v@s3.example"}}, "credentials"),
        ({"checkout_git_repo": {"url": "https://user:pw@git.example/a.git"}}, "credentials"),
        ({"secrets": [{"name": "x", "access": "file"}]}, "'secrets.0.access'"),
        ({"secrets": [{"name": "Bad_Name"}]}, "'secrets.0.name'"),
        ({"extra_volumes": [{"name": "a", "emptyDirr": {}}]}, "unknown field 'emptyDirr'"),
        ({"extra_volume_mounts": [{"name": "a"}]}, "extra_volume_mounts"),
        ({"tolerations": [{"key": "k", "tolerationSeconds": "soon"}]}, "tolerations"),
        ({"allowed_images_regex": "("}, "allowed_images_regex"),
        ({"extra_resource_limits": {"cpu": "many"}}, "extra_resource_limits"),
        ({"max_memory": "big"}, "max_memory"),
        ({"output_directory": "relative/path"}, "output_directory"),
        ({"pod_gc_strategy": "Never"}, "pod_gc_strategy"),
        ({"default_timeout_seconds": 100, "max_timeout_seconds": 10}, "default_timeout_seconds"),
        ({"node_purpose_label_key": "not a key"}, "node_purpose_label_key"),
        ({"run_as_user": -1}, "run_as_user"),
        ({"log_output": "sometimes"}, "log_output"),
        ({"conda_store_groups": ["../x"]}, "conda_store_groups"),
        ({"output_directory": "/out/{{workflow.name}}"}, "output_directory: must not contain '{{'"),
        ({"extra_volumes": [{"name": "a", "hostPath": {"path": "/{{x}}"}}]}, "extra_volumes.0.hostPath.path"),
        ({"extra_resource_requests": ["cpu"]}, "extra_resource_requests"),
        ({"extra_pvcs": [{"claim_name": "c", "mount_path": "data"}]}, "'extra_pvcs.0.mount_path'"),
        ({"extra_pvcs": [{"claim_name": "c", "mount_path": "/d", "sub_path": "../x"}]}, "'extra_pvcs.0.sub_path'"),
        ({"s3": {"bucket_name": "b", "secret_name": "s", "mount_path": "/a/../b"}}, "'s3.mount_path'"),
        ({"max_parameters_bytes": 200 * 1024}, "max_parameters_bytes"),
        ({"max_cpu": True}, "max_cpu"),
        ({"default_node_purpose": "user pool"}, "'default_node_purpose': 'user pool' is not a valid Kubernetes label"),
        ({"s3": {"bucket_name": "b", "secret_name": "s", "resource_requests": {"cpu": "500m"}}},
         "resource_requests larger than resource_limits (cpu: request 500m > limit 200m)"),
        ({"extra_resource_requests": {"cpu": "4"}, "extra_resource_limits": {"cpu": "2"}},
         "extra_resource_requests larger than extra_resource_limits (cpu: request 4 > limit 2)"),
    ],
)
def test_bad_configuration_names_the_key(processor_def, needle) -> None:
    with pytest.raises(ConfigurationError) as info:
        NotebookProcessor({"name": "argo_papermill.NotebookProcessor", **processor_def})
    assert needle in str(info.value)


def test_defaults_are_sane() -> None:
    config = load_processor_config({"name": "argo_papermill.NotebookProcessor"})
    assert config.default_image == DEFAULT_IMAGE
    assert config.allowed_images_regex is None  # custom images refused
    assert config.s3 is None and config.checkout_git_repo is None
    assert config.progress_engine and not config.use_workflow_template
    assert config.max_timeout_seconds >= config.default_timeout_seconds


def test_predecessor_style_config_is_accepted() -> None:
    """The keys a pygeoapi-kubernetes-papermill configuration had (all required there) parse unchanged."""
    old = {
        "name": "pygeoapi_kubernetes_papermill.PapermillNotebookKubernetesProcessor",
        "default_image": "eurodatacube/jupyter-user:0.24.5",
        "allowed_images_regex": "eurodatacube/jupyter-user.*",
        "image_pull_secret": "",
        "home_volume_claim_name": "user-foo",
        "extra_pvcs": [],
        "extra_volumes": [],
        "extra_volume_mounts": [],
        "jupyter_base_url": "",
        "output_directory": "/home/jovyan/job-output",
        "secrets": [],
        "log_output": False,
        "default_node_purpose": "c1",
        "allowed_node_purposes_regex": "",
        "tolerations": [],
        "job_service_account": "pygeoapi-eoxhub-job",
        "allow_fargate": False,
        "auto_mount_secrets": False,
        "node_purpose_label_key": "hub.eox.at/node-purpose",
        "run_as_user": None,
        "run_as_group": None,
        "conda_store_groups": [],
        "extra_resource_limits": {},
        "extra_resource_requests": {},
        "checkout_git_repo": {"url": "git.example/a.git", "secret_name": "git", "enabled": False},
        "s3": None,
    }
    config = load_processor_config(old)
    assert config.image_pull_secret == "" or config.image_pull_secret is None
    assert config.checkout_git_repo is None  # enabled: false
    assert config.allowed_node_purposes_regex is None


def test_git_url_without_scheme_gets_https() -> None:
    config = load_processor_config({"checkout_git_repo": {"url": "git.example/a.git"}})
    assert config.checkout_git_repo.url == "https://git.example/a.git"


def test_max_timeout_alone_lowers_the_default() -> None:
    assert load_processor_config({"max_timeout_seconds": 60}).default_timeout_seconds == 60


def test_constructor_does_no_io(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    NotebookProcessor({"home_volume_claim_name": "x", "output_directory": str(tmp_path / "o")})
    assert list(tmp_path.iterdir()) == []


def test_every_key_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    from argo_papermill.config import GitRepoConfig, S3Config

    for key in ProcessorConfig.model_fields:
        assert f"`{key}`" in doc, key
    for key in S3Config.model_fields:
        assert f"`s3.{key}`" in doc, key
    for key in GitRepoConfig.model_fields:
        assert key in doc.split("`checkout_git_repo` |")[1].split("\n")[0], key


def test_check_notebook_processors_finds_a_typo_among_pygeoapi_resources() -> None:
    """What the manager runs at pygeoapi's start-up: every NotebookProcessor block, others untouched."""
    from argo_papermill.processor import check_notebook_processors

    processes = {
        "hello-world": {"type": "process", "processor": {"name": "HelloWorld", "anything": 1}},
        "execute-notebook": {"type": "process", "processor": {"name": "argo_papermill.NotebookProcessor"}},
        "gpu-notebook": {"type": "process", "processor": {"name": "argo_papermill.NotebookProcessor",
                                                          "max_cpus": "8"}},
    }
    with pytest.raises(ConfigurationError) as info:
        check_notebook_processors(processes)
    assert "resources.gpu-notebook.processor" in str(info.value) and "'max_cpus'" in str(info.value)
    del processes["gpu-notebook"]
    check_notebook_processors(processes)
