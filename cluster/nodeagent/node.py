"""The Node this agent stands for: registration with capacity measured on the host, and the
heartbeats (a Lease in kube-node-lease every 10 s, the Ready condition) the control plane watches."""

from __future__ import annotations

import os
import platform
import shutil
import time
from pathlib import Path

from .apiclient import NodeAPI

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10.0
MAX_PODS = 110
DEVICE_RESOURCES = ("devices.kubevirt.io/kvm", "devices.kubevirt.io/tun", "devices.kubevirt.io/vhost-net")
DEVICE_COUNT = 1000
AGENT_VERSION = "v1.37.0-kvtui"


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def now_micro() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1_000_000):06d}Z"


def _architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _memory_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def capacity(root: Path) -> dict[str, str]:
    """What the host offers, as the kubelet reports it."""
    disk = shutil.disk_usage(root)
    resources = {"cpu": str(os.cpu_count() or 1), "memory": f"{_memory_kib()}Ki", "pods": str(MAX_PODS),
                 "ephemeral-storage": f"{disk.total // 1024}Ki", "hugepages-2Mi": "0", "hugepages-1Gi": "0"}
    resources.update({name: str(DEVICE_COUNT) for name in DEVICE_RESOURCES})
    return resources


def node_conditions(ready: bool, previous: list[dict] | None = None) -> list[dict]:
    stamp = now_rfc3339()
    before = {c.get("type"): c for c in previous or []}
    specs = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady",
         "kubelet is posting ready status" if ready else "the node agent is starting"),
    ]
    conditions = []
    for kind, status, reason, message in specs:
        old = before.get(kind) or {}
        transition = old.get("lastTransitionTime") if old.get("status") == status else None
        conditions.append({"type": kind, "status": status, "lastHeartbeatTime": stamp,
                           "lastTransitionTime": transition or stamp, "reason": reason, "message": message})
    return conditions


class NodeRegistration:
    def __init__(self, api: NodeAPI, name: str, root: Path, internal_ip: str, pod_cidr: str, port: int):
        self.api = api
        self.name = name
        self.root = root
        self.internal_ip = internal_ip
        self.pod_cidr = pod_cidr
        self.port = port
        self.allocatable = capacity(root)
        self.conditions: list[dict] = []
        self.uid = ""

    def labels(self) -> dict[str, str]:
        arch = _architecture()
        return {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
                "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                "kubevirt.io/schedulable": "true"}

    def status(self, ready: bool) -> dict:
        self.conditions = node_conditions(ready, self.conditions)
        return {
            "capacity": self.allocatable, "allocatable": self.allocatable, "conditions": self.conditions,
            "addresses": [{"type": "InternalIP", "address": self.internal_ip},
                          {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id"), "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
                "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": platform.release(),
                "osImage": _os_image(), "containerRuntimeVersion": "kvtui://0.1.0", "kubeletVersion": AGENT_VERSION,
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": _architecture(),
            },
        }

    def register(self) -> None:
        """Create the Node, or take over the one a previous run registered; then report Ready."""
        existing = self.api.read_node(self.name)
        if existing is None:
            existing = self.api.create_node({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": self.labels(),
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]},
            })
        else:
            self.conditions = (existing.get("status") or {}).get("conditions") or []
            self.api.patch_node(self.name, {"metadata": {"labels": self.labels()},
                                            "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}})
        self.uid = existing["metadata"]["uid"]
        self.heartbeat()

    def heartbeat(self) -> None:
        self.api.patch_node_status(self.name, self.status(ready=True))
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE}, "spec": {
                     "holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now_micro()}}
        if self.uid:
            lease["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                                     "uid": self.uid}]
        self.api.renew_lease(LEASE_NAMESPACE, lease)
