"""VirtualMachine `status.printableStatus`: ordered predicates, the first match wins (as KubeVirt)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .run_strategy import HALTED, run_strategy


@dataclass(frozen=True)
class Observed:
    vm: dict
    vmi: dict | None
    pod: dict | None


def _vmi_phase(o: Observed) -> str:
    return ((o.vmi or {}).get("status") or {}).get("phase", "")


def _vmi_condition(o: Observed, type_: str) -> dict | None:
    for c in ((o.vmi or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def _waiting_reasons(o: Observed) -> set[str]:
    reasons = set()
    for cs in ((o.pod or {}).get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reasons.add(waiting["reason"])
    return reasons


def terminating(o: Observed) -> bool:
    return bool(o.vm["metadata"].get("deletionTimestamp"))


def stopping(o: Observed) -> bool:
    if o.vmi is None:
        return False
    if o.vmi["metadata"].get("deletionTimestamp"):
        return True
    try:
        halted = run_strategy(o.vm) == HALTED
    except ValueError:
        halted = False
    return halted and _vmi_phase(o) not in ("Succeeded", "Failed")


def paused(o: Observed) -> bool:
    cond = _vmi_condition(o, "Paused")
    return bool(cond and cond.get("status") == "True")


def running(o: Observed) -> bool:
    return _vmi_phase(o) == "Running"


def unschedulable(o: Observed) -> bool:
    for c in ((o.pod or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            return True
    return False


def image_pull_error(o: Observed) -> bool:
    return bool(_waiting_reasons(o) & {"ErrImagePull", "ImageNotLocal"})


def image_pull_backoff(o: Observed) -> bool:
    return "ImagePullBackOff" in _waiting_reasons(o)


def starting(o: Observed) -> bool:
    return o.vmi is not None and _vmi_phase(o) in ("", "Pending", "Scheduling", "Scheduled")


def crash_loop(o: Observed) -> bool:
    failure = (o.vm.get("status") or {}).get("startFailure")
    return bool(failure and failure.get("consecutiveFailCount", 0) > 0)


def stopped(o: Observed) -> bool:
    return o.vmi is None or _vmi_phase(o) in ("Succeeded", "Failed")


CHECKS: tuple[tuple[str, Callable[[Observed], bool]], ...] = (
    ("Terminating", terminating),
    ("Stopping", stopping),
    ("Paused", paused),
    ("Running", running),
    ("ErrorUnschedulable", unschedulable),
    ("ErrImagePull", image_pull_error),
    ("ImagePullBackOff", image_pull_backoff),
    ("Starting", starting),
    ("CrashLoopBackOff", crash_loop),
    ("Stopped", stopped),
)


def printable_status(vm: dict, vmi: dict | None, pod: dict | None) -> str:
    observed = Observed(vm, vmi, pod)
    for status, check in CHECKS:
        if check(observed):
            return status
    return "Unknown"
