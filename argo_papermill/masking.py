"""Masking of credentials: in request parameters (one rule for the annotation and the job view) and in URLs
that are logged (a webhook URL often carries its token)."""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import urlsplit

SECRET_KEY_RE: Final = re.compile(r"secret|key|password|passwd|token|credential", re.IGNORECASE)
MASK: Final = "*"


MAX_DEPTH: Final = 100  # deeper than this everything is masked (and no RecursionError is possible)


def mask_secrets(value: Any, _depth: int = 0) -> Any:
    """A copy with the values of keys that look like credentials replaced by ``MASK``, at any depth
    (below ``MAX_DEPTH`` levels whole values are masked)."""
    if _depth >= MAX_DEPTH and isinstance(value, dict | list):
        return MASK
    if isinstance(value, dict):
        return {k: (MASK if SECRET_KEY_RE.search(str(k)) else mask_secrets(v, _depth + 1)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, _depth + 1) for v in value]
    return value


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: user info, query and fragment (where tokens travel) left out."""
    try:
        parts = urlsplit(url)
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    hidden = "?" + MASK if parts.query or parts.fragment else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"
