"""``argo-papermill submit | watch | jobs | status | results | notebook | dismiss | logs``.

A small client of a running server's job API: OGC API - Processes over HTTP (``--url``, default
``$ARGO_PAPERMILL_URL`` or ``http://localhost:5000``), so it works against any deployment, local or in
a cluster, with the same rules and errors as every other client.

Output rules, for people and for scripts:
- stdout carries only what was asked for (a job id, a result, a table, JSON with ``--json``); the
  progress bar, the job id of ``submit --wait`` and notes go to stderr, so ``submit --wait > out.png``
  writes just the PNG;
- every failure (server unreachable or gone while waiting, a malformed ``--url``, a 4xx/5xx answer, a
  failed job) is one line ``Error: ...`` on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import time
import webbrowser
from datetime import datetime, timezone
from pathlib import Path

import click

from argo_papermill.commands.client import DEFAULT_URL, Client, job_path, one_line

url_option = click.option("--url", envvar="ARGO_PAPERMILL_URL", default=DEFAULT_URL, show_default=True,
                          help="Base URL of the server (also $ARGO_PAPERMILL_URL).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
FINAL = ("successful", "failed", "dismissed")
STATUSES = ["accepted", "running", "successful", "failed", "dismissed"]
# what a terminal shows of a result; anything else is written to a file (or to a redirected stdout)
TEXT_TYPES = ("application/json", "text/plain", "text/csv")


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
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not {form}", param_hint=option)
        pairs[key] = _value(value)
    return pairs


def _dump(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _note(text: str) -> None:
    click.echo(text, err=True)


# --- following a job -------------------------------------------------------------------------------
def follow(client: Client, job_id: str, *, timeout: float, interval: float, bar: bool) -> dict:
    """Poll the job until it is final, showing a tqdm bar (percentage and message) on stderr.

    The bar appears once the server has answered (an unreachable server is one error line, no bar);
    losing the server afterwards ends the bar and names the job that was being followed.
    """
    from tqdm import tqdm

    job = client.job(job_id)
    progress_bar = tqdm(total=100, file=sys.stderr, disable=not bar, leave=True, dynamic_ncols=True,
                        bar_format="{percentage:3.0f}%|{bar:24}| {desc}", mininterval=0, delay=0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            status = job.get("status")
            progress = job.get("progress")
            if isinstance(progress, int) and not isinstance(progress, bool):
                progress_bar.n = max(0, min(100, progress))
            progress_bar.set_description_str(one_line(f"{status}: {job.get('message') or ''}", 120), refresh=False)
            progress_bar.refresh()
            if status in FINAL:
                return job
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"job {job_id} is still {status} after {timeout:g} s; follow it with: argo-papermill watch {job_id}")
            time.sleep(interval)
            job = client.job(job_id, doing=f"while waiting for job {job_id}")
    finally:
        progress_bar.close()


def _outcome(client: Client, job: dict, job_id: str, *, as_json: bool, output: str | None) -> None:
    """After a final job: its result (successful), else the job's message as the error (exit code 1)."""
    status = job.get("status")
    if status != "successful":
        if as_json:
            _dump(job)
        raise click.ClickException(f"job {job_id} {status}: {one_line(job.get('message') or '')}")
    if as_json:
        resp = client.request("GET", f"{job_path(job_id)}/results", params={"f": "json"}, timeout=120)
        _dump({**job, "result": _result_json(resp)})
        return
    _write_result(client, job_id, output=output, to_stdout=True)


def _ctype(resp) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _result_json(resp):
    """A result as JSON: JSON as itself, text as a string, anything else as ``{"mimetype", "base64"}``
    (the shape the server uses for binary values among several scraps)."""
    import base64

    ctype = _ctype(resp)
    if ctype == "application/json":
        return _json_body(resp)
    if ctype.startswith("text/"):
        return resp.text
    return {"mimetype": ctype, "base64": base64.b64encode(resp.content).decode()}


def _json_body(resp):
    try:
        return resp.json()
    except ValueError:
        raise click.ClickException("the result is labelled JSON but is not JSON") from None


def _write_result(client: Client, job_id: str, *, output: str | None, to_stdout: bool) -> None:
    """The job's result: to ``output`` (``-``: stdout), else text/JSON to stdout and other types to
    stdout when it is redirected (``to_stdout``) or to ``<job id><ext>`` in the current folder."""
    resp = client.request("GET", f"{job_path(job_id)}/results", params={"f": "json"}, timeout=120)
    ctype = _ctype(resp)
    if output and output != "-":
        Path(output).write_bytes(resp.content)
        _note(f"wrote {output} ({ctype or 'unknown type'}, {len(resp.content)} bytes)")
        return
    if ctype == "application/json" and output != "-":
        _dump(_json_body(resp))
        return
    if ctype in TEXT_TYPES or ctype.startswith("text/plain"):
        click.echo(resp.text, nl=not resp.text.endswith("\n"))
        return
    if output == "-" or (to_stdout and not sys.stdout.isatty()):
        sys.stdout.buffer.write(resp.content)
        sys.stdout.buffer.flush()
        return
    name = f"{job_id}{mimetypes.guess_extension(ctype) or '.bin'}"
    Path(name).write_bytes(resp.content)
    _note(f"wrote {name} ({ctype or 'unknown type'}, {len(resp.content)} bytes)")


wait_options = [
    click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait for the job."),
    click.option("--interval", default=0.5, show_default=True, help="Seconds between two looks at the job."),
    click.option("--progress/--no-progress", "bar", default=True, show_default=True,
                 help="Show a progress bar on stderr (never with --json)."),
    click.option("-o", "--output", metavar="FILE", help="Write the result to FILE ('-': stdout)."),
]


def _with(options):
    def decorate(func):
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


@click.command("submit")
@url_option
@click.option("--process", "process_id", default="execute-notebook", show_default=True)
@click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=VALUE",
              help="A process input; VALUE is parsed as JSON when it is JSON (repeatable).")
@click.option("-p", "--parameter", "parameters", multiple=True, metavar="NAME=VALUE",
              help="A notebook parameter (JSON value when it parses), sent as parameters_json (repeatable).")
@click.option("--wait/--no-wait", default=False, help="Follow the job with a progress bar, then print its result.")
@_with(wait_options)
@json_option
@click.argument("notebook", required=False)
def submit(url: str, process_id: str, inputs: tuple[str, ...], parameters: tuple[str, ...], wait: bool,
           timeout: float, interval: float, bar: bool, output: str | None, as_json: bool,
           notebook: str | None) -> None:
    """Start a job and print its id; with --wait, follow it and print its result (only the result on stdout)."""
    body = _pairs(inputs, "--input", "KEY=VALUE")
    if notebook:
        body["notebook"] = notebook
    if parameters:
        body["parameters_json"] = _pairs(parameters, "--parameter", "NAME=VALUE")
    client = Client(url)
    resp = client.request("POST", f"/processes/{process_id}/execution", ok=(200, 201),
                          json={"inputs": body}, headers={"Prefer": "respond-async"})
    try:
        answer = resp.json()
    except ValueError:
        answer = {}
    job_id = (answer.get("jobID") if isinstance(answer, dict) else None) \
        or resp.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
    if not job_id:
        raise click.ClickException(f"the server accepted the job but named no job id ({resp.status_code})")
    if not wait:
        if as_json:
            _dump({"jobID": job_id, "status": answer.get("status", "accepted") if isinstance(answer, dict)
                   else "accepted", "location": f"{client.url}{job_path(job_id)}"})
        else:
            click.echo(job_id)
        return
    _note(f"job {job_id}")
    job = follow(client, job_id, timeout=timeout, interval=interval, bar=bar and not as_json)
    _outcome(client, job, job_id, as_json=as_json, output=output)


@click.command("watch")
@url_option
@_with(wait_options)
@json_option
@click.argument("job_id")
def watch(url: str, timeout: float, interval: float, bar: bool, output: str | None, as_json: bool,
          job_id: str) -> None:
    """Follow a job with a progress bar until it ends, then print its result (or its error, exit code 1)."""
    client = Client(url)
    job = follow(client, job_id, timeout=timeout, interval=interval, bar=bar and not as_json)
    _outcome(client, job, job_id, as_json=as_json, output=output)


# --- looking at jobs -------------------------------------------------------------------------------
def _parse(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def duration(job: dict, now: datetime | None = None) -> str:
    """How long the job ran (``started`` to ``finished``, or to now while it runs); ``-`` before it runs."""
    started, finished = _parse(job.get("started")), _parse(job.get("finished"))
    if started is None or job.get("status") == "accepted":
        return "-"
    end = finished or (now or datetime.now(timezone.utc))
    seconds = max(0, int((end - started).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def table(rows: list[dict], width: int) -> list[str]:
    """Aligned columns JOB ID, STATUS, PROGRESS, PROCESS, DURATION, MESSAGE (the message fills the line)."""
    head = ("JOB ID", "STATUS", "PROGRESS", "PROCESS", "DURATION", "MESSAGE")
    cells = [(str(j.get("jobID", "")), str(j.get("status", "")), f"{j.get('progress') or 0}%",
              str(j.get("processID") or ""), duration(j), one_line(j.get("message") or "")) for j in rows]
    widths = [max(len(head[i]), *(len(c[i]) for c in cells)) if cells else len(head[i]) for i in range(5)]
    lines = []
    for row in [head, *cells]:
        fixed = "  ".join(row[i].rjust(widths[i]) if i == 2 else row[i].ljust(widths[i]) for i in range(5))
        room = max(20, width - len(fixed) - 2)
        message = row[5] if len(row[5]) <= room else row[5][: room - 3] + "..."
        lines.append(f"{fixed}  {message}".rstrip())
    return lines


@click.command("jobs")
@url_option
@click.option("--limit", default=10, show_default=True)
@click.option("--offset", default=0, show_default=True)
@click.option("--status", type=click.Choice(STATUSES),
              help="Only jobs in this status (filtered here: pygeoapi 0.24 does not filter).")
@click.option("--process", "process_id", help="Only jobs of this process.")
@json_option
@click.argument("job_id", required=False)
def jobs(url: str, limit: int, offset: int, status: str | None, process_id: str | None, as_json: bool,
         job_id: str | None) -> None:
    """List jobs newest first as a table (status, progress, process, duration, message); with JOB_ID, one job as JSON."""
    client = Client(url)
    if job_id:
        _dump(client.job(job_id))
        return
    found: list[dict] = []
    page_offset, skipped = 0 if (status or process_id) else offset, 0
    while len(found) < limit:
        page_size = 50 if (status or process_id) else limit
        answer = client.json("GET", "/jobs", params={"f": "json", "limit": page_size, "offset": page_offset})
        page = (answer.get("jobs") if isinstance(answer, dict) else None) or []
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
        _dump(found)
        return
    import shutil

    # a terminal gets lines that fit it; a pipe or file gets whole messages
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 10**6
    for line in table(found, width):
        click.echo(line)


@click.command("status")
@url_option
@json_option
@click.argument("job_id")
def status(url: str, as_json: bool, job_id: str) -> None:
    """One job: status, progress, process, duration, message and times."""
    job = Client(url).job(job_id)
    if as_json:
        _dump(job)
        return
    for key, value in (("job", job.get("jobID", job_id)), ("status", job.get("status")),
                       ("progress", f"{job.get('progress') or 0}%"), ("process", job.get("processID")),
                       ("duration", duration(job)), ("message", job.get("message") or ""),
                       ("created", job.get("created")), ("finished", job.get("finished") or "-")):
        click.echo(f"{key + ':':<10}{value}")


@click.command("results")
@url_option
@click.option("-o", "--output", metavar="FILE",
              help="Write the result to FILE ('-': stdout). Default: JSON and text to stdout, anything else "
                   "(an image, a file) to <job id>.<ext> in the current folder.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON: text as a string, an image or file as {mimetype, base64}.")
@click.argument("job_id")
def results(url: str, output: str | None, as_json: bool, job_id: str) -> None:
    """A successful job's result (GET /jobs/{id}/results)."""
    client = Client(url)
    if as_json:
        _dump(_result_json(client.request("GET", f"{job_path(job_id)}/results", params={"f": "json"}, timeout=120)))
        return
    _write_result(client, job_id, output=output, to_stdout=False)


@click.command("notebook")
@url_option
@click.option("--html", is_flag=True, help="The notebook rendered as one HTML page.")
@click.option("--open", "open_it", is_flag=True, help="Render it as HTML, write it and open it in a browser.")
@click.option("-o", "--output", metavar="FILE", help="Where to write it ('-': stdout). Default: <job id>.ipynb/.html.")
@click.argument("job_id")
def notebook(url: str, html: bool, open_it: bool, output: str | None, job_id: str) -> None:
    """Download the executed notebook of a finished job (successful or failed), or open it in a browser."""
    html = html or open_it
    client = Client(url)
    params = {"f": "html"} if html else None
    resp = client.request("GET", f"{job_path(job_id)}/notebook", params=params, timeout=120)
    if output == "-":
        sys.stdout.buffer.write(resp.content)
        sys.stdout.buffer.flush()
        return
    target = Path(output or f"{job_id}.{'html' if html else 'ipynb'}")
    target.write_bytes(resp.content)
    _note(f"wrote {target} ({len(resp.content)} bytes)")
    if open_it and not webbrowser.open(target.resolve().as_uri()):
        _note(f"no browser found; open {target.resolve()} yourself")


@click.command("dismiss")
@url_option
@json_option
@click.argument("job_id")
def dismiss(url: str, as_json: bool, job_id: str) -> None:
    """Dismiss a job: stop it if it runs, delete it and its results (DELETE /jobs/{id})."""
    answer = Client(url).json("DELETE", job_path(job_id), params={"f": "json"})
    if as_json:
        _dump(answer)
    else:
        click.echo(f"job {job_id} {answer.get('status', 'dismissed') if isinstance(answer, dict) else 'dismissed'}")


@click.command("logs")
@url_option
@click.argument("job_id")
def logs(url: str, job_id: str) -> None:
    """Print a job's container logs (GET /jobs/{id}/logs of argo_papermill.app)."""
    resp = Client(url).request("GET", f"{job_path(job_id)}/logs", timeout=120)
    click.echo(resp.text, nl=False)
