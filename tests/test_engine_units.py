"""Pure parts of the engine: ids, substitution, progress (Argo's algorithm, checked on Argo's fixtures)."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from argo_papermill.engine.dag import parse_depends
from argo_papermill.engine.ids import fnv32a, node_id, pod_name
from argo_papermill.engine.nodes import NodeTree, parse_progress
from argo_papermill.engine.substitute import SubstitutionError, substitute
from argo_papermill.engine.templates import join_spec
from conftest import shared_dir

FIXTURES = shared_dir() / "fixtures" / "argo-status"


def test_fnv32a_reference_vectors():
    assert fnv32a("") == 0x811C9DC5
    assert fnv32a("a") == 0xE40C292C
    assert fnv32a("foobar") == 0xBF9CF968


def test_pod_name_v2_as_argo():
    # fixture 01: node two-artgc-8tcvt[0].call-first (template first) -> pod two-artgc-8tcvt-first-802059674
    assert pod_name("two-artgc-8tcvt", "two-artgc-8tcvt[0].call-first", "first") == "two-artgc-8tcvt-first-802059674"
    assert pod_name("wf", "wf", "t") == "wf"


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_node_ids_are_stable_and_prefixed(name):
    assert node_id("wf", name) == node_id("wf", name)
    assert node_id("wf", name) == (name if name == "wf" else f"wf-{fnv32a(name)}")


def test_substitution_replaces_known_and_refuses_unknown_owned_references():
    scope = {"inputs.parameters.x": "1", "workflow.name": "w"}
    assert substitute({"a": ["{{inputs.parameters.x}}-{{ workflow.name }}"]}, scope) == {"a": ["1-w"]}
    assert substitute("{{ jinja }} stays", scope) == "{{ jinja }} stays"
    with pytest.raises(SubstitutionError, match="inputs.parameters.y"):
        substitute("{{inputs.parameters.y}}", scope)
    with pytest.raises(SubstitutionError, match="expression"):
        substitute("{{=1+1}}", scope)
    # values are inserted verbatim, never re-expanded
    assert substitute("{{inputs.parameters.x}}", {"inputs.parameters.x": "{{workflow.name}}"}) == "{{workflow.name}}"


def test_as_int_expressions_are_evaluated_as_argo_does():
    """The template's podSpecPatch reads papermill's resources with asInt (issue 10, point 6)."""
    scope = {"workflow.parameters.cpu-limit-millicores": "1500", "workflow.parameters.bad": '1"}]'}
    text = "{\"cpu\": \"{{=asInt(workflow.parameters['cpu-limit-millicores'])}}m\"}"
    assert substitute(text, scope) == '{"cpu": "1500m"}'
    with pytest.raises(SubstitutionError, match="no integer"):
        substitute("{{=asInt(workflow.parameters['bad'])}}", scope)
    with pytest.raises(SubstitutionError, match="failed to resolve"):
        substitute("{{=asInt(workflow.parameters['missing'])}}", scope)
    with pytest.raises(SubstitutionError, match="not supported"):
        substitute("{{=asInt(workflow.parameters['bad']) + 1}}", scope)


def test_depends_subset():
    assert parse_depends("A && B.Succeeded") == ["A", "B"]
    for bad in ("A || B", "!A", "A.Failed", "(A)"):
        with pytest.raises(ValueError):
            parse_depends(bad)


def test_progress_parsing_follows_argo_validity():
    assert parse_progress("3/4") == (3, 4)
    for bad in ("0/0", "5/4", "-1/2", "x", "", None, "1/"):
        assert parse_progress(bad) is None


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"Argo status fixtures not found at {FIXTURES} (../shared absent)")
@pytest.mark.parametrize("fixture", [
    "01-steps-succeeded-s3-output-artifacts-artgc.yaml", "10-dag-containerset-podinitializing-progress-2of4.yaml",
    "11-steps-error-phase-lifecycle-hook.yaml", "12-steps-workflowtemplateref-stored-spec.yaml",
    "16-pod-root-pending-progress-0of1.yaml", "19-dag-6-pods-succeeded-progress-6of6.yaml",
    "20-dag-retry-loop-output-params-succeeded.yaml", "25-pod-root-failed-onexit-steps-skipped.yaml",
    "26-dag-nested-suspend-nodes-failed-11of12.yaml", "27-dag-nested-16-pods-succeeded.yaml",
])
def test_progress_recomputation_matches_argo_fixtures(fixture):
    wf = yaml.safe_load((FIXTURES / fixture).read_text())
    nodes = copy.deepcopy(wf["status"]["nodes"])
    tree = NodeTree(wf["metadata"]["name"], nodes)
    assert tree.update_progress() == wf["status"]["progress"]
    mismatched = [node["name"] for nid, node in wf["status"]["nodes"].items()
                  if node.get("progress") and tree.nodes[nid]["progress"] != node["progress"]]
    # fixture 10 was captured between two reconciles: its DAG node still says 2/6 (stale), all else agrees
    assert mismatched == (["dag-containerset-qlmzl"] if fixture.startswith("10-") else [])


def test_join_spec_merges_parameters_by_name_workflow_wins():
    merged = join_spec(
        {"workflowTemplateRef": {"name": "t"}, "arguments": {"parameters": [{"name": "a", "value": "wf"},
                                                                              {"name": "c", "value": "new"}]},
         "activeDeadlineSeconds": 5},
        {"entrypoint": "e", "activeDeadlineSeconds": 60,
         "arguments": {"parameters": [{"name": "a", "value": "tmpl"}, {"name": "b", "value": "keep"}]}})
    assert merged["entrypoint"] == "e" and merged["activeDeadlineSeconds"] == 5
    assert merged["arguments"]["parameters"] == [
        {"name": "a", "value": "wf"}, {"name": "b", "value": "keep"}, {"name": "c", "value": "new"}]
    assert "workflowTemplateRef" not in merged


def test_template_library_rereads_an_edited_template(tmp_path):
    import os

    from argo_papermill.engine.templates import TemplateLibrary

    def write(entrypoint: str, mtime: int) -> None:
        path = tmp_path / "t.yaml"
        path.write_text(f"kind: WorkflowTemplate\nmetadata: {{name: t}}\nspec: {{entrypoint: {entrypoint}}}\n")
        os.utime(path, ns=(mtime, mtime))

    library = TemplateLibrary([tmp_path])
    write("first", 1_000_000_000)
    assert library.get("t")["spec"]["entrypoint"] == "first"
    write("second", 2_000_000_000)
    assert library.get("t")["spec"]["entrypoint"] == "second"
    (tmp_path / "t.yaml").unlink()
    with pytest.raises(LookupError):
        library.get("t")


def test_ttl_due_follows_phase_specific_seconds_then_completion():
    from argo_papermill.engine.service import ttl_due

    finished = {"finishedAt": "2026-01-01T00:00:00Z"}
    base = 1767225600  # 2026-01-01T00:00:00Z
    wf = {"spec": {"ttlStrategy": {"secondsAfterSuccess": 5, "secondsAfterCompletion": 60}}, "status": finished}
    assert ttl_due(wf, "Succeeded") == base + 5
    assert ttl_due(wf, "Failed") == base + 60
    from_template = {"spec": {}, "status": {**finished, "storedWorkflowTemplateSpec": {
        "ttlStrategy": {"secondsAfterFailure": 7}}}}
    assert ttl_due(from_template, "Failed") == base + 7
    assert ttl_due(from_template, "Succeeded") is None
    assert ttl_due({"spec": {"ttlStrategy": {"secondsAfterCompletion": 1}}, "status": {}}, "Failed") is None


def test_store_polls_only_unfinished_workflows(tmp_path):
    from argo_papermill.engine.store import Store

    store = Store(tmp_path)
    for name, phase in [("new", ""), ("waiting", "Pending"), ("busy", "Running"), ("ok", "Succeeded"),
                        ("bad", "Failed"), ("broken", "Error")]:
        store.insert(name, {"name": name}, {})
        if phase:
            store.write_status(name, {"phase": phase}, {})
    assert store.unfinished_versions() == {"new": ("", 0), "waiting": ("Pending", 0), "busy": ("Running", 0)}
    assert store.finished_phases() == {"ok": "Succeeded", "bad": "Failed", "broken": "Error"}
    assert store.exists("ok") and not store.exists("gone")
