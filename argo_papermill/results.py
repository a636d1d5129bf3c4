"""A finished job's output notebook -> ``(mimetype, payload)`` for ``GET /jobs/{id}/results``.

The notebook is read through fsspec from where the pod wrote it: the pod path (from the
Workflow's annotations) is mapped with ``results.path_map`` (longest prefix first) to an
fsspec URL or a local folder. Nothing is mounted on the server.

Result kinds: one scrap -> its value; a ``result-file`` scrap -> that file, but only from
inside the job's own results directory (no ``..``, no absolute escapes, no symlinks out:
a scrap is written by user code and must not make the server read its own secrets); an
image display scrap -> the decoded image; several scraps -> a JSON object of all; none ->
a JSON document naming the notebook.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import posixpath
import stat
from dataclasses import dataclass
from typing import Any

RESULT_FILE_SCRAP = "result-file"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # results.max_bytes
_CHUNK = 1024 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp")


class ResultError(Exception):
    """The result cannot be produced; ``reason`` is safe for clients."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ForbiddenPath(ResultError):
    """A ``result-file`` outside the job's own results directory."""


class ResultTooLarge(ResultError):
    """A result notebook or file larger than ``results.max_bytes``: never read into memory."""


class ResultUnreadable(ResultError):
    """The job left a result that can never be served (invalid JSON, a corrupt notebook, an unknown scrap
    encoder): a permanent fault of the job, not of the server."""


@dataclass(frozen=True)
class Location:
    """A mapped pod path: an fsspec URL plus the options to open it."""

    url: str
    storage_options: dict

    @property
    def is_local(self) -> bool:
        return "://" not in self.url or self.url.startswith("file://")

    @property
    def local_path(self) -> str:
        return self.url.removeprefix("file://")


def map_path(pod_path: str, path_map: dict[str, str], storage_options: dict | None = None) -> Location:
    """The longest ``path_map`` prefix of ``pod_path`` wins; an unmapped path is read as it is."""
    norm = posixpath.normpath(pod_path)
    best = None
    for prefix in path_map:
        p = posixpath.normpath(prefix)
        if norm == p or norm.startswith(p.rstrip("/") + "/"):
            if best is None or len(p) > len(posixpath.normpath(best)):
                best = prefix
    if best is None:
        return Location(norm, dict(storage_options or {}))
    target = path_map[best].rstrip("/")
    rest = norm[len(posixpath.normpath(best)):].lstrip("/")
    return Location(f"{target}/{rest}" if rest else target, dict(storage_options or {}))


def inside(child_pod_path: str, parent_pod_path: str) -> bool:
    """True when the normalised ``child`` is ``parent`` or below it (pure path logic)."""
    child = posixpath.normpath(child_pod_path)
    parent = posixpath.normpath(parent_pod_path)
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def owned_by_job(pod_path: str, job_id: str) -> bool:
    """True when ``pod_path`` (an annotation, so editable by anyone who may patch the Workflow) is
    the job's own file or folder: absolute, no ``..`` step, and its last part names the job.

    A plain substring test is not enough: ``/home/jovyan/results/<id>/..`` names the job too.
    """
    if not isinstance(pod_path, str) or not job_id or "\x00" in pod_path or not pod_path.startswith("/"):
        return False
    if ".." in pod_path.split("/"):
        return False
    norm = posixpath.normpath(pod_path)
    return norm.count("/") >= 2 and job_id in posixpath.basename(norm)


def resolve_result_file(value: Any, results_dir: str) -> str:
    """The pod path of a ``result-file`` scrap, refused unless it lies inside ``results_dir``."""
    if not isinstance(value, str) or not value.strip():
        raise ForbiddenPath("the result-file scrap must name a file")
    if "\x00" in value:
        raise ForbiddenPath("the result-file scrap is not a valid path")
    raw = value if posixpath.isabs(value) else posixpath.join(results_dir, value)
    path = posixpath.normpath(raw)
    if not inside(path, results_dir) or path == posixpath.normpath(results_dir):
        raise ForbiddenPath(f"result-file {value!r} is outside the job's results directory")
    return path


# ------------------------------------------------------------------ fsspec I/O
def _fs(loc: Location):
    import fsspec

    fs, path = fsspec.core.url_to_fs(loc.url, **loc.storage_options)
    return fs, path


def _too_large(size: int, max_bytes: int) -> ResultTooLarge:
    return ResultTooLarge(f"the result is larger ({size} bytes) than this server serves "
                          f"(results.max_bytes = {max_bytes} bytes); read it where the job wrote it")


def _read_local(path: str, max_bytes: int) -> bytes:
    """A regular local file, at most ``max_bytes``: opened without blocking (a named pipe or a device would
    hang the reading thread for ever), checked on the open descriptor, read in chunks."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise ResultError("the result is not there (any more)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ResultError("the result is not a regular file")
        if info.st_size > max_bytes:
            raise _too_large(info.st_size, max_bytes)
        data = os.read(fd, info.st_size + 1)  # one buffer of the file's size (no second copy)
        while len(data) <= max_bytes:
            more = os.read(fd, _CHUNK)  # a short read, or a file that grew since fstat
            if not more:
                return data
            data += more
        raise _too_large(len(data), max_bytes)
    finally:
        os.close(fd)


def read_bytes(loc: Location, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes at ``loc``, a regular file of at most ``max_bytes`` (else ``ResultTooLarge``); a missing
    file, a folder or anything else: ``ResultError`` whose reason names no server-side path."""
    if loc.is_local:
        return _read_local(loc.local_path, max_bytes)
    fs, path = _fs(loc)
    try:
        info = fs.info(path)
        if info.get("type") != "file":
            raise ResultError("the result is not a regular file")
        if int(info.get("size") or 0) > max_bytes:
            raise _too_large(int(info["size"]), max_bytes)
        with fs.open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ResultError("the result is not there (any more)") from None
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return data


def read_confined(file_loc: Location, dir_loc: Location, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file that must stay inside a directory also after symlinks are resolved (local files)."""
    if file_loc.is_local:
        real_dir = os.path.realpath(dir_loc.local_path)
        real_file = os.path.realpath(file_loc.local_path)
        if os.path.commonpath([real_dir, real_file]) != real_dir or real_file == real_dir:
            raise ForbiddenPath("result-file points outside the job's results directory")
        try:
            return _read_local(real_file, max_bytes)
        except ResultTooLarge:
            raise
        except ResultError as exc:
            raise ResultError(f"the result-file named by the notebook: {exc.reason}") from None
    return read_bytes(file_loc, max_bytes)


def delete_tree(loc: Location) -> bool:
    """Remove a job's result folder or file; False when there was nothing."""
    fs, path = _fs(loc)
    try:
        if not fs.exists(path):
            return False
        fs.rm(path, recursive=True)
        return True
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------ notebook -> result
def read_scraps(notebook_bytes: bytes) -> dict[str, Any]:
    """Scrapbook scraps of an executed notebook: name -> scrapbook ``Scrap``."""
    import nbformat
    import scrapbook

    try:
        node = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - whatever the job wrote: not a notebook
        raise ResultUnreadable(f"the job's output notebook is not a valid notebook ({type(exc).__name__})") \
            from None
    try:
        return dict(scrapbook.models.Notebook(node).scraps)
    except Exception as exc:  # noqa: BLE001 - e.g. a scrap glued with an encoder this server does not know
        raise ResultUnreadable(f"the job's scraps cannot be read: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _jsonable(value: Any) -> Any:
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            import json

            return json.loads(value.to_json(orient="records"))
    except ImportError:  # pragma: no cover
        pass
    return value


def _display_payload(display: dict) -> tuple[str, Any] | None:
    data = (display or {}).get("data") or {}
    for mt in IMAGE_TYPES:
        if mt in data:
            payload = data[mt]
            if mt == "image/svg+xml":
                return mt, (payload if isinstance(payload, str) else "".join(payload)).encode()
            return mt, base64.b64decode(payload if isinstance(payload, str) else "".join(payload))
    for mt in ("application/json", "text/html", "text/markdown", "text/plain"):
        if mt in data:
            payload = data[mt]
            if mt == "application/json":
                return mt, payload
            return mt, payload if isinstance(payload, str) else "".join(payload)
    return None


def scrap_value(scrap: Any) -> tuple[str, Any]:
    """(mimetype, payload) of one scrap."""
    if scrap.data is None and scrap.display:
        shown = _display_payload(scrap.display)
        if shown:
            return shown
    value = _jsonable(scrap.data)
    if isinstance(value, str) and scrap.encoder == "text":
        return "text/plain", value
    return "application/json", value


def result_from_notebook(notebook_bytes: bytes, *, notebook_url: str, results_dir: str | None,
                         path_map: dict[str, str], storage_options: dict,
                         job_id: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, Any]:
    """The pygeoapi result of a successful job, by the rules in the module docstring."""
    scraps = read_scraps(notebook_bytes)
    if RESULT_FILE_SCRAP in scraps:
        if not results_dir:
            raise ResultError("the job has no results directory, so its result-file cannot be served")
        if job_id is not None and not owned_by_job(results_dir, job_id):
            raise ForbiddenPath("the job's results directory is not its own folder")
        pod_path = resolve_result_file(scraps[RESULT_FILE_SCRAP].data, results_dir)
        file_loc = map_path(pod_path, path_map, storage_options)
        dir_loc = map_path(results_dir, path_map, storage_options)
        data = read_confined(file_loc, dir_loc, max_bytes)
        mimetype = mimetypes.guess_type(pod_path)[0] or "application/octet-stream"
        if mimetype == "application/json":
            import json

            try:
                return mimetype, json.loads(data)
            except (ValueError, RecursionError):
                raise ResultUnreadable(f"result-file {posixpath.basename(pod_path)!r} is not valid JSON") \
                    from None
        return mimetype, data
    if len(scraps) == 1:
        return scrap_value(next(iter(scraps.values())))
    if not scraps:
        return "application/json", {"notebook": notebook_url, "scraps": {},
                                    "message": "the notebook recorded no scrapbook scraps"}
    out = {}
    for name, scrap in scraps.items():
        mt, value = scrap_value(scrap)
        if isinstance(value, bytes):
            value = {"mimetype": mt, "base64": base64.b64encode(value).decode()}
        out[name] = value
    return "application/json", out
