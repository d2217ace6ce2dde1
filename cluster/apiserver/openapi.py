"""OpenAPI v3 documents for kubectl: one per group version, laid out as kube-apiserver's, so that
`kubectl create|apply` find fieldValidation and the patch types, and `kubectl explain` finds the kinds."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from . import schema as schemas

OPENAPI_VERSION = "3.0.0"
SERVER_VERSION = "v1.37.0"
_COMPONENTS = "#/components/schemas/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"

_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
_METADATA_DESCRIPTION = ("Standard object's metadata. More info: "
                         "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
_LIST_METADATA_DESCRIPTION = ("Standard list metadata. More info: "
                              "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")

# How kube-apiserver names the schemas of built-in groups; any other group is reversed (kubevirt.io → io.kubevirt).
_BUILTIN_PACKAGES = {
    "": "io.k8s.api.core",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
}


@dataclass
class KindSpec:
    """One kind served in a group version, as the document describes it."""

    kind: str
    plural: str
    namespaced: bool
    schema: dict | None  # the structural schema; None for "anything goes"
    has_status: bool
    patch_types: tuple[str, ...]  # media types PATCH accepts for this kind


def group_version_path(group: str, version: str) -> str:
    """The key of a group version in /openapi/v3: "api/v1" or "apis/kubevirt.io/v1"."""
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def schema_name(group: str, version: str, kind: str) -> str:
    """The components.schemas name kube-apiserver gives a kind: io.k8s.api.core.v1.Pod, io.kubevirt.v1.VirtualMachine."""
    if group in _BUILTIN_PACKAGES:
        package = _BUILTIN_PACKAGES[group]
    elif group.endswith(".k8s.io") or "." not in group:
        package = "io.k8s.api." + group.split(".")[0]
    else:
        package = ".".join(reversed(group.split(".")))
    return f"{package}.{version}.{kind}"


def serialize_document(doc: dict) -> bytes:
    """The bytes to serve for a document; its hash in the index is taken over exactly these."""
    return json.dumps(doc, separators=(",", ":")).encode()


def document_hash(doc: dict) -> str:
    return hashlib.sha512(serialize_document(doc)).hexdigest().upper()


def openapi_index(docs: dict[str, dict]) -> dict:
    """GET /openapi/v3: every group version document with a content hash in its URL, so clients'
    HTTP caches (which treat these URLs as immutable) refetch whenever a document changes."""
    return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(doc)}"}
                      for path, doc in docs.items()}}


def openapi_document(group: str, version: str, kinds: list[KindSpec]) -> dict:
    """GET /openapi/v3/<group version>: paths and operations for every kind plus the schemas they use."""
    components: dict[str, Any] = {
        OBJECT_META: _acyclic(schemas.object_meta_schema()),
        LIST_META: _acyclic(schemas.list_meta_schema()),
        PATCH: {"type": "object", "description": "Patch is provided to give a concrete name and type to the "
                "Kubernetes PATCH request body."},
    }
    paths: dict[str, Any] = {}
    flattener = _Flattener(group, version, components)
    for spec in kinds:
        components[schema_name(group, version, spec.kind)] = _kind_schema(spec, flattener)
        components[schema_name(group, version, spec.kind + "List")] = _list_schema(group, version, spec)
        paths.update(_kind_paths(group, version, spec))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Kubernetes", "version": SERVER_VERSION},
        "paths": paths,
        "components": {"schemas": components},
    }


# -- schemas ---------------------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _COMPONENTS + name}


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


class _Flattener:
    """Copies schemas into JSON: where a built-in schema nests itself (JSONSchemaProps) the inner use
    becomes a $ref to a component of its own, as kube-apiserver publishes it."""

    def __init__(self, group: str, version: str, components: dict[str, Any]) -> None:
        self.group, self.version, self.components = group, version, components

    def copy(self, node: Any, stack: tuple[Any, ...] = ()) -> Any:
        if isinstance(node, list):
            return [self.copy(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        identity = schemas.model_name(node) or id(node)
        if identity in stack:
            return self.reference(node)
        inner = (*stack, identity)
        return {key: self.copy(value, inner) for key, value in node.items()}

    def reference(self, node: dict) -> dict:
        model = schemas.model_name(node)
        if model is None:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        name = schema_name(self.group, self.version, re.sub(r"^V\d+(?:(?:alpha|beta)\d+)?", "", model))
        if name not in self.components:
            self.components[name] = {}
            self.components[name] = {key: self.copy(value, (model,)) for key, value in node.items()}
        ref: dict[str, Any] = {"allOf": [_ref(name)]}
        if "description" in node:
            ref["description"] = node["description"]
        return ref


def _acyclic(node: Any) -> Any:
    """A JSON-able copy of a schema that does not nest itself."""
    return _Flattener("", "", {}).copy(node)


def _kind_schema(spec: KindSpec, flattener: _Flattener) -> dict:
    """The kind's schema with apiVersion, kind and metadata described as kube-apiserver publishes them."""
    group, version = flattener.group, flattener.version
    source = spec.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    node = flattener.copy(source)
    node.setdefault("type", "object")
    properties = node.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "description": _API_VERSION_DESCRIPTION,
                                **_without_type(properties.get("apiVersion"))}
    properties["kind"] = {"type": "string", "description": _KIND_DESCRIPTION, **_without_type(properties.get("kind"))}
    metadata = properties.get("metadata") or {}
    properties["metadata"] = {"allOf": [_ref(OBJECT_META)],
                              "description": metadata.get("description", _METADATA_DESCRIPTION)}
    node["x-kubernetes-group-version-kind"] = [_gvk(group, version, spec.kind)]
    return node


def _without_type(node: dict | None) -> dict:
    return {k: v for k, v in (node or {}).items() if k != "type"}


def _list_schema(group: str, version: str, spec: KindSpec) -> dict:
    return {
        "description": f"{spec.kind}List is a list of {spec.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DESCRIPTION},
            "items": {"type": "array", "items": _ref(schema_name(group, version, spec.kind)),
                      "description": f"List of {spec.plural}."},
            "kind": {"type": "string", "description": _KIND_DESCRIPTION},
            "metadata": {"allOf": [_ref(LIST_META)], "description": _LIST_METADATA_DESCRIPTION},
        },
        "x-kubernetes-group-version-kind": [_gvk(group, version, spec.kind + "List")],
    }


# -- paths and operations -------------------------------------------------------------------------------


def _query(name: str, description: str, kind: str = "string") -> dict:
    return {"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": True}}


def _path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "uniqueItems": True}}


_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted. Valid values "
                  "are: - All: all dry run stages will be processed")
_FIELD_MANAGER = _query("fieldManager", "fieldManager is a name associated with the actor or entity that is "
                        "making these changes.")
_FIELD_VALIDATION = _query(
    "fieldValidation", "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) "
    "- Strict: fail the request with a BadRequest error if any unknown fields would be dropped from the object, "
    "or if any duplicate fields are present.")
_FORCE = _query("force", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting "
                "fields owned by other people.", "boolean")
_WRITE_PARAMS = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
_LIST_PARAMS = [
    _query("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\".", "boolean"),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    _query("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be "
           "served from."),
    _query("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    _query("sendInitialEvents", "`sendInitialEvents=true` may be set together with `watch=true`.", "boolean"),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources and return them as a stream of add, update, "
           "and remove notifications.", "boolean"),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query("propagationPolicy", "Whether and how garbage collection will be performed. Acceptable values are: "
           "'Orphan', 'Background', 'Foreground'."),
]


def _operation_group(group: str, version: str) -> str:
    """kube-apiserver's group-version word in operation ids: CoreV1, AppsV1, KubevirtIoV1."""
    words = re.split(r"[.\-]", group.removesuffix(".k8s.io")) if group else ["core"]
    return "".join(w[:1].upper() + w[1:] for w in words) + version[:1].upper() + version[1:]


def _tag(group: str, version: str) -> str:
    """The operation tag kube-apiserver uses: core_v1, apps_v1, kubevirtIo_v1."""
    word = _operation_group(group, "")
    return f"{word[:1].lower()}{word[1:]}_{version}"


def _response(ref: str, codes: tuple[str, ...]) -> dict:
    ok = {"description": "OK", "content": {"application/json": {"schema": _ref(ref)}}}
    responses = {code: {**ok, "description": {"200": "OK", "201": "Created", "202": "Accepted"}[code]}
                 for code in codes}
    responses["401"] = {"description": "Unauthorized"}
    return responses


def _operation(group: str, version: str, spec: KindSpec, action: str, operation_id: str, description: str,
               params: list[dict], responses: dict, body: dict | None = None) -> dict:
    op: dict[str, Any] = {
        "tags": [_tag(group, version)],
        "description": description,
        "operationId": operation_id,
        "parameters": params,
        "responses": responses,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(group, version, spec.kind),
    }
    if body is not None:
        op["requestBody"] = body
    return op


def _json_body(ref: str) -> dict:
    return {"content": {"application/json": {"schema": _ref(ref)}}, "required": True}


def _patch_body(spec: KindSpec) -> dict:
    return {"content": {media: {"schema": _ref(PATCH)} for media in spec.patch_types}, "required": True}


def _kind_paths(group: str, version: str, spec: KindSpec) -> dict[str, dict]:
    base = "/" + group_version_path(group, version)
    scope = "/namespaces/{namespace}" if spec.namespaced else ""
    collection = f"{base}{scope}/{spec.plural}"
    item = f"{collection}/{{name}}"
    namespace = [_path_param("namespace", "object name and auth scope, such as for teams and projects")]
    name = [_path_param("name", f"name of the {spec.kind}")]
    scope_params = namespace if spec.namespaced else []
    paths = {
        collection: {**_collection_ops(group, version, spec), "parameters": [*scope_params, _PRETTY]},
        item: {**_item_ops(group, version, spec, ""), "parameters": [*name, *scope_params, _PRETTY]},
    }
    if spec.namespaced:
        paths[f"{base}/{spec.plural}"] = {"get": _list_everywhere(group, version, spec), "parameters": [_PRETTY]}
    if spec.has_status:
        status = {k: v for k, v in _item_ops(group, version, spec, "Status").items() if k != "delete"}
        paths[f"{item}/status"] = {**status, "parameters": [*name, *scope_params, _PRETTY]}
    return paths


def _ids(group: str, version: str, spec: KindSpec, suffix: str = "") -> dict[str, str]:
    word = _operation_group(group, version) + ("Namespaced" if spec.namespaced else "") + spec.kind + suffix
    return {verb: verb + word for verb in ("list", "create", "read", "replace", "patch", "delete")}


def _collection_ops(group: str, version: str, spec: KindSpec) -> dict[str, dict]:
    ids = _ids(group, version, spec)
    kind_ref = schema_name(group, version, spec.kind)
    list_ref = schema_name(group, version, spec.kind + "List")
    return {
        "get": _operation(group, version, spec, "list", ids["list"], f"list or watch objects of kind {spec.kind}",
                          _LIST_PARAMS, _response(list_ref, ("200",))),
        "post": _operation(group, version, spec, "post", ids["create"], f"create a {spec.kind}", _WRITE_PARAMS,
                           _response(kind_ref, ("200", "201", "202")), _json_body(kind_ref)),
    }


def _item_ops(group: str, version: str, spec: KindSpec, suffix: str) -> dict[str, dict]:
    ids = _ids(group, version, spec, suffix)
    kind_ref = schema_name(group, version, spec.kind)
    what = f"status of the specified {spec.kind}" if suffix else f"the specified {spec.kind}"
    return {
        "get": _operation(group, version, spec, "get", ids["read"], f"read {what}", [],
                          _response(kind_ref, ("200",))),
        "put": _operation(group, version, spec, "put", ids["replace"], f"replace {what}", _WRITE_PARAMS,
                          _response(kind_ref, ("200", "201")), _json_body(kind_ref)),
        "patch": _operation(group, version, spec, "patch", ids["patch"], f"partially update {what}",
                            [*_WRITE_PARAMS, _FORCE], _response(kind_ref, ("200", "201")), _patch_body(spec)),
        "delete": _operation(group, version, spec, "delete", ids["delete"], f"delete a {spec.kind}",
                             _DELETE_PARAMS, _response(kind_ref, ("200", "202"))),
    }


def _list_everywhere(group: str, version: str, spec: KindSpec) -> dict:
    operation_id = f"list{_operation_group(group, version)}{spec.kind}ForAllNamespaces"
    return _operation(group, version, spec, "list", operation_id, f"list or watch objects of kind {spec.kind}",
                      _LIST_PARAMS, _response(schema_name(group, version, spec.kind + "List"), ("200",)))
