"""Garbage collector: dependents follow their owners (ownerReferences), in the three propagation modes."""

from __future__ import annotations

import copy
import json
from collections.abc import Hashable

from ..registry import FOREGROUND, ORPHAN, DeleteOptions
from ..store import DELETED, Change
from .base import Controller

ObjectKey = tuple[str, str, str]   # (resource key, namespace, name)


class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(self, registry):
        super().__init__(registry)
        self.uids: dict[str, ObjectKey] = {}
        self.dependents: dict[str, set[ObjectKey]] = {}

    def _index(self, key: ObjectKey, obj: dict, present: bool) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        owners = [ref.get("uid") for ref in meta.get("ownerReferences") or []]
        for owner in owners:
            deps = self.dependents.setdefault(owner, set())
            if present:
                deps.add(key)
            else:
                deps.discard(key)
                if not deps:
                    self.dependents.pop(owner, None)
        if uid:
            if present:
                self.uids[uid] = key
            else:
                self.uids.pop(uid, None)

    def observe(self, change: Change) -> None:
        key = (change.resource, change.namespace, change.name)
        if change.previous is not None:
            self._index(key, change.previous, False)
        present = change.type != DELETED
        self._index(key, change.obj, present)
        meta = change.obj.get("metadata") or {}
        if not present:
            self.enqueue(("owner-gone", meta.get("uid")))
            for ref in meta.get("ownerReferences") or []:
                self.enqueue(("owner", ref.get("uid")))  # a foreground owner may now be free to go
            return
        if meta.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(meta.get("finalizers") or []):
            self.enqueue(("owner", meta.get("uid")))
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid") not in self.uids:
                self.enqueue(("dangling", key))

    def resync(self) -> None:
        for rt in self.registry.types.all():
            for stored in self.store.list(rt.key):
                meta = stored.obj.get("metadata") or {}
                self._index((rt.key, meta.get("namespace", ""), meta["name"]), stored.obj, True)
        for key in list(self.uids.values()):
            stored = self.store.get(*key)
            if stored is None:
                continue
            meta = stored.obj["metadata"]
            if meta.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(meta.get("finalizers") or []):
                self.enqueue(("owner", meta["uid"]))
            if any(ref.get("uid") not in self.uids for ref in meta.get("ownerReferences") or []):
                self.enqueue(("dangling", key))

    async def reconcile(self, key: Hashable) -> None:
        kind, arg = key  # type: ignore[misc]
        if kind == "owner-gone":
            for dep in list(self.dependents.get(arg, ())):
                self._release(dep, arg, delete_if_orphaned=True)
        elif kind == "dangling":
            stored = self.store.get(*arg)
            if stored is not None:
                for ref in stored.obj["metadata"].get("ownerReferences") or []:
                    if ref.get("uid") not in self.uids:
                        self._release(arg, ref.get("uid"), delete_if_orphaned=True)
        elif kind == "owner" and arg in self.uids:
            self._finish_owner(self.uids[arg])

    def _rt(self, resource_key: str):
        rt = self.registry.types.by_key(resource_key)
        if rt is None:
            raise LookupError(resource_key)
        return rt

    def _release(self, dep: ObjectKey, owner_uid: str, *, delete_if_orphaned: bool) -> None:
        """Drop one owner from a dependent; delete the dependent when no live owner is left."""
        stored = self.store.get(*dep)
        if stored is None:
            return
        meta = stored.obj["metadata"]
        refs = meta.get("ownerReferences") or []
        alive = [r for r in refs if r.get("uid") != owner_uid and r.get("uid") in self.uids]
        rt = self._rt(dep[0])
        if not alive and delete_if_orphaned:
            if not meta.get("deletionTimestamp"):
                self.registry.delete(rt, dep[1], dep[2], DeleteOptions(propagation="Background"))
            return
        new = json.loads(stored.raw)
        new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
        if not new["metadata"]["ownerReferences"]:
            del new["metadata"]["ownerReferences"]
        self._update(rt, dep, new)

    def _update(self, rt, key: ObjectKey, new: dict) -> None:
        self.registry.update(rt, key[1], key[2], new, subresource=None)

    def _finish_owner(self, owner: ObjectKey) -> None:
        stored = self.store.get(*owner)
        if stored is None:
            return
        meta = stored.obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        deps = list(self.dependents.get(meta["uid"], ()))
        rt = self._rt(owner[0])
        if ORPHAN in finalizers:
            for dep in deps:
                self._release(dep, meta["uid"], delete_if_orphaned=False)
            finalizers.remove(ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = []
            for dep in deps:
                dep_obj = self.store.get(*dep)
                if dep_obj is None:
                    continue
                dmeta = dep_obj.obj["metadata"]
                if not dmeta.get("deletionTimestamp"):
                    self.registry.delete(self._rt(dep[0]), dep[1], dep[2], DeleteOptions(propagation="Foreground"))
                if any(r.get("uid") == meta["uid"] and r.get("blockOwnerDeletion")
                       for r in dmeta.get("ownerReferences") or []) and self.store.get(*dep) is not None:
                    blocking.append(dep)
            if blocking:
                return   # the dependents' removal enqueues this owner again
            finalizers.remove(FOREGROUND)
        else:
            return
        new = copy.deepcopy(stored.obj)
        new["metadata"]["finalizers"] = finalizers
        self._update(rt, owner, new)
