"""The generic registry: Kubernetes object semantics on top of the store.

Create, get, list, update, patch and delete with the API's rules — names and generateName, uid
and timestamps, optimistic concurrency, generation, the status subresource, finalizers, graceful
deletion and propagation policies, field validation and dry runs. The HTTP layer and the built-in
controllers both go through here, so they cannot disagree.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import crds, errors, patching, schema, strategies
from .errors import APIError
from .metadata import generated_name, metadata_errors, new_uid, now_rfc3339
from .resources import ResourceType, ResourceTypes
from .selectors import FieldSelector, LabelSelector, object_fields
from .store import Store, StoredObject

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
# What kubectl may send that the server keeps from the stored object regardless.
_SERVER_OWNED_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "generation", "namespace", "name", "resourceVersion")
_OBJECT_META_FIELDS = {
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
}


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Warn"   # Strict | Warn | Ignore
    field_manager: str = ""
    version: str | None = None       # the API version the request used


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None   # Background | Foreground | Orphan
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


@dataclass
class Result:
    obj: dict
    warnings: list[str] = field(default_factory=list)
    created: bool = False
    deleted: bool = False        # gone from the store (not merely marked for deletion)


class Registry:
    def __init__(self, store: Store, types: ResourceTypes, *, clock: Callable[[], datetime] | None = None):
        self.store = store
        self.types = types
        self.clock = clock or (lambda: datetime.now(UTC))
        self.service_ips = strategies.ServiceIPs()
        for svc in store.list("services"):
            ip = svc.obj.get("spec", {}).get("clusterIP")
            if ip and ip != "None":
                self.service_ips.mark_used(ip)
        # CRDs stored earlier define types again after a restart.
        for stored in store.list("apiextensions.k8s.io/customresourcedefinitions"):
            self.types.add(crds.resource_type(stored.obj))

    # -- reads ------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> StoredObject:
        stored = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if stored is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return stored

    def list(self, rt: ResourceType, namespace: str | None, labels: LabelSelector | None = None,
             fields: FieldSelector | None = None) -> list[StoredObject]:
        items = self.store.list(rt.key, namespace if rt.namespaced else None)
        if labels is not None and not labels.empty():
            items = [s for s in items if labels.matches((s.obj.get("metadata") or {}).get("labels"))]
        if fields is not None and fields.requirements:
            items = [s for s in items if fields.matches(object_fields(rt.group, rt.kind, s.obj))]
        return items

    # -- create -----------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions | None = None) -> Result:
        opts = opts or WriteOptions()
        obj, warnings = self._decode(rt, body, opts)
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
            meta["namespace"] = namespace
            self._check_namespace_open(namespace)
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(rt.kind, rt.group, "", [(
                    "metadata.name", "FieldValueRequired",
                    "metadata.name: Required value: name or generateName is required")])
            meta["name"] = self._unused_name(rt, namespace, meta["generateName"])
        name = meta["name"]
        stamp = now_rfc3339(self.clock())
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = stamp
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(key, None)
        if rt.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.status_subresource and rt.custom:
            obj.pop("status", None)
        if rt.custom:
            obj = self._admit_custom(rt, obj, opts)
            meta = obj["metadata"]
        strategies.prepare_for_create(rt.group, rt.kind, obj, service_ips=None if opts.dry_run else self.service_ips)
        if (rt.group, rt.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            self._admit_crd(obj)
        self._validate_meta(rt, obj)
        if self.store.get(rt.key, meta.get("namespace", ""), name) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        if opts.dry_run:
            return Result(self._present(rt, obj, opts.version), warnings, created=True)
        meta["resourceVersion"] = str(self.store.next_revision())
        self.store.put(rt.key, meta.get("namespace", ""), name, obj, created=True)
        self._after_write(rt, obj)
        return Result(self._present(rt, obj, opts.version), warnings, created=True)

    def _unused_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        for _ in range(8):
            candidate = generated_name(prefix)
            if self.store.get(rt.key, namespace if rt.namespaced else "", candidate) is None:
                return candidate
        raise APIError(409, "AlreadyExists", f'{rt.qualified} "{prefix}" already exists, the server was not '
                       "able to generate a unique name for the object", {"retryAfterSeconds": 1})

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.get("namespaces", "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns.obj.get("metadata", {}).get("deletionTimestamp"):
            raise errors.forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                {"name": namespace, "kind": "namespaces",
                 "causes": [{"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                             "field": "metadata.namespace"}]})

    # -- update -----------------------------------------------------------------------------

    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions | None = None,
               *, subresource: str | None = None) -> Result:
        opts = opts or WriteOptions()
        new, warnings = self._decode(rt, body, opts)
        meta = new["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        old = self.get(rt, namespace, name)
        rv = meta.get("resourceVersion")
        if not rv and rt.custom and subresource is None:
            raise errors.invalid(rt.kind, rt.group, name, [(
                "metadata.resourceVersion", "FieldValueInvalid",
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")])
        if rv and rv != str(old.rv):
            raise errors.conflict(rt.plural, rt.group, name)
        return self._write_update(rt, old, new, opts, subresource, warnings)

    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str, patch_body: bytes,
              opts: WriteOptions | None = None, *, subresource: str | None = None) -> Result:
        opts = opts or WriteOptions()
        accepted = [patching.JSON_PATCH, patching.MERGE_PATCH]
        if not rt.custom:
            accepted.append(patching.STRATEGIC_MERGE_PATCH)
        if content_type not in accepted:
            raise errors.unsupported_media_type(content_type, accepted)
        old = self.get(rt, namespace, name)
        current = json.loads(old.raw)
        current["apiVersion"] = rt.api_version(opts.version)
        try:
            patched = patching.apply_patch(content_type, current, patch_body, rt.group, rt.kind)
        except patching.PatchError as exc:
            raise APIError(exc.code, exc.reason, str(exc)) from exc
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        meta = patched.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        requested_rv = meta.get("resourceVersion")
        if requested_rv and requested_rv != str(old.rv):
            raise errors.conflict(rt.plural, rt.group, name)
        if meta.get("name", name) != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        new, warnings = self._decode(rt, patched, opts)
        return self._write_update(rt, old, new, opts, subresource, warnings)

    def _write_update(self, rt: ResourceType, old: StoredObject, new: dict, opts: WriteOptions,
                      subresource: str | None, warnings: list[str]) -> Result:
        old_obj = old.obj
        if subresource == "status":
            merged = copy.deepcopy(old_obj)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            if not rt.custom:
                # Built-in status writers (the node agent) may also set labels and annotations.
                for key in ("labels", "annotations"):
                    if key in new["metadata"]:
                        merged["metadata"][key] = new["metadata"][key]
            new = merged
        else:
            if rt.status_subresource:
                if "status" in old_obj:
                    new["status"] = copy.deepcopy(old_obj["status"])
                else:
                    new.pop("status", None)
            strategies.prepare_for_update(rt.group, rt.kind, new, old_obj)
        meta = new["metadata"]
        for key in _SERVER_OWNED_META:
            if key in old_obj["metadata"]:
                meta[key] = old_obj["metadata"][key]
            else:
                meta.pop(key, None)
        deleting = bool(old_obj["metadata"].get("deletionTimestamp"))
        if deleting:
            added = set(meta.get("finalizers") or []) - set(old_obj["metadata"].get("finalizers") or [])
            if added:
                raise errors.invalid(rt.kind, rt.group, meta["name"], [(
                    "metadata.finalizers", "FieldValueForbidden",
                    f"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
                    f"deleted, found new finalizers {json.dumps(sorted(added))}")])
        if rt.custom and subresource != "status":
            new = self._admit_custom(rt, new, opts)
            meta = new["metadata"]
        elif rt.custom:
            self._validate_custom(rt, new)
        if (rt.group, rt.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            self._admit_crd(new)
        self._validate_meta(rt, new)
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if _same(new, old_obj):
            return Result(self._present(rt, old_obj, opts.version), warnings)
        if rt.has_generation and _spec_changed(rt, new, old_obj):
            meta["generation"] = old_obj["metadata"].get("generation", 0) + 1
        if opts.dry_run:
            return Result(self._present(rt, new, opts.version), warnings)
        if deleting and self._ready_to_remove(rt, new):
            return self._remove(rt, new, opts.version, warnings)
        meta["resourceVersion"] = str(self.store.next_revision())
        self.store.put(rt.key, meta.get("namespace", ""), meta["name"], new, created=False)
        self._after_write(rt, new)
        return Result(self._present(rt, new, opts.version), warnings)

    def _ready_to_remove(self, rt: ResourceType, obj: dict) -> bool:
        meta = obj["metadata"]
        if meta.get("finalizers"):
            return False
        if (rt.group, rt.kind) == ("", "Namespace"):
            return not (obj.get("spec") or {}).get("finalizers")
        if (rt.group, rt.kind) == ("", "Pod"):
            return meta.get("deletionGracePeriodSeconds", 0) == 0
        return True

    def finalize_namespace(self, name: str, body: Any) -> Result:
        """PUT /api/v1/namespaces/{name}/finalize: only spec.finalizers changes."""
        rt = self.types.get("", "v1", "namespaces")
        assert rt is not None
        old = self.get(rt, "", name)
        new = copy.deepcopy(old.obj)
        finalizers = ((body or {}).get("spec") or {}).get("finalizers") or []
        new.setdefault("spec", {})["finalizers"] = list(finalizers)
        if new == old.obj:
            return Result(old.obj)
        if old.obj["metadata"].get("deletionTimestamp") and self._ready_to_remove(rt, new):
            return self._remove(rt, new, None, [])
        new["metadata"]["resourceVersion"] = str(self.store.next_revision())
        self.store.put(rt.key, "", name, new, created=False)
        return Result(new)

    # -- delete -----------------------------------------------------------------------------

    def delete(self, rt: ResourceType, namespace: str, name: str, opts: DeleteOptions | None = None) -> Result:
        opts = opts or DeleteOptions()
        old = self.get(rt, namespace, name)
        meta = old.obj["metadata"]
        if opts.uid and opts.uid != meta.get("uid"):
            raise errors.conflict(rt.plural, rt.group, name,
                                  f"Precondition failed: UID in precondition: {opts.uid}, UID in object meta: "
                                  f"{meta.get('uid')}")
        if opts.resource_version and opts.resource_version != str(old.rv):
            raise errors.conflict(rt.plural, rt.group, name,
                                  f"Precondition failed: ResourceVersion in precondition: {opts.resource_version}, "
                                  f"ResourceVersion in object meta: {old.rv}")
        new = json.loads(old.raw)
        nmeta = new["metadata"]
        finalizers = list(nmeta.get("finalizers") or [])
        if opts.propagation == "Foreground" and FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
        elif opts.propagation == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        grace = self._grace_period(rt, old.obj, opts)
        is_namespace = (rt.group, rt.kind) == ("", "Namespace")
        if is_namespace:
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
        already = bool(meta.get("deletionTimestamp"))
        if already:
            if grace is not None and (rt.group, rt.kind) == ("", "Pod"):
                current = meta.get("deletionGracePeriodSeconds", 0)
                if grace < current:
                    nmeta["deletionGracePeriodSeconds"] = grace
                    nmeta["deletionTimestamp"] = now_rfc3339(self.clock() + timedelta(seconds=grace))
            if finalizers != (meta.get("finalizers") or []):
                nmeta["finalizers"] = finalizers
            if opts.dry_run:
                return Result(self._present(rt, new, None))
            if self._ready_to_remove(rt, new):
                return self._remove(rt, new, None, [])
            if new == old.obj:
                return Result(self._present(rt, old.obj, None))
            nmeta["resourceVersion"] = str(self.store.next_revision())
            self.store.put(rt.key, nmeta.get("namespace", ""), name, new, created=False)
            return Result(self._present(rt, new, None))
        nmeta["finalizers"] = finalizers
        if not finalizers:
            nmeta.pop("finalizers")
        graceful = bool(grace)
        if finalizers or graceful or is_namespace:
            nmeta["deletionTimestamp"] = now_rfc3339(self.clock() + timedelta(seconds=grace or 0))
            nmeta["deletionGracePeriodSeconds"] = grace or 0
            if "generation" in nmeta:
                nmeta["generation"] += 1
            if opts.dry_run:
                return Result(self._present(rt, new, None))
            if self._ready_to_remove(rt, new) and not graceful and not is_namespace:
                return self._remove(rt, new, None, [])
            nmeta["resourceVersion"] = str(self.store.next_revision())
            self.store.put(rt.key, nmeta.get("namespace", ""), name, new, created=False)
            return Result(self._present(rt, new, None))
        if opts.dry_run:
            return Result(self._present(rt, new, None), deleted=True)
        return self._remove(rt, new, None, [])

    def _grace_period(self, rt: ResourceType, obj: dict, opts: DeleteOptions) -> int | None:
        if (rt.group, rt.kind) != ("", "Pod"):
            return None
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        # Pods that never ran, or already finished, go at once, as the apiserver does it.
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if opts.grace_period is not None:
            return max(0, opts.grace_period)
        return int(spec.get("terminationGracePeriodSeconds", 30))

    def _remove(self, rt: ResourceType, final: dict, version: str | None, warnings: list[str]) -> Result:
        meta = final["metadata"]
        meta["resourceVersion"] = str(self.store.next_revision())
        self.store.delete(rt.key, meta.get("namespace", ""), meta["name"], final)
        self._after_delete(rt, final)
        return Result(self._present(rt, final, version), warnings, deleted=True)

    def delete_collection(self, rt: ResourceType, namespace: str | None, labels: LabelSelector | None,
                          fields: FieldSelector | None, opts: DeleteOptions) -> list[Result]:
        results = []
        for stored in self.list(rt, namespace, labels, fields):
            meta = stored.obj["metadata"]
            try:
                results.append(self.delete(rt, meta.get("namespace", ""), meta["name"], opts))
            except APIError as exc:
                if exc.code != 404:
                    raise
        return results

    # -- pods/binding -----------------------------------------------------------------------

    def bind_pod(self, namespace: str, name: str, node: str) -> None:
        rt = self.types.get("", "v1", "pods")
        assert rt is not None
        old = self.get(rt, namespace, name)
        if old.obj.get("spec", {}).get("nodeName"):
            raise errors.conflict("pods", "", name, f"pod {name} is already assigned to node "
                                  f"\"{old.obj['spec']['nodeName']}\"")
        if old.obj["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", "", name, f"pod {name} is being deleted, cannot be assigned to a host")
        new = json.loads(old.raw)
        new["spec"]["nodeName"] = node
        status = new.setdefault("status", {})
        conditions = [c for c in status.get("conditions", []) if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now_rfc3339(self.clock())})
        status["conditions"] = conditions
        new["metadata"]["resourceVersion"] = str(self.store.next_revision())
        self.store.put(rt.key, namespace, name, new, created=False)

    # -- the pipeline ----------------------------------------------------------------------

    def _decode(self, rt: ResourceType, body: Any, opts: WriteOptions) -> tuple[dict, list[str]]:
        """Check kind and apiVersion, drop unknown fields (400 under Strict), copy the body."""
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {rt.kind} object")
        obj = copy.deepcopy(body)
        expected = rt.api_version(opts.version)
        api_version = obj.get("apiVersion")
        if api_version and api_version != expected and not (rt.custom and api_version.split("/")[0] == rt.group
                                                             and api_version.split("/")[-1] in rt.versions):
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                     f"version ({expected})")
        if obj.get("kind") and obj["kind"] != rt.kind:
            raise errors.bad_request(f"the kind in the data ({obj['kind']}) does not match the expected kind "
                                     f"({rt.kind})")
        obj["apiVersion"] = rt.api_version()
        obj["kind"] = rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        unknown = [f"metadata.{k}" for k in meta if k not in _OBJECT_META_FIELDS]
        for key in unknown:
            meta.pop(key.split(".", 1)[1])
        meta.pop("managedFields", None)
        if not rt.custom:
            builtin = schema.builtin_schema(rt.group, rt.storage_version, rt.kind)
            if builtin is not None:
                pruned_obj, pruned = schema.prune(obj, builtin)
                unknown += pruned
                obj = pruned_obj
        else:
            version_schema = rt.schemas.get(opts.version or rt.storage_version) or rt.schemas.get(rt.storage_version)
            if version_schema is not None:
                unknown += schema.unknown_fields(obj, version_schema)
        warnings: list[str] = []
        unknown = sorted(set(unknown), key=unknown.index)
        if unknown and opts.field_validation == "Strict":
            raise errors.bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
        if unknown and opts.field_validation != "Ignore":
            warnings += [f'unknown field "{u}"' for u in unknown]
        return obj, warnings

    def _admit_custom(self, rt: ResourceType, obj: dict, opts: WriteOptions) -> dict:
        version_schema = rt.schemas.get(opts.version or rt.storage_version) or rt.schemas.get(rt.storage_version)
        if version_schema is None:
            return obj
        obj, _ = schema.prune(obj, version_schema)
        obj = schema.apply_defaults(obj, version_schema)
        self._validate_custom(rt, obj)
        return obj

    def _validate_custom(self, rt: ResourceType, obj: dict) -> None:
        version_schema = rt.schemas.get(rt.storage_version)
        if version_schema is None:
            return
        problems = schema.validate(obj, version_schema)
        if problems:
            name = obj.get("metadata", {}).get("name", "")
            raise errors.invalid(rt.kind, rt.group, name, [(p.field, p.reason, p.render()) for p in problems])

    def _admit_crd(self, crd: dict) -> None:
        causes = crds.crd_errors(crd)
        if causes:
            raise errors.invalid("CustomResourceDefinition", "apiextensions.k8s.io",
                                 crd.get("metadata", {}).get("name", ""), causes)
        crds.accept(crd)
        finalizers = crd["metadata"].setdefault("finalizers", [])
        if not crd["metadata"].get("deletionTimestamp") and strategies.CRD_FINALIZER not in finalizers:
            finalizers.append(strategies.CRD_FINALIZER)

    def _validate_meta(self, rt: ResourceType, obj: dict) -> None:
        causes = metadata_errors(obj["metadata"], name_rule=strategies.name_rule(rt.group, rt.kind, rt.custom))
        if causes:
            raise errors.invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), causes)

    def _after_write(self, rt: ResourceType, obj: dict) -> None:
        if (rt.group, rt.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            self.types.add(crds.resource_type(obj))

    def _after_delete(self, rt: ResourceType, obj: dict) -> None:
        if (rt.group, rt.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            spec = obj["spec"]
            self.types.remove(spec["group"], spec["names"]["plural"])

    def _present(self, rt: ResourceType, obj: dict, version: str | None) -> dict:
        """The object as the requested version shows it (conversion 'None': only apiVersion changes)."""
        if version and version != rt.storage_version:
            obj = {**obj, "apiVersion": rt.api_version(version)}
        return obj

    def present(self, rt: ResourceType, obj: dict, version: str | None) -> dict:
        return self._present(rt, obj, version)


def _same(a: dict, b: dict) -> bool:
    def strip(o: dict) -> dict:
        meta = {k: v for k, v in o.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
        return {**o, "metadata": meta}

    return strip(a) == strip(b)


def _spec_changed(rt: ResourceType, new: dict, old: dict) -> bool:
    if rt.custom:
        skip = {"metadata", "status"} if rt.status_subresource else {"metadata"}
        keys = (set(new) | set(old)) - skip
        return any(new.get(k) != old.get(k) for k in keys)
    return new.get("spec") != old.get("spec")


def _path_segments(path: str) -> list[str]:
    return [p for p in path.strip().lstrip(".").split(".") if p]


def _get_path(obj: dict, path: str) -> Any:
    cur: Any = obj
    for seg in _path_segments(path):
        if not isinstance(cur, dict) or seg not in cur:
            return None
        cur = cur[seg]
    return cur


def _set_path(obj: dict, path: str, value: Any) -> None:
    segs = _path_segments(path)
    cur = obj
    for seg in segs[:-1]:
        cur = cur.setdefault(seg, {})
    cur[segs[-1]] = value


def scale_paths(rt: ResourceType) -> dict[str, str]:
    if rt.custom:
        return dict(rt.scale or {})
    return {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector"}


def scale_of(rt: ResourceType, obj: dict) -> dict:
    """The autoscaling/v1 Scale view of an object with a scale subresource."""
    paths = scale_paths(rt)
    meta = obj["metadata"]
    status: dict[str, Any] = {"replicas": _get_path(obj, paths.get("statusReplicasPath", "")) or 0}
    selector = _get_path(obj, paths.get("labelSelectorPath", "")) if paths.get("labelSelectorPath") else None
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": _get_path(obj, paths.get("specReplicasPath", "")) or 0},
        "status": status,
    }


def with_scale(rt: ResourceType, obj: dict, scale: dict) -> dict:
    """The object with the replicas a Scale asks for."""
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise errors.invalid("Scale", "autoscaling", obj["metadata"]["name"], [(
            "spec.replicas", "FieldValueInvalid",
            f"spec.replicas: Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0")])
    new = copy.deepcopy(obj)
    _set_path(new, scale_paths(rt)["specReplicasPath"], replicas)
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        new["metadata"]["resourceVersion"] = rv
    return new
