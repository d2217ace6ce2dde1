"""CRD deletion: the custom resources go first, then the CRD's cleanup finalizer is removed."""

from __future__ import annotations

import copy
from collections.abc import Hashable

from ..registry import DeleteOptions
from ..store import DELETED, Change
from ..strategies import CRD_FINALIZER
from .base import Controller

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"


class CRDCleanup(Controller):
    name = "crd-cleanup"

    def observe(self, change: Change) -> None:
        if change.resource == CRD_KEY and change.type != DELETED:
            if change.obj["metadata"].get("deletionTimestamp"):
                self.enqueue(change.name)
        elif change.type == DELETED:
            for stored in self.store.list(CRD_KEY):
                spec = stored.obj["spec"]
                if change.resource == f"{spec['group']}/{spec['names']['plural']}" and \
                        stored.obj["metadata"].get("deletionTimestamp"):
                    self.enqueue(stored.obj["metadata"]["name"])

    def resync(self) -> None:
        for stored in self.store.list(CRD_KEY):
            if stored.obj["metadata"].get("deletionTimestamp"):
                self.enqueue(stored.obj["metadata"]["name"])

    async def reconcile(self, key: Hashable) -> None:
        crd = self.store.get(CRD_KEY, "", str(key))
        if crd is None or not crd.obj["metadata"].get("deletionTimestamp"):
            return
        spec = crd.obj["spec"]
        rt = self.registry.types.by_key(f"{spec['group']}/{spec['names']['plural']}")
        if rt is not None:
            items = self.store.list(rt.key)
            for stored in items:
                meta = stored.obj["metadata"]
                if not meta.get("deletionTimestamp"):
                    self.registry.delete(rt, meta.get("namespace", ""), meta["name"], DeleteOptions())
            if self.store.count(rt.key):
                return
        new = copy.deepcopy(crd.obj)
        new["metadata"]["finalizers"] = [f for f in new["metadata"].get("finalizers", []) if f != CRD_FINALIZER]
        crd_rt = self.registry.types.by_key(CRD_KEY)
        self.registry.update(crd_rt, "", str(key), new)
