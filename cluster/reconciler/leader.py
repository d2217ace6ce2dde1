"""Leader election through a coordination.k8s.io Lease, so two replicas never reconcile at once."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from ..client import APIError, Client, resource_path

log = logging.getLogger("kvtui.reconciler")


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class LeaderElector:
    def __init__(self, client: Client, namespace: str, name: str, identity: str, *, lease_seconds: int = 15,
                 renew_every: float = 2.0):
        self.client = client
        self.path = resource_path("coordination.k8s.io", "v1", "leases", namespace)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_seconds = lease_seconds
        self.renew_every = renew_every
        self.is_leader = threading.Event()
        self.lost = threading.Event()

    def _try(self) -> bool:
        now = _now()
        try:
            lease = self.client.get(f"{self.path}/{self.name}")
        except APIError as exc:
            if exc.status != 404:
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                             "acquireTime": _fmt(now), "renewTime": _fmt(now), "leaseTransitions": 0}}
            try:
                self.client.create(self.path, body)
                return True
            except APIError as exc2:
                if exc2.status == 409:
                    return False
                raise
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renew = spec.get("renewTime")
        expired = not renew or _parse(renew) + timedelta(seconds=spec.get("leaseDurationSeconds",
                                                                           self.lease_seconds)) < now
        if holder and holder != self.identity and not expired:
            return False
        if holder != self.identity:
            spec["leaseTransitions"] = spec.get("leaseTransitions", 0) + 1
            spec["acquireTime"] = _fmt(now)
        spec.update({"holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                     "renewTime": _fmt(now)})
        lease["spec"] = spec
        try:
            self.client.replace(f"{self.path}/{self.name}", lease)   # the resourceVersion makes this a CAS
            return True
        except APIError as exc:
            if exc.status == 409:
                return False
            raise

    def run(self, stop: threading.Event) -> None:
        """Campaign until elected, then renew; set `lost` and return if renewal fails for a lease period."""
        last_renewal = None
        while not stop.is_set():
            try:
                ok = self._try()
            except (APIError, OSError) as exc:
                log.warning("leader election: %s", exc)
                ok = False
            now = _now()
            if ok:
                last_renewal = now
                if not self.is_leader.is_set():
                    log.info("became leader as %s", self.identity)
                    self.is_leader.set()
            elif self.is_leader.is_set() and (last_renewal is None or
                                              (now - last_renewal).total_seconds() > self.lease_seconds * 2 / 3):
                log.error("lost the leader lease; stopping")
                self.lost.set()
                return
            stop.wait(self.renew_every)

    def release(self) -> None:
        if not self.is_leader.is_set():
            return
        try:
            lease = self.client.get(f"{self.path}/{self.name}")
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                lease["spec"]["renewTime"] = None
                self.client.replace(f"{self.path}/{self.name}", lease)
        except (APIError, OSError):
            pass
