"""The live store behind the VM list: list+watch of VMs, VMIs, launcher pods and nodes, joined per VM.
Watches resume from the last resourceVersion, relist on 410 Gone and reconnect with back-off; every
change is pushed to subscribers (no polling)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cluster.client import APIError, Client, resource_path

from .rows import printable_status

KUBEVIRT = ("kubevirt.io", "v1")
LAUNCHER_SELECTOR = "kubevirt.io=virt-launcher"


@dataclass(frozen=True)
class Source:
    kind: str
    group: str
    version: str
    plural: str
    label_selector: str = ""
    namespaced: bool = True


SOURCES = (
    Source("vm", *KUBEVIRT, "virtualmachines"),
    Source("vmi", *KUBEVIRT, "virtualmachineinstances"),
    Source("pod", "", "v1", "pods", LAUNCHER_SELECTOR),
    Source("node", "", "v1", "nodes", namespaced=False),
)


@dataclass
class VMEntry:
    """One row of the VM list: the VM with its current VMI and launcher pod (either may be missing)."""
    vm: dict
    vmi: dict | None = None
    pod: dict | None = None

    @property
    def key(self) -> tuple[str, str]:
        meta = self.vm["metadata"]
        return meta.get("namespace", ""), meta["name"]


@dataclass(frozen=True)
class Change:
    """What subscribers hear: `kind` is a source kind, or "problem"/"recovered"/"synced" with a `message`."""
    kind: str
    key: tuple[str, str] = ("", "")
    message: str = ""


Listener = Callable[[Change], None]


def _key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _vm_name_of_pod(pod: dict) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get("vm.kubevirt.io/name", "")


@dataclass
class ClusterModel:
    client: Client | None
    namespace: str | None = None          # None watches every namespace
    retry_max: float = 10.0
    _items: dict[str, dict[tuple[str, str], dict]] = field(default_factory=lambda: {s.kind: {} for s in SOURCES})
    _listeners: list[Listener] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    synced: set[str] = field(default_factory=set)

    # -- reading -------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def entries(self) -> list[VMEntry]:
        with self._lock:
            return [self._join(vm) for vm in self._items["vm"].values()]

    def entry(self, key: tuple[str, str]) -> VMEntry | None:
        with self._lock:
            vm = self._items["vm"].get(key)
            return self._join(vm) if vm else None

    def objects(self, kind: str) -> list[dict]:
        with self._lock:
            return list(self._items[kind].values())

    def nodes_ready(self) -> tuple[int, int]:
        nodes = self.objects("node")
        ready = sum(1 for n in nodes if any(c.get("type") == "Ready" and c.get("status") == "True"
                                            for c in (n.get("status") or {}).get("conditions") or []))
        return ready, len(nodes)

    def vms_running(self) -> tuple[int, int]:
        vms = self.objects("vm")
        return sum(1 for vm in vms if printable_status(vm) == "Running"), len(vms)

    def _join(self, vm: dict) -> VMEntry:
        key = _key(vm)
        vmi = self._items["vmi"].get(key)
        return VMEntry(vm, vmi, self._launcher_pod(key, vmi))

    def _launcher_pod(self, key: tuple[str, str], vmi: dict | None) -> dict | None:
        uid = (vmi or {}).get("metadata", {}).get("uid")
        candidates = [p for p in self._items["pod"].values()
                      if p["metadata"].get("namespace") == key[0] and _vm_name_of_pod(p) == key[1]]
        # The pod of the current VMI wins over one left from an earlier run.
        current = [p for p in candidates if (p["metadata"].get("labels") or {}).get("kubevirt.io/created-by") == uid]
        pick = current or candidates
        return max(pick, key=lambda p: p["metadata"].get("creationTimestamp", "")) if pick else None

    # -- writing (watch events, or a synthetic feed in tests and benchmarks) ---------------------

    def apply(self, kind: str, type_: str, obj: dict) -> None:
        key = _key(obj)
        with self._lock:
            if type_ == "DELETED":
                self._items[kind].pop(key, None)
            else:
                self._items[kind][key] = obj
        self._notify(Change(kind, self._vm_key(kind, obj)))

    def replace_all(self, kind: str, objs: list[dict]) -> None:
        """A (re)list: items missing from it were deleted while we were not watching."""
        fresh = {_key(o): o for o in objs}
        with self._lock:
            old = self._items[kind]
            self._items[kind] = fresh
        changed = {k for k in old.keys() | fresh.keys() if old.get(k) is not fresh.get(k)}
        for k in changed:
            self._notify(Change(kind, self._vm_key(kind, fresh.get(k) or old[k])))

    def _vm_key(self, kind: str, obj: dict) -> tuple[str, str]:
        if kind == "pod":
            return obj["metadata"].get("namespace", ""), _vm_name_of_pod(obj)
        return _key(obj)

    def _notify(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    # -- watching --------------------------------------------------------------------------------

    def _path(self, source: Source) -> str:
        namespace = self.namespace if source.namespaced else None
        return resource_path(source.group, source.version, source.plural, namespace)

    def _list(self, source: Source) -> str:
        query = {"labelSelector": source.label_selector} if source.label_selector else {}
        listing = self.client.request("GET", self._path(source), query=query)   # type: ignore[union-attr]
        self.replace_all(source.kind, listing.get("items") or [])
        if source.kind not in self.synced:
            self.synced.add(source.kind)
            self._notify(Change("synced", message=source.kind))
        return listing.get("metadata", {}).get("resourceVersion", "")

    def _events(self, source: Source, version: str, timeout: float) -> Iterator[dict]:
        query = {"resourceVersion": version, "allowWatchBookmarks": "true"}
        if source.label_selector:
            query["labelSelector"] = source.label_selector
        return self.client.watch(self._path(source), query, timeout)   # type: ignore[union-attr]

    def start(self, kinds: tuple[str, ...] = ("vm", "vmi", "pod", "node")) -> threading.Event:
        """Watch `kinds` in daemon threads (a watch blocks in a socket read for minutes, so it must not
        hold up the app's exit); set the returned event to stop them."""
        stop = threading.Event()
        for kind in kinds:
            threading.Thread(target=self.watch_forever, args=(kind, stop), name=f"watch {kind}", daemon=True).start()
        return stop

    def watch_forever(self, kind: str, stop: threading.Event, timeout: float = 240) -> None:
        """List then watch `kind` until `stop` is set; meant for a worker thread."""
        source = next(s for s in SOURCES if s.kind == kind)
        delay, version, troubled = 1.0, "", False
        while not stop.is_set():
            try:
                if not version:
                    version = self._list(source)
                    if troubled:
                        self._notify(Change("recovered", message=f"watching {source.plural} again"))
                    delay, troubled = 1.0, False
                for event in self._events(source, version, timeout):
                    if stop.is_set():
                        return
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if obj.get("code") == 410:
                            version = ""      # our resourceVersion was compacted away: relist
                        break
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if event.get("type") != "BOOKMARK":
                        self.apply(kind, event["type"], obj)
            except APIError as exc:
                version = "" if exc.status == 410 else version
                if exc.status != 410:
                    troubled = True
                    self._notify(Change("problem", message=problem_message(source, exc, delay)))
                    stop.wait(delay)
                    delay = min(delay * 2, self.retry_max)
            except Exception as exc:   # connection refused, reset, timeouts: the API server is away
                troubled = True
                self._notify(Change("problem", message=problem_message(source, exc, delay)))
                stop.wait(delay)
                delay = min(delay * 2, self.retry_max)
                version = ""


def problem_message(source: Source, exc: Exception, retry_in: float) -> str:
    what = source.plural
    if isinstance(exc, APIError) and exc.status == 403:
        return (f"forbidden to watch {what}: {exc.message}; ask an admin for list/watch on {what} "
                f"(retrying in {retry_in:.0f}s)")
    if isinstance(exc, APIError) and exc.status == 401:
        return f"the API server rejected our credentials watching {what}: refresh the kubeconfig's token"
    if isinstance(exc, APIError):
        return f"watching {what} failed: {exc.message} (retrying in {retry_in:.0f}s)"
    return (f"cannot reach the API server watching {what} ({type(exc).__name__}); retrying in {retry_in:.0f}s — "
            "check that the cluster runs ('kvtui cluster start')")
