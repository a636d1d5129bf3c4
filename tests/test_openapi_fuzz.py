"""schemathesis against the OpenAPI document a real ``argo-papermill serve`` (local backend, real engine)
serves (issue 13). The document's ``$ref``s to schemas.opengis.net are resolved from ``tests/schemas``
(nothing leaves the machine). Every operation is called with generated requests, valid and invalid.

Asserted, for every operation: no 5xx (``not_a_server_error``). Asserted for the routes this project
answers (the process description, execution, the job routes): responses conform to the document
(status code, content type, schema) except the deviations pygeoapi 0.24 itself documents wrongly, which
are listed in ``UPSTREAM`` with the reason and counted, not hidden: ``docs/reliability.md`` reports them.
"""

from __future__ import annotations

import collections
import copy
import re
import shutil
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
import yaml

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_serve_e2e import Server, make_home  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"),
]

SCHEMAS = Path(__file__).resolve().parent / "schemas"
REMOTE = "https://schemas.opengis.net/"
MAX_EXAMPLES = 100

# (method, path template) -> why pygeoapi 0.24's document does not describe what pygeoapi answers there.
# Their responses are still checked for server errors; the schema checks are counted, not asserted.
UPSTREAM = {
    ("GET", "/"): "landing page: pygeoapi's own route",
    ("GET", "/openapi"): "the document itself (HTML by default)",
    ("GET", "/conformance"): "pygeoapi's own route",
    ("GET", "/collections"): "no collections are configured",
    ("GET", "/processes"): "pygeoapi's own route",
    ("DELETE", "/jobs/{jobId}"): "pygeoapi documents 204, answers 200 with the dismissed status (OGC 1.0 allows both)",
}


def local_document(raw: dict) -> dict:
    """``raw`` with every reference into schemas.opengis.net replaced by a component loaded from
    ``tests/schemas`` (recursion kept as references, so cyclic schemas stay finite)."""
    doc = copy.deepcopy(raw)
    components = doc.setdefault("components", {})
    files: dict[str, dict] = {}

    def load(url: str) -> dict:
        if url not in files:
            files[url] = yaml.safe_load((SCHEMAS / url.removeprefix(REMOTE)).read_text())
        return files[url]

    def kind(file: str, pointer: str) -> str:
        if pointer.startswith("/components/"):
            return pointer.split("/")[2]
        return "responses" if "/responses/" in file else "parameters" if "/parameters/" in file else "schemas"

    def internal(url: str) -> str:
        file, _, pointer = url.partition("#")
        section = kind(file, pointer)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", url.removeprefix(REMOTE))
        target = components.setdefault(section, {})
        if name not in target:
            target[name] = {}  # placeholder: a cycle back to here is a reference
            node = load(file)
            for part in [p for p in pointer.split("/") if p]:
                node = node[part.replace("~1", "/").replace("~0", "~")]
            node = copy.deepcopy(node)
            visit(node, file)
            target[name] = node
        return f"#/components/{section}/{name}"

    def visit(node, base: str | None) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                absolute = urljoin(base, ref) if base else ref
                if absolute.startswith(REMOTE):
                    node["$ref"] = internal(absolute)
            for value in list(node.values()):
                visit(value, base)
        elif isinstance(node, list):
            for value in node:
                visit(value, base)

    visit(doc, None)
    return doc


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    srv = Server(make_home(tmp), tmp / "data").start()
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def api_schema(served):
    raw = requests.get(f"{served.url}/openapi?f=json", timeout=60).json()
    doc = local_document(raw)
    assert REMOTE not in yaml.safe_dump(doc)  # nothing left to fetch
    doc["servers"] = [{"url": served.url}]
    return schemathesis.openapi.from_dict(doc)


FINDINGS: dict[str, list[str]] = {"server errors": [], "ours": [], "upstream deviations": [], "calls": []}


def _run(operation, mode, served) -> None:
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def call(case):
        response = case.call(base_url=served.url, timeout=60)
        FINDINGS["calls"].append(f"{case.method} {case.path} {response.status_code}")
        key = (case.method.upper(), case.path)
        if response.status_code >= 500:
            FINDINGS["server errors"].append(f"{key} {response.status_code}: {response.text[:200]}")
        if mode is GenerationMode.NEGATIVE:
            return  # invalid requests: only the status class matters (a 4xx)
        try:
            case.validate_response(response, checks=checks)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - schemathesis' FailureGroup
            text = " ".join(str(exc).split())[:300]
            FINDINGS["upstream deviations" if key in UPSTREAM else "ours"].append(f"{key}: {text}")

    call()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_server_error_and_our_routes_conform(api_schema, served, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/jobs", "/jobs/{jobId}", "/jobs/{jobId}/results",
                                               "/processes/execute-notebook/execution"}
    for operation in operations:
        try:
            _run(operation, mode, served)
        except Unsatisfiable:  # nothing invalid can be generated for it (no parameters, no body)
            continue
    if mode is GenerationMode.POSITIVE:  # the job routes with real jobs too (random ids are all 404)
        checks = [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_schema_conformance]
        job_ids = [served.submit("notebooks/hello.ipynb"), served.submit("notebooks/fail.ipynb")]
        for job_id in job_ids:
            served.wait(job_id)
        by_path = {(op.method.upper(), op.path): op for op in operations}
        for job_id in job_ids:
            for key in (("GET", "/jobs/{jobId}"), ("GET", "/jobs/{jobId}/results"), ("GET", "/jobs")):
                case = by_path[key].Case(path_parameters={"jobId": job_id} if "{jobId}" in key[1] else None,
                                         query={"f": "json"})
                response = case.call(base_url=served.url, timeout=60)
                FINDINGS["calls"].append(f"{key[0]} {key[1]} (real job) {response.status_code}")
                case.validate_response(response, checks=checks)
            case = by_path[("DELETE", "/jobs/{jobId}")].Case(path_parameters={"jobId": job_id})
            response = case.call(base_url=served.url, timeout=60)
            assert response.status_code == 200, response.text  # pygeoapi documents 204 (UPSTREAM)
    assert FINDINGS["calls"]
    statuses = collections.Counter(c.rsplit(" ", 1)[1][0] + "xx" for c in FINDINGS["calls"])
    print(f"\nschemathesis {mode.value}: {len(FINDINGS['calls'])} requests so far, by class {dict(statuses)}, "
          f"{len(FINDINGS['server errors'])} server errors, {len(set(FINDINGS['ours']))} deviations in our routes, "
          f"{len(set(FINDINGS['upstream deviations']))} upstream deviations")
    for line, count in sorted(collections.Counter(FINDINGS["calls"]).items()):
        print(f"  {count:4d} x {line}")
    for line in sorted(set(FINDINGS["upstream deviations"]))[:20]:
        print("  upstream:", line[:240])
    assert not FINDINGS["server errors"], FINDINGS["server errors"]
    assert not FINDINGS["ours"], "\n".join(sorted(set(FINDINGS["ours"])))
