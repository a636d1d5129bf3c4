"""Kubernetes resource quantities: the CRD's pattern, and parsing for comparisons.

Requests and limits travel as strings; the full Workflow CRD validates them with the pattern
below, so anything that passes here is accepted by the API server too.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The pattern of Kubernetes' resource.Quantity as the Argo CRD declares it (non-negative here).
QUANTITY_RE = re.compile(
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

_SUFFIX = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def is_quantity(value: object) -> bool:
    """True if ``value`` is a string Kubernetes accepts as a (non-negative) quantity."""
    return isinstance(value, str) and len(value) <= 64 and QUANTITY_RE.match(value) is not None


def parse_quantity(value: str) -> Decimal:
    """The quantity's value in base units (cores, bytes); ValueError if it is not a quantity."""
    if not is_quantity(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. '500m', '2', '4Gi')")
    text = value.lstrip("+")
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIX[suffix]
    if text[-1:].isalpha():  # a decimal suffix; an exponent always ends with a digit
        return Decimal(text[:-1]) * _SUFFIX[text[-1]]
    try:
        return Decimal(text)
    except InvalidOperation as err:  # pragma: no cover - the pattern rules this out
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from err
