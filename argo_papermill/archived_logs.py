"""Logs that outlive the pod: the container logs Argo archived to the artifact repository.

With ``archiveLogs`` (the processor's ``result_artifact``: an artifact repository is configured) Argo's
wait container saves each container's log of a pod as an output artifact ``<container>-logs`` of the
pod's node, at ``<key format>/<container>.log`` in the repository (``executor.go: SaveLogs``; for a
containerSet every container, ``GetMainContainerNames``). The node keeps only the key; bucket and
endpoint come from the artifact itself or from the repository the Workflow resolved
(``status.artifactRepositoryRef.artifactRepository``). ``GET /jobs/{id}/logs`` reads the pods while they
exist and these artifacts once Argo's pod GC or the TTL removed them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from argo_papermill.status_nodes import as_str, parse_time

LOG_ARTIFACT_SUFFIX = "-logs"


@dataclass(frozen=True)
class ArchivedLog:
    container: str
    url: str  # s3://bucket/key
    endpoint_url: str | None  # from the repository, when the manager's storage options name none


def archived_logs(workflow: dict) -> list[ArchivedLog]:
    """The archived container logs of a Workflow's pods, oldest pod first, containers in the pod's order."""
    status = workflow.get("status") if isinstance(workflow.get("status"), dict) else {}
    ref = status.get("artifactRepositoryRef") if isinstance(status.get("artifactRepositoryRef"), dict) else {}
    repo = (ref.get("artifactRepository") or {}).get("s3") or {}
    nodes = status.get("nodes") if isinstance(status.get("nodes"), dict) else {}
    found: list[ArchivedLog] = []
    pods = [n for n in nodes.values() if isinstance(n, dict) and n.get("type") == "Pod"]
    pods.sort(key=lambda n: (parse_time(n.get("startedAt")) is None, str(parse_time(n.get("startedAt")) or ""),
                             as_str(n.get("name"))))
    for node in pods:
        for art in ((node.get("outputs") or {}).get("artifacts") or []):
            name = as_str(art.get("name")) if isinstance(art, dict) else ""
            s3 = art.get("s3") if isinstance(art, dict) and isinstance(art.get("s3"), dict) else None
            if not name.endswith(LOG_ARTIFACT_SUFFIX) or s3 is None or not as_str(s3.get("key")):
                continue
            bucket = as_str(s3.get("bucket")) or as_str(repo.get("bucket"))
            if not bucket:
                continue
            endpoint = as_str(s3.get("endpoint")) or as_str(repo.get("endpoint"))
            insecure = s3.get("insecure") if "insecure" in s3 else repo.get("insecure")
            if endpoint and "://" not in endpoint:
                endpoint = f"{'http' if insecure else 'https'}://{endpoint}"
            found.append(ArchivedLog(name[: -len(LOG_ARTIFACT_SUFFIX)], f"s3://{bucket}/{as_str(s3['key']).lstrip('/')}",
                                     endpoint or None))
    return found


def read_archived_logs(logs: list[ArchivedLog], storage_options: dict, max_bytes: int) -> Iterator[str]:
    """``[container] line`` of every archived log, as the pods' logs are shown; the manager's storage
    options (credentials, endpoint) win over the endpoint the repository names."""
    from argo_papermill import results

    for log in logs:
        options = dict(storage_options)
        if log.endpoint_url and "endpoint_url" not in options and "client_kwargs" not in options:
            options["endpoint_url"] = log.endpoint_url
        data = results.read_bytes(results.Location(log.url, options), max_bytes)
        for line in data.decode("utf-8", "replace").splitlines():
            yield f"[{log.container}] {line}"
