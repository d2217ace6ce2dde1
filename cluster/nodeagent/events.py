"""Events the node agent reports about pods, as the kubelet does (source `kubelet`, the node as host).

A repeat of the same event within ten minutes raises the count of the first one instead of adding
another, as client-go's event correlator does, so a crash loop or a failing probe stays one line in
`kubectl describe` ("x12 over 3m").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from .apiclient import ApiException, NodeAPI

log = logging.getLogger("kvtui.nodeagent.events")

SIMILAR_WINDOW = 600.0


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class EventRecorder:
    def __init__(self, api: NodeAPI, node: str):
        self.api = api
        self.node = node
        self._seen: dict[tuple, tuple[str, int, float, str]] = {}   # key → (name, count, when, first)
        self._queue: asyncio.Queue[tuple[str, str, dict]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def __call__(self, pod: Mapping[str, Any], type_: str, reason: str, message: str,
                 container: str | None = None) -> None:
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace", "default")
        field_path = ""
        if container:
            init = any(c.get("name") == container for c in (pod.get("spec") or {}).get("initContainers") or [])
            field_path = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
        key = (meta.get("uid"), type_, reason, message, field_path)
        now = time.time()
        seen = self._seen.get(key)
        if seen is not None and now - seen[2] < SIMILAR_WINDOW:
            name, count, _, first = seen
            self._seen[key] = (name, count + 1, now, first)
            self._send("patch", namespace, {"metadata": {"name": name},
                                            "count": count + 1, "lastTimestamp": _stamp()})
            return
        name = f"{meta.get('name', 'pod')}.{time.time_ns():x}"
        stamp = _stamp()
        self._seen[key] = (name, 1, now, stamp)
        involved = {"kind": "Pod", "namespace": namespace, "name": meta.get("name"), "uid": meta.get("uid"),
                    "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        self._send("create", namespace, {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved, "reason": reason, "message": message, "type": type_,
            "source": {"component": "kubelet", "host": self.node}, "firstTimestamp": stamp,
            "lastTimestamp": stamp, "count": 1, "reportingComponent": "kubelet", "reportingInstance": self.node,
        })

    def _send(self, verb: str, namespace: str, body: dict) -> None:
        self._queue.put_nowait((verb, namespace, body))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        # One at a time and in order, so a count update never overtakes the event it updates.
        while not self._queue.empty():
            verb, namespace, body = await self._queue.get()
            try:
                if verb == "create":
                    await asyncio.to_thread(self.api.create_event, namespace, body)
                else:
                    name = body["metadata"]["name"]
                    await asyncio.to_thread(self.api.patch_event, namespace, name,
                                            {k: v for k, v in body.items() if k != "metadata"})
            except ApiException as exc:
                if exc.status not in (403, 404, 409):
                    log.warning("event %s in %s not recorded: %s", body.get("reason", ""), namespace, exc.status)
            except Exception as exc:  # events are best effort: never let one stop the agent
                log.warning("event not recorded: %s", exc)
        self._forget_old()

    def _forget_old(self) -> None:
        now = time.time()
        for key in [k for k, v in self._seen.items() if now - v[2] > SIMILAR_WINDOW]:
            del self._seen[key]
