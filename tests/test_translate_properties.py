"""Property tests: no input value changes the papermill argv structure, escapes its directories or
reaches a shell script; no configured credential or masked secret appears in the manifest."""

from __future__ import annotations

import base64
import json
import os
import posixpath
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from argo_papermill import NotebookProcessor
from argo_papermill.errors import ConfigurationError, InvalidInputError
from argo_papermill.translate.scripts import GIT_SCRIPT, PAPERMILL_SCRIPT, S3_SCRIPT

SCRIPTS = {GIT_SCRIPT, PAPERMILL_SCRIPT, S3_SCRIPT}
CONFIG = {
    "checkout_git_repo": {"url": "https://git.example/a.git", "secret_name": "git-cred"},
    "s3": {"bucket_name": "b", "secret_name": "s3-cred"},
    "allowed_images_regex": ".*",
    "allowed_node_purposes_regex": ".*",
    "allow_fargate": True,
}
PROCESSORS = {
    "inline": NotebookProcessor(CONFIG),
    "template": NotebookProcessor({**CONFIG, "use_workflow_template": True}),
}
OUTPUT_ROOT = "/home/jovyan/job-output"

# text that likes the dangerous shapes: options, paths, shell syntax, Argo syntax
plausible = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,20}", fullmatch=True)
nasty = st.one_of(
    plausible,
    st.text(max_size=40),
    st.sampled_from(["-", "--", "-k", "--engine", "--cwd=/", "..", "../..", "/", "~", "$(id)", "`id`", "a;b", "'",
                     '"', "{{workflow.name}}", "*", "\\", "a b", "{job_name}", "-b x", ".ipynb"]),
    st.builds(lambda a, b: a + b, st.sampled_from(["-", "../", "/", "$", "{{", ""]), st.text(max_size=20)),
)
inputs_strategy = st.fixed_dictionaries(
    {"notebook": nasty},
    optional={
        "kernel": nasty,
        "output_filename": nasty,
        "output_dirname": nasty,
        "result_data_directory": nasty,
        "git_revision": nasty,
        "image": nasty,
        "node_purpose": nasty,
        "parameters_json": st.dictionaries(st.text(max_size=8), nasty, max_size=3),
    },
)

# mostly acceptable values, with the shapes that would matter if they slipped through
mostly_ok = st.one_of(plausible, plausible.map(lambda v: "-" + v), plausible.map(lambda v: v + " $(x) 'a'"), nasty)
argv_inputs = st.fixed_dictionaries(
    {"notebook": st.one_of(plausible, nasty)},
    optional={k: mostly_ok for k in ("kernel", "output_filename", "output_dirname", "result_data_directory")}
    | {"parameters_json": st.dictionaries(st.text(max_size=8), nasty, max_size=3)},
)


def _arguments(manifest: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in manifest["spec"]["arguments"]["parameters"]}


def _manifest(mode: str, inputs: dict) -> dict | None:
    try:
        return PROCESSORS[mode].workflow_manifest("prop-1", inputs)
    except InvalidInputError as err:
        assert err.field in inputs or err.field == "notebook"
        return None


@settings(max_examples=150, deadline=None)
@given(inputs=inputs_strategy, mode=st.sampled_from(["inline", "template"]))
def test_inputs_never_reach_scripts_or_escape_directories(inputs: dict, mode: str) -> None:
    manifest = _manifest(mode, inputs)
    event("refused" if manifest is None else "manifest built")
    if manifest is None:
        return
    args = _arguments(manifest)
    # directories: normalised absolute paths inside their roots
    for key in ("notebook", "output-notebook", "results-directory"):
        assert posixpath.isabs(args[key]) and posixpath.normpath(args[key]) == args[key], key
    assert args["output-notebook"].startswith(OUTPUT_ROOT + "/")
    assert args["results-directory"].startswith(OUTPUT_ROOT + "/")
    assert posixpath.dirname(args["results-directory"]).startswith(OUTPUT_ROOT)
    if args["result-data-directory"]:
        data = args["result-data-directory"]
        assert data.startswith("/home/jovyan/") and posixpath.normpath(data) == data
    for value in args.values():
        assert "{{" not in value and "\x00" not in value
    if mode == "template":
        return
    # scripts are constants; per-request values are only parameter references in argv
    for c in manifest["spec"]["templates"][0]["containerSet"]["containers"]:
        if c["name"] == "main":
            continue
        assert c["command"][:2] == ["sh", "-c"] and c["command"][2] in SCRIPTS
        for arg in c["args"]:
            assert re.fullmatch(r"{{workflow\.parameters\.[a-z-]+}}", arg) or arg in (
                "papermill", "git-checkout", "s3-mount", "true", "false", "argo_progress", "300", "0", OUTPUT_ROOT,
                "b", "/home/jovyan/s3", "https://git.example/a.git") or arg.startswith("allow_other,"), arg


@pytest.fixture(scope="module")
def papermill_stub(tmp_path_factory) -> Path:
    """A fake ``papermill`` that records its argv as JSON: the script's real argv, observed."""
    bin_dir = tmp_path_factory.mktemp("bin")
    stub = bin_dir / "papermill"
    stub.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    "open(os.environ['ARGV_OUT'], 'w').write(json.dumps(sys.argv[1:]))\n")
    stub.chmod(0o755)
    return bin_dir


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=argv_inputs)
def test_papermill_argv_structure_is_fixed(inputs: dict, papermill_stub: Path, tmp_path_factory) -> None:
    """Run the real script with Argo's substitution; the papermill argv has the fixed shape."""
    manifest = _manifest("inline", inputs)
    event("refused" if manifest is None else "ran the script")
    if manifest is None:
        return
    args = _arguments(manifest)
    c = next(c for c in manifest["spec"]["templates"][0]["containerSet"]["containers"] if c["name"] == "papermill")
    root = tmp_path_factory.mktemp("pod")

    def local(text: str) -> str:
        text = re.sub(r"{{workflow\.parameters\.([^}]+)}}", lambda m: args[m.group(1)], text)
        return text.replace("{{workflow.name}}", "wf")

    def move(text: str) -> str:  # in-pod absolute paths under the temporary root
        return text.replace("/workspace", f"{root}/workspace").replace("/home/jovyan", f"{root}/home")

    argv = [move(c["command"][2])] + [move(local(a)) for a in c["args"]]
    argv[0] = argv[0].replace(f"{root}/workspace/s3-mounted", f"{root}/workspace/s3-mounted")
    (root / "workspace").mkdir()
    (root / "workspace" / "s3-mounted").touch()  # the s3 wait is tested elsewhere
    out_file = root / "argv.json"
    env = {"PATH": f"{papermill_stub}{os.pathsep}/usr/bin:/bin", "ARGV_OUT": str(out_file), "JOB_NAME": "wf"}
    proc = subprocess.run(["sh", "-c", *argv], env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out_file.read_text())
    expected = ["--cwd", move(args["cwd"])]
    if args["kernel"]:
        expected += ["-k", args["kernel"]]
    if args["parameters"]:
        expected += ["-b", args["parameters"]]
    expected += ["--log-output", "--engine", "argo_progress", "--", move(args["notebook"]), move(args["output-notebook"])]
    assert got == expected
    assert (root / "workspace" / "papermill-done").exists()


secret = st.builds(lambda u, t: u.hex + t, st.uuids(), st.text(alphabet="abcdefXYZ0123456789", max_size=10))


@settings(max_examples=80, deadline=None)
@given(user=secret, password=secret, mode=st.sampled_from([False, True]))
def test_credentials_never_in_manifest(user: str, password: str, mode: bool) -> None:
    assume(password not in user and user not in password)
    # credentials offered in URLs are refused at start-up ...
    for config in (
        {"checkout_git_repo": {"url": f"https://{user}:{password}@git.example/a.git"}},
        {"s3": {"bucket_name": "b", "secret_name": "s", "s3_url": f"https://{user}:{password}@s3.example"}},
    ):
        with pytest.raises(ConfigurationError) as info:
            NotebookProcessor(config)
        assert password not in str(info.value)
    # ... and with Secrets, only their names and keys reach the manifest; masked parameters stay masked
    processor = NotebookProcessor({**CONFIG, "use_workflow_template": mode})
    params = {"password": "PW" + password, "api_key": "K" + password, "nested": {"token": "T" + password}, "x": user}
    yaml_params = base64.b64encode(f"db_password: Y{password}\n".encode()).decode()
    for inputs in ({"notebook": "a.ipynb", "parameters_json": params}, {"notebook": "a.ipynb", "parameters": yaml_params}):
        manifest = processor.workflow_manifest("c-1", inputs)
        annotation = manifest["metadata"]["annotations"]["pygeoapi.io/parameters"]
        assert password not in annotation
        text = json.dumps(manifest)
        for c in (manifest["spec"].get("templates") or [{"containerSet": {"containers": []}}])[0]["containerSet"]["containers"]:
            for env in c.get("env", []):
                if re.search(r"PASSWORD|SECRET|KEY_ID|USERNAME", env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"]
        assert "git-cred" in text or mode  # referenced by name (inline)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=300)),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)),
    max_leaves=60,
)


@settings(max_examples=100, deadline=None)
@given(params=st.dictionaries(st.text(max_size=20), json_values, max_size=30), notebook=plausible)
def test_parameters_annotation_is_small_valid_json(params: dict, notebook: str) -> None:
    manifest = _manifest("inline", {"notebook": notebook + ".ipynb", "parameters_json": params})
    assume(manifest is not None)
    text = manifest["metadata"]["annotations"]["pygeoapi.io/parameters"]
    assert len(text.encode()) <= 4096
    data = json.loads(text)
    assert data["notebook"] == notebook + ".ipynb"
    if "parameters_json" in data:
        for key in data["parameters_json"]:
            if re.search(r"secret|key|password|token|credential", key, re.I):
                assert data["parameters_json"][key] == "*"
