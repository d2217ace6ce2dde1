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
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from launcher.domain.errors import SpecError, as_mapping, domain_spec, quoted, reject_unsupported

MINIMUM_GUEST_MEMORY = 16 * 2**20

_SUFFIXES = {
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"),
    "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18"),
}
# The exponent form comes first so that "1E3" is 1000 while a lone "1E" is one exabyte.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$"
)


def parse_quantity(value: object, field: str) -> Decimal:
    """A Kubernetes resource quantity (`"2048M"`, `"1.5Gi"`, `1024`) as an exact number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SpecError(field, f"must be a quantity such as \"256Mi\", not {quoted(value)}")
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise SpecError(
            field,
            f"invalid quantity {quoted(value)}: use a number with an optional suffix "
            "(Ki, Mi, Gi, Ti, k, M, G, T), e.g. \"256Mi\" or \"2G\"",
        )
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex only admits valid decimals
        raise SpecError(field, f"invalid quantity {quoted(value)}") from None
    suffix = match["suffix"]
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number.scaleb(int(suffix[1:]))
    return number * _SUFFIXES[suffix]


def quantity_bytes(value: object, field: str) -> int:
    """A byte count: fractional bytes round up; negative is an error."""
    amount = parse_quantity(value, field)
    if amount < 0:
        raise SpecError(field, f"must not be negative, not {quoted(value)}")
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


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
