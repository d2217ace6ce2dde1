"""The guest clock: `<clock>` from `spec.domain.clock`.

`utc` (the default) keeps the guest RTC on UTC; `utc.offsetSeconds` shifts it, and without an
offset the clock is re-synchronised at every boot (`adjustment='reset'`), as KubeVirt does.
`timezone` starts the RTC in that zone. Timers (rtc, pit, hpet, kvm, hyperv) map to `<timer>`;
the kvm and hyperv clocks need KVM and are refused under TCG.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.errors import (
    SpecError,
    as_bool,
    as_int,
    as_mapping,
    choice,
    domain_spec,
    quoted,
    reject_unsupported,
    xml_text,
)

FIELD = "spec.domain.clock"
# KubeVirt timer name → (libvirt timer name, tick policies it accepts, accepts `track`, needs KVM).
_TIMERS: dict[str, tuple[str, tuple[str, ...], bool, bool]] = {
    "rtc": ("rtc", ("delay", "catchup"), True, False),
    "pit": ("pit", ("delay", "catchup", "discard"), False, False),
    "hpet": ("hpet", ("delay", "catchup", "merge", "discard"), False, False),
    "kvm": ("kvmclock", (), False, True),
    "hyperv": ("hypervclock", (), False, True),
}
_TIMEZONE = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")
_MAX_OFFSET = 10 * 365 * 24 * 3600  # a decade either way is plenty; beyond that it is a typo


def build_clock(vmi: Mapping[str, Any], ctx: DomainContext) -> ET.Element:
    clock = as_mapping(domain_spec(vmi).get("clock"), FIELD)
    reject_unsupported(clock, FIELD, ("utc", "timezone", "timer"))
    if "utc" in clock and "timezone" in clock:
        raise SpecError(FIELD, "set either utc or timezone, not both")
    if "timezone" in clock:
        element = ET.Element("clock", offset="timezone", timezone=_timezone(clock["timezone"]))
    else:
        element = _utc(as_mapping(clock.get("utc"), f"{FIELD}.utc"), explicit="utc" in clock)
    timers = as_mapping(clock.get("timer"), f"{FIELD}.timer")
    reject_unsupported(timers, f"{FIELD}.timer", tuple(_TIMERS))
    for name in _TIMERS:
        if name in timers:
            element.append(_timer(name, as_mapping(timers[name], f"{FIELD}.timer.{name}"), ctx))
    return element


def _timezone(value: object) -> str:
    field = f"{FIELD}.timezone"
    zone = xml_text(value, field)
    if not _TIMEZONE.match(zone):
        raise SpecError(field, f"must be a time zone name such as \"Europe/Berlin\", not {quoted(zone)}")
    return zone


def _utc(utc: Mapping[str, Any], *, explicit: bool) -> ET.Element:
    field = f"{FIELD}.utc"
    reject_unsupported(utc, field, ("offsetSeconds",))
    element = ET.Element("clock", offset="utc")
    if "offsetSeconds" in utc:
        offset = as_int(utc["offsetSeconds"], f"{field}.offsetSeconds", minimum=-_MAX_OFFSET, maximum=_MAX_OFFSET)
        element.set("adjustment", str(offset))
    elif explicit:
        element.set("adjustment", "reset")
    return element


def _timer(name: str, timer: Mapping[str, Any], ctx: DomainContext) -> ET.Element:
    field = f"{FIELD}.timer.{name}"
    libvirt_name, policies, has_track, needs_kvm = _TIMERS[name]
    supported = ["enabled"] + (["tickPolicy"] if policies else []) + (["track"] if has_track else [])
    reject_unsupported(timer, field, supported)
    present = as_bool(timer.get("enabled"), f"{field}.enabled", default=True)
    if needs_kvm and present and ctx.emulated:
        raise SpecError(field, "needs KVM, but this node runs guests under TCG emulation: "
                               "remove it or set enabled: false")
    element = ET.Element("timer", name=libvirt_name, present="yes" if present else "no")
    if "tickPolicy" in timer:
        element.set("tickpolicy", choice(timer["tickPolicy"], f"{field}.tickPolicy", policies))
    if "track" in timer:
        element.set("track", choice(timer["track"], f"{field}.track", ("guest", "wall")))
    return element
