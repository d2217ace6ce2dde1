"""Namespace lifecycle: defaults for new namespaces; Terminating → contents deleted → namespace gone."""

from __future__ import annotations

import copy
from collections.abc import Hashable

from ..errors import APIError
from ..registry import DeleteOptions, WriteOptions
from ..store import DELETED, Change
from ..strategies import NAMESPACE_FINALIZER
from .base import Controller


class NamespaceController(Controller):
    name = "namespace-lifecycle"

    def __init__(self, registry, ca_pem: str = ""):
        super().__init__(registry)
        self.ca_pem = ca_pem

    def observe(self, change: Change) -> None:
        if change.resource == "namespaces":
            self.enqueue(change.name)
        elif change.type == DELETED and change.namespace:
            ns = self.store.get("namespaces", "", change.namespace)
            if ns is not None and ns.obj["metadata"].get("deletionTimestamp"):
                self.enqueue(change.namespace)

    def resync(self) -> None:
        for stored in self.store.list("namespaces"):
            self.enqueue(stored.obj["metadata"]["name"])

    async def reconcile(self, key: Hashable) -> None:
        name = str(key)
        ns = self.store.get("namespaces", "", name)
        if ns is None:
            return
        if ns.obj["metadata"].get("deletionTimestamp"):
            self._terminate(name, ns.obj)
        else:
            self._populate(name)

    def _populate(self, name: str) -> None:
        """What every namespace has on a real cluster: the default ServiceAccount and the CA bundle."""
        types = self.registry.types
        wanted = [(types.get("", "v1", "serviceaccounts"), {"metadata": {"name": "default"}})]
        if self.ca_pem:
            wanted.append((types.get("", "v1", "configmaps"),
                           {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": self.ca_pem}}))
        for rt, body in wanted:
            if rt is not None and self.store.get(rt.key, name, body["metadata"]["name"]) is None:
                try:
                    self.registry.create(rt, name, copy.deepcopy(body), WriteOptions())
                except APIError as exc:
                    if exc.code not in (403, 409):
                        raise

    def _terminate(self, name: str, ns: dict) -> None:
        namespaced = [rt for rt in self.registry.types.all() if rt.namespaced and "delete" in rt.verbs]
        for rt in namespaced:
            for stored in self.store.list(rt.key, name):
                if not stored.obj["metadata"].get("deletionTimestamp"):
                    self.registry.delete(rt, name, stored.obj["metadata"]["name"], DeleteOptions())
        if any(self.store.list(rt.key, name) for rt in namespaced):
            return  # each removal of the contents enqueues the namespace again
        finalizers = [f for f in (ns.get("spec") or {}).get("finalizers", []) if f != NAMESPACE_FINALIZER]
        self.registry.finalize_namespace(name, {"spec": {"finalizers": finalizers}})
