"""The reconciler process: caches, work queues, leader election, the VM and VMI controllers."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..client import APIError, Client, load_api_client, resource_path
from .config import ClusterConfig, from_sources
from .events import EventRecorder
from .informer import Informer
from .leader import LeaderElector
from .vm_controller import VMController
from .vmi_controller import VMIController
from .workqueue import WorkQueue

log = logging.getLogger("kvtui.reconciler")


class Reconciler:
    def __init__(self, client: Client, *, launcher_image: str = "kvtui/launcher:latest",
                 launcher_service_account: str = "kvtui-launcher", use_emulation: bool = False,
                 config_namespace: str = "kubevirt", workers: int = 2):
        self.client = client
        self.launcher_image = launcher_image
        self.launcher_service_account = launcher_service_account
        self.use_emulation = use_emulation
        self.workers = workers
        self.vms = Informer(client, resource_path("kubevirt.io", "v1", "virtualmachines"))
        self.vmis = Informer(client, resource_path("kubevirt.io", "v1", "virtualmachineinstances"))
        self.pods = Informer(client, resource_path("", "v1", "pods"), label_selector="kubevirt.io=virt-launcher")
        self.kubevirts = Informer(client, resource_path("kubevirt.io", "v1", "kubevirts"))
        self.configmaps = Informer(client, resource_path("", "v1", "configmaps", config_namespace),
                                   field_selector="metadata.name=kubevirt-config")
        self.recorder = EventRecorder(client, host=socket.gethostname())
        self.vm_queue = WorkQueue()
        self.vmi_queue = WorkQueue()
        self.vm_controller = VMController(self)
        self.vmi_controller = VMIController(self)
        self._expected: dict[str, dict] = {}   # VMI uid → pod just created, until the cache shows it
        self._wire()

    def config(self) -> ClusterConfig:
        return from_sources(self.kubevirts.list(), self.configmaps.list())

    def expect_pod(self, vmi_uid: str, pod: dict) -> None:
        self._expected[vmi_uid] = pod

    def _wire(self) -> None:
        def key(obj: dict) -> tuple[str, str]:
            return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

        self.vms.add_handler(lambda t, o, old: self.vm_queue.add(key(o)))

        def on_vmi(type_: str, obj: dict, old: dict | None) -> None:
            self.vmi_queue.add(key(obj))
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "VirtualMachine":
                    self.vm_queue.add((obj["metadata"]["namespace"], ref["name"]))
            if type_ == "DELETED":
                self.vm_queue.add(key(obj))

        self.vmis.add_handler(on_vmi)

        def on_pod(type_: str, obj: dict, old: dict | None) -> None:
            uid = (obj["metadata"].get("labels") or {}).get("kubevirt.io/created-by")
            self._expected.pop(uid or "", None)
            ns = obj["metadata"]["namespace"]
            for ref in obj["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "VirtualMachineInstance":
                    self.vmi_queue.add((ns, ref["name"]))
                    self.vm_queue.add((ns, ref["name"]))

        self.pods.add_handler(on_pod)

        def on_config(type_: str, obj: dict, old: dict | None) -> None:
            for vmi in self.vmis.list():
                self.vmi_queue.add(key(vmi))

        self.kubevirts.add_handler(on_config)
        self.configmaps.add_handler(on_config)

    def start_caches(self) -> None:
        for informer in (self.kubevirts, self.configmaps, self.pods, self.vmis, self.vms):
            informer.start()
        for informer in (self.kubevirts, self.configmaps, self.pods, self.vmis, self.vms):
            informer.synced.wait()

    def _worker(self, queue: WorkQueue, sync: Callable[[str, str], float | None], stop: threading.Event) -> None:
        while not stop.is_set():
            item = queue.get(timeout=0.5)
            if item is None:
                continue
            namespace, name = item  # type: ignore[misc]
            try:
                vmi = self.vmis.get(namespace, name)
                if sync is self.vmi_controller.sync and vmi is not None and vmi["metadata"]["uid"] in self._expected:
                    queue.add_after(item, 0.2)   # our new pod is not in the cache yet: don't create another
                    continue
                requeue = sync(namespace, name)
                queue.forget(item)
                if requeue:
                    queue.add_after(item, requeue)
            except APIError as exc:
                if exc.status == 409:
                    queue.add(item)   # our cache was stale; the newer object is on its way
                elif exc.status == 404:
                    queue.forget(item)
                else:
                    delay = queue.retry(item)
                    log.warning("sync of %s/%s failed (%s); retrying in %.1f s", namespace, name, exc, delay)
            except Exception:
                delay = queue.retry(item)
                log.exception("sync of %s/%s failed; retrying in %.1f s", namespace, name, delay)
            finally:
                queue.done(item)

    def run_workers(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for i in range(self.workers):
            for queue, sync in ((self.vm_queue, self.vm_controller.sync), (self.vmi_queue, self.vmi_controller.sync)):
                t = threading.Thread(target=self._worker, args=(queue, sync, stop), daemon=True,
                                     name=f"worker-{i}")
                t.start()
                threads.append(t)
        # Periodic resync: every object is looked at again, as informers' resync does.
        def resync() -> None:
            while not stop.wait(30):
                for vm in self.vms.list():
                    self.vm_queue.add((vm["metadata"]["namespace"], vm["metadata"]["name"]))
                for vmi in self.vmis.list():
                    self.vmi_queue.add((vmi["metadata"]["namespace"], vmi["metadata"]["name"]))

        threading.Thread(target=resync, daemon=True, name="resync").start()
        return threads


class Health:
    """What /healthz and /readyz answer. A standby replica is ready: it is doing its job (waiting to
    lead), and a Deployment rollout must not stall on it."""

    def __init__(self, elector: LeaderElector | None):
        self.elector = elector
        self.reconciler: Reconciler | None = None

    def live(self) -> tuple[bool, str]:
        if self.elector is not None and self.elector.lost.is_set():
            return False, "lost the leader lease"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if self.elector is not None and not self.elector.is_leader.is_set():
            return True, "standing by"
        informers = () if self.reconciler is None else (self.reconciler.vms, self.reconciler.vmis,
                                                        self.reconciler.pods, self.reconciler.kubevirts,
                                                        self.reconciler.configmaps)
        if not informers or not all(i.synced.is_set() for i in informers):
            return False, "caches not synced yet"
        return True, "ok"


def serve_health(port: int, health: Health) -> ThreadingHTTPServer:
    """/healthz (liveness) and /readyz (readiness) on all addresses, for the kubelet's probes."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            check = {"/healthz": health.live, "/livez": health.live, "/readyz": health.ready}.get(self.path)
            ok, text = check() if check else (False, "not found")
            self.send_response(200 if ok else (503 if check else 404))
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(text.encode() + b"\n")

        def log_message(self, *args: object) -> None:   # probes every few seconds would flood the log
            pass

    server = ThreadingHTTPServer(("", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    return server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cluster.reconciler",
                                description="kvtui's reconciler: VirtualMachine → VirtualMachineInstance → launcher "
                                            "pod, as KubeVirt's virt-controller.")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster config, else $KUBECONFIG)")
    p.add_argument("--launcher-image", default=os.environ.get("KVTUI_LAUNCHER_IMAGE", "kvtui/launcher:latest"),
                   help="image of the launcher pods (default kvtui/launcher:latest)")
    p.add_argument("--launcher-service-account", default="kvtui-launcher",
                   help="service account of the launcher pods (default kvtui-launcher)")
    p.add_argument("--use-emulation", action="store_true",
                   help="never ask for /dev/kvm (as KubeVirt's useEmulation)")
    p.add_argument("--leader-elect", action="store_true", help="elect a leader through a Lease (for replicas)")
    p.add_argument("--lease-namespace", default=os.environ.get("POD_NAMESPACE", "kube-system"))
    p.add_argument("--config-namespace", default="kubevirt",
                   help="namespace of the kubevirt-config ConfigMap (default kubevirt)")
    p.add_argument("--workers", type=int, default=2, help="workers per controller (default 2)")
    p.add_argument("--health-port", type=int, default=0,
                   help="serve /healthz and /readyz on this port (default 0: off)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = Client(load_api_client(args.kubeconfig))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    elector = None
    if args.leader_elect:
        identity = f"{socket.gethostname()}_{os.getpid()}"
        elector = LeaderElector(client, args.lease_namespace, "kvtui-reconciler", identity)
    health = Health(elector)
    if args.health_port:
        serve_health(args.health_port, health)
    if elector is not None:
        threading.Thread(target=elector.run, args=(stop,), daemon=True, name="leader-election").start()
        log.info("waiting to become leader (%s)", identity)
        while not stop.is_set() and not elector.is_leader.wait(0.5):
            pass
        if stop.is_set():
            return 0
    reconciler = Reconciler(client, launcher_image=args.launcher_image,
                            launcher_service_account=args.launcher_service_account,
                            use_emulation=args.use_emulation, config_namespace=args.config_namespace,
                            workers=args.workers)
    health.reconciler = reconciler
    reconciler.start_caches()
    reconciler.run_workers(stop)
    log.info("reconciler running")
    print("kvtui reconciler ready", flush=True)
    while not stop.wait(0.5):
        if elector is not None and elector.lost.is_set():
            return 1
    if elector is not None:
        elector.release()
    return 0
