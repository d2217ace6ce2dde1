"""Machine type and architecture."""

import pytest

from launcher.domain import SpecError
from launcher.domain.machine import build_os_type

from .conftest import seed_context


def test_seed_empty_type_means_q35(seed_vmi, seed_ctx, golden):
    golden("machine_seed", build_os_type(seed_vmi, seed_ctx))


def test_versioned_machine_type_known_to_qemu(seed_vmi):
    seed_vmi["spec"]["domain"]["machine"] = {"type": "pc-q35-8.2"}
    ctx = seed_context(machine_types=["q35", "pc", "pc-q35-8.2"])
    assert build_os_type(seed_vmi, ctx).get("machine") == "pc-q35-8.2"


def test_unknown_machine_type(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["machine"] = {"type": "pc-q35-rhel9.4.0"}
    with pytest.raises(SpecError) as caught:
        build_os_type(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.machine.type: unsupported value "pc-q35-rhel9.4.0": '
                                 'supported values: "pc", "q35"')


def test_architecture_must_match_the_node(seed_vmi, seed_ctx):
    seed_vmi["spec"]["architecture"] = "arm64"
    with pytest.raises(SpecError) as caught:
        build_os_type(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.architecture: unsupported value "arm64": this node runs "amd64" guests; '
                                 'set "amd64" or remove the field')


def test_matching_architecture_is_fine(seed_vmi, seed_ctx):
    seed_vmi["spec"]["architecture"] = "amd64"
    assert build_os_type(seed_vmi, seed_ctx).get("arch") == "x86_64"
