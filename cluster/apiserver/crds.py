"""CustomResourceDefinitions: admission checks and the resource type a CRD makes the server serve."""

from __future__ import annotations

from typing import Any

from . import jsonpath, schema
from .metadata import now_rfc3339
from .resources import ResourceType

PRINTER_TYPES = ("integer", "number", "string", "boolean", "date")


def crd_errors(crd: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Causes (field, reason, message) that make a CRD invalid."""
    causes: list[tuple[str, str, str]] = []

    def add(field: str, reason: str, text: str) -> None:
        causes.append((field, reason, f"{field}: {text}"))

    spec = crd.get("spec") or {}
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    plural = names.get("plural") or ""
    if not group:
        add("spec.group", "FieldValueRequired", "Required value")
    elif "." not in group:
        add("spec.group", "FieldValueInvalid", f'Invalid value: "{group}": should be a domain with at least one dot')
    for key in ("plural", "kind"):
        if not names.get(key):
            add(f"spec.names.{key}", "FieldValueRequired", "Required value")
    if names.get("plural") and names["plural"] != names["plural"].lower():
        add("spec.names.plural", "FieldValueInvalid", f'Invalid value: "{plural}": must be lowercase')
    name = (crd.get("metadata") or {}).get("name", "")
    if plural and group and name != f"{plural}.{group}":
        add("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        add("spec.scope", "FieldValueNotSupported",
            f'Unsupported value: "{spec.get("scope", "")}": supported values: "Cluster", "Namespaced"')
    versions = spec.get("versions") or []
    if not versions:
        add("spec.versions", "FieldValueInvalid", "Invalid value: null: must have exactly one version marked as storage version")
    storage = [v for v in versions if v.get("storage")]
    if versions and len(storage) != 1:
        add("spec.versions", "FieldValueInvalid",
            f"Invalid value: {[v.get('name') for v in storage]}: must have exactly one version marked as storage version")
    seen = set()
    for i, version in enumerate(versions):
        base = f"spec.versions[{i}]"
        vname = version.get("name", "")
        if vname in seen:
            add(f"{base}.name", "FieldValueDuplicate", f'Duplicate value: "{vname}"')
        seen.add(vname)
        if not vname:
            add(f"{base}.name", "FieldValueRequired", "Required value")
        openapi = ((version.get("schema") or {}).get("openAPIV3Schema"))
        if openapi is None:
            add(f"{base}.schema.openAPIV3Schema", "FieldValueRequired", "Required value: schemas are required")
        else:
            for err in schema.check_structural(openapi, f"{base}.schema.openAPIV3Schema"):
                causes.append((err.field, err.reason, err.render()))
        for j, column in enumerate(version.get("additionalPrinterColumns") or []):
            cbase = f"{base}.additionalPrinterColumns[{j}]"
            if not column.get("name"):
                add(f"{cbase}.name", "FieldValueRequired", "Required value")
            if column.get("type") not in PRINTER_TYPES:
                add(f"{cbase}.type", "FieldValueNotSupported",
                    f'Unsupported value: "{column.get("type", "")}": supported values: '
                    + ", ".join(f'"{t}"' for t in PRINTER_TYPES))
            try:
                jsonpath.compile_path(column.get("jsonPath", ""))
            except jsonpath.JSONPathError as exc:
                add(f"{cbase}.jsonPath", "FieldValueInvalid", f'Invalid value: "{column.get("jsonPath", "")}": {exc}')
    return causes


def accept(crd: dict[str, Any]) -> None:
    """Set the status a single-server cluster gives a valid CRD at once: names accepted, established."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    stamp = now_rfc3339()
    status = crd.setdefault("status", {})
    status["acceptedNames"] = names
    stored = status.setdefault("storedVersions", [])
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    if storage not in stored:
        stored.append(storage)
    old = {c["type"]: c for c in status.get("conditions", [])}

    def condition(type_: str, reason: str, message: str) -> dict:
        prev = old.get(type_)
        when = prev["lastTransitionTime"] if prev and prev.get("status") == "True" else stamp
        return {"type": type_, "status": "True", "lastTransitionTime": when, "reason": reason, "message": message}

    status["conditions"] = [
        condition("NamesAccepted", "NoConflicts", "no conflicts found"),
        condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ]


def resource_type(crd: dict[str, Any]) -> ResourceType:
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    storage = next(v for v in spec["versions"] if v.get("storage"))
    ordered = [storage] + [v for v in served if v is not storage] if storage in served else served
    subresources = storage.get("subresources") or spec.get("subresources") or {}
    subs = tuple(s for s in ("status", "scale") if s in subresources)
    return ResourceType(
        group=spec["group"],
        versions=tuple(v["name"] for v in ordered),
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec["scope"] == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=subs,
        custom=True,
        schemas={v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("schema")},
        printer_columns={v["name"]: v.get("additionalPrinterColumns") for v in spec["versions"]},
        deprecated={v["name"]: v.get("deprecationWarning") or
                    f"{spec['group']}/{v['name']} {names['kind']} is deprecated"
                    for v in spec["versions"] if v.get("deprecated")},
        scale=subresources.get("scale"),
        has_generation=True,
        status_subresource="status" in subs,
    )
