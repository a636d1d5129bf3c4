"""In-process fake Argo Server (REST, argo-facts.md §2) over real HTTP on 127.0.0.1.

Implements what hera's ``WorkflowsService`` and our backend call: create (with a small
semantic validation, as Argo's ``ValidateWorkflow`` rejects a bad manifest with 400),
list (``listOptions.labelSelector``, ``listOptions.limit``, integer-offset
``listOptions.continue``, ``ext.showRemainingItemCount`` in the field selector, ``fields``
exclusions, live then archived, newest first), get (falls back to the archive), delete
(``force``), stop/terminate, archived-workflows list/get/delete, NDJSON logs, bearer
tokens and fault injection. Errors are grpc-gateway shaped: ``{"code", "message"}``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import MutableMapping
import re
import secrets
import threading
import uuid

from fakes.http import INVALID_JSON, QuietHandler, start
from fakes.kube import Fault, match_labels, now_rfc3339

GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 500: 13, 503: 14}
WF = re.compile(r"^/api/v1/workflows/(?P<ns>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<action>stop|terminate|log))?)?$")
ARCH = re.compile(r"^/api/v1/archived-workflows(?:/(?P<uid>[^/]+))?$")
WFT = re.compile(r"^/api/v1/workflow-templates/(?P<ns>[^/]+)/(?P<name>[^/]+)$")
COMPLETED = ("Succeeded", "Failed", "Error")


def err(code: int, message: str) -> tuple[int, dict]:
    return code, {"code": GRPC.get(code, 2), "message": message, "details": []}


def drop_path(obj, dotted: str) -> None:
    """Remove ``items.spec.templates`` style paths (``items`` descends into every list item)."""
    head, _, rest = dotted.partition(".")
    if isinstance(obj, list):
        for item in obj:
            drop_path(item, dotted)
        return
    if not isinstance(obj, dict) or head not in obj:
        return
    if not rest:
        obj.pop(head, None)
    else:
        drop_path(obj[head], rest)


def keep_paths(obj, paths: list[list[str]]):
    """Only the listed paths of ``obj`` (``items`` descends into every list item), as Argo's field cleaner."""
    if isinstance(obj, list):
        return [keep_paths(item, paths) for item in obj]
    if not isinstance(obj, dict) or any(not p for p in paths):
        return copy.deepcopy(obj)
    out = {}
    for key in dict.fromkeys(p[0] for p in paths):
        if key in obj:
            out[key] = keep_paths(obj[key], [p[1:] for p in paths if p[0] == key])
    return out


def apply_fields(body: dict, fields: str | None) -> dict:
    """``fields``: paths to include (then only those), or ``-path`` to exclude."""
    if not fields:
        return body
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    included = [f.split(".") for f in wanted if not f.startswith("-")]
    body = keep_paths(body, included) if included else copy.deepcopy(body)
    for f in wanted:
        if f.startswith("-"):
            drop_path(body, f[1:])
    return body


def archive_list_item(wf: dict) -> dict:
    """An archived workflow as Argo >= 3.5 lists it: the archive's columns only, no spec and no nodes."""
    meta, status = wf["metadata"], wf.get("status") or {}
    return {"metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "annotations",
                                              "creationTimestamp") if k in meta},
            "spec": {},
            "status": {k: status[k] for k in ("phase", "startedAt", "finishedAt", "progress", "message",
                                              "estimatedDuration", "resourcesDuration") if k in status}}


class KubeView(MutableMapping):
    """The workflows of a FakeKube as the Argo Server's live store: both APIs see the same objects."""

    def __init__(self, kube):
        self.kube = kube

    @staticmethod
    def _key(key):
        return ("argoproj.io", "v1alpha1", "workflows", key[0], key[1])

    def __getitem__(self, key):
        return self.kube.objects[self._key(key)]

    def __setitem__(self, key, value):
        with self.kube.cond:
            self.kube.objects[self._key(key)] = value

    def __delitem__(self, key):
        with self.kube.cond:
            del self.kube.objects[self._key(key)]

    def __iter__(self):
        return iter([(k[3], k[4]) for k in list(self.kube.objects) if k[2] == "workflows"])

    def __len__(self):
        return sum(1 for k in list(self.kube.objects) if k[2] == "workflows")


class FakeArgoServer:
    def __init__(self, token: str | None = None, archive: bool = True, kube=None):
        self.live: MutableMapping = KubeView(kube) if kube is not None else {}
        self.archived: dict[str, dict] = {}  # uid -> workflow
        self.token = token
        self.archive_enabled = archive
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict, object]] = []
        self.faults: list[Fault] = []
        self.faults_fired = 0  # requests answered by an injected fault
        self.logs: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (ns, name) -> [(pod, line)]
        self.templates: dict[tuple[str, str], dict] = {}  # (ns, name) -> WorkflowTemplate
        self.rv = 0

    def _touch(self, obj: dict) -> None:
        """A new resourceVersion (from the shared Kubernetes fake's counter when there is one)."""
        kube = getattr(self.live, "kube", None)
        if kube is not None:
            with kube.cond:
                kube.rv += 1
                obj["metadata"]["resourceVersion"] = str(kube.rv)
        else:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)

    # ---- helpers shared with the fake controller
    def fail(self, method: str, pattern: str, status: int, message: str = "injected", times: int = -1,
             after_apply: bool = False, **kind) -> Fault:
        """Inject a fault; ``kind``: ``delay``, ``drop``, ``retry_after`` (see ``fakes.kube.Fault``)."""
        f = Fault(method, pattern, status, message=message, times=times, after_apply=after_apply, **kind)
        with self.lock:
            self.faults.append(f)
        return f

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def workflows(self, ns: str | None = None) -> list[dict]:
        with self.lock:
            return [copy.deepcopy(o) for (n, _), o in self.live.items() if ns is None or n == ns]

    def mutate(self, ns: str, name: str, fn) -> dict | None:
        with self.lock:
            obj = self.live.get((ns, name))
            if obj is None:
                return None
            fn(obj)
            self._touch(obj)
            if self.archive_enabled and (obj.get("status") or {}).get("phase") in COMPLETED:
                self.archived[obj["metadata"]["uid"]] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def put(self, obj: dict) -> None:
        md = obj["metadata"]
        with self.lock:
            self._touch(obj)
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_rfc3339())
            self.live[(md["namespace"], md["name"])] = obj

    def _fault(self, method, path, after_apply: bool = False):
        f = self.match_fault(method, path, after_apply)
        return err(f.status, f.message) if f else None

    def match_fault(self, method, path, after_apply: bool = False) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.matches(method, path, after_apply):
                    self.faults_fired += 1
                    return f
        return None

    # ---- REST
    def handle(self, method, path, q, body, auth):
        if self.token is not None and auth != f"Bearer {self.token}":
            return err(401, "token not valid for running mode")
        one = lambda k, d=None: q.get(k, [d])[0]  # noqa: E731
        with self.lock:
            if m := WF.match(path):
                ns, name, action = m.group("ns", "name", "action")
                if not name:
                    if method == "POST":
                        return self._create(ns, body or {})
                    if method == "GET":
                        return self._list(ns, one("listOptions.labelSelector", ""), one("listOptions.fieldSelector", ""),
                                          int(one("listOptions.limit", "0") or 0),
                                          one("listOptions.continue", "0") or "0", one("fields"))
                    return err(405, "method not allowed")
                live = self.live.get((ns, name))
                if action == "log":
                    if live is None:
                        return err(404, f'workflows.argoproj.io "{name}" not found')
                    lines = self.logs.get((ns, name), [])
                    return 200, "".join(json.dumps({"result": {"content": c, "podName": p}}) + "\n" for p, c in lines)
                if action in ("stop", "terminate"):
                    if live is None:
                        return err(404, f'workflows.argoproj.io "{name}" not found')
                    if (live.get("status") or {}).get("phase") in COMPLETED:
                        return err(400, "cannot shutdown a completed workflow")
                    live.setdefault("spec", {})["shutdown"] = "Stop" if action == "stop" else "Terminate"
                    self._touch(live)
                    return 200, live
                if method == "GET":
                    if live is not None:
                        return 200, apply_fields(live, one("fields"))
                    arch = self._archived_by_name(ns, name)
                    if arch:
                        return 200, apply_fields(arch, one("fields"))
                    return err(404, f'workflows.argoproj.io "{name}" not found')
                if method == "DELETE":
                    if live is None:
                        return err(404, f'workflows.argoproj.io "{name}" not found')
                    if live["metadata"].get("finalizers") and one("force") != "true":
                        live["metadata"].setdefault("deletionTimestamp", now_rfc3339())
                        return 200, {}
                    del self.live[(ns, name)]
                    return 200, {}
                return err(405, "method not allowed")
            if m := WFT.match(path):
                ns, name = m.group("ns", "name")
                if method != "GET":
                    return err(405, "method not allowed")
                if (ns, name) not in self.templates:
                    return err(404, f'workflowtemplates.argoproj.io "{name}" not found')
                return 200, self.templates[(ns, name)]
            if m := ARCH.match(path):
                uid = m.group("uid")
                if not self.archive_enabled:
                    return err(501, "archived workflows not supported")
                if uid is None:
                    prefix, ns = one("namePrefix", ""), one("namespace")
                    items = [w for w in self.archived.values()
                             if w["metadata"]["name"].startswith(prefix) and (ns is None or w["metadata"]["namespace"] == ns)]
                    return 200, {"metadata": {}, "items": items}
                if uid not in self.archived:
                    return err(404, "not found")
                if method == "DELETE":
                    del self.archived[uid]
                    return 200, {}
                return 200, self.archived[uid]
            return err(404, f"Not Found: {path}")

    def _archived_by_name(self, ns, name):
        runs = [w for w in self.archived.values() if w["metadata"]["name"] == name and w["metadata"]["namespace"] == ns]
        return runs[-1] if runs else None

    def _create(self, ns, req):
        wf = req.get("workflow")
        if not isinstance(wf, dict):
            return err(400, "workflow is required")
        spec = wf.get("spec") or {}
        templates = {t.get("name") for t in spec.get("templates") or []}
        if not spec.get("workflowTemplateRef"):
            if not templates:
                return err(400, "spec.templates is required")
            if spec.get("entrypoint") not in templates:
                return err(400, f"spec.entrypoint template '{spec.get('entrypoint')}' not found")
        md = wf.setdefault("metadata", {})
        if not md.get("name"):
            if not md.get("generateName"):
                return err(400, "metadata.name or generateName is required")
            md["name"] = md["generateName"] + secrets.token_hex(3)[:5]
        if (ns, md["name"]) in self.live:
            return err(409, f'workflows.argoproj.io "{md["name"]}" already exists')
        md["namespace"] = ns
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_rfc3339()
        self._touch(wf)
        wf.setdefault("status", {})
        self.live[(ns, md["name"])] = wf
        return 200, wf

    def _list(self, ns, selector, field_selector, limit, cont, fields):
        try:
            offset = int(cont)
        except ValueError:
            return err(400, "listOptions.continue must be int")
        show_count = "ext.showRemainingItemCount=true" in field_selector

        def key(w):
            return (w["metadata"].get("creationTimestamp") or "", w["metadata"]["name"])

        live = sorted((w for (n, _), w in self.live.items() if n == ns
                       and match_labels(selector, w["metadata"].get("labels") or {})), key=key, reverse=True)
        live_uids = {w["metadata"]["uid"] for w in live}
        archived = sorted((w for w in self.archived.values() if w["metadata"]["namespace"] == ns
                           and w["metadata"]["uid"] not in live_uids
                           and w["metadata"]["name"] not in {x["metadata"]["name"] for x in self.live.values()}
                           and match_labels(selector, w["metadata"].get("labels") or {})), key=key, reverse=True)
        merged = live + [archive_list_item(w) for w in archived]
        page = merged[offset: offset + limit] if limit else merged[offset:]
        remain = max(0, len(merged) - offset - len(page))
        meta: dict = {"resourceVersion": str(self.rv)}
        if remain:
            meta["continue"] = str(offset + len(page))
        if show_count:
            meta["remainingItemCount"] = remain
        return 200, apply_fields({"metadata": meta, "items": page}, fields)


def serve(fake: FakeArgoServer | None = None, port: int = 0, tls=None):
    """Start the fake on 127.0.0.1 (HTTPS with ``tls`` = (cert, key)); returns (httpd, fake, url).
    ``httpd.shutdown()`` stops it."""
    fake = fake or FakeArgoServer()

    class Handler(QuietHandler):
        def _do(self):
            path, q, body = self.read_request()
            body = None if body is INVALID_JSON else body
            fake.requests.append((self.command, path, q, body))
            authorized = fake.token is None or self.headers.get("Authorization") == f"Bearer {fake.token}"
            fault = fake.match_fault(self.command, path) if authorized else None
            if fault and self.fault_answered(fault, err(fault.status, fault.message)[1]):
                return
            answer = fake.handle(self.command, path, q, body, self.headers.get("Authorization"))
            after = fake.match_fault(self.command, path, after_apply=True)
            if after and self.fault_answered(after, err(after.status, after.message)[1]):
                return
            self.send_payload(*answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _do

    httpd, url = start(Handler, port, tls)
    return httpd, fake, url
