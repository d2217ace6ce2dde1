"""`kubectl describe`-style text for VMs, VMIs and pods: the object's fields as an indented outline
with kubectl's Title Case keys, followed by its events."""

from __future__ import annotations

import re
from datetime import datetime

from .rows import age, event_time

WIDTH = 14   # kubectl pads the top-level labels to line values up


def title(key: str) -> str:
    """`runStrategy` → `Run Strategy`, as kubectl prints CRD fields."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", key)
    return words[:1].upper() + words[1:]


def _scalar(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def outline(value: object, indent: int = 0) -> list[str]:
    """Nested fields as kubectl prints unstructured content: maps indent, list items follow each other."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines.append(f"{pad}{title(key)}:")
                lines.extend(outline(item, indent + 1))
            else:
                lines.append(f"{pad}{title(key)}:  {_scalar(item)}".rstrip())
    elif isinstance(value, list):
        for item in value:
            lines.extend(outline(item, indent) if isinstance(item, dict | list) else [f"{pad}{_scalar(item)}"])
    return lines


def _map(name: str, values: dict | None) -> list[str]:
    items = sorted((values or {}).items())
    if not items:
        return [f"{name + ':':<{WIDTH}}<none>"]
    first, *rest = [f"{k}={v}" for k, v in items]
    return [f"{name + ':':<{WIDTH}}{first}", *[" " * WIDTH + line for line in rest]]


def events_table(events: list[dict], now: datetime | None = None) -> list[str]:
    if not events:
        return ["Events:       <none>"]
    rows = [("Type", "Reason", "Age", "From", "Message"), ("----", "------", "----", "----", "-------")]
    for e in events:
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        rows.append((e.get("type", "Normal"), e.get("reason", ""), age(event_time(e), now), source,
                     e.get("message", "")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["Events:"]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:4])) + "  " + r[4])
    return [line.rstrip() for line in lines]


def describe(obj: dict, events: list[dict] | None = None, now: datetime | None = None) -> str:
    """Describe any VM, VMI or pod (kubectl's generic describer, which it uses for CRDs too)."""
    meta = obj.get("metadata") or {}
    lines = [f"{'Name:':<{WIDTH}}{meta.get('name', '')}"]
    if meta.get("namespace"):
        lines.append(f"{'Namespace:':<{WIDTH}}{meta['namespace']}")
    lines += _map("Labels", meta.get("labels"))
    lines += _map("Annotations", {k: v for k, v in (meta.get("annotations") or {}).items()
                                  if k != "kubectl.kubernetes.io/last-applied-configuration"})
    lines.append(f"{'API Version:':<{WIDTH}}{obj.get('apiVersion', '')}")
    lines.append(f"{'Kind:':<{WIDTH}}{obj.get('kind', '')}")
    shown = {k: meta[k] for k in ("creationTimestamp", "generation", "resourceVersion", "uid",
                                  "deletionTimestamp", "ownerReferences", "finalizers") if k in meta}
    lines.append("Metadata:")
    lines += outline(shown, 1)
    for section in ("spec", "status"):
        if obj.get(section):
            lines.append(f"{title(section)}:")
            lines += outline(obj[section], 1)
    lines += events_table(events or [], now)
    return "\n".join(lines) + "\n"
