"""Pod nodes of a running workflow: one sandbox per pod, watched until it ends, as Argo reports it.

``PodNodes`` is the pod half of ``executor.WorkflowRun`` (which supplies the tree, the store,
the deadline and the shutdown/deletion state): it creates the Container nodes of a
containerSet, loads input artifacts, starts the sandbox, turns the runner's events and
``$ARGO_PROGRESS_FILE`` into node phases and progress while the pod runs (stopping it on
deletion, ``spec.shutdown`` or a deadline), then collects exit codes, output parameters and
output artifacts with Argo's messages.
"""

from __future__ import annotations

import copy
import shutil
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from argo_papermill.engine import artifacts
from argo_papermill.engine.ids import pod_name as make_pod_name
from argo_papermill.engine.nodes import FULFILLED, parse_progress
from argo_papermill.engine.pod import PodError, PodPlan, PodProcess, plan_pod
from argo_papermill.engine.runner import DEPENDENCY_EXIT_CODE
from argo_papermill.engine.substitute import SubstitutionError, substitute

if TYPE_CHECKING:
    from argo_papermill.engine.config import EngineConfig
    from argo_papermill.engine.nodes import NodeTree

__all__ = ["DEADLINE_MESSAGE", "Outcome", "PodNodes", "PodProcess", "infer_failed_reason", "shutdown_pod_message"]

HOST_NAME = socket.gethostname()
DEADLINE_MESSAGE = "Step exceeded its deadline"
POD_POLL_SECONDS = 0.02  # a pod's status file and progress file are local reads: poll them often


def shutdown_pod_message(strategy: str) -> str:
    return f"workflow shutdown with strategy:  {strategy}"  # two spaces, as Argo's exec_control.go writes it


@dataclass
class Outcome:
    """A finished node: its id, phase and outputs (for steps/tasks references)."""

    node_id: str
    phase: str
    outputs: dict = field(default_factory=dict)


class PodNodes:
    """Runs pod templates for ``WorkflowRun``, whose state it reads and whose tree it writes."""

    cfg: "EngineConfig"
    name: str
    spec: dict
    tree: "NodeTree"
    pods: set[PodProcess]
    container_set_pods: set[str]
    deleted: bool
    shutdown: str | None
    deadline: float | None
    stopping: str | None  # why no new pod may start (a property of WorkflowRun)
    save: Callable[[], None]  # write status and nodes to the store
    _set: Callable[[dict, str, Any], None]  # change a node under the tree lock

    def _run_pod(self, node: dict, template: dict, scope: dict) -> Outcome:
        template_name = node.get("templateName") or (node.get("templateRef") or {}).get("template", "")
        pname = make_pod_name(self.name, node["name"], template_name)
        scope = {**scope, "pod.name": pname}
        try:
            resolved = substitute(template, scope)
        except SubstitutionError as err:
            self.tree.mark(node["id"], "Error", str(err))
            self.save()
            return Outcome(node["id"], "Error")
        containers: dict[str, str] = {}
        if resolved.get("containerSet"):
            self.container_set_pods.add(node["id"])
            for c in resolved["containerSet"]["containers"]:
                child = self.tree.create(f"{node['name']}.{c['name']}", "Container", display_name=c["name"],
                                         template_name=node.get("templateName"), template_ref=node.get("templateRef"),
                                         boundary_id=node["id"], template_scope=node["templateScope"])
                containers[c["name"]] = child["id"]
            for c in resolved["containerSet"]["containers"]:
                if not c.get("dependencies"):
                    self.tree.add_child(node["id"], containers[c["name"]])
                for dep in c.get("dependencies") or []:
                    self.tree.add_child(containers[dep], containers[c["name"]])
        self.save()
        if self.stopping:
            return self._fail_pod(node, containers, self.stopping, "Failed")
        attempt_dir = self.cfg.data_dir / "pods" / self.name / pname
        try:
            plan = plan_pod(self.cfg, self.name, self.spec, resolved, pname, attempt_dir)
            for art, target in plan.artifacts:
                artifacts.load(self.cfg, art, target)
        except (PodError, artifacts.ArtifactError, OSError) as err:
            return self._fail_pod(node, containers, str(err), "Error")
        pod = PodProcess(self.cfg, plan)
        try:
            pod.start()
        except (PodError, OSError) as err:
            return self._fail_pod(node, containers, str(err), "Error")
        self.pods.add(pod)
        try:
            return self._watch_pod(node, resolved, containers, plan, pod)
        finally:
            self.pods.discard(pod)
            # like a deleted pod: emptyDirs, copied secrets and the runner spec (it holds the env) go away
            shutil.rmtree(plan.dir, ignore_errors=True)

    def _fail_pod(self, node: dict, containers: dict, message: str, phase: str) -> Outcome:
        for cid in containers.values():
            self.tree.mark(cid, "Failed" if phase == "Failed" else "Error", message)
        self.tree.mark(node["id"], phase, message)
        self.save()
        return Outcome(node["id"], phase)

    def _watch_pod(self, node, template, containers, plan: PodPlan, pod: PodProcess) -> Outcome:
        step_deadline = template.get("activeDeadlineSeconds")
        step_deadline = time.time() + int(step_deadline) if step_deadline is not None else None
        terminated: dict[str, dict] = {}
        reason: str | None = None
        kill_after = 0.0
        last_progress = None
        while True:
            alive = pod.alive()
            changed = self._apply_events(node, containers, pod.events(), terminated)
            progress = pod.progress()
            if progress != last_progress and parse_progress(progress):
                last_progress = progress
                self._set(node, "progress", progress)
                changed = True
            if self.deleted:
                pod.kill()
                return Outcome(node["id"], "Failed")
            if reason is None:
                reason = self._stop_reason(step_deadline)
                if reason is not None:
                    pod.terminate()  # the runner sends SIGTERM, then SIGKILL after the grace period
                    kill_after = time.time() + self.cfg.grace_seconds + 2
            elif time.time() >= kill_after:
                pod.kill()
            if changed:
                self.save()
            if not alive:
                self._apply_events(node, containers, pod.events(), terminated)  # written just before it exited
                break
            time.sleep(POD_POLL_SECONDS)
        return self._finish_pod(node, template, containers, plan, terminated, reason)

    def _apply_events(self, node: dict, containers: dict[str, str], events: list[dict],
                      terminated: dict[str, dict]) -> bool:
        """Runner events -> node phases; ``terminated`` collects each container's last event."""
        for event in events:
            kind = event.get("event")
            if kind == "runner-started" and node["phase"] == "Pending":
                self._set(node, "hostNodeName", HOST_NAME)
                self.tree.mark(node["id"], "Running", "")
            elif kind == "started" and event["container"] in containers:
                self.tree.mark(containers[event["container"]], "Running")
            elif kind == "terminated":
                terminated[event["container"]] = event
                if event["container"] in containers:
                    self._mark_container(containers[event["container"]], event)
        return bool(events)

    def _stop_reason(self, step_deadline: float | None) -> str | None:
        """Why a running pod must stop now: a shutdown or a workflow/template deadline."""
        if self.shutdown:
            return shutdown_pod_message(self.shutdown)
        now = time.time()
        if any(deadline is not None and now >= deadline for deadline in (self.deadline, step_deadline)):
            return DEADLINE_MESSAGE
        return None

    def _finish_pod(self, node, template, containers, plan: PodPlan, terminated: dict, reason: str | None) -> Outcome:
        for name, cid in containers.items():
            if name in terminated:
                self._mark_container(cid, terminated[name])
            elif self.tree.nodes[cid]["phase"] not in FULFILLED:
                self.tree.mark(cid, "Failed", "Pod Failed whilst container running")
        outputs: dict = {}
        if "main" in terminated:
            outputs["exitCode"] = str(terminated["main"]["exitCode"])
        if reason is not None:
            phase, message = "Failed", reason
        elif terminated and all(int(e["exitCode"]) == 0 for e in terminated.values()) and len(terminated) == len(
                plan.containers):
            phase, message = "Succeeded", ""
        else:
            phase, message = infer_failed_reason(terminated)
        params, error = self._output_parameters(template, plan)
        if params:
            outputs["parameters"] = params
        if phase == "Succeeded" and error:
            phase, message = "Error", error
        saved, art_error = self._output_artifacts(template, plan)
        if saved:
            outputs["artifacts"] = saved
        if phase == "Succeeded" and art_error:
            phase, message = "Error", art_error
        if outputs:
            self._set(node, "outputs", outputs)
        self.tree.mark(node["id"], phase, message)
        self.save()
        return Outcome(node["id"], phase, outputs)

    def _mark_container(self, cid: str, event: dict) -> None:
        """A Container node from the runner's ``terminated`` event, with Argo's message on failure."""
        code = int(event["exitCode"])
        if code == 0:
            self.tree.mark(cid, "Succeeded")
            return
        message = f"{event['container']}: {event.get('reason') or 'Error'} (exit code {code}): {event.get('message', '')}"
        self.tree.mark(cid, "Error" if code == DEPENDENCY_EXIT_CODE else "Failed", message)

    def _output_parameters(self, template: dict, plan: PodPlan) -> tuple[list[dict], str | None]:
        params, error = [], None
        for param in (template.get("outputs") or {}).get("parameters") or []:
            source = param.get("valueFrom") or {}
            host = plan.host_path(source["path"])
            try:
                value = host.read_text(encoding="utf-8").strip()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                if source.get("default") is None:
                    error = error or (f"failed to get output parameter {param['name']}: "
                                      f"open {source['path']}: no such file or directory")
                    continue
                value = str(source["default"])
            params.append({"name": param["name"], "value": value, "valueFrom": copy.deepcopy(source)})
        return params, error

    def _output_artifacts(self, template: dict, plan: PodPlan) -> tuple[list[dict], str | None]:
        saved, error = [], None
        for art in (template.get("outputs") or {}).get("artifacts") or []:
            try:
                record = artifacts.save_s3(self.cfg, art, plan.host_path(art["path"]))
            except artifacts.ArtifactError as err:
                error = error or str(err)
                continue
            if record:
                saved.append(record)
        return saved, error


def infer_failed_reason(terminated: dict[str, dict]) -> tuple[str, str]:
    """Argo's inferFailedReason for pods whose containers are all main containers (sorted by name)."""
    for name in sorted(terminated):
        event = terminated[name]
        code = int(event["exitCode"])
        if code == 0:
            continue
        message = f"{event.get('reason') or 'Error'} (exit code {code})"
        if event.get("message"):
            message = f"{message}: {event['message']}"
        return "Failed", f"{name}: {message}"
    return "Failed", "pod failed: neither main nor wait container completed successfully"
