"""Guest clock and timers."""

import pytest

from launcher.domain import SpecError
from launcher.domain.clock import build_clock

from .conftest import seed_context


def test_default_is_utc(seed_vmi, seed_ctx, golden):
    golden("clock_default", build_clock(seed_vmi, seed_ctx))


def test_utc_offset_and_timers(seed_vmi, seed_ctx, golden):
    seed_vmi["spec"]["domain"]["clock"] = {
        "utc": {"offsetSeconds": -3600},
        "timer": {
            "rtc": {"tickPolicy": "catchup", "track": "guest"},
            "pit": {"tickPolicy": "delay"},
            "hpet": {"enabled": False},
            "kvm": {},
        },
    }
    golden("clock_utc_timers", build_clock(seed_vmi, seed_ctx))


def test_explicit_utc_without_offset_resyncs_at_boot(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["clock"] = {"utc": {}}
    assert build_clock(seed_vmi, seed_ctx).attrib == {"offset": "utc", "adjustment": "reset"}


def test_timezone(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["clock"] = {"timezone": "America/New_York"}
    assert build_clock(seed_vmi, seed_ctx).attrib == {"offset": "timezone", "timezone": "America/New_York"}


def test_malformed_timezone(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["clock"] = {"timezone": "Europe/<Berlin>"}
    with pytest.raises(SpecError, match=r'^spec.domain.clock.timezone: must be a time zone name such as'):
        build_clock(seed_vmi, seed_ctx)


def test_utc_and_timezone_together(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["clock"] = {"utc": {}, "timezone": "UTC"}
    with pytest.raises(SpecError, match=r"^spec.domain.clock: set either utc or timezone, not both$"):
        build_clock(seed_vmi, seed_ctx)


def test_unknown_tick_policy(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["clock"] = {"timer": {"rtc": {"tickPolicy": "merge"}}}
    with pytest.raises(SpecError) as caught:
        build_clock(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.clock.timer.rtc.tickPolicy: unsupported value "merge": '
                                 'supported values: "delay", "catchup"')


def test_kvm_clock_needs_kvm(seed_vmi):
    seed_vmi["spec"]["domain"]["clock"] = {"timer": {"kvm": {}}}
    with pytest.raises(SpecError, match=r"^spec.domain.clock.timer.kvm: needs KVM"):
        build_clock(seed_vmi, seed_context(accelerator="tcg"))


def test_disabled_kvm_clock_is_fine_under_tcg(seed_vmi):
    seed_vmi["spec"]["domain"]["clock"] = {"timer": {"kvm": {"enabled": False}}}
    timer = build_clock(seed_vmi, seed_context(accelerator="tcg")).find("timer")
    assert timer.attrib == {"name": "kvmclock", "present": "no"}
