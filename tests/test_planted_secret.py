"""A planted secret is found nowhere (issue 13): S3 keys, a git password, a ``secrets:`` entry (env and
mount) and ``results.storage_options`` credentials, planted in a real ``argo-papermill serve`` (local
backend, real papermill), then every route's response, the server's log, the stored Workflow rows
(manifests, annotations, status) and every HTML page are searched for them. One test, one grep.

Jobs: a successful one whose notebook *uses* the ``secrets:`` entries (so the values reach the job), one
that fails at ``git-checkout`` with the git credentials, one that fails at ``s3-mount`` with the S3 keys.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time

import nbformat
import pytest
import yaml
from test_serve_e2e import FINAL, Server, free_port, request

from argo_papermill.commands.serve import build_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"),
]

PLANTED = {
    "s3 access key": "AKIAPLANTEDS3KEY0001",
    "s3 secret key": "planted-s3-secret-0b7f2c",
    "git password": "planted-git-password-91ad",
    "secrets: env entry": "planted-env-secret-55e1",
    "secrets: mount entry": "planted-file-secret-7c3d",
    "storage_options secret": "planted-storage-secret-a4f0",
}

NOTEBOOK_CODE = """
import os, pathlib
import scrapbook as sb
value = os.environ.get("APP_TOKEN", "")
filed = pathlib.Path("/secret/app-file/token").read_text()
sb.glue("lengths", {"env": len(value), "file": len(filed)})
"""


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE)]
    nbformat.write(nb, path)


def _secret(root, name, **keys):
    (root / name).mkdir(parents=True)
    for key, value in keys.items():
        (root / name / key).write_text(value)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    home, data, secrets = tmp / "home", tmp / "data", tmp / "secrets"
    home.mkdir()
    _notebook(home / "uses_secrets.ipynb")
    _secret(secrets, "s3-creds", username=PLANTED["s3 access key"], password=PLANTED["s3 secret key"])
    _secret(secrets, "git-creds", username="planted-user", password=PLANTED["git password"])
    _secret(secrets, "app-env", APP_TOKEN=PLANTED["secrets: env entry"])
    _secret(secrets, "app-file", token=PLANTED["secrets: mount entry"])
    port = free_port()
    config = build_config("127.0.0.1", port, str(data), str(home))
    manager = config["server"]["manager"]
    manager["local"]["secrets_dir"] = str(secrets)
    manager["results"]["storage_options"] = {"auto_mkdir": False,
                                             "client_kwargs": {"planted": PLANTED["storage_options secret"]}}
    base = config["resources"]["execute-notebook"]["processor"]
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: git and s3 fail fast
    config["resources"]["execute-notebook"]["processor"] = {
        **base, "secrets": [{"name": "app-env", "access": "env"}, {"name": "app-file", "access": "mount"}]}
    config["resources"]["with-git"] = {"type": "process", "processor": {
        **base, "checkout_git_repo": {"url": f"{dead}/repo.git", "secret_name": "git-creds"}}}
    config["resources"]["with-s3"] = {"type": "process", "processor": {
        **base, "s3": {"bucket_name": "b", "secret_name": "s3-creds", "s3_url": dead, "mount_timeout_seconds": 5}}}
    srv = Server(home, data, port=port, config=config).start()
    jobs = {}
    for process in ("execute-notebook", "with-git", "with-s3"):
        status, headers, body = request("POST", f"{srv.url}/processes/{process}/execution",
                                        {"inputs": {"notebook": "uses_secrets.ipynb"}},
                                        headers={"Prefer": "respond-async"})
        assert status == 201, body
        jobs[process] = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    for job_id in jobs.values():
        srv.wait(job_id, timeout=180)
    yield {"server": srv, "jobs": jobs, "home": home, "data": data, "config": config}
    srv.kill()


def _everything(planted) -> dict[str, str]:
    """Every text the service shows or keeps: route responses (JSON and HTML), the log, stored rows."""
    srv, jobs = planted["server"], planted["jobs"]
    seen: dict[str, str] = {}
    paths = ["/", "/conformance", "/openapi?f=json", "/processes", "/processes?f=html", "/jobs?f=json",
             "/jobs?f=html"]
    for process in ("execute-notebook", "with-git", "with-s3"):
        paths += [f"/processes/{process}?f=json", f"/processes/{process}?f=html"]
    for job_id in jobs.values():
        paths += [f"/jobs/{job_id}?f=json", f"/jobs/{job_id}?f=html", f"/jobs/{job_id}/results?f=json",
                  f"/jobs/{job_id}/results?f=html", f"/jobs/{job_id}/logs", f"/jobs/{job_id}/notebook",
                  f"/jobs/{job_id}/notebook?f=html"]
    for path in paths:
        status, headers, body = request("GET", srv.url + path)
        seen[f"GET {path} ({status})"] = json.dumps(headers) + "\n" + body
    log = srv.home / f"server-{srv.port}.log"
    seen["server log"] = log.read_text(errors="replace")
    for log_file in (p for p in planted["data"].joinpath("logs").rglob("*") if p.is_file()):
        seen[f"engine log {log_file}"] = log_file.read_text(errors="replace")
    for db in planted["data"].rglob("*.sqlite"):
        with sqlite3.connect(db) as conn:
            for table, in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - the test's own db
                    seen[f"stored row {db.name}:{table}"] = seen.get(f"stored row {db.name}:{table}", "") + repr(row)
    return seen


def test_a_planted_secret_is_found_nowhere(planted):
    srv, jobs = planted["server"], planted["jobs"]
    finals = {p: srv.job(j)["status"] for p, j in jobs.items()}
    assert finals["execute-notebook"] == "successful", srv.job(jobs["execute-notebook"])
    assert finals["with-git"] == "failed" and finals["with-s3"] == "failed", finals
    status, _, body = request("GET", f"{srv.url}/jobs/{jobs['execute-notebook']}/results?f=json")
    lengths = json.loads(body)  # the job did get the values (so finding none is not for lack of them)
    assert lengths == {"env": len(PLANTED["secrets: env entry"]), "file": len(PLANTED["secrets: mount entry"])}
    seen = _everything(planted)
    assert any("stored row" in k for k in seen) and any("/notebook?f=html" in k for k in seen)
    found = [(what, where) for where, text in seen.items() for what, value in PLANTED.items() if value in text]
    assert not found, found


def test_pod_files_keep_no_secret_after_the_pod(planted):
    """The runner's spec (the containers' env, secrets included) is owner-only while the pod runs and
    is gone with it."""
    leftovers = [p for p in planted["data"].rglob("*") if p.is_file()
                 and any(v.encode() in p.read_bytes() for v in PLANTED.values())]
    assert not leftovers, leftovers
