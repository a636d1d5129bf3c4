"""End to end with real remote inputs: git-checkout over HTTP with basic auth, s3-mount of moto's S3.

A local repository is served by ``git http-backend`` behind a small HTTP server that demands
basic auth on 127.0.0.1; the bucket lives in moto's S3 server on loopback and is mounted by
Debian's ``s3fs`` inside the pod's sandbox (FUSE), and the results endpoint reads the
result notebook back from the bucket through fsspec.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from argo_papermill.commands.serve import build_config
from argo_papermill.engine.pod import fuse_problem
from fakes.s3 import s3_client
from test_serve_e2e import NOTEBOOKS, Server, free_port, make_home

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"),
]
USER, PASSWORD = "alice", "s3cret-pw"


class GitHTTP(BaseHTTPRequestHandler):
    """``git http-backend`` as CGI, only for requests with the right basic auth."""

    root = ""

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self._cgi()

    def do_POST(self):
        self._cgi()

    def _cgi(self):
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": USER,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(length),
               "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, payload = out.partition(sep)
        status, headers = 200, []
        for line in head.decode().splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _versioned_notebook(version: str) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(f'import scrapbook as sb\nsb.glue("version", "{version}")')],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    return nbformat.writes(nb)


def _secrets(root: Path, name: str, username: str, password: str) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "username").write_text(username)
    (folder / "password").write_text(password)


def repo_over_http(tmp_path: Path, filename: str, first: str,
                   second: str) -> tuple[ThreadingHTTPServer, str, str]:
    """A repository with two commits of ``filename`` (``first``, then ``second``), served with basic auth.

    Returns the HTTP server (shut it down), the clone URL and the first commit's sha.
    """
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    (work / filename).write_text(first)
    _git(work, "add", filename)
    _git(work, "commit", "-qm", "one")
    first_sha = _git(work, "rev-parse", "HEAD")
    (work / filename).write_text(second)
    _git(work, "commit", "-qam", "two")
    root = tmp_path / "git-root"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "repo.git")], check=True)
    GitHTTP.root = str(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), GitHTTP)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/repo.git", first_sha


def test_git_checkout_over_http_basic_auth_at_revision(tmp_path):
    httpd, repo_url, first = repo_over_http(tmp_path, "nb.ipynb", _versioned_notebook("v1"),
                                            _versioned_notebook("v2"))
    # the server really demands the credentials
    anonymous = subprocess.run(["git", "ls-remote", repo_url], capture_output=True, text=True,
                               env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    assert anonymous.returncode != 0
    home, data = make_home(tmp_path), tmp_path / "data"
    secrets = tmp_path / "secrets"
    _secrets(secrets, "git-cred", USER, PASSWORD)
    port = free_port()
    config = build_config("127.0.0.1", port, str(data), str(home))
    config["server"]["manager"]["local"]["secrets_dir"] = str(secrets)
    config["resources"]["execute-notebook"]["processor"]["checkout_git_repo"] = {
        "url": repo_url, "secret_name": "git-cred"}
    srv = Server(home, data, port=port, config=config).start()
    try:
        old = srv.wait(srv.submit("git/algorithm/nb.ipynb", git_revision=first))
        assert old["status"] == "successful", old
        assert srv.results(old["jobID"] if "jobID" in old else old["identifier"])[2].strip(b'"\n') == b"v1"
        new = srv.wait(srv.submit("git/algorithm/nb.ipynb"))
        assert new["status"] == "successful", new
        assert srv.results(new["jobID"] if "jobID" in new else new["identifier"])[2].strip(b'"\n') == b"v2"
        logs = (data / "logs").rglob("git-checkout.log")
        assert not any(PASSWORD in p.read_text() for p in logs)
    finally:
        srv.kill()
        httpd.shutdown()


@pytest.mark.needs_fuse
@pytest.mark.skipif(fuse_problem() is not None, reason=str(fuse_problem()))
def test_s3_mount_reads_notebook_from_bucket_and_results_come_back_through_fsspec(tmp_path, moto_endpoint):
    endpoint = moto_endpoint
    s3 = s3_client(endpoint, "AKIAE2E", "e2e-secret")
    s3.create_bucket(Bucket="e2e-bucket")
    s3.put_object(Bucket="e2e-bucket", Key="notebooks/hello.ipynb", Body=(NOTEBOOKS / "hello.ipynb").read_bytes())
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    secrets = tmp_path / "secrets"
    _secrets(secrets, "s3-cred", "AKIAE2E", "e2e-secret")
    port = free_port()
    config = build_config("127.0.0.1", port, str(data), str(home))
    manager = config["server"]["manager"]
    manager["local"]["secrets_dir"] = str(secrets)
    manager["results"] = {"path_map": {"/home/jovyan/s3": "s3://e2e-bucket", "/home/jovyan": str(home)},
                          "storage_options": {"endpoint_url": endpoint, "key": "AKIAE2E", "secret": "e2e-secret"}}
    processor = config["resources"]["execute-notebook"]["processor"]
    processor["s3"] = {"bucket_name": "e2e-bucket", "secret_name": "s3-cred", "s3_url": endpoint,
                       "path_style": True}
    processor["output_directory"] = "/home/jovyan/s3/job-output"
    srv = Server(home, data, port=port, config=config).start()
    try:
        job_id = srv.submit("s3/notebooks/hello.ipynb", parameters_json={"name": "bucket"})
        job = srv.wait(job_id)
        assert job["status"] == "successful", (job, list((data / "logs").rglob("*.log")) and [
            p.read_text()[-500:] for p in (data / "logs").rglob("*.log")])
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="e2e-bucket", Prefix="job-output/")["Contents"]]
        assert any(k.endswith("hello_result.ipynb") and job_id in k for k in keys), keys
        status, _, body = srv.results(job_id)
        assert status == 200 and b"Hello, bucket!" in body
        assert not (home / "job-output").exists()  # written to the bucket, not to the home folder
    finally:
        srv.kill()
