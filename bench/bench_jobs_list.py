"""Benchmark: ``GET /jobs?limit=10`` through ArgoManager.get_jobs with many workflows in the Kubernetes API.

The fake Kubernetes API (tests/fakes/kube.py) runs in-process over real HTTP on 127.0.0.1 and holds
N workflows, each a real ``execute-notebook`` manifest (NotebookProcessor) with an Argo-shaped
status of a finished containerSet pod (Pod node + git-checkout, papermill, main Container nodes,
outputs). Measured in the same run, with the real ``kubernetes`` client:

* baseline: what the predecessor did: list every workflow in full, map each to a job dict, sort in
  memory, slice the page;
* ``metadata``: ``list_cache: none``: one PartialObjectMetadataList of the namespace per page, sorted
  here, then a GET of the page's 10 workflows;
* ``watch``: ``list_cache: watch`` (the default): the metadata index fed by a watch, then the 10 GETs.

Run: ``.venv/bin/python bench/bench_jobs_list.py [--sizes 1000,5000,10000] [--repeats 15]``.
Prints medians per size and the ratio baseline / ours. Target: >= 20x at 10,000, and flat for ``watch``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes import kube as fake_kube  # noqa: E402
from fakes.controller import nodes_for, set_phase  # noqa: E402

from argo_papermill.contract import ANNOTATION_CREATED  # noqa: E402

NAMESPACE = "jobs"
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"
SELECTOR = "app.kubernetes.io/managed-by=argo-papermill"


def template_manifest() -> dict:
    try:
        from argo_papermill.processor import NotebookProcessor

        p = NotebookProcessor({"name": "argo_papermill.NotebookProcessor",
                               "checkout_git_repo": {"url": "https://example.org/repo.git"}})
        return p.workflow_manifest("00000000-0000-0000-0000-000000000000",
                                   {"notebook": "analysis/ndvi.ipynb", "parameters": "eDogMwp5OiBbMSwgMl0K"})
    except Exception as exc:  # noqa: BLE001 - fall back to the tests' manifest of the same shape
        print(f"(NotebookProcessor unavailable: {exc}; using the tests' manifest)")
        from fakes.processor import build_manifest

        return build_manifest("00000000-0000-0000-0000-000000000000", "json", 1, "execute-notebook")


def workflow(template: dict, i: int, t0: datetime) -> dict:
    """One finished workflow; the spec is shared between objects (it is only serialised)."""
    job_id = f"{i:08d}-bench-job-0000-000000000000"
    md = copy.deepcopy(template["metadata"])
    md["name"] = f"pygeoapi-job-{job_id}"
    md["namespace"] = NAMESPACE
    md["labels"]["pygeoapi.io/job-id"] = job_id
    created = t0 + timedelta(seconds=i)
    md["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    md["annotations"][ANNOTATION_CREATED] = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    md["managedFields"] = [{"manager": "workflow-controller", "operation": "Update", "apiVersion": "argoproj.io/v1alpha1",
                            "time": md["creationTimestamp"], "fieldsType": "FieldsV1",
                            "fieldsV1": {"f:metadata": {"f:labels": {"f:workflows.argoproj.io/phase": {}}}}}]
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": md, "spec": template["spec"]}
    start = md["creationTimestamp"]
    end = (created + timedelta(seconds=95)).strftime("%Y-%m-%dT%H:%M:%SZ")
    set_phase(wf, "Succeeded")
    nodes = nodes_for(wf, "Succeeded", "Succeeded", "Succeeded", started=start, finished=end)
    pod = nodes[md["name"]]
    git_id = f"{md['name']}-{i * 7919 % 4294967291}"
    nodes[git_id] = {"id": git_id, "name": f"{md['name']}.git-checkout", "displayName": "git-checkout",
                     "type": "Container", "templateName": "notebook", "templateScope": f"local/{md['name']}",
                     "phase": "Succeeded", "boundaryID": md["name"], "startedAt": start, "finishedAt": end,
                     "progress": "1/1", "resourcesDuration": {"cpu": 1, "memory": 12}}
    pod["children"].insert(0, git_id)
    pod["outputs"] = {"parameters": [{"name": "error", "value": ""}], "exitCode": "0",
                      "artifacts": [{"name": "result-notebook", "path": "/workspace/outputs/result.ipynb",
                                     "s3": {"key": f"{md['name']}/{md['name']}/result.ipynb"}}]}
    pod["resourcesDuration"] = {"cpu": 41, "memory": 2301}
    wf["status"].update({"startedAt": start, "finishedAt": end, "progress": "4/4", "nodes": nodes,
                         "resourcesDuration": {"cpu": 41, "memory": 2301}, "estimatedDuration": 95,
                         "conditions": [{"type": "PodRunning", "status": "False"},
                                        {"type": "Completed", "status": "True"}],
                         "artifactRepositoryRef": {"default": True, "artifactRepository": {}},
                         "taskResultsCompletionStatus": {md["name"]: True}})
    return wf


def baseline_page(api, limit: int = 10) -> list[dict]:
    """The predecessor's way: every workflow in full, all mapped, sorted in memory, sliced."""
    from argo_papermill.status import job_from_workflow

    body = api.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, label_selector=SELECTOR)
    jobs = [job_from_workflow(w) for w in body["items"]]
    jobs.sort(key=lambda j: j["created"], reverse=True)
    return jobs[:limit]


CPU: dict[str, float] = {}


def median_ms(fn, repeats: int, label: str = "") -> float:
    """Median wall time; the median CPU time of this process (client + in-process fake) goes to CPU[label].

    CPU time is reported too because the machine may be shared: it does not count waiting for a core.
    """
    times, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        c, t = time.process_time(), time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    CPU[label] = statistics.median(cpu)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--baseline-repeats", type=int, default=3)
    args = ap.parse_args()

    from kubernetes import client

    from argo_papermill.manager import ArgoManager

    template = template_manifest()
    httpd, fake, url = fake_kube.serve(fake_kube.FakeKube())
    api = client.CustomObjectsApi(client.ApiClient(client.Configuration(host=url)))
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    made = 0
    rows = []
    full_size = None
    for n in sorted(int(s) for s in args.sizes.split(",")):
        while made < n:
            fake.put(workflow(template, made, t0))
            made += 1
        if full_size is None:
            import json

            full_size = len(json.dumps(fake.workflows(NAMESPACE)[0]))
        managers = {}
        for mode in ("watch", "none"):
            managers[mode] = ArgoManager({"name": "argo_papermill.ArgoManager", "backend": "kubernetes",
                                          "namespace": NAMESPACE, "kubernetes": {"server": url, "list_cache": mode}})
        expected = [j["identifier"] for j in baseline_page(api)]
        cold = {}
        for mode, mgr in managers.items():
            t = time.perf_counter()
            got = [j["identifier"] for j in mgr.get_jobs(limit=10, offset=0)["jobs"]]
            cold[mode] = (time.perf_counter() - t) * 1000
            assert got == expected, (mode, got[:2], expected[:2])
            assert mgr.get_jobs(limit=10)["numberMatched"] == n
        gc.freeze()  # the fake's stored workflows are long-lived: keep them out of every collection
        base = median_ms(lambda: baseline_page(api), args.baseline_repeats, "base")
        meta = median_ms(lambda: managers["none"].get_jobs(limit=10, offset=0), max(3, args.repeats // 3), "meta")
        watch = median_ms(lambda: managers["watch"].get_jobs(limit=10, offset=0), args.repeats, "watch")
        deep = median_ms(lambda: managers["watch"].get_jobs(limit=10, offset=n - 10), args.repeats, "deep")
        cpu_ratio = CPU["base"] / CPU["watch"]
        for mgr in managers.values():
            mgr.backend.close()
        rows.append((n, base, meta, watch, deep, cold["watch"], cpu_ratio))
        print(f"n={n:>6}: baseline {base:9.1f} ms | metadata list {meta:8.1f} ms ({base / meta:6.1f}x) | "
              f"watch index {watch:7.1f} ms ({base / watch:7.1f}x), last page {deep:6.1f} ms, "
              f"first page incl. index load {cold['watch']:7.1f} ms; CPU medians: baseline {CPU['base']:.1f}, "
              f"metadata {CPU['meta']:.1f}, watch {CPU['watch']:.1f} ms ({cpu_ratio:.1f}x)", flush=True)
    httpd.shutdown()
    print(f"\none workflow in full: {full_size} bytes of JSON")
    print("| workflows | baseline: list all + sort (ms) | metadata list per page (ms) | ratio | "
          "watch-fed index (ms) | ratio | CPU-time ratio |")
    print("|---|---|---|---|---|---|---|")
    for n, base, meta, watch, deep, cold_ms, cpu_ratio in rows:
        print(f"| {n} | {base:.1f} | {meta:.1f} | {base / meta:.1f}x | {watch:.1f} | {base / watch:.1f}x | "
              f"{cpu_ratio:.1f}x |")
    n, base, meta, watch, *_ = rows[-1]
    verdict = "met" if base / watch >= 20 else "NOT met"
    print(f"\ntarget >= 20x at {n}: {verdict} ({base / watch:.1f}x with the watch-fed index); "
          f"watch medians across sizes: {', '.join(f'{r[3]:.1f}' for r in rows)} ms")


if __name__ == "__main__":
    main()
