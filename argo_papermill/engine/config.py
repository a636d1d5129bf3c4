"""Settings of the embedded engine (the ``local`` block of the manager configuration)."""

from __future__ import annotations

import os
import shutil
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
        """The bubblewrap binary, or None when volumes can only be identical host paths."""
        if self.sandbox == "none":
            return None
        found = shutil.which("bwrap")
        if found is None and self.sandbox == "bwrap":
            raise RuntimeError("sandbox: bwrap is configured but bubblewrap (bwrap) is not installed")
        return found

    @property
    def bin_dir(self) -> str:
        """The venv's bin folder, put first on PATH so papermill and the python3 kernel are found."""
        return str(Path(self.python).parent)

    def path_env(self) -> str:
        return os.pathsep.join([self.bin_dir, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
