"""What the launcher reports on its VirtualMachineInstance, computed from what it observed of the
domain: phase, reason, conditions, interfaces, nodeName, guestOSInfo. Pure functions, so the
rules read like KubeVirt's (virt-handler's `calculateVmPhaseForStatusReason`) and test in isolation.

Phase: a running or paused domain is Running; a guest that powered itself off is Succeeded; a
domain destroyed after an ACPI shutdown request was ignored until the grace period ran out is
Failed (destroyed without one, e.g. grace period 0, is Succeeded); a crash, a QEMU that died,
or a spec the launcher cannot honour is Failed. Before the domain first runs the launcher leaves
the phase to the reconciler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

# Domain states, in the launcher's words (libvirt's VIR_DOMAIN_* collapsed to what matters here).
PREPARING = "Preparing"
RUNNING = "Running"
PAUSED = "Paused"
SHUT_DOWN = "ShutDown"  # the guest powered off
DESTROYED = "Destroyed"  # the launcher killed it
CRASHED = "Crashed"  # QEMU died or the guest crashed
INVALID = "Invalid"  # never started: the spec cannot be honoured

# Conditions this launcher owns; others on the VMI (e.g. the reconciler's) are left alone.
READY = "Ready"
PAUSED_CONDITION = "Paused"
SOFTWARE_EMULATION = "SoftwareEmulation"
SYNCHRONIZED = "Synchronized"
OWNED_CONDITIONS = (READY, PAUSED_CONDITION, SOFTWARE_EMULATION, SYNCHRONIZED)


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class Observation:
    """Everything the status is computed from."""

    state: str = PREPARING
    detail: str = ""  # why the domain is in `state`, for messages
    paused_reason: str = ""  # PausedByUser, PausedIOError
    acpi_requested: bool = False
    emulation_reason: str = ""  # empty under KVM
    emulation_message: str = ""
    failed_field: str = ""
    failure_message: str = ""
    node_name: str = ""
    interfaces: tuple[Interface, ...] = ()
    guest_os_info: dict[str, str] = field(default_factory=dict)

    def but(self, **changes: Any) -> Observation:
        return replace(self, **changes)


def phase(obs: Observation) -> str | None:
    """The VMI phase, or None while the launcher has nothing to say about it yet."""
    if obs.state == INVALID or obs.state == CRASHED:
        return "Failed"
    if obs.state in (RUNNING, PAUSED):
        return "Running"
    if obs.state == SHUT_DOWN:
        return "Succeeded"
    if obs.state == DESTROYED:
        return "Failed" if obs.acpi_requested else "Succeeded"
    return None


def reason(obs: Observation) -> str | None:
    """`status.reason` for final phases that need explaining."""
    if obs.state == INVALID:
        return "InvalidSpec"
    if obs.state == CRASHED:
        return "Crashed"
    if obs.state == DESTROYED and obs.acpi_requested:
        return "GracePeriodExpired"
    return None


def conditions(obs: Observation) -> list[dict[str, str]]:
    """The launcher-owned conditions, without timestamps (see merge_conditions)."""
    result = [_ready(obs)]
    if obs.state == PAUSED:
        result.append({"type": PAUSED_CONDITION, "status": "True", "reason": obs.paused_reason or "PausedByUser",
                       "message": _paused_message(obs.paused_reason)})
    if obs.emulation_reason:
        result.append({"type": SOFTWARE_EMULATION, "status": "True", "reason": obs.emulation_reason,
                       "message": obs.emulation_message})
    if obs.state == INVALID:
        result.append({"type": SYNCHRONIZED, "status": "False", "reason": "InvalidSpec",
                       "message": obs.failure_message})
    return result


def _ready(obs: Observation) -> dict[str, str]:
    if obs.state == RUNNING:
        return {"type": READY, "status": "True", "reason": "", "message": ""}
    if obs.state == PAUSED:
        return {"type": READY, "status": "False", "reason": "GuestNotRunning", "message": "the guest is paused"}
    message = obs.detail or {PREPARING: "the domain is being prepared", INVALID: obs.failure_message}.get(
        obs.state, "the guest is not running")
    return {"type": READY, "status": "False", "reason": "GuestNotRunning", "message": message}


def _paused_message(paused_reason: str) -> str:
    if paused_reason == "PausedIOError":
        return "VMI was paused, low-level IO error detected"
    return "VMI was paused by user"


def interfaces(obs: Observation) -> list[dict[str, Any]]:
    result = []
    for interface in obs.interfaces:
        entry: dict[str, Any] = {"name": interface.name}
        if interface.ip:
            entry["ipAddress"] = interface.ip
            entry["ipAddresses"] = [interface.ip]
        if interface.mac:
            entry["mac"] = interface.mac
        result.append(entry)
    return result


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def merge_conditions(existing: list[dict[str, Any]], owned: list[dict[str, str]], timestamp: str) -> list[dict]:
    """The VMI's conditions with the launcher's replaced: conditions of other types are kept, ours
    that no longer apply are dropped, and lastTransitionTime moves only when the status changes."""
    previous = {c.get("type"): c for c in existing if isinstance(c, dict)}
    merged = [c for c in existing if isinstance(c, dict) and c.get("type") not in OWNED_CONDITIONS]
    for condition in owned:
        before = previous.get(condition["type"])
        stamped: dict[str, Any] = {**condition, "lastProbeTime": None}
        keep_time = before is not None and before.get("status") == condition["status"]
        stamped["lastTransitionTime"] = before.get("lastTransitionTime") if keep_time and before else timestamp
        merged.append(stamped)
    return merged


def status_update(obs: Observation, current: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """The `status` fields to write, given the VMI's current status."""
    update: dict[str, Any] = {"conditions": merge_conditions(list(current.get("conditions") or []),
                                                             conditions(obs), timestamp)}
    new_phase = phase(obs)
    if new_phase is not None:
        update["phase"] = new_phase
        transitions = list(current.get("phaseTransitionTimestamps") or [])
        if current.get("phase") != new_phase:
            transitions.append({"phase": new_phase, "phaseTransitionTimestamp": timestamp})
        update["phaseTransitionTimestamps"] = transitions
    update["reason"] = reason(obs)
    if obs.node_name:
        update["nodeName"] = obs.node_name
    if obs.interfaces:
        update["interfaces"] = interfaces(obs)
    if obs.guest_os_info:
        update["guestOSInfo"] = dict(obs.guest_os_info)
    return update


def without_timestamps(status: dict[str, Any]) -> dict[str, Any]:
    """For deciding whether anything changed: the update minus the times it was computed at."""
    conditions_only = [{k: v for k, v in c.items() if k not in ("lastTransitionTime", "lastProbeTime")}
                       for c in status.get("conditions", [])]
    return {**{k: v for k, v in status.items() if k != "phaseTransitionTimestamps"}, "conditions": conditions_only}
