"""OpenAPI v3 schemas as kube-apiserver uses them: built-in kind schemas generated from the `kubernetes`
client's models, and the CRD pipeline — structural check, pruning, defaulting and validation, with
apiextensions-apiserver's error wording."""

from __future__ import annotations

import base64
import copy
import functools
import ipaddress
import json
import math
import re
import typing
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from kubernetes import client as k8s_models

# -- field errors, rendered as apimachinery's field.Error ----------------------------------------------

NO_FIELD = "<nil>"  # what a field.Path of nil prints: apiextensions reports anyOf/oneOf/allOf/not there
_OMIT = object()


@dataclass(frozen=True)
class FieldError:
    """One cause of a 422: `field` is dotted with [i] indices, `reason` an apimachinery field.ErrorType,
    `message` the text after "field: " (field.Error.ErrorBody)."""

    field: str
    reason: str
    message: str

    def render(self) -> str:
        return f"{self.field}: {self.message}"


def invalid_message(kind: str, group: str, name: str, errors: list[FieldError]) -> str:
    """The Status message of apimachinery's NewInvalid: duplicates dropped, brackets only for several."""
    qualified = f"{kind}.{group}" if group else kind
    messages = list(dict.fromkeys(e.render() for e in errors))
    head = f"{qualified} {_quote(name)} is invalid"
    if not messages:
        return head
    if len(messages) == 1:
        return f"{head}: {messages[0]}"
    return f"{head}: [{', '.join(messages)}]"


def _quote(text: str) -> str:
    """Go's %q: printable characters kept, the rest escaped."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _go_float(value: float, json_style: bool = False) -> str:
    """A float64 as Go prints it: %v (shortest digits, exponent from 1e+06) or json.Marshal (from 1e+21)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exp = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exponent = len(digits) - 1 + int(exp)
    low, high = (-7, 21) if json_style else (-5, 6)
    prefix = "-" if sign else ""
    if low < exponent < high:
        return prefix + format(Decimal(repr(abs(value))).normalize(), "f")
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    exp_text = f"{abs(exponent)}" if json_style else f"{abs(exponent):02d}"
    return f"{prefix}{mantissa}e{'-' if exponent < 0 else '+'}{exp_text}"


def _go_json(value: Any) -> str:
    """Go's json.Marshal of decoded JSON: sorted keys, no spaces, HTML characters escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value, json_style=True)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                        ("\u2029", "\\u2029")):
            text = text.replace(ch, esc)
        return text
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_json(str(k))}:{_go_json(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_go_json(v) for v in value) + "]"
    return _go_json(str(value))


def _bad_value(value: Any) -> str:
    """How field.Error.ErrorBody prints a bad value: strings quoted, scalars bare, the rest as JSON."""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return _go_json(value)


def _body(label: str, value: Any = _OMIT, detail: str = "") -> str:
    text = label if value is _OMIT else f"{label}: {_bad_value(value)}"
    return f"{text}: {detail}" if detail else text


def _invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(field, "FieldValueInvalid", _body("Invalid value", value, detail))


def _type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(field, "FieldValueTypeInvalid", _body("Invalid value", value, detail))


def _required(field: str, detail: str = "") -> FieldError:
    return FieldError(field, "FieldValueRequired", _body("Required value", detail=detail))


def _forbidden(field: str, detail: str) -> FieldError:
    return FieldError(field, "FieldValueForbidden", _body("Forbidden", detail=detail))


def _not_supported(field: str, value: Any, valid: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(_quote(v) for v in valid) if valid else ""
    return FieldError(field, "FieldValueNotSupported", _body("Unsupported value", value, detail))


def _duplicate(field: str, value: Any) -> FieldError:
    return FieldError(field, "FieldValueDuplicate", _body("Duplicate value", value))


def _too_long(field: str, limit: int) -> FieldError:
    unit = "byte" if limit == 1 else "bytes"
    return FieldError(field, "FieldValueTooLong", _body("Too long", detail=f"may not be more than {limit} {unit}"))


def _too_many(field: str, actual: int, limit: int) -> FieldError:
    unit = "item" if limit == 1 else "items"
    return FieldError(field, "FieldValueTooMany", _body("Too many", actual, f"must have at most {limit} {unit}"))


# -- built-in kind schemas from the client's models ----------------------------------------------------

_BUILTIN_MODELS: dict[tuple[str, str, str], str] = {
    ("", "v1", "Namespace"): "V1Namespace",
    ("", "v1", "Node"): "V1Node",
    ("", "v1", "Pod"): "V1Pod",
    ("", "v1", "Event"): "CoreV1Event",
    ("", "v1", "ConfigMap"): "V1ConfigMap",
    ("", "v1", "Secret"): "V1Secret",
    ("", "v1", "ServiceAccount"): "V1ServiceAccount",
    ("", "v1", "Service"): "V1Service",
    ("", "v1", "Endpoints"): "V1Endpoints",
    ("", "v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("", "v1", "PersistentVolume"): "V1PersistentVolume",
    ("", "v1", "Binding"): "V1Binding",
    ("coordination.k8s.io", "v1", "Lease"): "V1Lease",
    ("rbac.authorization.k8s.io", "v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): "V1RoleBinding",
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("apps", "v1", "Deployment"): "V1Deployment",
    ("apps", "v1", "DaemonSet"): "V1DaemonSet",
    ("apps", "v1", "StatefulSet"): "V1StatefulSet",
    ("apps", "v1", "ReplicaSet"): "V1ReplicaSet",
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): "V1CustomResourceDefinition",
    ("policy", "v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("policy", "v1", "Eviction"): "V1Eviction",
    ("events.k8s.io", "v1", "Event"): "EventsV1Event",
}

# The client types resource.Quantity as str, but manifests write `cpu: 1`; these JSON names hold one.
_QUANTITY_MAPS = {"limits", "requests", "capacity", "allocatable", "overhead", "allocatedResources"}
_QUANTITY_SCALARS = {"sizeLimit", "divisor"}

# patchStrategy/patchMergeKey from the Go types (not in the client models); kubectl reads them from
# OpenAPI v3 to compute strategic merge patches.
_PATCH_STRATEGIES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("V1ObjectMeta", "finalizers"): ("merge", None),
    ("V1ObjectMeta", "ownerReferences"): ("merge", "uid"),
    ("V1PodSpec", "containers"): ("merge", "name"),
    ("V1PodSpec", "initContainers"): ("merge", "name"),
    ("V1PodSpec", "ephemeralContainers"): ("merge", "name"),
    ("V1PodSpec", "volumes"): ("merge,retainKeys", "name"),
    ("V1PodSpec", "imagePullSecrets"): ("merge", "name"),
    ("V1PodSpec", "hostAliases"): ("merge", "ip"),
    ("V1Container", "env"): ("merge", "name"),
    ("V1Container", "ports"): ("merge", "containerPort"),
    ("V1Container", "volumeMounts"): ("merge", "mountPath"),
    ("V1Container", "volumeDevices"): ("merge", "devicePath"),
    ("V1EphemeralContainer", "env"): ("merge", "name"),
    ("V1EphemeralContainer", "ports"): ("merge", "containerPort"),
    ("V1EphemeralContainer", "volumeMounts"): ("merge", "mountPath"),
    ("V1EphemeralContainer", "volumeDevices"): ("merge", "devicePath"),
    ("V1PodStatus", "conditions"): ("merge", "type"),
    ("V1NodeStatus", "conditions"): ("merge", "type"),
    ("V1NodeStatus", "addresses"): ("merge", "type"),
    ("V1ServiceSpec", "ports"): ("merge", "port"),
    ("V1DeploymentSpec", "strategy"): ("retainKeys", None),
    ("V1DeploymentStatus", "conditions"): ("merge", "type"),
    ("V1DaemonSetStatus", "conditions"): ("merge", "type"),
    ("V1StatefulSetStatus", "conditions"): ("merge", "type"),
    ("V1ReplicaSetStatus", "conditions"): ("merge", "type"),
    ("V1PersistentVolumeClaimStatus", "conditions"): ("merge", "type"),
}

_SCALAR_SCHEMAS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number", "format": "double"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
}


def _quantity_schema(description: str | None) -> dict[str, Any]:
    node: dict[str, Any] = {"x-kubernetes-int-or-string": True, "format": "quantity"}
    if description:
        node["description"] = description
    return node


def _class_description(cls: type) -> str:
    doc = cls.__doc__ or ""
    return " ".join(re.split(r"\n\s*Attributes:", doc)[0].split())


def _base_types(annotation: Any) -> set[Any]:
    """The plain types behind Optional/Union/Annotated: int, str, dict, list, Any ..."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _base_types(typing.get_args(annotation)[0])
    if origin is typing.Union:
        return set().union(*(_base_types(a) for a in typing.get_args(annotation) if a is not type(None)))
    if origin is not None:
        return {origin}
    return {annotation}


def _open_schema(annotation: Any) -> dict[str, Any]:
    """A model field typed 'object': IntOrString, a free-form map, or anything at all."""
    bases = _base_types(annotation)
    if bases == {int, str}:
        return {"x-kubernetes-int-or-string": True}
    if bases == {dict}:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {"x-kubernetes-preserve-unknown-fields": True}


class _ModelSchemas:
    """Structural schemas of the client's model classes, one shared dict per model. A recursive model
    (JSONSchemaProps) refers back to its own dict, so its schema is cyclic."""

    def __init__(self) -> None:
        self._done: dict[str, dict[str, Any]] = {}
        self._building: set[int] = set()
        self.names: dict[int, str] = {}

    def model(self, name: str) -> dict[str, Any]:
        if name in self._done:
            return self._done[name]
        cls = getattr(k8s_models, name)
        node: dict[str, Any] = {"type": "object"}
        self._done[name] = node
        self._building.add(id(node))
        description = _class_description(cls)
        if description:
            node["description"] = description
        properties: dict[str, Any] = {}
        required: list[str] = []
        fields = cls.model_fields
        for attr, type_name in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            info = fields.get(attr) or next(f for f in fields.values() if f.alias == attr)
            properties[json_name] = self._field(name, json_name, type_name, info)
            if info.is_required():
                required.append(json_name)
        node["properties"] = properties
        self.names[id(properties)] = name  # also names the per-field copies, which share it
        if required:
            node["required"] = required
        self._building.discard(id(node))
        return node

    def _field(self, owner: str, json_name: str, type_name: str, info: Any) -> dict[str, Any]:
        if json_name in _QUANTITY_MAPS and type_name == "Dict[str, str]":
            sub: dict[str, Any] = {"type": "object", "additionalProperties": _quantity_schema(None)}
        elif json_name in _QUANTITY_SCALARS and type_name == "str":
            sub = _quantity_schema(None)
        elif type_name == "object":
            sub = _open_schema(info.annotation)
        else:
            sub = self._type(type_name)
        if id(sub) in self._building:
            return sub  # a cycle: keep the very dict, without a per-field description
        sub = dict(sub)
        if info.description:
            sub["description"] = info.description
        strategy = _PATCH_STRATEGIES.get((owner, json_name))
        if strategy:
            sub["x-kubernetes-patch-strategy"] = strategy[0]
            if strategy[1]:
                sub["x-kubernetes-patch-merge-key"] = strategy[1]
        return sub

    def _type(self, type_name: str) -> dict[str, Any]:
        if m := re.fullmatch(r"List\[(.+)\]", type_name):
            return {"type": "array", "items": self._type(m[1])}
        if m := re.fullmatch(r"Dict\[str, (.+)\]", type_name):
            return {"type": "object", "additionalProperties": self._type(m[1])}
        if type_name in _SCALAR_SCHEMAS:
            return dict(_SCALAR_SCHEMAS[type_name])
        if type_name == "object":
            return {"x-kubernetes-preserve-unknown-fields": True}
        return self.model(type_name)


_MODELS = _ModelSchemas()


@functools.cache
def builtin_schema(group: str, version: str, kind: str) -> dict | None:
    """The structural schema of a built-in kind, or None. Shared and read-only: do not mutate it. The
    CustomResourceDefinition schema is cyclic (JSONSchemaProps nests itself); openapi.py breaks the cycle."""
    model = _BUILTIN_MODELS.get((group, version, kind))
    if model is None:
        return None
    node = _MODELS.model(model)
    root = dict(node)
    properties = dict(node["properties"])
    # At the root metadata is ObjectMeta, which prune() applies itself, as kube-apiserver does; a
    # structural root schema may not describe it.
    properties["metadata"] = {"type": "object"}
    root["properties"] = properties
    return root


def object_meta_schema() -> dict[str, Any]:
    """ObjectMeta's schema (read-only): what metadata is pruned to, and what `kubectl explain` shows."""
    return _MODELS.model("V1ObjectMeta")


def list_meta_schema() -> dict[str, Any]:
    return _MODELS.model("V1ListMeta")


def model_name(node: dict) -> str | None:
    """The client model ("V1JSONSchemaProps") a built-in schema node was generated from, if any."""
    properties = node.get("properties")
    return _MODELS.names.get(id(properties)) if isinstance(properties, dict) else None


# -- CRD admission: the structural schema rules ---------------------------------------------------------

_SCHEMA_TYPES = ["array", "boolean", "integer", "number", "object", "string"]
_META_FIELDS = ("apiVersion", "kind", "metadata")
_UNSUPPORTED_KEYWORDS = [
    ("id", "id is not supported"),
    ("additionalItems", "additionalItems is not supported"),
    ("patternProperties", "patternProperties is not supported"),
    ("definitions", "definitions is not supported"),
    ("dependencies", "dependencies is not supported"),
    ("$ref", "$ref is not supported"),
]
# Keywords the structural form keeps (apiextensions' Structural type); the others don't count.
_NOT_STRUCTURAL = {"example", "externalDocs", "$schema", "id"}
_NESTED_FORBIDDEN = [
    ("type", "must be empty to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
]
_NESTED_FALSE = ["nullable", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
                 "x-kubernetes-int-or-string"]
_JUNCTORS = ("allOf", "anyOf", "oneOf")


def check_structural(schema: dict, path: str = "spec.versions[0].schema.openAPIV3Schema") -> list[FieldError]:
    """What kube-apiserver rejects in a CRD version's openAPIV3Schema (a JSON tree, as decoded from a
    request), sorted as it sorts them. The structural pass runs only when the keyword pass ($ref,
    uniqueItems, properties with additionalProperties, ...) found nothing, since apiextensions cannot
    build the structural form of such schemas either."""
    if not isinstance(schema, dict):
        return [_required(f"{path}.type", "must not be empty at the root")]
    errs = _keyword_errors(schema, path, _KeywordContext(root=True))
    if not errs:
        errs = _structural_errors(schema, "root", path) + _completeness_errors(schema, path)
    return sorted(errs, key=FieldError.render)


@dataclass(frozen=True)
class _KeywordContext:
    root: bool = False
    in_meta: bool = False
    no_defaults: str | None = None  # why `default` is forbidden here, if it is


def _children(schema: dict, path: str):
    """(how it is nested, property name, child schema, its path) for every sub-schema of a CRD schema."""
    for name, sub in (schema.get("properties") or {}).items():
        yield "property", name, sub, f"{path}.properties[{name}]"
    if isinstance(schema.get("additionalProperties"), dict):
        yield "additionalProperties", None, schema["additionalProperties"], f"{path}.additionalProperties"
    if isinstance(schema.get("items"), dict):
        yield "items", None, schema["items"], f"{path}.items"
    for junctor in _JUNCTORS:
        for i, sub in enumerate(schema.get(junctor) or []):
            yield junctor, None, sub, f"{path}.{junctor}[{i}]"
    if isinstance(schema.get("not"), dict):
        yield "not", None, schema["not"], f"{path}.not"


def _keyword_errors(schema: dict, path: str, ctx: _KeywordContext) -> list[FieldError]:
    """apiextensions' ValidateCustomResourceDefinitionOpenAPISchema: keywords and extensions."""
    if not isinstance(schema, dict):
        return [_invalid(path, schema, "must be a schema object")]
    errs: list[FieldError] = []
    kind = schema.get("type")
    if kind is not None and kind not in _SCHEMA_TYPES:
        errs.append(_not_supported(f"{path}.type", kind, _SCHEMA_TYPES))
    if "default" in schema and ctx.no_defaults:
        errs.append(_forbidden(f"{path}.default", f"must not be set {ctx.no_defaults}"))
    for keyword, detail in _UNSUPPORTED_KEYWORDS:
        if schema.get(keyword) not in (None, "", {}, []):
            errs.append(_forbidden(f"{path}.{keyword}", detail))
    if kind == "null":
        errs.append(_forbidden(f"{path}.type", "type cannot be set to null, use nullable as an alternative"))
    if isinstance(schema.get("items"), list):
        errs.append(_forbidden(f"{path}.items", "items must be a schema object and not an array"))
    if ctx.in_meta and schema.get("x-kubernetes-embedded-resource"):
        errs.append(_forbidden(f"{path}.x-kubernetes-embedded-resource", "must not be used inside of resource meta"))
    if schema.get("uniqueItems") is True:
        errs.append(_forbidden(f"{path}.uniqueItems",
                               "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    extra = schema.get("additionalProperties")
    if extra is not None and schema.get("properties") and (extra is False or isinstance(extra, dict)):
        errs.append(_forbidden(f"{path}.additionalProperties", "additionalProperties and properties are mutual exclusive"))
    errs += _child_keyword_errors(schema, path, ctx)
    if schema.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(_invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    errs += _map_type_errors(schema, path) + _list_type_errors(schema, path)
    return errs


def _child_keyword_errors(schema: dict, path: str, ctx: _KeywordContext) -> list[FieldError]:
    errs: list[FieldError] = []
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    for nesting, name, sub, sub_path in _children(schema, path):
        child = _KeywordContext(in_meta=ctx.in_meta, no_defaults=ctx.no_defaults)
        if nesting == "property" and (ctx.root or embedded) and name in _META_FIELDS:
            child = _KeywordContext(in_meta=True, no_defaults=f"in top-level {name}" if ctx.root else ctx.no_defaults)
        elif nesting == "additionalProperties" and ctx.in_meta:
            child = _KeywordContext(in_meta=True, no_defaults="inside additionalProperties applying to object metadata")
        errs += _keyword_errors(sub, sub_path, child)
    return errs


def _map_type_errors(schema: dict, path: str) -> list[FieldError]:
    map_type = schema.get("x-kubernetes-map-type")
    if map_type is None:
        return []
    errs = []
    if schema.get("type") != "object":
        errs.append(_type_must_be(schema, path, "must be object if x-kubernetes-map-type is specified"))
    if map_type not in ("atomic", "granular"):
        errs.append(_not_supported(f"{path}.x-kubernetes-map-type", map_type, ["atomic", "granular"]))
    return errs


def _type_must_be(schema: dict, path: str, detail: str) -> FieldError:
    if not schema.get("type"):
        return _required(f"{path}.type", detail)
    return _invalid(f"{path}.type", schema["type"], detail)


def _list_type_errors(schema: dict, path: str) -> list[FieldError]:
    list_type = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys") or []
    errs = []
    if list_type is not None and schema.get("type") != "array":
        errs.append(_type_must_be(schema, path, "must be array if x-kubernetes-list-type is specified"))
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errs.append(_not_supported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]))
    if keys and list_type is None:
        errs.append(_required(f"{path}.x-kubernetes-list-type", "must be map if x-kubernetes-list-map-keys is non-empty"))
    elif keys and list_type != "map":
        errs.append(_invalid(f"{path}.x-kubernetes-list-type", list_type,
                             "must be map if x-kubernetes-list-map-keys is non-empty"))
    if list_type == "map":
        errs += _list_map_errors(schema, path, keys)
    if list_type in ("set", "map") and isinstance(schema.get("items"), dict) and schema["items"].get("nullable"):
        errs.append(_forbidden(f"{path}.items.nullable", f"cannot be nullable when x-kubernetes-list-type is {list_type}"))
    return errs


def _list_map_errors(schema: dict, path: str, keys: list[str]) -> list[FieldError]:
    items = schema.get("items")
    if not keys:
        return [_required(f"{path}.x-kubernetes-list-map-keys", "must not be empty if x-kubernetes-list-type is map")]
    if not isinstance(items, dict):
        return [_required(f"{path}.items", "must have a schema if x-kubernetes-list-type is map")]
    if items.get("type") != "object":
        return [_invalid(f"{path}.items.type", items.get("type", ""), "must be object if parent array's "
                         "x-kubernetes-list-type is map")]
    errs = []
    properties = items.get("properties") or {}
    for key in keys:
        prop = properties.get(key)
        if prop is None:
            errs.append(_invalid(f"{path}.x-kubernetes-list-map-keys", keys, "entries must all be names of item properties"))
            continue
        if prop.get("type") in ("array", "object"):
            errs.append(_invalid(f"{path}.items.properties[{key}].type", items["type"],
                                 "must be a scalar type if parent array's x-kubernetes-list-type is map"))
        if key not in (items.get("required") or []) and "default" not in prop:
            errs.append(_required(f"{path}.items.properties[{key}].default", "this property is in "
                                  "x-kubernetes-list-map-keys, so it must have a default or be a required property"))
        if prop.get("nullable"):
            errs.append(_forbidden(f"{path}.items.properties[{key}].nullable",
                                   "this property is in x-kubernetes-list-map-keys, so it cannot be nullable"))
    if len(set(keys)) != len(keys):
        errs.append(_invalid(f"{path}.x-kubernetes-list-map-keys", keys, "must not contain duplicate entries"))
    return errs


def _structural_errors(schema: dict, level: str, path: str) -> list[FieldError]:
    """apiextensions' validateStructuralInvariants; level is "root", "item" or "field"."""
    errs: list[FieldError] = []
    kind = schema.get("type")
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    int_or_string = bool(schema.get("x-kubernetes-int-or-string"))
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if kind == "array" and not isinstance(schema.get("items"), dict):
        errs.append(_required(f"{path}.items", "must be specified"))
    if isinstance(schema.get("items"), dict):
        errs += _structural_errors(schema["items"], "item", f"{path}.items")
    for name, sub in (schema.get("properties") or {}).items():
        errs += _structural_errors(sub, "field", f"{path}.properties[{name}]")
    if "additionalProperties" in schema:
        if level == "root":
            errs.append(_forbidden(f"{path}.additionalProperties", "must not be used at the root"))
        if isinstance(schema["additionalProperties"], dict):
            errs += _structural_errors(schema["additionalProperties"], "field", f"{path}.additionalProperties")
    if int_or_string and preserve:
        errs.append(_invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True,
                             "must be false if x-kubernetes-int-or-string is true"))
    if int_or_string and embedded:
        errs.append(_invalid(f"{path}.x-kubernetes-embedded-resource", True,
                             "must be false if x-kubernetes-int-or-string is true"))
    errs += _value_validation_errors(schema, path, _int_or_string_skips(schema))
    errs += _type_presence_errors(schema, level, path)
    errs += _resource_meta_errors(schema, level, path)
    return errs


def _type_presence_errors(schema: dict, level: str, path: str) -> list[FieldError]:
    kind = schema.get("type")
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    errs = []
    if embedded and kind != "object":
        errs.append(_type_must_be(schema, path, "must be object if x-kubernetes-embedded-resource is true"))
    elif not kind and not schema.get("x-kubernetes-int-or-string") and not schema.get(
            "x-kubernetes-preserve-unknown-fields"):
        where = {"root": "at the root", "item": "for specified array items", "field": "for specified object fields"}
        errs.append(_required(f"{path}.type", f"must not be empty {where[level]}"))
    if embedded and "additionalProperties" in schema:
        errs.append(_forbidden(f"{path}.additionalProperties", "must not be used if x-kubernetes-embedded-resource is set"))
    if level == "root" and kind and kind != "object":
        errs.append(_invalid(f"{path}.type", kind, "must be object at the root"))
    if embedded and not schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        errs.append(_required(f"{path}.properties", "must not be empty if x-kubernetes-embedded-resource is true "
                              "without x-kubernetes-preserve-unknown-fields"))
    return errs


def _resource_meta_errors(schema: dict, level: str, path: str) -> list[FieldError]:
    """apiVersion and kind must be strings, metadata an object that restricts only name and generateName."""
    properties = schema.get("properties") or {}
    check = level == "root" or bool(schema.get("x-kubernetes-embedded-resource"))
    errs = []
    for name in ("kind", "apiVersion"):
        if check and name in properties and properties[name].get("type") != "string":
            errs.append(_invalid(f"{path}.properties[{name}].type", properties[name].get("type", ""), "must be string"))
    metadata = properties.get("metadata")
    if metadata is None:
        return errs
    meta_path = f"{path}.properties[metadata]"
    if check and metadata.get("type") != "object":
        errs.append(_invalid(f"{meta_path}.type", metadata.get("type", ""), "must be object"))
    if level == "root" and not _restricts_only_names(metadata):
        errs.append(_forbidden(meta_path, "must not specify anything other than name and generateName, "
                               "but metadata is implicitly specified"))
    return errs


def _is_zero(value: Any) -> bool:
    """Go's zero value for a schema keyword: unset, false, "" or empty."""
    return value is None or value is False or value == "" or value == [] or value == {}


def _restricts_only_names(metadata: dict) -> bool:
    rest = {k: v for k, v in metadata.items()
            if k not in _NOT_STRUCTURAL and k not in ("type", "default") and not _is_zero(v)}
    names = set(rest.get("properties") or {})
    if names and names <= {"name", "generateName"}:
        rest.pop("properties")
    return not rest


_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def _int_or_string_skips(schema: dict) -> tuple[bool, bool]:
    """The two IntOrString shapes apiextensions lets through: anyOf [integer, string], or that as allOf[0]."""
    any_of = schema.get("anyOf") == _INT_OR_STRING_ANY_OF
    all_of = schema.get("allOf") or []
    return any_of, bool(all_of) and isinstance(all_of[0], dict) and all_of[0].get("anyOf") == _INT_OR_STRING_ANY_OF


def _value_validation_errors(schema: dict, path: str, skips: tuple[bool, bool] = (False, False)) -> list[FieldError]:
    errs: list[FieldError] = []
    skip_any_of, skip_first_all_of = skips
    if not skip_any_of:
        for i, sub in enumerate(schema.get("anyOf") or []):
            errs += _nested_errors(sub, f"{path}.anyOf[{i}]")
    for i, sub in enumerate(schema.get("allOf") or []):
        errs += _nested_errors(sub, f"{path}.allOf[{i}]", skip_any_of=skip_first_all_of and i == 0)
    for i, sub in enumerate(schema.get("oneOf") or []):
        errs += _nested_errors(sub, f"{path}.oneOf[{i}]")
    if isinstance(schema.get("not"), dict):
        errs += _nested_errors(schema["not"], f"{path}.not")
    pattern = schema.get("pattern")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            errs.append(_invalid(f"{path}.pattern", pattern, f"must be a valid regular expression, but isn't: {exc}"))
    return errs


def _nested_errors(schema: Any, path: str, skip_any_of: bool = False) -> list[FieldError]:
    """What a schema under anyOf/allOf/oneOf/not may not say: only value validations are allowed there."""
    if not isinstance(schema, dict):
        return []
    errs = _value_validation_errors(schema, path, (skip_any_of, False))
    if isinstance(schema.get("items"), dict):
        errs += _nested_errors(schema["items"], f"{path}.items")
    for name, sub in (schema.get("properties") or {}).items():
        errs += _nested_errors(sub, f"{path}.properties[{name}]")
    for keyword, detail in _NESTED_FORBIDDEN:
        if schema.get(keyword) not in (None, "", [], {}) or (keyword == "default" and "default" in schema):
            errs.append(_forbidden(f"{path}.{keyword}", detail))
    if "additionalProperties" in schema:
        errs.append(_forbidden(f"{path}.additionalProperties", "must be undefined to be structural"))
    for keyword in _NESTED_FALSE:
        if schema.get(keyword):
            errs.append(_forbidden(f"{path}.{keyword}", "must be false to be structural"))
    if "metadata" in (schema.get("properties") or {}):
        errs.append(_forbidden(f"{path}.properties[metadata]", "must not be specified in a nested context"))
    return errs


def _completeness_errors(schema: dict, path: str) -> list[FieldError]:
    """Fields named under the root's anyOf/allOf/oneOf/not must also be specified structurally."""
    errs: list[FieldError] = []
    for junctor in _JUNCTORS:
        for i, sub in enumerate(schema.get(junctor) or []):
            errs += _nested_completeness(sub, schema, path, f"{path}.{junctor}[{i}]")
    if isinstance(schema.get("not"), dict):
        errs += _nested_completeness(schema["not"], schema, path, f"{path}.not")
    return errs


def _nested_completeness(nested: Any, structural: dict | None, s_path: str, v_path: str) -> list[FieldError]:
    if not isinstance(nested, dict):
        return []
    if structural is None:
        return [_required(s_path, f"because it is defined in {v_path}")]
    errs = _completeness_errors_between(nested, structural, s_path, v_path)
    if isinstance(nested.get("items"), dict):
        items = structural.get("items") if isinstance(structural.get("items"), dict) else None
        errs += _nested_completeness(nested["items"], items, f"{s_path}.items", f"{v_path}.items")
    known = structural.get("properties") or {}
    for name, sub in (nested.get("properties") or {}).items():
        if name not in known:
            errs.append(_required(f"{s_path}.properties[{name}]", f"because it is defined in {v_path}.properties[{name}]"))
        else:
            errs += _nested_completeness(sub, known[name], f"{s_path}.properties[{name}]", f"{v_path}.properties[{name}]")
    return errs


def _completeness_errors_between(nested: dict, structural: dict, s_path: str, v_path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for junctor in _JUNCTORS:
        for i, sub in enumerate(nested.get(junctor) or []):
            errs += _nested_completeness(sub, structural, s_path, f"{v_path}.{junctor}[{i}]")
    if isinstance(nested.get("not"), dict):
        errs += _nested_completeness(nested["not"], structural, s_path, f"{v_path}.not")
    return errs


# -- pruning ---------------------------------------------------------------------------------------------


def prune(obj: Any, schema: dict, *, root: bool = True) -> tuple[Any, list[str]]:
    """A copy of obj without the fields schema does not specify, and the sorted paths dropped
    ("spec.foo", "spec.list[0].bar", "metadata.foo"). At the root (and in embedded resources)
    apiVersion and kind are kept and metadata is pruned to ObjectMeta."""
    result = copy.deepcopy(obj)
    return result, _Pruner(drop=True).run(result, schema, root)


def unknown_fields(obj: Any, schema: dict, *, root: bool = True) -> list[str]:
    """The paths prune() would drop, without changing obj."""
    return _Pruner(drop=False).run(obj, schema, root)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Pruner:
    def __init__(self, drop: bool) -> None:
        self.drop = drop
        self.paths: list[str] = []

    def run(self, obj: Any, schema: dict | None, root: bool) -> list[str]:
        if root:
            schema = {**(schema or {}), "x-kubernetes-embedded-resource": True}
        self.prune(obj, schema, "")
        return sorted(set(self.paths))

    def prune(self, value: Any, schema: dict | None, path: str) -> None:
        if schema is not None and schema.get("x-kubernetes-preserve-unknown-fields"):
            self.walk(value, schema, path, keep_unknown=True)
        else:
            self.walk(value, schema, path, keep_unknown=False)

    def walk(self, value: Any, schema: dict | None, path: str, keep_unknown: bool) -> None:
        if isinstance(value, list):
            items = schema.get("items") if schema is not None else None
            for i, item in enumerate(value):
                self.prune(item, items if isinstance(items, dict) else None, f"{path}[{i}]")
        elif isinstance(value, dict):
            self.walk_object(value, schema, path, keep_unknown)

    def walk_object(self, value: dict, schema: dict | None, path: str, keep_unknown: bool) -> None:
        if schema is None:
            for key in list(value):
                self.unknown(value, key, path)
            return
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        if embedded and isinstance(value.get("metadata"), dict):
            self.prune(value["metadata"], object_meta_schema(), _join(path, "metadata"))
        properties = schema.get("properties") or {}
        for key in list(value):
            if embedded and key in _META_FIELDS:
                continue
            if key in properties:
                self.prune(value[key], properties[key], _join(path, key))
            elif "additionalProperties" in schema:
                extra = schema["additionalProperties"]
                self.prune(value[key], extra if isinstance(extra, dict) else None, _join(path, key))
            elif not keep_unknown:
                self.unknown(value, key, path, record=key not in _META_FIELDS or bool(path))

    def unknown(self, value: dict, key: str, path: str, record: bool = True) -> None:
        if record:
            self.paths.append(_join(path, key))
        if self.drop:
            del value[key]


# -- defaulting ------------------------------------------------------------------------------------------


def apply_defaults(obj: Any, schema: dict) -> Any:
    """A copy of obj with the schema's `default`s filled in where a field is missing (or null and not
    nullable); nested defaults apply only inside objects that exist or were defaulted. Nulls of
    non-nullable fields without a default are dropped first, as kube-apiserver does."""
    result = copy.deepcopy(obj)
    _drop_non_nullable_nulls(result, schema)
    _default(result, schema)
    return result


def _non_nullable_null(value: Any, schema: Any) -> bool:
    return value is None and isinstance(schema, dict) and not schema.get("nullable")


def _drop_non_nullable_nulls(value: Any, schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            sub = properties[key] if key in properties else extra
            if not isinstance(sub, dict):
                continue
            if value[key] is None and "default" not in sub and not sub.get("nullable"):
                del value[key]
            else:
                _drop_non_nullable_nulls(value[key], sub)
    elif isinstance(value, list):
        for item in value:
            _drop_non_nullable_nulls(item, schema.get("items"))


def _default(value: Any, schema: Any) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if isinstance(sub, dict) and "default" in sub and (key not in value or _non_nullable_null(value[key], sub)):
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties")
        for key in list(value):
            if key in properties:
                _default(value[key], properties[key])
            elif isinstance(extra, dict):
                if _non_nullable_null(value[key], extra) and "default" in extra:
                    value[key] = copy.deepcopy(extra["default"])
                _default(value[key], extra)
    elif isinstance(value, list):
        items = schema.get("items")
        for i, item in enumerate(value):
            if _non_nullable_null(item, items) and "default" in items:
                value[i] = copy.deepcopy(items["default"])
            _default(value[i], items)


# -- validation: kube-openapi's schema validator as apiextensions reports it -----------------------------


def validate(obj: Any, schema: dict) -> list[FieldError]:
    """The OpenAPI errors kube-apiserver gives a custom resource (type, enum, pattern, lengths, bounds,
    items, properties, required, formats, anyOf/allOf/oneOf/not), then list-type set/map duplicates."""
    if not isinstance(schema, dict) or not schema:
        return []
    return _validate(obj, schema, "") + _list_type_duplicates(obj, schema, "")


def _error_field(name: str) -> str:
    """kube-openapi names the root "" and its children ".x"; apiextensions trims the dot."""
    trimmed = name[1:] if name.startswith(".") else name
    return trimmed if trimmed else NO_FIELD


def _composite(detail: str) -> FieldError:
    return _invalid(NO_FIELD, "", detail)


def _validate(value: Any, schema: dict, name: str) -> list[FieldError]:
    """One schema node, in kube-openapi's validator order: type, junctors, string, format, number,
    array, enum, object."""
    if value is None:
        return _type_errors(value, schema, name) + _enum_errors(value, schema, name)
    errs = _type_errors(value, schema, name) + _junctor_errors(value, schema, name)
    if isinstance(value, str):
        errs += _string_errors(value, schema, name) + _format_errors(value, schema, name)
    elif _is_number(value):
        errs += _number_errors(value, schema, name)
    elif isinstance(value, list):
        errs += _array_errors(value, schema, name)
    errs += _enum_errors(value, schema, name)
    if isinstance(value, dict):
        errs += _object_errors(value, schema, name)
    return errs


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: Any) -> tuple[str, str]:
    """The JSON type of a decoded value and the format Go infers for it."""
    if isinstance(value, bool):
        return "boolean", ""
    if isinstance(value, int):
        return "integer", "int64"
    if isinstance(value, float):
        return "number", "float64"
    if isinstance(value, str):
        return "string", ""
    if isinstance(value, list):
        return "array", ""
    return "object", ""


def _schema_types(schema: dict) -> list[str]:
    if schema.get("x-kubernetes-int-or-string"):
        # resource.Quantity also decodes JSON numbers such as `cpu: 0.5`.
        return ["integer", "string", "number"] if schema.get("format") == "quantity" else ["integer", "string"]
    return [schema["type"]] if schema.get("type") else []


def _type_failure(name: str, expected: str, actual: str) -> FieldError:
    return _type_invalid(_error_field(name), actual, f"{name} in body must be of type {expected}: {_quote(actual)}")


def _type_errors(value: Any, schema: dict, name: str) -> list[FieldError]:
    types = _schema_types(schema)
    fmt = _checked_format(schema)
    if not types and not fmt:
        return []
    if value is None:
        if types and not schema.get("nullable"):
            return [_type_failure(name, ",".join(types), "null")]
        return []
    actual, actual_format = _json_type(value)
    float_int = actual == "number" and float(value).is_integer() and "integer" in types
    int_float = actual == "integer" and "number" in types
    textual = isinstance(value, str | list)
    if not textual and fmt and not (actual in types or actual_format == fmt or float_int or int_float):
        return [_type_failure(name, schema["format"], actual_format)]
    if "number" not in types and "integer" not in types and fmt and textual:
        return []
    if not (actual in types or float_int or int_float):
        return [_type_failure(name, ",".join(types), actual)]
    return []


def _junctor_errors(value: Any, schema: dict, name: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if schema.get("anyOf"):
        results = [_validate(value, sub, name) for sub in schema["anyOf"]]
        if not any(not r for r in results):
            errs.append(_composite(f"{_quote(name)} must validate at least one schema (anyOf)"))
            errs += min(results, key=len)
    if schema.get("oneOf"):
        results = [_validate(value, sub, name) for sub in schema["oneOf"]]
        valid = sum(1 for r in results if not r)
        if valid != 1:
            found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            errs.append(_composite(f"{_quote(name)} must validate one and only one schema (oneOf). {found}"))
            if valid == 0:
                errs += min(results, key=len)
    if schema.get("allOf"):
        results = [_validate(value, sub, name) for sub in schema["allOf"]]
        for result in results:
            errs += result
        valid = sum(1 for r in results if not r)
        if valid != len(results):
            suffix = ". None validated" if valid == 0 else ""
            errs.append(_composite(f"{_quote(name)} must validate all the schemas (allOf){suffix}"))
    if isinstance(schema.get("not"), dict) and not _validate(value, schema["not"], name):
        errs.append(_composite(f"{_quote(name)} must not validate the schema (not)"))
    return errs


def _string_errors(value: str, schema: dict, name: str) -> list[FieldError]:
    # kube-openapi stops at the first failing string check.
    field = _error_field(name)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return [_too_long(field, schema["maxLength"])]
    if "minLength" in schema and len(value) < schema["minLength"]:
        return [_invalid(field, value, f"{name} in body should be at least {schema['minLength']} chars long")]
    pattern = schema.get("pattern")
    if pattern:
        try:
            matched = re.search(pattern, value) is not None
        except re.error as exc:
            return [_invalid(field, value, f"{name} in body should match '{pattern}, but pattern is invalid: {exc}'")]
        if not matched:
            return [_invalid(field, value, f"{name} in body should match '{pattern}'")]
    return []


def _bound(limit: float, value: int | float) -> str:
    """kube-openapi compares an integer against int64(limit) and prints that; floats as floats."""
    return str(int(limit)) if isinstance(value, int) else _go_float(float(limit))


def _number_errors(value: int | float, schema: dict, name: str) -> list[FieldError]:
    field = _error_field(name)
    errs = []
    factor = schema.get("multipleOf")
    if factor is not None:
        shown = _bound(factor, value)
        if factor < 0:
            typed = int(factor) if isinstance(value, int) else float(factor)
            errs.append(_invalid(field, typed, f"factor MultipleOf declared for {name} must be positive: {shown}"))
        elif not _is_multiple(value, factor):
            errs.append(_invalid(field, value, f"{name} in body should be a multiple of {shown}"))
    if "minimum" in schema:
        low = int(schema["minimum"]) if isinstance(value, int) else schema["minimum"]
        exclusive = bool(schema.get("exclusiveMinimum"))
        if value < low or (exclusive and value == low):
            word = "greater than" if exclusive else "greater than or equal to"
            errs.append(_invalid(field, value, f"{name} in body should be {word} {_bound(schema['minimum'], value)}"))
    if "maximum" in schema:
        high = int(schema["maximum"]) if isinstance(value, int) else schema["maximum"]
        exclusive = bool(schema.get("exclusiveMaximum"))
        if value > high or (exclusive and value == high):
            word = "less than" if exclusive else "less than or equal to"
            errs.append(_invalid(field, value, f"{name} in body should be {word} {_bound(schema['maximum'], value)}"))
    return errs


def _is_multiple(value: int | float, factor: int | float) -> bool:
    if isinstance(value, int):
        return int(factor) == 0 or value % int(factor) == 0
    if factor == 0:
        return True
    quotient = value * (1 / factor) if factor < 1 else value / factor
    if not math.isfinite(quotient):
        return False
    return quotient == math.trunc(quotient) or abs(quotient - round(quotient)) / abs(quotient) < 1e-9


def _array_errors(value: list, schema: dict, name: str) -> list[FieldError]:
    field = _error_field(name)
    errs: list[FieldError] = []
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            errs += _validate(item, items, f"{name}[{i}]")
    if "minItems" in schema and len(value) < schema["minItems"]:
        errs.append(_invalid(field, len(value), f"{name} in body should have at least {schema['minItems']} items"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errs.append(_too_many(field, len(value), schema["maxItems"]))
    if schema.get("uniqueItems") and _has_duplicates(value):
        errs.append(_invalid(field, "", f"{name} in body shouldn't contain duplicates"))
    return errs


def _same(a: Any, b: Any) -> bool:
    """Go's reflect.DeepEqual on decoded JSON: 1, 1.0 and true all differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _has_duplicates(values: list) -> bool:
    return any(_same(values[i], values[j]) for i in range(len(values)) for j in range(i))


def _enum_matches(value: Any, allowed: Any) -> bool:
    if _is_number(value) and _is_number(allowed):
        # Go converts the value to the enum entry's type first: 1.0 matches 1, and 1.5 does too.
        converted = int(value) if isinstance(allowed, int) else float(value)
        return converted == allowed
    return _same(value, allowed)


def _enum_errors(value: Any, schema: dict, name: str) -> list[FieldError]:
    allowed = schema.get("enum")
    if not allowed:
        return []
    if value is not None and any(_enum_matches(value, a) for a in allowed):
        return []
    shown = [a if isinstance(a, str) else _go_json(a) for a in allowed]
    return [_not_supported(_error_field(name), value, shown)]


def _object_errors(value: dict, schema: dict, name: str) -> list[FieldError]:
    field = _error_field(name)
    count = len(value)
    if "minProperties" in schema and count < schema["minProperties"]:
        return [_invalid(field, count, f"{name} in body should have at least {schema['minProperties']} properties")]
    if "maxProperties" in schema and count > schema["maxProperties"]:
        return [_too_many(field, count, schema["maxProperties"])]
    errs: list[FieldError] = []
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            continue
        if extra is False:
            errs.append(_invalid(field, key, f"{name}.{key} in body is a forbidden property"))
        elif isinstance(extra, dict):
            errs += _validate(item, extra, f"{name}.{key}")
    for key, sub in properties.items():
        if key in value and isinstance(sub, dict):
            errs += _validate(value[key], sub, _join(name, key))
    for key in schema.get("required") or []:
        if key not in value:
            errs.append(_required(_error_field(f"{name}.{key}")))
    return errs


# -- formats apiextensions checks (unsupported ones are ignored, as it strips them) ----------------------

_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?")
_DURATION = re.compile(r"\s*(?:[+-]?\d+(?:\.\d*)?\s*(?:ns|us|µs|ms|s|m|h|d|w)\s*)+")
_UUID = r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}"
_HOSTNAME = re.compile(r"(?=.{1,253}\.?$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}"
                       r"[a-zA-Z0-9])?)*\.?")
_MAC = re.compile(r"([0-9a-fA-F]{2}([:-]))([0-9a-fA-F]{2}\2){4}([0-9a-fA-F]{2}\2){0,14}[0-9a-fA-F]{2}"
                  r"|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2,9}")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None


def _is_date_time(text: str) -> bool:
    m = _DATE_TIME.fullmatch(text)
    return bool(m) and _is_date(f"{m[1]}-{m[2]}-{m[3]}") and int(m[4]) < 24 and int(m[5]) < 60


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _is_uri(text: str) -> bool:
    parsed = urlparse(text)
    return bool(parsed.scheme) or text.startswith("/")


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _is_isbn10(text: str) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\d{9}[\dX]", digits):
        return False
    values = [10 if c == "X" else int(c) for c in digits]
    return sum((10 - i) * v for i, v in enumerate(values)) % 11 == 0


def _is_isbn13(text: str) -> bool:
    digits = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\d{13}", digits):
        return False
    return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits)) % 10 == 0


def _is_credit_card(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    pattern = (r"4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}"
               r"|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11}")
    return re.fullmatch(pattern, digits) is not None and _luhn(digits)


_FORMATS: dict[str, typing.Callable[[str], bool]] = {
    "bsonobjectid": lambda s: re.fullmatch(r"[0-9a-fA-F]{24}", s) is not None,
    "uri": _is_uri,
    "email": lambda s: re.fullmatch(r"[^@\s]+@[^@\s]+", s) is not None,
    "hostname": lambda s: _HOSTNAME.fullmatch(s) is not None,
    "ipv4": lambda s: _is_ip(s, 4),
    "ipv6": lambda s: _is_ip(s, 6),
    "cidr": _is_cidr,
    "mac": lambda s: _MAC.fullmatch(s) is not None,
    "uuid": lambda s: re.fullmatch(_UUID % ("[0-9a-f]", "[0-9a-f]"), s) is not None,
    "uuid3": lambda s: re.fullmatch(_UUID % ("3", "[0-9a-f]"), s) is not None,
    "uuid4": lambda s: re.fullmatch(_UUID % ("4", "[89ab]"), s) is not None,
    "uuid5": lambda s: re.fullmatch(_UUID % ("5", "[89ab]"), s) is not None,
    "isbn": lambda s: _is_isbn10(s) or _is_isbn13(s),
    "isbn10": _is_isbn10,
    "isbn13": _is_isbn13,
    "creditcard": _is_credit_card,
    "ssn": lambda s: re.fullmatch(r"\d{3}[- ]?\d{2}[- ]?\d{4}", s) is not None,
    "hexcolor": lambda s: re.fullmatch(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", s) is not None,
    "rgbcolor": lambda s: re.fullmatch(r"rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)", s) is not None,
    "byte": _is_base64,
    "password": lambda s: True,
    "date": _is_date,
    "duration": lambda s: _DURATION.fullmatch(s) is not None,
    "datetime": _is_date_time,
}


def _checked_format(schema: dict) -> str:
    """The schema's format normalised as go-openapi does, or "" when apiextensions ignores it."""
    fmt = schema.get("format")
    if not isinstance(fmt, str):
        return ""
    normalised = fmt.replace("-", "")
    return normalised if normalised in _FORMATS else ""


def _format_errors(value: str, schema: dict, name: str) -> list[FieldError]:
    fmt = _checked_format(schema)
    if not fmt or _FORMATS[fmt](value):
        return []
    return [_type_invalid(_error_field(name), value,
                          f"{name} in body must be of type {schema['format']}: {_quote(value)}")]


# -- x-kubernetes-list-type: set and map items must be unique ------------------------------------------


def _list_type_duplicates(value: Any, schema: Any, path: str) -> list[FieldError]:
    """apiextensions' ValidateListSetsAndMaps, which names map entries as field.Path does: "spec.m[key]"."""
    if not isinstance(schema, dict):
        return []
    errs: list[FieldError] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if isinstance(extra, dict):
                errs += _list_type_duplicates(item, extra, f"{path}[{key}]")
            if key in properties:
                errs += _list_type_duplicates(item, properties[key], _join(path, key))
    elif isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            errs += [_duplicate(f"{path}[{i}]", value[i]) for i in _second_occurrences(value)]
        elif list_type == "map":
            errs += _list_map_duplicates(value, schema.get("x-kubernetes-list-map-keys") or [], path)
        for i, item in enumerate(value):
            errs += _list_type_duplicates(item, schema.get("items"), f"{path}[{i}]")
    return errs


def _identity(value: Any) -> tuple[str, str]:
    if isinstance(value, dict | list):
        return "compound", _go_json(value)
    return type(value).__name__, repr(value)


def _second_occurrences(values: list) -> list[int]:
    """Index of the second appearance of each repeated value, as apiextensions reports them."""
    seen: dict[tuple[str, str], int] = {}
    indices = []
    for i, value in enumerate(values):
        key = _identity(value)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            indices.append(i)
    return indices


_UNSPECIFIED = ("unspecified", "")


def _list_map_duplicates(values: list, keys: list[str], path: str) -> list[FieldError]:
    for i, item in enumerate(values):
        if item is not None and not isinstance(item, dict):
            return [_invalid(f"{path}[{i}]", item, "must be an object for an array of list-type map")]
    entries = [{k: item[k] for k in keys if k in item} if isinstance(item, dict) else {} for item in values]
    if len(keys) == 1:
        identities = [_identity(e[keys[0]]) if keys[0] in e else _UNSPECIFIED for e in entries]
    else:
        identities = [_identity(e) for e in entries]
    seen: dict[tuple[str, str], int] = {}
    errs = []
    for i, identity in enumerate(identities):
        seen[identity] = seen.get(identity, 0) + 1
        if seen[identity] == 2:
            errs.append(_duplicate(f"{path}[{i}]", entries[i]))
    return errs
