"""Checks on a VMI spec that a schema cannot express; each names the field and the fix."""

from __future__ import annotations

from .config import ClusterConfig


def vmi_spec_problems(spec: dict, config: ClusterConfig, prefix: str = "spec") -> list[str]:
    problems: list[str] = []
    devices = ((spec.get("domain") or {}).get("devices") or {})
    volumes = spec.get("volumes") or []
    volume_names = [v.get("name") for v in volumes]
    disks = devices.get("disks") or []
    interfaces = devices.get("interfaces") or []
    networks = spec.get("networks") or []

    def duplicates(items: list, field: str) -> None:
        seen: set = set()
        for i, item in enumerate(items):
            name = item.get("name")
            if name in seen:
                problems.append(f'{prefix}.{field}[{i}].name: Duplicate value: "{name}": names must be unique')
            seen.add(name)

    duplicates(disks, "domain.devices.disks")
    duplicates(volumes, "volumes")
    duplicates(interfaces, "domain.devices.interfaces")
    duplicates(networks, "networks")
    for i, disk in enumerate(disks):
        if disk.get("name") not in volume_names:
            problems.append(f'{prefix}.domain.devices.disks[{i}].name: Invalid value: "{disk.get("name")}": '
                            f"disk has no matching volume; add a volume named \"{disk.get('name')}\" to {prefix}.volumes")
    network_names = [n.get("name") for n in networks]
    for i, iface in enumerate(interfaces):
        if iface.get("name") not in network_names:
            problems.append(f'{prefix}.domain.devices.interfaces[{i}].name: Invalid value: "{iface.get("name")}": '
                            f"interface has no matching network in {prefix}.networks")
    for i, volume in enumerate(volumes):
        if "hostDisk" in volume and not config.enabled("HostDisk"):
            problems.append(f"{prefix}.volumes[{i}].hostDisk: Forbidden: the HostDisk feature gate is not "
                            "enabled; enable it in the KubeVirt resource "
                            "(spec.configuration.developerConfiguration.featureGates) or the kubevirt-config "
                            "ConfigMap (feature-gates: HostDisk)")
    domain = spec.get("domain") or {}
    memory = (domain.get("memory") or {}).get("guest") or \
        ((domain.get("resources") or {}).get("requests") or {}).get("memory")
    if memory is None:
        problems.append(f"{prefix}.domain.memory.guest: Required value: set memory.guest or "
                        "resources.requests.memory")
    return problems
