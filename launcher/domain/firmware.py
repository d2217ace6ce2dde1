"""Firmware and boot: the `<os>` children after `<type>`, and the SMBIOS `<sysinfo>`.

- BIOS (SeaBIOS) is the default. `bootloader.bios.useSerial: true` adds `<bios useserial='yes'/>`
  so the BIOS prints on the serial console; `startStrategy: Paused` adds a boot menu with a 10 s
  timeout so there is time to reach it after unpausing (both as KubeVirt does).
- `kernelBoot`: the kernel/initrd of `kernelBoot.container`, which the launcher extracts
  beforehand (`DomainContext.kernel_boot`), become `<kernel>`/`<initrd>`; `kernelArgs` becomes
  `<cmdline>` and needs a kernel to apply to.
- EFI: supported only when OVMF is installed on the node (`DomainContext.efi`). Secure Boot,
  KubeVirt's default for EFI, also needs the Secure Boot OVMF build, SMM and q35. Persistent EFI
  variables need backend storage, which this platform does not have: SpecError.
- `firmware.serial` becomes the SMBIOS system serial (`<sysinfo>` + `<smbios mode='sysinfo'/>`);
  `firmware.uuid` is the domain UUID (see metadata.py).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.errors import (
    SpecError,
    as_bool,
    as_mapping,
    choice,
    domain_spec,
    reject_unsupported,
    vmi_spec,
    xml_path,
    xml_text,
)
from launcher.domain.features import smm_enabled
from launcher.domain.machine import is_q35, machine_type

FIELD = "spec.domain.firmware"
BOOT_MENU_TIMEOUT_MS = 10000


def _firmware(vmi: Mapping[str, Any]) -> Mapping[str, Any]:
    firmware = as_mapping(domain_spec(vmi).get("firmware"), FIELD)
    reject_unsupported(firmware, FIELD, ("uuid", "serial", "bootloader", "kernelBoot"))
    return firmware


def build_boot(vmi: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    """`<os>` children that follow `<type>`: loader/nvram, kernel/initrd/cmdline, bootmenu, smbios, bios."""
    firmware = _firmware(vmi)
    elements = _bootloader(vmi, firmware, ctx)
    elements += _kernel_boot(firmware, ctx)
    if _starts_paused(vmi):
        elements.append(ET.Element("bootmenu", enable="yes", timeout=str(BOOT_MENU_TIMEOUT_MS)))
    if "serial" in firmware:
        elements.append(ET.Element("smbios", mode="sysinfo"))
    if _bios_use_serial(firmware):
        elements.append(ET.Element("bios", useserial="yes"))
    return elements


def build_sysinfo(vmi: Mapping[str, Any]) -> ET.Element | None:
    """`<sysinfo type='smbios'>` carrying `firmware.serial`, or None."""
    firmware = _firmware(vmi)
    if "serial" not in firmware:
        return None
    serial = xml_text(firmware["serial"], f"{FIELD}.serial")
    sysinfo = ET.Element("sysinfo", type="smbios")
    system = ET.SubElement(sysinfo, "system")
    ET.SubElement(system, "entry", name="serial").text = serial
    return sysinfo


def _starts_paused(vmi: Mapping[str, Any]) -> bool:
    strategy = vmi_spec(vmi).get("startStrategy")
    if strategy is None:
        return False
    return choice(strategy, "spec.startStrategy", ("Paused",)) == "Paused"


def _bootloader_spec(firmware: Mapping[str, Any]) -> Mapping[str, Any]:
    field = f"{FIELD}.bootloader"
    bootloader = as_mapping(firmware.get("bootloader"), field)
    reject_unsupported(bootloader, field, ("bios", "efi"))
    if "bios" in bootloader and "efi" in bootloader:
        raise SpecError(field, "set either bios or efi, not both")
    return bootloader


def _bios_use_serial(firmware: Mapping[str, Any]) -> bool:
    field = f"{FIELD}.bootloader.bios"
    bios = as_mapping(_bootloader_spec(firmware).get("bios"), field)
    reject_unsupported(bios, field, ("useSerial",))
    return as_bool(bios.get("useSerial"), f"{field}.useSerial", default=False)


def _bootloader(vmi: Mapping[str, Any], firmware: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    bootloader = _bootloader_spec(firmware)
    if "efi" not in bootloader:
        return []
    field = f"{FIELD}.bootloader.efi"
    efi = as_mapping(bootloader["efi"], field)
    reject_unsupported(efi, field, ("secureBoot", "persistent"))
    if as_bool(efi.get("persistent"), f"{field}.persistent", default=False):
        raise SpecError(f"{field}.persistent", "persistent EFI variables need backend storage, which this "
                                               "platform does not provide: remove persistent or set it to false")
    if ctx.efi is None:
        raise SpecError(field, "EFI firmware (OVMF) is not installed on this node: use bootloader.bios "
                               "or remove the bootloader")
    secure = as_bool(efi.get("secureBoot"), f"{field}.secureBoot", default=True)
    if secure:
        code, template = _secure_boot_files(vmi, ctx, f"{field}.secureBoot")
    else:
        code, template = ctx.efi.code, ctx.efi.vars_template
    loader = ET.Element("loader", readonly="yes", secure="yes" if secure else "no", type="pflash")
    loader.text = code
    nvram = ET.Element("nvram", template=template)
    nvram.text = ctx.efi.nvram
    return [loader, nvram]


def _secure_boot_files(vmi: Mapping[str, Any], ctx: DomainContext, field: str) -> tuple[str, str]:
    assert ctx.efi is not None
    if ctx.efi.secure_code is None or ctx.efi.secure_vars_template is None:
        raise SpecError(field, "the Secure Boot build of OVMF is not installed on this node: "
                               "set secureBoot: false")
    if not is_q35(machine_type(vmi, ctx)):
        raise SpecError(field, "Secure Boot needs the q35 machine type: set spec.domain.machine.type "
                               "to \"q35\" or secureBoot: false")
    if not smm_enabled(vmi):
        raise SpecError(field, "Secure Boot needs SMM: add spec.domain.features.smm: {} or set secureBoot: false")
    return ctx.efi.secure_code, ctx.efi.secure_vars_template


def _kernel_boot(firmware: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    field = f"{FIELD}.kernelBoot"
    kernel_boot = as_mapping(firmware.get("kernelBoot"), field)
    reject_unsupported(kernel_boot, field, ("kernelArgs", "container"))
    if not kernel_boot:
        return []
    args = kernel_boot.get("kernelArgs")
    if "container" not in kernel_boot:
        if args:
            raise SpecError(f"{field}.kernelArgs", "kernel arguments apply only to a kernel booted directly: "
                                                   "add kernelBoot.container or remove kernelArgs")
        return []
    container_field = f"{field}.container"
    container = as_mapping(kernel_boot["container"], container_field)
    reject_unsupported(container, container_field, ("image", "imagePullPolicy", "kernelPath", "initrdPath"))
    if not container.get("kernelPath"):
        raise SpecError(f"{container_field}.kernelPath", "required: the path of the kernel inside the image, "
                                                         "e.g. \"/boot/vmlinuz\"")
    if ctx.kernel_boot is None:
        raise SpecError(container_field, "the kernel was not extracted from the image on this node: "
                                         "check the launcher log for the image pull error")
    elements = [_text_element("kernel", xml_path(ctx.kernel_boot.kernel, f"{container_field}.kernelPath"))]
    if container.get("initrdPath"):
        if ctx.kernel_boot.initrd is None:
            raise SpecError(f"{container_field}.initrdPath", "the initrd was not extracted from the image "
                                                             "on this node: check the path inside the image")
        elements.append(_text_element("initrd", xml_path(ctx.kernel_boot.initrd, f"{container_field}.initrdPath")))
    if args:
        elements.append(_text_element("cmdline", xml_text(args, f"{field}.kernelArgs")))
    return elements


def _text_element(tag: str, text: str) -> ET.Element:
    element = ET.Element(tag)
    element.text = text
    return element
