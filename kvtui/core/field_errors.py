"""The API's validation errors (422) split per field and placed on the YAML line they refer to, so an
editor can show each message next to its field."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELD = re.compile(r"(?:^|[\[,]\s*|: )((?:metadata|spec|status)(?:\.[\w-]+|\[\d+\])*): ")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    line: int | None      # 0-based line in the YAML text, when found


def split_message(message: str) -> list[tuple[str, str]]:
    """`X is invalid: [spec.a: Required value, spec.b: Invalid value: "x"]` → [(spec.a, Required value), ...]."""
    matches = list(_FIELD.finditer(message))
    out = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(message)
        text = message[m.end():end].strip().rstrip("]").rstrip(",").strip()
        out.append((m.group(1), text))
    return out


def line_of(yaml_text: str, field: str) -> int | None:
    """The line where `field` (e.g. spec.template.spec.domain.devices) is written, else its nearest parent."""
    keys = [k for k in re.split(r"\.|\[\d+\]", field) if k]
    lines = yaml_text.splitlines()
    found: int | None = None
    start, indent = 0, -1
    for key in keys:
        for n in range(start, len(lines)):
            stripped = lines[n].lstrip(" ")
            depth = len(lines[n]) - len(stripped)
            if stripped.startswith("- "):
                depth += 2
                stripped = stripped[2:]
            if found is not None and stripped and depth <= indent:
                return found      # left the parent's block: the key is missing, point at the parent
            if stripped.startswith(f"{key}:") and depth > indent:
                found, start, indent = n, n + 1, depth
                break
        else:
            return found
    return found


def field_errors(message: str, yaml_text: str) -> list[FieldError]:
    parts = split_message(message)
    if not parts:
        return [FieldError("", message, None)]
    return [FieldError(f, m, line_of(yaml_text, f)) for f, m in parts]
