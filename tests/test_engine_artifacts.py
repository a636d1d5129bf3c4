"""Artifacts: git input over HTTP with basic auth from local secrets; S3 input and output through fsspec (moto)."""

from __future__ import annotations

import shutil
import time

import pytest

from argo_papermill.engine.config import EngineConfig
from argo_papermill.engine.service import Engine
from fakes.s3 import s3_client
from test_serve_e2e_remote import PASSWORD, USER, repo_over_http

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


@pytest.fixture
def engine(tmp_path):
    eng = Engine.acquire(EngineConfig(data_dir=tmp_path / "d", home=tmp_path / "h", secrets_dir=tmp_path / "s",
                                      poll_seconds=0.05))
    yield eng
    eng.close()


def _secret(engine, name: str, **keys: str) -> None:
    folder = engine.cfg.secrets_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in keys.items():
        (folder / key).write_text(value)


def _run(engine, name: str, spec: dict, timeout: float = 60) -> dict:
    engine.store.insert(name, {"name": name}, spec)
    engine.wake()
    deadline = time.time() + timeout
    while time.time() < deadline:
        wf = engine.store.get(name)
        if wf["status"].get("phase") in ("Succeeded", "Failed", "Error"):
            return wf
        time.sleep(0.05)
    raise AssertionError(wf["status"])


def test_git_artifact_with_basic_auth_from_secrets(engine, tmp_path):
    httpd, repo_url, first = repo_over_http(tmp_path, "f", "v1", "v2")
    try:
        _secret(engine, "git-cred", username=USER, password=PASSWORD)
        git = {"repo": repo_url, "revision": first,
               "usernameSecret": {"name": "git-cred", "key": "username"},
               "passwordSecret": {"name": "git-cred", "key": "password"}}
        template = {"name": "t", "inputs": {"artifacts": [{"name": "src", "path": "/src", "git": git}]},
                    "container": {"command": ["sh", "-c", "test $(cat /src/f) = v1"]}}
        ok = _run(engine, "git-auth", {"entrypoint": "t", "templates": [template]})
        assert ok["status"]["phase"] == "Succeeded", ok["status"]
        (engine.cfg.secrets_dir / "git-cred" / "password").write_text("wrong")
        bad = _run(engine, "git-noauth", {"entrypoint": "t", "templates": [template]})
        assert bad["status"]["phase"] == "Error"
        assert "failed to load artifact src" in bad["status"]["nodes"]["git-noauth"]["message"]
        assert PASSWORD not in str(bad["status"])
    finally:
        httpd.shutdown()


def test_s3_input_and_output_artifacts_through_fsspec(engine, moto_endpoint):
    endpoint = moto_endpoint.removeprefix("http://")
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket="arts")
    s3.put_object(Bucket="arts", Key="in/data.txt", Body=b"21")
    _secret(engine, "s3-cred", accesskey="k", secretkey="s")
    location = {"endpoint": endpoint, "insecure": True, "bucket": "arts",
                "accessKeySecret": {"name": "s3-cred", "key": "accesskey"},
                "secretKeySecret": {"name": "s3-cred", "key": "secretkey"}}
    template = {
        "name": "t",
        "inputs": {"artifacts": [{"name": "data", "path": "/in/data.txt", "s3": {**location, "key": "in/data.txt"}}]},
        "outputs": {"artifacts": [{"name": "doubled", "path": "/tmp/out-{{workflow.name}}.txt",
                                   "s3": {**location, "key": "out/doubled.txt"}}]},
        "container": {"command": ["sh", "-c", 'echo $(( $(cat /in/data.txt) * 2 )) > /tmp/out-{{workflow.name}}.txt']},
    }
    done = _run(engine, "s3-arts", {"entrypoint": "t", "templates": [template]})
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert s3.get_object(Bucket="arts", Key="out/doubled.txt")["Body"].read().strip() == b"42"
    assert done["status"]["nodes"]["s3-arts"]["outputs"]["artifacts"][0]["name"] == "doubled"
