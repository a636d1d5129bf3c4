"""Settings of the embedded engine (the ``local`` block of the manager configuration)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EngineConfig:
    """Where the engine keeps its state and how it maps cluster objects to this machine.

    ``home`` is the job home (``/home/jovyan`` in a pod): the folder bound there when no
    volume is mounted at that path and for a home claim with no entry in ``claims``.
    ``claims`` maps a PersistentVolumeClaim name to a host folder (default:
    ``<data_dir>/claims/<name>``). ``secrets_dir/<secret>/<key>`` holds Secret values.
    """

    data_dir: Path
    home: Path = field(default_factory=Path.cwd)
    max_parallel: int = 4
    secrets_dir: Path | None = None
    claims: dict[str, Path] = field(default_factory=dict)
    template_dirs: list[Path] = field(default_factory=list)
    namespace: str = "local"
    grace_seconds: float = 5.0
    poll_seconds: float = 0.1
    sandbox: str = "auto"  # auto | bwrap | none
    python: str = sys.executable
    fuse_device: str = "/dev/fuse"  # checked before a pod with an s3-mount container starts

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.home = Path(self.home).resolve()
        self.secrets_dir = Path(self.secrets_dir).resolve() if self.secrets_dir else None
        self.claims = {name: Path(path).resolve() for name, path in (self.claims or {}).items()}
        self.template_dirs = [Path(p) for p in (self.template_dirs or [])]
        if self.max_parallel < 1:
            raise ValueError("max_parallel must be >= 1")

    @property
    def bwrap(self) -> str | None:
        """The bubblewrap binary when the pods run in bubblewrap, else None."""
        kind, tool = self.sandbox_tool
        return tool if kind == "bwrap" else None

    @property
    def sandbox_tool(self) -> tuple[str | None, str | None]:
        """How a pod gets its own mount (and pid) namespace: ``("bwrap", path)``, ``("unshare", path)``
        or ``(None, None)`` (no sandbox: volumes only at their own host paths).

        ``auto`` takes bubblewrap, else util-linux's ``unshare`` where this user may create user
        namespaces (probed once per process); ``bwrap``/``unshare`` insist on that one; ``none`` uses none.
        """
        if self.sandbox == "none":
            return None, None
        if self.sandbox in ("auto", "bwrap"):
            found = shutil.which("bwrap")
            if found:
                return "bwrap", found
            if self.sandbox == "bwrap":
                raise RuntimeError("sandbox: bwrap is configured but bubblewrap (bwrap) is not installed")
        problem = unshare_problem()
        if problem is None:
            return "unshare", shutil.which("unshare")
        if self.sandbox == "unshare":
            raise RuntimeError(f"sandbox: unshare is configured but {problem}")
        return None, None

    @property
    def bin_dir(self) -> str:
        """The venv's bin folder, put first on PATH so papermill and the python3 kernel are found."""
        return str(Path(self.python).parent)

    def path_env(self) -> str:
        return os.pathsep.join([self.bin_dir, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")])


NO_SANDBOX_HELP = (
    "the local engine needs a mount namespace per pod to bind volumes at their paths (/home/jovyan, "
    "/workspace): install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) or allow unprivileged "
    "user namespaces for util-linux's unshare (sysctl kernel.unprivileged_userns_clone=1 / "
    "user.max_user_namespaces > 0; Ubuntu >= 23.10 also kernel.apparmor_restrict_unprivileged_userns=0)"
)


@functools.cache
def unshare_problem() -> str | None:
    """Why ``unshare --user --map-root-user --mount --pid`` cannot give a pod its namespaces here, or None."""
    tool = shutil.which("unshare")
    if tool is None:
        return "util-linux's unshare is not installed"
    try:
        probe = subprocess.run(
            [tool, "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child",
             "true"], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare could not run: {err}"
    if probe.returncode != 0:
        reason = " ".join(probe.stderr.decode(errors="replace").split())[:200]
        return f"this user may not create user namespaces ({reason or f'exit code {probe.returncode}'})"
    return None
