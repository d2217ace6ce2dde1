"""Per-kind rules the generic registry applies on create and update (Kubernetes' "strategies")."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

from .metadata import now_rfc3339

NAMESPACE_FINALIZER = "kubernetes"
CRD_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

# Name rules per kind: most names are DNS-1123 subdomains, a few are labels, CRs only path segments.
LABEL_NAMED = {("", "Namespace"), ("", "Service")}


def name_rule(group: str, kind: str, custom: bool) -> str:
    if custom:
        return "segment"
    return "label" if (group, kind) in LABEL_NAMED else "subdomain"


def prepare_for_create(group: str, kind: str, obj: dict[str, Any], *, service_ips: ServiceIPs | None = None) -> None:
    fn = _CREATE.get((group, kind))
    if fn is not None:
        if (group, kind) == ("", "Service"):
            fn(obj, service_ips)
        else:
            fn(obj)


def prepare_for_update(group: str, kind: str, new: dict[str, Any], old: dict[str, Any]) -> None:
    fn = _UPDATE.get((group, kind))
    if fn is not None:
        fn(new, old)


def _namespace_create(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if NAMESPACE_FINALIZER not in spec.setdefault("finalizers", []):
        spec["finalizers"].append(NAMESPACE_FINALIZER)
    obj["status"] = {"phase": "Active"}
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def _namespace_update(new: dict, old: dict) -> None:
    # spec.finalizers change only through /finalize; the name label is kept.
    new["spec"] = old.get("spec", {})
    new["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = new["metadata"]["name"]


def _pod_create(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("securityContext", {})
    spec.setdefault("tolerations", [])
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        image = container.get("image", "")
        container.setdefault("imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in image
                             else "IfNotPresent")
        container.setdefault("resources", {})
    obj["status"] = {"phase": "Pending", "qosClass": pod_qos_class(spec)}


def pod_qos_class(spec: dict) -> str:
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    requests_any = limits_all = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            requests_any = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
        limits_all = limits_all or bool(lim)
    if not requests_any:
        return "BestEffort"
    return "Guaranteed" if guaranteed and containers else "Burstable"


def _pod_update(new: dict, old: dict) -> None:
    # Pod spec is immutable but for a few fields; the node binding is kept.
    if old.get("spec", {}).get("nodeName") and not new.get("spec", {}).get("nodeName"):
        new.setdefault("spec", {})["nodeName"] = old["spec"]["nodeName"]


def _secret_create(obj: dict) -> None:
    obj.setdefault("type", "Opaque")
    _fold_string_data(obj)


def _secret_update(new: dict, old: dict) -> None:
    _fold_string_data(new)


def _fold_string_data(obj: dict) -> None:
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


class ServiceIPs:
    """Hands out cluster IPs for Services. They are names in the API only: nothing routes them."""

    def __init__(self, cidr: str = "10.43.0.0/16"):
        self._net = ipaddress.ip_network(cidr)
        self._used: set[str] = set()
        self._next = 1

    def mark_used(self, ip: str) -> None:
        self._used.add(ip)

    def allocate(self) -> str:
        size = self._net.num_addresses - 2
        for _ in range(size):
            candidate = str(self._net.network_address + self._next)
            self._next = self._next % size + 1
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate
        raise RuntimeError("service IP range exhausted")


def _service_create(obj: dict, ips: ServiceIPs | None) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports", []):
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    if spec.get("clusterIP") != "None" and ips is not None and not spec.get("clusterIP"):
        spec["clusterIP"] = ips.allocate()
    if spec.get("clusterIP"):
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    obj.setdefault("status", {"loadBalancer": {}})


def _service_update(new: dict, old: dict) -> None:
    spec = new.setdefault("spec", {})
    old_spec = old.get("spec", {})
    if old_spec.get("clusterIP") and not spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])


def _event_create(obj: dict) -> None:
    stamp = now_rfc3339()
    if not obj.get("eventTime"):
        obj.setdefault("firstTimestamp", stamp)
        obj.setdefault("lastTimestamp", obj.get("firstTimestamp") or stamp)
    obj.setdefault("count", 1)
    obj.setdefault("type", "Normal")


_CREATE = {
    ("", "Namespace"): _namespace_create,
    ("", "Pod"): _pod_create,
    ("", "Secret"): _secret_create,
    ("", "Service"): _service_create,
    ("", "Event"): _event_create,
}
_UPDATE = {
    ("", "Namespace"): _namespace_update,
    ("", "Pod"): _pod_update,
    ("", "Secret"): _secret_update,
    ("", "Service"): _service_update,
}
