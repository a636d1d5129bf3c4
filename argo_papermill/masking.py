"""Masking of credentials in request parameters: one rule for the annotation and the job view."""

from __future__ import annotations

import re
from typing import Any, Final

SECRET_KEY_RE: Final = re.compile(r"secret|key|password|passwd|token|credential", re.IGNORECASE)
MASK: Final = "*"


def mask_secrets(value: Any) -> Any:
    """A copy with the values of keys that look like credentials replaced by ``MASK``, at any depth."""
    if isinstance(value, dict):
        return {k: (MASK if SECRET_KEY_RE.search(str(k)) else mask_secrets(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value
