"""VMI → launcher pod: creates the pod, walks Pending → Scheduling → Scheduled, fails a VMI whose
pod is gone, and on deletion removes the pod, then the finalizer.

From Scheduled on, the launcher owns the phase (Running, Succeeded, Failed); this controller only
steps in when the pod disappears or dies.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

from ..client import APIError, resource_path
from .launcher_pod import LauncherSettings, launcher_pod_for
from .validation import vmi_spec_problems

log = logging.getLogger("kvtui.reconciler")

VMI_FINALIZER = "kubevirt.io/foregroundDeleteVirtualMachine"
FINAL = ("Succeeded", "Failed")


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_ready(pod: dict) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def launcher_started(pod: dict) -> bool:
    """The hand-over point Scheduling → Scheduled. KubeVirt takes the pod's Ready condition, which
    there turns True once the launcher serves its command socket, before the domain starts. Here
    the pod turns Ready once the domain runs (the compute container's readiness probe), so the
    launcher container running is the equivalent moment."""
    if pod_ready(pod):
        return True
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        if entry.get("name") == "compute" and "running" in (entry.get("state") or {}):
            return True
    return False


def pod_condition(pod: dict, type_: str) -> dict | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def set_condition(status: dict, type_: str, value: str, reason: str = "", message: str = "") -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)
    stamp = old["lastTransitionTime"] if old and old.get("status") == value and old.get("lastTransitionTime") \
        else now_stamp()
    cond = {"type": type_, "status": value, "lastProbeTime": None, "lastTransitionTime": stamp}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    conditions.append(cond)
    status["conditions"] = conditions


def drop_condition(status: dict, type_: str) -> None:
    if status.get("conditions"):
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != type_]


def set_phase(status: dict, phase: str) -> None:
    if status.get("phase") == phase:
        return
    status["phase"] = phase
    stamps = [s for s in status.get("phaseTransitionTimestamps") or [] if s.get("phase") != phase]
    stamps.append({"phase": phase, "phaseTransitionTimestamp": now_stamp()})
    status["phaseTransitionTimestamps"] = stamps


LAUNCHER_CLUSTER_ROLE = "kvtui-launcher"   # manifests/rbac/launcher.yaml


class VMIController:
    def __init__(self, reconciler):
        self.r = reconciler
        self._launcher_access: set[str] = set()   # namespaces where the launcher's identity is known to exist

    def pods_of(self, vmi: dict) -> list[dict]:
        uid = vmi["metadata"]["uid"]
        ns = vmi["metadata"]["namespace"]
        return [p for p in self.r.pods.list()
                if p["metadata"].get("namespace") == ns
                and (p["metadata"].get("labels") or {}).get("kubevirt.io/created-by") == uid]

    def sync(self, namespace: str, name: str) -> float | None:
        vmi = self.r.vmis.get(namespace, name)
        if vmi is None:
            return None
        path = resource_path("kubevirt.io", "v1", "virtualmachineinstances", namespace, name)
        pods = self.pods_of(vmi)
        meta = vmi["metadata"]
        if meta.get("deletionTimestamp"):
            self._delete_pods(vmi, pods)
            if not [p for p in pods if self.r.pods.get(namespace, p["metadata"]["name"])]:
                self._remove_finalizer(vmi, path)
            return None
        status = copy.deepcopy(vmi.get("status") or {})
        labels: dict[str, str] = {}   # label changes, written with the status
        phase = status.get("phase", "")
        if phase in FINAL:
            self._delete_pods(vmi, [p for p in pods if (p.get("status") or {}).get("phase") not in FINAL])
            self._write_status(vmi, path, status)
            return None
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if phase in ("", "Pending"):
            problems = vmi_spec_problems(vmi.get("spec") or {}, self.r.config())
            if problems:
                set_phase(status, "Failed")
                status["reason"] = "InvalidSpec"
                set_condition(status, "Synchronized", "False", "InvalidSpec", "; ".join(problems))
                self.r.recorder.warning(vmi, "FailedCreate", "; ".join(problems))
                self._write_status(vmi, path, status)
                return None
            if not pods:
                live = [self._create_pod(vmi)]
                set_phase(status, "Scheduling")
            elif live:
                set_phase(status, "Scheduling")
        elif phase == "Scheduling":
            if not live and self._launcher_pod_listed(vmi):
                return 0.5   # the pod cache lags behind the VMI cache: look again once it has the pod
            if not live:
                set_phase(status, "Failed")
                status["reason"] = "PodNotExists"
                self.r.recorder.warning(vmi, "FailedCreate", "the launcher pod disappeared before the VMI was scheduled")
            else:
                pod = live[0]
                self._mirror_scheduling(status, pod)
                if launcher_started(pod):
                    node = pod["spec"].get("nodeName", "")
                    set_phase(status, "Scheduled")
                    status["nodeName"] = node
                    labels.update(self._node_label(vmi, node))
                elif (pod.get("status") or {}).get("phase") in FINAL:
                    set_phase(status, "Failed")
                    status["reason"] = "LauncherFailed"
                    self.r.recorder.warning(vmi, "FailedCreate", f"launcher pod {pod['metadata']['name']} ended "
                                            f"({pod['status']['phase']}) before the VMI was scheduled")
        else:   # Scheduled, Running: the launcher reports; the pod must stay
            if not live:
                set_phase(status, "Failed")
                status["reason"] = "PodNotExists"
                self.r.recorder.warning(vmi, "Stopped", "The VirtualMachineInstance crashed: its launcher pod is gone.")
            else:
                pod = live[0]
                node = pod["spec"].get("nodeName", "")
                if node:   # the launcher may report Running before this controller saw Scheduled
                    status.setdefault("nodeName", node)
                    labels.update(self._node_label(vmi, node))
                if (pod.get("status") or {}).get("phase") in FINAL:
                    set_phase(status, "Failed")
                    status["reason"] = "LauncherExited"
                    self.r.recorder.warning(vmi, "Stopped", f"The VirtualMachineInstance crashed: launcher pod "
                                            f"{pod['metadata']['name']} ended ({pod['status']['phase']}).")
        self._sync_ready(status, live[0] if live else None)
        self._write_status(vmi, path, status, labels)
        return None

    def _mirror_scheduling(self, status: dict, pod: dict) -> None:
        cond = pod_condition(pod, "PodScheduled")
        if cond and cond.get("status") == "False":
            set_condition(status, "PodScheduled", "False", cond.get("reason", ""), cond.get("message", ""))
        else:
            drop_condition(status, "PodScheduled")

    def _sync_ready(self, status: dict, pod: dict | None) -> None:
        if status.get("phase") == "Running" and pod is not None and not pod["metadata"].get("deletionTimestamp"):
            return   # a running guest's readiness is the launcher's to report; two writers would ping-pong
        paused = any(c.get("type") == "Paused" and c.get("status") == "True" for c in status.get("conditions") or [])
        if pod is None:
            set_condition(status, "Ready", "False", "PodNotExists", "virt-launcher pod has not yet been scheduled")
        elif pod["metadata"].get("deletionTimestamp"):
            set_condition(status, "Ready", "False", "PodTerminating", "virt-launcher pod is terminating")
        elif status.get("phase") != "Running":
            set_condition(status, "Ready", "False", "GuestNotRunning", "Guest VM is not reported as running")
        elif paused:
            set_condition(status, "Ready", "False", "PausedByUser", "the VMI is paused")
        elif pod_ready(pod):
            set_condition(status, "Ready", "True")
        else:
            set_condition(status, "Ready", "False", "PodNotReady", "virt-launcher pod is not ready")

    def _launcher_pod_listed(self, vmi: dict) -> bool:
        """Whether the API server has a live launcher pod for the VMI, which the cache may not show
        yet: a VMI fails for a missing pod only when the pod is really gone."""
        ns, uid = vmi["metadata"]["namespace"], vmi["metadata"]["uid"]
        listing = self.r.client.request("GET", resource_path("", "v1", "pods", ns),
                                        query={"labelSelector": f"kubevirt.io/created-by={uid}"})
        return any(not p["metadata"].get("deletionTimestamp") for p in listing.get("items") or [])

    def _create_pod(self, vmi: dict) -> dict:
        config = self.r.config()
        settings = LauncherSettings(image=self.r.launcher_image, feature_gates=sorted(config.feature_gates),
                                    use_emulation=config.use_emulation or self.r.use_emulation,
                                    service_account=self.r.launcher_service_account)
        pod = launcher_pod_for(vmi, settings)
        ns = vmi["metadata"]["namespace"]
        self._ensure_launcher_access(ns, settings.service_account)
        try:
            created = self.r.client.create(resource_path("", "v1", "pods", ns), pod)
        except APIError as exc:
            self._launcher_access.discard(ns)   # the namespace may have been recreated: check again next time
            self.r.recorder.warning(vmi, "FailedCreate", f"Error creating pod: {exc.message}")
            raise
        self.r.expect_pod(vmi["metadata"]["uid"], created)
        self.r.recorder.normal(vmi, "SuccessfulCreate", f"Created virtual machine pod {created['metadata']['name']}")
        return created

    def _ensure_launcher_access(self, namespace: str, service_account: str) -> None:
        """The launcher's ServiceAccount and its RoleBinding to the `kvtui-launcher` ClusterRole, before
        the first launcher pod of a namespace: a real cluster rejects a pod whose service account does
        not exist. Create-only (409 means it is there), so the reconciler needs no read access to them."""
        if namespace in self._launcher_access:
            return
        account = {"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": service_account, "namespace": namespace,
                                "labels": {"app.kubernetes.io/part-of": "kvtui"}}}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": service_account, "namespace": namespace,
                                "labels": {"app.kubernetes.io/part-of": "kvtui"}},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": LAUNCHER_CLUSTER_ROLE},
                   "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]}
        for path, body in ((resource_path("", "v1", "serviceaccounts", namespace), account),
                           (resource_path("rbac.authorization.k8s.io", "v1", "rolebindings", namespace), binding)):
            try:
                self.r.client.create(path, body)
            except APIError as exc:
                if exc.status != 409:
                    raise
        self._launcher_access.add(namespace)

    def _delete_pods(self, vmi: dict, pods: list[dict]) -> None:
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            try:
                self.r.client.delete(resource_path("", "v1", "pods", ns, name), uid=pod["metadata"]["uid"])
                self.r.recorder.normal(vmi, "SuccessfulDelete", f"Deleted virtual machine pod {name}")
            except APIError as exc:
                if exc.status != 404:
                    self.r.recorder.warning(vmi, "FailedDelete", f"Error deleting pod {name}: {exc.message}")
                    raise

    def _remove_finalizer(self, vmi: dict, path: str) -> None:
        finalizers = vmi["metadata"].get("finalizers") or []
        if VMI_FINALIZER not in finalizers:
            return
        try:
            self.r.client.json_patch(path, [
                {"op": "test", "path": "/metadata/resourceVersion", "value": vmi["metadata"]["resourceVersion"]},
                {"op": "replace", "path": "/metadata/finalizers", "value": [f for f in finalizers if f != VMI_FINALIZER]}])
        except APIError as exc:
            if exc.status not in (404, 422):
                raise

    @staticmethod
    def _node_label(vmi: dict, node: str) -> dict[str, str]:
        labels = vmi["metadata"].get("labels") or {}
        return {} if labels.get("kubevirt.io/nodeName") == node else {"kubevirt.io/nodeName": node}

    def _write_status(self, vmi: dict, path: str, status: dict, labels: dict[str, str] | None = None) -> None:
        """One write for all the VMI needs: its status, KubeVirt's finalizer while it is missing, and
        label changes. The VMI has no status subresource (as in KubeVirt): a merge patch guarded by the
        resourceVersion, so a launcher's concurrent write is never overwritten."""
        meta = vmi["metadata"]
        changes: dict[str, Any] = {}
        finalizers = meta.get("finalizers") or []
        if VMI_FINALIZER not in finalizers and not meta.get("deletionTimestamp"):
            changes["finalizers"] = [*finalizers, VMI_FINALIZER]
        if labels:
            changes["labels"] = labels
        if not changes and _stored(status) == _stored(vmi.get("status") or {}):
            return
        patch = dict(status)
        for key in vmi.get("status") or {}:
            patch.setdefault(key, None)
        self.r.client.merge_patch(path, {"metadata": {"resourceVersion": meta["resourceVersion"], **changes},
                                         "status": patch})


def _stored(value: Any) -> Any:
    """A value as the API server keeps it: null fields are pruned (a condition's `lastProbeTime: null`
    is never stored), so comparing with them kept would rewrite an unchanged status on every sync."""
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_stored(v) for v in value]
    return value
