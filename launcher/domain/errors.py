"""SpecError: a VirtualMachineInstance field the launcher cannot honour, with the fix.

Also the small readers every builder uses to take values out of the VMI dict, so that a wrong type
or an unsupported value becomes a SpecError naming the field instead of a traceback.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import Any


class SpecError(ValueError):
    """`field` is a path into the VMI (`spec.domain.devices.disks[1].disk.bus`); `message` says
    what is wrong with it and how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def quoted(value: object) -> str:
    """A value as it appears in messages: JSON-quoted, so control characters stay visible."""
    return json.dumps(value, ensure_ascii=False)


def quoted_list(values: Collection[object]) -> str:
    return ", ".join(quoted(v) for v in values)


def as_mapping(value: object, field: str) -> Mapping[str, Any]:
    """An object field; absent (None) reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(field, f"must be an object, not {quoted(value)}")
    return value


def as_list(value: object, field: str) -> Sequence[Any]:
    """A list field; absent (None) reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(field, f"must be a list, not {quoted(value)}")
    return value


def as_int(value: object, field: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    # bool is an int subclass in Python; `cores: true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(field, f"must be an integer, not {quoted(value)}")
    if minimum is not None and value < minimum:
        raise SpecError(field, f"must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise SpecError(field, f"must be at most {maximum}, not {value}")
    return value


def as_bool(value: object, field: str, *, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SpecError(field, f"must be true or false, not {quoted(value)}")
    return value


def choice(value: object, field: str, supported: Sequence[str]) -> str:
    if value not in supported:
        raise SpecError(field, f"unsupported value {quoted(value)}: supported values: {quoted_list(supported)}")
    return str(value)


def reject_unsupported(obj: Mapping[str, Any], field: str, supported: Collection[str]) -> None:
    """Every key of `obj` must be one the launcher honours; anything else is an error, never ignored."""
    for key in obj:
        if key not in supported:
            where = f"{field}.{key}" if field else key
            raise SpecError(where, "not supported by this launcher: remove it")


def _bad_character(text: str) -> str | None:
    for char in text:
        # Cc covers NUL, the other C0/C1 controls and DEL; Cs and U+FFFE/U+FFFF are not XML characters.
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":
            return char
    return None


def xml_text(value: object, field: str) -> str:
    """A user string that will be an XML attribute or text. ElementTree escapes `<`, `&` and quotes;
    control characters cannot be represented in XML 1.0 at all, so they are refused here."""
    if not isinstance(value, str):
        raise SpecError(field, f"must be a string, not {quoted(value)}")
    bad = _bad_character(value)
    if bad is not None:
        raise SpecError(field, f"must not contain control characters (found {quoted(bad)} in {quoted(value)})")
    return value


def xml_path(value: object, field: str) -> str:
    """A file path that will appear in the domain XML: absolute, printable, and never `]]>` (which
    would end a CDATA section in any tool that later embeds the XML)."""
    path = xml_text(value, field)
    if not path.startswith("/"):
        raise SpecError(field, f"must be an absolute path, not {quoted(path)}")
    if "]]>" in path:
        raise SpecError(field, f"must not contain \"]]>\": rename {quoted(path)}")
    return path


def vmi_spec(vmi: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(vmi.get("spec"), "spec")


def domain_spec(vmi: Mapping[str, Any]) -> Mapping[str, Any]:
    """`spec.domain`, the part of the VMI the domain XML is built from."""
    return as_mapping(vmi_spec(vmi).get("domain"), "spec.domain")


def devices_spec(vmi: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(domain_spec(vmi).get("devices"), "spec.domain.devices")
