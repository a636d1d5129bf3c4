"""Benchmark against the real Kubernetes API server of the real-Argo stack (scripts/argo-stack).

1. ``GET /jobs?limit=10`` with N Workflows stored (created directly, finished, not run): ArgoManager's
   page (watch-fed metadata index, then 10 GETs) against the predecessor's way (list every Workflow in
   full, map, sort, slice), both in the same run, as a ratio.
2. 100 concurrent executions through ArgoManager (``execute_process``, async): Workflows created per
   second by the real API server (the stack's controller then runs them; they are deleted afterwards).

Run: ``.venv/bin/python bench/bench_real_api.py [--workflows 10000] [--concurrent 100]`` with a stack
started by ``scripts/argo-stack up DIR`` and ``ARGO_STACK_DIR=DIR`` (or none: the script starts one in a
temporary folder and stops it at the end).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "realargo"), str(ROOT / "bench")]

from bench_jobs_list import template_manifest, workflow  # noqa: E402
from kubeapi import KubeApi  # noqa: E402

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"
BENCH_NAMESPACE = "bench"


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0]
    return env


def stored(template: dict, i: int, t0: datetime) -> dict:
    """A finished Workflow the controller leaves alone (label completed=true, recent timestamps)."""
    wf = workflow(template, i, t0)
    md = wf["metadata"]
    md["namespace"] = BENCH_NAMESPACE
    for key in ("creationTimestamp", "managedFields", "resourceVersion", "uid"):
        md.pop(key, None)
    md["labels"]["workflows.argoproj.io/completed"] = "true"
    md["labels"]["workflows.argoproj.io/phase"] = "Succeeded"
    return wf


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workflows", type=int, default=10000)
    ap.add_argument("--concurrent", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--baseline-repeats", type=int, default=3)
    args = ap.parse_args()

    own_stack = None
    stack_dir = os.environ.get("ARGO_STACK_DIR")
    if not stack_dir:
        own_stack = tempfile.mkdtemp(prefix="argo-stack-bench-")
        subprocess.run([str(ROOT / "scripts" / "argo-stack"), "up", own_stack], check=True,
                       env={**os.environ, "PYTHON": sys.executable})
        stack_dir = own_stack
    env = read_env(Path(stack_dir) / "env")
    try:
        run(args, env)
    finally:
        if own_stack:
            subprocess.run([str(ROOT / "scripts" / "argo-stack"), "down", own_stack], check=False)


def run(args, env: dict[str, str]) -> None:
    from kubernetes import client, config

    from argo_papermill.manager import ArgoManager
    from argo_papermill.status import job_from_workflow

    admin = KubeApi.from_kubeconfig(env["KUBECONFIG"])
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BENCH_NAMESPACE}})
    selector = "app.kubernetes.io/managed-by=argo-papermill"
    existing = admin.request("GET", KubeApi.path("Workflow", namespace=BENCH_NAMESPACE),
                             params={"labelSelector": selector, "limit": 1}).json()
    have = len(existing["items"]) and int(existing["metadata"].get("remainingItemCount", 0)) + 1
    template = template_manifest()
    t0 = datetime.now(UTC) - timedelta(seconds=args.workflows + 60)
    if have < args.workflows:
        start = time.perf_counter()

        def create(i: int) -> None:
            admin.post(KubeApi.path("Workflow", namespace=BENCH_NAMESPACE), stored(template, i, t0))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(have, args.workflows)))
        print(f"stored {args.workflows - have} workflows in {time.perf_counter() - start:.1f} s", flush=True)

    api = client.CustomObjectsApi(config.new_client_from_config(env["KUBECONFIG"]))

    def baseline() -> list[dict]:
        body = api.list_namespaced_custom_object(GROUP, VERSION, BENCH_NAMESPACE, PLURAL, label_selector=selector)
        jobs = [job_from_workflow(w) for w in body["items"]]
        jobs.sort(key=lambda j: j["created"], reverse=True)
        return jobs[:10]

    manager = ArgoManager({"name": "argo_papermill.ArgoManager", "backend": "kubernetes",
                           "namespace": BENCH_NAMESPACE, "kubernetes": {"kubeconfig": env["KUBECONFIG"]}})
    expected = [j["identifier"] for j in baseline()]
    got = [j["identifier"] for j in manager.get_jobs(limit=10, offset=0)["jobs"]]
    assert got == expected, (got[:2], expected[:2])
    base = median_ms(baseline, args.baseline_repeats)
    ours = median_ms(lambda: manager.get_jobs(limit=10, offset=0), args.repeats)
    print(f"GET /jobs?limit=10 with {args.workflows} workflows on the real API server: predecessor's way "
          f"{base:.1f} ms, ArgoManager {ours:.1f} ms, ratio {base / ours:.1f}x", flush=True)
    manager.backend.close()

    concurrent_executions(args, env)


def concurrent_executions(args, env: dict[str, str]) -> None:
    from argo_papermill.manager import ArgoManager

    namespace = env["ARGO_NAMESPACE"]
    from pygeoapi.util import RequestedProcessExecutionMode

    manager = ArgoManager({
        "name": "argo_papermill.ArgoManager", "backend": "kubernetes", "namespace": namespace,
        "kubernetes": {"kubeconfig": env["ARGO_STACK_SERVER_KUBECONFIG"]},
        "processes": {"execute-notebook": {"type": "process", "processor": {
            "name": "argo_papermill.NotebookProcessor", "default_image": "job:bench",
            "job_service_account": "argo-papermill-job"}}}})

    def execute(_: int) -> str:
        job_id, *_rest = manager.execute_process("execute-notebook", {"notebook": "missing.ipynb"},
                                                 RequestedProcessExecutionMode.respond_async)
        return job_id

    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrent) as pool:
        ids = list(pool.map(execute, range(args.concurrent)))
    elapsed = time.perf_counter() - start
    print(f"{args.concurrent} concurrent executions: {len(set(ids))} workflows created in {elapsed:.2f} s "
          f"({len(ids) / elapsed:.1f} per second)", flush=True)
    manager.backend.close()
    admin = KubeApi.from_kubeconfig(env["KUBECONFIG"])
    admin.timeout = 120  # the controller is busy with the 100 Workflows just made
    for job_id in ids:
        try:
            admin.delete(KubeApi.path("Workflow", f"pygeoapi-job-{job_id}", namespace))
        except Exception as err:  # noqa: BLE001 - cleanup only; the figures are printed already
            print(f"(could not delete pygeoapi-job-{job_id}: {err})")
            break


if __name__ == "__main__":
    main()
