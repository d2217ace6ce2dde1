"""runStrategy decisions, row by row of KubeVirt's table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cluster.reconciler.run_strategy import RunStrategyError, decide, run_strategy, start_backoff_seconds

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def vm(strategy=None, running=None, requests=None, observed=None, failure=None):
    spec = {}
    if strategy:
        spec["runStrategy"] = strategy
    if running is not None:
        spec["running"] = running
    status = {}
    if requests:
        status["stateChangeRequests"] = requests
    if observed:
        status["runStrategy"] = observed
    if failure:
        status["startFailure"] = failure
    return {"metadata": {"name": "v", "uid": "vm-uid"}, "spec": spec, "status": status}


def vmi(phase="Running", uid="vmi-1", deleting=False):
    meta = {"name": "v", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase}}


def test_running_bool_maps_to_always_and_halted():
    assert run_strategy(vm(running=True)) == "Always"
    assert run_strategy(vm(running=False)) == "Halted"
    assert run_strategy(vm()) == "Halted"
    with pytest.raises(RunStrategyError, match="mutually exclusive"):
        run_strategy(vm("Always", running=True))
    with pytest.raises(RunStrategyError, match='unsupported value "Sometimes"'):
        run_strategy(vm("Sometimes"))


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_always_recreates_final_vmis(phase):
    assert decide(vm("Always"), vmi(phase), NOW).delete_vmi
    assert decide(vm("Always"), None, NOW).create_vmi


def test_always_keeps_a_running_vmi_and_restarts_on_a_stop_request():
    assert decide(vm("Always"), vmi(), NOW) == decide(vm("Always"), vmi(), NOW)
    assert not decide(vm("Always"), vmi(), NOW).delete_vmi
    restart = vm("Always", requests=[{"action": "Stop", "uid": "vmi-1"}, {"action": "Start"}])
    assert decide(restart, vmi(), NOW).delete_vmi
    assert not decide(restart, vmi(uid="vmi-2"), NOW).delete_vmi   # the request was for the old VMI


def test_always_waits_out_the_start_failure_backoff():
    failure = {"consecutiveFailCount": 2, "retryAfterTimestamp": (NOW + timedelta(seconds=40)).isoformat()}
    d = decide(vm("Always", failure=failure), None, NOW)
    assert not d.create_vmi and d.wait_seconds == 40


def test_rerun_on_failure_restarts_failed_but_not_succeeded():
    failed = decide(vm("RerunOnFailure", observed="RerunOnFailure"), vmi("Failed"), NOW)
    assert failed.delete_vmi and failed.add_start_request
    succeeded = decide(vm("RerunOnFailure", observed="RerunOnFailure"), vmi("Succeeded"), NOW)
    assert succeeded.delete_vmi and not succeeded.add_start_request
    # Gone after success and no start request: stays stopped.
    assert decide(vm("RerunOnFailure", observed="RerunOnFailure"), None, NOW) == decide(
        vm("RerunOnFailure", observed="RerunOnFailure"), None, NOW)
    assert not decide(vm("RerunOnFailure", observed="RerunOnFailure"), None, NOW).create_vmi
    # First start, or a start request: creates.
    assert decide(vm("RerunOnFailure"), None, NOW).create_vmi
    assert decide(vm("RerunOnFailure", observed="RerunOnFailure", requests=[{"action": "Start"}]), None, NOW).create_vmi


def test_manual_acts_only_on_requests():
    assert not decide(vm("Manual"), None, NOW).create_vmi
    assert decide(vm("Manual", requests=[{"action": "Start"}]), None, NOW).create_vmi
    assert not decide(vm("Manual"), vmi("Failed"), NOW).delete_vmi
    assert decide(vm("Manual", requests=[{"action": "Stop", "uid": "vmi-1"}]), vmi(), NOW).delete_vmi


def test_halted_removes_the_vmi_and_a_start_request_switches_to_always():
    assert decide(vm("Halted"), vmi(), NOW).delete_vmi
    assert not decide(vm("Halted"), vmi(deleting=True), NOW).delete_vmi
    assert decide(vm("Halted", requests=[{"action": "Start"}]), None, NOW).switch_to_always
    assert decide(vm("Halted"), None, NOW) == decide(vm("Halted"), None, NOW)


def test_once_creates_one_vmi_and_never_again():
    assert decide(vm("Once"), None, NOW).create_vmi
    assert not decide(vm("Once"), vmi("Succeeded"), NOW).delete_vmi
    assert not decide(vm("Once", observed="Once"), None, NOW).create_vmi


def test_start_backoff_grows_quadratically_and_caps():
    assert [start_backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6)] == [10, 40, 90, 160, 250, 300]
    assert start_backoff_seconds(1, jitter=1.0) == 16
    assert start_backoff_seconds(20, jitter=1.0) == 300
