"""Volumes: each entry of `spec.volumes` made into the file QEMU opens, before the domain is built;
and the kernelBoot kernel/initrd found in the image store.

A volume the launcher cannot provide is a SpecError naming its field (`spec.volumes[0].hostDisk`)
and the fix, so the VMI fails with a condition and an event instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.domain import DiskImage, KernelBootFiles, SpecError
from launcher.domain.errors import as_list, as_mapping, domain_spec, quoted, vmi_spec, xml_text
from launcher.volumes import cloud_init, disk_images
from launcher.volumes.image_store import ImageNotFound, find_boot_file

# name → decoded data; None when there is no API server to read from (standalone runs).
ObjectReader = Callable[[str], Mapping[str, bytes]]


@dataclass(frozen=True)
class VolumeSources:
    """Where volumes come from on this node, and what the launcher may do."""

    state_dir: Path  # overlays, empty disks and ISOs are made here, and go with the pod
    image_store: Path
    claims_dir: Path  # persistentVolumeClaim volumes: <claims_dir>/<volume name>/disk.img
    feature_gates: frozenset[str] = frozenset()
    read_secret: ObjectReader | None = None
    read_config_map: ObjectReader | None = None


@dataclass(frozen=True)
class PreparedVolumes:
    disks: dict[str, DiskImage] = field(default_factory=dict)
    kernel_boot: KernelBootFiles | None = None


_PREPARERS: dict[str, Callable[..., DiskImage]] = {
    "hostDisk": disk_images.host_disk,
    "containerDisk": disk_images.container_disk,
    "persistentVolumeClaim": disk_images.persistent_volume_claim,
    "ephemeral": disk_images.ephemeral,
    "emptyDisk": disk_images.empty_disk,
    "cloudInitNoCloud": cloud_init.no_cloud,
    "cloudInitConfigDrive": cloud_init.config_drive,
    "configMap": cloud_init.config_map,
    "secret": cloud_init.secret,
}


def prepare_volumes(vmi: Mapping[str, Any], sources: VolumeSources) -> PreparedVolumes:
    disks: dict[str, DiskImage] = {}
    for j, volume in enumerate(as_list(vmi_spec(vmi).get("volumes"), "spec.volumes")):
        base = f"spec.volumes[{j}]"
        volume = as_mapping(volume, base)
        name = xml_text(volume.get("name", ""), f"{base}.name")
        kinds = [k for k in volume if k != "name"]
        if len(kinds) != 1:
            raise SpecError(base, f"volume {quoted(name)} must have exactly one source "
                                  f"(one of {', '.join(_PREPARERS)}), not {len(kinds)}")
        kind = kinds[0]
        if kind not in _PREPARERS:
            raise SpecError(f"{base}.{kind}", f"volume source {kind} is not supported by this launcher: "
                                              f"use one of {', '.join(_PREPARERS)}")
        spec = as_mapping(volume[kind], f"{base}.{kind}")
        disks[name] = _PREPARERS[kind](spec, f"{base}.{kind}", name, sources, vmi)
    return PreparedVolumes(disks, kernel_boot_files(vmi, sources.image_store))


def kernel_boot_files(vmi: Mapping[str, Any], image_store: Path) -> KernelBootFiles | None:
    """The kernel and initrd of `firmware.kernelBoot.container`, from the local image store."""
    base = "spec.domain.firmware.kernelBoot.container"
    firmware = as_mapping(domain_spec(vmi).get("firmware"), "spec.domain.firmware")
    container = as_mapping(as_mapping(firmware.get("kernelBoot"), "spec.domain.firmware.kernelBoot")
                           .get("container"), base)
    if not container.get("kernelPath"):
        return None  # the domain builder says what is missing
    image = xml_text(container.get("image", ""), f"{base}.image")
    if not image:
        raise SpecError(f"{base}.image", "required: the image holding the kernel, e.g. \"kvtui/demo:latest\"")
    try:
        kernel = find_boot_file(image, image_store, str(container["kernelPath"]))
        initrd = find_boot_file(image, image_store, str(container["initrdPath"])) \
            if container.get("initrdPath") else None
    except ValueError as exc:
        raise SpecError(f"{base}.image", str(exc)) from None
    except ImageNotFound as exc:
        raise SpecError(f"{base}.image", str(exc)) from None
    return KernelBootFiles(str(kernel), str(initrd) if initrd else None)
