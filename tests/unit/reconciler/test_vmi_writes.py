"""How few writes the VMI controller makes: a new VMI's finalizer, its launcher pod's Scheduling
phase and Ready condition go in one patch; the node label goes with the Scheduled status; an
unchanged status (as the API server stores it, nulls pruned) is not written again."""

from __future__ import annotations

import copy

from cluster.reconciler.config import ClusterConfig
from cluster.reconciler.vmi_controller import VMI_FINALIZER, VMIController


class Cache:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict] = {}

    def get(self, namespace: str, name: str) -> dict | None:
        return self.items.get((namespace, name))

    def list(self) -> list[dict]:
        return list(self.items.values())

    def put(self, obj: dict) -> None:
        self.items[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def normal(self, obj: dict, reason: str, message: str) -> None:
        self.events.append((reason, message))

    def warning(self, obj: dict, reason: str, message: str) -> None:
        self.events.append((reason, message))


class Client:
    """Applies merge patches to the VMI cache the way the API server stores them."""

    def __init__(self, vmis: Cache) -> None:
        self.vmis = vmis
        self.writes: list[tuple[str, str, object]] = []
        self.api_pods: list[dict] = []   # what a LIST of pods answers (the cache may lag behind it)

    def request(self, method: str, path: str, *, query: dict | None = None) -> dict:
        assert method == "GET" and path == "/api/v1/namespaces/default/pods"
        assert query == {"labelSelector": "kubevirt.io/created-by=vmi-uid"}
        return {"items": self.api_pods}

    def create(self, path: str, body: dict) -> dict:
        self.writes.append(("create", path, body))
        created = copy.deepcopy(body)
        created["metadata"].setdefault("name", body["metadata"].get("generateName", "") + "abcde")
        created["metadata"]["uid"] = "pod-uid"
        return created

    def merge_patch(self, path: str, patch: dict) -> dict:
        self.writes.append(("patch", path, patch))
        name = path.rsplit("/", 1)[1]
        vmi = self.vmis.get("default", name)
        assert patch["metadata"]["resourceVersion"] == vmi["metadata"]["resourceVersion"]
        for key in ("finalizers", "labels"):
            if key in patch["metadata"]:
                vmi["metadata"][key] = {**vmi["metadata"].get(key, {}), **patch["metadata"][key]} \
                    if key == "labels" else patch["metadata"][key]
        status = {k: v for k, v in patch["status"].items() if v is not None}
        for condition in status.get("conditions", []):
            for key in [k for k, v in condition.items() if v is None]:
                del condition[key]
        vmi["status"] = status
        vmi["metadata"]["resourceVersion"] = str(int(vmi["metadata"]["resourceVersion"]) + 1)
        return vmi


class Reconciler:
    def __init__(self) -> None:
        self.vmis, self.pods = Cache(), Cache()
        self.client, self.recorder = Client(self.vmis), Recorder()
        self.launcher_image, self.use_emulation, self.launcher_service_account = "launcher", True, "kvtui-launcher"
        self.expected: dict[str, dict] = {}

    def config(self) -> ClusterConfig:
        return ClusterConfig()

    def expect_pod(self, vmi_uid: str, pod: dict) -> None:
        self.expected[vmi_uid] = pod


def test_a_new_vmi_is_scheduled_and_labelled_in_two_writes_and_then_left_alone():
    r = Reconciler()
    controller = VMIController(r)
    controller._launcher_access.add("default")
    r.vmis.put({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": "demo", "namespace": "default", "uid": "vmi-uid", "resourceVersion": "1"},
                "spec": {"domain": {"memory": {"guest": "96Mi"}, "devices": {}}}})
    controller.sync("default", "demo")
    creates = [w for w in r.client.writes if w[0] == "create"]
    patches = [w[2] for w in r.client.writes if w[0] == "patch"]
    assert len(creates) == 1 and len(patches) == 1
    assert patches[0]["metadata"]["finalizers"] == [VMI_FINALIZER]
    vmi = r.vmis.get("default", "demo")
    assert vmi["status"]["phase"] == "Scheduling"
    assert [(c["type"], c["reason"]) for c in vmi["status"]["conditions"]] == [("Ready", "GuestNotRunning")]

    pod = copy.deepcopy(creates[0][2])
    pod["metadata"].update(name="virt-launcher-demo-abcde", namespace="default")
    pod["spec"]["nodeName"] = "node-0"
    pod["status"] = {"phase": "Pending"}
    r.pods.put(pod)
    controller.sync("default", "demo")            # nothing changed but the pod's existence: no write
    assert len(r.client.writes) == 2

    pod["status"] = {"phase": "Running", "containerStatuses": [
        {"name": "compute", "state": {"running": {}}, "ready": True, "started": True}],
        "conditions": [{"type": "Ready", "status": "True"}]}
    controller.sync("default", "demo")
    patch = r.client.writes[-1][2]
    assert patch["metadata"]["labels"] == {"kubevirt.io/nodeName": "node-0"} and "finalizers" not in patch["metadata"]
    assert vmi["status"]["phase"] == "Scheduled" and vmi["status"]["nodeName"] == "node-0"
    writes = len(r.client.writes)
    controller.sync("default", "demo")
    controller.sync("default", "demo")
    assert len(r.client.writes) == writes


def test_a_pod_the_cache_does_not_show_yet_does_not_fail_the_vmi():
    r = Reconciler()
    controller = VMIController(r)
    r.vmis.put({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": "demo", "namespace": "default", "uid": "vmi-uid", "resourceVersion": "5",
                             "finalizers": [VMI_FINALIZER]},
                "spec": {"domain": {"memory": {"guest": "96Mi"}, "devices": {}}},
                "status": {"phase": "Scheduling"}})
    r.client.api_pods = [{"metadata": {"name": "virt-launcher-demo-abcde"}}]
    assert controller.sync("default", "demo") == 0.5      # look again soon; nothing written
    assert r.client.writes == [] and r.recorder.events == []
    r.client.api_pods = []                                # really gone: the VMI fails, as KubeVirt's does
    controller.sync("default", "demo")
    vmi = r.vmis.get("default", "demo")
    assert (vmi["status"]["phase"], vmi["status"]["reason"]) == ("Failed", "PodNotExists")
    assert r.recorder.events == [("FailedCreate", "the launcher pod disappeared before the VMI was scheduled")]
