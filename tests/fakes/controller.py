"""A fake Argo controller: advances Workflows in a fake API through Argo-shaped status.

Each Workflow goes ``""`` -> Running with its containerSet Pod node Pending
(``ContainerCreating``, i.e. OGC accepted) -> Running with the papermill container running
-> Succeeded or Failed, with node ids, names, types, phases, progress, messages and the
``workflows.argoproj.io/phase`` / ``completed`` labels as Argo writes them. The papermill step
is real: ``ScenarioRunner`` executes the scenario notebook with papermill and the result
notebook lands under the pod path mapped to ``home_dir``. ``spec.shutdown`` stops a workflow
as Argo does (``Stopped with strategy 'Stop'``). Scenario ``hold`` keeps running until stopped.
"""

from __future__ import annotations

import json
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from argo_papermill import contract

from fakes.notebooks import shared_runner

PHASE_LABEL = "workflows.argoproj.io/phase"
COMPLETED_LABEL = "workflows.argoproj.io/completed"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(wf_name: str, node_name: str) -> str:
    return f"{wf_name}-{zlib.crc32(node_name.encode())}"


def param(wf: dict, name: str, default: str = "") -> str:
    for p in ((wf.get("spec") or {}).get("arguments") or {}).get("parameters") or []:
        if p.get("name") == name:
            return str(p.get("value", default))
    return default


def nodes_for(wf: dict, pod_phase: str, pm_phase: str, main_phase: str, message: str = "",
              pm_message: str = "", error_record: dict | None = None, started: str | None = None,
              finished: str | None = None) -> dict:
    """A containerSet pod node with its papermill and main container nodes."""
    name = wf["metadata"]["name"]
    done = {"Succeeded", "Skipped", "Omitted"}
    pm_id, main_id = node_id(name, f"{name}.papermill"), node_id(name, f"{name}.main")

    def prog(phase):
        return "1/1" if phase in done else "0/1"

    n_done = sum(p in done for p in (pod_phase, pm_phase, main_phase))
    pod = {"id": name, "name": name, "displayName": name, "type": "Pod", "templateName": "notebook",
           "templateScope": f"local/{name}", "phase": pod_phase, "startedAt": started, "finishedAt": finished,
           "progress": f"{n_done}/3", "children": [pm_id, main_id], "hostNodeName": "node-1"}
    if message:
        pod["message"] = message
    if error_record is not None:
        pod["outputs"] = {"parameters": [{"name": "error", "value": json.dumps(error_record)}], "exitCode": "1"}
    pm = {"id": pm_id, "name": f"{name}.papermill", "displayName": "papermill", "type": "Container",
          "templateName": "notebook", "templateScope": f"local/{name}", "phase": pm_phase, "boundaryID": name,
          "startedAt": started, "finishedAt": finished if pm_phase not in ("Pending", "Running") else None,
          "progress": prog(pm_phase), "children": [main_id]}
    if pm_message:
        pm["message"] = pm_message
    main = {"id": main_id, "name": f"{name}.main", "displayName": "main", "type": "Container",
            "templateName": "notebook", "templateScope": f"local/{name}", "phase": main_phase, "boundaryID": name,
            "startedAt": started, "finishedAt": finished if main_phase not in ("Pending", "Running") else None,
            "progress": prog(main_phase)}
    return {name: pod, pm_id: pm, main_id: main}


def set_phase(wf: dict, phase: str) -> None:
    labels = wf["metadata"].setdefault("labels", {})
    labels[PHASE_LABEL] = phase
    labels[COMPLETED_LABEL] = "true" if phase in ("Succeeded", "Failed", "Error") else "false"
    wf.setdefault("status", {})["phase"] = phase


class FakeController:
    """Advance workflows of ``namespace`` in ``store`` (FakeKube or FakeArgoServer) every ``tick`` seconds."""

    def __init__(self, store, namespace: str, home_dir: Path, tick: float = 0.05, runner=None):
        self.store, self.namespace, self.home_dir, self.tick = store, namespace, Path(home_dir), tick
        self.runner = runner or shared_runner()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fake-papermill")
        self._runs: dict[str, Future] = {}
        self.paused = False
        self._thread = threading.Thread(target=self._loop, name="fake-argo-controller", daemon=True)

    def start(self) -> "FakeController":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.paused:
                for wf in self.store.workflows(self.namespace):
                    try:
                        self.step(wf)
                    except Exception as exc:  # noqa: BLE001 - keep the controller alive, as Argo's does
                        print("fake controller:", type(exc).__name__, exc)
            self._stop.wait(self.tick)

    def _mutate(self, name: str, fn) -> None:
        self.store.mutate(self.namespace, name, fn)

    def local_path(self, pod_path: str) -> Path:
        rel = Path(pod_path).relative_to(contract.JOB_HOME)
        return self.home_dir / rel

    def step(self, wf: dict) -> None:
        name = wf["metadata"]["name"]
        status = wf.get("status") or {}
        phase = status.get("phase") or ""
        if phase in ("Succeeded", "Failed", "Error") or wf["metadata"].get("deletionTimestamp"):
            return
        if (wf.get("spec") or {}).get("shutdown"):
            return self._mutate(name, self._stopped)
        if phase == "":
            return self._mutate(name, self._accepted)
        pod = (status.get("nodes") or {}).get(name) or {}
        if pod.get("phase") == "Pending":
            return self._mutate(name, self._running)
        if param(wf, "scenario") == "hold":
            return
        fut = self._runs.get(name)
        if fut is None and param(wf, "notebook"):  # a NotebookProcessor workflow: run its notebook for real
            self._runs[name] = self._pool.submit(self.run_notebook_workflow, wf)
            return
        if fut is None:
            annotations = wf["metadata"].get("annotations") or {}
            results_dir = self.local_path(annotations[contract.ANNOTATION_RESULTS_DIRECTORY])
            self._runs[name] = self._pool.submit(self.runner.run, param(wf, "scenario"), int(param(wf, "x", "5")),
                                                 results_dir)
            return
        if fut.done():
            ok = fut.result()
            self._mutate(name, self._succeeded if ok else self._failed)

    _env_lock = threading.Lock()

    def run_notebook_workflow(self, wf: dict) -> bool:
        """What the papermill container of NotebookProcessor's workflow does, on this machine.

        The workflow parameters (pod paths) are mapped to ``home_dir``; ``parameters`` is papermill's
        base64 YAML (``-b``). True when the notebook succeeded.
        """
        import base64
        import os

        import papermill
        import yaml

        nb = self.local_path(param(wf, "notebook"))
        results = self.local_path(param(wf, "results-directory"))
        out = self.local_path(param(wf, "output-notebook")) if param(wf, "output-notebook") else \
            results / (nb.stem + "_result.ipynb")
        cwd = self.local_path(param(wf, "cwd")) if param(wf, "cwd") else nb.parent
        raw = param(wf, "parameters")
        parameters = yaml.safe_load(base64.b64decode(raw)) if raw else {}
        results.mkdir(parents=True, exist_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        with self._env_lock:  # the kernel inherits the environment at its start
            old = os.environ.get("RESULTS_DIRECTORY")
            os.environ["RESULTS_DIRECTORY"] = str(results)
            try:
                papermill.execute_notebook(str(nb), str(out), parameters=parameters or {}, cwd=str(cwd),
                                           kernel_name=param(wf, "kernel") or None, progress_bar=False)
                return True
            except papermill.PapermillExecutionError:
                return False
            finally:
                if old is None:
                    os.environ.pop("RESULTS_DIRECTORY", None)
                else:
                    os.environ["RESULTS_DIRECTORY"] = old

    # ---- transitions (run inside store.mutate)
    @staticmethod
    def _accepted(wf: dict) -> None:
        set_phase(wf, "Running")
        st = wf["status"]
        st["startedAt"] = now()
        st["finishedAt"] = None
        st["progress"] = "0/3"
        st["nodes"] = nodes_for(wf, "Pending", "Pending", "Pending", message="ContainerCreating",
                                started=st["startedAt"])

    def _running(self, wf: dict) -> None:
        st = wf["status"]
        st["progress"] = "0/3"
        st["nodes"] = nodes_for(wf, "Running", "Running", "Pending", started=st["startedAt"])
        st["nodes"][wf["metadata"]["name"]]["progress"] = "1/2"  # self-reported N/M of the notebook
        name = wf["metadata"]["name"]
        text = f"Executing notebook for {name}\nCell 1/2\n"
        if hasattr(self.store, "add_pod"):
            self.store.add_pod(self.namespace, name, {"workflows.argoproj.io/workflow": name},
                               {"papermill": text, "main": ""})
        if hasattr(self.store, "logs"):
            self.store.logs[(self.namespace, name)] = [(name, line) for line in text.splitlines()]

    @staticmethod
    def _finish(wf: dict, phase: str, progress: str, pm_phase: str, main_phase: str, **node_kw) -> None:
        set_phase(wf, phase)
        st = wf["status"]
        st["finishedAt"] = now()
        st["progress"] = progress
        st["nodes"] = nodes_for(wf, phase, pm_phase, main_phase, started=st["startedAt"], finished=st["finishedAt"],
                                **node_kw)

    @classmethod
    def _succeeded(cls, wf: dict) -> None:
        cls._finish(wf, "Succeeded", "3/3", "Succeeded", "Succeeded")

    @classmethod
    def _failed(cls, wf: dict) -> None:
        record = {"cell_index": 1, "execution_count": 2, "ename": "ZeroDivisionError", "evalue": "division by zero"}
        cls._finish(wf, "Failed", "0/3", "Failed", "Omitted", message="papermill: Error (exit code 1)",
                    pm_message="Error (exit code 1)", error_record=record)
        wf["status"]["message"] = f"child '{wf['metadata']['name']}' failed"

    @staticmethod
    def _stopped(wf: dict) -> None:
        set_phase(wf, "Failed")
        st = wf.setdefault("status", {})
        st["finishedAt"] = now()
        st.setdefault("startedAt", st["finishedAt"])
        st["message"] = "Stopped with strategy 'Stop'"
        st["nodes"] = nodes_for(wf, "Failed", "Failed", "Failed", message="workflow shutdown with strategy:  Stop",
                                started=st["startedAt"], finished=st["finishedAt"])
