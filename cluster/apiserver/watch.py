"""Watch streams: newline-delimited JSON events, replayed from the log and then followed live."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .resources import ResourceType
from .selectors import EQUALS, FieldSelector, LabelSelector, object_fields
from .store import ADDED, DELETED, MODIFIED, Change, CompactedError, Store

BOOKMARK_INTERVAL = 60.0
MAX_BACKLOG = 100_000   # a watcher further behind than this is closed; clients re-watch


@dataclass
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    labels: LabelSelector | None
    fields: FieldSelector | None
    resource_version: str
    send_initial_events: bool
    allow_bookmarks: bool
    timeout: float
    version: str | None                 # API version the client asked for
    as_table: Callable[[dict, bool], dict] | None = None   # object → Table (with headers?)


def default_timeout() -> float:
    # As kube-apiserver: a random time between minRequestTimeout and twice it (30–60 min).
    return random.uniform(1800, 3600)


class _Filter:
    def __init__(self, req: WatchRequest):
        self.req = req

    def matches(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        req = self.req
        meta = obj.get("metadata") or {}
        if req.namespace is not None and meta.get("namespace", "") != req.namespace:
            return False
        if req.labels is not None and not req.labels.empty() and not req.labels.matches(meta.get("labels")):
            return False
        if req.fields is not None and req.fields.requirements:
            if not req.fields.matches(object_fields(req.rt.group, req.rt.kind, obj)):
                return False
        return True

    def translate(self, change: Change) -> str | None:
        """The event type this watcher sees for a change, given selector transitions."""
        now = self.matches(change.obj)
        if change.type == ADDED:
            return ADDED if now else None
        if change.type == DELETED:
            return DELETED if now or self.matches(change.previous) else None
        before = self.matches(change.previous)
        if now and before:
            return MODIFIED
        if now:
            return ADDED
        if before:
            return DELETED
        return None


class WatchStream:
    def __init__(self, store: Store, req: WatchRequest):
        self.store = store
        self.req = req
        self.filter = _Filter(req)
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self._sent_headers = False

    def _on_change(self, change: Change) -> None:
        if self.queue.qsize() > MAX_BACKLOG:
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(change)

    def _encode(self, type_: str, change_obj: dict, raw: str | None) -> bytes:
        req = self.req
        if req.as_table is not None:
            table = req.as_table(change_obj, not self._sent_headers)
            self._sent_headers = True
            return (json.dumps({"type": type_, "object": table}, separators=(",", ":")) + "\n").encode()
        if raw is not None and (req.version is None or req.version == req.rt.storage_version):
            return f'{{"type":"{type_}","object":{raw}}}\n'.encode()
        obj = change_obj
        if req.version and req.version != req.rt.storage_version:
            obj = {**obj, "apiVersion": req.rt.api_version(req.version)}
        return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()

    def _bookmark(self, initial_end: bool = False) -> bytes:
        meta: dict = {"resourceVersion": str(self.store.revision)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.req.rt.kind, "apiVersion": self.req.rt.api_version(self.req.version), "metadata": meta}
        return (json.dumps({"type": "BOOKMARK", "object": obj}, separators=(",", ":")) + "\n").encode()

    def _start(self) -> tuple[list[bytes], Callable[[], None]]:
        """Initial events and the subscription, taken in one step so no change slips between them."""
        req = self.req
        rv = req.resource_version
        initial: list[bytes] = []
        if req.send_initial_events or rv in ("", "0"):
            for stored in self.store.list(req.rt.key, req.namespace if req.rt.namespaced else None):
                if self.filter.matches(stored.obj):
                    initial.append(self._encode(ADDED, stored.obj, stored.raw))
            if req.send_initial_events:
                initial.append(self._bookmark(initial_end=True))
        else:
            for change in self.store.changes_since(req.rt.key, int(rv)):
                type_ = self.filter.translate(change)
                if type_:
                    initial.append(self._encode(type_, change.obj, change.raw))
        unsubscribe = self.store.subscribe(req.rt.key, self._on_change, only=self._one_object())
        return initial, unsubscribe

    def _one_object(self) -> tuple[str, str] | None:
        """(namespace, name) when the watch selects one object by `metadata.name=` in one namespace
        (or a cluster-scoped one): only that object's changes need to reach it."""
        req = self.req
        namespace = req.namespace if req.rt.namespaced else ""
        if namespace is None or req.fields is None:
            return None
        for requirement in req.fields.requirements:
            if requirement.key == "metadata.name" and requirement.operator == EQUALS:
                return namespace, requirement.values[0]
        return None

    async def serve(self, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json", **headers})
        resp.enable_chunked_encoding()
        try:
            initial, unsubscribe = self._start()
        except CompactedError as exc:
            await resp.prepare(request)
            status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": str(exc), "reason": "Expired", "code": 410}
            await resp.write((json.dumps({"type": "ERROR", "object": status}) + "\n").encode())
            await resp.write_eof()
            return resp
        try:
            await resp.prepare(request)
            for line in initial:
                await resp.write(line)
            await self._follow(resp)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
        return resp

    async def _follow(self, resp: web.StreamResponse) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.req.timeout
        next_bookmark = loop.time() + BOOKMARK_INTERVAL
        while True:
            now = loop.time()
            if now >= deadline:
                if self.req.allow_bookmarks and self.queue.empty():
                    await resp.write(self._bookmark())
                return
            try:
                change = await asyncio.wait_for(self.queue.get(), timeout=min(deadline, next_bookmark) - now)
            except TimeoutError:
                if self.req.allow_bookmarks and loop.time() >= next_bookmark and self.queue.empty():
                    await resp.write(self._bookmark())
                    next_bookmark = loop.time() + BOOKMARK_INTERVAL
                continue
            if change is None:
                return
            type_ = self.filter.translate(change)
            if type_:
                await resp.write(self._encode(type_, change.obj, change.raw))
