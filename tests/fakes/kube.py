"""In-process fake Kubernetes API for custom objects (and pods/logs), over real HTTP on 127.0.0.1.

Grown from hera-and-testing.md Appendix A. It has what the manager relies on: 201 on
create, generateName, 409 AlreadyExists, label selectors, limit/continue paging,
PartialObjectMetadata(List) when the Accept header asks for it (list and watch), watch
with resourceVersion and bookmarks, merge and JSON patch, ``metadata.resourceVersion`` in
a patch as a precondition (409 Conflict), finalizers (delete sets deletionTimestamp),
bearer-token checks, and fault injection (any status for matching requests).
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from fakes.http import INVALID_JSON, QuietHandler, start

PATH = re.compile(
    r"^/apis/(?P<g>[^/]+)/(?P<v>[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")
POD_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/]+)(?P<log>/log)?)?$")
SECRET_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/secrets$")


def status_body(code: int, reason: str, msg: str) -> dict:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "code": code, "reason": reason, "message": msg}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def match_labels(selector: str, labels: dict) -> bool:
    for req in re.findall(r"[^,(]+(?:\([^)]*\))?", selector or ""):
        req = req.strip()
        if not req:
            continue
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", req):
            k, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if (op == "in") != (k in labels and labels[k] in vals):
                return False
        elif "!=" in req:
            k, v = (s.strip() for s in req.split("!=", 1))
            if labels.get(k) == v:
                return False
        elif "=" in req:
            k, v = (s.strip() for s in req.replace("==", "=").split("=", 1))
            if labels.get(k) != v:
                return False
        elif req.startswith("!"):
            if req[1:] in labels:
                return False
        elif req not in labels:
            return False
    return True


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invalid_workflow(wf: dict) -> str | None:
    spec = wf.get("spec")
    if not isinstance(spec, dict):
        return "spec: Required value"
    if spec.get("workflowTemplateRef"):
        return None
    templates = spec.get("templates")
    if not isinstance(templates, list) or not templates:
        return "spec.templates: Required value"
    if spec.get("entrypoint") not in {t.get("name") for t in templates if isinstance(t, dict)}:
        return f"spec.entrypoint: Invalid value: {spec.get('entrypoint')!r}: template not found"
    return None


@dataclass
class Fault:
    """Answer requests whose method matches and whose path matches ``pattern`` with ``status``."""

    method: str  # "*" or GET/POST/...
    pattern: str
    status: int
    reason: str = "InternalError"
    message: str = "injected"
    times: int = -1  # -1 = until removed
    watch: bool | None = None  # restrict to watch (True) or non-watch (False) requests
    after_apply: bool = False  # do the request, then answer with this status (a timeout after the commit)
    delay: float = 0.0  # seconds to wait first (a slow API; with status 0 the request is then served)
    drop: bool = False  # close the connection without an answer (after the commit with after_apply)
    retry_after: str | None = None  # Retry-After header of the answer (429)
    cut_watch: bool = False  # a watch stream: send half of the first event, then close the connection

    def matches(self, method: str, path: str, after_apply: bool) -> bool:
        """Whether this fault answers the request now (and counts it)."""
        if self.after_apply != after_apply or self.times == 0:
            return False
        if self.method not in ("*", method) or not re.search(self.pattern, path):
            return False
        if self.times > 0:
            self.times -= 1
        return True


class FakeKube:
    def __init__(self, token: str | None = None):
        self.objects: dict[tuple, dict] = {}  # (g, v, plural, ns, name) -> obj
        self.rv = 0
        self.events: list[tuple[int, str, str, dict]] = []  # (rv, plural, type, obj)
        self.cond = threading.Condition()
        self.requests: list[tuple[str, str, dict, object]] = []
        self.faults: list[Fault] = []
        self.faults_fired = 0  # requests answered by an injected fault
        self.token = token
        self.pods: dict[tuple[str, str], dict] = {}  # (ns, name) -> pod
        self.pod_logs: dict[tuple[str, str, str], str] = {}  # (ns, pod, container) -> text
        self.secrets: dict[tuple[str, str], dict] = {}  # (ns, name) -> Secret (with data)
        self.secret_list_accepts: list[str] = []  # the Accept header of every secrets list
        self.record_events = True
        self._snapshots: dict = {}
        self.validate_workflows = True  # stands in for the CRD schema / a validating admission policy

    # ---- test helpers
    def fail(self, method: str, pattern: str, status: int, reason: str = "InternalError",
             message: str = "injected", times: int = -1, watch: bool | None = None,
             after_apply: bool = False, **kind) -> Fault:
        """Inject a fault; ``kind``: ``delay``, ``drop``, ``retry_after``, ``cut_watch`` (see ``Fault``)."""
        f = Fault(method, pattern, status, reason, message, times, watch, after_apply, **kind)
        with self.cond:
            self.faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self.cond:
            self.faults.clear()

    def workflows(self, ns: str | None = None) -> list[dict]:
        with self.cond:
            return [copy.deepcopy(o) for k, o in self.objects.items()
                    if k[2] == "workflows" and (ns is None or k[3] == ns)]

    def put(self, obj: dict, plural: str = "workflows", g: str = "argoproj.io", v: str = "v1alpha1") -> None:
        """Store an object directly (bulk set-up), without a watch event."""
        md = obj["metadata"]
        with self.cond:
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_rfc3339())
            self.objects[(g, v, plural, md["namespace"], md["name"])] = obj

    def mutate(self, ns: str, name: str, fn, plural: str = "workflows", g: str = "argoproj.io",
               v: str = "v1alpha1") -> dict | None:
        """Change a stored object as a controller would (bumps resourceVersion, emits MODIFIED)."""
        with self.cond:
            key = (g, v, plural, ns, name)
            obj = self.objects.get(key)
            if obj is None:
                return None
            new = copy.deepcopy(obj)
            fn(new)
            self.objects[key] = new
            self._bump(key, "MODIFIED", new)
            return copy.deepcopy(new)

    def add_secret(self, ns: str, name: str, data: dict[str, str], labels: dict | None = None,
                   annotations: dict | None = None) -> None:
        with self.cond:
            self.secrets[(ns, name)] = {
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": ns, "labels": labels or {}, "annotations": annotations or {},
                             "uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339()},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}

    def add_pod(self, ns: str, name: str, labels: dict, containers: dict[str, str]) -> None:
        with self.cond:
            self.pods[(ns, name)] = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": str(uuid.uuid4()),
                             "creationTimestamp": now_rfc3339()},
                "spec": {"containers": [{"name": c, "image": "x"} for c in list(containers) + ["wait"]]},
                "status": {"phase": "Running"}}
            for c, text in containers.items():
                self.pod_logs[(ns, name, c)] = text

    # ---- core
    def _bump(self, key, typ, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        if self.record_events:
            self.events.append((self.rv, key[2], typ, copy.deepcopy(obj)))
        self.cond.notify_all()

    def _fault(self, method: str, path: str, is_watch: bool, after_apply: bool = False) -> tuple[int, dict] | None:
        f = self.match_fault(method, path, is_watch, after_apply)
        return (f.status, status_body(f.status, f.reason, f.message)) if f else None

    def match_fault(self, method: str, path: str, is_watch: bool, after_apply: bool = False,
                    cut_watch: bool = False) -> Fault | None:
        """The injected fault that answers this request now (counted), if any."""
        with self.cond:
            for f in list(self.faults):
                if f.cut_watch == cut_watch and (f.watch is None or f.watch == is_watch) \
                        and f.matches(method, path, after_apply):
                    self.faults_fired += 1
                    return f
        return None

    def authorized(self, header: str | None) -> bool:
        """As the apiserver's bearer authenticator: the scheme is case-insensitive (the in-cluster loader
        sends ``bearer``)."""
        scheme, _, token = (header or "").partition(" ")
        return self.token is None or (scheme.lower() == "bearer" and token == self.token)

    def handle(self, method, path, query, body, ctype, accept=""):
        if m := POD_PATH.match(path):
            return self._pods(method, m, query)
        if m := SECRET_PATH.match(path):
            return self._secrets(method, m.group("ns"), accept)
        m = PATH.match(path)
        if not m:
            return 404, status_body(404, "NotFound", f"the server could not find the requested resource ({path})")
        g, v, ns, plural, name = m.group("g", "v", "ns", "plural", "name")
        with self.cond:
            if method == "POST" and not name:
                if not isinstance(body, dict):
                    return 400, status_body(400, "BadRequest", "the body must be an object")
                md = body.setdefault("metadata", {})
                if not md.get("name"):
                    if not md.get("generateName"):
                        return 422, status_body(422, "Invalid", "metadata.name or generateName is required")
                    md["name"] = md["generateName"] + secrets.token_hex(3)[:5]
                if md.get("namespace") and md["namespace"] != ns:
                    return 400, status_body(400, "BadRequest", "the namespace of the provided object does not "
                                                               "match the namespace sent on the request")
                md["namespace"] = ns
                if plural == "workflows" and self.validate_workflows and (problem := _invalid_workflow(body)):
                    return 422, status_body(422, "Invalid", f'Workflow.argoproj.io "{md["name"]}" is invalid: '
                                                            f'{problem}')
                key = (g, v, plural, ns, md["name"])
                if key in self.objects:
                    return 409, status_body(409, "AlreadyExists", f'{plural}.{g} "{md["name"]}" already exists')
                md.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=now_rfc3339())
                self.objects[key] = body
                self._bump(key, "ADDED", body)
                return 201, body
            if name:
                key = (g, v, plural, ns, name)
                obj = self.objects.get(key)
                if obj is None:
                    return 404, status_body(404, "NotFound", f'{plural}.{g} "{name}" not found')
                if method == "GET":
                    return 200, obj
                if method == "DELETE":
                    if obj["metadata"].get("finalizers"):
                        if not obj["metadata"].get("deletionTimestamp"):
                            obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                            self._bump(key, "MODIFIED", obj)
                        return 200, obj
                    del self.objects[key]
                    self._bump(key, "DELETED", obj)
                    return 200, {"apiVersion": "v1", "kind": "Status", "status": "Success",
                                 "details": {"name": name, "group": g, "kind": plural}}
                if method in ("PATCH", "PUT"):
                    want_rv = (body or {}).get("metadata", {}).get("resourceVersion") if isinstance(body, dict) \
                        else None
                    if want_rv and want_rv != obj["metadata"]["resourceVersion"]:
                        return 409, status_body(409, "Conflict", f'Operation cannot be fulfilled on {plural}.{g} '
                                                                 f'"{name}": the object has been modified; please '
                                                                 f'apply your changes to the latest version and '
                                                                 f'try again')
                    if method == "PUT":
                        new = body
                    elif "json-patch" in ctype:
                        import jsonpatch

                        new = jsonpatch.apply_patch(obj, body)
                    else:
                        new = merge_patch(obj, body)
                    new["metadata"].update({k: obj["metadata"][k] for k in
                                            ("name", "namespace", "uid", "creationTimestamp")})
                    if obj["metadata"].get("deletionTimestamp"):
                        new["metadata"]["deletionTimestamp"] = obj["metadata"]["deletionTimestamp"]
                        if not new["metadata"].get("finalizers"):
                            del self.objects[key]
                            self._bump(key, "DELETED", new)
                            return 200, new
                    self.objects[key] = new
                    self._bump(key, "MODIFIED", new)
                    return 200, new
                return 405, status_body(405, "MethodNotAllowed", method)
            # collection GET (the filtered, name-ordered snapshot is kept per resourceVersion, so paging
            # through it costs per page what an apiserver's range read costs, not a scan of everything)
            sel, fsel = query.get("labelSelector", [""])[0], query.get("fieldSelector", [""])[0]
            snap_key = (g, v, plural, ns, sel, fsel, self.rv, len(self.objects))
            items = self._snapshots.get(snap_key)
            if items is None:
                items = sorted((o for k, o in self.objects.items()
                                if k[:3] == (g, v, plural) and (ns is None or k[3] == ns)
                                and match_labels(sel, o["metadata"].get("labels") or {})
                                and all(o["metadata"].get(f.split("=")[0].split(".")[-1]) == f.split("=")[1]
                                        for f in fsel.split(",") if f)),
                               key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
                self._snapshots = {snap_key: items}
            start = int(base64.b64decode(query["continue"][0])) if query.get("continue") else 0
            limit = int(query.get("limit", ["0"])[0]) or len(items)
            page, meta = items[start:start + limit], {"resourceVersion": str(self.rv)}
            if start + limit < len(items):
                meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
                meta["remainingItemCount"] = len(items) - start - limit
            if "as=PartialObjectMetadataList" in accept:
                return 200, {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta,
                             "items": [{"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                                        "metadata": o["metadata"]} for o in page]}
            return 200, {"apiVersion": f"{g}/{v}", "kind": "WorkflowList", "metadata": meta, "items": page}

    def _secrets(self, method, ns, accept):
        """The collection GET only: full Secrets, or PartialObjectMetadataList when the Accept header asks."""
        if method != "GET":
            return 405, status_body(405, "MethodNotAllowed", method)
        with self.cond:
            self.secret_list_accepts.append(accept)
            items = [copy.deepcopy(o) for (sns, _), o in sorted(self.secrets.items()) if sns == ns]
        meta = {"resourceVersion": str(self.rv)}
        if "as=PartialObjectMetadataList" in accept:
            return 200, {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": meta,
                         "items": [{"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                                    "metadata": o["metadata"]} for o in items]}
        return 200, {"apiVersion": "v1", "kind": "SecretList", "metadata": meta, "items": items}

    def _pods(self, method, m, query):
        ns, name, log = m.group("ns", "name", "log")
        with self.cond:
            if not name:
                sel = query.get("labelSelector", [""])[0]
                items = [p for (pns, _), p in self.pods.items()
                         if pns == ns and match_labels(sel, p["metadata"]["labels"])]
                return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": str(self.rv)},
                             "items": items}
            pod = self.pods.get((ns, name))
            if pod is None:
                return 404, status_body(404, "NotFound", f'pods "{name}" not found')
            if log:
                container = query.get("container", [""])[0]
                return 200, self.pod_logs.get((ns, name, container), "")
            return 200, pod

    def watch(self, path, query, write, metadata_only: bool):
        m = PATH.match(path)
        plural, ns = m.group("plural"), m.group("ns")
        sel = query.get("labelSelector", [""])[0]
        deadline = time.time() + float(query.get("timeoutSeconds", ["5"])[0])

        def shape(o):
            if metadata_only:
                return {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o["metadata"]}
            return o

        with self.cond:
            since = int(query.get("resourceVersion", ["0"])[0] or 0)
            if not since:
                for k, o in self.objects.items():
                    if k[2] == plural and (ns is None or k[3] == ns) and \
                            match_labels(sel, o["metadata"].get("labels") or {}):
                        write({"type": "ADDED", "object": shape(o)})
                since = self.rv
            elif self.events and since < self.events[0][0] - 1 and self.record_events:
                write({"type": "ERROR", "object": status_body(410, "Expired", "too old resource version")})
                return
            while time.time() < deadline:
                i = bisect.bisect_right(self.events, since, key=lambda e: e[0])
                for rv, pl, typ, o in self.events[i:]:
                    since = rv
                    if pl == plural and (ns is None or o["metadata"]["namespace"] == ns) \
                            and match_labels(sel, o["metadata"].get("labels") or {}):
                        write({"type": typ, "object": shape(o)})
                self.cond.wait(timeout=max(0.0, min(0.2, deadline - time.time())))


def serve(fake: FakeKube | None = None, port: int = 0, tls=None):
    """Start the fake on 127.0.0.1 (HTTPS with ``tls`` = (cert, key)); returns (httpd, fake, url).
    ``httpd.shutdown()`` stops it."""
    fake = fake or FakeKube()

    class Handler(QuietHandler):
        def _do(self):
            path, q, body = self.read_request()
            if body is INVALID_JSON:
                return self.send_payload(400, status_body(400, "BadRequest", "invalid JSON"))
            is_watch = q.get("watch", ["false"])[0] in ("true", "1")
            fake.requests.append((self.command, path, q, body))
            if not fake.authorized(self.headers.get("Authorization")):
                return self.send_payload(401, status_body(401, "Unauthorized", "Unauthorized"))
            fault = fake.match_fault(self.command, path, is_watch)
            if fault and self.fault_answered(fault, status_body(fault.status, fault.reason, fault.message)):
                return
            accept = self.headers.get("Accept", "")
            if self.command == "GET" and is_watch:
                cut = fake.match_fault(self.command, path, is_watch, cut_watch=True)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")  # as the apiserver streams a watch
                self.end_headers()
                self.close_connection = True

                def write(ev):
                    data = (json.dumps(ev) + "\n").encode()
                    if cut is not None:  # the stream breaks in the middle of an event
                        self.wfile.write(f"{len(data):x}\r\n".encode() + data[: len(data) // 2])
                        self.wfile.flush()
                        raise ConnectionResetError("injected: watch cut mid-event")
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                try:
                    fake.watch(path, q, write, metadata_only="as=PartialObjectMetadata" in accept)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.drop_connection()
                return
            code, payload = fake.handle(self.command, path, q, body, self.headers.get("Content-Type", ""), accept)
            after = fake.match_fault(self.command, path, is_watch, after_apply=True)
            if after and self.fault_answered(after, status_body(after.status, after.reason, after.message)):
                return
            self.send_payload(code, payload, "text/plain" if isinstance(payload, str) else "application/json")

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _do

    httpd, url = start(Handler, port, tls)
    return httpd, fake, url
