"""ObjectMeta rules shared by every kind: names, labels, annotations, generateName, owner references."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + r")*"
_LABEL_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    """generateName: the prefix cut to 58 characters plus five random ones."""
    return prefix[:58] + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))


def dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not re.fullmatch(_DNS1123_SUBDOMAIN, value):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
            f"validation is '{_DNS1123_SUBDOMAIN}')"
        )
    return errors


def dns1123_label_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not re.fullmatch(_DNS1123_LABEL, value):
        errors.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
            f"start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
            f"validation is '{_DNS1123_LABEL}')"
        )
    return errors


def path_segment_errors(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    for bad in ("/", "%"):
        if bad in value:
            return [f"may not contain '{bad}'"]
    return []


def _qualified_name_errors(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    errors = []
    if prefix and dns1123_subdomain_errors(prefix):
        errors.append("prefix part " + dns1123_subdomain_errors(prefix)[-1])
    if not name or len(name) > 63 or not re.fullmatch(_LABEL_NAME, name):
        errors.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
            f"is '{_LABEL_NAME}') and be no more than 63 characters"
        )
    return errors


def _quote(value: Any) -> str:
    import json

    return json.dumps(value)


def metadata_errors(meta: dict, *, name_rule: str = "subdomain") -> list[tuple[str, str, str]]:
    """Validation causes (field, reason, rendered message) for an object's metadata."""
    causes: list[tuple[str, str, str]] = []

    def add(field: str, reason: str, text: str) -> None:
        causes.append((field, reason, f"{field}: {text}"))

    name = meta.get("name")
    if name:
        check = {"subdomain": dns1123_subdomain_errors, "label": dns1123_label_errors,
                 "segment": path_segment_errors}[name_rule]
        for err in check(name):
            add("metadata.name", "FieldValueInvalid", f"Invalid value: {_quote(name)}: {err}")
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        add("metadata.labels", "FieldValueInvalid", "Invalid value: must be a map of strings")
        labels = {}
    for key, value in labels.items():
        for err in _qualified_name_errors(key):
            add("metadata.labels", "FieldValueInvalid", f"Invalid value: {_quote(key)}: {err}")
        if not isinstance(value, str):
            add(f"metadata.labels[{key}]", "FieldValueInvalid", f"Invalid value: {_quote(value)}: must be a string")
        elif value and (len(value) > 63 or not re.fullmatch(_LABEL_NAME, value)):
            add("metadata.labels", "FieldValueInvalid",
                f"Invalid value: {_quote(value)}: a valid label must be an empty string or consist of alphanumeric "
                "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                f"'MyValue',  or 'my_value',  or '12345', regex used for validation is '(({_LABEL_NAME})?')")
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        add("metadata.annotations", "FieldValueInvalid", "Invalid value: must be a map of strings")
        annotations = {}
    total = 0
    for key, value in annotations.items():
        for err in _qualified_name_errors(key):
            add("metadata.annotations", "FieldValueInvalid", f"Invalid value: {_quote(key)}: {err}")
        if not isinstance(value, str):
            add(f"metadata.annotations[{key}]", "FieldValueInvalid",
                f"Invalid value: {_quote(value)}: must be a string")
        else:
            total += len(key) + len(value)
    if total > 256 * 1024:
        add("metadata.annotations", "FieldValueTooLong", "Too long: must have at most 262144 bytes")
    finalizers = meta.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        add("metadata.finalizers", "FieldValueInvalid", "Invalid value: must be a list of strings")
    owners = meta.get("ownerReferences") or []
    for i, ref in enumerate(owners if isinstance(owners, list) else []):
        for required in ("apiVersion", "kind", "name", "uid"):
            if not isinstance(ref, dict) or not ref.get(required):
                add(f"metadata.ownerReferences[{i}].{required}", "FieldValueRequired", "Required value")
    return causes
