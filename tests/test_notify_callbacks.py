"""Subscriber callbacks: at least once per state, never again once recorded on the Workflow."""

from __future__ import annotations

import time

import pytest
from fakes.controller import FakeController
from fakes.fixtures import NAMESPACE, argo, home, kube, manager_def  # noqa: F401 - fixtures
from fakes.receiver import Receiver
from pygeoapi.util import RequestedProcessExecutionMode, Subscriber

from argo_papermill.manager import ArgoManager
from argo_papermill.notify import due_states

ASYNC = RequestedProcessExecutionMode.respond_async
PROCESSES = {"scenario": {"type": "process", "allow_internal_requests": True,
                          "processor": {"name": "fakes.processor.ScenarioProcessor"}}}


def manager(backend, url, home) -> ArgoManager:
    return ArgoManager(manager_def(backend, url, home, processes=PROCESSES))


def subscriber(recv: Receiver) -> Subscriber:
    return Subscriber(success_uri=f"{recv.url}/success", in_progress_uri=f"{recv.url}/progress",
                      failed_uri=f"{recv.url}/failed")


def wait_for(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def recv():
    r = Receiver()
    yield r
    r.close()


def submit(mgr, scenario, sub):
    job_id, *_ = mgr.execute_process("scenario", {"scenario": scenario}, execution_mode=ASYNC, subscriber=sub)
    return job_id


def several_workers_then_a_restart(make_worker, recv: Receiver, jobs: int) -> tuple[list[str], ArgoManager]:
    """Three workers (WSGI workers / replicas) share the callbacks of ``jobs`` jobs and stop; then a restarted
    server goes round (the records live on the Workflows). Each state was sent exactly once."""
    workers = [make_worker() for _ in range(3)]
    for w in workers:
        w.start_background()
    ids = [submit(workers[i % 3], "json", subscriber(recv)) for i in range(jobs)]
    wait_for(lambda: len(recv.calls) >= 2 * jobs)
    time.sleep(1.0)
    for w in workers:
        w.notifier.stop()
    restarted = make_worker()
    restarted.start_background()
    time.sleep(1.0)
    restarted.notifier.stop()
    sent = sorted((b["jobID"], p) for p, b in recv.calls)
    assert sent == sorted([(j, "/progress") for j in ids] + [(j, "/success") for j in ids])
    return ids, restarted


@pytest.mark.parametrize("backend", ["kubernetes", "argo-server"])
def test_each_state_exactly_once(backend, kube, argo, home, recv):
    fake = kube if backend == "kubernetes" else argo
    ctrl = FakeController(fake, NAMESPACE, home).start()
    mgr = manager(backend, fake.url, home)
    try:
        ok = submit(mgr, "json", subscriber(recv))
        bad = submit(mgr, "fail", subscriber(recv))
        wait_for(lambda: len(recv.calls) >= 4)
        time.sleep(1.0)  # several more notifier rounds: nothing is sent again
        by_job = {}
        for path, body in recv.calls:
            by_job.setdefault(body["jobID"], []).append((path, body["status"]))
        assert by_job[ok] == [("/progress", "running"), ("/success", "successful")]
        assert by_job[bad] == [("/progress", "running"), ("/failed", "failed")]
        success = [b for p, b in recv.calls if p == "/success"][0]
        assert success["outputs"] == 105 and success["notificationID"] == f"{ok}:successful"
        if backend == "kubernetes":
            wf = fake.workflows(NAMESPACE)
            ann = {w["metadata"]["labels"]["pygeoapi.io/job-id"]: w["metadata"]["annotations"] for w in wf}
            assert ann[ok]["pygeoapi.io/notified-successful"] and ann[ok]["pygeoapi.io/notified-running"]
            assert "pygeoapi.io/notifying-successful" not in ann[ok]
            labels = {w["metadata"]["labels"]["pygeoapi.io/job-id"]: w["metadata"]["labels"] for w in wf}
            assert labels[ok]["pygeoapi.io/notify"] == "done"
    finally:
        mgr.notifier.stop()
        ctrl.stop()


def test_several_processes_and_a_restart_never_send_twice(kube, home, recv):
    ctrl = FakeController(kube, NAMESPACE, home).start()
    try:
        several_workers_then_a_restart(lambda: manager("kubernetes", kube.url, home), recv, jobs=4)
    finally:
        ctrl.stop()


def test_undelivered_callbacks_survive_a_restart_and_are_retried(kube, home):
    recv = Receiver(fail_first=1000)  # the receiver is down at first
    ctrl = FakeController(kube, NAMESPACE, home).start()
    first = manager("kubernetes", kube.url, home)
    try:
        job_id = submit(first, "json", subscriber(recv))
        wait_for(lambda: first.get_job(job_id)["status"] == "successful")
        time.sleep(0.5)
        first.notifier.stop()
        time.sleep(0.3)
        assert recv.calls == []
        recv.fail_first = 2  # it comes back after two more failures
        second = manager("kubernetes", kube.url, home)
        second.start_background()
        wait_for(lambda: len(recv.calls) >= 2)
        time.sleep(0.8)
        second.notifier.stop()
        assert [(p, b["jobID"]) for p, b in recv.calls] == [("/progress", job_id), ("/success", job_id)]
    finally:
        ctrl.stop()
        recv.close()


def test_due_states():
    sub = {"successUri": "s", "inProgressUri": "p", "failedUri": "f"}
    assert due_states("accepted", sub) == []
    assert due_states("running", sub) == ["running"]
    assert due_states("successful", sub) == ["running", "successful"]
    assert due_states("failed", {"failedUri": "f"}) == ["failed"]
    assert due_states("dismissed", sub) == []


def test_argo_server_records_through_the_kubernetes_api_for_several_processes(home, recv):
    """backend argo-server + annotate_via_kubernetes: both fakes share one store, as both APIs front one cluster."""
    from fakes import argo_server as fake_argo
    from fakes import kube as fake_kube
    from fakes.fixtures import TOKEN

    khttpd, kfake, kurl = fake_kube.serve(fake_kube.FakeKube(token=TOKEN))
    ahttpd, afake, aurl = fake_argo.serve(fake_argo.FakeArgoServer(token=TOKEN, kube=kfake))
    ctrl = FakeController(afake, NAMESPACE, home).start()

    def worker():
        d = manager_def("argo-server", aurl, home, processes=PROCESSES,
                        kubernetes={"server": kurl, "token": TOKEN})
        d["argo_server"]["annotate_via_kubernetes"] = True
        return ArgoManager(d)

    try:
        ids, restarted = several_workers_then_a_restart(worker, recv, jobs=3)
        anns = [w["metadata"]["annotations"] for w in kfake.workflows(NAMESPACE)]
        assert all(a.get("pygeoapi.io/notified-successful") for a in anns)
        # dismiss through the Argo Server stores the mark through the Kubernetes API, then deletes
        assert restarted.delete_job(ids[0]) is True
        assert not [w for w in kfake.workflows(NAMESPACE) if ids[0] in w["metadata"]["name"]]
    finally:
        ctrl.stop()
        ahttpd.shutdown()
        khttpd.shutdown()


def callback_manager(kube, home, **callbacks) -> ArgoManager:
    settings = {"timeout": 2, "retries": 3, "backoff": 0.1, "backoff_max": 0.5, "poll_interval": 0.1, **callbacks}
    return ArgoManager(manager_def("kubernetes", kube.url, home, processes=PROCESSES, callbacks=settings))


def test_a_receiver_that_fails_or_hangs_is_retried_with_backoff_and_per_attempt_timeouts(kube, home, caplog):
    """503 twice, then success: waits of at least backoff, then twice that. A receiver that never answers:
    the attempt ends at the timeout and the next one delivers. Each state once; the URL's token is not logged."""
    caplog.set_level("INFO", logger="argo_papermill.notify")
    ctrl = FakeController(kube, NAMESPACE, home).start()
    failing, hanging = Receiver(fail_first=2), Receiver(hang_first=1, hang_seconds=3)
    mgr = callback_manager(kube, home, timeout=0.5, backoff=0.3, backoff_max=2)
    try:
        ok = submit(mgr, "json", Subscriber(success_uri=f"{failing.url}/s?token=hook-s3cret", in_progress_uri=None,
                                            failed_uri=None))
        wait_for(lambda: len(failing.calls) == 1)
        first, second, third = failing.attempts
        assert second - first >= 0.3 and third - second >= 0.6
        assert "answered 503" in caplog.text and "hook-s3cret" not in caplog.text
        hung = submit(mgr, "json", Subscriber(success_uri=f"{hanging.url}/s", in_progress_uri=None, failed_uri=None))
        wait_for(lambda: len(hanging.calls) == 1)
        assert len(hanging.attempts) == 2 and hanging.attempts[1] - hanging.attempts[0] >= 0.5 + 0.3
        time.sleep(0.5)
        assert [b["jobID"] for _, b in failing.calls] == [ok] and [b["jobID"] for _, b in hanging.calls] == [hung]
    finally:
        mgr.notifier.stop()
        ctrl.stop()
        failing.close()
        hanging.close()


def test_a_private_address_is_refused_again_at_send_time(kube, home, recv):
    """Accepted at submission (the process allowed internal requests then); the process no longer does when
    the callback is due: nothing is sent and nothing is recorded as delivered."""
    ctrl = FakeController(kube, NAMESPACE, home)
    mgr = callback_manager(kube, home)
    try:
        job_id = submit(mgr, "json", subscriber(recv))
        mgr.processes["scenario"]["allow_internal_requests"] = False
        ctrl.start()
        wait_for(lambda: mgr.get_job(job_id)["status"] == "successful")
        time.sleep(1.0)  # several notifier rounds
        assert recv.calls == []
        [wf] = kube.workflows(NAMESPACE)
        assert not [k for k in wf["metadata"]["annotations"] if k.startswith("pygeoapi.io/notified-")]
    finally:
        mgr.notifier.stop()
        ctrl.stop()
