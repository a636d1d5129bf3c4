"""Requests a client controls that reached a 500 or cost without bound (issue 13, points 4 and 5), through a
real pygeoapi server (argo_papermill.app under gunicorn: one worker, 4 threads) backed by the fake
Kubernetes API and the fake controller. Every refusal is a 4xx OGC document naming the field, and nothing
is created.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from fakes import kube as fake_kube
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, TOKEN
from test_app_e2e import start_server

from argo_papermill.inputs import validate_inputs
from argo_papermill.config import load_processor_config
from argo_papermill.errors import InvalidInputError
from argo_papermill.masking import MASK, mask_secrets

pytestmark = pytest.mark.e2e

REQUEST_BYTES = 64 * 1024
SYNC_WAITS = 2
HANG = 30  # seconds before a request counts as hanging (not a speed assertion)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-req")
    home = tmp / "home"
    home.mkdir()
    httpd, fake, kube_url = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    ctrl = FakeController(fake, NAMESPACE, home).start()
    manager = {"name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": NAMESPACE,
               "connection": "argo", "output_dir": str(tmp / "out"),
               "kubernetes": {"server": kube_url, "token": TOKEN},
               "results": {"path_map": {"/home/jovyan": str(home)}},
               "limits": {"request_bytes": REQUEST_BYTES, "sync_waits": SYNC_WAITS},
               "sync_timeout": 300, "sync_poll_interval": 0.1, "request_timeout": 3,
               "callbacks": {"timeout": 2, "retries": 0, "backoff": 0.1, "backoff_max": 0.5, "poll_interval": 0.2}}
    notebook = {"execute-notebook": {"type": "process",
                                     "processor": {"name": "argo_papermill.NotebookProcessor"}}}
    proc, url = start_server(tmp, manager, notebook, workers=1, threads=4)
    yield {"url": url, "fake": fake, "home": home, "tmp": tmp}
    proc.kill()
    proc.wait(10)
    ctrl.stop()
    httpd.shutdown()
    httpd.server_close()


def workflows(env) -> int:
    return len(env["fake"].workflows(NAMESPACE))


def post(env, body, process="scenario", **kw):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return requests.post(f"{env['url']}/processes/{process}/execution", data=data, timeout=HANG,
                         headers={"Content-Type": "application/json", "Prefer": "respond-async"}, **kw)


def assert_400(r, *words):
    assert r.status_code == 400, r.text
    doc = r.json()
    assert set(doc) == {"type", "code", "description"} and "Traceback" not in r.text
    for word in words:
        assert word in doc["description"], doc


# ---------------------------------------------------------------- 4. 500s a client could cause
DEEP = "[" * 20_000 + "]" * 20_000  # past Python's recursion limit, within the size limit


@pytest.mark.parametrize("body,words", [
    (b"null", ["JSON object"]),
    (b"5", ["JSON object"]),
    (b'"inputs"', ["JSON object"]),
    (b"[]", ["JSON object"]),
    (b"\xff\xfe{}", ["UTF-8"]),
    (b'{"inputs": {"scenario": "json"}, "x": ' + DEEP.encode() + b"}", ["nested"]),
    (b'{"inputs": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}", ["nested deeper than 64"]),
    (b'{"inputs": 5}', ["'inputs'", "JSON object"]),
    (b'{"inputs": null}', ["'inputs'", "JSON object"]),
    (b'{"inputs": {"scenario": "json"}, "subscriber": "http://example.org"}', ["'subscriber'", "JSON object"]),
    (b'{"inputs": {"scenario": "json"}, "subscriber": ["http://example.org"]}', ["'subscriber'"]),
    (b'{"inputs": {"scenario": "json"}, "subscriber": {"successUri": 5}}', ["subscriber.successUri", "string"]),
    (b'{"inputs": {"scenario": "json"}, "subscriber": {"successUri": "http://example.org/a", "failedUri": {}}}',
     ["subscriber.failedUri", "string"]),
    (b'{"inputs": {"scenario": "json"}, "response": "everything"}', ["'response'", "'raw' or 'document'"]),
    (b'{"inputs": {"scenario": "json"}, "outputs": 3}', ["'outputs'"]),
])
def test_malformed_execute_bodies_are_400_and_create_nothing(env, body, words):
    before = workflows(env)
    assert_400(post(env, body), *words)
    assert workflows(env) == before


def test_subscriber_uri_not_a_string_is_400_from_the_manager_too(env):
    """The manager checks what it stores, whatever the front door let through (CLI, other frameworks)."""
    from argo_papermill.manager import ArgoManager

    mgr = ArgoManager({"name": "ArgoManager", "backend": "local", "local": {"data_dir": str(env["tmp"] / "d")}})
    with pytest.raises(InvalidInputError) as err:
        mgr._check_subscriber({"successUri": 5}, "scenario")
    assert err.value.http_status_code == 400 and "subscriber.successUri" in err.value.message


def test_parameters_json_nested_deeply_is_400_not_a_recursion_error(env):
    deep: dict = {"v": 1}
    for _ in range(1000):
        deep = {"a": deep}
    cfg = load_processor_config({})
    with pytest.raises(InvalidInputError) as err:
        validate_inputs({"notebook": "nb.ipynb", "parameters_json": deep}, cfg)
    assert err.value.field == "parameters_json" and "nested" in err.value.message
    # through the server: within the body's depth limit, over the parameters' one
    nested: dict = {"v": 1}
    for _ in range(40):
        nested = {"a": nested}
    before = workflows(env)
    assert_400(post(env, {"inputs": {"notebook": "nb.ipynb", "parameters_json": nested}},
                    process="execute-notebook"), "parameters_json", "nested")
    assert workflows(env) == before


def test_masking_survives_any_depth():
    deep: dict = {"password": "hunter2"}
    for _ in range(5000):
        deep = {"a": [deep]}
    assert "hunter2" not in json.dumps(mask_secrets(deep))
    assert mask_secrets({"x": {"api_key": "k", "ok": [1, {"token": "t"}]}}) == {"x": {"api_key": MASK, "ok": [1, {"token": MASK}]}}


# ---------------------------------------------------------------- 5. limits
def test_unknown_top_level_key_is_400(env):
    before = workflows(env)
    assert_400(post(env, {"inputs": {"scenario": "json"}, "input": {"x": 1}}), "'input'", "known: inputs")
    assert workflows(env) == before


def test_body_over_the_limit_is_413_before_anything_is_created(env):
    before = workflows(env)
    big = {"inputs": {"scenario": "json"}, "outputs": {"pad": "x" * (REQUEST_BYTES + 1)}}
    r = post(env, big)
    assert r.status_code == 413 and r.json()["code"] == "RequestTooLarge", r.text
    assert str(REQUEST_BYTES) in r.json()["description"]

    def chunked():  # no Content-Length: the limit holds while the body is read
        yield b'{"inputs": {"scenario": "json"}, "outputs": {"pad": "'
        for _ in range(REQUEST_BYTES // 1024 + 2):
            yield b"x" * 1024
        yield b'"}}'

    r = requests.post(f"{env['url']}/processes/scenario/execution", data=chunked(), timeout=HANG,
                      headers={"Content-Type": "application/json", "Prefer": "respond-async"})
    assert r.status_code == 413, r.text
    assert workflows(env) == before
    assert post(env, {"inputs": {"scenario": "json"}}).status_code == 201  # under the limit: accepted


@pytest.mark.parametrize("inputs,field", [
    ({"notebook": "n" * 300 + ".ipynb"}, "notebook"),
    ({"notebook": "dir/" + "n" * 200 + ".ipynb"}, "notebook"),  # its results folder name would pass 255 bytes
    ({"notebook": "é" * 130 + "/nb.ipynb"}, "notebook"),  # 260 bytes in one folder name
    ({"notebook": "nb.ipynb", "output_filename": "é" * 130}, "output_filename"),
    ({"notebook": "nb.ipynb", "output_dirname": "é" * 130}, "output_dirname"),
    ({"notebook": "nb.ipynb", "result_data_directory": "a/" + "b" * 256}, "result_data_directory"),
])
def test_names_that_can_never_work_are_refused_at_submission(env, inputs, field):
    before = workflows(env)
    assert_400(post(env, {"inputs": inputs}, process="execute-notebook"), repr(field), "255 bytes")
    assert workflows(env) == before


def _hold_sync_socket(env) -> socket.socket:
    """A synchronous execution of 'hold' sent on a raw connection that the test can drop."""
    u = urlsplit(env["url"])
    body = json.dumps({"inputs": {"scenario": "hold"}}).encode()
    sock = socket.create_connection((u.hostname, u.port), timeout=HANG)
    sock.sendall(b"POST /processes/scenario/execution HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def _waiting_sync(env) -> socket.socket:
    """A synchronous 'hold' execution that is waiting in the server (its Workflow exists). A try that is
    answered (503: every slot still waits) is dropped and sent again, until the deadline."""
    deadline = time.time() + HANG
    while time.time() < deadline:
        before = workflows(env)
        sock = _hold_sync_socket(env)
        sock.settimeout(0.05)
        while time.time() < deadline:
            if workflows(env) > before:
                return sock
            try:
                if sock.recv(64):  # answered at once: no slot was free yet
                    break
            except TimeoutError:
                pass
        sock.close()
        time.sleep(0.1)
    raise AssertionError("no synchronous execution slot became free")


def test_sync_waits_end_when_the_client_goes_away(env):
    """More dropped synchronous executions than the server has threads: before, each pinned a thread for
    sync_timeout (300 s here) and the API stopped answering; now each wait ends with its client, so its
    slot is free again (limits.sync_waits more executions can wait) and every thread answers."""
    for _ in range(3):
        socks = [_waiting_sync(env) for _ in range(SYNC_WAITS)]
        for sock in socks:
            sock.close()
    for _ in range(8):  # more requests than threads
        assert requests.get(f"{env['url']}/jobs?f=json", timeout=HANG).status_code == 200


def test_sync_waits_are_bounded_per_process(env):
    socks = []
    try:
        for _ in range(SYNC_WAITS):
            socks.append(_waiting_sync(env))
        before = workflows(env)
        r = requests.post(f"{env['url']}/processes/scenario/execution", json={"inputs": {"scenario": "hold"}},
                          timeout=HANG)
        assert r.status_code == 503 and "limits.sync_waits" in r.json()["description"], r.text
        assert workflows(env) == before
        assert post(env, {"inputs": {"scenario": "json"}}).status_code == 201  # async still works
    finally:
        for sock in socks:
            sock.close()
