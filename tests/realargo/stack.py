"""Start and stop the real-Argo test stack (``scripts/argo-stack up DIR`` / ``down DIR`` call this).

``up`` starts, each in its own process group with its log under ``DIR/logs``: etcd, the Kubernetes API
server (TLS and service-account keys made here with openssl), the node agent, Argo's workflow-controller
and the Argo Server (``--auth-mode client``: every call is checked against the RBAC of the caller's
token). It installs what a cluster's controller-manager and an operator would: Argo's CRDs from the same
Argo module, namespaces ``argo`` and ``argo-papermill`` with their ``default`` ServiceAccount and
``kube-root-ca.crt`` ConfigMap, the RBAC of ``examples/kubernetes/`` and the controller's ConfigMap.
It writes ``DIR/kubeconfig`` (cluster admin, namespace ``argo-papermill``), ``DIR/server.kubeconfig``
(the ``argo-papermill`` ServiceAccount of server-rbac.yaml), ``DIR/env`` (shell syntax: ARGO_SERVER_URL,
ARGO_TOKEN, KUBECONFIG, ...) and ``DIR/stack.json`` (the same, plus pids), then returns.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kubeapi import ApiError, KubeApi  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "argo-papermill"
ARGO_NAMESPACE = "argo"
EXECUTOR_IMAGE = "argoexec:stack"
SERVER_ACCOUNT = "argo-papermill"
JOB_ACCOUNT = "argo-papermill-job"
PROGRESS_PATCH_TICK = "2s"
PROGRESS_FILE_TICK = "1s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA, serving certificates for the API server and the node agent, and the service-account keys."""
    pki.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
            "-subj", "/CN=argo-papermill-stack-ca", cwd=pki)
    for name, sans in (("apiserver", "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                                     "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"),
                       ("kubelet", "IP:127.0.0.1,DNS:localhost")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=pki)
        (pki / f"{name}.ext").write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                                         "extendedKeyUsage=serverAuth,clientAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "3650", "-extfile", f"{name}.ext", cwd=pki)
    openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


class Stack:
    def __init__(self, dir: Path):
        self.dir = dir.resolve()
        self.logs = self.dir / "logs"
        self.state_file = self.dir / "stack.json"
        self.state: dict = json.loads(self.state_file.read_text()) if self.state_file.exists() else {"pids": {}}

    def running(self) -> bool:
        return any(_alive(pid) for pid in (self.state.get("pids") or {}).values())

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=2))

    def spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env={**os.environ, **(env or {})}, cwd=self.dir)
        self.state["pids"][name] = proc.pid
        self.save()
        return proc

    def wait_for(self, what: str, check, proc: subprocess.Popen, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.logs / f"{what}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{what} exited with {proc.returncode}; log tail:\n{tail}")
            try:
                if check():
                    return
            except Exception:
                pass
            time.sleep(0.3)
        tail = (self.logs / f"{what}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{what} not ready after {timeout:.0f} s; log tail:\n{tail}")

    # ------------------------------------------------------------------------------------------------
    def up(self, kube_bin: Path, argo_bin: Path, argo_src: Path, argo_version: str) -> None:
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state = {"pids": {}, "argo_version": argo_version}
        pki = self.dir / "pki"
        if not (pki / "sa.pub").exists():
            make_pki(pki)
        ports = {name: free_port() for name in ("etcd", "etcd_peer", "apiserver", "kubelet", "argo_server",
                                                "controller_metrics", "controller_health")}
        self.state["ports"] = ports
        admin_token = secrets.token_hex(24)
        (pki / "tokens.csv").write_text(f"{admin_token},stack-admin,stack-admin,system:masters\n")
        os.chmod(pki / "tokens.csv", 0o600)

        etcd = self.spawn("etcd", [str(kube_bin / "etcd"), "--data-dir", str(self.dir / "etcd-data"),
                                   "--listen-client-url", f"http://127.0.0.1:{ports['etcd']}",
                                   "--listen-peer-url", f"http://127.0.0.1:{ports['etcd_peer']}"])
        self.wait_for("etcd", lambda: socket.create_connection(("127.0.0.1", ports["etcd"]), 1).close() or True,
                      etcd)

        issuer = "https://kubernetes.default.svc.cluster.local"
        apiserver = self.spawn("kube-apiserver", [
            str(kube_bin / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1", f"--secure-port={ports['apiserver']}", "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=RBAC", "--allow-privileged=true",
            f"--service-account-issuer={issuer}", f"--api-audiences={issuer}",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-max-token-expiration=48h",
            "--service-cluster-ip-range=10.96.0.0/24",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            f"--kubelet-client-certificate={pki / 'apiserver.crt'}",
            f"--kubelet-client-key={pki / 'apiserver.key'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--cert-dir={self.dir / 'apiserver-certs'}", "--profiling=false", "--v=1",
        ])
        server_url = f"https://127.0.0.1:{ports['apiserver']}"
        api = KubeApi(server_url, admin_token, str(pki / "ca.crt"))
        self.wait_for("kube-apiserver", lambda: api.request("GET", "readyz").status_code == 200, apiserver)
        admin_kubeconfig = self.write_kubeconfig("kubeconfig", server_url, pki / "ca.crt", "stack-admin", admin_token)

        self.bootstrap(api, pki, argo_src)
        server_token = api.post(KubeApi.path("ServiceAccount", SERVER_ACCOUNT, NAMESPACE) + "/token", {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 172800}})["status"]["token"]
        server_kubeconfig = self.write_kubeconfig("server.kubeconfig", server_url, pki / "ca.crt",
                                                  SERVER_ACCOUNT, server_token)

        agent = self.spawn("node-agent", [
            sys.executable, str(ROOT / "tests" / "realargo" / "node_agent.py"),
            "--kubeconfig", str(admin_kubeconfig), "--data-dir", str(self.dir / "node"),
            "--executor-image", EXECUTOR_IMAGE, "--executor-bin", str(argo_bin),
            "--path-prefix", str(Path(sys.executable).parent),
            "--kubelet-port", str(ports["kubelet"]),
            "--tls-cert", str(pki / "kubelet.crt"), "--tls-key", str(pki / "kubelet.key"),
        ])
        self.wait_for("node-agent", lambda: _node_ready(api), agent)

        controller = self.spawn("workflow-controller", [
            str(argo_bin / "workflow-controller"), "--kubeconfig", str(admin_kubeconfig),
            "--namespace", ARGO_NAMESPACE, "--configmap", "workflow-controller-configmap",
            "--executor-image", EXECUTOR_IMAGE, "--loglevel", "info",
        ], env={"LEADER_ELECTION_DISABLE": "true",
                "DEFAULT_REQUEUE_TIME": "1s",  # as Argo's own dev and e2e setup (Makefile, tasks.yaml)
                "ARGO_PROGRESS_PATCH_TICK_DURATION": PROGRESS_PATCH_TICK,
                "ARGO_PROGRESS_FILE_TICK_DURATION": PROGRESS_FILE_TICK})
        self.wait_for("workflow-controller", lambda: _controller_ready(self.logs / "workflow-controller.log"),
                      controller)

        argo_server = self.spawn("argo-server", [
            str(argo_bin / "argo"), "server", "--kubeconfig", str(admin_kubeconfig), "--namespace", ARGO_NAMESPACE,
            "--auth-mode", "client", "--secure=false", "--port", str(ports["argo_server"]),
            "--x-frame-options", "SAMEORIGIN",
        ], env={"KUBECONFIG": str(admin_kubeconfig)})  # client auth mode builds its clients from $KUBECONFIG
        argo_url = f"http://127.0.0.1:{ports['argo_server']}"
        import requests

        self.wait_for("argo-server", lambda: requests.get(
            f"{argo_url}/api/v1/version", headers={"Authorization": f"Bearer {server_token}"},
            timeout=2).status_code == 200, argo_server)

        env = {
            "KUBECONFIG": str(admin_kubeconfig), "ARGO_STACK_SERVER_KUBECONFIG": str(server_kubeconfig),
            "ARGO_SERVER_URL": argo_url, "ARGO_TOKEN": server_token, "ARGO_NAMESPACE": NAMESPACE,
            "ARGO_VERSION": argo_version, "ARGO_STACK_DIR": str(self.dir),
            "ARGO_STACK_NODE_DIR": str(self.dir / "node"),
        }
        (self.dir / "env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
        os.chmod(self.dir / "env", 0o600)
        self.state.update(env=env, admin_token=admin_token, started_in_seconds=round(time.monotonic() - started, 1))
        self.save()
        os.chmod(self.state_file, 0o600)
        print(f"argo-stack: up in {time.monotonic() - started:.1f} s; Argo {argo_version}; "
              f"source {self.dir / 'env'}", file=sys.stderr)

    def write_kubeconfig(self, name: str, server: str, ca: Path, user: str, token: str) -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "argo-stack",
            "clusters": [{"name": "argo-stack", "cluster": {"server": server, "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "argo-stack", "context": {"cluster": "argo-stack", "user": user,
                                                           "namespace": NAMESPACE}}],
        }
        path = self.dir / name
        path.write_text(yaml.safe_dump(config))
        os.chmod(path, 0o600)
        return path

    def bootstrap(self, api: KubeApi, pki: Path, argo_src: Path) -> None:
        """What a controller-manager and an operator would have made before the first Workflow."""
        for crd in sorted((argo_src / "manifests" / "base" / "crds" / "full").glob("argoproj.io_*.yaml")):
            api.apply_yaml(crd.read_text())
        ca = (pki / "ca.crt").read_text()
        for ns in (ARGO_NAMESPACE, NAMESPACE):
            api.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            _retry(lambda ns=ns: api.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                                            "metadata": {"name": "default", "namespace": ns}}))
            api.apply({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "kube-root-ca.crt", "namespace": ns}, "data": {"ca.crt": ca}})
        for manifest in ("server-rbac.yaml", "job-rbac.yaml"):
            api.apply_yaml((ROOT / "examples" / "kubernetes" / manifest).read_text(), NAMESPACE)
        api.apply({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "workflow-controller-configmap", "namespace": ARGO_NAMESPACE},
                   "data": {"config": yaml.safe_dump(controller_config())}})
        for crd in ("workflows", "workflowtemplates", "workflowtaskresults"):
            _retry(lambda crd=crd: _established(api, f"{crd}.argoproj.io"))

    # ------------------------------------------------------------------------------------------------
    def down(self) -> None:
        pids = self.state.get("pids") or {}
        for name in reversed(list(pids)):
            _signal_group(pids[name], signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids.values()):
            time.sleep(0.2)
        for pid in pids.values():
            _signal_group(pid, signal.SIGKILL)
        self.state["pids"] = {}
        self.save()
        print(f"argo-stack: stopped {len(pids)} processes of {self.dir}", file=sys.stderr)


def controller_config() -> dict:
    """The workflow-controller's ConfigMap: no metrics listeners, the executor image the node agent maps."""
    return {
        "metricsConfig": {"enabled": False},
        "telemetryConfig": {"enabled": False},
        "executor": {"imagePullPolicy": "IfNotPresent"},
    }


def _retry(call, attempts: int = 50, pause: float = 0.2):
    for attempt in range(attempts):
        try:
            result = call()
            if result is not False:
                return result
        except ApiError:
            if attempt == attempts - 1:
                raise
        time.sleep(pause)
    raise RuntimeError("gave up waiting")


def _established(api: KubeApi, name: str) -> bool:
    crd = api.get(KubeApi.path("CustomResourceDefinition", name))
    return any(c["type"] == "Established" and c["status"] == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def _node_ready(api: KubeApi) -> bool:
    nodes = api.get("api/v1/nodes")["items"]
    return any(c["type"] == "Ready" and c["status"] == "True"
               for n in nodes for c in (n.get("status") or {}).get("conditions") or [])


def _controller_ready(log: Path) -> bool:
    text = log.read_text(errors="replace")
    return "Starting Workflow Controller" in text or "Started Workflow Controller" in text \
        or "Starting workflow garbage collector" in text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of ours counts as gone
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the real-Argo test stack")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("dir", type=Path)
    up.add_argument("--kube-bin", type=Path, required=True)
    up.add_argument("--argo-bin", type=Path, required=True)
    up.add_argument("--argo-src", type=Path, required=True)
    up.add_argument("--argo-version", required=True)
    down = sub.add_parser("down")
    down.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    stack = Stack(args.dir)
    if args.command == "up":
        if stack.running():
            raise SystemExit(f"a stack is already running in {stack.dir} (scripts/argo-stack down {stack.dir})")
        try:
            stack.up(args.kube_bin, args.argo_bin, args.argo_src, args.argo_version)
        except BaseException:
            stack.down()
            raise
    else:
        stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
