"""WorkflowTemplates: rendered by the processor's builders, checked in, version-checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fakes.fixtures import home, kube  # noqa: F401 - fixtures

from argo_papermill._version import __version__
from argo_papermill.cli import main
from argo_papermill.config import load_processor_config
from argo_papermill.templates import (
    TEMPLATES_DIR,
    TemplateMismatchError,
    check_installed,
    render_templates,
    template_manifest,
)
from lint_workflow import crd_errors, lint


def test_checked_in_templates_are_current() -> None:
    result = CliRunner().invoke(main, ["templates", "render", "--check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_check_fails_on_stale_or_missing_files(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["templates", "render", "--check", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1 and "papermill-notebook.yaml" in result.output
    assert runner.invoke(main, ["templates", "render", "--output-dir", str(tmp_path)]).exit_code == 0
    assert runner.invoke(main, ["templates", "render", "--check", "--output-dir", str(tmp_path)]).exit_code == 0
    path = tmp_path / "papermill-notebook.yaml"
    path.write_text(path.read_text().replace("papermill", "papermil", 1))
    result = runner.invoke(main, ["templates", "render", "--check", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1 and "stale" in result.output


def test_render_with_a_pygeoapi_config(tmp_path: Path) -> None:
    config = tmp_path / "pygeoapi.yml"
    config.write_text(yaml.safe_dump({"resources": {"nb": {"type": "process", "processor": {
        "name": "argo_papermill.NotebookProcessor", "checkout_git_repo": {"url": "https://g.example/a.git"},
        "workflow_template_name": "my-notebook"}}}}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["templates", "render", "--config", str(config), "--process", "nb",
                                       "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((out / "my-notebook.yaml").read_text())
    assert [c["name"] for c in doc["spec"]["templates"][0]["containerSet"]["containers"]] == [
        "git-checkout", "papermill", "main"]


def test_checked_in_template_is_valid(argo_crd_validator) -> None:
    doc = yaml.safe_load((TEMPLATES_DIR / "papermill-notebook.yaml").read_text())
    assert doc["kind"] == "WorkflowTemplate"
    assert doc["metadata"]["labels"]["app.kubernetes.io/version"] == __version__
    assert crd_errors(argo_crd_validator, doc) == []
    assert lint(doc) == []
    assert doc == template_manifest(load_processor_config({}))


def test_template_submittable_with_notebook_only() -> None:
    """An operator (Argo UI / CLI) needs to give only 'notebook': every other parameter has a default."""
    doc = template_manifest(load_processor_config({}))
    required = [p["name"] for p in doc["spec"]["arguments"]["parameters"] if "value" not in p]
    assert required == ["notebook"]


def test_installed_template_of_this_version_and_config_is_accepted() -> None:
    config = load_processor_config({"use_workflow_template": True})
    installed = template_manifest(config)
    installed["metadata"]["resourceVersion"] = "42"  # as read back from the cluster
    check_installed(installed, config)


@pytest.mark.parametrize("version", ["0.0.1", None])
def test_template_of_another_version_is_refused(version) -> None:
    config = load_processor_config({"use_workflow_template": True})
    installed = template_manifest(config)
    if version is None:
        del installed["metadata"]["labels"]["app.kubernetes.io/version"]
    else:
        installed["metadata"]["labels"]["app.kubernetes.io/version"] = version
    with pytest.raises(TemplateMismatchError) as info:
        check_installed(installed, config)
    assert __version__ in info.value.message and "templates render" in info.value.message
    assert info.value.http_status_code == 503


def test_template_of_another_configuration_is_refused() -> None:
    installed = template_manifest(load_processor_config({}))
    config = load_processor_config({"s3": {"bucket_name": "b", "secret_name": "s"}})
    with pytest.raises(TemplateMismatchError, match="another processor configuration"):
        check_installed(installed, config)
    from argo_papermill import NotebookProcessor

    with pytest.raises(TemplateMismatchError):
        NotebookProcessor({"s3": {"bucket_name": "b", "secret_name": "s"}}).verify_installed_template(installed)
    with pytest.raises(TemplateMismatchError, match="not the configured"):
        check_installed(installed, load_processor_config({"workflow_template_name": "other"}))


def test_rendering_is_deterministic() -> None:
    config = load_processor_config({})
    assert render_templates(config) == render_templates(config)


def test_manager_refuses_an_installed_template_of_another_version(kube, home) -> None:
    """End to end through the manager and a Kubernetes API (a fake over HTTP): with use_workflow_template,
    an installed template of another version is a 503 that says what to do, and no Workflow is created;
    once the matching template is installed, the execution is submitted."""
    from fakes.fixtures import NAMESPACE, manager_def  # noqa: F811
    from pygeoapi.util import RequestedProcessExecutionMode

    from argo_papermill.manager import ArgoManager

    config = load_processor_config({"use_workflow_template": True})
    old = template_manifest(config)
    old["metadata"]["labels"]["app.kubernetes.io/version"] = "0.0.1"
    kube.put({**old, "metadata": {**old["metadata"], "namespace": NAMESPACE}}, plural="workflowtemplates")
    processes = {"execute-notebook": {"type": "process", "processor": {
        "name": "argo_papermill.NotebookProcessor", "use_workflow_template": True}}}
    manager = ArgoManager(manager_def("kubernetes", kube.url, home, processes=processes))
    async_mode = RequestedProcessExecutionMode.respond_async
    try:
        with pytest.raises(TemplateMismatchError) as info:
            manager.execute_process("execute-notebook", {"notebook": "a.ipynb"}, execution_mode=async_mode)
        assert info.value.http_status_code == 503
        assert "'0.0.1'" in info.value.message and __version__ in info.value.message
        assert "argo-papermill templates render" in info.value.message
        assert kube.workflows(NAMESPACE) == []
        current = template_manifest(config)
        kube.put({**current, "metadata": {**current["metadata"], "namespace": NAMESPACE}}, plural="workflowtemplates")
        manager.execute_process("execute-notebook", {"notebook": "a.ipynb"}, execution_mode=async_mode)
        (created,) = kube.workflows(NAMESPACE)
        assert created["spec"]["workflowTemplateRef"] == {"name": "papermill-notebook"}
    finally:
        manager.backend.close()
