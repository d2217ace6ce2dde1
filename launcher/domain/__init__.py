"""VirtualMachineInstance → libvirt domain XML, assembled from one small builder per concern
(metadata, memory, cpu, machine, firmware, features, clock, disks, network, console, devices).

Validation happens while building: any field the launcher cannot honour raises SpecError naming
it. All XML goes through ElementTree, so text and attributes are escaped by construction.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain import (
    clock,
    console,
    cpu,
    devices,
    disks,
    features,
    firmware,
    machine,
    memory,
    metadata,
    network,
)
from launcher.domain.context import DiskImage, DomainContext, EfiFirmware, KernelBootFiles
from launcher.domain.errors import SpecError, as_mapping, domain_spec, reject_unsupported

__all__ = [
    "DiskImage",
    "DomainContext",
    "EfiFirmware",
    "KernelBootFiles",
    "SpecError",
    "build_domain",
    "domain_xml",
]

SUPPORTED_DOMAIN_FIELDS = ("cpu", "memory", "resources", "machine", "firmware", "features", "clock", "devices")


def check_domain_fields(vmi: Mapping[str, Any]) -> None:
    reject_unsupported(domain_spec(vmi), "spec.domain", SUPPORTED_DOMAIN_FIELDS)
    resources = as_mapping(domain_spec(vmi).get("resources"), "spec.domain.resources")
    # requests/limits also size the pod; overcommitGuestOverhead is the pod's business, not QEMU's.
    reject_unsupported(resources, "spec.domain.resources", ("requests", "limits", "overcommitGuestOverhead"))
    devices.check_device_fields(vmi)


def build_domain(vmi: Mapping[str, Any], ctx: DomainContext) -> ET.Element:
    """The `<domain>` element for `vmi` (a VirtualMachineInstance as the API returns it)."""
    check_domain_fields(vmi)
    domain = ET.Element("domain", type="qemu" if ctx.emulated else "kvm")
    domain.extend(metadata.build_identity(vmi, ctx))
    domain.append(memory.build_memory(vmi))
    vcpu, cpu_element = cpu.build_cpu(vmi, ctx)
    domain.append(vcpu)
    os_element = ET.SubElement(domain, "os")
    os_element.append(machine.build_os_type(vmi, ctx))
    os_element.extend(firmware.build_boot(vmi, ctx))
    sysinfo = firmware.build_sysinfo(vmi)
    if sysinfo is not None:
        domain.append(sysinfo)
    domain.append(features.build_features(vmi, ctx))
    domain.append(cpu_element)
    domain.append(clock.build_clock(vmi, ctx))
    domain.append(_devices(vmi, ctx))
    return domain


def _devices(vmi: Mapping[str, Any], ctx: DomainContext) -> ET.Element:
    element = ET.Element("devices")
    ET.SubElement(element, "emulator").text = ctx.emulator
    element.extend(disks.build_disks(vmi, ctx))
    element.extend(network.build_interfaces(vmi, ctx))
    element.extend(console.build_serial_console(vmi, ctx))
    element.extend(devices.build_devices(vmi, ctx))
    return element


def domain_xml(vmi: Mapping[str, Any], ctx: DomainContext) -> str:
    """The domain as an indented XML document, ready for virDomainDefineXML."""
    domain = build_domain(vmi, ctx)
    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode")
