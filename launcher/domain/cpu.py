"""vCPUs: `spec.domain.cpu` topology → `<vcpu>` + `<cpu><topology>`, and the CPU model.

Topology: sockets × cores × threads, each defaulting to 1. With no topology at all, the vCPU
count comes from `resources.limits.cpu` (else `requests.cpu`), rounded up, as sockets — as
KubeVirt does.

Model: `host-model` (the default under KVM), `host-passthrough`, or a named QEMU model, which
must be one this node's QEMU knows (`DomainContext.cpu_models`). A named model is pinned with
`fallback='forbid'` so libvirt never quietly substitutes another one.

Under TCG (no KVM) there is no host CPU to copy: `host-model`, `host-passthrough` and the default
all become libvirt's `mode='maximum'` (QEMU's `-cpu max`: every feature TCG can emulate), the
same choice KubeVirt makes for emulated guests. Named models keep their name but get
`check='none'`, because TCG lacks some features of real models (e.g. Nehalem-IBRS's spec-ctrl)
and QEMU only warns about them, whereas libvirt's default check would refuse to start.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.errors import (
    SpecError,
    as_int,
    as_list,
    as_mapping,
    choice,
    domain_spec,
    quoted,
    quoted_list,
    reject_unsupported,
    xml_text,
)
from launcher.domain.memory import parse_quantity

HOST_MODES = ("host-model", "host-passthrough")
FEATURE_POLICIES = ("force", "require", "optional", "disable", "forbid")
_MAX_VCPUS = 512


def cpu_topology(vmi: Mapping[str, Any]) -> tuple[int, int, int]:
    """(sockets, cores, threads)."""
    domain = domain_spec(vmi)
    cpu = as_mapping(domain.get("cpu"), "spec.domain.cpu")
    reject_unsupported(cpu, "spec.domain.cpu", ("sockets", "cores", "threads", "model", "features"))
    counts = {
        key: as_int(cpu[key], f"spec.domain.cpu.{key}", minimum=1) if key in cpu else None
        for key in ("sockets", "cores", "threads")
    }
    if all(v is None for v in counts.values()):
        return _sockets_from_resources(domain), 1, 1
    sockets, cores, threads = (counts[k] or 1 for k in ("sockets", "cores", "threads"))
    if sockets * cores * threads > _MAX_VCPUS:
        raise SpecError("spec.domain.cpu", f"sockets × cores × threads must be at most {_MAX_VCPUS}, "
                        f"not {sockets * cores * threads}")
    return sockets, cores, threads


def _sockets_from_resources(domain: Mapping[str, Any]) -> int:
    resources = as_mapping(domain.get("resources"), "spec.domain.resources")
    for kind in ("limits", "requests"):
        section = as_mapping(resources.get(kind), f"spec.domain.resources.{kind}")
        if section.get("cpu") is not None:
            field = f"spec.domain.resources.{kind}.cpu"
            amount = parse_quantity(section["cpu"], field)
            if amount.negative or not amount.digits:
                raise SpecError(field, f"must be positive, not {quoted(section['cpu'])}")
            # Quantity.Value() rounds up: "500m" is one vCPU, "1.5" is two.
            return min(amount.ceiling(), _MAX_VCPUS)
    return 1


def build_cpu(vmi: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    """`<vcpu>` and `<cpu>`."""
    sockets, cores, threads = cpu_topology(vmi)
    vcpu = ET.Element("vcpu", placement="static")
    vcpu.text = str(sockets * cores * threads)
    cpu = _cpu_mode(vmi, ctx)
    ET.SubElement(cpu, "topology", sockets=str(sockets), cores=str(cores), threads=str(threads))
    for feature in _features(vmi):
        cpu.append(feature)
    return [vcpu, cpu]


def _cpu_mode(vmi: Mapping[str, Any], ctx: DomainContext) -> ET.Element:
    cpu = as_mapping(domain_spec(vmi).get("cpu"), "spec.domain.cpu")
    model = cpu.get("model") or "host-model"
    field = "spec.domain.cpu.model"
    model = xml_text(model, field)
    if model in HOST_MODES:
        return ET.Element("cpu", mode="maximum") if ctx.emulated else ET.Element("cpu", mode=model)
    if model not in ctx.cpu_models:
        known = quoted_list(sorted(ctx.cpu_models)) or "(none reported)"
        raise SpecError(
            field,
            f"unknown CPU model {quoted(model)}: use \"host-model\", \"host-passthrough\" "
            f"or a model this node's QEMU supports: {known}",
        )
    element = ET.Element("cpu", mode="custom", match="exact")
    if ctx.emulated:
        element.set("check", "none")
    ET.SubElement(element, "model", fallback="forbid").text = model
    return element


def _features(vmi: Mapping[str, Any]) -> list[ET.Element]:
    cpu = as_mapping(domain_spec(vmi).get("cpu"), "spec.domain.cpu")
    elements = []
    seen: set[str] = set()
    for i, feature in enumerate(as_list(cpu.get("features"), "spec.domain.cpu.features")):
        field = f"spec.domain.cpu.features[{i}]"
        feature = as_mapping(feature, field)
        reject_unsupported(feature, field, ("name", "policy"))
        name = xml_text(feature.get("name"), f"{field}.name")
        if not name:
            raise SpecError(f"{field}.name", "required: name the CPU feature, e.g. \"pcid\"")
        if name in seen:
            raise SpecError(f"{field}.name", f"duplicate CPU feature {quoted(name)}: list each feature once")
        seen.add(name)
        policy = choice(feature.get("policy", "require"), f"{field}.policy", FEATURE_POLICIES)
        elements.append(ET.Element("feature", policy=policy, name=name))
    return elements
