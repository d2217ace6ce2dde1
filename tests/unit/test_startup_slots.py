"""The node agent's startup boost slots: a fixed number of holders, the rest waiting in order."""

from __future__ import annotations

import pytest

from cluster.nodeagent.startup import SLOTS_PER_CPU, StartupSlots, default_slots


def test_slots_are_granted_in_order_as_holders_release_them():
    slots = StartupSlots(2)
    granted: list[str] = []
    for key in "abcd":
        slots.request(key, lambda key=key: granted.append(key))
    assert granted == ["a", "b"]
    assert slots.holders == {"a", "b"} and slots.waiting == ("c", "d")
    slots.release("b")
    assert granted == ["a", "b", "c"] and slots.holders == {"a", "c"}
    slots.release("a")
    slots.release("c")
    assert granted == ["a", "b", "c", "d"] and slots.holders == {"d"} and slots.waiting == ()


def test_a_waiting_pod_that_goes_away_leaves_the_queue_without_a_grant():
    slots = StartupSlots(1)
    granted: list[str] = []
    for key in "abc":
        slots.request(key, lambda key=key: granted.append(key))
    slots.release("b")                  # Ready (or deleted) before its turn came
    slots.release("a")
    assert granted == ["a", "c"] and slots.waiting == ()


def test_asking_twice_and_releasing_unknown_keys_change_nothing():
    slots = StartupSlots(1)
    granted: list[str] = []
    slots.request("a", lambda: granted.append("a"))
    slots.request("a", lambda: granted.append("a again"))
    slots.request("b", lambda: granted.append("b"))
    slots.request("b", lambda: granted.append("b again"))
    slots.release("nobody")
    assert granted == ["a"] and slots.waiting == ("b",)
    slots.release("a")
    slots.release("a")
    assert granted == ["a", "b"] and slots.holders == {"b"}


def test_capacity_must_be_positive_and_defaults_to_three_per_cpu():
    with pytest.raises(ValueError, match="at least 1"):
        StartupSlots(0)
    assert default_slots() >= SLOTS_PER_CPU and default_slots() % SLOTS_PER_CPU == 0


def test_the_agent_refuses_a_bad_slot_count():
    from cluster.nodeagent.main import parse_args

    base = ["--node-name", "n", "--root", "/tmp/x"]
    assert parse_args([*base, "--startup-boost-slots", "3"]).startup_boost_slots == 3
    assert parse_args(base).startup_boost_slots is None
    for bad in ("0", "many"):
        with pytest.raises(SystemExit):
            parse_args([*base, "--startup-boost-slots", bad])
