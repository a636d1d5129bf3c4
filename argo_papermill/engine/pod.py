"""One pod on this machine: its volumes, containers and the sandbox that runs them.

A pod is one sandbox (one mount namespace, one pid namespace; bubblewrap, else util-linux's
``unshare`` with a user namespace) over the host filesystem, with each declared volume bound at its
mount path; inside, the runner
(``argo_papermill.engine.runner``) starts the containers. Killing the sandbox kills
every process of the pod, and ``--die-with-parent`` ties it to the engine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from argo_papermill.contract import CONTAINER_S3, ENV_PROGRESS_FILE, JOB_HOME, TMP_PATH
from argo_papermill.engine.config import EngineConfig


class PodError(Exception):
    """The pod cannot be created; the message is what the node shows."""


@dataclass
class Mount:
    host: Path
    path: str
    read_only: bool = False


@dataclass
class PodPlan:
    name: str
    dir: Path
    log_dir: Path
    mounts: list[Mount]
    containers: list[dict]
    progress_file: Path
    status_file: Path
    control_file: Path
    artifacts: list[tuple[dict, Path]] = field(default_factory=list)

    def host_path(self, pod_path: str) -> Path:
        """Where a path inside the pod lives on the host (longest mount first)."""
        best: Mount | None = None
        for mount in self.mounts:
            if pod_path == mount.path or pod_path.startswith(mount.path.rstrip("/") + "/"):
                if best is None or len(mount.path) > len(best.path):
                    best = mount
        if best is None:
            return Path(pod_path)
        rest = pod_path[len(best.path):].lstrip("/")
        return best.host / rest if rest else best.host


def plan_pod(
    cfg: EngineConfig, workflow_name: str, spec: dict, template: dict, pod_name: str, attempt_dir: Path
) -> PodPlan:
    """Resolve volumes, env and argv of a container, script or containerSet template."""
    pod_dir = attempt_dir
    log_dir = cfg.data_dir / "logs" / workflow_name / pod_name
    for folder in (pod_dir, log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    volumes = {v["name"]: v for v in (spec.get("volumes") or []) + (template.get("volumes") or [])}
    raw = _raw_containers(template, pod_dir)
    if any(c.get("name") == CONTAINER_S3 for c in raw):
        problem = fuse_problem(cfg.fuse_device)
        if problem:
            raise PodError(f"{CONTAINER_S3}: {problem}")
    mounts: dict[str, Mount] = {}
    shared = (template.get("containerSet") or {}).get("volumeMounts") or []
    for container in raw:
        for vm in shared + (container.get("volumeMounts") or []):
            if vm.get("mountPath") == TMP_PATH and (volumes.get(vm.get("name")) or {}).get("emptyDir") is not None:
                continue  # the host's /tmp stands in for a scratch /tmp, as the host stands in for the image
            mount = _mount(cfg, workflow_name, pod_dir, volumes, vm)
            known = mounts.get(mount.path)
            if known and known.host != mount.host:
                raise PodError(f"two volumes are mounted at {mount.path}: the local engine runs a pod in one "
                               "mount namespace and cannot give containers different mounts at one path")
            mounts[mount.path] = mount
    if JOB_HOME not in mounts and (cfg.sandbox_tool[0] or cfg.home == Path(JOB_HOME)):
        cfg.home.mkdir(parents=True, exist_ok=True)
        mounts[JOB_HOME] = Mount(cfg.home, JOB_HOME)
    artifacts = []
    for art in (template.get("inputs") or {}).get("artifacts") or []:
        target = pod_dir / "artifacts" / art["name"]
        artifacts.append((art, target))
        mounts[art["path"]] = Mount(target, art["path"])
    progress_file = pod_dir / "progress"
    containers = [
        _runner_container(cfg, workflow_name, pod_name, container, progress_file) for container in raw
    ]
    return PodPlan(
        name=pod_name, dir=pod_dir, log_dir=log_dir,
        mounts=sorted(mounts.values(), key=lambda m: (m.path.count("/"), m.path)),
        containers=containers, progress_file=progress_file, status_file=pod_dir / "status.jsonl",
        control_file=pod_dir / "control", artifacts=artifacts,
    )


def _raw_containers(template: dict, pod_dir: Path) -> list[dict]:
    if template.get("containerSet"):
        return list(template["containerSet"]["containers"])
    if template.get("script"):
        script = dict(template["script"])
        source_file = pod_dir / "script"
        source_file.write_text(script.get("source") or "", encoding="utf-8")
        script["name"] = "main"
        script["args"] = [str(source_file)]
        script["command"] = script.get("command") or ["sh"]
        return [script]
    container = dict(template["container"])
    container["name"] = "main"  # Argo always names a container template's container main
    return [container]


def _mount(cfg: EngineConfig, workflow_name: str, pod_dir: Path, volumes: dict, vm: dict) -> Mount:
    name = vm["name"]
    volume = volumes.get(name)
    if volume is None:
        raise PodError(f'volume "{name}" is mounted at {vm.get("mountPath")} but not declared')
    path = vm["mountPath"]
    if volume.get("emptyDir") is not None and path == JOB_HOME:
        host = cfg.home  # the job home is the home folder, also where a cluster would use a scratch home
    elif volume.get("emptyDir") is not None:
        host = pod_dir / "volumes" / name
    elif volume.get("persistentVolumeClaim"):
        claim = volume["persistentVolumeClaim"]["claimName"]
        if claim in cfg.claims:
            host = cfg.claims[claim]
        elif path == JOB_HOME:
            host = cfg.home
        else:
            host = cfg.data_dir / "claims" / claim
    elif volume.get("hostPath"):
        host = Path(volume["hostPath"]["path"])
    elif volume.get("secret"):
        host = _secret_volume(cfg, pod_dir, name, volume["secret"])
    else:
        raise PodError(f'volume "{name}" has a type the local engine does not bind')
    if vm.get("subPath"):
        host = host / vm["subPath"]
    host.mkdir(parents=True, exist_ok=True)
    return Mount(host, path, bool(vm.get("readOnly")))


def _secret_volume(cfg: EngineConfig, pod_dir: Path, name: str, source: dict) -> Path:
    secret = source.get("secretName", "")
    folder = (cfg.secrets_dir / secret) if cfg.secrets_dir else None
    target = pod_dir / "secrets" / name
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o700)  # secret values: owner-only
    if folder is None or not folder.is_dir():
        if source.get("optional"):
            return target
        raise PodError(f'secret "{secret}" not found (expected the folder {folder or "<secrets_dir>/" + secret})')
    items = source.get("items")
    pairs = [(i["key"], i.get("path", i["key"])) for i in items] if items else [
        (f.name, f.name) for f in folder.iterdir() if f.is_file()
    ]
    for key, rel in pairs:
        if not (folder / key).is_file():
            raise PodError(f'secret "{secret}" has no key "{key}"')
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / key, dest)
        os.chmod(dest, 0o600)
    return target


def read_secret(cfg: EngineConfig, secret: str, key: str) -> str | None:
    """The value of one Secret key from ``secrets_dir/<secret>/<key>``, or None."""
    if cfg.secrets_dir is None:
        return None
    path = cfg.secrets_dir / secret / key
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").rstrip("\n")


def _runner_container(cfg: EngineConfig, workflow_name: str, pod_name: str, container: dict, progress: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = cfg.path_env()
    env.pop("PYGEOAPI_CONFIG", None)
    env.pop("PYGEOAPI_OPENAPI", None)
    for env_from in container.get("envFrom") or []:
        ref = env_from.get("secretRef") or {}
        folder = cfg.secrets_dir / ref.get("name", "") if cfg.secrets_dir else None
        if folder is None or not folder.is_dir():
            if ref.get("optional"):
                continue
            raise PodError(f'CreateContainerConfigError: secret "{ref.get("name")}" not found')
        for item in folder.iterdir():
            if item.is_file():
                env[env_from.get("prefix", "") + item.name] = item.read_text(encoding="utf-8").rstrip("\n")
    for item in container.get("env") or []:
        source = item.get("valueFrom")
        if not source:
            env[item["name"]] = str(item.get("value", ""))
        elif source.get("secretKeyRef"):
            ref = source["secretKeyRef"]
            value = read_secret(cfg, ref.get("name", ""), ref.get("key", ""))
            if value is None:
                if ref.get("optional"):
                    continue
                raise PodError(f'CreateContainerConfigError: secret "{ref.get("name")}" not found '
                               f'(or it has no key "{ref.get("key")}")')
            env[item["name"]] = value
        elif source.get("fieldRef"):
            path = source["fieldRef"].get("fieldPath")
            env[item["name"]] = pod_name if path == "metadata.name" else cfg.namespace
    env[ENV_PROGRESS_FILE] = str(progress)
    env["ARGO_CONTAINER_NAME"] = container["name"]
    env["ARGO_WORKFLOW_NAME"] = workflow_name
    env["ARGO_POD_NAME"] = pod_name
    argv = [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]
    return {
        "name": container["name"],
        "argv": argv,
        "env": env,
        "cwd": container.get("workingDir"),
        "dependencies": list(container.get("dependencies") or []),
    }


def fuse_problem(device: str = "/dev/fuse") -> str | None:
    """Why a FUSE mount (s3fs) cannot work here, or None."""
    if not os.path.exists(device):
        return f"FUSE is unavailable on this machine: {device} does not exist, so the bucket cannot be mounted"
    if shutil.which("s3fs") is None:
        return "FUSE mount impossible: s3fs is not installed (Debian: apt-get install s3fs)"
    if os.geteuid() != 0 and shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        return "FUSE is unavailable: not root and no fusermount"
    return None


def kill_leftovers(pods_dir: Path) -> int:
    """Kill what a dead engine's pods under ``pods_dir`` left running; returns how many processes.

    With a sandbox nothing is left (the pid namespace died with the engine). Without one, only the
    runner and each container's first process die with it (PDEATHSIG); their children are found by
    the ``$ARGO_PROGRESS_FILE`` each container's environment holds, which names this pod folder.
    """
    marker = f"{ENV_PROGRESS_FILE}={pods_dir}/".encode()
    killed = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if any(item.startswith(marker) for item in environ.split(b"\0")):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def host_root_args() -> list[str]:
    """The host's filesystem as the sandbox's, entry by entry under a fresh root.

    Binding each top-level entry (rather than ``/`` itself) keeps new top-level mount points such as
    ``/workspace`` on the sandbox's own root instead of creating them on the host.
    """
    args: list[str] = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        path = f"/{entry.name}"
        if entry.is_symlink():
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--dev-bind", path, path]
    return args


def confinement_args(hidden: list[Path], plan: PodPlan) -> list[str]:
    """bwrap arguments, after the pod's mounts, that keep the engine's data folder (the store, other pods'
    files and env) and the secrets folder (every Secret) out of the sandbox also where a mount shows them
    (e.g. the data folder inside the bound home), then give the pod back its own folders at their paths.
    The pod's own Secrets are bound from the host at their mount paths, so they stay readable."""
    return ops_as_bwrap_args(confinement_ops(hidden, plan))


def confinement_ops(hidden: list[Path], plan: PodPlan) -> list[list[str]]:
    ops: list[list[str]] = []
    for path in hidden:
        for mount in plan.mounts:
            host = Path(mount.host)
            if path != host and host in path.parents:
                ops.append(["tmpfs", str(Path(mount.path) / path.relative_to(host))])
    for own in (plan.dir, plan.log_dir):
        ops.append(["bind", str(own), str(own)])
    return ops


def sandbox_ops(hidden: list[Path], plan: PodPlan) -> list[list[str]]:
    """The pod's filesystem as a list of steps, in order, that bubblewrap (as arguments) and the runner
    (under ``unshare``) both apply: ``["dev-bind"|"bind"|"ro-bind", host, path]``, ``["symlink", target, path]``,
    ``["tmpfs", path]``. The host's top-level entries under a fresh root, the hidden folders covered, the
    pod's volumes bound, then the confinement (docs/local.md)."""
    ops: list[list[str]] = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        path = f"/{entry.name}"
        ops.append(["symlink", os.readlink(path), path] if entry.is_symlink() else ["dev-bind", path, path])
    ops += [["tmpfs", str(path)] for path in hidden]
    for mount in plan.mounts:
        ops.append(["ro-bind" if mount.read_only else "bind", str(mount.host), mount.path])
    return ops + confinement_ops(hidden, plan)


def ops_as_bwrap_args(ops: list[list[str]]) -> list[str]:
    return [arg for op in ops for arg in (f"--{op[0]}", *op[1:])]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the engine dies (PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


class PodProcess:
    """The running sandbox of one pod: start, watch events and progress, stop."""

    def __init__(self, cfg: EngineConfig, plan: PodPlan):
        self.cfg = cfg
        self.plan = plan
        self.proc: subprocess.Popen | None = None
        self.sandboxed = False
        self._offset = 0
        self._partial = ""

    def start(self) -> None:
        spec = {
            "containers": self.plan.containers,
            "status_file": str(self.plan.status_file),
            "control_file": str(self.plan.control_file),
            "log_dir": str(self.plan.log_dir),
            "grace_seconds": self.cfg.grace_seconds,
        }
        kind, tool = self.cfg.sandbox_tool
        # by path, isolated and without site: the runner needs only the standard library, and this
        # starts ~60 ms faster than ``-m argo_papermill.engine.runner`` (every pod pays it)
        runner = [self.cfg.python, "-I", "-S", str(Path(__file__).with_name("runner.py"))]
        spec_file = self.plan.dir / "runner.json"
        self.sandboxed = bool(kind)
        preexec = None
        if kind:
            hidden = [p for p in (self.cfg.data_dir, self.cfg.secrets_dir) if p is not None]
            ops = sandbox_ops(hidden, self.plan)
        if kind == "bwrap":
            argv = [tool, *ops_as_bwrap_args(ops), "--unshare-pid", "--die-with-parent", "--", *runner, str(spec_file)]
        elif kind == "unshare":
            # util-linux's unshare: a user namespace (this user as root in it, so it may mount), a mount and a
            # pid namespace; the runner (pid 1 there) builds the same root as bubblewrap would from ``ops`` and
            # chroots into it. --kill-child ends the runner, and with it the pid namespace, when unshare dies;
            # unshare dies with the engine (PR_SET_PDEATHSIG), as bwrap --die-with-parent does.
            spec["sandbox"] = {"root": str(self.plan.dir / "root"), "ops": ops}
            argv = [tool, "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--",
                    *runner, str(spec_file)]
            preexec = _die_with_parent
        else:
            for mount in self.plan.mounts:
                if os.path.realpath(mount.host) != os.path.realpath(mount.path):
                    from argo_papermill.engine.config import NO_SANDBOX_HELP

                    raise PodError(f"no sandbox, so the local engine cannot bind {mount.host} at {mount.path}: "
                                   f"{NO_SANDBOX_HELP}; or use volumes whose mount path is the host path")
            spec["pdeathsig"] = True
            argv = [*runner, str(spec_file)]
        # it holds the containers' env, which may carry secrets: owner-only from the start
        fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(spec, handle)
        self.plan.status_file.touch()
        with open(self.plan.log_dir / "sandbox.log", "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "PATH": self.cfg.path_env()}, preexec_fn=preexec,
            )

    def events(self) -> list[dict]:
        """New runner events since the last call."""
        try:
            with open(self.plan.status_file, encoding="utf-8") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return []
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        return [json.loads(line) for line in lines if line.strip()]

    def container_pids(self) -> list[int]:
        """The pids of the containers still running, from the whole status file (``events`` keeps its place)."""
        try:
            lines = self.plan.status_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        running: dict[str, int] = {}
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if event.get("event") == "started" and event.get("pid"):
                running[event["container"]] = int(event["pid"])
            elif event.get("event") == "terminated":
                running.pop(event.get("container"), None)  # its pid may belong to someone else by now
        return list(running.values())

    def progress(self) -> str | None:
        """The last line of $ARGO_PROGRESS_FILE, as Argo's executor reads it."""
        try:
            with open(self.plan.progress_file, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 256))
                lines = handle.read().decode("utf-8", "replace").strip().splitlines()
        except FileNotFoundError:
            return None
        return lines[-1].strip() if lines else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Ask the runner to SIGTERM its containers (it SIGKILLs them after the grace period)."""
        self.plan.control_file.write_text("terminate\n", encoding="utf-8")

    def kill(self) -> None:
        """Kill the sandbox: every process of the pod dies with it.

        Without a sandbox there is no pid namespace to take the pod down: each container's process group
        (its command and the children it did not move to another session) is killed, then the runner.
        """
        if self.proc is None:
            return
        for pid in ([] if self.sandboxed else self.container_pids()) + [self.proc.pid]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
