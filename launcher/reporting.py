"""Where the launcher's VMI comes from and its status and events go: the API server (in a pod, or
with --kubeconfig) or, standalone, a VMI file with status and events printed and kept in the
state directory. All methods block; the launcher calls them from worker threads.

The VMI has no status subresource (as in KubeVirt), so status is written with a JSON merge patch
on the object itself, carrying the resourceVersion it was computed from: a concurrent writer
(the reconciler) makes it a 409, and the launcher recomputes on the fresh object.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import quote

from launcher.events import Event
from launcher.kubeapi import ApiError, KubeAPI
from launcher.status import Observation, now, status_update, without_timestamps
from launcher.volumes.cloud_init import ObjectNotFound

GROUP, VERSION, PLURAL = "kubevirt.io", "v1", "virtualmachineinstances"
COMPONENT = "kvtui-launcher"
_CONFLICT_RETRIES = 8
_WATCH_SECONDS = 300
_WATCH_RETRY_DELAY = 2.0


class VmiGone(Exception):
    """The VMI no longer exists."""


class Reporter(Protocol):
    def read_vmi(self) -> dict[str, Any]: ...
    def write_status(self, obs: Observation) -> None: ...
    def record_event(self, event: Event) -> None: ...
    def watch_deletion(self, on_deleted: Callable[[], None]) -> None: ...

    @property
    def read_secret(self) -> Callable[[str], Mapping[str, bytes]] | None: ...

    @property
    def read_config_map(self) -> Callable[[str], Mapping[str, bytes]] | None: ...


class ClusterReporter:
    """The VMI `namespace/name` through the Kubernetes API.

    Status writes patch on the VMI the previous write returned, so a steady launcher costs one
    request per change; the VMI is read again only when that copy turns out stale (a 409)."""

    def __init__(self, api: KubeAPI, namespace: str, name: str, node_name: str = "") -> None:
        self._api = api
        self.namespace, self.name, self.node_name = namespace, name, node_name
        self._collection = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace)}/{PLURAL}"
        self._path = f"{self._collection}/{quote(name)}"
        self._uid = ""
        self._vmi: dict[str, Any] | None = None  # as of the last read or status write
        self._last_written: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> dict[str, Any]:
        try:
            vmi = self._api.get(self._path)
        except ApiError as exc:
            if exc.status == 404:
                raise VmiGone(f"VirtualMachineInstance {self.namespace}/{self.name} not found") from None
            raise
        self._uid = vmi.get("metadata", {}).get("uid", "") or self._uid
        return vmi

    def read_vmi(self) -> dict[str, Any]:
        vmi = self._fetch()
        with self._lock:
            self._vmi = vmi
        return vmi

    def write_status(self, obs: Observation) -> None:
        with self._lock:  # one writer at a time keeps "what was last written" meaningful
            for _ in range(_CONFLICT_RETRIES):
                if self._vmi is None:
                    try:
                        self._vmi = self._fetch()
                    except VmiGone:
                        return
                update = status_update(obs, self._vmi.get("status") or {}, now())
                if self._last_written == without_timestamps(update):
                    return
                body = {
                    "metadata": {"resourceVersion": self._vmi["metadata"]["resourceVersion"]},
                    "status": update,
                }
                try:
                    self._vmi = self._api.patch(self._path, body)
                except ApiError as exc:
                    if exc.status == 409:  # someone else wrote since: recompute on the fresh VMI
                        self._vmi = None
                        continue
                    if exc.status == 404:
                        return
                    raise
                self._last_written = without_timestamps(update)
                return

    def record_event(self, event: Event) -> None:
        stamp = now()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{self.name}.{os.urandom(8).hex()}", "namespace": self.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "VirtualMachineInstance",
                "name": self.name,
                "namespace": self.namespace,
                "uid": self._uid,
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message,
            "source": {"component": COMPONENT, "host": self.node_name},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.node_name,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self._api.post(f"/api/v1/namespaces/{quote(self.namespace)}/events", body)
        except ApiError as exc:
            # An event is a courtesy; losing one must not stop the VM.
            print(f"launcher: could not record event {event.reason}: {exc}", file=sys.stderr)

    def _read_object(self, kind: str, name: str) -> dict[str, Any]:
        try:
            return self._api.get(f"/api/v1/namespaces/{quote(self.namespace)}/{kind}/{quote(name)}")
        except ApiError as exc:
            if exc.status == 404:
                raise ObjectNotFound(name) from None
            raise

    @property
    def read_secret(self) -> Callable[[str], Mapping[str, bytes]]:
        def read(name: str) -> Mapping[str, bytes]:
            secret = self._read_object("secrets", name)
            return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

        return read

    @property
    def read_config_map(self) -> Callable[[str], Mapping[str, bytes]]:
        def read(name: str) -> Mapping[str, bytes]:
            config_map = self._read_object("configmaps", name)
            data = {k: v.encode() for k, v in (config_map.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (config_map.get("binaryData") or {}).items()})
            return data

        return read

    def watch_deletion(self, on_deleted: Callable[[], None]) -> None:
        """Call `on_deleted` once, from a daemon thread, when the VMI is deleted or gets a
        deletionTimestamp (KubeVirt's VMIs carry finalizers, so deletion starts with the latter)."""
        threading.Thread(target=self._watch, args=(on_deleted,), name="vmi-watch", daemon=True).start()

    def _watch(self, on_deleted: Callable[[], None]) -> None:
        # The first watch starts at the version of the last read or status write, and so replays
        # whatever changed since, a deletion included; each later one resumes at the last version it
        # saw (bookmarks keep that current). The VMI is read again only after an error, when that
        # version expired, or when the launcher never read it.
        resource_version = self._known_resource_version()
        while True:
            try:
                if not resource_version:
                    vmi = self._fetch()
                    if vmi["metadata"].get("deletionTimestamp"):
                        on_deleted()
                        return
                    resource_version = vmi["metadata"]["resourceVersion"]
                params = {
                    "fieldSelector": f"metadata.name={self.name}",
                    "resourceVersion": resource_version,
                    "allowWatchBookmarks": True,
                    "timeoutSeconds": _WATCH_SECONDS,
                }
                started = time.monotonic()
                with self._api.watch(self._collection, params) as events:
                    for change in events:
                        metadata = (change.get("object") or {}).get("metadata") or {}
                        if change["type"] == "DELETED" or metadata.get("deletionTimestamp"):
                            on_deleted()
                            return
                        resource_version = metadata.get("resourceVersion") or resource_version
                if time.monotonic() - started < 1:  # a server ending watches at once (shutting down)
                    time.sleep(_WATCH_RETRY_DELAY)
            except VmiGone:
                on_deleted()
                return
            except ApiError as exc:
                resource_version = ""
                if exc.status != 410:  # 410: the version was compacted away; read the VMI again now
                    print(f"launcher: VMI watch failed ({exc}); retrying", file=sys.stderr)
                    time.sleep(_WATCH_RETRY_DELAY)
            except Exception as exc:  # noqa: BLE001 - the watch must survive API server restarts
                resource_version = ""
                print(f"launcher: VMI watch failed ({exc}); retrying", file=sys.stderr)
                time.sleep(_WATCH_RETRY_DELAY)

    def _known_resource_version(self) -> str:
        with self._lock:
            vmi = self._vmi
        if vmi is None or vmi["metadata"].get("deletionTimestamp"):
            return ""  # read it: the loop's first step then sees a deletion already under way
        return vmi["metadata"].get("resourceVersion", "")


class StandaloneReporter:
    """A VMI from a file; status and events go to `out` as JSON lines and into the state directory
    (`status.json`, `events.jsonl`), for debugging a launcher without an API server."""

    def __init__(self, vmi: dict[str, Any], state_dir: Path, out: TextIO = sys.stdout) -> None:
        self._vmi = vmi
        self._state_dir = state_dir
        self._out = out
        self._last_written: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def read_vmi(self) -> dict[str, Any]:
        return self._vmi

    def write_status(self, obs: Observation) -> None:
        with self._lock:
            update = status_update(obs, self._vmi.get("status") or {}, now())
            if self._last_written == without_timestamps(update):
                return
            self._last_written = without_timestamps(update)
            status = {k: v for k, v in update.items() if v is not None}
            self._vmi["status"] = status
            tmp = self._state_dir / ".status.json.tmp"
            tmp.write_text(json.dumps(status, indent=1) + "\n")
            tmp.replace(self._state_dir / "status.json")
            self._print({"status": status})

    def record_event(self, event: Event) -> None:
        entry = {"type": event.type, "reason": event.reason, "message": event.message, "time": now()}
        with self._lock, open(self._state_dir / "events.jsonl", "a") as events:
            events.write(json.dumps(entry) + "\n")
        self._print({"event": entry})

    def _print(self, line: dict[str, Any]) -> None:
        self._out.write(json.dumps(line) + "\n")
        self._out.flush()

    read_secret = None
    read_config_map = None

    def watch_deletion(self, on_deleted: Callable[[], None]) -> None:
        return None
