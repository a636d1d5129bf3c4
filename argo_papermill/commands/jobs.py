"""``argo-papermill submit | jobs | logs``: a small client of a running pygeoapi server's job API.

They speak OGC API - Processes over HTTP (``--url``, default ``$ARGO_PAPERMILL_URL`` or
``http://localhost:5000``), so they work against any deployment, local or in a cluster, with the
same rules and errors as every other client.
"""

from __future__ import annotations

import json
import sys
import time

import click

DEFAULT_URL = "http://localhost:5000"
url_option = click.option("--url", envvar="ARGO_PAPERMILL_URL", default=DEFAULT_URL, show_default=True,
                          help="Base URL of the pygeoapi server.")
FINAL = ("successful", "failed", "dismissed")


def _session():
    import requests

    return requests.Session()


def _fail(resp) -> None:
    try:
        detail = resp.json().get("description") or resp.text
    except ValueError:
        detail = resp.text
    raise click.ClickException(f"{resp.status_code}: {detail.strip()[:500]}")


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: tuple[str, ...], option: str, form: str) -> dict:
    """``KEY=VALUE`` options as a dict, each value parsed as JSON when it is JSON."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not {form}", param_hint=option)
        pairs[key] = _value(value)
    return pairs


@click.command("submit")
@url_option
@click.option("--process", "process_id", default="execute-notebook", show_default=True)
@click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=VALUE",
              help="A process input; VALUE is parsed as JSON when it is JSON (repeatable).")
@click.option("-p", "--parameter", "parameters", multiple=True, metavar="NAME=VALUE",
              help="A notebook parameter (JSON value when it parses), sent as parameters_json (repeatable).")
@click.option("--wait/--no-wait", default=False, help="Wait for the job and print its result.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait with --wait.")
@click.argument("notebook", required=False)
def submit(url: str, process_id: str, inputs: tuple[str, ...], parameters: tuple[str, ...], wait: bool,
           timeout: float, notebook: str | None) -> None:
    """Start a job (asynchronously) and print its id; with --wait, print its result."""
    body = _pairs(inputs, "--input", "KEY=VALUE")
    if notebook:
        body["notebook"] = notebook
    if parameters:
        body["parameters_json"] = _pairs(parameters, "--parameter", "NAME=VALUE")
    s = _session()
    resp = s.post(f"{url}/processes/{process_id}/execution", json={"inputs": body},
                  headers={"Prefer": "respond-async"}, timeout=60)
    if resp.status_code not in (200, 201):
        _fail(resp)
    job_id = (resp.json() or {}).get("jobID") or resp.headers.get("Location", "").rsplit("/", 1)[-1]
    click.echo(job_id)
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while True:
        job = s.get(f"{url}/jobs/{job_id}", params={"f": "json"}, timeout=60)
        if not job.ok:
            _fail(job)
        status = job.json().get("status")
        if status in FINAL:
            break
        if time.monotonic() > deadline:
            raise click.ClickException(f"job {job_id} is still {status} after {timeout:g} s")
        time.sleep(1)
    if status != "successful":
        raise click.ClickException(f"job {job_id} {status}: {job.json().get('message', '')}")
    res = s.get(f"{url}/jobs/{job_id}/results", params={"f": "json"}, timeout=120)
    if not res.ok:
        _fail(res)
    ctype = res.headers.get("Content-Type", "")
    if ctype.startswith("application/json"):
        click.echo(json.dumps(res.json(), indent=2))
    elif ctype.startswith("text/"):
        click.echo(res.text)
    else:
        sys.stdout.buffer.write(res.content)


@click.command("jobs")
@url_option
@click.option("--limit", default=10, show_default=True)
@click.option("--offset", default=0, show_default=True)
@click.option("--status", type=click.Choice(["accepted", "running", "successful", "failed", "dismissed"]),
              help="Only jobs in this status (filtered here: pygeoapi 0.24 does not filter).")
@click.option("--process", "process_id", help="Only jobs of this process.")
@click.option("--json", "as_json", is_flag=True, help="Print the job documents as JSON.")
@click.argument("job_id", required=False)
def jobs(url: str, limit: int, offset: int, status: str | None, process_id: str | None, as_json: bool,
         job_id: str | None) -> None:
    """List jobs newest first (or show one job)."""
    s = _session()
    if job_id:
        resp = s.get(f"{url}/jobs/{job_id}", params={"f": "json"}, timeout=60)
        if not resp.ok:
            _fail(resp)
        click.echo(json.dumps(resp.json(), indent=2))
        return
    found: list[dict] = []
    page_offset, skipped = 0 if (status or process_id) else offset, 0
    while len(found) < limit:
        page_size = 50 if (status or process_id) else limit
        resp = s.get(f"{url}/jobs", params={"f": "json", "limit": page_size, "offset": page_offset}, timeout=60)
        if not resp.ok:
            _fail(resp)
        page = resp.json().get("jobs") or []
        for job in page:
            if (status and job.get("status") != status) or (process_id and job.get("processID") != process_id):
                continue
            if (status or process_id) and skipped < offset:
                skipped += 1
                continue
            found.append(job)
        if len(page) < page_size or not (status or process_id):
            break
        page_offset += page_size
    found = found[:limit]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for job in found:
        click.echo(f"{job.get('jobID')}  {job.get('processID', ''):<18} {job.get('status', ''):<10} "
                   f"{job.get('progress', 0):>3}%  {job.get('created', '')}  {job.get('message') or ''}")


@click.command("logs")
@url_option
@click.argument("job_id")
def logs(url: str, job_id: str) -> None:
    """Print a job's container logs (GET /jobs/{id}/logs of argo_papermill.app)."""
    resp = _session().get(f"{url}/jobs/{job_id}/logs", timeout=120)
    if not resp.ok:
        _fail(resp)
    click.echo(resp.text, nl=False)
