"""Network interfaces: `spec.domain.devices.interfaces` joined with `spec.networks` → `<interface>`.

Masquerade (the pod network, NAT'ed behind the launcher's address) is QEMU user-mode networking,
`<interface type='user'>`, with the **passt** backend (`<backend type='passt'/>`, libvirt ≥ 9.0).
Each declared port becomes a passt `<portForward>`, so a connection to the launcher pod's port
80 reaches the guest's port 80 — which is how `pods/portforward` and Services reach a VM, on a
real cluster and on the embedded one (each launcher pod has its own network namespace, so two
VMs can both forward port 80).

Why passt first: libvirt's slirp backend has no port forwarding in the domain XML, and raw
`<qemu:commandline>` arguments are not allowed here (they bypass libvirt's validation and
escaping). Some libvirt builds (Debian 12's 9.0) refuse the passt backend; there the launcher builds
the domain with `DomainContext.user_network_backend = 'slirp'` and the ports stripped, and adds each
declared port afterwards through QEMU's monitor (`hostfwd_add`, integer ports only) — see
`launcher/lifecycle.py`. Declaring ports for a slirp domain built directly is a SpecError, so a
port is never silently unreachable.

Differences from KubeVirt: only the listed ports are forwarded (KubeVirt forwards every port when
`ports` is empty); with no interfaces and no networks, and `autoattachPodInterface` not false,
the guest gets one masquerade interface named "default" on the pod network. Bridge binding needs
a tap device, which this platform only has when `DomainContext.tap_device` names one; otherwise
it is a SpecError. The NIC model defaults to virtio.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.disks import device_name, disk_boot_orders
from launcher.domain.errors import (
    SpecError,
    as_bool,
    as_int,
    as_list,
    as_mapping,
    choice,
    devices_spec,
    quoted,
    reject_unsupported,
    vmi_spec,
    xml_text,
)

FIELD = "spec.domain.devices.interfaces"
MODELS = ("virtio", "e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139")
BINDINGS = ("masquerade", "bridge")
_OTHER_BINDINGS = ("sriov", "slirp", "passtBinding", "binding", "macvtap")
_INTERFACE_FIELDS = ("name", *BINDINGS, *_OTHER_BINDINGS, "model", "macAddress", "ports", "bootOrder", "state")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")
DEFAULT_INTERFACE = {"name": "default", "masquerade": {}}
DEFAULT_NETWORK = {"name": "default", "pod": {}}


def interfaces_and_networks(vmi: Mapping[str, Any]) -> tuple[Sequence[Any], Sequence[Any]]:
    devices = devices_spec(vmi)
    interfaces = as_list(devices.get("interfaces"), FIELD)
    networks = as_list(vmi_spec(vmi).get("networks"), "spec.networks")
    autoattach = as_bool(devices.get("autoattachPodInterface"), "spec.domain.devices.autoattachPodInterface",
                         default=True)
    if not interfaces and not networks and autoattach:
        return [DEFAULT_INTERFACE], [DEFAULT_NETWORK]
    return interfaces, networks


def build_interfaces(vmi: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    interfaces, networks = interfaces_and_networks(vmi)
    network_fields = _networks_by_name(networks)
    boot_orders = disk_boot_orders(vmi)
    elements = []
    used_networks: set[str] = set()
    bridges = 0
    for i, interface in enumerate(interfaces):
        field = f"{FIELD}[{i}]"
        interface = as_mapping(interface, field)
        reject_unsupported(interface, field, _INTERFACE_FIELDS)
        name = device_name(interface.get("name"), f"{field}.name", "interface")
        if name in used_networks:
            raise SpecError(f"{field}.name", f"duplicate interface name {quoted(name)}: name each interface once")
        if name not in network_fields:
            raise SpecError(f"{field}.name", f"no network named {quoted(name)}: add {{name: {name}, pod: {{}}}} to "
                                             "spec.networks or remove the interface")
        used_networks.add(name)
        binding = _binding(interface, field)
        if binding == "bridge":
            bridges += 1
            element = _bridge_interface(interface, field, ctx, first=bridges == 1)
        else:
            element = _masquerade_interface(interface, field, ctx)
        _common(element, interface, field, boot_orders)
        elements.append(element)
    for name, field in network_fields.items():
        if name not in used_networks:
            raise SpecError(f"{field}.name", f"network {quoted(name)} has no interface: add an interface named "
                                             f"{quoted(name)} to {FIELD} or remove the network")
    return elements


def _networks_by_name(networks: Sequence[Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    pod_network = None
    for j, network in enumerate(networks):
        field = f"spec.networks[{j}]"
        network = as_mapping(network, field)
        reject_unsupported(network, field, ("name", "pod", "multus"))
        name = device_name(network.get("name"), f"{field}.name", "network")
        if name in fields:
            raise SpecError(f"{field}.name", f"duplicate network name {quoted(name)}: {fields[name]} already uses it")
        if "multus" in network:
            raise SpecError(f"{field}.multus", "Multus networks are not supported by this launcher: use pod: {}")
        if "pod" not in network:
            raise SpecError(field, "set pod: {} (the only network type this launcher supports)")
        pod = as_mapping(network["pod"], f"{field}.pod")
        reject_unsupported(pod, f"{field}.pod", ())
        if pod_network is not None:
            raise SpecError(f"{field}.pod", f"only one pod network is allowed; {pod_network} is already one")
        pod_network = field
        fields[name] = field
    return fields


def _binding(interface: Mapping[str, Any], field: str) -> str:
    for other in _OTHER_BINDINGS:
        if other in interface:
            raise SpecError(f"{field}.{other}", "this binding is not supported by this launcher: use masquerade: {}")
    bindings = [b for b in BINDINGS if b in interface]
    if not bindings:
        raise SpecError(field, "no binding: set masquerade: {}")
    if len(bindings) > 1:
        raise SpecError(field, "set only one of masquerade or bridge")
    reject_unsupported(as_mapping(interface[bindings[0]], f"{field}.{bindings[0]}"), f"{field}.{bindings[0]}", ())
    return bindings[0]


def _masquerade_interface(interface: Mapping[str, Any], field: str, ctx: DomainContext) -> ET.Element:
    element = ET.Element("interface", type="user")
    ports = _ports(interface, field)
    if ctx.user_network_backend == "passt":
        ET.SubElement(element, "backend", type="passt")
    elif ports:
        raise SpecError(f"{field}.ports", "port forwarding needs the passt network backend, which is not "
                                          "installed on this node: install passt or remove ports")
    for proto in ("tcp", "udp"):
        numbers = [port for p, port in ports if p == proto]
        if numbers:
            forward = ET.SubElement(element, "portForward", proto=proto)
            for number in numbers:
                ET.SubElement(forward, "range", start=str(number))
    return element


def _bridge_interface(interface: Mapping[str, Any], field: str, ctx: DomainContext, *, first: bool) -> ET.Element:
    if ctx.tap_device is None:
        raise SpecError(f"{field}.bridge", "bridge binding needs a tap device, which this platform does not "
                                           "provide: use masquerade: {}")
    if not first:
        raise SpecError(f"{field}.bridge", "only one bridge interface is possible here (one tap device): "
                                           "use masquerade: {} for the others")
    if "ports" in interface:
        raise SpecError(f"{field}.ports", "ports apply only to masquerade: remove them from a bridge interface")
    element = ET.Element("interface", type="ethernet")
    ET.SubElement(element, "target", dev=xml_text(ctx.tap_device, "DomainContext.tap_device"), managed="no")
    return element


def _ports(interface: Mapping[str, Any], field: str) -> list[tuple[str, int]]:
    ports: list[tuple[str, int]] = []
    for k, port in enumerate(as_list(interface.get("ports"), f"{field}.ports")):
        port_field = f"{field}.ports[{k}]"
        port = as_mapping(port, port_field)
        reject_unsupported(port, port_field, ("name", "port", "protocol"))
        if "name" in port:
            xml_text(port["name"], f"{port_field}.name")
        if "port" not in port:
            raise SpecError(f"{port_field}.port", "required: the guest port to forward, e.g. 80")
        number = as_int(port["port"], f"{port_field}.port", minimum=1, maximum=65535)
        proto = choice(port.get("protocol", "TCP"), f"{port_field}.protocol", ("TCP", "UDP")).lower()
        if (proto, number) in ports:
            raise SpecError(f"{port_field}.port", f"duplicate port {number}/{proto.upper()}: list each port once")
        ports.append((proto, number))
    return ports


def _common(element: ET.Element, interface: Mapping[str, Any], field: str, boot_orders: dict[int, str]) -> None:
    if "macAddress" in interface:
        ET.SubElement(element, "mac", address=_mac(interface["macAddress"], f"{field}.macAddress"))
    model = choice(interface.get("model", "virtio"), f"{field}.model", MODELS)
    ET.SubElement(element, "model", type=model)
    if "bootOrder" in interface:
        order_field = f"{field}.bootOrder"
        order = as_int(interface["bootOrder"], order_field, minimum=1)
        if order in boot_orders:
            raise SpecError(order_field, f"duplicate boot order {order}: {boot_orders[order]} already uses it; "
                                         "give each device its own bootOrder")
        boot_orders[order] = order_field
        ET.SubElement(element, "boot", order=str(order))
    else:
        # As KubeVirt: no network boot, so no iPXE option ROM for the BIOS to run at every boot
        # or for QEMU to keep in memory.
        ET.SubElement(element, "rom", enabled="no")
    state = choice(interface.get("state", "up"), f"{field}.state", ("up", "down"))
    if state == "down":
        ET.SubElement(element, "link", state="down")
    ET.SubElement(element, "alias", name=f"ua-{interface['name']}")


def _mac(value: object, field: str) -> str:
    mac = xml_text(value, field)
    if not _MAC.match(mac):
        raise SpecError(field, f"must be a MAC address like \"02:00:00:00:00:01\", not {quoted(mac)}")
    mac = mac.replace("-", ":").lower()
    if int(mac[:2], 16) & 1:
        raise SpecError(field, f"{quoted(mac)} is a multicast address: the first byte must be even, "
                               "e.g. \"02:00:00:00:00:01\"")
    return mac
