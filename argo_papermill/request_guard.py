"""The body of ``POST /processes/{id}/execution``, checked before pygeoapi reads it.

pygeoapi 0.24 answers a body of ``null`` or a number, a ``subscriber`` that is not an object, invalid
UTF-8 or JSON nested deeper than Python's recursion limit with a 500, and ignores unknown top-level keys.
``argo_papermill.app`` runs ``check_execute_body`` first: the body is at most ``limits.request_bytes``
(413 before anything is parsed or created), UTF-8, JSON nested at most ``limits.json_depth`` deep, and an
OGC execute request (``inputs``, ``outputs``, ``response``, ``subscriber``) in a typed model; anything else
is a 400 naming the field. The processor then validates ``inputs`` with its own model.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from argo_papermill.errors import InvalidInputError

MAX_URI = 2048


class SubscriberBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    successUri: StrictStr = Field(min_length=1, max_length=MAX_URI)  # noqa: N815 - OGC's names
    inProgressUri: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_URI)  # noqa: N815
    failedUri: StrictStr | None = Field(default=None, min_length=1, max_length=MAX_URI)  # noqa: N815


class ExecuteBody(BaseModel):
    """An OGC API - Processes execute request (Part 1, ``execute.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    response: Literal["raw", "document"] = "raw"
    subscriber: SubscriberBody | None = None


_RULES = {
    "missing": "is required",
    "string_type": "must be a string",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "extra_forbidden": "is not a field of an execute request (known: inputs, outputs, response, subscriber)",
    "literal_error": "must be 'raw' or 'document'",
    "string_too_short": "must not be empty",
}


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    depth, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in children)
    return depth


def parse_json(raw: bytes, max_depth: int, what: str = "the request body") -> Any:
    """``raw`` as JSON: UTF-8, valid, nested at most ``max_depth`` deep; else a 400 saying which."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{what} is not UTF-8", field="body") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidInputError(f"{what} is nested deeper than {max_depth} levels", field="body") from None
    except ValueError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}", field="body") from None
    if json_depth(value) > max_depth:
        raise InvalidInputError(f"{what} is nested deeper than {max_depth} levels (limits.json_depth)",
                                field="body")
    return value


def check_execute_body(raw: bytes, max_depth: int) -> ExecuteBody:
    """The typed execute request in ``raw``; ``InvalidInputError`` (400) names the field and the rule."""
    if not raw.strip():
        raise InvalidInputError("the request body is empty: send an execute request ({\"inputs\": {...}})",
                                field="body")
    value = parse_json(raw, max_depth)
    if not isinstance(value, dict):
        raise InvalidInputError("the request body must be a JSON object ({\"inputs\": {...}})", field="body")
    try:
        return ExecuteBody.model_validate(value)
    except ValidationError as err:
        item = err.errors()[0]
        field = ".".join(str(p) for p in item["loc"]) or "body"
        rule = _RULES.get(item["type"], item["msg"])
        raise InvalidInputError(f"Invalid request body field {field!r}: {rule}", field=field) from None


def client_gone_probe() -> Callable[[], bool] | None:
    """In a request served by gunicorn: a function telling whether the client closed its connection
    (so that a synchronous execution stops waiting for nobody); None elsewhere."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover
        return None
    if not has_request_context():
        return None
    import ssl

    sock = request.environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):  # TLS: no peeking
        return None

    def gone() -> bool:
        import select

        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""  # readable with no data: closed
        except (OSError, ValueError):
            return True

    return gone
