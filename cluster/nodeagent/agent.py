"""The node agent: registers the Node, heartbeats, watches the pods bound to it and gives each a
pod worker (Virtual Kubelet's contract, with host processes as the provider)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import network
from .apiclient import ApiException, NodeAPI
from .events import EventRecorder
from .forkserver import ForkServer
from .images import ImageMap
from .node import HEARTBEAT_SECONDS, NodeRegistration
from .podworker import NodeContext, PodWorker
from .runtime import SHIM, Instance, PodRuntime, PodSandbox
from .startup import StartupSlots, default_slots
from .tls import serving_context

log = logging.getLogger("kvtui.nodeagent")


@dataclass
class AgentOptions:
    node_name: str
    kubeconfig: Path
    root: Path
    port: int = 10250
    pod_cidr: str = "10.244.0.0/24"
    node_ip: str = network.BRIDGE_ADDRESS
    service_host: str = network.BRIDGE_ADDRESS
    image_map: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    streaming_token_file: Path | None = None
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    startup_slots: int | None = None     # pods holding their startup CPU boost at once (None: 3 per CPU)
    fork_server: bool = True             # start container monitors (and preloaded Python containers) by fork


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Agent:
    def __init__(self, options: AgentOptions):
        self.options = options
        self.workers: dict[str, PodWorker] = {}
        self.stopping = threading.Event()
        self.api = NodeAPI(options.kubeconfig)
        self.images = ImageMap(options.image_map)
        self.runtime = PodRuntime(options.root, on_exit=self._on_exit, status_lookup=self._status_lookup)
        self.pool = network.AddressPool(options.pod_cidr, agent_root=options.root)
        self.port = options.port
        self.ctx: NodeContext | None = None
        self.fork_server: ForkServer | None = None
        if options.fork_server:
            preload, modules, paths, optimize = self.images.fork_server_modules()
            self.fork_server = ForkServer(SHIM, options.root / "fork-server.sock", options.root / "fork-server.log",
                                          preload, modules, paths, optimize)
            self.runtime.fork_server = self.fork_server
        self._adopted: dict[str, PodSandbox] = {}
        self._tasks: list[asyncio.Task] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        options = self.options
        loop = asyncio.get_running_loop()
        if self.fork_server is not None:  # imports in the background; monitors start without it meanwhile
            threading.Thread(target=self.fork_server.start, name="fork-server", daemon=True).start()
        await asyncio.to_thread(network.ensure_bridge)
        freed = await asyncio.to_thread(network.reclaim_orphans, self.pool)
        if freed:
            log.info("freed %d pod address(es) of clusters whose state is gone: %s", len(freed), ", ".join(freed))
        self._adopted = {s.uid: s for s in self.runtime.adopt()}
        if not self.port:
            self.port = free_port(options.node_ip)
        registration = NodeRegistration(self.api, options.node_name, options.root, options.node_ip,
                                        options.pod_cidr, self.port)
        await asyncio.to_thread(registration.register)
        self.ctx = NodeContext(
            node_name=options.node_name, node_ip=options.node_ip, api=self.api, runtime=self.runtime,
            images=self.images, pool=self.pool, event=EventRecorder(self.api, options.node_name),
            service_host=options.service_host, service_port=self.api.server_port,
            allocatable=registration.allocatable, backoff_initial=options.backoff_initial,
            backoff_max=options.backoff_max, on_done=self._worker_done,
            startup=StartupSlots(options.startup_slots or default_slots()))
        self._start_streaming()
        pods, resource_version = await asyncio.to_thread(self.api.list_pods, options.node_name)
        self._on_list(pods)
        for uid, sandbox in list(self._adopted.items()):
            if uid not in self.workers:  # deleted while no agent ran: its processes must go
                orphan = PodWorker(self.ctx, {"metadata": {"uid": uid, "namespace": sandbox.namespace,
                                                           "name": sandbox.name}, "spec": {}}, sandbox)
                self.workers[uid] = orphan
                orphan.removed()
            self.runtime.watch_adopted(sandbox)
        self._adopted.clear()
        threading.Thread(target=self._watch, args=(loop, resource_version), name="pod-watch", daemon=True).start()
        self._tasks.append(asyncio.create_task(self._heartbeat(registration)))
        log.info("node %s ready: %d pods, streaming on %s:%d", options.node_name, len(pods), options.node_ip,
                 self.port)
        print(f"kvtui node agent {options.node_name} ready", flush=True)
        await stop.wait()
        self.stopping.set()
        for task in self._tasks:
            task.cancel()
        if self.fork_server is not None:
            self.fork_server.stop()
        self.api.close()

    def _start_streaming(self) -> None:
        try:
            from . import streaming  # written separately; the agent runs pods without it
        except ImportError:
            log.info("no streaming server (cluster/nodeagent/streaming.py): logs, exec and port-forward are off")
            return
        options = self.options
        if options.streaming_token_file is None:
            log.warning("no --streaming-token-file: the streaming server (logs, exec, port-forward) is off, "
                        "since it would have no caller it could trust")
            return
        context = serving_context(options.root / "pki", options.node_name, options.node_ip,
                                  options.tls_cert_file, options.tls_key_file)
        token = options.streaming_token_file.read_text().strip()
        result = streaming.serve(self.runtime, options.node_ip, self.port, context, token)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            task.add_done_callback(_report_failure)
            self._tasks.append(task)

    async def _heartbeat(self, registration: NodeRegistration) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await asyncio.to_thread(registration.heartbeat)
            except Exception as exc:  # the API server may be restarting: the next beat tries again
                log.warning("heartbeat failed: %s", exc)

    # -- pods -----------------------------------------------------------------------------

    def _worker_for(self, pod: dict) -> PodWorker:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is None:
            assert self.ctx is not None
            worker = PodWorker(self.ctx, pod, self._adopted.get(uid))
            self.workers[uid] = worker
        return worker

    def _on_pod_event(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            worker = self.workers.get(uid)
            if worker is not None:
                worker.removed()
            return
        self._worker_for(pod).update(pod)

    def _on_list(self, pods: list[dict]) -> None:
        """A full list (at start or after the watch fell behind): the truth about the node's pods."""
        listed = {p["metadata"]["uid"] for p in pods}
        for pod in pods:
            self._worker_for(pod).update(pod)
        for uid, worker in list(self.workers.items()):
            if uid not in listed and not worker.finished:
                worker.removed()

    def _worker_done(self, uid: str) -> None:
        self.workers.pop(uid, None)

    def _on_exit(self, sandbox: PodSandbox, instance: Instance) -> None:
        worker = self.workers.get(sandbox.uid)
        if worker is not None:
            worker.container_exited(instance)

    def _status_lookup(self, uid: str, container: str) -> dict | None:
        worker = self.workers.get(uid)
        return worker.status_of(container) if worker is not None else None

    def _watch(self, loop: asyncio.AbstractEventLoop, resource_version: str) -> None:
        """The pod watch, in its own thread; events are handed to the event loop in order."""
        node = self.options.node_name
        rv: str | None = resource_version
        while not self.stopping.is_set():
            try:
                if rv is None:
                    pods, rv = self.api.list_pods(node)
                    loop.call_soon_threadsafe(self._on_list, pods)
                for event in self.api.watch_pods(node, rv):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        rv = None if obj.get("code") == 410 else rv
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if kind != "BOOKMARK":
                        loop.call_soon_threadsafe(self._on_pod_event, kind, obj)
            except ApiException as exc:
                if exc.status == 410:
                    rv = None
                else:
                    log.warning("pod watch failed (%s); retrying", exc.status)
                    time.sleep(1.0)
            except Exception as exc:  # connection refused or reset: the API server restarts
                if self.stopping.is_set():
                    return
                log.warning("pod watch interrupted (%s); retrying", exc)
                time.sleep(1.0)


def _report_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the streaming server stopped: %s", task.exception())


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
