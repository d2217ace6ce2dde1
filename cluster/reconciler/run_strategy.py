"""What a VirtualMachine's runStrategy asks of its VMI: pure decisions, one function per strategy.

Follows KubeVirt's table: Always keeps a VMI (recreating final ones), RerunOnFailure recreates
failed ones only, Manual acts on start/stop requests, Halted keeps none, Once creates one once.
Start/stop/restart requests live in `status.stateChangeRequests` (Stop carries the VMI's uid).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ALWAYS, RERUN, MANUAL, HALTED, ONCE = "Always", "RerunOnFailure", "Manual", "Halted", "Once"
STRATEGIES = (ALWAYS, RERUN, MANUAL, HALTED, ONCE)
FINAL_PHASES = ("Succeeded", "Failed")


class RunStrategyError(ValueError):
    pass


def run_strategy(vm: dict) -> str:
    spec = vm.get("spec") or {}
    strategy, running = spec.get("runStrategy"), spec.get("running")
    if strategy and running is not None:
        raise RunStrategyError("spec.running and spec.runStrategy are mutually exclusive: set only spec.runStrategy")
    if strategy:
        if strategy not in STRATEGIES:
            raise RunStrategyError(f'spec.runStrategy: unsupported value "{strategy}": supported values: '
                                   + ", ".join(f'"{s}"' for s in STRATEGIES))
        return strategy
    return ALWAYS if running else HALTED


@dataclass(frozen=True)
class Decision:
    delete_vmi: bool = False
    create_vmi: bool = False
    add_start_request: bool = False
    switch_to_always: bool = False      # Halted + a start request: the strategy becomes Always
    wait_seconds: float = 0.0           # start-failure back-off still running
    why: str = ""


def _requests(vm: dict) -> list[dict]:
    return list((vm.get("status") or {}).get("stateChangeRequests") or [])


def has_start_request(vm: dict) -> bool:
    reqs = _requests(vm)
    return bool(reqs) and reqs[0].get("action") == "Start"


def has_stop_request_for(vm: dict, vmi: dict) -> bool:
    reqs = _requests(vm)
    if not reqs or reqs[0].get("action") != "Stop":
        return False
    uid = reqs[0].get("uid")
    return uid is None or uid == vmi["metadata"].get("uid")


def backoff_left(vm: dict, now: datetime) -> float:
    failure = (vm.get("status") or {}).get("startFailure")
    if not failure or not failure.get("retryAfterTimestamp"):
        return 0.0
    retry = datetime.fromisoformat(failure["retryAfterTimestamp"].replace("Z", "+00:00"))
    return max(0.0, (retry - now).total_seconds())


def _phase(vmi: dict) -> str:
    return (vmi.get("status") or {}).get("phase", "")


def _deleting(vmi: dict) -> bool:
    return bool(vmi["metadata"].get("deletionTimestamp"))


def _start(vm: dict, now: datetime, why: str) -> Decision:
    wait = backoff_left(vm, now)
    if wait > 0:
        return Decision(wait_seconds=wait, why=f"start-failure back-off: {wait:.0f} s left")
    return Decision(create_vmi=True, why=why)


def decide(vm: dict, vmi: dict | None, now: datetime) -> Decision:
    strategy = run_strategy(vm)
    if strategy == ALWAYS:
        if vmi is not None:
            if not _deleting(vmi) and (has_stop_request_for(vm, vmi) or _phase(vmi) in FINAL_PHASES):
                return Decision(delete_vmi=True, why="restarting: the VMI finished or a restart was requested")
            return Decision()
        return _start(vm, now, "runStrategy Always")
    if strategy == RERUN:
        if vmi is not None:
            failed = _phase(vmi) == "Failed"
            if not _deleting(vmi) and (has_stop_request_for(vm, vmi) or failed or _phase(vmi) == "Succeeded"):
                return Decision(delete_vmi=True, add_start_request=failed and not has_stop_request_for(vm, vmi),
                                why="the VMI failed" if failed else "the VMI stopped")
            return Decision()
        observed = (vm.get("status") or {}).get("runStrategy")
        if not has_start_request(vm) and observed == strategy:
            return Decision()
        return _start(vm, now, "runStrategy RerunOnFailure")
    if strategy == MANUAL:
        if vmi is not None:
            if not _deleting(vmi) and has_stop_request_for(vm, vmi):
                return Decision(delete_vmi=True, why="stop requested")
            return Decision()
        if has_start_request(vm):
            return Decision(create_vmi=True, why="start requested")
        return Decision()
    if strategy == HALTED:
        if vmi is None:
            if has_start_request(vm):
                return Decision(switch_to_always=True, why="start requested")
            return Decision()
        if not _deleting(vmi):
            return Decision(delete_vmi=True, why="runStrategy Halted")
        return Decision()
    # Once
    if vmi is None and (vm.get("status") or {}).get("runStrategy") != ONCE:
        return _start(vm, now, "runStrategy Once")
    return Decision()


def start_backoff_seconds(fail_count: int, max_delay: int = 300, jitter: float = 0.0) -> int:
    """KubeVirt's start-failure delay: 10 s × count², up to half again as jitter, capped at 300 s."""
    count = max(1, fail_count)
    delay = max(10, max_delay // 30) * count * count
    delay += int(jitter * (delay // 2 + 1))
    return min(delay, max_delay)
