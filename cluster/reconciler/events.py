"""Kubernetes Events for VMs, VMIs and pods, with KubeVirt's reasons; repeats bump a count."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from ..client import APIError, Client, resource_path

log = logging.getLogger("kvtui.reconciler")
COMPONENT = "virt-controller"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, client: Client, component: str = COMPONENT, host: str = ""):
        self.client = client
        self.component = component
        self.host = host
        self._recent: dict[tuple, tuple[str, int, float]] = {}   # key → (event name, count, when)
        self._lock = threading.Lock()

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid"), type_, reason, message)
        path = resource_path("", "v1", "events", namespace)
        with self._lock:
            recent = self._recent.get(key)
        try:
            if recent and time.monotonic() - recent[2] < 600:
                name, count, _ = recent
                self.client.merge_patch(f"{path}/{name}", {"count": count + 1, "lastTimestamp": _stamp()})
                with self._lock:
                    self._recent[key] = (name, count + 1, time.monotonic())
                return
            name = f"{meta['name']}.{time.time_ns():x}"
            involved = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
                        "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
                        "resourceVersion": meta.get("resourceVersion")}
            stamp = _stamp()
            self.client.create(path, {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {k: v for k, v in involved.items() if v},
                "type": type_, "reason": reason, "message": message, "count": 1,
                "firstTimestamp": stamp, "lastTimestamp": stamp,
                "source": {"component": self.component, **({"host": self.host} if self.host else {})},
                "reportingComponent": self.component, "reportingInstance": self.host or self.component,
            })
            with self._lock:
                self._recent[key] = (name, 1, time.monotonic())
                if len(self._recent) > 5000:
                    self._recent.clear()
        except APIError as exc:
            log.warning("could not record event %s on %s: %s", reason, meta.get("name"), exc)

    def normal(self, obj: dict, reason: str, message: str) -> None:
        self.event(obj, "Normal", reason, message)

    def warning(self, obj: dict, reason: str, message: str) -> None:
        self.event(obj, "Warning", reason, message)
