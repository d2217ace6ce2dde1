"""Server-side Tables (`meta.k8s.io/v1 Table`) as kube-apiserver builds them for `kubectl get`.

Built-in kinds follow the column printers of kubernetes `pkg/printers/internalversion` (always the
wide variant: the server sends every column, kubectl hides priority > 0 without `-o wide`); custom
resources follow the apiextensions table convertor; anything else gets the default Name/Created At.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from cluster.apiserver.jsonpath import compile_path
from cluster.apiserver.selectors import SelectorError, label_selector_from_dict

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
CREATION_TIMESTAMP_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
INCLUDE_OBJECT_VALUES = ("Metadata", "Object", "None")


# --------------------------------------------------------------------------------------------
# Time


def human_duration(seconds: float) -> str:
    """apimachinery's HumanDuration: about two significant units ('5m3s', '3h4m', '2d3h', '2y30d')."""
    whole = int(seconds)  # Go truncates toward zero; up to 2 s of clock skew reads as "now"
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(text: str) -> datetime | None:
    """Go's time.Parse(time.RFC3339, text); None when it would fail."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        tz = UTC
        if zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=tz)
    except ValueError:
        return None


def _since(timestamp: Any, now: datetime) -> str:
    """translateTimestampSince: '<unknown>' for an unset time."""
    moment = parse_rfc3339(timestamp) if isinstance(timestamp, str) else None
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _created_at(obj: Mapping[str, Any]) -> str:
    moment = parse_rfc3339(_meta(obj).get("creationTimestamp") or "")
    if moment is None:
        return "0001-01-01T00:00:00Z"  # Go's zero time, which is what an unset timestamp prints as
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Small accessors and formatters shared by the printers


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _name(obj: Mapping[str, Any]) -> str:
    return _meta(obj).get("name", "")


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


def _format_labels(labels: Mapping[str, str] | None) -> str:
    text = ",".join(f"{key}={labels[key]}" for key in sorted(labels or {}))
    return text or "<none>"


def _format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector."""
    try:
        text = str(label_selector_from_dict(selector))
    except SelectorError:
        return "<error>"
    return text or "<none>"


def _container_cells(containers: list[Mapping[str, Any]] | None) -> tuple[str, str]:
    containers = containers or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _pod_template_spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (_spec(obj).get("template") or {}).get("spec") or {}


def _access_modes(modes: list[str] | None) -> str:
    present = set(modes or [])
    short = [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
    return ",".join(abbreviation for mode, abbreviation in short if mode in present)


def _storage_class(obj: Mapping[str, Any]) -> str:
    # The beta annotation still wins over the field, as in the apiserver's helpers.
    annotation = (_meta(obj).get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    if annotation is not None:
        return annotation
    return _spec(obj).get("storageClassName") or ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# --------------------------------------------------------------------------------------------
# Column definitions


def _column(name: str, description: str, *, type: str = "string", format: str = "", priority: int = 0) -> dict:
    return {"name": name, "type": type, "format": format, "description": description, "priority": priority}


def _name_column(priority: int = 0) -> dict:
    return _column("Name", NAME_DESCRIPTION, format="name", priority=priority)


def _age_column() -> dict:
    return _column("Age", CREATION_TIMESTAMP_DESCRIPTION)


def _template_columns(selector_description: str) -> list[dict]:
    return [
        _column("Containers", "Names of each container in the template.", priority=1),
        _column("Images", "Images referenced by each container in the template.", priority=1),
        _column("Selector", selector_description, priority=1),
    ]


@dataclass(frozen=True)
class _Printer:
    columns: tuple[dict, ...]
    cells: Callable[[Mapping[str, Any], datetime], list[Any]]
    conditions: Callable[[Mapping[str, Any]], list[dict]] | None = None


# --------------------------------------------------------------------------------------------
# Pod


@dataclass
class PodSummary:
    ready: int = 0
    total: int = 0
    reason: str = ""
    restarts: int = 0
    last_restart: datetime | None = None


def _later(current: datetime | None, status: Mapping[str, Any]) -> datetime | None:
    """The later of `current` and this container's last termination time."""
    terminated = (status.get("lastState") or {}).get("terminated")
    if not terminated:
        return current
    finished = parse_rfc3339(terminated.get("finishedAt") or "")
    if finished is None or (current is not None and finished <= current):
        return current
    return finished


def _has_condition(pod: Mapping[str, Any], condition_type: str) -> bool:
    return any(
        c.get("type") == condition_type and c.get("status") == "True" for c in _status(pod).get("conditions") or []
    )


def _state(status: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    # A present-but-empty state ({"waiting": {}}) is still that state, as a non-nil Go pointer is.
    value = (status.get("state") or {}).get(name)
    return value if isinstance(value, dict) else None


def _termination_reason(terminated: Mapping[str, Any]) -> str:
    if terminated.get("reason"):
        return terminated["reason"]
    if terminated.get("signal"):
        return f"Signal:{terminated['signal']}"
    return f"ExitCode:{terminated.get('exitCode', 0)}"


def _summarise_init_containers(pod: Mapping[str, Any], summary: PodSummary) -> tuple[bool, int, datetime | None]:
    """Walk init containers in order; returns (initializing, restartable restarts, their last restart)."""
    init_specs = {c.get("name"): c for c in _spec(pod).get("initContainers") or []}
    sidecar_restarts, sidecar_last = 0, None
    count = len(_spec(pod).get("initContainers") or [])
    for index, status in enumerate(_status(pod).get("initContainerStatuses") or []):
        restart_count = _int(status.get("restartCount"))
        summary.restarts += restart_count
        summary.last_restart = _later(summary.last_restart, status)
        sidecar = (init_specs.get(status.get("name")) or {}).get("restartPolicy") == "Always"
        if sidecar:
            sidecar_restarts += restart_count
            sidecar_last = _later(sidecar_last, status)
        terminated, waiting = _state(status, "terminated"), _state(status, "waiting")
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and status.get("started") is True:
            summary.ready += 1 if status.get("ready") else 0
            continue
        if terminated is not None:
            summary.reason = "Init:" + _termination_reason(terminated)
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            summary.reason = "Init:" + waiting["reason"]
        else:
            summary.reason = f"Init:{index}/{count}"
        return True, sidecar_restarts, sidecar_last
    return False, sidecar_restarts, sidecar_last


def _summarise_containers(pod: Mapping[str, Any], summary: PodSummary) -> None:
    has_running = False
    for status in reversed(_status(pod).get("containerStatuses") or []):
        summary.restarts += _int(status.get("restartCount"))
        summary.last_restart = _later(summary.last_restart, status)
        waiting, terminated = _state(status, "waiting"), _state(status, "terminated")
        if waiting is not None and waiting.get("reason"):
            summary.reason = waiting["reason"]
        elif terminated is not None:
            summary.reason = _termination_reason(terminated)
        elif status.get("ready") and _state(status, "running") is not None:
            has_running = True
            summary.ready += 1
    # A pod whose last container completed while another still runs is shown as running.
    if summary.reason == "Completed" and has_running:
        summary.reason = "Running" if _has_condition(pod, "Ready") else "NotReady"


def pod_summary(pod: Mapping[str, Any]) -> PodSummary:
    """READY, STATUS and RESTARTS of `kubectl get pods`, computed as kube-apiserver does."""
    spec, status = _spec(pod), _status(pod)
    sidecars = sum(1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    summary = PodSummary(total=len(spec.get("containers") or []) + sidecars)
    phase = status.get("phase") or ""
    summary.reason = status.get("reason") or phase
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            summary.reason = "SchedulingGated"

    initializing, sidecar_restarts, sidecar_last = _summarise_init_containers(pod, summary)
    if not initializing or _has_condition(pod, "Initialized"):
        # Once initialized only sidecar restarts count from the init containers.
        summary.restarts, summary.last_restart = sidecar_restarts, sidecar_last
        _summarise_containers(pod, summary)

    if _meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            summary.reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            summary.reason = "Terminating"
    return summary


def _pod_restarts(summary: PodSummary, now: datetime) -> str:
    if summary.restarts and summary.last_restart is not None:
        ago = human_duration((now - summary.last_restart).total_seconds())
        return f"{summary.restarts} ({ago} ago)"
    return str(summary.restarts)


def _readiness_gates(pod: Mapping[str, Any]) -> str:
    gates = _spec(pod).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = _status(pod).get("conditions") or []
    passing = 0
    for gate in gates:
        for condition in conditions:
            if condition.get("type") == gate.get("conditionType"):
                passing += condition.get("status") == "True"
                break
    return f"{passing}/{len(gates)}"


def _pod_ip(pod: Mapping[str, Any]) -> str:
    status = _status(pod)
    ips = status.get("podIPs") or []
    return (ips[0].get("ip") if ips else status.get("podIP")) or "<none>"


def _pod_cells(pod: Mapping[str, Any], now: datetime) -> list[Any]:
    summary = pod_summary(pod)
    return [
        _name(pod),
        f"{summary.ready}/{summary.total}",
        summary.reason,
        _pod_restarts(summary, now),
        _age(pod, now),
        _pod_ip(pod),
        _spec(pod).get("nodeName") or "<none>",
        _status(pod).get("nominatedNodeName") or "<none>",
        _readiness_gates(pod),
    ]


def _pod_conditions(pod: Mapping[str, Any]) -> list[dict]:
    phase = _status(pod).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


_POD = _Printer(
    columns=(
        _name_column(),
        _column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        _column("Status", "The aggregate status of the containers in this pod."),
        _column(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the last container "
            "in this pod has restarted.",
        ),
        _age_column(),
        _column("IP", "podIP address allocated to the pod. Routable at least within the cluster.", priority=1),
        _column("Node", "NodeName indicates in which node this pod is scheduled.", priority=1),
        _column("Nominated Node", "nominatedNodeName is set when this pod preempts other pods on the node.", priority=1),
        _column("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", priority=1),
    ),
    cells=_pod_cells,
    conditions=_pod_conditions,
)


# --------------------------------------------------------------------------------------------
# Node, Namespace, Event


def _node_status(node: Mapping[str, Any]) -> str:
    ready = [c for c in _status(node).get("conditions") or [] if c.get("type") == "Ready"]
    states = []
    if ready:
        states.append("Ready" if ready[-1].get("status") == "True" else "NotReady")
    else:
        states.append("Unknown")
    if _spec(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(node: Mapping[str, Any]) -> str:
    roles = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Mapping[str, Any], address_type: str) -> str:
    for address in _status(node).get("addresses") or []:
        if address.get("type") == address_type:
            return address.get("address", "")
    return "<none>"


def _node_cells(node: Mapping[str, Any], now: datetime) -> list[Any]:
    info = _status(node).get("nodeInfo") or {}
    return [
        _name(node),
        _node_status(node),
        _node_roles(node),
        _age(node, now),
        info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_NODE = _Printer(
    columns=(
        _name_column(),
        _column("Status", "The status of the node"),
        _column("Roles", "The roles of the node"),
        _age_column(),
        _column("Version", "Kubelet Version reported by the node."),
        _column("Internal-IP", "List of addresses reachable to the node.", priority=1),
        _column("External-IP", "List of addresses reachable to the node.", priority=1),
        _column("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", priority=1),
        _column("Kernel-Version", "Kernel Version reported by the node from 'uname -r'.", priority=1),
        _column("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API.", priority=1),
    ),
    cells=_node_cells,
)

_NAMESPACE = _Printer(
    columns=(_name_column(), _column("Status", "The status of the namespace"), _age_column()),
    cells=lambda ns, now: [_name(ns), _status(ns).get("phase") or "", _age(ns, now)],
)


def _event_cells(event: Mapping[str, Any], now: datetime) -> list[Any]:
    first_seen = _since(event.get("firstTimestamp"), now)
    if not event.get("firstTimestamp"):
        first_seen = _since(event.get("eventTime"), now)
    last_seen = _since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first_seen
    count = _int(event.get("count"))
    series = event.get("series")
    if series:
        last_seen = _since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = event.get("involvedObject") or {}
    target = (involved.get("kind") or "").lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [
        last_seen,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        (event.get("message") or "").strip(),
        first_seen,
        count,
        _name(event),
    ]


_EVENT = _Printer(
    columns=(
        _column("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
        _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        _column("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
        _column("Object", "The object that this event is about."),
        _column("Subobject", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.", priority=1),
        _column("Source", "The component reporting this event. Should be a short machine understandable string.", priority=1),
        _column("Message", "A human-readable description of the status of this operation."),
        _column("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)", priority=1),
        _column("Count", "The number of times this event has occurred.", priority=1),
        _name_column(priority=1),
    ),
    cells=_event_cells,
)


# --------------------------------------------------------------------------------------------
# ConfigMap, Secret, ServiceAccount, Service, storage, Lease


_CONFIG_MAP = _Printer(
    columns=(_name_column(), _column("Data", "Data contains the configuration data."), _age_column()),
    cells=lambda cm, now: [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)],
)

_SECRET = _Printer(
    columns=(
        _name_column(),
        _column("Type", "Used to facilitate programmatic handling of secret data."),
        _column("Data", "Data contains the secret data."),
        _age_column(),
    ),
    cells=lambda s, now: [_name(s), s.get("type", ""), len(s.get("data") or {}), _age(s, now)],
)

# Kubernetes dropped the Secrets count (kubernetes#117160): token secrets are no longer listed there.
_SERVICE_ACCOUNT = _Printer(
    columns=(_name_column(), _age_column()),
    cells=lambda sa, now: [_name(sa), _age(sa, now)],
)


def _service_external_ip(service: Mapping[str, Any]) -> str:
    spec = _spec(service)
    service_type = spec.get("type") or "ClusterIP"
    external_ips = spec.get("externalIPs") or []
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if service_type == "LoadBalancer":
        ingress = (_status(service).get("loadBalancer") or {}).get("ingress") or []
        balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
        return ",".join(balancers + external_ips) or "<pending>"
    if service_type == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_ports(service: Mapping[str, Any]) -> str:
    pieces = []
    for port in _spec(service).get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        if _int(port.get("nodePort")) > 0:
            pieces.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port')}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_cells(service: Mapping[str, Any], now: datetime) -> list[Any]:
    spec = _spec(service)
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        _name(service),
        spec.get("type") or "ClusterIP",
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service),
        _service_ports(service),
        _age(service, now),
        _format_labels(spec.get("selector")),
    ]


_SERVICE = _Printer(
    columns=(
        _name_column(),
        _column("Type", "type determines how the Service is exposed."),
        _column("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
        _column("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
        _column("Port(s)", "The list of ports that are exposed by this service."),
        _age_column(),
        _column("Selector", "Route service traffic to pods with label keys and values matching this selector.", priority=1),
    ),
    cells=_service_cells,
)


def _phase_or_terminating(obj: Mapping[str, Any]) -> str:
    return "Terminating" if _meta(obj).get("deletionTimestamp") else _status(obj).get("phase") or ""


def _volume_mode(obj: Mapping[str, Any]) -> str:
    return _spec(obj).get("volumeMode") or "<unset>"


def _volume_attributes_class(obj: Mapping[str, Any]) -> str:
    return _spec(obj).get("volumeAttributesClassName") or "<unset>"


def _claim_cells(claim: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = _spec(claim), _status(claim)
    bound = bool(spec.get("volumeName"))
    return [
        _name(claim),
        _phase_or_terminating(claim),
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", "") if bound else "",
        _access_modes(status.get("accessModes")) if bound else "",
        _storage_class(claim),
        _volume_attributes_class(claim),
        _age(claim, now),
        _volume_mode(claim),
    ]


_PERSISTENT_VOLUME_CLAIM = _Printer(
    columns=(
        _name_column(),
        _column("Status", "phase represents the current phase of PersistentVolumeClaim."),
        _column("Volume", "volumeName is the binding reference to the PersistentVolume backing this claim."),
        _column("Capacity", "capacity represents the actual resources of the underlying volume."),
        _column("Access Modes", "accessModes contains the actual access modes the volume backing the PVC has."),
        _column("StorageClass", "StorageClass of the pvc"),
        _column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        _age_column(),
        _column("VolumeMode", "volumeMode defines what type of volume is required by the claim.", priority=1),
    ),
    cells=_claim_cells,
)


def _volume_cells(volume: Mapping[str, Any], now: datetime) -> list[Any]:
    spec = _spec(volume)
    claim = spec.get("claimRef")
    return [
        _name(volume),
        (spec.get("capacity") or {}).get("storage", ""),
        _access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        _phase_or_terminating(volume),
        f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "",
        _storage_class(volume),
        _volume_attributes_class(volume),
        _status(volume).get("reason", ""),
        _age(volume, now),
        _volume_mode(volume),
    ]


_PERSISTENT_VOLUME = _Printer(
    columns=(
        _name_column(),
        _column("Capacity", "capacity is the description of the persistent volume's resources and capacity."),
        _column("Access Modes", "accessModes contains all ways the volume can be mounted."),
        _column("Reclaim Policy", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
        _column("Status", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
        _column("Claim", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
        _column("StorageClass", "StorageClass of the pv"),
        _column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        _column("Reason", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
        _age_column(),
        _column("VolumeMode", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.", priority=1),
    ),
    cells=_volume_cells,
)

_LEASE = _Printer(
    columns=(_name_column(), _column("Holder", "holderIdentity contains the identity of the holder of a current lease."), _age_column()),
    cells=lambda lease, now: [_name(lease), _spec(lease).get("holderIdentity") or "", _age(lease, now)],
)


# --------------------------------------------------------------------------------------------
# Workloads and RBAC


def _deployment_cells(deployment: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = _spec(deployment), _status(deployment)
    desired = spec.get("replicas", 1)
    names, images = _container_cells(_pod_template_spec(deployment).get("containers"))
    try:
        selector = str(label_selector_from_dict(spec.get("selector")))
    except SelectorError:
        selector = "<invalid>"
    return [
        _name(deployment),
        f"{_int(status.get('readyReplicas'))}/{_int(desired)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(deployment, now),
        names,
        images,
        selector,
    ]


_DEPLOYMENT = _Printer(
    columns=(
        _name_column(),
        _column("Ready", "Number of the pod with ready state"),
        _column("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
        _column("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
        _age_column(),
        *_template_columns("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
    ),
    cells=_deployment_cells,
)


def _daemon_set_cells(daemon_set: Mapping[str, Any], now: datetime) -> list[Any]:
    status = _status(daemon_set)
    template = _pod_template_spec(daemon_set)
    names, images = _container_cells(template.get("containers"))
    return [
        _name(daemon_set),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        _format_labels(template.get("nodeSelector")),
        _age(daemon_set, now),
        names,
        images,
        _format_label_selector(_spec(daemon_set).get("selector")),
    ]


_DAEMON_SET = _Printer(
    columns=(
        _name_column(),
        _column("Desired", "The total number of nodes that should be running the daemon pod.", type="integer"),
        _column("Current", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.", type="integer"),
        _column("Ready", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.", type="integer"),
        _column("Up-to-date", "The total number of nodes that are running updated daemon pod", type="integer"),
        _column("Available", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.", type="integer"),
        _column("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
        _age_column(),
        *_template_columns("A label query over pods that are managed by the daemon set."),
    ),
    cells=_daemon_set_cells,
)


def _subjects(binding: Mapping[str, Any]) -> tuple[str, str, str]:
    users, groups, service_accounts = [], [], []
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "ServiceAccount":
            service_accounts.append(f"{subject.get('namespace', '')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return ", ".join(users), ", ".join(groups), ", ".join(service_accounts)


def _binding_cells(binding: Mapping[str, Any], now: datetime) -> list[Any]:
    role = binding.get("roleRef") or {}
    return [_name(binding), f"{role.get('kind', '')}/{role.get('name', '')}", _age(binding, now), *_subjects(binding)]


def _binding_printer(kind: str) -> _Printer:
    return _Printer(
        columns=(
            _name_column(),
            _column("Role", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
            _age_column(),
            _column("Users", f"Users in the {kind}", priority=1),
            _column("Groups", f"Groups in the {kind}", priority=1),
            _column("ServiceAccounts", f"ServiceAccounts in the {kind}", priority=1),
        ),
        cells=_binding_cells,
    )


_BUILT_IN_PRINTERS: dict[tuple[str, str], _Printer] = {
    ("", "Pod"): _POD,
    ("", "Node"): _NODE,
    ("", "Namespace"): _NAMESPACE,
    ("", "Event"): _EVENT,
    ("", "ConfigMap"): _CONFIG_MAP,
    ("", "Secret"): _SECRET,
    ("", "ServiceAccount"): _SERVICE_ACCOUNT,
    ("", "Service"): _SERVICE,
    ("", "PersistentVolumeClaim"): _PERSISTENT_VOLUME_CLAIM,
    ("", "PersistentVolume"): _PERSISTENT_VOLUME,
    ("coordination.k8s.io", "Lease"): _LEASE,
    ("apps", "Deployment"): _DEPLOYMENT,
    ("apps", "DaemonSet"): _DAEMON_SET,
    ("rbac.authorization.k8s.io", "RoleBinding"): _binding_printer("roleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _binding_printer("clusterRoleBinding"),
}

# CustomResourceDefinition, Role and ClusterRole have no printer of their own in kube-apiserver.
_DEFAULT = _Printer(
    columns=(_name_column(), _column("Created At", CREATION_TIMESTAMP_DESCRIPTION, type="date")),
    cells=lambda obj, now: [_name(obj), _created_at(obj)],
)


# --------------------------------------------------------------------------------------------
# Custom resources (additionalPrinterColumns)

_AGE_PRINTER_COLUMN = {
    "name": "Age",
    "type": "date",
    "description": CREATION_TIMESTAMP_DESCRIPTION,
    "jsonPath": ".metadata.creationTimestamp",
}


@functools.lru_cache(maxsize=512)
def _compiled(path: str) -> Callable[[Any], list[Any]]:
    return compile_path(path)


def _go_float_text(value: float) -> str:
    """fmt.Sprint of a float64: shortest round-trip digits, exponent form below 1e-4 and from 1e6 on."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # position of the decimal point
    prefix = "-" if sign else ""
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if decimal_exponent >= 0 else '-'}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _go_json(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _as_text(value: Any) -> str | None:
    """How client-go's jsonpath prints one value: maps and lists as JSON, scalars as Go prints them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return _go_json(value)
    if isinstance(value, float):
        return _go_float_text(value)
    return str(value)


def _typed_cell(column_type: str, value: Any, now: datetime) -> Any:
    """A printer-column cell, coerced as the apiextensions table convertor does (None on mismatch)."""
    if column_type == "string":
        return _as_text(value)
    if value is None:
        return None
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if column_type == "integer":
        return int(value) if numeric and math.isfinite(value) else None
    if column_type == "number":
        return float(value) if numeric else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        moment = parse_rfc3339(value)
        return "<invalid>" if moment is None else human_duration((now - moment).total_seconds())
    return None


def _custom_resource_printer(printer_columns: list[dict]) -> _Printer:
    columns = printer_columns or [_AGE_PRINTER_COLUMN]
    paths = [(column.get("type", "string"), _compiled(column["jsonPath"])) for column in columns]

    def cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
        row: list[Any] = [_name(obj)]
        for column_type, path in paths:
            found = path(obj)
            row.append(_typed_cell(column_type, found[0], now) if found else None)
        return row

    definitions = [_name_column()]
    for column in columns:
        description = column.get("description") or (
            f"Custom resource definition column (in JSONPath format): {column['jsonPath']}"
        )
        definitions.append(
            _column(
                column["name"],
                description,
                type=column.get("type", "string"),
                format=column.get("format", ""),
                priority=int(column.get("priority", 0)),
            )
        )
    return _Printer(columns=tuple(definitions), cells=cells)


# --------------------------------------------------------------------------------------------
# Tables


def _printer_for(group: str, kind: str, printer_columns: list[dict] | None) -> _Printer:
    if printer_columns is not None:
        return _custom_resource_printer(printer_columns)
    return _BUILT_IN_PRINTERS.get((group, kind), _DEFAULT)


def table_column_definitions(group: str, kind: str, printer_columns: list[dict] | None) -> list[dict]:
    """The Table's columnDefinitions for this kind (or for a CRD version's printer columns)."""
    return [dict(column) for column in _printer_for(group, kind, printer_columns).columns]


def _partial_object_metadata(obj: Mapping[str, Any]) -> dict:
    metadata = copy.deepcopy(dict(_meta(obj)))
    metadata.pop("managedFields", None)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}


def _row(printer: _Printer, obj: Mapping[str, Any], include_object: str, now: datetime) -> dict:
    row: dict[str, Any] = {"cells": printer.cells(obj, now)}
    conditions = printer.conditions(obj) if printer.conditions else []
    if conditions:
        row["conditions"] = conditions
    if include_object in ("Metadata", ""):
        row["object"] = _partial_object_metadata(obj)
    elif include_object == "Object":
        row["object"] = obj
    return row


def build_table(
    group: str,
    kind: str,
    items: list[dict],
    *,
    resource_version: str,
    printer_columns: list[dict] | None = None,
    include_object: str = "Metadata",
    now: datetime | None = None,
    continue_token: str = "",
) -> dict:
    """A `meta.k8s.io/v1 Table` of `items`, as kube-apiserver answers `Accept: ...;as=Table`.

    `printer_columns` is the served CRD version's additionalPrinterColumns (None for built-in
    kinds). `include_object` is the `includeObject` query parameter.
    """
    if include_object not in (*INCLUDE_OBJECT_VALUES, ""):
        allowed = ", ".join(INCLUDE_OBJECT_VALUES)
        raise ValueError(f'unrecognized includeObject value: "{include_object}" (use one of {allowed})')
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # stored timestamps are UTC; a naive "now" is taken as UTC too
    printer = _printer_for(group, kind, printer_columns)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(column) for column in printer.columns],
        "rows": [_row(printer, item, include_object, now) for item in items],
    }
