"""Input artifacts (git clone, S3 through fsspec) and S3 output artifacts.

Credentials come from the configured local secrets (``secrets_dir/<secret>/<key>``);
they reach git through a credential helper that reads the environment, never the URL,
the command line or a log.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.pod import read_secret

_CREDENTIAL_HELPER = '!f() { echo "username=${GIT_USERNAME}"; echo "password=${GIT_PASSWORD}"; }; f'


class ArtifactError(Exception):
    """Loading or saving an artifact failed; the message is what the node shows."""


def _secret(cfg: EngineConfig, selector: dict | None, what: str) -> str | None:
    if not selector:
        return None
    value = read_secret(cfg, selector.get("name", ""), selector.get("key", ""))
    if value is None:
        raise ArtifactError(f'{what}: secret "{selector.get("name")}" key "{selector.get("key")}" not found')
    return value


def load_git(cfg: EngineConfig, art: dict, target: Path) -> None:
    git = art["git"]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    username = _secret(cfg, git.get("usernameSecret"), "usernameSecret")
    password = _secret(cfg, git.get("passwordSecret"), "passwordSecret")
    config = ["-c", "credential.helper=", "-c", f"credential.helper={_CREDENTIAL_HELPER}"]
    if username is not None or password is not None:
        env["GIT_USERNAME"] = username or ""
        env["GIT_PASSWORD"] = password or ""
    if git.get("insecureSkipTLS"):
        config += ["-c", "http.sslVerify=false"]
    if target.exists() and any(target.iterdir()):
        raise ArtifactError(f"input artifact {art['name']}: {target} is not empty")
    clone = ["git", *config, "clone", "--quiet"]
    if git.get("depth"):
        clone += ["--depth", str(git["depth"])]
    if git.get("singleBranch") and git.get("branch"):
        clone += ["--single-branch", "--branch", git["branch"]]
    if not git.get("disableSubmodules"):
        clone += ["--recurse-submodules"]
    _run(clone + ["--", git["repo"], str(target)], env, art)
    for refspec in git.get("fetch") or []:
        _run(["git", *config, "-C", str(target), "fetch", "--quiet", "origin", refspec], env, art)
    if git.get("revision"):
        _run(["git", "-C", str(target), "checkout", "--quiet", "--detach", git["revision"], "--"], env, art)


def _run(argv: list[str], env: dict, art: dict) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise ArtifactError(f"failed to load artifact {art['name']}: {result.stderr.strip()[-500:]}")


def _s3_fs(cfg: EngineConfig, s3: dict):
    import fsspec

    options: dict = {}
    endpoint = s3.get("endpoint")
    if endpoint:
        scheme = "http" if s3.get("insecure") else "https"
        options["client_kwargs"] = {"endpoint_url": endpoint if "://" in endpoint else f"{scheme}://{endpoint}"}
        if s3.get("region"):
            options["client_kwargs"]["region_name"] = s3["region"]
    key = _secret(cfg, s3.get("accessKeySecret"), "accessKeySecret")
    secret = _secret(cfg, s3.get("secretKeySecret"), "secretKeySecret")
    if key is not None:
        options["key"] = key
        options["secret"] = secret
    return fsspec.filesystem("s3", **options)


def load_s3(cfg: EngineConfig, art: dict, target: Path) -> None:
    s3 = art["s3"]
    if not s3.get("bucket"):
        raise ArtifactError(f"input artifact {art['name']}: s3.bucket is required by the local engine")
    fs = _s3_fs(cfg, s3)
    remote = f"{s3['bucket']}/{s3.get('key', '').lstrip('/')}"
    try:
        if fs.isdir(remote):
            fs.get(remote.rstrip("/") + "/", str(target), recursive=True)
        else:
            if target.is_dir():
                target.rmdir()
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get(remote, str(target))
    except (OSError, ValueError) as err:
        if art.get("optional"):
            return
        raise ArtifactError(f"failed to load artifact {art['name']}: {err}") from None


def load(cfg: EngineConfig, art: dict, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if art.get("git"):
        load_git(cfg, art, target)
    elif art.get("s3"):
        load_s3(cfg, art, target)


def save_s3(cfg: EngineConfig, art: dict, source: Path) -> dict | None:
    """Upload an output artifact; returns its record for ``outputs.artifacts`` or None if optional and absent."""
    if not source.exists():
        if art.get("optional"):
            return None
        raise ArtifactError(f"failed to save outputs: {art['path']}: no such file or directory")
    s3 = art.get("s3")
    if not s3:
        return None
    fs = _s3_fs(cfg, s3)
    remote = f"{s3['bucket']}/{s3.get('key', '').lstrip('/')}"
    try:
        fs.put(str(source), remote, recursive=source.is_dir())
    except (OSError, ValueError) as err:
        raise ArtifactError(f"failed to save artifact {art['name']}: {err}") from None
    return {"name": art["name"], "path": art["path"], "s3": {"key": s3.get("key", "")}}
