"""DomainContext: launcher-supplied facts; a bad value there is a launcher bug (ValueError)."""

import pytest

from launcher.domain import DiskImage, DomainContext

UUID = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def test_defaults_describe_an_x86_64_kvm_node():
    ctx = DomainContext(uuid=UUID, serial_socket="/run/s")
    assert (ctx.emulator, ctx.accelerator, ctx.arch) == ("/usr/bin/qemu-system-x86_64", "kvm", "x86_64")
    assert ctx.machine_types == frozenset({"q35", "pc"})
    assert not ctx.emulated


def test_lists_from_qemu_become_sets():
    ctx = DomainContext(uuid=UUID, serial_socket="/run/s", machine_types=["q35", "pc-q35-8.2"],
                        cpu_models=["Nehalem"], accelerator="tcg")
    assert ctx.machine_types == frozenset({"q35", "pc-q35-8.2"})
    assert ctx.cpu_models == frozenset({"Nehalem"})
    assert ctx.emulated


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"uuid": "u"}, "DomainContext.uuid must be a UUID, not 'u'"),
        ({"accelerator": "hvf"}, "DomainContext.accelerator must be one of ('kvm', 'tcg'), not 'hvf'"),
        ({"user_network_backend": "vde"}, "DomainContext.user_network_backend must be one of"),
        ({"serial_socket": "relative/sock"}, "DomainContext.serial_socket must be an absolute printable path"),
        ({"console_log": "/run/a]]>b"}, "DomainContext.console_log must be an absolute printable path"),
        ({"machine_types": "q35"}, "expected a collection of names, not the string 'q35'"),
    ],
)
def test_launcher_mistakes_are_value_errors(changes, message):
    values = {"uuid": UUID, "serial_socket": "/run/s", **changes}
    with pytest.raises(ValueError) as caught:
        DomainContext(**values)
    assert str(caught.value).startswith(message)


def test_disk_image_format_is_raw_or_qcow2():
    assert DiskImage("/d.qcow2", "qcow2").format == "qcow2"
    with pytest.raises(ValueError, match="DiskImage.format must be one of"):
        DiskImage("/d.vmdk", "vmdk")
