"""Caches fed by list+watch, with periodic resync: the reconciler's view of the cluster."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..client import APIError, Client

log = logging.getLogger("kvtui.reconciler")

Handler = Callable[[str, dict, dict | None], None]   # (event type, object, previous object)


class Informer:
    def __init__(self, client: Client, path: str, *, label_selector: str = "", field_selector: str = "",
                 resync: float = 300.0, watch_timeout: float = 290.0):
        self.client = client
        self.path = path
        self.query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        self.resync = resync
        self.watch_timeout = watch_timeout
        self.synced = threading.Event()
        self._items: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()
        self._handlers: list[Handler] = []
        self._stop = threading.Event()

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, namespace: str, name: str) -> dict | None:
        with self._lock:
            return self._items.get((namespace, name))

    def list(self) -> list[dict]:
        with self._lock:
            return list(self._items.values())

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"informer {self.path}", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _emit(self, type_: str, obj: dict, old: dict | None) -> None:
        for handler in self._handlers:
            try:
                handler(type_, obj, old)
            except Exception:
                log.exception("handler failed for %s", self.path)

    def _key(self, obj: dict) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return meta.get("namespace", ""), meta.get("name", "")

    def _relist(self) -> str:
        listing = self.client.request("GET", self.path, query=self.query)
        fresh = {self._key(o): o for o in listing.get("items", [])}
        with self._lock:
            old = self._items
            self._items = fresh
        for key, obj in fresh.items():
            self._emit("MODIFIED" if key in old else "ADDED", obj, old.get(key))
        for key, obj in old.items():
            if key not in fresh:
                self._emit("DELETED", obj, obj)
        self.synced.set()
        return listing.get("metadata", {}).get("resourceVersion", "")

    def _run(self) -> None:
        rv = ""
        last_list = 0.0
        while not self._stop.is_set():
            try:
                if not rv or time.monotonic() - last_list > self.resync:
                    rv = self._relist()
                    last_list = time.monotonic()
                for event in self.client.watch(self.path, {**self.query, "resourceVersion": rv,
                                                           "allowWatchBookmarks": "true"}, self.watch_timeout):
                    type_, obj = event.get("type"), event.get("object") or {}
                    if type_ == "ERROR":
                        rv = ""   # 410 Expired and the like: relist
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    if type_ == "BOOKMARK":
                        continue
                    key = self._key(obj)
                    with self._lock:
                        old = self._items.get(key)
                        if type_ == "DELETED":
                            self._items.pop(key, None)
                        else:
                            self._items[key] = obj
                    self._emit(type_, obj, old)
                    if self._stop.is_set():
                        return
            except (APIError, OSError, ValueError) as exc:
                log.warning("watch of %s failed (%s); retrying", self.path, exc)
                rv = ""
                self._stop.wait(1.0)
            except Exception as exc:  # urllib3 protocol errors and the like
                log.warning("watch of %s broke (%s); retrying", self.path, exc)
                rv = ""
                self._stop.wait(1.0)
