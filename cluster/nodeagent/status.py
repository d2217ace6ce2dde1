"""Pod status in the kubelet's terms, computed from what the agent knows: container statuses,
the pod phase and the conditions (PodReadyToStartContainers, Initialized, Ready, ContainersReady,
PodScheduled). Pure functions, so the rules are easy to read and to test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .runtime import Instance, describe_exit

CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


@dataclass
class ContainerView:
    """What the agent knows about one container beyond its instances."""

    name: str
    image: str
    image_id: str
    runs: Sequence[Instance]
    waiting: tuple[str, str] | None = None   # (reason, message) while not running
    ready: bool = False
    started: bool = False


def _terminated(instance: Instance) -> dict:
    exit_info = instance.exit or {}
    code, reason, message = describe_exit(exit_info)
    state: dict[str, Any] = {"exitCode": code, "reason": reason}
    if message:
        state["message"] = message
    if exit_info.get("signal"):
        state["signal"] = exit_info["signal"]
    state["startedAt"] = exit_info.get("startedAt") or instance.started_at
    state["finishedAt"] = exit_info.get("finishedAt")
    if instance.container_id:
        state["containerID"] = instance.container_id
    return state


def container_status(view: ContainerView, default_waiting: str) -> dict:
    """One entry of containerStatuses / initContainerStatuses."""
    runs = list(view.runs)
    latest = runs[-1] if runs else None
    status: dict[str, Any] = {"name": view.name, "image": view.image, "imageID": view.image_id if latest else "",
                              "restartCount": latest.index if latest else 0}
    last_state: dict[str, Any] = {}
    if latest is None:
        reason, message = view.waiting or (default_waiting, "")
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    elif latest.running:
        state = {"running": {"startedAt": latest.started_at}}
        if len(runs) > 1:
            last_state = {"terminated": _terminated(runs[-2])}
    elif view.waiting is not None:
        reason, message = view.waiting
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        last_state = {"terminated": _terminated(latest)}
    else:
        state = {"terminated": _terminated(latest)}
        if len(runs) > 1:
            last_state = {"terminated": _terminated(runs[-2])}
    if latest is not None and latest.container_id:
        status["containerID"] = latest.container_id
    running = latest is not None and latest.running
    status.update({"state": state, "lastState": last_state, "ready": bool(running and view.ready),
                   "started": bool(running and view.started)})
    return status


def _has_exited(status: Mapping[str, Any]) -> bool:
    return "terminated" in status["state"] or "terminated" in (status.get("lastState") or {})


def pod_phase(restart_policy: str, init_statuses: Sequence[Mapping[str, Any]],
              statuses: Sequence[Mapping[str, Any]], *, init_failed: bool, deleting: bool = False) -> str:
    """The kubelet's getPhase: Pending until init containers are done and every container has run;
    Succeeded or Failed only when nothing will run again."""
    if init_failed:
        return "Failed"
    for status in init_statuses:
        terminated = status["state"].get("terminated")
        if not (terminated and terminated.get("exitCode") == 0):
            return "Pending"
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif "terminated" in (status.get("lastState") or {}):
            stopped += 1  # waiting to restart after a run
        else:
            waiting += 1
    if deleting and running == 0 and waiting == 0:
        return "Succeeded" if stopped == succeeded else "Failed"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if restart_policy == "Never" else "Running"
    return "Pending"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> dict:
    condition: dict[str, Any] = {"type": kind, "status": "True" if ok else "False"}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def pod_conditions(phase: str, sandbox_ready: bool, init_statuses: Sequence[Mapping[str, Any]],
                   statuses: Sequence[Mapping[str, Any]], readiness_gates: Sequence[str],
                   existing: Sequence[Mapping[str, Any]], now: str) -> list[dict]:
    """The pod's conditions, with lastTransitionTime kept from `existing` unless the status changed."""
    done = phase in ("Succeeded", "Failed")
    incomplete = [s["name"] for s in init_statuses
                  if not ((s["state"].get("terminated") or {}).get("exitCode") == 0)]
    unready = [s["name"] for s in statuses if not s.get("ready")]
    current = {c.get("type"): c for c in existing}
    conditions = [_condition("PodReadyToStartContainers", sandbox_ready and not done)]
    if done and not incomplete:
        conditions.append(_condition("Initialized", True, "PodCompleted" if init_statuses else ""))
    elif incomplete:
        conditions.append(_condition("Initialized", False, "ContainersNotInitialized",
                                     f"containers with incomplete status: [{' '.join(incomplete)}]"))
    else:
        conditions.append(_condition("Initialized", True))
    if done:
        ready = _condition("Ready", False, "PodCompleted")
        containers_ready = _condition("ContainersReady", False, "PodCompleted")
    elif unready:
        message = f"containers with unready status: [{' '.join(unready)}]"
        ready = _condition("Ready", False, "ContainersNotReady", message)
        containers_ready = _condition("ContainersReady", False, "ContainersNotReady", message)
    else:
        containers_ready = _condition("ContainersReady", True)
        missing = [g for g in readiness_gates if (current.get(g) or {}).get("status") != "True"]
        ready = (_condition("Ready", False, "ReadinessGatesNotReady",
                            f'corresponding condition of pod readiness gate "{missing[0]}" does not exist.')
                 if missing else _condition("Ready", True))
    conditions += [ready, containers_ready]
    if "PodScheduled" in current:
        conditions.append(dict(current["PodScheduled"]))
    else:
        conditions.append(_condition("PodScheduled", True))
    # Conditions other agents own (readiness gates, DisruptionTarget ...) are kept as they are.
    conditions += [dict(c) for t, c in current.items() if t not in CONDITION_ORDER]
    for condition in conditions:
        before = current.get(condition["type"])
        condition.setdefault("lastProbeTime", None)
        if before and before.get("status") == condition["status"] and before.get("lastTransitionTime"):
            condition["lastTransitionTime"] = before["lastTransitionTime"]
        else:
            condition.setdefault("lastTransitionTime", now)
    return conditions


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (10s, 1m20s, 5m0s), as the kubelet's back-off message shows it."""
    whole = int(round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
