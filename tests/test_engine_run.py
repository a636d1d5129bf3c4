"""The embedded engine runs hand-written manifests in the in-pod contract's shape for real.

Real processes in real bubblewrap sandboxes; each test asserts the status Argo would write.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.executor import RESTART_MESSAGE
from argo_papermill.engine.ids import fnv32a, node_id
from argo_papermill.engine.service import POSTPONED_MESSAGE, Engine
from argo_papermill.engine.store import Store
from argo_papermill.engine.validate import UnsupportedField, check_workflow

FINAL = ("Succeeded", "Failed", "Error")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


@pytest.fixture
def engine(tmp_path):
    cfg = EngineConfig(data_dir=tmp_path / "data", home=tmp_path / "home", secrets_dir=tmp_path / "secrets",
                       grace_seconds=1, poll_seconds=0.05)
    eng = Engine.acquire(cfg)
    assert eng is not None
    yield eng
    eng.close()


def submit(engine: Engine, workflow: dict) -> str:
    name = workflow["metadata"]["name"]
    assert engine.store.insert(name, workflow["metadata"], workflow["spec"])
    engine.wake()
    return name


def wait(engine: Engine, name: str, timeout: float = 60, until=None) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        wf = engine.store.get(name)
        status = wf["status"]
        if (until(wf) if until else status.get("phase") in FINAL):
            return wf
        time.sleep(0.05)
    raise AssertionError(f"{name} did not get there in {timeout}s: {wf['status']}")


def by_display(wf: dict) -> dict[str, dict]:
    return {n["displayName"]: n for n in wf["status"]["nodes"].values()}


def notebook_like(name: str, papermill_script: str, *, extra_spec: dict | None = None) -> dict:
    """The in-pod contract: containerSet `notebook`, workspace emptyDir, papermill -> main, error output."""
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "argo-papermill"}},
        "spec": {
            "entrypoint": "notebook",
            "arguments": {"parameters": [{"name": "greeting", "value": "hello world"}]},
            "templates": [{
                "name": "notebook",
                "volumes": [{"name": "workspace", "emptyDir": {}}],
                "outputs": {"parameters": [{"name": "error", "valueFrom": {
                    "path": "/workspace/outputs/error.json", "default": ""}}]},
                "containerSet": {
                    "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}],
                    "containers": [
                        {"name": "papermill", "image": "job", "command": ["sh", "-c", papermill_script],
                         "args": ["papermill", "{{workflow.parameters.greeting}}"],
                         "env": [{"name": "JOB_NAME", "value": "{{workflow.name}}"}],
                         "workingDir": "/home/jovyan"},
                        {"name": "main", "image": "job", "command": ["true"], "dependencies": ["papermill"]},
                    ],
                },
            }],
            **(extra_spec or {}),
        },
    }


def test_fnv_node_ids_match_argo():
    # verified against fixture 01: fnv32a("two-artgc-8tcvt[0].call-first") = 802059674
    assert fnv32a("two-artgc-8tcvt[0].call-first") == 802059674
    assert node_id("two-artgc-8tcvt", "two-artgc-8tcvt[0].call-first") == "two-artgc-8tcvt-802059674"
    assert node_id("wf", "wf") == "wf"


@needs_bwrap
def test_containerset_succeeds_with_parameters_progress_and_outputs(engine):
    script = ('mkdir -p /workspace/outputs; echo "$1|$JOB_NAME|$(pwd)" > /home/jovyan/out.txt; '
              'for i in 1 2 3 4; do echo "$i/4" >> "$ARGO_PROGRESS_FILE"; sleep 0.3; done')
    name = submit(engine, notebook_like("nb-ok", script))
    seen = set()

    def progress_seen(wf):
        pod = wf["status"].get("nodes", {}).get(name, {})
        if pod.get("phase") == "Running":
            seen.add(pod.get("progress"))
        return wf["status"].get("phase") in FINAL

    wf = wait(engine, name, until=progress_seen)
    status = wf["status"]
    assert status["phase"] == "Succeeded", status
    # self-reported progress reached the Pod node while the step ran
    assert {"1/4", "2/4", "3/4"} & seen, seen
    pod = status["nodes"][name]
    assert pod["type"] == "Pod" and pod["templateName"] == "notebook" and pod["progress"] == "4/4"
    assert pod["outputs"]["exitCode"] == "0"
    assert pod["outputs"]["parameters"][0]["name"] == "error" and pod["outputs"]["parameters"][0]["value"] == ""
    nodes = by_display(wf)
    assert nodes["papermill"]["type"] == "Container" and nodes["papermill"]["boundaryID"] == name
    assert nodes["papermill"]["children"] == [node_id(name, f"{name}.main")]
    assert pod["children"] == [node_id(name, f"{name}.papermill")]
    assert status["progress"] == "6/6"  # pod 4/4 + two Container nodes, as Argo sums them
    home = engine.cfg.home
    assert (home / "out.txt").read_text().strip() == f"hello world|{name}|/home/jovyan"
    assert status["startedAt"].endswith("Z") and status["finishedAt"].endswith("Z")


@needs_bwrap
def test_failing_container_gives_argo_messages_and_error_record(engine):
    script = ('mkdir -p /workspace/outputs; '
              'echo \'{"cell_index": 3, "ename": "ZeroDivisionError", "evalue": "division by zero"}\' '
              '> /workspace/outputs/error.json; echo boom >&2; exit 1')
    name = submit(engine, notebook_like("nb-fail", script))
    wf = wait(engine, name)
    status = wf["status"]
    nodes = by_display(wf)
    assert status["phase"] == "Failed"
    assert nodes["papermill"]["phase"] == "Failed"
    assert nodes["papermill"]["message"] == "papermill: Error (exit code 1): "
    assert nodes["main"]["phase"] == "Error"
    assert nodes["main"]["message"] == 'main: Error (exit code 64): dependency "papermill" exited with non-zero code: 1'
    pod = status["nodes"][name]
    assert pod["phase"] == "Failed"
    assert pod["message"].startswith("main: Error (exit code 64)")
    assert pod["outputs"]["exitCode"] == "64"
    error = pod["outputs"]["parameters"][0]
    assert "ZeroDivisionError" in error["value"]
    assert status["message"] == pod["message"]
    assert status["progress"] == "0/3"  # failed nodes keep 0/1
    logs = (engine.cfg.data_dir / "logs" / name / name / "papermill.log").read_text()
    assert "boom" in logs


@needs_bwrap
def test_steps_pass_output_parameters_and_match_tree_rules(engine):
    wf = {
        "metadata": {"name": "steps-x"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "steps": [
                    [{"name": "produce", "template": "produce"}],
                    [{"name": "consume", "template": "consume",
                      "arguments": {"parameters": [{"name": "v", "value": "{{steps.produce.outputs.parameters.out}}"}]}}],
                ]},
                {"name": "produce", "container": {"image": "x", "command": ["sh", "-c", "echo 42 > /tmp/out-$$; cp /tmp/out-$$ /workspace-out/v"],
                                                   "volumeMounts": [{"name": "o", "mountPath": "/workspace-out"}]},
                 "volumes": [{"name": "o", "emptyDir": {}}],
                 "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/workspace-out/v"}}]}},
                {"name": "consume", "inputs": {"parameters": [{"name": "v"}]},
                 "container": {"image": "x", "command": ["sh", "-c", "test {{inputs.parameters.v}} = 42"]}},
            ],
        },
    }
    name = submit(engine, wf)
    done = wait(engine, name)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    nodes = done["status"]["nodes"]
    root = nodes[name]
    assert root["type"] == "Steps" and root["children"] == [node_id(name, f"{name}[0]")]
    produce = nodes[node_id(name, f"{name}[0].produce")]
    assert produce["outputs"]["parameters"][0]["value"] == "42"
    assert produce["children"] == [node_id(name, f"{name}[1]")]
    assert root["outboundNodes"] == [node_id(name, f"{name}[1].consume")]
    assert done["status"]["progress"] == "2/2"


@needs_bwrap
def test_retry_strategy_limit_creates_attempts(engine, tmp_path):
    counter = tmp_path / "counter"
    script = f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; test $n -ge 2'
    wf = {"metadata": {"name": "retry-x"}, "spec": {"entrypoint": "flaky", "templates": [
        {"name": "flaky", "retryStrategy": {"limit": 2},
         "container": {"image": "x", "command": ["sh", "-c", script]}}]}}
    name = submit(engine, wf)
    done = wait(engine, name)
    nodes = done["status"]["nodes"]
    root = nodes[name]
    assert done["status"]["phase"] == "Succeeded"
    assert root["type"] == "Retry" and len(root["children"]) == 2
    first, second = (nodes[c] for c in root["children"])
    assert first["name"] == f"{name}(0)" and first["phase"] == "Failed" and first["nodeFlag"] == {"retried": True}
    assert first["message"] == "main: Error (exit code 1)"
    assert second["phase"] == "Succeeded"


@needs_bwrap
def test_active_deadline_fails_with_argo_message(engine):
    name = submit(engine, notebook_like("nb-deadline", "sleep 30", extra_spec={"activeDeadlineSeconds": 1}))
    started = time.time()
    done = wait(engine, name, timeout=30)
    assert time.time() - started < 15
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["nodes"][name]["message"] == "Step exceeded its deadline"
    assert done["status"]["message"] == "Step exceeded its deadline"


@needs_bwrap
def test_shutdown_stop_terminates_the_process_group(engine, tmp_path):
    pidfile = tmp_path / "pid"
    name = submit(engine, notebook_like("nb-stop", f"sh -c 'echo $$ > {pidfile}; exec sleep 60' & wait"))
    wait(engine, name, until=lambda wf: pidfile.exists() and pidfile.read_text().strip())
    host_pids = _pids_with_cmd("sleep 60")
    assert host_pids
    engine.store.update_user_fields(name, engine.store.get(name)["metadata"], {
        **engine.store.get(name)["spec"], "shutdown": "Stop"}, True)
    engine.wake()
    done = wait(engine, name, timeout=30)
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["message"] == "Stopped with strategy 'Stop'"
    assert done["status"]["nodes"][name]["message"] == "workflow shutdown with strategy:  Stop"
    time.sleep(0.5)
    assert not (set(host_pids) & set(_pids_with_cmd("sleep 60")))


def _pids_with_cmd(needle: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if needle in cmd:
                pids.append(int(entry.name))
    return pids


@needs_bwrap
def test_secrets_reach_env_and_secret_volumes_and_claims_bind(engine, tmp_path):
    secret = engine.cfg.secrets_dir / "creds"
    secret.mkdir(parents=True)
    (secret / "username").write_text("alice\n")
    claim_dir = tmp_path / "claim"
    engine.cfg.claims["data"] = claim_dir
    wf = {"metadata": {"name": "secret-x"}, "spec": {"entrypoint": "t", "volumes": [
        {"name": "s", "secret": {"secretName": "creds"}}, {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        "templates": [{"name": "t", "container": {
            "image": "x", "command": ["sh", "-c", 'echo "$U:$(cat /etc/creds/username)" > /data/out'],
            "env": [{"name": "U", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "username"}}}],
            "volumeMounts": [{"name": "s", "mountPath": "/etc/creds"}, {"name": "d", "mountPath": "/data"}]}}]}}
    done = wait(engine, submit(engine, wf))
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert (claim_dir / "out").read_text().strip() == "alice:alice"


@needs_bwrap
def test_missing_secret_is_a_node_error_naming_it(engine):
    wf = {"metadata": {"name": "nosecret"}, "spec": {"entrypoint": "t", "templates": [{"name": "t", "container": {
        "image": "x", "command": ["true"],
        "env": [{"name": "U", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]}}]}}
    done = wait(engine, submit(engine, wf))
    assert done["status"]["phase"] == "Error"
    assert 'secret "absent" not found' in done["status"]["nodes"]["nosecret"]["message"]


@needs_bwrap
def test_max_parallel_queues_the_rest_as_pending(tmp_path):
    cfg = EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", max_parallel=1, poll_seconds=0.05)
    eng = Engine.acquire(cfg)
    try:
        first = submit(eng, notebook_like("q1", "sleep 1.5"))
        wait(eng, first, until=lambda wf: wf["status"].get("phase") == "Running")
        second = submit(eng, notebook_like("q2", "true"))
        queued = wait(eng, second, until=lambda wf: wf["status"].get("phase") == "Pending")
        assert queued["status"]["message"] == POSTPONED_MESSAGE
        assert wait(eng, second)["status"]["phase"] == "Succeeded"
        assert eng.store.get(first)["status"]["phase"] == "Succeeded"
    finally:
        eng.close()


def test_restart_fails_running_workflows_and_keeps_queued(tmp_path):
    store = Store(tmp_path / "d")
    store.insert("was-running", {"name": "was-running"}, {"entrypoint": "t", "templates": []})
    store.write_status("was-running", {"phase": "Running", "startedAt": "2026-01-01T00:00:00Z"}, {
        "was-running": {"id": "was-running", "name": "was-running", "displayName": "was-running", "type": "Pod",
                        "phase": "Running", "progress": "0/1"}})
    cfg = EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", poll_seconds=0.05)
    eng = Engine.acquire(cfg)
    try:
        wf = eng.store.get("was-running")
        assert wf["status"]["phase"] == "Failed" and wf["status"]["message"] == RESTART_MESSAGE
        assert wf["status"]["nodes"]["was-running"]["phase"] == "Failed"
        assert wf["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"
    finally:
        eng.close()


def test_one_engine_per_data_folder(tmp_path):
    import subprocess
    import sys

    cfg = EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h")
    eng = Engine.acquire(cfg)
    try:
        code = ("from argo_papermill.engine.config import EngineConfig; from argo_papermill.engine.service import Engine;"
                f"print(Engine.acquire(EngineConfig(data_dir={str(tmp_path / 'd')!r})) is None)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "True"
    finally:
        eng.close()


@needs_bwrap
def test_workflow_template_ref_resolved_from_template_dirs(tmp_path):
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "t.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: echo-wft}\nspec:\n"
        "  entrypoint: echo\n  arguments: {parameters: [{name: msg, value: default}]}\n  templates:\n"
        "  - name: echo\n    container: {image: x, command: [sh, -c, 'test \"{{workflow.parameters.msg}}\" = override']}\n")
    cfg = EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", template_dirs=[tdir], poll_seconds=0.05)
    eng = Engine.acquire(cfg)
    try:
        name = submit(eng, {"metadata": {"name": "ref-x"}, "spec": {
            "workflowTemplateRef": {"name": "echo-wft"}, "arguments": {"parameters": [{"name": "msg", "value": "override"}]}}})
        done = wait(eng, name)
        assert done["status"]["phase"] == "Succeeded", done["status"]
        assert done["status"]["storedWorkflowTemplateSpec"]["entrypoint"] == "echo"
        assert done["status"]["nodes"][name]["templateName"] == "echo"
    finally:
        eng.close()


@needs_bwrap
def test_git_input_artifact_cloned_at_revision(engine, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (repo / "f").write_text("v1")
    git("add", "f")
    git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD")
    (repo / "f").write_text("v2")
    git("commit", "-qam", "two")
    wf = {"metadata": {"name": "git-x"}, "spec": {"entrypoint": "t", "templates": [{"name": "t",
          "inputs": {"artifacts": [{"name": "src", "path": "/src", "git": {"repo": str(repo), "revision": first}}]},
          "container": {"image": "x", "command": ["sh", "-c", "test $(cat /src/f) = v1"]}}]}}
    done = wait(engine, submit(engine, wf))
    assert done["status"]["phase"] == "Succeeded", done["status"]


@pytest.mark.parametrize("spec, field", [
    ({"entrypoint": "a", "templates": [{"name": "a", "suspend": {}}]}, "spec.templates[a].suspend"),
    ({"entrypoint": "a", "onExit": "b", "templates": [{"name": "a", "container": {"command": ["true"]}}]}, "spec.onExit"),
    ({"entrypoint": "a", "templates": [{"name": "a", "container": {"command": ["true"]}, "sidecars": [{}]}]},
     "spec.templates[a].sidecars"),
    ({"entrypoint": "a", "templates": [{"name": "a", "steps": [[{"name": "s", "template": "b", "withItems": [1]}]]}]},
     "spec.templates[a].steps[0][0].withItems"),
    ({"entrypoint": "a", "templates": [{"name": "a", "container": {"command": ["true"]}}],
      "volumes": [{"name": "v", "configMap": {"name": "c"}}]}, "spec.volumes[0].configMap"),
    ({"entrypoint": "a", "templates": [{"name": "a", "container": {"image": "x"}}]}, "spec.templates[a].container.command"),
    ({"entrypoint": "a", "templates": [{"name": "a", "dag": {"tasks": [{"name": "t", "template": "a",
                                                                          "depends": "b || c"}]}}]},
     "spec.templates[a].dag.tasks[0].depends"),
])
def test_unimplemented_fields_are_rejected_by_name(spec, field):
    with pytest.raises(UnsupportedField) as err:
        check_workflow({"spec": spec})
    assert err.value.field == field
    assert field in str(err.value)


def test_cluster_only_fields_are_accepted():
    check_workflow({"spec": {"entrypoint": "a", "serviceAccountName": "x", "podGC": {"strategy": "OnPodSuccess"},
                             "ttlStrategy": {"secondsAfterCompletion": 10}, "templates": [
        {"name": "a", "nodeSelector": {"a": "b"}, "container": {
            "image": "x", "command": ["true"], "resources": {"limits": {"cpu": "1"}},
            "securityContext": {"privileged": True}}}]}})


def test_without_fuse_an_s3_mount_pod_fails_at_once_saying_why(tmp_path):
    cfg = EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", poll_seconds=0.05,
                       fuse_device=str(tmp_path / "no-fuse"))
    eng = Engine.acquire(cfg)
    try:
        wf = notebook_like("nofuse", "true")
        containers = wf["spec"]["templates"][0]["containerSet"]["containers"]
        containers.insert(0, {"name": "s3-mount", "image": "x", "command": ["sh", "-c", "s3fs b /mnt"]})
        done = wait(eng, submit(eng, wf), timeout=20)
        assert done["status"]["phase"] == "Error"
        message = done["status"]["nodes"]["nofuse"]["message"]
        assert message.startswith("s3-mount: FUSE is unavailable on this machine") and "no-fuse" in message
        assert by_display(done)["s3-mount"]["phase"] == "Error"
    finally:
        eng.close()


@needs_bwrap
def test_ttl_strategy_deletes_finished_workflows(engine):
    wf = {"metadata": {"name": "ttl-x"}, "spec": {"entrypoint": "t", "ttlStrategy": {"secondsAfterCompletion": 0},
                                                  "templates": [{"name": "t", "container": {"command": ["true"]}}]}}
    name = submit(engine, wf)
    deadline = time.time() + 20
    while time.time() < deadline and engine.store.get(name) is not None:
        time.sleep(0.1)
    assert engine.store.get(name) is None
    assert not (engine.cfg.data_dir / "logs" / name).exists()


@needs_bwrap
def test_ttl_keeps_working_after_a_finished_workflow_is_deleted(engine):
    """A dismissed (deleted) finished job must not stop the TTL sweep for the others."""
    kept = {"metadata": {"name": "no-ttl"}, "spec": {"entrypoint": "t", "templates": [
        {"name": "t", "container": {"command": ["true"]}}]}}
    wait(engine, submit(engine, kept))
    time.sleep(2.5)  # one sweep sees it finished
    assert engine.store.delete("no-ttl")
    time.sleep(2.5)  # the next sweep finds it gone
    expiring = {"metadata": {"name": "ttl-after"}, "spec": {"entrypoint": "t", "ttlStrategy": {
        "secondsAfterCompletion": 0}, "templates": [{"name": "t", "container": {"command": ["true"]}}]}}
    name = submit(engine, expiring)
    deadline = time.time() + 20
    while time.time() < deadline and engine.store.get(name) is not None:
        time.sleep(0.1)
    assert engine.store.get(name) is None


@needs_bwrap
def test_translated_workflow_template_ref_runs_with_the_repo_template(engine):
    """use_workflow_template: the repo's workflow_templates/ resolves it; its scratch home is the home folder."""
    from argo_papermill.processor import NotebookProcessor

    nb = engine.cfg.home / "hello.ipynb"
    nb.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "notebooks" / "hello.ipynb", nb)
    manifest = NotebookProcessor({"name": "x", "use_workflow_template": True}).workflow_manifest(
        "wftref", {"notebook": "hello.ipynb", "parameters_json": {"name": "template"}})
    assert manifest["spec"]["workflowTemplateRef"]
    done = wait(engine, submit(engine, manifest), timeout=120)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert done["status"]["storedWorkflowTemplateSpec"]["templates"][0]["name"] == "notebook"
    results = list((engine.cfg.home / "job-output").rglob("hello_result.ipynb"))
    assert results and "Hello, template!" in results[0].read_text()


@needs_bwrap
def test_script_template_runs_its_source(engine):
    wf = {"metadata": {"name": "script-x"}, "spec": {"entrypoint": "s", "templates": [{"name": "s", "script": {
        "image": "x", "command": ["python3"], "source": "import os\nopen(os.environ['OUT'], 'w').write('ran')\n",
        "env": [{"name": "OUT", "value": "/home/jovyan/script-out"}]}}]}}
    done = wait(engine, submit(engine, wf))
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert (engine.cfg.home / "script-out").read_text() == "ran"


@needs_bwrap
def test_dag_failure_stops_dependants_and_names_the_child(engine):
    wf = {"metadata": {"name": "dag-fail"}, "spec": {"entrypoint": "d", "templates": [
        {"name": "d", "dag": {"tasks": [
            {"name": "a", "template": "bad"},
            {"name": "b", "template": "ok", "dependencies": ["a"]},
            {"name": "c", "template": "ok"}]}},
        {"name": "bad", "container": {"command": ["sh", "-c", "exit 3"]}},
        {"name": "ok", "container": {"command": ["true"]}}]}}
    done = wait(engine, submit(engine, wf))
    nodes = done["status"]["nodes"]
    a_id = node_id("dag-fail", "dag-fail.a")
    assert done["status"]["phase"] == "Failed"
    assert nodes["dag-fail"]["message"] == f"child '{a_id}' failed" == done["status"]["message"]
    assert nodes[a_id]["message"] == "main: Error (exit code 3)" and nodes[a_id]["outputs"]["exitCode"] == "3"
    assert node_id("dag-fail", "dag-fail.b") not in nodes  # never started, as with Argo's fail-fast
    assert nodes[node_id("dag-fail", "dag-fail.c")]["phase"] == "Succeeded"
    assert sorted(nodes["dag-fail"]["children"]) == sorted([a_id, node_id("dag-fail", "dag-fail.c")])


def test_without_bubblewrap_only_identical_host_paths_bind(tmp_path):
    cfg = EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", poll_seconds=0.05, sandbox="none")
    eng = Engine.acquire(cfg)
    try:
        plain = {"metadata": {"name": "nobwrap-ok"}, "spec": {"entrypoint": "t", "templates": [
            {"name": "t", "volumes": [{"name": "same", "hostPath": {"path": str(tmp_path / "same")}}],
             "container": {"command": ["sh", "-c", f"echo ok > {tmp_path}/same/out"],
                           "volumeMounts": [{"name": "same", "mountPath": str(tmp_path / "same")}]}}]}}
        assert wait(eng, submit(eng, plain))["status"]["phase"] == "Succeeded"
        assert (tmp_path / "same" / "out").read_text().strip() == "ok"
        done = wait(eng, submit(eng, notebook_like("nobwrap-ws", "true")))
        assert done["status"]["phase"] == "Error"
        message = done["status"]["nodes"]["nobwrap-ws"]["message"]
        assert "no sandbox, so the local engine cannot bind" in message and "apt-get install bubblewrap" in message
        assert "/workspace" in done["status"]["nodes"]["nobwrap-ws"]["message"]
    finally:
        eng.close()


ENGINE_THEN_WAIT = """
import json, sys, time
from pathlib import Path
from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.service import Engine
data, sandbox, command = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
eng = Engine.acquire(EngineConfig(data_dir=data, home=data / "home", poll_seconds=0.05, sandbox=sandbox))
eng.store.insert("orphan", {"name": "orphan"}, {"entrypoint": "t", "templates": [{"name": "t", "container": {
    "command": command}}]})
eng.wake()
time.sleep(300)
"""


def writes_pid_and_sleeps(pid_file: Path) -> str:
    """Python code that writes its host pid (/proc/self: the sandbox has its own pid namespace), then sleeps."""
    return f"import os, time; open({str(pid_file)!r}, 'w').write(os.readlink('/proc/self')); time.sleep(120)"


def start_engine_process(data: Path, sandbox: str, command: list[str]):
    import json
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", ENGINE_THEN_WAIT, str(data), sandbox, json.dumps(command)],
                            start_new_session=True)


def wait_for_pid(pid_file: Path) -> int:
    deadline = time.time() + 60
    while time.time() < deadline and not (pid_file.exists() and pid_file.read_text()):
        time.sleep(0.05)
    return int(pid_file.read_text())


def wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and _alive(pid):
        time.sleep(0.05)
    return not _alive(pid)


@pytest.mark.parametrize("sandbox", [
    pytest.param("bwrap", marks=needs_bwrap),
    "none",  # PR_SET_PDEATHSIG on the runner and the container's first process
])
def test_container_dies_when_the_engine_is_killed(tmp_path, sandbox):
    import signal

    pid_file = tmp_path / "container.pid"
    # the container's first process itself writes its pid: the engine must take it down with it
    engine = start_engine_process(tmp_path / "d", sandbox, ["python3", "-c", writes_pid_and_sleeps(pid_file)])
    try:
        pid = wait_for_pid(pid_file)
        assert _alive(pid)
        engine.send_signal(signal.SIGKILL)  # only the engine's process, not its group: no cleanup can run
        engine.wait(timeout=10)
        assert wait_dead(pid), f"container {pid} survived the engine ({sandbox})"
    finally:
        _kill_all(engine, pid_file)


def test_without_bubblewrap_a_restart_kills_what_the_dead_engine_left(tmp_path):
    """A container's child outlives a SIGKILLed engine without a sandbox; the next engine ends it."""
    import signal

    pid_file = tmp_path / "child.pid"
    engine = start_engine_process(tmp_path / "d", "none",
                                  ["sh", "-c", 'python3 -c "$0"; echo after', writes_pid_and_sleeps(pid_file)])
    try:
        pid = wait_for_pid(pid_file)
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=10)
        restarted = Engine.acquire(EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "d" / "home",
                                                poll_seconds=0.05, sandbox="none"))
        try:
            assert wait_dead(pid), "the dead engine's container child is still running after the restart"
            assert restarted.store.get("orphan")["status"]["message"] == RESTART_MESSAGE
        finally:
            restarted.close()
    finally:
        _kill_all(engine, pid_file)


def _kill_all(engine, pid_file: Path) -> None:
    """Only when an assertion failed is anything left: do not leave the sleeper behind."""
    import signal

    leftovers = [engine.pid] + ([int(pid_file.read_text())] if pid_file.exists() and pid_file.read_text() else [])
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_without_bubblewrap_deleting_kills_the_containers_children(tmp_path):
    """No pid namespace: the container's process group goes, not only its first process."""
    cfg = EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", poll_seconds=0.05, sandbox="none")
    eng = Engine.acquire(cfg)
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    try:
        name = submit(eng, {"metadata": {"name": "nobwrap-del"}, "spec": {"entrypoint": "t", "templates": [
            {"name": "t", "container": {"command": ["sh", "-c", 'python3 -c "$0"; echo after', child]}}]}})
        deadline = time.time() + 30
        while time.time() < deadline and not (pid_file.exists() and pid_file.read_text()):
            time.sleep(0.05)
        pid = int(pid_file.read_text())
        assert _alive(pid)
        eng.store.delete(name)  # what DELETE /jobs/{id} does to the store
        eng.wake()
        deadline = time.time() + 15
        while time.time() < deadline and _alive(pid):
            time.sleep(0.05)
        assert not _alive(pid), "the container's child survived the deletion"
    finally:
        eng.close()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), 9)
