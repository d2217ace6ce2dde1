"""A fixed little cluster for layout snapshots and screenshots of the app without a server: three VMs
with their VMIs and launcher pods, fed straight into the model, and a stand-in client whose lists are
empty (the snapshots show layout, not API behaviour; that is what test_app.py checks)."""

from __future__ import annotations

from datetime import UTC, datetime

from kvtui.core.cluster_info import ClusterInfo
from kvtui.core.model import ClusterModel
from kvtui.core.vm_templates import VMOptions, vm_manifest

FROZEN = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class StillClient:
    """Answers every GET with an empty list: no network in snapshot tests."""
    requests = 0

    def get(self, path: str) -> dict:
        return {"items": [], "gitVersion": "v1.37.0-kvtui"}

    def request(self, method: str, path: str, **kwargs) -> dict:
        return {"items": []}


def _vm(name: str, status: str, strategy: str, cpu: int, memory: str, ns: str = "default") -> dict:
    vm = vm_manifest(VMOptions(name=name, cpu=cpu, memory=memory, run_strategy=strategy, namespace=ns))
    vm["metadata"].update(uid=f"uid-{name}", creationTimestamp="2030-01-01T09:30:00Z", resourceVersion="7")
    ready = "True" if status == "Running" else "False"
    vm["status"] = {"printableStatus": status, "conditions": [{"type": "Ready", "status": ready}]}
    return vm


def _vmi(name: str, ip: str, ns: str = "default") -> dict:
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"name": name, "namespace": ns, "uid": f"vmi-{name}", "creationTimestamp": "2030-01-01T11:58:00Z"},
            "status": {"phase": "Running", "nodeName": "kvtui-node", "interfaces": [{"ipAddress": ip}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"virt-launcher-{name}-x7k2p", "namespace": ns, "creationTimestamp": "2030-01-01T11:58:00Z",
                         "labels": {"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": name,
                                    "kubevirt.io/created-by": f"vmi-{name}"}},
            "spec": {"nodeName": "kvtui-node", "containers": [{"name": "compute"}, {"name": "guest-console-log"}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": True, "restartCount": 0},
                                                                  {"ready": True, "restartCount": 0}]}}


def demo_model() -> ClusterModel:
    model = ClusterModel(client=None)
    for vm in (_vm("demo", "Running", "Always", 1, "128Mi"), _vm("db", "Stopped", "Halted", 2, "1Gi"),
               _vm("web", "CrashLoopBackOff", "Always", 2, "512Mi", ns="prod")):
        model.apply("vm", "ADDED", vm)
    model.apply("vmi", "ADDED", _vmi("demo", "10.0.2.15"))
    model.apply("pod", "ADDED", _pod("demo"))
    model.apply("node", "ADDED", {"metadata": {"name": "kvtui-node"},
                                  "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    model.synced.update({"vm", "vmi", "pod", "node"})
    return model


INFO = ClusterInfo("kvtui", "kvtui", "admin", "v1.37.0-kvtui", "")
