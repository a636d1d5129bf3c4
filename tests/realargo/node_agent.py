"""A node agent for the real-Argo test stack: a kubelet that runs pods as sandboxed host processes.

It registers one Ready Node, binds every pending pod to it (there is no scheduler) and runs each pod for
real: init containers in order, then the containers, all in one bubblewrap mount namespace per pod
(so a FUSE mount made by one container, s3fs in ``s3-mount``, reaches the others). Images are not
pulled: the host environment stands in for every image, except Argo's executor image, whose
``argoexec`` is the one the stack built. Containers are started by the embedded engine's in-pod runner
(``argo_papermill/engine/runner.py``); volumes, env, status and logs are the kubelet's part and live here.

What a kubelet does that this agent does too: volumes (emptyDir, hostPath, PVC as a folder per claim,
Secret, ConfigMap, projected service-account token from the TokenRequest API with ``ca.crt`` and
``namespace``, downwardAPI), env (values, ``valueFrom`` secretKeyRef/configMapKeyRef/fieldRef, envFrom,
``KUBERNETES_SERVICE_HOST``/``PORT``), ``$(VAR)`` expansion, ``workingDir``, pod status with
conditions and container states (exit code, reason, termination message), ``activeDeadlineSeconds``,
deletion (SIGTERM, grace period, SIGKILL, then the final delete) and container logs over HTTPS
(``/containerLogs/<ns>/<pod>/<container>``, which the API server proxies as ``pods/log``), and
``pods/exec`` of the kill commands Argo's controller sends (``spdy_exec.py``). It also does the garbage
collector's part for its pods: a pod whose owning Workflow is gone is deleted.

What it does not: resource limits, cgroups, users (every container runs as the agent's user, root),
image pulls, probes, restarts (Argo's pods use ``restartPolicy: Never``), exec of other commands.

Run: ``python tests/realargo/node_agent.py --kubeconfig K --data-dir D --executor-bin DIR ...``.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kubeapi import ApiError, KubeApi  # noqa: E402
from spdy_exec import SpdyConnection, exec_status, kill_signal, negotiate  # noqa: E402

from argo_papermill.engine.pod import host_root_args  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "argo_papermill" / "engine" / "runner.py"
LOG = logging.getLogger("node-agent")
POLL_SECONDS = 0.25
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, ``$$`` is ``$``, the rest stays."""
    def repl(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)
    return VAR_REF.sub(repl, value)


def host_resolved(path: str) -> str:
    """``path`` with the host's symlinks resolved (``/var/run/argo`` -> ``/run/argo`` on Debian).

    The sandbox's root mirrors the host's, and bubblewrap cannot create a mount point through a
    symlink, so the binds go to where the symlinks lead (the container sees the same path).
    """
    head, tail = path, []
    while head not in ("/", "") and not os.path.exists(head):
        head, part = os.path.split(head)
        tail.insert(0, part)
    return os.path.join(os.path.realpath(head), *tail)


class PodConfigError(Exception):
    """A volume or env source is missing: the container waits with CreateContainerConfigError."""


class NodeAgent:
    def __init__(self, api: KubeApi, node_name: str, data_dir: Path, executor_image: str, executor_bin: Path,
                 path_prefix: list[str], api_host: str, api_port: int, kubelet_port: int,
                 tls: tuple[str, str], ca_file: str, bwrap: str = "bwrap", python: str = sys.executable):
        self.api = api
        self.node_name = node_name
        self.data_dir = data_dir
        self.executor_image = executor_image
        self.executor_bin = executor_bin
        self.path_prefix = path_prefix
        self.api_host = api_host
        self.api_port = api_port
        self.kubelet_port = kubelet_port
        self.tls = tls
        self.ca_file = ca_file
        self.bwrap = bwrap
        self.python = python
        self.runs: dict[str, PodRun] = {}
        self.stopping = threading.Event()

    # --- the node ---------------------------------------------------------------------------------
    def register(self) -> None:
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name, "labels": {
                "kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "type": "argo-papermill-node-agent"}},
        }
        self.api.apply(node)
        self.api.request("PATCH", KubeApi.path("Node", self.node_name) + "/status", {"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "argo-papermill node agent is posting ready status",
                            "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "nodeInfo": {"kubeletVersion": "v1.37.2", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "argo-papermill-node-agent://1", "kernelVersion": "",
                         "osImage": "host", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""},
        }}, content_type="application/merge-patch+json")

    def serve_logs(self) -> None:
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                self.do_GET()

            def do_GET(self):
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) >= 4 and parts[0] == "exec":
                    self.exec(parts[1], parts[2], parts[3], parse_qs(url.query))
                    return
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(404, "only /containerLogs/<namespace>/<pod>/<container> is served")
                    return
                _, namespace, pod, container = parts
                query = parse_qs(url.query)
                run = next((r for r in list(agent.runs.values())
                            if r.namespace == namespace and r.name == pod), None)
                log_file = run.log_dir / f"{container}.log" if run else None
                if log_file is None or not log_file.exists():
                    self.send_error(404, f"no log of container {container} of pod {namespace}/{pod}")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                follow = query.get("follow", ["false"])[0] == "true"
                tail = query.get("tailLines", [None])[0]
                with open(log_file, "rb") as handle:
                    data = handle.read()
                    if tail is not None:
                        data = b"".join(data.splitlines(keepends=True)[-int(tail):])
                    self.wfile.write(data)
                    while follow and not run.finished.is_set():
                        chunk = handle.read()
                        if chunk:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                        else:
                            time.sleep(0.2)
                    self.wfile.write(handle.read())

            def exec(self, namespace: str, pod: str, container: str, query: dict) -> None:
                protocol = negotiate(",".join(self.headers.get_all("X-Stream-Protocol-Version") or []))
                if "upgrade" not in (self.headers.get("Connection") or "").lower() or protocol is None:
                    self.send_error(400, "exec needs a SPDY/3.1 upgrade with a remotecommand protocol")
                    return
                run = next((r for r in list(agent.runs.values())
                            if r.namespace == namespace and r.name == pod), None)
                self.send_response(101)
                self.send_header("Connection", "Upgrade")
                self.send_header("Upgrade", "SPDY/3.1")
                self.send_header("X-Stream-Protocol-Version", protocol)
                self.end_headers()
                self.wfile.flush()
                flag = lambda name: query.get(name, ["0"])[0] in ("1", "true")  # noqa: E731
                names = ["error"] + ["stdin"] * flag("input") + ["stdout"] * flag("output") + \
                    ["stderr"] * (flag("error") and not flag("tty"))
                command = query.get("command", [])

                def run_command() -> dict:
                    sig = kill_signal(command)
                    if sig is None:
                        return exec_status(f"the node agent runs only Argo's kill commands, not {command}", 126)
                    pid = run.container_pid(container) if run else None
                    if pid is None:
                        return exec_status(f"container {container} of pod {namespace}/{pod} is not running", 1)
                    LOG.info("exec in %s/%s/%s: signal %d to pid %d", namespace, pod, container, sig, pid)
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        return exec_status("no such process", 1)
                    return exec_status(None)

                def write(data: bytes) -> None:
                    self.wfile.write(data)
                    self.wfile.flush()

                SpdyConnection(self.rfile, write).serve(names, run_command)
                self.close_connection = True

        server = ThreadingHTTPServer(("127.0.0.1", self.kubelet_port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, name="kubelet-logs", daemon=True).start()

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        self.register()
        self.serve_logs()
        last_gc = 0.0
        last_heartbeat = time.monotonic()
        while not self.stopping.is_set():
            try:
                pods = self.api.get("api/v1/pods")["items"]
                for pod in pods:
                    self.handle(pod)
                if time.monotonic() - last_gc > 2:
                    self.collect_orphans(pods)
                    last_gc = time.monotonic()
                if time.monotonic() - last_heartbeat > 20:
                    self.register()
                    last_heartbeat = time.monotonic()
            except Exception:  # the agent must keep running: log, retry on the next tick
                LOG.exception("node agent loop")
            self.stopping.wait(POLL_SECONDS)

    def handle(self, pod: dict) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        uid = meta["uid"]
        if not spec.get("nodeName"):
            if meta.get("deletionTimestamp"):
                return
            try:
                self.api.post(KubeApi.path("Pod", meta["name"], meta["namespace"]) + "/binding", {
                    "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": uid},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}})
            except ApiError as err:
                if err.status not in (404, 409):
                    raise
            return
        if spec["nodeName"] != self.node_name:
            return
        run = self.runs.get(uid)
        if run is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                if meta.get("deletionTimestamp"):
                    self.final_delete(meta)
                return
            run = PodRun(self, pod)
            self.runs[uid] = run
            run.start()
        if meta.get("deletionTimestamp"):
            if run.finished.is_set():  # its containers ended before the delete (a stop): nothing left to end
                self.final_delete(meta)
                self.runs.pop(uid, None)
            else:
                run.request_delete()

    def final_delete(self, meta: dict) -> None:
        self.api.delete(KubeApi.path("Pod", meta["name"], meta["namespace"]),
                        {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})

    def collect_orphans(self, pods: list[dict]) -> None:
        """The garbage collector's part: delete our pods whose owning Workflow is gone."""
        for pod in pods:
            meta = pod["metadata"]
            if pod["spec"].get("nodeName") != self.node_name or meta.get("deletionTimestamp"):
                continue
            for owner in meta.get("ownerReferences") or []:
                if owner.get("kind") != "Workflow":
                    continue
                try:
                    current = self.api.get(KubeApi.path("Workflow", owner["name"], meta["namespace"]))
                    gone = current["metadata"]["uid"] != owner["uid"]
                except ApiError as err:
                    gone = err.status == 404
                if gone:
                    LOG.info("pod %s/%s: owner workflow %s is gone, deleting", meta["namespace"], meta["name"],
                             owner["name"])
                    self.api.delete(KubeApi.path("Pod", meta["name"], meta["namespace"]),
                                    {"propagationPolicy": "Background"})

    def stop(self) -> None:
        self.stopping.set()
        for run in list(self.runs.values()):
            run.kill()


class PodRun(threading.Thread):
    """One pod on this node, from its volumes to its final status."""

    def __init__(self, agent: NodeAgent, pod: dict):
        super().__init__(name=f"pod-{pod['metadata']['name']}", daemon=True)
        self.agent = agent
        self.pod = pod
        self.name = pod["metadata"]["name"]
        self.namespace = pod["metadata"]["namespace"]
        self.uid = pod["metadata"]["uid"]
        self.dir = agent.data_dir / "pods" / self.uid
        self.log_dir = self.dir / "logs"
        self.deleting = threading.Event()
        self.finished = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.started_at = now()
        self.init_statuses: list[dict] = []
        self.statuses: dict[str, dict] = {}
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.started_mono = time.monotonic()

    # --- lifecycle --------------------------------------------------------------------------------
    def request_delete(self) -> None:
        if not self.deleting.is_set():
            self.deleting.set()
            self.terminate()

    def run(self) -> None:
        try:
            self._run()
        except Exception as err:  # a bug here must not leave the pod Pending for ever
            LOG.exception("pod %s", self.name)
            self.phase, self.reason, self.message = "Failed", "NodeAgentError", str(err)
            self.publish()
        finally:
            self.finished.set()
            if self.deleting.is_set():
                self.agent.final_delete(self.pod["metadata"])
                self.agent.runs.pop(self.uid, None)

    def _run(self) -> None:
        spec = self.pod["spec"]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        inits = spec.get("initContainers") or []
        containers = spec.get("containers") or []
        self.init_statuses = [self.waiting(c, "PodInitializing") for c in inits]
        self.statuses = {c["name"]: self.waiting(c, "PodInitializing" if inits else "ContainerCreating")
                         for c in containers}
        self.publish()
        while True:
            try:
                mounts = self.volumes(inits + containers)
                break
            except PodConfigError as err:
                for status in self.init_statuses + list(self.statuses.values()):
                    status["state"] = {"waiting": {"reason": "CreateContainerConfigError", "message": str(err)}}
                self.publish()
                if self.deleting.wait(2):
                    return
        for index, container in enumerate(inits):
            if self.deleting.is_set():
                return
            codes = self.sandbox(mounts, [container], init=True, index=index)
            if codes.get(container["name"], 1) != 0:
                self.finish()
                return
        if self.deleting.is_set():
            return
        self.sandbox(mounts, containers)
        self.finish()

    def finish(self) -> None:
        if self.phase not in ("Failed",) or not self.reason:
            states = [s["state"] for s in self.init_statuses + list(self.statuses.values())]
            failed = any((s.get("terminated") or {}).get("exitCode", 0) != 0 or "terminated" not in s
                         for s in states)
            self.phase = "Failed" if failed else "Succeeded"
        self.publish()

    # --- volumes ----------------------------------------------------------------------------------
    def volumes(self, containers: list[dict]) -> list[tuple[str, str, bool]]:
        """Host folders for the pod's volumes, and the (host, path, read-only) binds of its containers."""
        folders: dict[str, Path] = {}
        for volume in self.pod["spec"].get("volumes") or []:
            folders[volume["name"]] = self.volume(volume)
        binds: dict[str, tuple[str, str, bool]] = {}
        for container in containers:
            for vm in container.get("volumeMounts") or []:
                host = folders[vm["name"]]
                if vm.get("subPath"):
                    host = host / vm["subPath"]
                    host.mkdir(parents=True, exist_ok=True)
                path = vm["mountPath"]
                known = binds.get(path)
                if known and known[0] != str(host):
                    LOG.warning("pod %s: %s is mounted from two volumes; the first one wins (one mount "
                                "namespace per pod)", self.name, path)
                    continue
                binds[path] = (str(host), path, bool(vm.get("readOnly")))
        return sorted(binds.values(), key=lambda b: (b[1].count("/"), b[1]))

    def volume(self, volume: dict) -> Path:
        name = volume["name"]
        folder = self.dir / "volumes" / name
        if "hostPath" in volume:
            path = Path(volume["hostPath"]["path"])
            path.mkdir(parents=True, exist_ok=True)
            return path
        if "persistentVolumeClaim" in volume:
            claim = self.agent.data_dir / "claims" / self.namespace / volume["persistentVolumeClaim"]["claimName"]
            claim.mkdir(parents=True, exist_ok=True)
            return claim
        folder.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            folder.chmod(0o777)
        elif "secret" in volume:
            self.write_items(folder, self.secret_data(volume["secret"]["secretName"], volume["secret"]),
                             volume["secret"].get("items"), volume["secret"].get("defaultMode", 0o644))
        elif "configMap" in volume:
            self.write_items(folder, self.configmap_data(volume["configMap"]["name"], volume["configMap"]),
                             volume["configMap"].get("items"), volume["configMap"].get("defaultMode", 0o644))
        elif "downwardAPI" in volume:
            for item in volume["downwardAPI"].get("items") or []:
                self.write_file(folder / item["path"], self.field(item["fieldRef"]["fieldPath"]).encode())
        elif "projected" in volume:
            for source in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in source:
                    token = source["serviceAccountToken"]
                    self.write_file(folder / token["path"], self.token(token).encode(), 0o600)
                elif "configMap" in source:
                    ref = source["configMap"]
                    self.write_items(folder, self.configmap_data(ref["name"], ref), ref.get("items"), 0o644)
                elif "secret" in source:
                    ref = source["secret"]
                    self.write_items(folder, self.secret_data(ref["name"], ref), ref.get("items"), 0o644)
                elif "downwardAPI" in source:
                    for item in source["downwardAPI"].get("items") or []:
                        self.write_file(folder / item["path"], self.field(item["fieldRef"]["fieldPath"]).encode())
        else:
            raise PodConfigError(f'volume "{name}" has a type the node agent does not provide')
        return folder

    def write_items(self, folder: Path, data: dict[str, bytes] | None, items: list | None, mode: int) -> None:
        if data is None:
            return
        pairs = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
        for key, rel in pairs:
            if key in data:
                self.write_file(folder / rel, data[key], mode)

    @staticmethod
    def write_file(path: Path, content: bytes, mode: int = 0o644) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)

    def secret_data(self, name: str, ref: dict) -> dict[str, bytes] | None:
        try:
            secret = self.agent.api.get(KubeApi.path("Secret", name, self.namespace))
        except ApiError as err:
            if err.status == 404 and ref.get("optional"):
                return None
            raise PodConfigError(f'secret "{name}" not found') from err
        return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

    def configmap_data(self, name: str, ref: dict) -> dict[str, bytes] | None:
        try:
            cm = self.agent.api.get(KubeApi.path("ConfigMap", name, self.namespace))
        except ApiError as err:
            if err.status == 404 and ref.get("optional"):
                return None
            raise PodConfigError(f'configmap "{name}" not found') from err
        data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
        return data

    def token(self, source: dict) -> str:
        account = self.pod["spec"].get("serviceAccountName") or "default"
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [source["audience"]] if source.get("audience") else None,
            "expirationSeconds": source.get("expirationSeconds", 3607),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}}}
        path = KubeApi.path("ServiceAccount", account, self.namespace) + "/token"
        return self.agent.api.post(path, request)["status"]["token"]

    def field(self, path: str) -> str:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        simple = {
            "metadata.name": self.name, "metadata.namespace": self.namespace, "metadata.uid": self.uid,
            "spec.nodeName": self.agent.node_name, "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return simple[path]
        for key in ("labels", "annotations"):
            if path == f"metadata.{key}":
                return "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get(key) or {}).items()))
            match = re.fullmatch(rf"metadata\.{key}\['(.+)'\]", path)
            if match:
                return (meta.get(key) or {}).get(match.group(1), "")
        raise PodConfigError(f"fieldRef {path} is not supported by the node agent")

    # --- containers -------------------------------------------------------------------------------
    def environment(self, container: dict) -> dict[str, str]:
        image = container.get("image", "")
        path = os.pathsep.join(
            ([str(self.agent.executor_bin)] if image == self.agent.executor_image else [])
            + self.agent.path_prefix + [os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
        env = {"PATH": path, "HOSTNAME": self.name, "LANG": "C.UTF-8", "HOME": "/root",
               "KUBERNETES_SERVICE_HOST": self.agent.api_host,
               "KUBERNETES_SERVICE_PORT": str(self.agent.api_port),
               "KUBERNETES_SERVICE_PORT_HTTPS": str(self.agent.api_port),
               "KUBERNETES_PORT": f"tcp://{self.agent.api_host}:{self.agent.api_port}"}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                data = self.secret_data(source["secretRef"]["name"], source["secretRef"]) or {}
            else:
                data = self.configmap_data(source["configMapRef"]["name"], source["configMapRef"]) or {}
            env.update({prefix + k: v.decode() for k, v in data.items()})
        for item in container.get("env") or []:
            source = item.get("valueFrom")
            if source is None:
                env[item["name"]] = expand(str(item.get("value", "")), env)
            elif "fieldRef" in source:
                env[item["name"]] = self.field(source["fieldRef"]["fieldPath"])
            elif "secretKeyRef" in source or "configMapKeyRef" in source:
                secret = "secretKeyRef" in source
                ref = source["secretKeyRef" if secret else "configMapKeyRef"]
                data = (self.secret_data if secret else self.configmap_data)(ref["name"], ref)
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise PodConfigError(f'couldn\'t find key {ref["key"]} in {"Secret" if secret else "ConfigMap"} '
                                         f'{self.namespace}/{ref["name"]}')
                env[item["name"]] = data[ref["key"]].decode()
            elif "resourceFieldRef" in source:
                env[item["name"]] = "0"
        return env

    def runner_container(self, container: dict) -> dict:
        env = self.environment(container)
        argv = [expand(str(a), env) for a in (container.get("command") or []) + (container.get("args") or [])]
        if not argv:
            raise PodConfigError(f"container {container['name']}: no command (the image's entrypoint is unknown "
                                 "to the node agent)")
        return {"name": container["name"], "argv": argv, "env": env, "cwd": container.get("workingDir"),
                "dependencies": []}

    def sandbox(self, mounts: list[tuple[str, str, bool]], containers: list[dict], init: bool = False,
                index: int = 0) -> dict[str, int]:
        """Run ``containers`` in the pod's sandbox until they end; returns their exit codes."""
        tag = f"init-{index}" if init else "main"
        work = self.dir / tag
        work.mkdir(parents=True, exist_ok=True)
        termination = work / "termination-log"
        termination.touch()
        try:
            runner_containers = [self.runner_container(c) for c in containers]
        except PodConfigError as err:
            for c in containers:
                self.container_status(c["name"], init)["state"] = {
                    "terminated": {"exitCode": 128, "reason": "CreateContainerConfigError", "message": str(err),
                                   "startedAt": now(), "finishedAt": now()}}
            self.publish()
            return {c["name"]: 128 for c in containers}
        grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        # a kubelet does not end the others when one container fails: Argo's controller does (by pods/exec)
        spec = {"containers": runner_containers, "status_file": str(work / "status.jsonl"),
                "control_file": str(work / "control"), "log_dir": str(self.log_dir), "grace_seconds": grace,
                "terminate_on_failure": False}
        spec_file = work / "runner.json"
        fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(spec, handle)
        argv = [self.agent.bwrap, *host_root_args(), "--tmpfs", "/run", "--dev", "/dev",
                "--dev-bind", "/dev/fuse", "/dev/fuse", "--bind", str(termination), "/dev/termination-log",
                "--unshare-pid", "--die-with-parent"]
        for host, path, read_only in mounts:
            argv += ["--ro-bind" if read_only else "--bind", host, host_resolved(path)]
        # a volume at /tmp (Argo's tmp-dir-argo, the job's scratch) must not hide the host folders that
        # stand in for the image (this checkout, its venv) or hold the pod's own files (the agent's data)
        for keep in sorted({str(ROOT), sys.prefix, str(self.agent.data_dir), str(self.agent.executor_bin)}):
            if any(keep.startswith(host_resolved(path).rstrip("/") + "/") for _, path, _ in mounts):
                argv += ["--bind", keep, keep]
        argv += ["--", self.agent.python, "-I", "-S", str(RUNNER), str(spec_file)]
        (work / "status.jsonl").touch()
        with open(self.log_dir / f"sandbox-{tag}.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        if not init:
            self.phase = "Running"
        codes: dict[str, int] = {}
        offset = 0
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        killed_at: float | None = None
        while True:
            alive = self.proc.poll() is None
            with open(work / "status.jsonl", encoding="utf-8") as handle:
                handle.seek(offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind("\n") + 1]
            offset += len(complete.encode())
            changed = False
            for line in complete.splitlines():
                event = json.loads(line)
                name = event.get("container")
                if event.get("event") == "started":
                    self.container_status(name, init).update(
                        state={"running": {"startedAt": now()}}, started=True, ready=True)
                    changed = True
                elif event.get("event") == "terminated":
                    status = self.container_status(name, init)
                    started = (status["state"].get("running") or {}).get("startedAt", now())
                    message = event.get("message") or self.read_termination(termination)
                    reason = event.get("reason") or ("Completed" if event["exitCode"] == 0 else "Error")
                    terminated = {"exitCode": event["exitCode"], "reason": reason, "startedAt": started,
                                  "finishedAt": now()}
                    if message:
                        terminated["message"] = message
                    status.update(state={"terminated": terminated}, ready=False, started=False)
                    codes[name] = event["exitCode"]
                    changed = True
            if changed:
                self.publish()
            if not alive:
                break
            if (deadline is not None and killed_at is None and self.reason is None
                    and time.monotonic() - self.started_mono > float(deadline)):
                self.phase, self.reason = "Failed", "DeadlineExceeded"
                self.message = f"Pod was active on the node longer than the specified deadline"
                self.terminate()
                killed_at = time.monotonic()
            if self.deleting.is_set() and killed_at is None:
                killed_at = time.monotonic()
            if killed_at is not None and time.monotonic() - killed_at > float(grace) + 5:
                self.kill()
            time.sleep(0.1)
        for container in containers:
            status = self.container_status(container["name"], init)
            if "terminated" not in status["state"]:
                status["state"] = {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": now(),
                                                  "finishedAt": now()}}
                codes[container["name"]] = 137
        return codes

    def container_pid(self, name: str) -> int | None:
        """The host pid of a running container's first process (its emissary): "PID 1" of the container.

        The runner reports pids as its sandbox's pid namespace numbers them; the host pid is the process in
        that namespace whose innermost NSpid is that number.
        """
        events = [json.loads(line) for line in (self.dir / "main" / "status.jsonl").read_text().splitlines()
                  if line.strip()]
        runner = next((e["pid"] for e in events if e.get("event") == "runner-started"), None)
        started = {e["container"]: e["pid"] for e in events if e.get("event") == "started"}
        ended = {e["container"] for e in events if e.get("event") == "terminated"}
        if runner is None or name not in started or name in ended:
            return None
        try:
            namespace = os.readlink(f"/proc/{runner}/ns/pid")
        except OSError:
            return None
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry.name}/ns/pid") != namespace:
                    continue
                nspid = next(line for line in Path(f"/proc/{entry.name}/status").read_text().splitlines()
                             if line.startswith("NSpid:"))
            except (OSError, StopIteration):
                continue
            if int(nspid.split()[-1]) == started[name]:
                return int(entry.name)
        return None

    @staticmethod
    def read_termination(path: Path) -> str:
        try:
            text = path.read_text(errors="replace")[:4096]
            path.write_text("")
            return text
        except OSError:
            return ""

    def terminate(self) -> None:
        for control in self.dir.glob("*/control"):
            control.write_text("terminate\n")
        for work in self.dir.glob("*/runner.json"):
            (work.parent / "control").write_text("terminate\n")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # --- status -----------------------------------------------------------------------------------
    def waiting(self, container: dict, reason: str) -> dict:
        return {"name": container["name"], "image": container.get("image", ""),
                "imageID": container.get("image", ""), "containerID": f"nodeagent://{self.uid}/{container['name']}",
                "ready": False, "started": False, "restartCount": 0,
                "state": {"waiting": {"reason": reason}}}

    def container_status(self, name: str, init: bool) -> dict:
        if init:
            return next(s for s in self.init_statuses if s["name"] == name)
        return self.statuses[name]

    def publish(self) -> None:
        inits_done = all("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0
                         for s in self.init_statuses)
        ready = bool(self.statuses) and all(s.get("ready") for s in self.statuses.values())
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": self.started_at},
            {"type": "Initialized", "status": "True" if inits_done else "False", "lastTransitionTime": now()},
            {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": now()},
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now()},
        ]
        status = {"phase": self.phase, "conditions": conditions, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
                  "podIPs": [{"ip": "127.0.0.1"}], "hostIPs": [{"ip": "127.0.0.1"}], "startTime": self.started_at,
                  "initContainerStatuses": self.init_statuses or None,
                  "containerStatuses": list(self.statuses.values()), "reason": self.reason,
                  "message": self.message}
        try:
            self.agent.api.patch(KubeApi.path("Pod", self.name, self.namespace) + "/status", {"status": status})
        except ApiError as err:
            if err.status != 404:
                LOG.warning("pod %s: status update failed: %s", self.name, err)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--node-name", default="argo-papermill-node")
    parser.add_argument("--executor-image", required=True)
    parser.add_argument("--executor-bin", required=True, type=Path)
    parser.add_argument("--path-prefix", action="append", default=[])
    parser.add_argument("--kubelet-port", type=int, required=True)
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    api = KubeApi.from_kubeconfig(args.kubeconfig)
    server = urlparse(api.server)
    agent = NodeAgent(api, args.node_name, args.data_dir, args.executor_image, args.executor_bin,
                      args.path_prefix, server.hostname or "127.0.0.1", server.port or 443, args.kubelet_port,
                      (args.tls_cert, args.tls_key), api.ca_file or "")
    signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    try:
        agent.run()
    finally:
        agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
