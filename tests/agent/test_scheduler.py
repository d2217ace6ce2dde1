"""The default scheduler in the embedded API server: binding, fit rules and kube-scheduler's messages.

Nodes here are plain API objects the test creates (no node agent runs), so pods stay bound but
Pending; what is asserted is where they are bound and what `kubectl describe` says.
"""

from __future__ import annotations

import json
import time

import pytest

from cluster.apiserver.controllers.scheduler import (
    NodeState,
    Scheduler,
    Verdict,
    filter_node,
    pod_requests,
    unschedulable_message,
)
from cluster.apiserver.registry import Registry
from cluster.apiserver.resources import ResourceTypes
from cluster.apiserver.store import Store
from tests.api.conftest import start_cluster

GiB = 1024 ** 3


def _node_body(name: str, *, cpu: str = "2", memory: str = "4Gi", labels: dict | None = None,
               taints: list | None = None, unschedulable: bool = False, ready: str = "True") -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110", "devices.kubevirt.io/kvm": "1000"},
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110", "devices.kubevirt.io/kvm": "1000"},
            "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}],
        },
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("sched"))
    yield c
    c.handle.stop()


@pytest.fixture
def nodes(cluster):
    """Two nodes; tests change them as they need. Removed (with their pods) afterwards."""
    from kubernetes import client, config

    api = config.new_client_from_config(str(cluster.kubeconfig))
    v1 = client.CoreV1Api(api)

    def put(body: dict) -> None:
        name = body["metadata"]["name"]
        try:
            current = v1.read_node(name, _preload_content=False)
        except client.ApiException:
            v1.create_node(body)
            current = v1.read_node(name, _preload_content=False)
        existing = json.loads(current.data)
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": existing["metadata"]["resourceVersion"]}}
        v1.replace_node(name, body)
        existing = json.loads(v1.read_node(name, _preload_content=False).data)
        v1.replace_node_status(name, {**body, "metadata": {**body["metadata"], "resourceVersion":
                                                           existing["metadata"]["resourceVersion"]}})

    put(_node_body("node-a"))
    put(_node_body("node-b"))
    yield put
    cluster.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false")
    cluster.kubectl("delete", "nodes", "--all")
    api.close()


def _pod(cluster, name: str, *, requests: dict | None = None, spec: dict | None = None) -> None:
    container = {"name": "main", "image": "local/host", "command": ["sleep", "1000"]}
    if requests:
        container["resources"] = {"requests": requests}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **(spec or {})}}
    cluster.kubectl("create", "--validate=false", "-f", "-", input=json.dumps(body))


def _wait(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _node_of(cluster, pod: str) -> str:
    return _wait(lambda: cluster.kubectl("get", "pod", pod, "-o", "jsonpath={.spec.nodeName}").stdout)


def _scheduled_condition(cluster, pod: str) -> dict:
    def condition():
        obj = cluster.kubectl_json("get", "pod", pod)
        return next((c for c in obj["status"].get("conditions", []) if c["type"] == "PodScheduled"), None)
    return _wait(condition)


# -- end to end ------------------------------------------------------------------------


def test_pod_is_bound_and_the_scheduled_event_says_where(cluster, nodes):
    _pod(cluster, "web", requests={"cpu": "500m", "memory": "1Gi"})
    node = _node_of(cluster, "web")
    assert node in ("node-a", "node-b")
    condition = _scheduled_condition(cluster, "web")
    assert condition["status"] == "True"
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=web",
                             "-o", "jsonpath={range .items[*]}{.reason}|{.message}|{.source.component}{end}").stdout
    assert events == f"Scheduled|Successfully assigned default/web to {node}|default-scheduler"


def test_pods_spread_over_the_least_allocated_node(cluster, nodes):
    _pod(cluster, "one", requests={"cpu": "1"})
    first = _node_of(cluster, "one")
    _pod(cluster, "two", requests={"cpu": "1"})
    second = _node_of(cluster, "two")
    assert {first, second} == {"node-a", "node-b"}


def test_unschedulable_pod_says_why_in_describe_and_is_retried_when_nodes_change(cluster, nodes):
    nodes(_node_body("node-b", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    _pod(cluster, "big", requests={"memory": "8Gi"})
    expected = ("0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint "
                "{dedicated: gpu}. preemption: 0/2 nodes are available: 1 No preemption victims found for "
                "incoming pod, 1 Preemption is not helpful for scheduling.")
    condition = _scheduled_condition(cluster, "big")
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "Unschedulable", expected)
    described = cluster.kubectl("describe", "pod", "big").stdout
    assert "FailedScheduling" in described
    assert expected.split(". preemption")[0] in " ".join(described.split())
    assert cluster.kubectl("get", "pod", "big", "-o", "jsonpath={.status.phase}").stdout == "Pending"

    nodes(_node_body("node-a", memory="16Gi"))  # more room: the scheduler retries without being asked
    assert _node_of(cluster, "big") == "node-a"
    assert _scheduled_condition(cluster, "big")["status"] == "True"


def test_node_selector_affinity_tolerations_and_cordon(cluster, nodes):
    nodes(_node_body("node-a", labels={"disk": "ssd", "rack": "7"}))
    nodes(_node_body("node-b", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]))
    _pod(cluster, "picky", spec={"nodeSelector": {"disk": "ssd"}})
    assert _node_of(cluster, "picky") == "node-a"
    _pod(cluster, "tolerant", spec={
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoExecute"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}]}}}})
    assert _node_of(cluster, "tolerant") == "node-b"
    _pod(cluster, "rack", spec={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "rack", "operator": "Gt", "values": ["9"]}]}]}}}})
    assert _scheduled_condition(cluster, "rack")["message"] == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated "
        "taint {dedicated: gpu}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")

    cluster.kubectl("cordon", "node-a")
    nodes(_node_body("node-b", ready="False"))
    _pod(cluster, "cordoned")
    assert _scheduled_condition(cluster, "cordoned")["message"] == (
        "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "1 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for "
        "scheduling.")
    cluster.kubectl("uncordon", "node-a")
    assert _node_of(cluster, "cordoned") == "node-a"


def test_extended_resources_count_against_allocatable(cluster, nodes):
    _pod(cluster, "vm-1", requests={"devices.kubevirt.io/kvm": "600"})
    _pod(cluster, "vm-2", requests={"devices.kubevirt.io/kvm": "600"})
    assert {_node_of(cluster, "vm-1"), _node_of(cluster, "vm-2")} == {"node-a", "node-b"}
    _pod(cluster, "vm-3", requests={"devices.kubevirt.io/kvm": "600"})
    assert _scheduled_condition(cluster, "vm-3")["message"].startswith(
        "0/2 nodes are available: 2 Insufficient devices.kubevirt.io/kvm. preemption:")
    cluster.kubectl("delete", "pod", "vm-1", "--grace-period=0", "--force")
    assert _node_of(cluster, "vm-3") in ("node-a", "node-b")


def test_no_nodes_at_all(cluster):
    _pod(cluster, "lonely")
    assert _scheduled_condition(cluster, "lonely")["message"] == "no nodes available to schedule pods"
    cluster.kubectl("delete", "pod", "lonely", "--grace-period=0", "--force")


# -- the fit rules on their own --------------------------------------------------------


def _state(**kwargs) -> NodeState:
    body = _node_body("n", **kwargs)
    return NodeState(body, body["spec"]["taints"], {"cpu": 2000, "memory": 4 * GiB, "pods": 2})


def test_requests_take_limits_when_unset_and_the_largest_init_container():
    pod = {"spec": {
        "containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                       {"resources": {"requests": {"cpu": "250m"}}}],
        "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}]}}
    assert pod_requests(pod) == {"cpu": 2000, "memory": GiB}


def test_too_many_pods_and_insufficient_cpu_are_both_reported():
    node = _state()
    node.pods = 2
    verdict = filter_node({"spec": {"containers": [{"resources": {"requests": {"cpu": "3"}}}]}}, node)
    assert verdict == Verdict(["Too many pods", "Insufficient cpu"], True)


def test_toleration_operators():
    node = _state(taints=[{"key": "k", "value": "v", "effect": "NoSchedule"},
                          {"key": "soft", "effect": "PreferNoSchedule"}])
    assert filter_node({"spec": {"tolerations": [{"operator": "Exists"}]}}, node) is None
    assert filter_node({"spec": {"tolerations": [{"key": "k", "operator": "Exists"}]}}, node) is None
    assert filter_node({"spec": {"tolerations": [{"key": "k", "value": "other"}]}}, node).reasons == [
        "node(s) had untolerated taint {k: v}"]
    assert filter_node({"spec": {"tolerations": [{"key": "k", "value": "v", "effect": "NoExecute"}]}},
                       node) is not None


def test_message_counts_are_sorted_like_kube_scheduler():
    verdicts = {"a": Verdict(["Insufficient memory"], True), "b": Verdict(["Insufficient memory"], True),
                "c": Verdict(["node(s) were unschedulable"], False)}
    assert unschedulable_message(verdicts, 3) == (
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory. preemption: 0/3 nodes "
        "are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for "
        "incoming pod.")


def test_a_silent_node_turns_unknown_and_gets_no_pods(tmp_path):
    registry = Registry(Store(tmp_path / "state.db"), ResourceTypes())
    types = registry.types
    registry.create(types.get("", "v1", "namespaces"), "", {"metadata": {"name": "default"}})
    node = _node_body("quiet")
    node["status"]["conditions"][0]["lastHeartbeatTime"] = "2000-01-01T00:00:00Z"
    registry.create(types.get("", "v1", "nodes"), "", node)
    scheduler = Scheduler(registry)
    scheduler._mark_silent_nodes()
    ready = registry.get(types.get("", "v1", "nodes"), "", "quiet").obj["status"]["conditions"][0]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    pod = registry.create(types.get("", "v1", "pods"), "default", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "local/host"}]}}).obj
    assert scheduler.schedule(pod) is None
    stored = registry.get(types.get("", "v1", "pods"), "default", "p").obj
    assert stored["status"]["conditions"][-1]["message"].startswith(
        "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.")
