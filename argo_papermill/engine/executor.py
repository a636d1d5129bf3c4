"""Runs one Workflow: templates in order, pods as sandboxes, status as Argo writes it.

``WorkflowRun.run`` walks the entrypoint like the controller's ``executeTemplate``:
steps and DAG templates create Steps/StepGroup/DAG nodes and run their children (in
threads where they may run in parallel), container/script/containerSet templates run
as one pod each (``pod_nodes.PodNodes``), ``retryStrategy`` adds a Retry node with one
child per attempt. Every change is written to the store, so readers see progress within a poll.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.dag import task_dependencies
from argo_papermill.engine.nodes import COMPLETED, NodeTree, now_rfc3339
from argo_papermill.engine.pod_nodes import (DEADLINE_MESSAGE, Outcome, PodNodes, PodProcess,
                                             shutdown_pod_message)
from argo_papermill.engine.store import Store
from argo_papermill.engine.substitute import SubstitutionError, substitute
from argo_papermill.engine.templates import TemplateLibrary, TemplateNotFound, join_spec

LOGGER = logging.getLogger(__name__)
RESTART_MESSAGE = ("the local engine restarted while this workflow was running; "
                   "its processes were stopped with the previous engine")
POD_KINDS = ("container", "script", "containerSet")


def stopped_message(strategy: str) -> str:
    return f"Stopped with strategy '{strategy}'"


class WorkflowRun(PodNodes):
    """One workflow's execution; ``request_shutdown`` and ``mark_deleted`` may be called from other threads."""

    def __init__(self, cfg: EngineConfig, store: Store, library: TemplateLibrary, workflow: dict,
                 on_done: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.store = store
        self.library = library
        self.workflow = workflow
        self.name = workflow["metadata"]["name"]
        self.tree = NodeTree(self.name)
        self.status: dict = {}
        self.shutdown: str | None = (workflow.get("spec") or {}).get("shutdown") or None
        self.deleted = False
        self.deadline: float | None = None
        self.on_done = on_done
        self._save_lock = threading.Lock()
        self.pods: set[PodProcess] = set()
        self.container_set_pods: set[str] = set()
        self.spec: dict = {}
        self.global_scope: dict[str, str] = {}

    # --- control from the engine ------------------------------------------------------------
    def request_shutdown(self, strategy: str) -> None:
        self.shutdown = strategy

    def mark_deleted(self) -> None:
        self.deleted = True
        for pod in list(self.pods):
            pod.kill()

    @property
    def stopping(self) -> str | None:
        """Why no new pod may start: a shutdown message or the deadline message."""
        if self.shutdown:
            return shutdown_pod_message(self.shutdown)
        if self.deadline is not None and time.time() >= self.deadline:
            return DEADLINE_MESSAGE
        if self.deleted:
            return "workflow deleted"
        return None

    # --- persistence ------------------------------------------------------------------------
    def save(self) -> None:
        if self.deleted:
            return
        with self._save_lock:
            self.status["progress"] = self.tree.update_progress()
            nodes = self.tree.snapshot()
            self.store.write_status(self.name, dict(self.status), nodes)

    # --- the walk -----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as err:  # noqa: BLE001 - a bug must fail the workflow, not the engine
            LOGGER.exception("workflow %s: local engine error", self.name)
            self.status.update(phase="Error", message=f"local engine error: {err}", finishedAt=now_rfc3339())
            self.save()
        finally:
            if self.on_done:
                self.on_done(self.name)

    def _run(self) -> None:
        spec = copy.deepcopy(self.workflow.get("spec") or {})
        self.status = {"phase": "Running", "startedAt": now_rfc3339(), "finishedAt": None, "progress": "0/0"}
        ref = spec.get("workflowTemplateRef")
        if ref:
            try:
                wft = self.library.get(ref["name"])
            except TemplateNotFound as err:
                self._finish_error(str(err))
                return
            stored = join_spec(spec, wft.get("spec") or {})
            self.status["storedWorkflowTemplateSpec"] = stored
            spec = stored
        self.spec = spec
        if spec.get("activeDeadlineSeconds") is not None:
            self.deadline = time.time() + int(spec["activeDeadlineSeconds"])
        self.global_scope = {
            "workflow.name": self.name,
            "workflow.namespace": self.workflow["metadata"].get("namespace", self.cfg.namespace),
            "workflow.uid": self.workflow["metadata"].get("uid", ""),
            "workflow.serviceAccountName": spec.get("serviceAccountName", "default"),
            "workflow.creationTimestamp": self.workflow["metadata"].get("creationTimestamp", ""),
        }
        for param in (spec.get("arguments") or {}).get("parameters") or []:
            self.global_scope[f"workflow.parameters.{param['name']}"] = str(param.get("value", ""))
        self.save()
        outcome = self.execute(
            self.name, {"template": spec.get("entrypoint")}, spec.get("arguments") or {},
            boundary_id=None, display_name=self.name, scope_name=f"local/{self.name}",
        )
        if self.deleted:
            return
        root = self.tree.nodes.get(outcome.node_id, {})
        phase = {"Succeeded": "Succeeded", "Skipped": "Succeeded", "Omitted": "Succeeded",
                 "Failed": "Failed", "Error": "Error"}.get(outcome.phase, "Error")
        message = root.get("message", "")
        if phase != "Succeeded" and self.shutdown:
            message = stopped_message(self.shutdown)
        self.status.update(phase=phase, finishedAt=now_rfc3339(), conditions=[
            {"type": "PodRunning", "status": "False"}, {"type": "Completed", "status": "True"}])
        if message and phase != "Succeeded":
            self.status["message"] = message
        self.save()

    def _finish_error(self, message: str) -> None:
        self.status.update(phase="Error", message=message, finishedAt=now_rfc3339())
        self.save()

    def _resolve(self, step: dict) -> tuple[dict | None, dict | None, str]:
        """(template, templateRef, templateScope) of a step, task or entrypoint."""
        if step.get("templateRef"):
            ref = step["templateRef"]
            _, template = self.library.template(ref)
            return template, {"name": ref["name"], "template": ref["template"]}, f"namespaced/{ref['name']}"
        for template in self.spec.get("templates") or []:
            if template.get("name") == step.get("template"):
                return template, None, "local/" if self.status.get("storedWorkflowTemplateSpec") else f"local/{self.name}"
        raise TemplateNotFound(f"template {step.get('template')} not found")

    def _create(self, name: str, node_type: str, parents: list[str] | None = None, **kwargs) -> dict:
        """Create a node and link it under its parents at once, so readers always see a connected tree."""
        with self.tree.lock:
            node = self.tree.create(name, node_type, **kwargs)
            for parent in parents or []:
                self.tree.add_child(parent, node["id"])
            return node

    def execute(self, node_name: str, step: dict, args: dict, *, boundary_id: str | None, display_name: str,
                scope_name: str, parents: list[str] | None = None) -> Outcome:
        try:
            template, ref, scope_name = self._resolve(step)
        except TemplateNotFound as err:
            node = self._create(node_name, "Pod", parents, display_name=display_name, template_name=step.get("template"),
                                boundary_id=boundary_id, template_scope=scope_name, phase="Error")
            self.tree.mark(node["id"], "Error", str(err))
            self.save()
            return Outcome(node["id"], "Error")
        retry = template.get("retryStrategy") or self.spec.get("retryStrategy")
        if retry and template_kind(template) in POD_KINDS:
            return self._execute_with_retry(node_name, template, ref, args, boundary_id, display_name, scope_name, retry,
                                            parents)
        return self._execute_once(node_name, template, ref, args, boundary_id, display_name, scope_name,
                                  parents=parents)

    def _execute_with_retry(self, node_name, template, ref, args, boundary_id, display_name, scope_name, retry,
                            parents):
        node = self._create(node_name, "Retry", parents, display_name=display_name, template_name=template["name"],
                                template_ref=ref, boundary_id=boundary_id, template_scope=scope_name, phase="Running")
        limit = int(retry.get("limit", 0) or 0)
        policy = retry.get("retryPolicy") or "OnFailure"
        retryable = {"Always": {"Failed", "Error"}, "OnFailure": {"Failed"}, "OnError": {"Error"},
                     "OnTransientError": set()}.get(policy, {"Failed"})
        attempt = 0
        while True:
            child_name = f"{node_name}({attempt})"
            outcome = self._execute_once(child_name, template, ref, args, boundary_id,
                                         f"{display_name}({attempt})", scope_name, retried=True, parents=[node["id"]])
            if outcome.phase == "Succeeded":
                self._copy_outputs(node["id"], outcome.node_id)
                self.tree.mark(node["id"], "Succeeded")
                self.save()
                return Outcome(node["id"], "Succeeded", outcome.outputs)
            if self.stopping:
                self.tree.mark(node["id"], outcome.phase, self.tree.nodes[outcome.node_id].get("message", ""))
                self.save()
                return Outcome(node["id"], outcome.phase, outcome.outputs)
            if outcome.phase not in retryable or attempt >= limit:
                self._copy_outputs(node["id"], outcome.node_id)
                self.tree.mark(node["id"], outcome.phase, "No more retries left")
                self.save()
                return Outcome(node["id"], outcome.phase, outcome.outputs)
            attempt += 1

    def _set(self, node: dict, key: str, value) -> None:
        """Change a node under the tree lock (another thread may be serialising the tree)."""
        with self.tree.lock:
            node[key] = value

    def _copy_outputs(self, target: str, source: str) -> None:
        with self.tree.lock:
            outputs = self.tree.nodes[source].get("outputs")
            if outputs:
                self.tree.nodes[target]["outputs"] = copy.deepcopy(outputs)

    def _bind_inputs(self, template: dict, args: dict) -> dict[str, str]:
        given = {p["name"]: p.get("value") for p in args.get("parameters") or []}
        scope = dict(self.global_scope)
        for param in (template.get("inputs") or {}).get("parameters") or []:
            name = param["name"]
            if given.get(name) is not None:
                value = given[name]
            elif param.get("value") is not None:
                value = param["value"]
            elif param.get("default") is not None:
                value = param["default"]
            else:
                raise SubstitutionError(f"inputs.parameters.{name} was not supplied")
            value = value if isinstance(value, str) else json.dumps(value)
            if param.get("enum") and value not in [str(e) for e in param["enum"]]:
                raise SubstitutionError(f"value '{value}' of inputs.parameters.{name} is not in its enum")
            scope[f"inputs.parameters.{name}"] = value
        for art in (template.get("inputs") or {}).get("artifacts") or []:
            scope[f"inputs.artifacts.{art['name']}.path"] = art.get("path", "")
        return scope

    def _execute_once(self, node_name, template, ref, args, boundary_id, display_name, scope_name,
                      retried: bool = False, parents: list[str] | None = None) -> Outcome:
        kind = template_kind(template)
        node_type = {"steps": "Steps", "dag": "DAG"}.get(kind, "Pod")
        node = self._create(node_name, node_type, parents, display_name=display_name, template_name=template["name"],
                                template_ref=ref, boundary_id=boundary_id, template_scope=scope_name,
                                node_flag={"retried": True} if retried else None,
                                phase="Pending" if node_type == "Pod" else "Running")
        try:
            scope = self._bind_inputs(template, args)
        except SubstitutionError as err:
            self.tree.mark(node["id"], "Error", str(err))
            self.save()
            return Outcome(node["id"], "Error")
        if kind == "steps":
            return self._run_steps(node, template, scope)
        if kind == "dag":
            return self._run_dag(node, template, scope)
        return self._run_pod(node, template, scope)

    # --- steps and dag -----------------------------------------------------------------------
    def _run_steps(self, node: dict, template: dict, scope: dict) -> Outcome:
        self.save()
        previous: list[str] = [node["id"]]
        outbound: list[str] = []
        results: dict[str, Outcome] = {}
        for index, group in enumerate(template["steps"]):
            group_name = f"{node['name']}[{index}]"
            group_node = self.tree.create(group_name, "StepGroup", display_name=f"[{index}]", template_name=None,
                                          boundary_id=node["id"], template_scope=node["templateScope"], phase="Running")
            for parent in previous:
                self.tree.add_child(parent, group_node["id"])
            self.save()
            outcomes = self._parallel(
                [(f"{group_name}.{step['name']}", step) for step in group or []], node, scope, results, "steps",
                parent_ids=[group_node["id"]],
            )
            failed = next((o for o in outcomes if o.phase not in ("Succeeded", "Skipped", "Omitted")), None)
            if failed is not None:
                message = f"child '{failed.node_id}' failed"
                self.tree.mark(group_node["id"], failed.phase if failed.phase in COMPLETED else "Failed", message)
                self.tree.mark(node["id"], failed.phase if failed.phase in COMPLETED else "Failed", message)
                self._set(node, "outboundNodes", [o for x in outcomes for o in self._outbound(x.node_id)])
                self.save()
                return Outcome(node["id"], self.tree.nodes[node["id"]]["phase"])
            self.tree.mark(group_node["id"], "Succeeded")
            previous = [o for x in outcomes for o in self._outbound(x.node_id)]
            outbound = previous
        self._set(node, "outboundNodes", outbound)
        self.tree.mark(node["id"], "Succeeded")
        self.save()
        return Outcome(node["id"], "Succeeded")

    def _run_dag(self, node: dict, template: dict, scope: dict) -> Outcome:
        self.save()
        tasks = {t["name"]: t for t in template["dag"].get("tasks") or []}
        deps = {name: task_dependencies(task) for name, task in tasks.items()}
        for name, needed in deps.items():
            unknown = [d for d in needed if d not in tasks]
            if unknown:
                self.tree.mark(node["id"], "Error", f"task '{name}' depends on unknown task(s) {unknown}")
                self.save()
                return Outcome(node["id"], "Error")
        results: dict[str, Outcome] = {}
        running: dict[str, object] = {}
        failed: Outcome | None = None
        lock = threading.Condition()
        pool = ThreadPoolExecutor(max_workers=max(1, len(tasks)))

        def run_task(task_name: str) -> None:
            task = tasks[task_name]
            with lock:  # other tasks finish concurrently: work on a snapshot of the finished ones
                finished = dict(results)
            parents = [o for d in deps[task_name] for o in self._outbound(finished[d].node_id)] or [node["id"]]
            try:
                outcome = self._run_child(f"{node['name']}.{task_name}", task, node, scope, finished, "tasks",
                                          parents)
            except Exception as err:  # noqa: BLE001 - never leave the DAG waiting for a task that died
                LOGGER.exception("workflow %s: task %s", self.name, task_name)
                outcome = Outcome(self.tree.id_of(f"{node['name']}.{task_name}"), "Error")
                if outcome.node_id in self.tree.nodes:
                    self.tree.mark(outcome.node_id, "Error", f"local engine error: {err}")
            with lock:
                results[task_name] = outcome
                running.pop(task_name, None)
                lock.notify_all()

        with lock:
            while True:
                if failed is None:
                    for task_name in tasks:
                        if task_name in results or task_name in running:
                            continue
                        if all(d in results and results[d].phase == "Succeeded" for d in deps[task_name]):
                            if self.stopping:
                                continue
                            running[task_name] = pool.submit(run_task, task_name)
                bad = [o for o in results.values() if o.phase not in ("Succeeded", "Skipped", "Omitted")]
                if bad and failed is None:
                    failed = bad[0]
                if not running:
                    break
                lock.wait(0.5)
        pool.shutdown(wait=True)
        leaves = [name for name in results if not any(name in deps[o] and o in results for o in tasks)]
        self._set(node, "outboundNodes", [o for name in leaves for o in self._outbound(results[name].node_id)])
        if failed is None and len(results) < len(tasks):
            failed = Outcome(node["id"], "Failed")
            self.tree.mark(node["id"], "Failed", self.stopping or "not every task could run")
            self.save()
            return Outcome(node["id"], "Failed")
        if failed is not None:
            phase = failed.phase if failed.phase in COMPLETED else "Failed"
            self.tree.mark(node["id"], phase, f"child '{failed.node_id}' failed")
            self.save()
            return Outcome(node["id"], phase)
        self.tree.mark(node["id"], "Succeeded")
        self.save()
        return Outcome(node["id"], "Succeeded")

    def _parallel(self, items, boundary, scope, results, prefix, parent_ids) -> list[Outcome]:
        if len(items) == 1:
            name, step = items[0]
            outcome = self._run_child(name, step, boundary, scope, results, prefix, parent_ids)
            results[step["name"]] = outcome
            return [outcome]
        with ThreadPoolExecutor(max_workers=len(items)) as pool:
            futures = [pool.submit(self._run_child, name, step, boundary, scope, results, prefix, parent_ids)
                       for name, step in items]
            outcomes = [f.result() for f in futures]
        for (_, step), outcome in zip(items, outcomes):
            results[step["name"]] = outcome
        return outcomes

    def _run_child(self, name, step, boundary, scope, results, prefix, parent_ids) -> Outcome:
        child_scope = dict(scope)
        for step_name, outcome in results.items():
            for param in (outcome.outputs.get("parameters") or []):
                child_scope[f"{prefix}.{step_name}.outputs.parameters.{param['name']}"] = str(param.get("value", ""))
            if outcome.outputs.get("exitCode") is not None:
                child_scope[f"{prefix}.{step_name}.exitCode"] = str(outcome.outputs["exitCode"])
            child_scope[f"{prefix}.{step_name}.status"] = outcome.phase
        try:
            args = substitute(step.get("arguments") or {}, child_scope)
        except SubstitutionError as err:
            child = self._create(name, "Pod", parent_ids, display_name=step["name"], template_name=step.get("template"),
                                 boundary_id=boundary["id"], template_scope=boundary["templateScope"], phase="Error")
            self.tree.mark(child["id"], "Error", str(err))
            self.save()
            return Outcome(child["id"], "Error")
        if self.stopping:
            # nothing new starts after a shutdown or the deadline (Argo fails such nodes too)
            child = self._create(name, "Pod", parent_ids, display_name=step["name"], template_name=step.get("template"),
                                 boundary_id=boundary["id"], template_scope=boundary["templateScope"])
            self.tree.mark(child["id"], "Failed", self.stopping)
            self.save()
            return Outcome(child["id"], "Failed")
        outcome = self.execute(name, step, args, boundary_id=boundary["id"], display_name=step["name"],
                               scope_name=boundary["templateScope"], parents=parent_ids)
        return Outcome(outcome.node_id, outcome.phase, self._outputs_of(outcome.node_id))

    def _outputs_of(self, nid: str) -> dict:
        with self.tree.lock:
            return copy.deepcopy(self.tree.nodes.get(nid, {}).get("outputs") or {})

    def _outbound(self, nid: str) -> list[str]:
        """Argo's getOutboundNodes for the node types the engine creates."""
        node = self.tree.nodes.get(nid)
        if node is None:
            return [nid]
        if node["type"] == "Pod" and nid not in self.container_set_pods:
            return [nid]
        if node["type"] in ("Pod", "Container"):
            children = node.get("children") or []
            if not children:
                return [nid]
            result = []
            for child in children:
                child_node = self.tree.nodes.get(child, {})
                if node["type"] == "Container" and node.get("boundaryID") != child_node.get("boundaryID"):
                    result.append(nid)
                else:
                    result.extend(self._outbound(child))
            return list(dict.fromkeys(result))
        if node["type"] == "Retry":
            children = node.get("children") or []
            return [children[-1]] if children else []
        result = []
        for out in node.get("outboundNodes") or []:
            result.extend(self._outbound(out))
        return result

    # --- restart recovery ------------------------------------------------------------------------
    @staticmethod
    def interrupted(workflow: dict) -> tuple[dict, dict]:
        """Status of a workflow whose engine died: every unfinished node and the workflow fail."""
        status = dict(workflow.get("status") or {})
        nodes = status.pop("nodes", {}) or {}
        tree = NodeTree(workflow["metadata"]["name"], nodes)
        for node in tree.unfinished():
            tree.mark(node["id"], "Failed", RESTART_MESSAGE)
        status.update(phase="Failed", message=RESTART_MESSAGE, finishedAt=now_rfc3339())
        status["progress"] = tree.update_progress()
        return status, tree.nodes


def template_kind(template: dict) -> str:
    for kind in ("containerSet", "container", "script", "steps", "dag"):
        if template.get(kind):
            return kind
    return "container"
