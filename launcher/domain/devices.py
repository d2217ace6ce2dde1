"""The remaining devices: USB controller, RNG, watchdog, memory balloon, graphics; and the check
that `spec.domain.devices` asks for nothing the launcher cannot provide.

- USB: a qemu-xhci controller only when a disk is on the usb bus; otherwise `model='none'`, so
  libvirt does not add one nobody uses.
- `rng: {}` → virtio-rng fed from /dev/urandom (never blocks the host).
- `watchdog: {name, i6300esb: {action}}` → i6300esb with action poweroff|reset|shutdown (default
  reset, as KubeVirt).
- Memory balloon: virtio unless `autoattachMemBalloon: false` (then `model='none'`).
- Graphics: none unless `autoattachGraphicsDevice: true` (unlike KubeVirt, whose default is VNC:
  this product's console is the serial port). Asked for, it is VNC on the launcher's unix socket
  (`DomainContext.vnc_socket`) with a VGA card; a SpecError when the launcher has no socket.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.disks import buses_in_use, device_name
from launcher.domain.errors import (
    SpecError,
    as_bool,
    as_mapping,
    choice,
    devices_spec,
    quoted,
    reject_unsupported,
)

FIELD = "spec.domain.devices"
WATCHDOG_ACTIONS = ("poweroff", "reset", "shutdown")
SUPPORTED_DEVICE_FIELDS = (
    "disks", "interfaces", "rng", "watchdog",
    "autoattachPodInterface", "autoattachSerialConsole", "logSerialConsole",
    "autoattachGraphicsDevice", "autoattachMemBalloon",
)
# Fields this launcher honours only with the value that turns the feature off.
_ONLY_WHEN = {
    "autoattachVSOCK": False,
    "autoattachInputDevice": False,
    "blockMultiQueue": False,
    "networkInterfaceMultiqueue": False,
    "useVirtioTransitional": False,
    "disableHotplug": True,
}


def check_device_fields(vmi: Mapping[str, Any]) -> None:
    devices = devices_spec(vmi)
    for key, value in devices.items():
        if key in _ONLY_WHEN:
            wanted = _ONLY_WHEN[key]
            if as_bool(value, f"{FIELD}.{key}", default=wanted) is not wanted:
                raise SpecError(f"{FIELD}.{key}", f"only {quoted(wanted)} is supported by this launcher: "
                                                  f"set it to {quoted(wanted)} or remove it")
        elif key not in SUPPORTED_DEVICE_FIELDS:
            raise SpecError(f"{FIELD}.{key}", "not supported by this launcher: remove it")


def build_devices(vmi: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    """USB controller, rng, watchdog, graphics + video, memballoon (in that order)."""
    devices = devices_spec(vmi)
    elements = [_usb_controller(vmi)]
    if "rng" in devices:
        elements.append(_rng(as_mapping(devices["rng"], f"{FIELD}.rng")))
    if "watchdog" in devices:
        elements.append(_watchdog(as_mapping(devices["watchdog"], f"{FIELD}.watchdog")))
    elements += _graphics(devices, ctx)
    elements.append(_memballoon(devices))
    return elements


def _usb_controller(vmi: Mapping[str, Any]) -> ET.Element:
    model = "qemu-xhci" if "usb" in buses_in_use(vmi) else "none"
    return ET.Element("controller", type="usb", index="0", model=model)


def _rng(rng: Mapping[str, Any]) -> ET.Element:
    reject_unsupported(rng, f"{FIELD}.rng", ())
    element = ET.Element("rng", model="virtio")
    ET.SubElement(element, "backend", model="random").text = "/dev/urandom"
    return element


def _watchdog(watchdog: Mapping[str, Any]) -> ET.Element:
    field = f"{FIELD}.watchdog"
    reject_unsupported(watchdog, field, ("name", "i6300esb"))
    name = device_name(watchdog.get("name"), f"{field}.name", "watchdog")
    if "i6300esb" not in watchdog:
        raise SpecError(field, "set i6300esb: {action: reset} (the only watchdog model on x86_64)")
    model = as_mapping(watchdog["i6300esb"], f"{field}.i6300esb")
    reject_unsupported(model, f"{field}.i6300esb", ("action",))
    action = choice(model.get("action", "reset"), f"{field}.i6300esb.action", WATCHDOG_ACTIONS)
    element = ET.Element("watchdog", model="i6300esb", action=action)
    ET.SubElement(element, "alias", name=f"ua-{name}")
    return element


def _graphics(devices: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    field = f"{FIELD}.autoattachGraphicsDevice"
    if not as_bool(devices.get("autoattachGraphicsDevice"), field, default=False):
        return []
    if ctx.vnc_socket is None:
        raise SpecError(field, "this launcher has no VNC socket to offer: remove autoattachGraphicsDevice "
                               "and use the serial console")
    graphics = ET.Element("graphics", type="vnc")
    ET.SubElement(graphics, "listen", type="socket", socket=ctx.vnc_socket)
    video = ET.Element("video")
    ET.SubElement(video, "model", type="vga", heads="1", vram="16384")
    return [graphics, video]


def _memballoon(devices: Mapping[str, Any]) -> ET.Element:
    attached = as_bool(devices.get("autoattachMemBalloon"), f"{FIELD}.autoattachMemBalloon", default=True)
    return ET.Element("memballoon", model="virtio" if attached else "none")
