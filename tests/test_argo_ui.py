"""The Argo UI, one of the three ways this project is used (issue 14, point 3): each job's JSON links to its
Workflow there (``argo_ui_url``), and the Workflow's title and description stay short, useful and inert
Markdown (the UI renders both as Markdown since v3.6)."""

from __future__ import annotations

import pytest
import requests
from fakes import kube as fake_kube
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, TOKEN
from test_app_e2e import execute, start_server, stop, wait_job

from argo_papermill import NotebookProcessor
from argo_papermill.contract import ANNOTATION_DESCRIPTION, ANNOTATION_TITLE
from argo_papermill.errors import ConfigurationError
from argo_papermill.manager_config import load_manager_config

UI = "https://argo.example.org/argo"


def test_title_and_description_are_short_and_inert_markdown():
    manifest = NotebookProcessor({}).workflow_manifest("j1", {"notebook": "nb/hello.ipynb", "kernel": "python3"})
    ann = manifest["metadata"]["annotations"]
    assert ann[ANNOTATION_TITLE] == "hello.ipynb"
    assert ann[ANNOTATION_DESCRIPTION] == "pygeoapi job `j1`: `/home/jovyan/nb/hello.ipynb`, kernel `python3`"
    hostile = "deep/" + "d" * 150 + "/x`](javascript:alert(1)) # Big *bold* [link](https://evil.example)`.ipynb"
    ann = NotebookProcessor({}).workflow_manifest("j2", {"notebook": hostile})["metadata"]["annotations"]
    title, description = ann[ANNOTATION_TITLE], ann[ANNOTATION_DESCRIPTION]
    assert len(title) <= 60 and all(c.isalnum() or c in " .-_?…" for c in title), title
    assert len(description) <= 200 and "\n" not in description, description
    # the path is one code span (the only backticks are ours), so nothing in it formats or links
    assert description.count("`") == 4 and description.startswith("pygeoapi job `j2`: `/home/jovyan/deep/ddd")
    assert description.endswith("`.ipynb`") or description.endswith(".ipynb`")


def test_argo_ui_url_must_be_an_http_url():
    base = {"name": "argo_papermill.ArgoManager", "backend": "local"}
    assert load_manager_config({**base, "argo_ui_url": UI + "/"}).argo_ui_url == UI
    for bad in ("argo.example.org", "javascript:alert(1)", "https://x/?q=1"):
        with pytest.raises(ConfigurationError, match="server.manager.argo_ui_url"):
            load_manager_config({**base, "argo_ui_url": bad})


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("argo-ui")
    home = tmp / "home"
    home.mkdir()
    httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    ctrl = FakeController(fake, NAMESPACE, home).start()
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
               "connection": "argo", "kubernetes": {"server": kube_url, "token": TOKEN},
               "results": {"path_map": {"/home/jovyan": str(home)}}, "argo_ui_url": UI, "request_timeout": 5}
    proc, url = start_server(tmp, manager, workers=1)
    yield {"url": url}
    stop(proc)
    ctrl.stop()
    httpd.shutdown()
    httpd.server_close()


def ui_links(job: dict) -> list[str]:
    return [link["href"] for link in job.get("links") or [] if link.get("title") == "The job's Workflow in the Argo UI"]


def test_each_jobs_json_links_to_its_workflow_in_the_argo_ui(env):
    job_id = execute(env, {"scenario": "json", "x": 1}).json()["jobID"]
    wait_job(env, job_id)
    want = f"{UI}/workflows/{NAMESPACE}/pygeoapi-job-{job_id}"
    job = requests.get(f"{env['url']}/jobs/{job_id}?f=json", timeout=10).json()
    assert ui_links(job) == [want]
    assert any(link["rel"] != "related" for link in job["links"])  # pygeoapi's own links stay
    listed = requests.get(f"{env['url']}/jobs?f=json&limit=50", timeout=10).json()
    mine = next(j for j in listed["jobs"] if j["jobID"] == job_id)
    assert ui_links(mine) == [want]
    assert all(len(ui_links(j)) == 1 for j in listed["jobs"])
