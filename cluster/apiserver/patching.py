"""The three PATCH formats the API server accepts: JSON patch (RFC 6902), JSON merge patch (RFC 7386)
and Kubernetes' strategic merge patch, driven by the patch tags of the built-in kinds' Go types."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# kube-apiserver refuses longer JSON patches with 413 (handlers/patch.go maxJSONPatchOperations).
MAX_JSON_PATCH_OPERATIONS = 10000

_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid"}


class PatchError(ValueError):
    """A patch the server cannot apply; `code` is the HTTP status kube-apiserver answers with.

    400: the body is not a patch of its type (bad JSON, wrong shape, malformed directive).
    422: a well-formed JSON patch that does not apply (failed `test`, missing path, unknown op),
         or a strategic merge patch the schema forbids (lists of lists).
    413: more than MAX_JSON_PATCH_OPERATIONS operations.  415: a patch type this server cannot apply.
    """

    def __init__(self, message: str, code: int = 400):
        super().__init__(message)
        self.code = code

    @property
    def reason(self) -> str:
        """The `Status.reason` that goes with `code`."""
        return _REASONS.get(self.code, "BadRequest")


# --------------------------------------------------------------------------------------------
# Parsing and dispatch


def apply_patch(content_type: str, doc: dict, patch_bytes: bytes, group: str, kind: str) -> dict:
    """Parse a PATCH body of `content_type` and apply it to `doc` (not modified) of `group`/`kind`."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == APPLY_PATCH:
        raise PatchError(
            f"{APPLY_PATCH} (server-side apply) is not supported by this server; "
            "use client-side apply (kubectl apply without --server-side)", 415)
    appliers: dict[str, Callable[[dict, Any], dict]] = {
        JSON_PATCH: apply_json_patch,
        MERGE_PATCH: apply_merge_patch,
        STRATEGIC_MERGE_PATCH: lambda d, p: apply_strategic_merge_patch(d, p, group, kind),
    }
    if media_type not in appliers:
        raise PatchError(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(appliers), 415)
    return appliers[media_type](doc, parse_patch_body(patch_bytes))


def parse_patch_body(patch_bytes: bytes) -> Any:
    """The JSON value of a PATCH body; PatchError 400 carrying the parser's message otherwise."""
    try:
        text = patch_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatchError(f"error decoding patch: the body is not UTF-8 text: {exc}") from exc
    if not text.strip():
        raise PatchError("error decoding patch: the body is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise PatchError(f"error decoding patch: {exc}") from exc


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON (and Go's decoder) does not.
    raise ValueError(f"invalid JSON value {name}")


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


# --------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)


def apply_json_patch(doc: dict, patch: Any) -> dict:
    """Apply the operations in order to a copy of `doc`, as kube-apiserver does (evanphx/json-patch v4)."""
    if not isinstance(patch, list):
        raise PatchError(f"a json patch must be an array of operations, got {_json_type(patch)}")
    if len(patch) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
                         f"got {len(patch)}", 413)
    for index, operation in enumerate(patch):
        if not isinstance(operation, dict):
            raise PatchError(f"json patch operation {index} must be an object, got {_json_type(operation)}")
    result: Any = copy.deepcopy(doc)
    for index, operation in enumerate(patch):
        result = _apply_json_patch_operation(result, operation, index)
    if not isinstance(result, dict):
        raise PatchError(f"the json patch replaced the whole object with {_json_type(result)}", 422)
    return result


def _apply_json_patch_operation(doc: Any, operation: dict, index: int) -> Any:
    op, path = operation.get("op"), operation.get("path")
    where = f"json patch operation {index} ({op} {path})"
    if op not in ("add", "remove", "replace", "move", "copy", "test"):
        raise PatchError(f"{where}: unknown operation {op!r}; use add, remove, replace, move, copy or test", 422)
    for pointer_field in ("path", "from") if op in ("move", "copy") else ("path",):
        _check_pointer(operation.get(pointer_field), pointer_field, where)
    if op == "replace":
        operation = _replace_as_add_when_member_missing(doc, operation)
    try:
        return jsonpatch.JsonPatch([operation]).apply(doc, in_place=True)
    except jsonpatch.JsonPatchTestFailed as exc:
        if _pointer_resolves(doc, path):
            raise PatchError(f"testing value {path} failed: test failed ({where}: {exc})", 422) from exc
        raise PatchError(f"test operation does not apply: is missing path: {path} ({where})", 422) from exc
    except jsonpatch.InvalidJsonPatch as exc:
        raise PatchError(f"{where}: {exc}", 422) from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        missing = operation.get("from") if op in ("move", "copy") else path
        raise PatchError(f"{op} operation does not apply: doc is missing path: {json.dumps(missing)} "
                         f"({where}: {exc})", 422) from exc


def _check_pointer(pointer: Any, name: str, where: str) -> None:
    if not isinstance(pointer, str):
        raise PatchError(f"{where}: the operation has no {json.dumps(name)} JSON pointer", 422)
    try:
        jsonpointer.JsonPointer(pointer)
    except jsonpointer.JsonPointerException as exc:
        raise PatchError(f"{where}: {json.dumps(name)} is not a JSON pointer: {exc}", 422) from exc


def _replace_as_add_when_member_missing(doc: Any, operation: dict) -> dict:
    # evanphx/json-patch v4 (what kube-apiserver runs) lets `replace` create a missing member of an
    # existing object; clients written against a real cluster rely on it, so do the same.
    try:
        pointer = jsonpointer.JsonPointer(operation["path"])
        parent, member = pointer.to_last(doc)
    except (jsonpointer.JsonPointerException, KeyError, TypeError):
        return operation
    if isinstance(parent, dict) and isinstance(member, str) and member not in parent:
        return {**operation, "op": "add"}
    return operation


def _pointer_resolves(doc: Any, path: str) -> bool:
    try:
        jsonpointer.resolve_pointer(doc, path)
    except jsonpointer.JsonPointerException:
        return False
    return True


# --------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)


def apply_merge_patch(doc: dict, patch: Any) -> dict:
    """RFC 7386 on a copy of `doc`; the patch of an API object must itself be an object."""
    if not isinstance(patch, dict):
        raise PatchError(f"a merge patch must be a JSON object, got {_json_type(patch)}")
    return _merge_patch_value(copy.deepcopy(doc), patch)


def _merge_patch_value(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return _without_null_members(patch)
    merged = target if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = _merge_patch_value(merged.get(name), value)
    return merged


def _without_null_members(value: Any) -> Any:
    # An array replaces the target whole, but kube-apiserver (evanphx/json-patch) still drops the
    # null members of the objects inside it; null array elements stay.
    if isinstance(value, list):
        return [_without_null_members(element) for element in value]
    if isinstance(value, dict):
        return {key: _without_null_members(member) for key, member in value.items() if member is not None}
    return value


# --------------------------------------------------------------------------------------------
# Strategic merge patch: the schema


@dataclass(frozen=True)
class FieldPatchMeta:
    """The `patchStrategy`/`patchMergeKey` tags of one field and the fields of the struct below it
    (for a list: of each element). Fields not listed merge as maps and are replaced as lists."""

    strategy: str = ""  # "merge", "replace" or "" (maps merge, lists are replaced)
    merge_key: str = ""  # for lists of objects with strategy "merge"
    retain_keys: bool = False  # kubectl sends $retainKeys for it; honoured wherever it appears
    fields: Mapping[str, FieldPatchMeta] = field(default_factory=dict)


Shape = Mapping[str, FieldPatchMeta]
_NO_META = FieldPatchMeta()


def _struct(**fields: FieldPatchMeta) -> FieldPatchMeta:
    return FieldPatchMeta(fields=fields)


def _merged_list(merge_key: str = "", *, retain_keys: bool = False, **fields: FieldPatchMeta) -> FieldPatchMeta:
    return FieldPatchMeta("merge", merge_key, retain_keys, fields)


_CONDITIONS = _merged_list("type")
_OBJECT_META = _struct(finalizers=_merged_list(), ownerReferences=_merged_list("uid"))

_CONTAINER = dict(
    env=_merged_list("name"),
    ports=_merged_list("containerPort"),
    volumeMounts=_merged_list("mountPath"),
    volumeDevices=_merged_list("devicePath"),
)
_POD_SPEC = _struct(
    volumes=_merged_list("name", retain_keys=True),
    initContainers=_merged_list("name", **_CONTAINER),
    containers=_merged_list("name", **_CONTAINER),
    ephemeralContainers=_merged_list("name", **_CONTAINER),
    imagePullSecrets=_merged_list("name"),
    hostAliases=_merged_list("ip"),
    topologySpreadConstraints=_merged_list("topologyKey"),
    resourceClaims=_merged_list("name", retain_keys=True),
    schedulingGates=_merged_list("name"),
)
_POD_STATUS = _struct(
    conditions=_CONDITIONS,
    podIPs=_merged_list("ip"),
    hostIPs=_merged_list("ip"),
    resourceClaimStatuses=_merged_list("name", retain_keys=True),
)
_POD_TEMPLATE_SPEC = _struct(metadata=_OBJECT_META, spec=_POD_SPEC)
_WITH_CONDITIONS = _struct(conditions=_CONDITIONS)
_JOB_SPEC = _struct(template=_POD_TEMPLATE_SPEC)
_WEBHOOKS = _merged_list("name", matchConditions=_merged_list("name"))


def _kind(**fields: FieldPatchMeta) -> Shape:
    return {"metadata": _OBJECT_META, **fields}


# Built from the patch tags in k8s.io/api (core/v1, apps/v1, batch/v1, policy/v1, ...). Kinds that
# are not listed have no merged lists beyond ObjectMeta's.
_KIND_SHAPES: dict[tuple[str, str], Shape] = {
    ("", "Pod"): _kind(spec=_POD_SPEC, status=_POD_STATUS),
    ("", "PodTemplate"): _kind(template=_POD_TEMPLATE_SPEC),
    ("", "ReplicationController"): _kind(spec=_struct(template=_POD_TEMPLATE_SPEC), status=_WITH_CONDITIONS),
    ("", "Node"): _kind(spec=_struct(podCIDRs=_merged_list()),
                        status=_struct(conditions=_CONDITIONS, addresses=_merged_list("type"))),
    ("", "Service"): _kind(spec=_struct(ports=_merged_list("port")), status=_WITH_CONDITIONS),
    ("", "Namespace"): _kind(status=_WITH_CONDITIONS),
    ("", "PersistentVolumeClaim"): _kind(status=_WITH_CONDITIONS),
    ("", "ServiceAccount"): _kind(secrets=_merged_list("name")),
    ("apps", "Deployment"): _kind(
        spec=_struct(template=_POD_TEMPLATE_SPEC, strategy=FieldPatchMeta(retain_keys=True)),
        status=_WITH_CONDITIONS),
    ("apps", "DaemonSet"): _kind(spec=_struct(template=_POD_TEMPLATE_SPEC), status=_WITH_CONDITIONS),
    ("apps", "StatefulSet"): _kind(spec=_struct(template=_POD_TEMPLATE_SPEC), status=_WITH_CONDITIONS),
    ("apps", "ReplicaSet"): _kind(spec=_struct(template=_POD_TEMPLATE_SPEC), status=_WITH_CONDITIONS),
    ("batch", "Job"): _kind(spec=_JOB_SPEC, status=_WITH_CONDITIONS),
    ("batch", "CronJob"): _kind(spec=_struct(jobTemplate=_struct(metadata=_OBJECT_META, spec=_JOB_SPEC))),
    ("policy", "PodDisruptionBudget"): _kind(spec=_struct(selector=FieldPatchMeta("replace")),
                                             status=_WITH_CONDITIONS),
    ("autoscaling", "HorizontalPodAutoscaler"): _kind(status=_WITH_CONDITIONS),
    ("storage.k8s.io", "CSINode"): _kind(spec=_struct(drivers=_merged_list("name"))),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _kind(webhooks=_WEBHOOKS),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _kind(webhooks=_WEBHOOKS),
}
_METADATA_ONLY: Shape = _kind()


def strategic_merge_shape(group: str, kind: str) -> Shape:
    """The patch metadata of a built-in kind, walked from the object's root."""
    return _KIND_SHAPES.get((group, kind), _METADATA_ONLY)


# --------------------------------------------------------------------------------------------
# Strategic merge patch: applying it

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
_MISSING: Any = object()


def apply_strategic_merge_patch(doc: dict, patch: Any, group: str, kind: str) -> dict:
    """Apply a strategic merge patch to a copy of `doc`, a built-in object of `group`/`kind`."""
    if patch is None:
        patch = {}  # kube-apiserver decodes a `null` body as an empty patch
    if not isinstance(patch, dict):
        raise PatchError(f"a strategic merge patch must be a JSON object, got {_json_type(patch)}")
    return _merge_map(copy.deepcopy(doc), copy.deepcopy(patch), strategic_merge_shape(group, kind), "")


def _at(path: str) -> str:
    return f" at {path}" if path else " at the object's root"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge_map(original: dict, patch: dict, shape: Shape, path: str) -> dict:
    directive = patch.pop(_DIRECTIVE, "merge")
    if directive == "replace":
        return _merge_map({}, patch, shape, path)
    if directive == "delete":
        return {}  # kube-apiserver leaves an empty map behind, not a missing field
    if directive != "merge":
        raise PatchError(f'unknown $patch directive {directive!r}{_at(path)}; use "replace", "delete" or "merge"')
    _apply_retain_keys(original, patch, path)
    _apply_element_orders(original, patch, shape, path)
    deletions = {key: value for key, value in patch.items() if key.startswith(_DELETE_FROM_PRIMITIVE_LIST)}
    for key, value in patch.items():
        if key in deletions:
            continue
        if key.startswith("$"):
            raise PatchError(f"unknown strategic merge patch directive {key!r}{_at(path)}; known directives: "
                             "$patch, $retainKeys, $setElementOrder/<list>, $deleteFromPrimitiveList/<list>")
        if value is None:
            original.pop(key, None)
            continue
        original[key] = _merge_value(original.get(key, _MISSING), value, shape.get(key, _NO_META),
                                     _child(path, key))
    for key, value in deletions.items():
        _delete_from_primitive_list(original, key, value, path)
    return original


def _merge_value(original: Any, patch: Any, meta: FieldPatchMeta, path: str) -> Any:
    if isinstance(patch, dict):
        if not isinstance(original, dict) or meta.strategy == "replace":
            original = {}
        return _merge_map(original, patch, meta.fields, path)
    if isinstance(patch, list):
        if not isinstance(original, list):
            original = []
        if meta.strategy == "merge":
            return _merge_list(original, patch, meta, path)
        element_meta = FieldPatchMeta(fields=meta.fields)
        return [_merge_value(_MISSING, element, element_meta, path) for element in patch]
    return patch


def _merge_list(original: list, patch: list, meta: FieldPatchMeta, path: str) -> list:
    element_kind = _element_kind(original + patch, path)
    if element_kind == "scalar":
        return _ordered(_deduplicated([*original, *patch]), patch, original, _itself)
    if not meta.merge_key:
        raise PatchError(f"cannot merge the list{_at(path)}: its elements are objects but it has no merge key")
    key = meta.merge_key
    original, patch, replace = _apply_list_directives(original, patch, key, path)
    if replace:
        return [_merge_map({}, element, meta.fields, path) for element in patch]
    merged = list(original)
    for element in patch:
        value = _merge_key_value(element, key, path)
        at = f"{path}[{key}={value}]"
        position = next((i for i, item in enumerate(merged) if isinstance(item, dict) and item.get(key) == value),
                        None)
        if position is None:
            merged.append(_merge_map({}, element, meta.fields, at))
        else:
            merged[position] = _merge_map(merged[position], element, meta.fields, at)
    return _ordered(merged, patch, original, _by_key(key))


def _element_kind(elements: list, path: str) -> str:
    kinds = {"list" if isinstance(e, list) else "object" if isinstance(e, dict) else "scalar" for e in elements}
    if "list" in kinds:
        raise PatchError(f"lists of lists are not supported by strategic merge patch{_at(path)}", 422)
    if len(kinds) > 1:
        raise PatchError(f"the list{_at(path)} mixes objects and plain values; a merged list holds one or the other")
    return kinds.pop() if kinds else "object"


def _apply_list_directives(original: list, patch: list, key: str, path: str) -> tuple[list, list, bool]:
    """Handle `{"$patch": "delete", key: v}` and `{"$patch": "replace"}` elements of a merged list."""
    plain, replace = [], False
    for element in patch:
        directive = element.get(_DIRECTIVE, _MISSING)
        if directive is _MISSING:
            plain.append(element)
        elif directive == "delete":
            value = _merge_key_value(element, key, path)
            original = [item for item in original if not (isinstance(item, dict) and item.get(key) == value)]
        elif directive == "replace":
            replace = True
        else:
            raise PatchError(f'unknown $patch directive {directive!r} in an element of the list{_at(path)}; '
                             'use "delete" (with the merge key) or "replace"')
    return original, plain, replace


def _merge_key_value(element: dict, key: str, path: str) -> Any:
    if key not in element:
        raise PatchError(f"an element of the list{_at(path)} has no merge key {key!r}: "
                         f"{json.dumps(element, sort_keys=True)}; add {key!r} to say which element it patches")
    return element[key]


def _itself(value: Any) -> Any:
    return value


def _by_key(key: str) -> Callable[[Any], Any]:
    return lambda element: element.get(key) if isinstance(element, dict) else element


def _deduplicated(values: list) -> list:
    unique: list = []
    for value in values:
        if value not in unique:
            unique.append(value)
    return unique


def _position(keys: list, key: Any) -> int:
    return keys.index(key) if key in keys else -1


def _ordered(merged: list, wanted: list, live: list, key_of: Callable[[Any], Any]) -> list:
    """Order a merged list the way kube-apiserver does: the elements named in `wanted` (the patch list
    or a $setElementOrder list) in that order, the others in their `live` order, the two interleaved by
    their live positions. An element new to the list goes before the live elements it is compared with,
    which is why a patch that adds an element without $setElementOrder puts it first."""
    wanted_keys = [key_of(element) for element in wanted]
    live_keys = [key_of(element) for element in live]
    named = [element for element in merged if key_of(element) in wanted_keys]
    others = [element for element in merged if key_of(element) not in wanted_keys]
    named.sort(key=lambda element: _position(wanted_keys, key_of(element)))
    others.sort(key=lambda element: _sort_last_if_missing(_position(live_keys, key_of(element))))
    ordered, i, j = [], 0, 0
    while i < len(others) and j < len(named):
        other_at = _position(live_keys, key_of(others[i]))
        named_at = _position(live_keys, key_of(named[j]))
        if other_at >= 0 and named_at >= 0 and other_at < named_at:
            ordered.append(others[i])
            i += 1
        else:
            ordered.append(named[j])
            j += 1
    return ordered + others[i:] + named[j:]


def _sort_last_if_missing(position: int) -> float:
    return position if position >= 0 else float("inf")


def _apply_retain_keys(original: dict, patch: dict, path: str) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retained = patch.pop(_RETAIN_KEYS)
    if not isinstance(retained, list):
        raise PatchError(f"$retainKeys{_at(path)} must be a list of field names, got {_json_type(retained)}")
    for key, value in patch.items():
        if value is None or key.startswith((_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST)):
            continue
        if key not in retained:
            raise PatchError(f"the patch sets {_child(path, key)}, which its $retainKeys list {retained} "
                             f"does not name; add {key!r} to $retainKeys")
    for key in [key for key in original if key not in retained]:
        del original[key]


def _apply_element_orders(original: dict, patch: dict, shape: Shape, path: str) -> None:
    """Merge each list that has a `$setElementOrder/<list>` directive and order it as the directive says."""
    for directive in [key for key in patch if key.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        name = directive[len(_SET_ELEMENT_ORDER):]
        list_path = _child(path, name)
        if not name:
            raise PatchError(f"{directive!r}{_at(path)} does not name a list; use $setElementOrder/<list>")
        if not isinstance(order, list):
            raise PatchError(f"{directive}{_at(path)} must be a list, got {_json_type(order)}")
        meta = shape.get(name, _NO_META)
        live = original.get(name, _MISSING)
        patch_list = patch.pop(name, _MISSING)
        for value, what in ((live, "the object's"), (patch_list, "the patch's")):
            if value is not _MISSING and not isinstance(value, list):
                raise PatchError(f"{directive}{_at(path)} orders {list_path}, but {what} {name} is "
                                 f"{_json_type(value)}, not a list")
        if live is _MISSING and patch_list is _MISSING:
            continue
        key_of = _by_key(meta.merge_key) if meta.merge_key else _itself
        if patch_list is not _MISSING:
            _check_order_covers_patch(patch_list, order, key_of, directive, path)
        merged = live if patch_list is _MISSING else _merge_value(live, patch_list, meta, list_path)
        live_order = [] if live is _MISSING else live
        if patch_list is not _MISSING and meta.strategy == "merge" and meta.merge_key:
            live_order = _live_order_seen_by_kube(live_order, patch_list, meta.merge_key)
        original[name] = _ordered(merged, order, live_order, key_of)


def _live_order_seen_by_kube(live: list, patch_list: list, key: str) -> list:
    # kube-apiserver deletes `$patch: delete` elements and appends new ones in the live list's own
    # array, and then orders by that array at its original length: new elements take the slots the
    # deleted ones freed. Reproduce it, or a kubectl apply that removes one env var and adds another
    # orders the server-added ones differently than a real cluster does.
    deleted = [e.get(key) for e in patch_list if isinstance(e, dict) and e.get(_DIRECTIVE) == "delete"]
    kept = [e for e in live if not (isinstance(e, dict) and e.get(key) in deleted)]
    kept_keys = [e.get(key) for e in kept if isinstance(e, dict)]
    added = [e for e in patch_list if isinstance(e, dict) and _DIRECTIVE not in e and e.get(key) not in kept_keys]
    return (kept + added)[:len(live)]


def _check_order_covers_patch(patch_list: list, order: list, key_of: Callable[[Any], Any], directive: str,
                              path: str) -> None:
    # kube-apiserver rejects a patch list whose elements are not, in the same relative order, in
    # the $setElementOrder list: the result would contradict one of the two.
    order_keys = [key_of(element) for element in order]
    cursor = 0
    for element in patch_list:
        if isinstance(element, dict) and _DIRECTIVE in element:
            continue
        key = key_of(element)
        while cursor < len(order_keys) and order_keys[cursor] != key:
            cursor += 1
        if cursor == len(order_keys):
            raise PatchError(f"the order of {_child(path, directive[len(_SET_ELEMENT_ORDER):])} in the patch "
                             f"does not match {directive}: {key!r} is missing from it or out of order")
        cursor += 1


def _delete_from_primitive_list(original: dict, directive: str, values: Any, path: str) -> None:
    name = directive[len(_DELETE_FROM_PRIMITIVE_LIST):]
    if not name:
        raise PatchError(f"{directive!r}{_at(path)} does not name a list; use $deleteFromPrimitiveList/<list>")
    if not isinstance(values, list):
        raise PatchError(f"{directive}{_at(path)} must be a list of values, got {_json_type(values)}")
    live = original.get(name)
    if isinstance(live, list):
        original[name] = [value for value in live if value not in values]
