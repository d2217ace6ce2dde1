"""Kubernetes resource quantities: parse to a number of bytes (or cores) and format back."""

from __future__ import annotations

import re
from decimal import Decimal

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[A-Za-z]*)$")


def parse_quantity(value: str | int | float) -> Decimal:
    if isinstance(value, int | float):
        return Decimal(str(value))
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise ValueError(f'quantity "{value}" is not valid: use a number with an optional suffix (128Mi, 2G, 500m)')
    number, suffix = m.groups()
    if suffix and suffix[0] in "eE" and suffix[1:].lstrip("+-").isdigit():
        return Decimal(number + suffix)
    if suffix not in _SUFFIXES:
        raise ValueError(f'quantity "{value}" has an unknown suffix "{suffix}"')
    return Decimal(number) * Decimal(_SUFFIXES[suffix])


def format_bytes(n: int | Decimal) -> str:
    """Bytes as the shortest exact binary quantity: 1073741824 → '1Gi', 1000 → '1000'."""
    n = int(n)
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _SUFFIXES[suffix]
        if n and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)
