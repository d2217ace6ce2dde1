"""Guest RAM: `<memory unit='b'>` from `memory.guest`, else `resources.requests.memory`, else
`resources.limits.memory` (KubeVirt's order), parsed as a Kubernetes quantity.

Quantities follow Kubernetes: binary suffixes Ki Mi Gi Ti Pi Ei (powers of 1024), decimal
suffixes k M G T P E (powers of 1000, so `2048M` is 2 048 000 000 bytes), m/u/n fractions and
`e`/`E` exponents; a fractional byte count rounds up, as Quantity.Value() does.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from launcher.domain.errors import SpecError, as_mapping, domain_spec, quoted, reject_unsupported

MINIMUM_GUEST_MEMORY = 16 * 2**20
LARGEST_QUANTITY = 2**63 - 1  # Kubernetes quantities are int64 once rounded

_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}  # powers of 2
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# The exponent form comes first so that "1E3" is 1000 while a lone "1E" is one exabyte.
_QUANTITY = re.compile(
    r"^(?P<sign>[+-]?)(?P<whole>\d*)(?:\.(?P<fraction>\d*))?"
    r"(?P<suffix>[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$"
)


@dataclass(frozen=True)
class Quantity:
    """A quantity's exact value, `sign` × `digits` × 10 ** `exponent`, in integers (the `decimal`
    module would cost every launcher some 0.4 MiB)."""

    sign: int
    digits: int
    exponent: int

    @property
    def negative(self) -> bool:
        return self.sign < 0 and self.digits > 0

    def ceiling(self) -> int:
        """Rounded up to an integer, as Quantity.Value() does."""
        if self.exponent >= 0:
            magnitude, rest = self.digits * 10**self.exponent, 0
        elif -self.exponent > len(str(self.digits)):
            magnitude, rest = 0, self.digits  # below one
        else:
            magnitude, rest = divmod(self.digits, 10**-self.exponent)
        return -magnitude if self.sign < 0 else magnitude + (1 if rest else 0)


def parse_quantity(value: object, field: str) -> Quantity:
    """A Kubernetes resource quantity (`"2048M"`, `"1.5Gi"`, `1024`) as an exact number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SpecError(field, f"must be a quantity such as \"256Mi\", not {quoted(value)}")
    match = _QUANTITY.match(str(value).strip())
    if not match or not (match["whole"] or match["fraction"]):
        raise SpecError(
            field,
            f"invalid quantity {quoted(value)}: use a number with an optional suffix "
            "(Ki, Mi, Gi, Ti, k, M, G, T), e.g. \"256Mi\" or \"2G\"",
        )
    fraction, suffix = match["fraction"] or "", match["suffix"]
    digits, exponent = int((match["whole"] + fraction) or "0"), -len(fraction)
    if suffix in _BINARY_SUFFIXES:
        digits <<= _BINARY_SUFFIXES[suffix]
    elif suffix[:1] in ("e", "E") and len(suffix) > 1:
        exponent += int(suffix[1:])
    else:
        exponent += _DECIMAL_SUFFIXES[suffix]
    # Refuse what cannot be an int64 before computing it: "1e999999999" would be a billion digits.
    if digits and len(str(digits)) + exponent > len(str(LARGEST_QUANTITY)):
        raise SpecError(field, f"must be at most {LARGEST_QUANTITY}, not {quoted(value)}")
    quantity = Quantity(-1 if match["sign"] == "-" else 1, digits, exponent)
    if quantity.ceiling() > LARGEST_QUANTITY:
        raise SpecError(field, f"must be at most {LARGEST_QUANTITY}, not {quoted(value)}")
    return quantity


def quantity_bytes(value: object, field: str) -> int:
    """A byte count: fractional bytes round up; negative is an error."""
    amount = parse_quantity(value, field)
    if amount.negative:
        raise SpecError(field, f"must not be negative, not {quoted(value)}")
    return amount.ceiling()


def guest_memory(vmi: Mapping[str, Any]) -> tuple[int, str, object]:
    """(bytes, field it came from, value as written)."""
    domain = domain_spec(vmi)
    memory = as_mapping(domain.get("memory"), "spec.domain.memory")
    reject_unsupported(memory, "spec.domain.memory", ("guest",))
    resources = as_mapping(domain.get("resources"), "spec.domain.resources")
    candidates = [
        ("spec.domain.memory.guest", memory.get("guest")),
        ("spec.domain.resources.requests.memory",
         as_mapping(resources.get("requests"), "spec.domain.resources.requests").get("memory")),
        ("spec.domain.resources.limits.memory",
         as_mapping(resources.get("limits"), "spec.domain.resources.limits").get("memory")),
    ]
    for field, value in candidates:
        if value is not None:
            return quantity_bytes(value, field), field, value
    raise SpecError(
        "spec.domain.memory.guest",
        "required: set spec.domain.memory.guest or spec.domain.resources.requests.memory (e.g. \"256Mi\")",
    )


def build_memory(vmi: Mapping[str, Any]) -> ET.Element:
    size, field, written = guest_memory(vmi)
    if size < MINIMUM_GUEST_MEMORY:
        raise SpecError(field, f"must be at least 16Mi, not {quoted(written)}")
    element = ET.Element("memory", unit="b")
    element.text = str(size)
    return element
