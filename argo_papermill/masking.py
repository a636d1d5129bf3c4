"""Masking of credentials: in request parameters (one rule for the annotation and the job view) and in URLs
that are logged (a webhook URL often carries its token)."""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import urlsplit

SECRET_KEY_RE: Final = re.compile(r"secret|key|password|passwd|token|credential", re.IGNORECASE)
MASK: Final = "*"


def mask_secrets(value: Any) -> Any:
    """A copy with the values of keys that look like credentials replaced by ``MASK``, at any depth."""
    if isinstance(value, dict):
        return {k: (MASK if SECRET_KEY_RE.search(str(k)) else mask_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
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
