"""The in-pod runner: one per pod, inside the pod's mount (and pid) namespace.

``python -I -S .../argo_papermill/engine/runner.py <spec.json>`` (standard library only) starts the pod's containers as
their ``dependencies`` allow, as Argo's emissary does for a containerSet: a container
runs only after each dependency exited 0; otherwise it ends with exit code 64 and the
message ``dependency "X" exited with non-zero code: N`` without running its command.
As Argo's controller does (``podHasContainerNeedingTermination``, operator.go, v3.6 to v4.x), once
a container exited non-zero the others are terminated: the running ones get SIGTERM (SIGKILL after
the grace period), and one still waiting for a dependency that has not failed ends with 143, as its
emissary does on SIGTERM. It reports every container's state as JSON lines in the status file, and
terminates the containers the same way when the control file says ``terminate`` (a stop, a
deadline). ``"terminate_on_failure": false`` in the spec leaves that to someone else (the real-Argo suite's
node agent, a kubelet, under Argo's own controller). It imports nothing heavy, so a pod starts fast.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

POLL_SECONDS = 0.01
DEPENDENCY_EXIT_CODE = 64
TERMINATED_EXIT_CODE = 143  # 128 + SIGTERM: the emissary's exit when terminated while it waits for a dependency


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Runner:
    def __init__(self, spec: dict):
        self.spec = spec
        self.containers = {c["name"]: c for c in spec["containers"]}
        self.procs: dict[str, subprocess.Popen] = {}
        self.exit_codes: dict[str, int] = {}
        self.status = open(spec["status_file"], "a", buffering=1, encoding="utf-8")
        self.terminating_since: float | None = None

    def emit(self, **event) -> None:
        event.setdefault("at", _now())
        self.status.write(json.dumps(event) + "\n")
        self.status.flush()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self._request_terminate())
        self.emit(event="runner-started", pid=_host_pid())
        while True:
            self._check_control()
            if self.terminating_since is None:
                self._start_ready()
            self._reap()
            if (self.terminating_since is None and self.spec.get("terminate_on_failure", True)
                    and any(code != 0 for code in self.exit_codes.values())):
                self._start_ready()  # a dependant of the failed container ends with 64 first, as the emissary sees it
                self._request_terminate(waiting_exit_code=TERMINATED_EXIT_CODE)
            if self.terminating_since is not None:
                self._escalate()
                if not self.procs:
                    break
            elif len(self.exit_codes) == len(self.containers):
                break
            time.sleep(POLL_SECONDS)
        self.emit(event="runner-exited")
        return 0

    def _start_ready(self) -> None:
        for name, container in self.containers.items():
            if name in self.procs or name in self.exit_codes:
                continue
            deps = container.get("dependencies") or []
            if any(dep not in self.exit_codes for dep in deps):
                continue
            failed = [dep for dep in deps if self.exit_codes[dep] != 0]
            if failed:
                code = self.exit_codes[failed[0]]
                self._never_ran(name, f'dependency "{failed[0]}" exited with non-zero code: {code}')
                continue
            self._start(name, container)

    def _never_ran(self, name: str, message: str) -> None:
        """End a container without running it, with exit code 64 and ``message`` (as the emissary does)."""
        self._log(name, message + "\n")
        self.exit_codes[name] = DEPENDENCY_EXIT_CODE
        self.emit(event="terminated", container=name, exitCode=DEPENDENCY_EXIT_CODE, reason="Error",
                  message=message, ran=False)

    def _start(self, name: str, container: dict) -> None:
        argv = list(container["argv"])
        env = container["env"]
        resolved = shutil.which(argv[0], path=env.get("PATH")) if "/" not in argv[0] else argv[0]
        if not resolved:
            self._never_ran(name, f'failed to find name in PATH: exec: "{argv[0]}": '
                                  "executable file not found in $PATH")
            return
        log = open(os.path.join(self.spec["log_dir"], f"{name}.log"), "ab")
        try:
            if container.get("cwd"):
                os.makedirs(container["cwd"], exist_ok=True)  # the kubelet creates workingDir too
            proc = subprocess.Popen(
                [resolved, *argv[1:]], env=env, cwd=container.get("cwd") or None, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                # without a sandbox (no pid namespace), each container at least dies with the runner
                preexec_fn=_set_pdeathsig if self.spec.get("pdeathsig") else None,
            )
        except OSError as err:
            log.write(f"{err}\n".encode())
            log.close()
            self.exit_codes[name] = 128
            self.emit(event="terminated", container=name, exitCode=128, reason="StartError", message=str(err),
                      ran=False)
            return
        log.close()
        self.procs[name] = proc
        self.emit(event="started", container=name, pid=proc.pid)  # the engine's pid without a sandbox

    def _reap(self) -> None:
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            if code < 0:  # killed by a signal: report it as the kubelet does (128 + signal)
                code = 128 - code
            del self.procs[name]
            self.exit_codes[name] = code
            self.emit(event="terminated", container=name, exitCode=code,
                      reason="Completed" if code == 0 else "Error", message="", ran=True)

    def _check_control(self) -> None:
        if self.terminating_since is not None:
            return
        try:
            with open(self.spec["control_file"], encoding="utf-8") as handle:
                if "terminate" in handle.read():
                    self._request_terminate()
        except FileNotFoundError:
            pass

    def _request_terminate(self, waiting_exit_code: int | None = None) -> None:
        """SIGTERM every running container; with ``waiting_exit_code``, a container that has not started
        (its emissary waiting for a dependency) ends with that code without running."""
        if self.terminating_since is not None:
            return
        self.terminating_since = time.monotonic()
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        if waiting_exit_code is not None:
            for name in self.containers:
                if name not in self.procs and name not in self.exit_codes:
                    self.exit_codes[name] = waiting_exit_code
                    self.emit(event="terminated", container=name, exitCode=waiting_exit_code, reason="Error",
                              message="", ran=False)

    def _escalate(self) -> None:
        assert self.terminating_since is not None
        if time.monotonic() - self.terminating_since >= float(self.spec.get("grace_seconds", 5)):
            for proc in self.procs.values():
                _signal_group(proc.pid, signal.SIGKILL)

    def _log(self, name: str, text: str) -> None:
        with open(os.path.join(self.spec["log_dir"], f"{name}.log"), "a", encoding="utf-8") as handle:
            handle.write(text)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _host_pid() -> int:
    """This process's pid as the host sees it (the host /proc is visible in the sandbox)."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    if spec.get("pdeathsig"):
        _set_pdeathsig()
    if spec.get("sandbox"):
        try:
            enter_sandbox(spec["sandbox"]["root"], spec["sandbox"]["ops"])
        except OSError as err:
            print(f"sandbox: {err}", file=sys.stderr, flush=True)
            return 125
    return Runner(spec).run()


# mount(2) flags (linux/mount.h) and the statvfs flags of a mount that a user namespace may not drop
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 1024, 2048, 4096, 16384, 1 << 18, 1 << 21
_LOCKED = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
           (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    arg = (lambda v: v.encode() if v is not None else None)
    if libc.mount(arg(source), arg(target), arg(fstype), ctypes.c_ulong(flags), arg(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source or fstype} on {target}: {os.strerror(errno)}")


def enter_sandbox(root: str, ops: list[list[str]]) -> None:
    """Under ``unshare --user --map-root-user --mount --pid``: build the pod's root as bubblewrap would
    (``argo_papermill.engine.pod.sandbox_ops``: the host's top-level entries on a fresh tmpfs, hidden
    folders covered, volumes bound at their paths; sources are host paths) and chroot into it."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of ours propagates back to the host
    os.makedirs(root, exist_ok=True)
    _mount("tmpfs", root, "tmpfs", 0, "mode=0755")
    for kind, *args in ops:
        if kind == "symlink":
            target, path = args
            dest = root + path
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if not os.path.lexists(dest):
                os.symlink(target, dest)
        elif kind == "tmpfs":
            dest = root + args[0]
            os.makedirs(dest, exist_ok=True)
            _mount("tmpfs", dest, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        else:  # dev-bind, bind, ro-bind
            source, path = args
            dest = root + path
            if os.path.isdir(source):
                os.makedirs(dest, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                if not os.path.exists(dest):
                    open(dest, "a").close()
            _mount(source, dest, None, MS_BIND | MS_REC)
            if kind == "ro-bind":
                locked = os.statvfs(dest).f_flag
                extra = sum(ms for st, ms in _LOCKED if locked & st)
                _mount(None, dest, None, MS_BIND | MS_REMOUNT | MS_RDONLY | extra)
    os.chroot(root)
    os.chdir("/")


def _set_pdeathsig() -> None:
    """Without bubblewrap: die with the engine (PR_SET_PDEATHSIG = 1)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
