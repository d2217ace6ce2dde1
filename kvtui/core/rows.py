"""Pure functions that turn API objects into table rows (k9s's `render` layer): no I/O, no Textual.
Colours are semantic names (`ok`, `progress`, `warning`, `error`, `muted`) that the app maps to a theme."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

VM_COLUMNS = ("NAME", "NAMESPACE", "STATUS", "READY", "NODE", "IP", "CPU", "MEMORY", "RUN STRATEGY", "AGE")
VMI_COLUMNS = ("NAME", "NAMESPACE", "PHASE", "IP", "NODE", "READY", "AGE")
POD_COLUMNS = ("NAME", "NAMESPACE", "READY", "STATUS", "RESTARTS", "NODE", "AGE")
EVENT_COLUMNS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
NAMESPACE_COLUMNS = ("NAME", "STATUS", "AGE")

# printableStatus → semantic colour; anything unknown is a warning, so it stands out.
STATUS_STYLE = {
    "Running": "ok",
    "Stopped": "muted",
    "Paused": "warning",
    "Starting": "progress",
    "Stopping": "progress",
    "Terminating": "progress",
    "Provisioning": "progress",
    "Migrating": "progress",
    "WaitingForVolumeBinding": "progress",
    "WaitingForReceiver": "progress",
    "CrashLoopBackOff": "error",
    "ErrorUnschedulable": "error",
    "ErrImagePull": "error",
    "ImagePullBackOff": "error",
    "ErrorPvcNotFound": "error",
    "DataVolumeError": "error",
    "Unknown": "warning",
}
PHASE_STYLE = {"Running": "ok", "Succeeded": "muted", "Failed": "error", "Pending": "progress",
               "Scheduling": "progress", "Scheduled": "progress", "Active": "ok"}


@dataclass(frozen=True)
class Row:
    """One table row: a stable key (namespace, name), its cells and the colour of its status cell."""
    key: tuple[str, str]
    cells: tuple[str, ...]
    style: str = ""


def parse_time(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's short durations: 45s, 5m10s, 42m, 3h20m, 30h, 3d5h, 120d, 3y."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def age(stamp: str | None, now: datetime | None = None) -> str:
    when = parse_time(stamp)
    if when is None:
        return "<unknown>"
    return human_duration(((now or datetime.now(UTC)) - when).total_seconds())


def _meta(obj: dict | None) -> dict:
    return (obj or {}).get("metadata") or {}


def _status(obj: dict | None) -> dict:
    return (obj or {}).get("status") or {}


def condition(obj: dict | None, type_: str) -> dict | None:
    return next((c for c in _status(obj).get("conditions") or [] if c.get("type") == type_), None)


def run_strategy(vm: dict) -> str:
    spec = vm.get("spec") or {}
    if spec.get("runStrategy"):
        return spec["runStrategy"]
    if "running" in spec:
        return "Always" if spec["running"] else "Halted"
    return "Halted"


def vm_cpu(vm: dict) -> str:
    cpu = ((((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("domain") or {}).get("cpu") or {}
    return str(int(cpu.get("cores", 1)) * int(cpu.get("sockets", 1)) * int(cpu.get("threads", 1)))


def vm_memory(vm: dict) -> str:
    domain = (((vm.get("spec") or {}).get("template") or {}).get("spec") or {}).get("domain") or {}
    guest = (domain.get("memory") or {}).get("guest")
    return guest or ((domain.get("resources") or {}).get("requests") or {}).get("memory") or ""


def vmi_ip(vmi: dict | None) -> str:
    for iface in _status(vmi).get("interfaces") or []:
        if iface.get("ipAddress"):
            return iface["ipAddress"]
    return ""


def printable_status(vm: dict) -> str:
    return _status(vm).get("printableStatus") or ("Stopped" if run_strategy(vm) == "Halted" else "Unknown")


def _ready(obj: dict | None) -> str:
    cond = condition(obj, "Ready")
    return "True" if cond and cond.get("status") == "True" else "False"


def vm_row(vm: dict, vmi: dict | None = None, pod: dict | None = None, now: datetime | None = None) -> Row:
    meta = _meta(vm)
    status = printable_status(vm)
    node = _status(vmi).get("nodeName") or ((pod or {}).get("spec") or {}).get("nodeName") or ""
    ip = vmi_ip(vmi) or _status(pod).get("podIP", "")
    cells = (meta.get("name", ""), meta.get("namespace", ""), status, _ready(vm), node, ip, vm_cpu(vm),
             vm_memory(vm), run_strategy(vm), age(meta.get("creationTimestamp"), now))
    return Row((meta.get("namespace", ""), meta.get("name", "")), cells, STATUS_STYLE.get(status, "warning"))


def vmi_row(vmi: dict, now: datetime | None = None) -> Row:
    meta = _meta(vmi)
    phase = _status(vmi).get("phase") or "Pending"
    cells = (meta.get("name", ""), meta.get("namespace", ""), phase, vmi_ip(vmi), _status(vmi).get("nodeName", ""),
             _ready(vmi), age(meta.get("creationTimestamp"), now))
    return Row((meta.get("namespace", ""), meta.get("name", "")), cells, PHASE_STYLE.get(phase, "warning"))


def pod_status(pod: dict) -> str:
    """What `kubectl get pods` shows: a waiting/terminated reason beats the phase."""
    status = _status(pod)
    if _meta(pod).get("deletionTimestamp"):
        return "Terminating"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason:
            return reason
    return status.get("phase") or "Pending"


def pod_row(pod: dict, now: datetime | None = None) -> Row:
    meta = _meta(pod)
    statuses = _status(pod).get("containerStatuses") or []
    containers = ((pod.get("spec") or {}).get("containers")) or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    status = pod_status(pod)
    cells = (meta.get("name", ""), meta.get("namespace", ""), f"{ready}/{len(containers)}", status, str(restarts),
             ((pod.get("spec") or {}).get("nodeName")) or "<none>", age(meta.get("creationTimestamp"), now))
    style = PHASE_STYLE.get(status, "error" if status not in ("ContainerCreating", "Terminating") else "progress")
    return Row((meta.get("namespace", ""), meta.get("name", "")), cells, style)


def event_time(event: dict) -> str:
    series = event.get("series") or {}
    return (event.get("lastTimestamp") or series.get("lastObservedTime") or event.get("eventTime")
            or event.get("firstTimestamp") or _meta(event).get("creationTimestamp") or "")


def event_row(event: dict, now: datetime | None = None) -> Row:
    meta = _meta(event)
    involved = event.get("involvedObject") or event.get("regarding") or {}
    obj = f'{(involved.get("kind") or "").lower()}/{involved.get("name", "")}'
    type_ = event.get("type") or "Normal"
    cells = (age(event_time(event), now), type_, event.get("reason", ""), obj, event.get("message") or event.get("note", ""))
    return Row((meta.get("namespace", ""), meta.get("name", "")), cells, "warning" if type_ == "Warning" else "")


def namespace_row(ns: dict, now: datetime | None = None) -> Row:
    meta = _meta(ns)
    phase = _status(ns).get("phase") or "Active"
    return Row(("", meta.get("name", "")), (meta.get("name", ""), phase, age(meta.get("creationTimestamp"), now)),
               PHASE_STYLE.get(phase, "warning"))
