"""Disks: `spec.domain.devices.disks` joined with `spec.volumes` → `<disk>` elements, plus the
virtio-scsi controller when a disk needs one.

- Each disk is a `disk` (default bus virtio), `lun` (scsi; needs a block device) or `cdrom`
  (default bus sata; read-only unless `readonly: false`); a disk naming none of them is a
  virtio `disk`, as KubeVirt defaults it.
- Target names follow the bus: virtio → vda, vdb, …; sata, scsi and usb share sda, sdb, …,
  assigned in spec order (after vdz comes vdaa, as in Linux).
- The file behind each volume comes from the launcher (`DomainContext.disk_paths`), which also
  says whether it is raw or qcow2; the driver type follows it.
- `bootOrder` → `<boot order>`; `cache` none|writethrough|writeback; `io` native|threads;
  `errorPolicy` (default stop); `serial`; `shareable` (needs cache none).
- Every disk gets the user alias `ua-<name>` so libvirt events can be mapped back to disk names.

Errors: a disk without a matching volume, a volume without a disk, duplicate disk or volume
names, duplicate boot orders, unknown buses, and a volume the launcher could not resolve to a file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from launcher.domain.context import DiskImage, DomainContext
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
    xml_path,
    xml_text,
)

FIELD = "spec.domain.devices.disks"
BUSES = ("virtio", "sata", "scsi", "usb")
CACHE_MODES = ("none", "writethrough", "writeback")
IO_MODES = ("native", "threads")
ERROR_POLICIES = ("stop", "ignore", "report", "enospace")
DEVICE_KINDS = ("disk", "lun", "cdrom")
_BUSES_BY_KIND = {"disk": BUSES, "lun": ("scsi",), "cdrom": ("sata", "scsi", "usb")}
_DEFAULT_BUS = {"disk": "virtio", "lun": "scsi", "cdrom": "sata"}
_KIND_SETTINGS = {"disk": ("bus", "readonly"), "lun": ("bus", "readonly"), "cdrom": ("bus", "readonly", "tray")}
_DISK_FIELDS = ("name", *DEVICE_KINDS, "bootOrder", "serial", "cache", "io", "errorPolicy", "shareable")
# Device names become libvirt aliases ("ua-<name>"), which allow only these characters.
_DEVICE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# The characters libvirt accepts in a disk serial.
_SERIAL = re.compile(r"^[A-Za-z0-9_.+-]+$")
_VOLUME_SOURCES_HINT = ("hostDisk, containerDisk, persistentVolumeClaim, emptyDisk, ephemeral, "
                        "cloudInitNoCloud or cloudInitConfigDrive")


@dataclass(frozen=True)
class Disk:
    """One entry of spec.domain.devices.disks, validated against the spec alone."""

    name: str
    field: str
    kind: str
    bus: str
    settings: Mapping[str, Any]
    spec: Mapping[str, Any]


def device_name(value: object, field: str, what: str) -> str:
    """A disk or interface name: required, and usable as a libvirt alias."""
    name = xml_text(value if value is not None else "", field)
    if not name:
        raise SpecError(field, f"required: give the {what} a name")
    if not _DEVICE_NAME.match(name):
        raise SpecError(field, f"{quoted(name)} must consist of letters, digits, '-' and '_'")
    return name


def parse_disks(vmi: Mapping[str, Any]) -> list[Disk]:
    disks: list[Disk] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(as_list(devices_spec(vmi).get("disks"), FIELD)):
        field = f"{FIELD}[{i}]"
        entry = as_mapping(entry, field)
        reject_unsupported(entry, field, _DISK_FIELDS)
        name = device_name(entry.get("name"), f"{field}.name", "disk")
        if name in seen:
            raise SpecError(f"{field}.name", f"duplicate disk name {quoted(name)}: {seen[name]} already uses it")
        seen[name] = field
        kind, settings = _device_kind(entry, field)
        settings_field = f"{field}.{kind}"
        reject_unsupported(settings, settings_field, _KIND_SETTINGS[kind])
        bus = choice(settings.get("bus", _DEFAULT_BUS[kind]), f"{settings_field}.bus", _BUSES_BY_KIND[kind])
        disks.append(Disk(name=name, field=field, kind=kind, bus=bus, settings=settings, spec=entry))
    return disks


def _device_kind(entry: Mapping[str, Any], field: str) -> tuple[str, Mapping[str, Any]]:
    kinds = [k for k in DEVICE_KINDS if k in entry]
    if len(kinds) > 1:
        raise SpecError(field, f"set only one of disk, lun or cdrom, not {' and '.join(kinds)}")
    kind = kinds[0] if kinds else "disk"
    return kind, as_mapping(entry.get(kind), f"{field}.{kind}")


def buses_in_use(vmi: Mapping[str, Any]) -> set[str]:
    return {disk.bus for disk in parse_disks(vmi)}


def disk_boot_orders(vmi: Mapping[str, Any]) -> dict[int, str]:
    """bootOrder → the field that claims it, checking that no two disks share one."""
    orders: dict[int, str] = {}
    for disk in parse_disks(vmi):
        if "bootOrder" not in disk.spec:
            continue
        field = f"{disk.field}.bootOrder"
        order = as_int(disk.spec["bootOrder"], field, minimum=1)
        if order in orders:
            raise SpecError(field, f"duplicate boot order {order}: {orders[order]} already uses it; "
                                   "give each device its own bootOrder")
        orders[order] = field
    return orders


def build_disks(vmi: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    """`<disk>` elements in spec order, then the virtio-scsi controller if a disk is on scsi."""
    disks = parse_disks(vmi)
    volumes = _volumes_by_name(vmi, {d.name for d in disks})
    disk_boot_orders(vmi)
    targets = _target_names(disks)
    elements = [
        _disk_element(disk, targets[disk.name], _image(disk, volumes, ctx))
        for disk in disks
    ]
    if any(d.bus == "scsi" for d in disks):
        elements.append(ET.Element("controller", type="scsi", index="0", model="virtio-scsi"))
    return elements


def _volumes_by_name(vmi: Mapping[str, Any], disk_names: set[str]) -> dict[str, tuple[int, Mapping[str, Any]]]:
    volumes: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for j, volume in enumerate(as_list(vmi_spec(vmi).get("volumes"), "spec.volumes")):
        field = f"spec.volumes[{j}]"
        volume = as_mapping(volume, field)
        name = xml_text(volume.get("name", ""), f"{field}.name")
        if not name:
            raise SpecError(f"{field}.name", "required: give the volume the name of the disk that uses it")
        if name in volumes:
            raise SpecError(f"{field}.name", f"duplicate volume name {quoted(name)}: "
                                             f"spec.volumes[{volumes[name][0]}] already uses it")
        if name not in disk_names:
            raise SpecError(f"{field}.name", f"volume {quoted(name)} is not used by any disk: add a disk named "
                                             f"{quoted(name)} to {FIELD} or remove the volume")
        volumes[name] = (j, volume)
    return volumes


def _image(disk: Disk, volumes: Mapping[str, tuple[int, Mapping[str, Any]]], ctx: DomainContext) -> DiskImage:
    if disk.name not in volumes:
        raise SpecError(f"{disk.field}.name", f"no volume named {quoted(disk.name)}: add one to spec.volumes "
                                              "or remove the disk")
    j, volume = volumes[disk.name]
    source = next((k for k in volume if k != "name"), "")
    field = f"spec.volumes[{j}].{source}" if source else f"spec.volumes[{j}]"
    image = ctx.disk_paths.get(disk.name)
    if image is None:
        raise SpecError(field, f"volume {quoted(disk.name)} ({source or 'no source'}) could not be prepared as a "
                               f"disk image on this node: use one of {_VOLUME_SOURCES_HINT}")
    xml_path(image.path, f"{field}.path" if source == "hostDisk" else field)
    if disk.kind == "lun" and not image.block:
        raise SpecError(f"{disk.field}.lun", f"a lun needs a block device, but volume {quoted(disk.name)} is a "
                                             "file: use disk instead of lun")
    return image


def _target_names(disks: Sequence[Disk]) -> dict[str, str]:
    counters: dict[str, int] = {}
    names = {}
    for disk in disks:
        prefix = "vd" if disk.bus == "virtio" else "sd"
        index = counters.get(prefix, 0)
        counters[prefix] = index + 1
        names[disk.name] = prefix + _drive_letters(index)
    return names


def _drive_letters(index: int) -> str:
    """0 → a, 25 → z, 26 → aa: bijective base 26, the Linux sd naming scheme."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("a") + remainder) + letters
    return letters


def _disk_element(disk: Disk, target: str, image: DiskImage) -> ET.Element:
    element = ET.Element("disk", type="block" if image.block else "file", device=disk.kind)
    element.append(_driver(disk, image))
    ET.SubElement(element, "source", {"dev" if image.block else "file": image.path})
    target_el = ET.SubElement(element, "target", dev=target, bus=disk.bus)
    if "tray" in disk.settings:
        target_el.set("tray", choice(disk.settings["tray"], f"{disk.field}.cdrom.tray", ("open", "closed")))
    if "bootOrder" in disk.spec:
        ET.SubElement(element, "boot", order=str(disk.spec["bootOrder"]))
    readonly = as_bool(disk.settings.get("readonly"), f"{disk.field}.{disk.kind}.readonly",
                       default=disk.kind == "cdrom")
    if readonly:
        ET.SubElement(element, "readonly")
    if _shareable(disk):
        ET.SubElement(element, "shareable")
    if "serial" in disk.spec:
        ET.SubElement(element, "serial").text = _serial(disk)
    ET.SubElement(element, "alias", name=f"ua-{disk.name}")
    return element


def _shareable(disk: Disk) -> bool:
    return as_bool(disk.spec.get("shareable"), f"{disk.field}.shareable", default=False)


def _driver(disk: Disk, image: DiskImage) -> ET.Element:
    driver = ET.Element("driver", name="qemu", type=image.format)
    cache = choice(disk.spec["cache"], f"{disk.field}.cache", CACHE_MODES) if "cache" in disk.spec else None
    io = choice(disk.spec["io"], f"{disk.field}.io", IO_MODES) if "io" in disk.spec else None
    # Shared disks and native AIO both need O_DIRECT, i.e. cache none; fill it in when unset.
    for needs_direct, what in ((_shareable(disk), "a shareable disk"), (io == "native", 'io "native"')):
        if not needs_direct:
            continue
        if cache not in (None, "none"):
            raise SpecError(f"{disk.field}.cache", f"{what} needs cache \"none\", not {quoted(cache)}")
        cache = "none"
    if cache is not None:
        driver.set("cache", cache)
    if io is not None:
        driver.set("io", io)
    policy = choice(disk.spec.get("errorPolicy", "stop"), f"{disk.field}.errorPolicy", ERROR_POLICIES)
    driver.set("error_policy", policy)
    if disk.kind in ("disk", "lun"):
        # Let guest TRIM reach the image so deleted files give space back, as KubeVirt does.
        driver.set("discard", "unmap")
    return driver


def _serial(disk: Disk) -> str:
    field = f"{disk.field}.serial"
    serial = xml_text(disk.spec["serial"], field)
    if not _SERIAL.match(serial):
        raise SpecError(field, f"{quoted(serial)} must consist of letters, digits and '_', '.', '+', '-'")
    return serial
