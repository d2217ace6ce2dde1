"""The `/` filter of the resource views: plain text, a regular expression, or `-l` label selector."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .rows import Row

_DURATION = re.compile(r"(\d+)([smhdy])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


class FilterError(ValueError):
    """The filter cannot be parsed; the message shows the accepted forms."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str            # "=", "!=", "exists", "!exists", "in", "notin"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!exists":
            return value is None
        if self.op in ("=", "in"):
            return value in self.values
        return value not in self.values


def parse_selector(text: str) -> list[Requirement]:
    """`app=web,tier!=db,env in (a,b),!legacy,owner` as Kubernetes label selectors read."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    reqs = []
    for part in (p.strip() for p in parts if p.strip()):
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part):
            reqs.append(Requirement(m[1], m[2], tuple(v.strip() for v in m[3].split(",") if v.strip())))
        elif m := re.fullmatch(r"([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)", part):
            reqs.append(Requirement(m[1], "!=" if m[2] == "!=" else "=", (m[3],)))
        elif m := re.fullmatch(r"!([\w./-]+)", part):
            reqs.append(Requirement(m[1], "!exists"))
        elif re.fullmatch(r"[\w./-]+", part):
            reqs.append(Requirement(part, "exists"))
        else:
            raise FilterError(f'label selector "{text}" is not valid at "{part}": use key=value, key!=value, '
                              "key in (a,b), key or !key, separated by commas")
    return reqs


@dataclass
class RowFilter:
    """Compiled from what the user typed after `/`."""
    text: str = ""
    pattern: re.Pattern[str] | None = None
    selector: list[Requirement] | None = None

    @classmethod
    def parse(cls, text: str) -> RowFilter:
        text = text.strip()
        if not text:
            return cls()
        if text.startswith("-l ") or text.startswith("-l="):
            return cls(text, selector=parse_selector(text[3:]))
        try:
            return cls(text, pattern=re.compile(text, re.IGNORECASE))
        except re.error:
            return cls(text, pattern=re.compile(re.escape(text), re.IGNORECASE))

    def matches(self, row: Row, labels: dict[str, str] | None = None) -> bool:
        if self.selector is not None:
            return all(r.matches(labels or {}) for r in self.selector)
        if self.pattern is not None:
            return any(self.pattern.search(cell) for cell in row.cells)
        return True


def duration_seconds(text: str) -> int:
    """The inverse of `rows.human_duration`, for sorting the AGE column."""
    found = _DURATION.findall(text)
    return sum(int(n) * _UNITS[u] for n, u in found) if found else -1


def sort_key(column: str, cell: str) -> tuple:
    if column in ("AGE", "LAST SEEN"):
        return (duration_seconds(cell), cell)
    if cell.isdigit():
        return (int(cell), cell)
    return (0, cell.lower())
