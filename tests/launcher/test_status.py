"""The VMI status the launcher computes from what it observed: KubeVirt's phase rules, the
conditions it owns (and those it leaves alone), and when timestamps move."""

from __future__ import annotations

import pytest

from launcher import status
from launcher.status import Interface, Observation


@pytest.mark.parametrize(("obs", "phase", "reason"), [
    (Observation(), None, None),
    (Observation(state=status.RUNNING), "Running", None),
    (Observation(state=status.PAUSED), "Running", None),
    (Observation(state=status.SHUT_DOWN, acpi_requested=True), "Succeeded", None),
    (Observation(state=status.DESTROYED), "Succeeded", None),
    (Observation(state=status.DESTROYED, acpi_requested=True), "Failed", "GracePeriodExpired"),
    (Observation(state=status.CRASHED), "Failed", "Crashed"),
    (Observation(state=status.INVALID), "Failed", "InvalidSpec"),
])
def test_phase_follows_kubevirt(obs: Observation, phase: str | None, reason: str | None) -> None:
    assert (status.phase(obs), status.reason(obs)) == (phase, reason)


def test_a_paused_guest_is_not_ready_and_says_who_paused_it() -> None:
    conditions = status.conditions(Observation(state=status.PAUSED, paused_reason="PausedByUser"))
    assert conditions == [
        {"type": "Ready", "status": "False", "reason": "GuestNotRunning", "message": "the guest is paused"},
        {"type": "Paused", "status": "True", "reason": "PausedByUser", "message": "VMI was paused by user"},
    ]


def test_software_emulation_is_stated() -> None:
    obs = Observation(state=status.RUNNING, emulation_reason="KVMNotWorking", emulation_message="probe hung")
    assert status.conditions(obs)[1] == {"type": "SoftwareEmulation", "status": "True",
                                         "reason": "KVMNotWorking", "message": "probe hung"}


def test_other_components_conditions_are_kept_and_ours_replaced() -> None:
    existing = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Ready", "status": "True", "reason": "", "lastTransitionTime": "2026-01-01T00:00:01Z"},
        {"type": "Paused", "status": "True", "reason": "PausedByUser", "lastTransitionTime": "2026-01-01T00:00:02Z"},
    ]
    merged = status.merge_conditions(existing, status.conditions(Observation(state=status.RUNNING)),
                                     "2026-01-01T00:01:00Z")
    assert [c["type"] for c in merged] == ["PodScheduled", "Ready"]
    assert merged[1]["lastTransitionTime"] == "2026-01-01T00:00:01Z"  # unchanged status keeps its time


def test_a_phase_change_is_timestamped_once() -> None:
    obs = Observation(state=status.RUNNING, node_name="node-1", interfaces=(Interface("default", "52:54:00:00:00:01",
                                                                                      "192.0.2.10"),))
    first = status.status_update(obs, {"phase": "Scheduled"}, "2026-01-01T00:00:00Z")
    assert first["phase"] == "Running"
    assert first["phaseTransitionTimestamps"] == [{"phase": "Running",
                                                   "phaseTransitionTimestamp": "2026-01-01T00:00:00Z"}]
    assert first["interfaces"] == [{"name": "default", "ipAddress": "192.0.2.10", "ipAddresses": ["192.0.2.10"],
                                    "mac": "52:54:00:00:00:01"}]
    again = status.status_update(obs, first, "2026-01-01T00:05:00Z")
    assert again["phaseTransitionTimestamps"] == first["phaseTransitionTimestamps"]
    assert status.without_timestamps(again) == status.without_timestamps(first)
