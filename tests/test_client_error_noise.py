"""Noise and disclosure (issue 13, point 7): client errors are one log line each, no traceback; error
answers name no server-side path; ``allow_internal_requests`` works where the docs put it."""

from __future__ import annotations

import pytest
import requests
from fakes import kube as fake_kube
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, TOKEN
from test_app_e2e import start_server, stop

from argo_papermill.errors import InvalidInputError
from argo_papermill.manager import ArgoManager

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("noise")
    home = tmp / "home"
    home.mkdir()
    httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    ctrl = FakeController(fake, NAMESPACE, home).start()
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
               "connection": "argo", "output_dir": str(tmp / "out"),
               "kubernetes": {"server": kube_url, "token": TOKEN},
               "results": {"path_map": {"/home/jovyan": str(home)}}, "request_timeout": 3}
    log = tmp / "pygeoapi.log"
    proc, url = start_server(tmp, manager, logging={"level": "ERROR", "logfile": str(log)})
    yield {"url": url, "log": log, "home": home}
    stop(proc)
    ctrl.stop()
    httpd.shutdown()
    httpd.server_close()


def test_client_errors_are_one_log_line_without_traceback(env):
    url = env["url"]
    answers = [
        requests.get(f"{url}/jobs/no-such-job?f=json", timeout=30),
        requests.get(f"{url}/jobs/no-such-job/results?f=json", timeout=30),
        requests.delete(f"{url}/jobs/no-such-job", timeout=30),
        requests.get(f"{url}/processes/no-such-process?f=json", timeout=30),
        requests.post(f"{url}/processes/scenario/execution", json={"inputs": {"scenario": "nope"}}, timeout=30),
        requests.post(f"{url}/processes/no-such-process/execution", json={"inputs": {}}, timeout=30),
        requests.get(f"{url}/jobs?f=json&limit=-3", timeout=30),
    ]
    assert all(400 <= r.status_code < 500 for r in answers), [(r.status_code, r.text) for r in answers]
    text = env["log"].read_text()
    assert "Traceback" not in text, text[:3000]
    lines = [line for line in text.splitlines() if line.strip()]
    assert 0 < len(lines) <= len(answers), text  # at most one line per refused request
    assert all(" WARNING - 4" in line for line in lines), text  # status first, not at ERROR


def test_notebook_route_404_names_no_server_path(env):
    r = requests.get(f"{env['url']}/jobs/no-such-job/notebook", timeout=30)
    assert r.status_code == 404 and str(env["home"]) not in r.text


def test_allow_internal_requests_in_the_processor_block_is_honoured(tmp_path):
    def manager(resource: dict) -> ArgoManager:
        return ArgoManager({"name": "ArgoManager", "backend": "local", "local": {"data_dir": str(tmp_path)},
                            "processes": {"p": {"type": "process", **resource}}})

    loopback = {"successUri": "http://127.0.0.1:9/cb"}
    documented = manager({"processor": {"name": "argo_papermill.NotebookProcessor",
                                        "allow_internal_requests": True}})
    documented._check_subscriber(loopback, "p")  # allowed: no exception
    pygeoapis = manager({"allow_internal_requests": True, "processor": {"name": "argo_papermill.NotebookProcessor"}})
    pygeoapis._check_subscriber(loopback, "p")
    default = manager({"processor": {"name": "argo_papermill.NotebookProcessor"}})
    with pytest.raises(InvalidInputError) as err:
        default._check_subscriber(loopback, "p")
    assert "private address" in err.value.message
