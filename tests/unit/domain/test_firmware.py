"""Firmware and boot: BIOS, kernelBoot, EFI, SMBIOS serial."""

import xml.etree.ElementTree as ET

import pytest

from launcher.domain import EfiFirmware, KernelBootFiles, SpecError
from launcher.domain.firmware import build_boot, build_sysinfo

from .conftest import demo_context, seed_context

OVMF = EfiFirmware(
    code="/usr/share/OVMF/OVMF_CODE_4M.fd",
    vars_template="/usr/share/OVMF/OVMF_VARS_4M.fd",
    nvram="/run/kvtui/launcher/nvram/testvm_VARS.fd",
    secure_code="/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
    secure_vars_template="/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
)


def test_seed_boots_plain_bios(seed_vmi, seed_ctx):
    assert build_boot(seed_vmi, seed_ctx) == []
    assert build_sysinfo(seed_vmi) is None


def test_demo_kernel_boot(demo_vmi, demo_ctx, golden):
    golden("firmware_kernel_boot", build_boot(demo_vmi, demo_ctx))


def test_bios_on_serial_and_paused_start_get_a_boot_menu(seed_vmi, seed_ctx, golden):
    seed_vmi["spec"]["domain"]["firmware"] = {"bootloader": {"bios": {"useSerial": True}}}
    seed_vmi["spec"]["startStrategy"] = "Paused"
    golden("firmware_bios_serial_paused", build_boot(seed_vmi, seed_ctx))


def test_firmware_serial_becomes_smbios(seed_vmi, seed_ctx, golden):
    seed_vmi["spec"]["domain"]["firmware"] = {"serial": "KVT-0001"}
    golden("firmware_serial", [*build_boot(seed_vmi, seed_ctx), build_sysinfo(seed_vmi)])


def test_kernel_args_need_a_kernel(demo_vmi, demo_ctx):
    del demo_vmi["spec"]["domain"]["firmware"]["kernelBoot"]["container"]
    with pytest.raises(SpecError) as caught:
        build_boot(demo_vmi, demo_ctx)
    assert str(caught.value) == ("spec.domain.firmware.kernelBoot.kernelArgs: kernel arguments apply only to a "
                                 "kernel booted directly: add kernelBoot.container or remove kernelArgs")


def test_kernel_not_extracted(demo_vmi):
    with pytest.raises(SpecError, match=r"^spec.domain.firmware.kernelBoot.container: the kernel was not extracted"):
        build_boot(demo_vmi, demo_context(kernel_boot=None))


def test_initrd_not_extracted(demo_vmi):
    ctx = demo_context(kernel_boot=KernelBootFiles(kernel="/run/k/vmlinuz"))
    with pytest.raises(SpecError, match=r"^spec.domain.firmware.kernelBoot.container.initrdPath: the initrd"):
        build_boot(demo_vmi, ctx)


def test_kernel_path_required(demo_vmi, demo_ctx):
    del demo_vmi["spec"]["domain"]["firmware"]["kernelBoot"]["container"]["kernelPath"]
    with pytest.raises(SpecError, match=r"^spec.domain.firmware.kernelBoot.container.kernelPath: required"):
        build_boot(demo_vmi, demo_ctx)


def test_kernel_path_with_xml_characters_round_trips(demo_vmi):
    kernel = "/run/k/<v&m'linuz>"
    elements = build_boot(demo_vmi, demo_context(kernel_boot=KernelBootFiles(kernel=kernel, initrd="/run/k/i")))
    os_element = ET.Element("os")
    os_element.extend(elements)
    assert ET.fromstring(ET.tostring(os_element)).findtext("kernel") == kernel


def test_kernel_path_with_cdata_end_is_refused(demo_vmi):
    ctx = demo_context(kernel_boot=KernelBootFiles(kernel="/run/k/a]]>b", initrd="/run/k/i"))
    with pytest.raises(SpecError) as caught:
        build_boot(demo_vmi, ctx)
    assert str(caught.value) == ('spec.domain.firmware.kernelBoot.container.kernelPath: must not contain "]]>": '
                                 'rename "/run/k/a]]>b"')


def test_efi_without_ovmf(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["firmware"] = {"bootloader": {"efi": {"secureBoot": False}}}
    with pytest.raises(SpecError) as caught:
        build_boot(seed_vmi, seed_ctx)
    assert str(caught.value) == ("spec.domain.firmware.bootloader.efi: EFI firmware (OVMF) is not installed on "
                                 "this node: use bootloader.bios or remove the bootloader")


def test_efi_without_secure_boot(seed_vmi, golden):
    seed_vmi["spec"]["domain"]["firmware"] = {"bootloader": {"efi": {"secureBoot": False}}}
    golden("firmware_efi", build_boot(seed_vmi, seed_context(efi=OVMF)))


def test_secure_boot_needs_smm(seed_vmi):
    seed_vmi["spec"]["domain"]["firmware"] = {"bootloader": {"efi": {}}}
    with pytest.raises(SpecError) as caught:
        build_boot(seed_vmi, seed_context(efi=OVMF))
    assert str(caught.value) == ("spec.domain.firmware.bootloader.efi.secureBoot: Secure Boot needs SMM: add "
                                 "spec.domain.features.smm: {} or set secureBoot: false")


def test_secure_boot_with_smm(seed_vmi):
    seed_vmi["spec"]["domain"]["firmware"] = {"bootloader": {"efi": {"secureBoot": True}}}
    seed_vmi["spec"]["domain"]["features"] = {"smm": {}}
    loader, nvram = build_boot(seed_vmi, seed_context(efi=OVMF))
    assert (loader.get("secure"), loader.text) == ("yes", OVMF.secure_code)
    assert nvram.get("template") == OVMF.secure_vars_template


def test_persistent_efi_is_refused(seed_vmi):
    seed_vmi["spec"]["domain"]["firmware"] = {"bootloader": {"efi": {"persistent": True}}}
    with pytest.raises(SpecError, match=r"^spec.domain.firmware.bootloader.efi.persistent: persistent EFI"):
        build_boot(seed_vmi, seed_context(efi=OVMF))


def test_bios_and_efi_together(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["firmware"] = {"bootloader": {"bios": {}, "efi": {}}}
    with pytest.raises(SpecError, match=r"^spec.domain.firmware.bootloader: set either bios or efi, not both$"):
        build_boot(seed_vmi, seed_ctx)


def test_acpi_tables_are_refused(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["firmware"] = {"acpi": {"slicNameRef": "slic"}}
    with pytest.raises(SpecError, match=r"^spec.domain.firmware.acpi: not supported by this launcher: remove it$"):
        build_boot(seed_vmi, seed_ctx)
