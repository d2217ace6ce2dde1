"""The default scheduler: binds pending pods to a Ready node that fits them, or says in
kube-scheduler's words (PodScheduled=False, a FailedScheduling event) why none does.

Filters run per node in kube-scheduler's order — NodeUnschedulable, TaintToleration, NodeAffinity,
NodeResourcesFit — and the first one that rejects a node gives that node's reasons. Among the
nodes that fit, the least allocated one wins (NodeResourcesFit's LeastAllocated score).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from ..errors import APIError
from ..metadata import now_rfc3339, parse_rfc3339
from ..registry import WriteOptions
from ..store import DELETED, Change
from .base import Controller

SCHEDULER_NAME = "default-scheduler"
NODE_LEASE_NAMESPACE = "kube-node-lease"
# The node lifecycle controller's node-monitor-grace-period: a node silent this long is unreachable.
NODE_GRACE = timedelta(seconds=40)
# Unschedulable pods are retried on every relevant change, and at least this often.
RETRY_INTERVAL = 60.0
# What LeastAllocated assumes a container without requests uses, so such pods still spread.
NON_ZERO_CPU_MILLI = 100
NON_ZERO_MEMORY = 200 * 1024 * 1024

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"

RETRY_ALL = ("retry-unschedulable",)
CHECK_NODES = ("check-node-heartbeats",)
NODE_CHECK_INTERVAL = 10.0


# -- what a pod asks for ------------------------------------------------------------------


def _amount(resource: str, value: Any) -> int:
    """cpu in millicores, everything else in whole units (bytes for memory)."""
    try:
        quantity = parse_quantity(value)
    except ValueError:
        return 0  # the API rejects malformed quantities; never let one stop scheduling
    if resource == "cpu":
        return int((quantity * 1000).to_integral_value(rounding="ROUND_CEILING"))
    return int(quantity.to_integral_value(rounding="ROUND_CEILING"))


def container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    """A container's requests; a resource with only a limit requests its limit, as API defaulting does."""
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: _amount(name, value) for name, value in merged.items()}


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """The sum over containers, at least the largest init container, plus the pod overhead."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        for name, amount in container_requests(container).items():
            total[name] = total.get(name, 0) + amount
    for container in spec.get("initContainers") or []:
        for name, amount in container_requests(container).items():
            total[name] = max(total.get(name, 0), amount)
    for name, value in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0) + _amount(name, value)
    return total


def _non_zero_requests(pod: Mapping[str, Any]) -> tuple[int, int]:
    cpu = memory = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = container_requests(container)
        cpu += requests.get("cpu") or NON_ZERO_CPU_MILLI
        memory += requests.get("memory") or NON_ZERO_MEMORY
    return cpu, memory


# -- the filters --------------------------------------------------------------------------


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(taints: list[Mapping[str, Any]], tolerations: list[Mapping[str, Any]]) -> Mapping | None:
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _requirement_matches(requirement: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key, operator = requirement.get("key", ""), requirement.get("operator", "")
    wanted = requirement.get("values") or []
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
    expressions = term.get("matchExpressions") or []
    field_expressions = term.get("matchFields") or []
    if not expressions and not field_expressions:
        return False  # an empty term selects no node
    return (all(_requirement_matches(r, labels) for r in expressions)
            and all(_requirement_matches(r, fields) for r in field_expressions))


def matches_node_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """nodeSelector and the required node affinity terms (ORed), as the NodeAffinity plugin checks them."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    fields = {"metadata.name": node["metadata"]["name"]}
    return any(_term_matches(term, labels, fields) for term in required.get("nodeSelectorTerms") or [])


@dataclass
class NodeState:
    """A node as the scheduler sees it: what it offers and what bound pods already take."""

    obj: dict
    taints: list[dict]
    allocatable: dict[str, int]
    requested: dict[str, int] = field(default_factory=dict)
    non_zero: list[int] = field(default_factory=lambda: [0, 0])
    pods: int = 0

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    def add(self, pod: Mapping[str, Any]) -> None:
        for name, amount in pod_requests(pod).items():
            self.requested[name] = self.requested.get(name, 0) + amount
        cpu, memory = _non_zero_requests(pod)
        self.non_zero[0] += cpu
        self.non_zero[1] += memory
        self.pods += 1


@dataclass
class Verdict:
    reasons: list[str]
    resolvable: bool  # could evicting pods help? (only for resource shortfalls)


def filter_node(pod: Mapping[str, Any], node: NodeState) -> Verdict | None:
    """None when the pod fits the node, else why not."""
    spec = pod.get("spec") or {}
    tolerations = spec.get("tolerations") or []
    if (node.obj.get("spec") or {}).get("unschedulable") and not any(
            tolerates(t, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}) for t in tolerations):
        return Verdict(["node(s) were unschedulable"], False)
    taint = untolerated_taint(node.taints, tolerations)
    if taint is not None:
        return Verdict([f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"],
                       False)
    if not matches_node_affinity(pod, node.obj):
        return Verdict(["node(s) didn't match Pod's node affinity/selector"], False)
    reasons = []
    if node.pods + 1 > node.allocatable.get("pods", 0):
        reasons.append("Too many pods")
    for name, amount in sorted(pod_requests(pod).items()):
        if amount > 0 and node.requested.get(name, 0) + amount > node.allocatable.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Verdict(reasons, True) if reasons else None


def least_allocated_score(pod: Mapping[str, Any], node: NodeState) -> float:
    cpu, memory = _non_zero_requests(pod)
    scores = []
    for capacity, used in ((node.allocatable.get("cpu", 0), node.non_zero[0] + cpu),
                           (node.allocatable.get("memory", 0), node.non_zero[1] + memory)):
        scores.append(0.0 if capacity <= 0 else max(0.0, (capacity - used) / capacity))
    return sum(scores) / len(scores)


def unschedulable_message(verdicts: Mapping[str, Verdict], total: int) -> str:
    """kube-scheduler's FitError text, including what its preemption pass would add."""
    if total == 0:
        return "no nodes available to schedule pods"
    histogram: dict[str, int] = {}
    preemption: dict[str, int] = {}
    for verdict in verdicts.values():
        for reason in verdict.reasons:
            histogram[reason] = histogram.get(reason, 0) + 1
        outcome = ("No preemption victims found for incoming pod" if verdict.resolvable
                   else "Preemption is not helpful for scheduling")
        preemption[outcome] = preemption.get(outcome, 0) + 1

    def sorted_counts(counts: Mapping[str, int]) -> str:
        return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))

    return (f"0/{total} nodes are available: {sorted_counts(histogram)}. "
            f"preemption: 0/{total} nodes are available: {sorted_counts(preemption)}.")


# -- the controller -----------------------------------------------------------------------


def _is_pending_unbound(pod: Mapping[str, Any]) -> bool:
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    return (not spec.get("nodeName") and not meta.get("deletionTimestamp")
            and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
            and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
            and not spec.get("schedulingGates"))


def _holds_resources(pod: Mapping[str, Any]) -> bool:
    return (bool((pod.get("spec") or {}).get("nodeName"))
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))


def _scheduling_view(node: Mapping[str, Any] | None) -> Any:
    """The parts of a Node that change scheduling decisions (heartbeat timestamps excluded)."""
    if node is None:
        return None
    ready = next((c.get("status") for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), None)
    return ((node.get("metadata") or {}).get("labels"), node.get("spec"),
            (node.get("status") or {}).get("allocatable"), ready)


class Scheduler(Controller):
    name = "scheduler"

    def observe(self, change: Change) -> None:
        if change.resource == "pods":
            self._observe_pod(change)
        elif change.resource == "nodes":
            if change.type == DELETED or _scheduling_view(change.obj) != _scheduling_view(change.previous):
                self.enqueue(RETRY_ALL)

    def _observe_pod(self, change: Change) -> None:
        pod = change.obj
        if change.type != DELETED and _is_pending_unbound(pod):
            self.enqueue(("pod", change.namespace, change.name))
            return
        # A bound pod that went away or finished frees room for pods that did not fit.
        held_before = change.previous is not None and _holds_resources(change.previous)
        if held_before and (change.type == DELETED or not _holds_resources(pod)):
            self.enqueue(RETRY_ALL)

    def resync(self) -> None:
        self.enqueue(RETRY_ALL)

    async def run(self) -> None:
        async def periodic() -> None:
            waited = 0.0
            while True:
                await asyncio.sleep(NODE_CHECK_INTERVAL)
                waited += NODE_CHECK_INTERVAL
                self.enqueue(CHECK_NODES)
                if waited >= RETRY_INTERVAL:
                    waited = 0.0
                    self.enqueue(RETRY_ALL)

        ticker = asyncio.create_task(periodic())
        try:
            await super().run()
        finally:
            ticker.cancel()

    async def reconcile(self, key: Hashable) -> None:
        if key == CHECK_NODES:
            self._mark_silent_nodes()
            return
        if key == RETRY_ALL:
            for stored in self.store.list("pods"):
                if _is_pending_unbound(stored.obj):
                    meta = stored.obj["metadata"]
                    self.enqueue(("pod", meta["namespace"], meta["name"]))
            return
        _, namespace, name = key  # type: ignore[misc]
        stored = self.store.get("pods", namespace, name)
        if stored is None or not _is_pending_unbound(stored.obj):
            return
        self.schedule(stored.obj)

    # -- one scheduling attempt ----------------------------------------------------------

    def schedule(self, pod: dict) -> str | None:
        """Bind the pod to the best node, or record why it cannot run; returns the node name."""
        nodes = self._node_states()
        verdicts: dict[str, Verdict] = {}
        feasible: list[NodeState] = []
        for node in nodes:
            verdict = filter_node(pod, node)
            if verdict is None:
                feasible.append(node)
            else:
                verdicts[node.name] = verdict
        meta = pod["metadata"]
        if not feasible:
            self._report_unschedulable(pod, unschedulable_message(verdicts, len(nodes)))
            return None
        best = min(feasible, key=lambda n: (-least_allocated_score(pod, n), n.name))
        try:
            self.registry.bind_pod(meta["namespace"], meta["name"], best.name)
        except APIError as exc:
            if exc.code == 409:
                return None  # bound or deleted meanwhile: nothing left to do
            raise
        self._event(pod, "Normal", "Scheduled",
                    f"Successfully assigned {meta['namespace']}/{meta['name']} to {best.name}")
        return best.name

    def _node_states(self) -> list[NodeState]:
        now = self.registry.clock()
        states = {}
        for stored in self.store.list("nodes"):
            node = stored.obj
            allocatable = {name: _amount(name, value) for name, value in
                           ((node.get("status") or {}).get("allocatable") or {}).items()}
            states[node["metadata"]["name"]] = NodeState(node, self._effective_taints(node, now), allocatable)
        for stored in self.store.list("pods"):
            pod = stored.obj
            state = states.get((pod.get("spec") or {}).get("nodeName") or "")
            if state is not None and _holds_resources(pod):
                state.add(pod)
        return list(states.values())

    def _effective_taints(self, node: Mapping[str, Any], now: datetime) -> list[dict]:
        """The node's taints plus those the node lifecycle controller would add for its condition."""
        taints = list((node.get("spec") or {}).get("taints") or [])
        ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                     None)
        status = (ready or {}).get("status", "Unknown")
        if status == "False":
            taints.append({"key": NOT_READY_TAINT, "effect": "NoSchedule"})
        elif status != "True" or self._silent_since(node, ready or {}, now):
            taints.append({"key": UNREACHABLE_TAINT, "effect": "NoSchedule"})
        return taints

    def _silent_since(self, node: Mapping[str, Any], ready: Mapping[str, Any], now: datetime) -> bool:
        beats = [ready.get("lastHeartbeatTime")]
        lease = self.store.get("coordination.k8s.io/leases", NODE_LEASE_NAMESPACE, node["metadata"]["name"])
        if lease is not None:
            beats.append((lease.obj.get("spec") or {}).get("renewTime"))
        times = []
        for beat in beats:
            try:
                times.append(parse_rfc3339(beat))
            except (AttributeError, TypeError, ValueError):
                continue  # absent or malformed
        # A node that never reported a heartbeat time is judged by its Ready condition alone.
        return bool(times) and now - max(times) > NODE_GRACE

    def _mark_silent_nodes(self) -> None:
        """What the node lifecycle controller does for a node whose agent went quiet: its conditions
        become Unknown, so `kubectl get nodes` says NotReady and nothing new is bound there."""
        now = self.registry.clock()
        rt = self.registry.types.get("", "v1", "nodes")
        assert rt is not None
        for stored in self.store.list("nodes"):
            node = stored.obj
            conditions = (node.get("status") or {}).get("conditions") or []
            ready = next((c for c in conditions if c.get("type") == "Ready"), None)
            if ready is None or ready.get("status") != "True" or not self._silent_since(node, ready, now):
                continue
            stamp = now_rfc3339(now)
            changed = [{**c, "status": "Unknown", "reason": "NodeStatusUnknown", "lastTransitionTime": stamp,
                        "message": "Kubelet stopped posting node status."} for c in conditions]
            body = {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                    "status": {**node["status"], "conditions": changed}}
            try:
                self.registry.update(rt, "", node["metadata"]["name"], body, WriteOptions(), subresource="status")
            except APIError as exc:
                if exc.code not in (404, 409):
                    raise

    def _report_unschedulable(self, pod: dict, message: str) -> None:
        meta = pod["metadata"]
        status = pod.get("status") or {}
        current = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if current and current.get("status") == "False" and current.get("message") == message:
            return  # said already; retries with the same outcome stay quiet
        condition = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                     "lastTransitionTime": now_rfc3339(self.registry.clock()), "reason": "Unschedulable",
                     "message": message}
        if current and current.get("status") == "False" and current.get("lastTransitionTime"):
            condition["lastTransitionTime"] = current["lastTransitionTime"]
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        body = {"metadata": {"resourceVersion": meta["resourceVersion"]},
                "status": {**status, "conditions": [*conditions, condition]}}
        rt = self.registry.types.get("", "v1", "pods")
        assert rt is not None
        self.registry.update(rt, meta["namespace"], meta["name"], body, WriteOptions(), subresource="status")
        self._event(pod, "Warning", "FailedScheduling", message)

    def _event(self, pod: dict, type_: str, reason: str, message: str) -> None:
        meta = pod["metadata"]
        stamp = now_rfc3339(self.registry.clock())
        event = {
            "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta["namespace"]},
            "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": meta["namespace"],
                               "name": meta["name"], "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "type": type_, "reason": reason, "message": message,
            "source": {"component": SCHEDULER_NAME}, "reportingComponent": SCHEDULER_NAME,
            "reportingInstance": SCHEDULER_NAME, "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "action": "Scheduling" if reason == "FailedScheduling" else "Binding",
        }
        rt = self.registry.types.get("", "v1", "events")
        assert rt is not None
        try:
            self.registry.create(rt, meta["namespace"], event, WriteOptions())
        except APIError as exc:
            if exc.code not in (403, 409):  # namespace terminating, or a same-nanosecond name
                raise
