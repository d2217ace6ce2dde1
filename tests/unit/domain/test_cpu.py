"""vCPU count, topology and CPU model."""

import pytest

from launcher.domain import SpecError
from launcher.domain.cpu import build_cpu

from .conftest import seed_context


def test_seed_named_model_under_kvm(seed_vmi, seed_ctx, golden):
    golden("cpu_seed", build_cpu(seed_vmi, seed_ctx))


def test_named_model_under_tcg_skips_the_host_check(seed_vmi, golden):
    golden("cpu_named_tcg", build_cpu(seed_vmi, seed_context(accelerator="tcg")))


def test_topology_multiplies_into_vcpus(seed_vmi, seed_ctx, golden):
    seed_vmi["spec"]["domain"]["cpu"] = {"sockets": 2, "cores": 2, "threads": 2, "model": "host-passthrough",
                                         "features": [{"name": "pcid"}, {"name": "vmx", "policy": "disable"}]}
    vcpu, cpu = build_cpu(seed_vmi, seed_ctx)
    assert vcpu.text == "8"
    golden("cpu_topology_passthrough", [vcpu, cpu])


def test_default_model_is_host_model_under_kvm(seed_vmi, seed_ctx):
    del seed_vmi["spec"]["domain"]["cpu"]
    vcpu, cpu = build_cpu(seed_vmi, seed_ctx)
    assert (vcpu.text, cpu.get("mode")) == ("1", "host-model")


@pytest.mark.parametrize("model", [None, "host-model", "host-passthrough"])
def test_host_modes_become_maximum_under_tcg(seed_vmi, model):
    seed_vmi["spec"]["domain"]["cpu"] = {"model": model} if model else {}
    _, cpu = build_cpu(seed_vmi, seed_context(accelerator="tcg"))
    assert cpu.attrib == {"mode": "maximum"}


@pytest.mark.parametrize(("resources", "vcpus"), [
    ({"limits": {"cpu": "1500m"}, "requests": {"cpu": "4"}}, "2"),
    ({"requests": {"cpu": "500m"}}, "1"),
    ({"requests": {"cpu": 3}}, "3"),
])
def test_without_topology_vcpus_come_from_resources(seed_vmi, seed_ctx, resources, vcpus):
    seed_vmi["spec"]["domain"]["cpu"] = {}
    seed_vmi["spec"]["domain"]["resources"].update(resources)
    vcpu, cpu = build_cpu(seed_vmi, seed_ctx)
    assert vcpu.text == vcpus
    assert cpu.find("topology").attrib == {"sockets": vcpus, "cores": "1", "threads": "1"}


def test_unknown_cpu_model(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["cpu"]["model"] = "Pentium-Pro"
    with pytest.raises(SpecError) as caught:
        build_cpu(seed_vmi, seed_ctx)
    assert str(caught.value) == (
        'spec.domain.cpu.model: unknown CPU model "Pentium-Pro": use "host-model", "host-passthrough" or a model '
        'this node\'s QEMU supports: "Nehalem", "Nehalem-IBRS", "Skylake-Client", "qemu64"'
    )


def test_zero_cores(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["cpu"]["cores"] = 0
    with pytest.raises(SpecError, match=r"^spec.domain.cpu.cores: must be at least 1, not 0$"):
        build_cpu(seed_vmi, seed_ctx)


def test_feature_policy_must_be_known(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["cpu"]["features"] = [{"name": "pcid", "policy": "maybe"}]
    with pytest.raises(SpecError) as caught:
        build_cpu(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.cpu.features[0].policy: unsupported value "maybe": supported values: '
                                 '"force", "require", "optional", "disable", "forbid"')


def test_dedicated_cpus_are_refused(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["cpu"]["dedicatedCpuPlacement"] = True
    with pytest.raises(SpecError, match=r"^spec.domain.cpu.dedicatedCpuPlacement: not supported by this launcher"):
        build_cpu(seed_vmi, seed_ctx)
