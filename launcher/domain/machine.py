"""The emulated machine: `<os><type arch machine>hvm</type>` from `spec.domain.machine.type`
(default `q35`, KubeVirt's x86_64 default), which must be a machine type this node's QEMU offers
(`DomainContext.machine_types`); and `spec.architecture`, which must match the node.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.errors import (
    SpecError,
    as_mapping,
    domain_spec,
    quoted,
    quoted_list,
    reject_unsupported,
    vmi_spec,
    xml_text,
)

DEFAULT_MACHINE_TYPE = "q35"
# Kubernetes architecture names → QEMU/libvirt ones.
_ARCHITECTURES = {"amd64": "x86_64", "arm64": "aarch64", "s390x": "s390x", "ppc64le": "ppc64le"}


def machine_type(vmi: Mapping[str, Any], ctx: DomainContext) -> str:
    field = "spec.domain.machine"
    machine = as_mapping(domain_spec(vmi).get("machine"), field)
    reject_unsupported(machine, field, ("type",))
    # An empty type means "the default", as in KubeVirt's own examples (`machine: {type: ""}`).
    requested = xml_text(machine.get("type") or DEFAULT_MACHINE_TYPE, f"{field}.type")
    if requested not in ctx.machine_types:
        raise SpecError(
            f"{field}.type",
            f"unsupported value {quoted(requested)}: supported values: {quoted_list(sorted(ctx.machine_types))}",
        )
    return requested


def is_q35(machine: str) -> bool:
    """q35 and its versioned names (`pc-q35-8.2`): the machine with SMM and a built-in AHCI."""
    return machine == "q35" or machine.startswith("pc-q35-")


def check_architecture(vmi: Mapping[str, Any], ctx: DomainContext) -> None:
    arch = vmi_spec(vmi).get("architecture")
    if not arch:
        return
    field = "spec.architecture"
    if _ARCHITECTURES.get(arch) != ctx.arch:
        node_arch = next((k for k, v in _ARCHITECTURES.items() if v == ctx.arch), ctx.arch)
        raise SpecError(field, f"unsupported value {quoted(arch)}: this node runs {quoted(node_arch)} guests; "
                               f"set {quoted(node_arch)} or remove the field")


def build_os_type(vmi: Mapping[str, Any], ctx: DomainContext) -> ET.Element:
    check_architecture(vmi, ctx)
    element = ET.Element("type", arch=ctx.arch, machine=machine_type(vmi, ctx))
    element.text = "hvm"
    return element
