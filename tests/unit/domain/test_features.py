"""Hypervisor features: ACPI, APIC, SMM, Hyper-V, KVM."""

import pytest

from launcher.domain import SpecError
from launcher.domain.features import build_features

from .conftest import seed_context


def test_defaults_are_acpi_and_apic(seed_vmi, seed_ctx, golden):
    golden("features_default", build_features(seed_vmi, seed_ctx))


def test_hyperv_subset_smm_and_kvm(seed_vmi, seed_ctx, golden):
    seed_vmi["spec"]["domain"]["features"] = {
        "acpi": {},
        "apic": {"endOfInterrupt": True},
        "smm": {"enabled": True},
        "kvm": {"hidden": True},
        "pvspinlock": {"enabled": False},
        "hyperv": {
            "relaxed": {},
            "vapic": {"enabled": True},
            "spinlocks": {"spinlocks": 8191},
            "vpindex": {},
            "synic": {},
            "synictimer": {"direct": {}},
            "vendorid": {"vendorid": "kvtui"},
            "frequencies": {"enabled": False},
        },
    }
    golden("features_hyperv", build_features(seed_vmi, seed_ctx))


def test_acpi_can_be_turned_off(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["features"] = {"acpi": {"enabled": False}}
    assert [child.tag for child in build_features(seed_vmi, seed_ctx)] == ["apic"]


def test_apic_cannot_be_turned_off(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["features"] = {"apic": {"enabled": False}}
    with pytest.raises(SpecError, match=r"^spec.domain.features.apic.enabled: the APIC cannot be turned off"):
        build_features(seed_vmi, seed_ctx)


def test_smm_needs_q35(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["machine"] = {"type": "pc"}
    seed_vmi["spec"]["domain"]["features"] = {"smm": {}}
    with pytest.raises(SpecError) as caught:
        build_features(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.features.smm: SMM needs the q35 machine type: set '
                                 'spec.domain.machine.type to "q35" or remove smm')


def test_unsupported_hyperv_enlightenment(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["features"] = {"hyperv": {"evmcs": {}}}
    with pytest.raises(SpecError, match=r"^spec.domain.features.hyperv.evmcs: not supported by this launcher"):
        build_features(seed_vmi, seed_ctx)


def test_hyperv_needs_kvm(seed_vmi):
    seed_vmi["spec"]["domain"]["features"] = {"hyperv": {"relaxed": {}}}
    with pytest.raises(SpecError) as caught:
        build_features(seed_vmi, seed_context(accelerator="tcg"))
    assert str(caught.value) == ("spec.domain.features.hyperv: needs KVM, but this node runs guests under TCG "
                                 "emulation: remove it")


def test_spinlock_retries_lower_bound(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["features"] = {"hyperv": {"spinlocks": {"spinlocks": 100}}}
    with pytest.raises(SpecError, match=r"^spec.domain.features.hyperv.spinlocks.spinlocks: must be at least 4095"):
        build_features(seed_vmi, seed_ctx)


def test_hyperv_passthrough_is_refused(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["features"] = {"hypervPassthrough": {"enabled": True}}
    with pytest.raises(SpecError, match=r"^spec.domain.features.hypervPassthrough: not supported"):
        build_features(seed_vmi, seed_ctx)
