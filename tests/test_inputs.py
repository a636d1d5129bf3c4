"""Every class of bad request is a 400 (InvalidInputError) naming the field and the rule."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fakes.fixtures import home, kube  # noqa: F401 - fixtures
from pygeoapi.process.base import ProcessorExecuteError

from argo_papermill import NotebookProcessor
from argo_papermill.config import load_processor_config
from argo_papermill.errors import InvalidInputError
from argo_papermill.inputs import validate_inputs

CONFIG = {
    "allowed_images_regex": r"registry\.example/[a-z]+:[0-9.]+",
    "allowed_node_purposes_regex": "user|userg[12]",
    "checkout_git_repo": {"url": "https://git.example/a.git"},
    "allow_fargate": False,
    "max_cpu": "4",
    "max_memory": "16Gi",
    "max_timeout_seconds": 3600,
    "max_parameters_bytes": 1024,
}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


BAD = [
    # (field, inputs, part of the rule)
    ("notebook", {}, "required"),
    ("notebook", {"notebook": 3}, "string"),
    ("notebook", {"notebook": ""}, "at least 1"),
    ("notebook", {"notebook": "-x.ipynb"}, "start with '-'"),
    ("notebook", {"notebook": "a\nb.ipynb"}, "control characters"),
    ("notebook", {"notebook": "{{workflow.name}}.ipynb"}, "Argo expression"),
    ("notebook", {"notebook": "/"}, "notebook file"),
    ("bogus", {"notebook": "a.ipynb", "bogus": 1}, "unknown input"),
    ("kernel", {"notebook": "a.ipynb", "kernel": "-k"}, "start with '-'"),
    ("kernel", {"notebook": "a.ipynb", "kernel": "py thon"}, "letters, digits"),
    ("kernel", {"notebook": "a.ipynb", "kernel": 3}, "string"),
    ("git_revision", {"notebook": "a.ipynb", "git_revision": "--upload-pack=x"}, "start with '-'"),
    ("git_revision", {"notebook": "a.ipynb", "git_revision": "a..b"}, "'..'"),
    ("parameters", {"notebook": "a.ipynb", "parameters": "not base64!"}, "base64"),
    ("parameters", {"notebook": "a.ipynb", "parameters": b64("a: [1,")}, "not YAML"),
    ("parameters", {"notebook": "a.ipynb", "parameters": b64("- 1\n- 2")}, "mapping"),
    ("parameters", {"notebook": "a.ipynb", "parameters": base64.b64encode(b"\xff\xfe").decode()}, "not YAML"),
    ("parameters_json", {"notebook": "a.ipynb", "parameters_json": [1]}, "dictionary"),
    ("image", {"notebook": "a.ipynb", "image": "evil/miner:1"}, "allowed_images_regex"),
    ("cpu_limit", {"notebook": "a.ipynb", "cpu_limit": "lots"}, "quantity"),
    ("cpu_limit", {"notebook": "a.ipynb", "cpu_limit": 2}, "string"),
    ("cpu_requests", {"notebook": "a.ipynb", "cpu_requests": "-1"}, "quantity"),
    ("mem_limit", {"notebook": "a.ipynb", "mem_limit": "4G B"}, "quantity"),
    ("mem_requests", {"notebook": "a.ipynb", "mem_requests": "1Gx"}, "quantity"),
    ("cpu_limit", {"notebook": "a.ipynb", "cpu_limit": "5"}, "maximum 4"),
    ("mem_limit", {"notebook": "a.ipynb", "mem_limit": "17Gi"}, "maximum 16Gi"),
    ("cpu_requests", {"notebook": "a.ipynb", "cpu_requests": "2", "cpu_limit": "1"}, "larger than the limit"),
    ("mem_requests", {"notebook": "a.ipynb", "mem_requests": "2Gi", "mem_limit": "1Gi"}, "larger than the limit"),
    ("timeout", {"notebook": "a.ipynb", "timeout": 7200}, "maximum 3600"),
    ("timeout", {"notebook": "a.ipynb", "timeout": 0}, "greater than or equal to 1"),
    ("timeout", {"notebook": "a.ipynb", "timeout": "60"}, "integer"),
    ("node_purpose", {"notebook": "a.ipynb", "node_purpose": "admin"}, "allowed_node_purposes_regex"),
    ("node_purpose", {"notebook": "a.ipynb", "node_purpose": "user g"}, "label value"),
    ("run_on_fargate", {"notebook": "a.ipynb", "run_on_fargate": True}, "allow_fargate"),
    ("run_on_fargate", {"notebook": "a.ipynb", "run_on_fargate": "yes"}, "boolean"),
    ("output_filename", {"notebook": "a.ipynb", "output_filename": "../../etc/x.ipynb"}, "path traversal"),
    ("output_filename", {"notebook": "a.ipynb", "output_filename": ".."}, "path traversal"),
    ("output_dirname", {"notebook": "a.ipynb", "output_dirname": "a/b"}, "path traversal"),
    ("result_data_directory", {"notebook": "a.ipynb", "result_data_directory": "../x"}, "path traversal"),
    ("result_data_directory", {"notebook": "a.ipynb", "result_data_directory": "/etc"}, "relative"),
    ("result_data_directory", {"notebook": "a.ipynb", "result_data_directory": "{user}"}, "placeholder"),
    ("parameters_json", {"notebook": "a.ipynb", "parameters_json": {"x": "y" * 1000}}, "max_parameters_bytes"),
    ("parameters", {"notebook": "a.ipynb", "parameters": b64("x: " + "y" * 1000)}, "max_parameters_bytes"),
    ("kernel", {"notebook": "a.ipynb", "kernel": "k" * 256}, "at most 255"),
    ("notebook", {"notebook": "--help"}, "start with '-'"),
    ("git_revision", {"notebook": "a.ipynb", "git_revision": "-b"}, "start with '-'"),
    ("image", {"notebook": "a.ipynb", "image": "-registry.example/a:1"}, "start with '-'"),
    ("output_filename", {"notebook": "a.ipynb", "output_filename": "a\\..\\b"}, "path traversal"),
]


@pytest.mark.parametrize("field,inputs,rule", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_a_400_naming_field_and_rule(field, inputs, rule) -> None:
    processor = NotebookProcessor(CONFIG)
    with pytest.raises(InvalidInputError) as info:
        processor.workflow_manifest("j1", inputs)
    err = info.value
    assert isinstance(err, ProcessorExecuteError)
    assert err.http_status_code == 400 and err.ogc_exception_code == "InvalidParameterValue"
    assert err.field == field
    assert repr(field) in err.message and rule in err.message, err.message


def test_inputs_must_be_an_object() -> None:
    with pytest.raises(InvalidInputError, match="JSON object"):
        validate_inputs(["notebook"], load_processor_config({}))


def test_custom_image_refused_without_regex_but_default_image_accepted() -> None:
    config = load_processor_config({})
    with pytest.raises(InvalidInputError, match="custom images are not allowed"):
        validate_inputs({"notebook": "a.ipynb", "image": "x:1"}, config)
    assert validate_inputs({"notebook": "a.ipynb", "image": config.default_image}, config).image == config.default_image


def test_node_purpose_refused_without_regex() -> None:
    with pytest.raises(InvalidInputError, match="node_purpose"):
        validate_inputs({"notebook": "a.ipynb", "node_purpose": "user"}, load_processor_config({}))


def test_git_revision_needs_a_repository() -> None:
    with pytest.raises(InvalidInputError, match="git_revision"):
        validate_inputs({"notebook": "a.ipynb", "git_revision": "main"}, load_processor_config({}))


def test_fargate_and_node_purpose_exclude_each_other() -> None:
    config = load_processor_config({**CONFIG, "allow_fargate": True})
    with pytest.raises(InvalidInputError, match="node_purpose"):
        validate_inputs({"notebook": "a.ipynb", "run_on_fargate": True, "node_purpose": "user"}, config)
    req = validate_inputs({"notebook": "a.ipynb", "run_on_fargate": True}, config)
    assert req.node_purpose is None and req.run_on_fargate


def test_good_request_is_resolved() -> None:
    config = load_processor_config({**CONFIG, "default_node_purpose": "user", "extra_resource_limits": {"cpu": "3"}})
    req = validate_inputs(
        {
            "notebook": "dir/../nb.ipynb",
            "parameters": b64("a: 1"),
            "kernel": "conda-env-edc-py",
            "image": "registry.example/jupyter:1.0",
            "cpu_limit": "2",
            "mem_requests": "512Mi",
            "timeout": 10,
            "git_revision": "0a1b2c",
        },
        config,
    )
    assert req.notebook == "/home/jovyan/nb.ipynb"
    assert base64.b64decode(req.parameters_b64) == b"a: 1"
    assert req.node_purpose == "user"  # the default
    assert req.resources == {"requests": {"memory": "512Mi"}, "limits": {"cpu": "3"}}  # config wins
    assert req.timeout_seconds == 10 and req.git_revision == "0a1b2c"


def test_parameters_json_overrides_parameters() -> None:
    req = validate_inputs(
        {"notebook": "a.ipynb", "parameters": b64("a: 1"), "parameters_json": {"b": 2}}, load_processor_config({})
    )
    assert base64.b64decode(req.parameters_b64) == b'{"b": 2}'


def test_default_timeout_applies() -> None:
    config = load_processor_config({"default_timeout_seconds": 99})
    assert validate_inputs({"notebook": "a.ipynb"}, config).timeout_seconds == 99


def test_nothing_is_created_on_bad_input(tmp_path, monkeypatch) -> None:
    """Validation happens before any path is touched: the output folder stays empty."""
    monkeypatch.chdir(tmp_path)
    processor = NotebookProcessor({"output_directory": str(tmp_path / "out")})
    with pytest.raises(InvalidInputError):
        processor.workflow_manifest("j1", {"notebook": "a.ipynb", "cpu_limit": "x"})
    processor.workflow_manifest("j1", {"notebook": "a.ipynb"})
    assert list(tmp_path.iterdir()) == []  # and a good request does not touch the disk either


def test_parameters_up_to_the_configured_limit_are_accepted() -> None:
    config = load_processor_config({"max_parameters_bytes": 1024})
    fits = {"x": "y" * 759}  # 768 bytes of JSON, exactly 1024 once base64-encoded
    assert len(validate_inputs({"notebook": "a.ipynb", "parameters_json": fits}, config).parameters_b64) == 1024
    with pytest.raises(InvalidInputError, match="1028 bytes once base64-encoded, more than the configured maximum"):
        validate_inputs({"notebook": "a.ipynb", "parameters_json": {"x": "y" * 760}}, config)


def test_no_bad_request_creates_anything(kube, home: Path) -> None:
    """Through the manager and a Kubernetes API (a fake over HTTP): every class of bad request is a 400
    naming the field, and the API sees no write at all (no Workflow, no patch), the results folder
    stays empty."""
    from fakes.fixtures import NAMESPACE, manager_def  # noqa: F811
    from pygeoapi.util import RequestedProcessExecutionMode

    from argo_papermill.manager import ArgoManager

    processes = {"execute-notebook": {"type": "process",
                                      "processor": {"name": "argo_papermill.NotebookProcessor", **CONFIG}}}
    manager = ArgoManager(manager_def("kubernetes", kube.url, home, processes=processes))
    try:
        for field, inputs, rule in BAD:
            with pytest.raises(ProcessorExecuteError) as info:
                manager.execute_process("execute-notebook", inputs,
                                        execution_mode=RequestedProcessExecutionMode.respond_async)
            assert info.value.http_status_code == 400, (field, info.value.message)
            assert repr(field) in info.value.message and rule in info.value.message
    finally:
        manager.backend.close()
    writes = [r for r in kube.requests if r[0] not in ("GET",)]
    assert writes == [] and kube.workflows(NAMESPACE) == []
    assert list(home.iterdir()) == []


def test_request_above_a_configured_limit_names_the_field_the_user_set() -> None:
    """The configured extras win; a request that would end above the final limit is a 400, not a pod
    Kubernetes refuses later."""
    limited = load_processor_config({"extra_resource_limits": {"cpu": "2"}})
    with pytest.raises(InvalidInputError) as info:
        validate_inputs({"notebook": "a.ipynb", "cpu_requests": "3"}, limited)
    assert info.value.field == "cpu_requests"
    assert "the request 3 is larger than the limit 2 (configured extra_resource_limits)" in info.value.message
    requested = load_processor_config({"extra_resource_requests": {"memory": "2Gi"}})
    with pytest.raises(InvalidInputError) as info:
        validate_inputs({"notebook": "a.ipynb", "mem_limit": "1Gi"}, requested)
    assert info.value.field == "mem_limit"
    ok = validate_inputs({"notebook": "a.ipynb", "cpu_requests": "1"}, limited)
    assert ok.resources == {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}
