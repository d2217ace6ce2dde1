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
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from launcher.events import Event
from launcher.status import Observation, now, status_update, without_timestamps
from launcher.volumes.cloud_init import ObjectNotFound

GROUP, VERSION, PLURAL = "kubevirt.io", "v1", "virtualmachineinstances"
COMPONENT = "kvtui-launcher"
_CONFLICT_RETRIES = 8


class VmiGone(Exception):
    """The VMI no longer exists."""


class ApiUnavailable(Exception):
    """The API server cannot be reached; the message says which and why."""


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
    """The VMI `namespace/name` through the Kubernetes API."""

    def __init__(self, api_client: Any, namespace: str, name: str, node_name: str = "") -> None:
        from kubernetes import client

        self._client = client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self.namespace, self.name, self.node_name = namespace, name, node_name
        self._uid = ""
        self._last_written: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def read_vmi(self) -> dict[str, Any]:
        import urllib3

        try:
            vmi = self._custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name)
        except self._client.ApiException as exc:
            if exc.status == 404:
                raise VmiGone(f"VirtualMachineInstance {self.namespace}/{self.name} not found") from None
            raise
        except urllib3.exceptions.HTTPError as exc:
            host = self._custom.api_client.configuration.host
            raise ApiUnavailable(f"cannot reach the API server at {host}: {exc}") from None
        self._uid = vmi.get("metadata", {}).get("uid", "")
        return vmi

    def write_status(self, obs: Observation) -> None:
        with self._lock:  # one writer at a time keeps "what was last written" meaningful
            for _ in range(_CONFLICT_RETRIES):
                try:
                    vmi = self.read_vmi()
                except VmiGone:
                    return
                update = status_update(obs, vmi.get("status") or {}, now())
                if self._last_written == without_timestamps(update):
                    return
                body = {"metadata": {"resourceVersion": vmi["metadata"]["resourceVersion"]}, "status": update}
                try:
                    self._custom.patch_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, PLURAL, self.name, body,
                        _content_type="application/merge-patch+json")
                except self._client.ApiException as exc:
                    if exc.status == 409:
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
            "metadata": {"name": f"{self.name}.{uuid.uuid4().hex[:16]}", "namespace": self.namespace},
            "involvedObject": {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VirtualMachineInstance",
                               "name": self.name, "namespace": self.namespace, "uid": self._uid},
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
            self._core.create_namespaced_event(self.namespace, body)
        except self._client.ApiException as exc:
            # An event is a courtesy; losing one must not stop the VM.
            print(f"launcher: could not record event {event.reason}: {exc.status} {exc.reason}", file=sys.stderr)

    @property
    def read_secret(self) -> Callable[[str], Mapping[str, bytes]]:
        def read(name: str) -> Mapping[str, bytes]:
            try:
                secret = self._core.read_namespaced_secret(name, self.namespace)
            except self._client.ApiException as exc:
                if exc.status == 404:
                    raise ObjectNotFound(name) from None
                raise
            return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}

        return read

    @property
    def read_config_map(self) -> Callable[[str], Mapping[str, bytes]]:
        def read(name: str) -> Mapping[str, bytes]:
            try:
                config_map = self._core.read_namespaced_config_map(name, self.namespace)
            except self._client.ApiException as exc:
                if exc.status == 404:
                    raise ObjectNotFound(name) from None
                raise
            data = {k: v.encode() for k, v in (config_map.data or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (config_map.binary_data or {}).items()})
            return data

        return read

    def watch_deletion(self, on_deleted: Callable[[], None]) -> None:
        """Call `on_deleted` once, from a daemon thread, when the VMI is deleted or gets a
        deletionTimestamp (KubeVirt's VMIs carry finalizers, so deletion starts with the latter)."""
        threading.Thread(target=self._watch, args=(on_deleted,), name="vmi-watch", daemon=True).start()

    def _watch(self, on_deleted: Callable[[], None]) -> None:
        from kubernetes import watch

        while True:
            try:
                vmi = self.read_vmi()
                if vmi["metadata"].get("deletionTimestamp"):
                    on_deleted()
                    return
                stream = watch.Watch().stream(
                    self._custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=vmi["metadata"]["resourceVersion"], timeout_seconds=300)
                for change in stream:
                    obj = change["object"]
                    if change["type"] == "DELETED" or obj.get("metadata", {}).get("deletionTimestamp"):
                        on_deleted()
                        return
            except VmiGone:
                on_deleted()
                return
            except Exception as exc:  # noqa: BLE001 - the watch must survive API server restarts
                print(f"launcher: VMI watch failed ({exc}); retrying", file=sys.stderr)
                time.sleep(2)


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
