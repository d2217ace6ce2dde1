"""Hypervisor features: `<features>` from `spec.domain.features`.

ACPI is on unless disabled (graceful shutdown is an ACPI power-button press) and the APIC is
always present on x86_64, so `apic.enabled: false` cannot be honoured. SMM needs the q35 machine.
Hyper-V enlightenments are a subset (the ones QEMU/KVM offer without extra host set-up); KVM
hiding, paravirtual spinlocks and Hyper-V all need KVM, so under TCG they are refused rather than
dropped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.errors import (
    SpecError,
    as_bool,
    as_int,
    as_mapping,
    domain_spec,
    quoted,
    reject_unsupported,
    xml_text,
)
from launcher.domain.machine import is_q35, machine_type

FIELD = "spec.domain.features"
# KubeVirt field name → libvirt element, for the on/off enlightenments.
_HYPERV_SWITCHES = {
    "relaxed": "relaxed",
    "vapic": "vapic",
    "vpindex": "vpindex",
    "runtime": "runtime",
    "synic": "synic",
    "reset": "reset",
    "frequencies": "frequencies",
    "tlbflush": "tlbflush",
    "ipi": "ipi",
}
_HYPERV_SUPPORTED = (*_HYPERV_SWITCHES, "spinlocks", "synictimer", "vendorid")
_MIN_SPINLOCK_RETRIES = 4095  # libvirt's lower bound
_MAX_VENDOR_ID = 12  # CPUID vendor strings are 12 bytes


def _features(vmi: Mapping[str, Any]) -> Mapping[str, Any]:
    features = as_mapping(domain_spec(vmi).get("features"), FIELD)
    reject_unsupported(features, FIELD, ("acpi", "apic", "smm", "hyperv", "kvm", "pvspinlock"))
    return features


def _enabled(features: Mapping[str, Any], key: str, field: str) -> bool | None:
    """None when the feature is absent; present means enabled unless `enabled: false`."""
    if key not in features:
        return None
    feature = as_mapping(features[key], f"{field}.{key}")
    return as_bool(feature.get("enabled"), f"{field}.{key}.enabled", default=True)


def smm_enabled(vmi: Mapping[str, Any]) -> bool:
    return bool(_enabled(_features(vmi), "smm", FIELD))


def build_features(vmi: Mapping[str, Any], ctx: DomainContext) -> ET.Element:
    features = _features(vmi)
    element = ET.Element("features")
    acpi = as_mapping(features.get("acpi"), f"{FIELD}.acpi")
    reject_unsupported(acpi, f"{FIELD}.acpi", ("enabled",))
    if _enabled(features, "acpi", FIELD) is not False:
        ET.SubElement(element, "acpi")
    element.append(_apic(features))
    if "hyperv" in features:
        _require_kvm(ctx, f"{FIELD}.hyperv")
        element.append(_hyperv(as_mapping(features["hyperv"], f"{FIELD}.hyperv")))
    if "kvm" in features:
        _require_kvm(ctx, f"{FIELD}.kvm")
        element.append(_kvm(as_mapping(features["kvm"], f"{FIELD}.kvm")))
    if "pvspinlock" in features:
        _require_kvm(ctx, f"{FIELD}.pvspinlock")
        reject_unsupported(as_mapping(features["pvspinlock"], f"{FIELD}.pvspinlock"), f"{FIELD}.pvspinlock",
                           ("enabled",))
        ET.SubElement(element, "pvspinlock", state=_on_off(_enabled(features, "pvspinlock", FIELD)))
    smm = _enabled(features, "smm", FIELD)
    if smm is not None:
        reject_unsupported(as_mapping(features["smm"], f"{FIELD}.smm"), f"{FIELD}.smm", ("enabled",))
        if smm and not is_q35(machine_type(vmi, ctx)):
            raise SpecError(f"{FIELD}.smm", "SMM needs the q35 machine type: set spec.domain.machine.type "
                                            "to \"q35\" or remove smm")
        ET.SubElement(element, "smm", state=_on_off(smm))
    return element


def _on_off(enabled: bool | None) -> str:
    return "off" if enabled is False else "on"


def _require_kvm(ctx: DomainContext, field: str) -> None:
    if ctx.emulated:
        raise SpecError(field, "needs KVM, but this node runs guests under TCG emulation: remove it")


def _apic(features: Mapping[str, Any]) -> ET.Element:
    field = f"{FIELD}.apic"
    apic = as_mapping(features.get("apic"), field)
    reject_unsupported(apic, field, ("enabled", "endOfInterrupt"))
    if _enabled(features, "apic", FIELD) is False:
        raise SpecError(f"{field}.enabled", "the APIC cannot be turned off on x86_64 guests: remove enabled: false")
    element = ET.Element("apic")
    if "endOfInterrupt" in apic:
        eoi = as_bool(apic["endOfInterrupt"], f"{field}.endOfInterrupt", default=False)
        element.set("eoi", _on_off(eoi))
    return element


def _hyperv(hyperv: Mapping[str, Any]) -> ET.Element:
    field = f"{FIELD}.hyperv"
    reject_unsupported(hyperv, field, _HYPERV_SUPPORTED)
    element = ET.Element("hyperv", mode="custom")
    for key, tag in _HYPERV_SWITCHES.items():
        if key in hyperv:
            reject_unsupported(as_mapping(hyperv[key], f"{field}.{key}"), f"{field}.{key}", ("enabled",))
            ET.SubElement(element, tag, state=_on_off(_enabled(hyperv, key, field)))
    if "spinlocks" in hyperv:
        element.append(_spinlocks(as_mapping(hyperv["spinlocks"], f"{field}.spinlocks")))
    if "synictimer" in hyperv:
        element.append(_synic_timer(as_mapping(hyperv["synictimer"], f"{field}.synictimer")))
    if "vendorid" in hyperv:
        element.append(_vendor_id(as_mapping(hyperv["vendorid"], f"{field}.vendorid")))
    return element


def _spinlocks(spinlocks: Mapping[str, Any]) -> ET.Element:
    field = f"{FIELD}.hyperv.spinlocks"
    reject_unsupported(spinlocks, field, ("enabled", "spinlocks"))
    enabled = as_bool(spinlocks.get("enabled"), f"{field}.enabled", default=True)
    element = ET.Element("spinlocks", state=_on_off(enabled))
    if enabled:
        retries = spinlocks.get("spinlocks", 8191)
        element.set("retries", str(as_int(retries, f"{field}.spinlocks", minimum=_MIN_SPINLOCK_RETRIES)))
    return element


def _synic_timer(timer: Mapping[str, Any]) -> ET.Element:
    field = f"{FIELD}.hyperv.synictimer"
    reject_unsupported(timer, field, ("enabled", "direct"))
    element = ET.Element("stimer", state=_on_off(as_bool(timer.get("enabled"), f"{field}.enabled", default=True)))
    if "direct" in timer:
        direct = as_mapping(timer["direct"], f"{field}.direct")
        reject_unsupported(direct, f"{field}.direct", ("enabled",))
        ET.SubElement(element, "direct",
                      state=_on_off(as_bool(direct.get("enabled"), f"{field}.direct.enabled", default=True)))
    return element


def _vendor_id(vendor: Mapping[str, Any]) -> ET.Element:
    field = f"{FIELD}.hyperv.vendorid"
    reject_unsupported(vendor, field, ("enabled", "vendorid"))
    enabled = as_bool(vendor.get("enabled"), f"{field}.enabled", default=True)
    element = ET.Element("vendor_id", state=_on_off(enabled))
    if enabled:
        value = xml_text(vendor.get("vendorid", ""), f"{field}.vendorid")
        if not value or len(value) > _MAX_VENDOR_ID:
            raise SpecError(f"{field}.vendorid", f"must be 1 to {_MAX_VENDOR_ID} characters, not {quoted(value)}")
        element.set("value", value)
    return element


def _kvm(kvm: Mapping[str, Any]) -> ET.Element:
    field = f"{FIELD}.kvm"
    reject_unsupported(kvm, field, ("hidden",))
    element = ET.Element("kvm")
    hidden = as_bool(kvm.get("hidden"), f"{field}.hidden", default=False)
    ET.SubElement(element, "hidden", state=_on_off(hidden))
    return element
