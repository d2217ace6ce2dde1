"""File-backed volumes: hostDisk, containerDisk, persistentVolumeClaim, ephemeral and emptyDisk.

- hostDisk (feature gate HostDisk): a raw file on the node; `DiskOrCreate` makes a sparse one of
  `capacity` when it does not exist yet.
- containerDisk: the image's disk from the local image store, behind a qcow2 overlay in the pod's
  state directory, so the base image is never written and every start begins clean.
- persistentVolumeClaim: the claim's filesystem holds `disk.img` (KubeVirt's layout); the node
  mounts each claim at `<claims dir>/<volume name>/`, or puts a block device there.
- ephemeral: a claim's disk behind a qcow2 overlay (the claim is only read).
- emptyDisk: a sparse qcow2 of `capacity`, new at every start.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.domain import DiskImage, SpecError
from launcher.domain.errors import as_mapping, choice, quoted, reject_unsupported, xml_path, xml_text
from launcher.domain.memory import quantity_bytes
from launcher.volumes import qemu_img
from launcher.volumes.image_store import ImageNotFound, find_disk

if TYPE_CHECKING:
    from launcher.volumes import VolumeSources

HOST_DISK_GATE = "HostDisk"
CLAIM_DISK = "disk.img"


def host_disk(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
              vmi: Mapping[str, Any]) -> DiskImage:
    if HOST_DISK_GATE not in sources.feature_gates:
        raise SpecError(field, f"hostDisk volumes need the {HOST_DISK_GATE} feature gate, which is not enabled: "
                               "add \"HostDisk\" to the KubeVirt CR's spec.configuration.developerConfiguration"
                               ".featureGates, or use a containerDisk or persistentVolumeClaim volume")
    reject_unsupported(spec, field, ("path", "type", "capacity", "shared"))
    path = Path(xml_path(spec.get("path", ""), f"{field}.path") if spec.get("path") else _required(f"{field}.path"))
    kind = choice(spec.get("type", "Disk"), f"{field}.type", ("Disk", "DiskOrCreate"))
    if path.exists():
        return _existing_disk(path, f"{field}.path")
    if kind == "Disk":
        raise SpecError(f"{field}.path", f"{quoted(str(path))} does not exist on this node: create it, or set "
                                         "type: DiskOrCreate with a capacity")
    if "capacity" not in spec:
        raise SpecError(f"{field}.capacity", "required with type DiskOrCreate: the size of the disk to create, "
                                             "e.g. \"1Gi\"")
    size = quantity_bytes(spec["capacity"], f"{field}.capacity")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as disk:
            disk.truncate(size)  # sparse: takes no space until the guest writes
    except OSError as exc:
        raise SpecError(f"{field}.path", f"cannot create {quoted(str(path))}: {exc.strerror}") from None
    return DiskImage(str(path), "raw")


def _required(field: str) -> str:
    raise SpecError(field, "required: the absolute path of the disk image on the node")


def _existing_disk(path: Path, field: str) -> DiskImage:
    mode = path.stat().st_mode
    if stat.S_ISBLK(mode):
        return DiskImage(str(path), "raw", block=True)
    if not stat.S_ISREG(mode):
        raise SpecError(field, f"{quoted(str(path))} is neither a file nor a block device")
    if not os.access(path, os.R_OK | os.W_OK):
        raise SpecError(field, f"{quoted(str(path))} is not readable and writable by the launcher: fix its "
                               "permissions")
    return DiskImage(str(path), "raw")


def container_disk(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
                   vmi: Mapping[str, Any]) -> DiskImage:
    reject_unsupported(spec, field, ("image", "path", "imagePullPolicy"))
    image = xml_text(spec.get("image", ""), f"{field}.image")
    if not image:
        raise SpecError(f"{field}.image", "required: the image holding the disk, e.g. \"kvtui/demo:latest\"")
    try:
        base = find_disk(image, sources.image_store, spec.get("path"))
    except ValueError as exc:
        raise SpecError(f"{field}.image", str(exc)) from None
    except ImageNotFound as exc:
        raise SpecError(f"{field}.path" if spec.get("path") else f"{field}.image", str(exc)) from None
    return _overlay(base, sources.state_dir / "volumes" / f"{name}.qcow2", f"{field}.image")


def _overlay(base: Path, overlay: Path, field: str) -> DiskImage:
    try:
        qemu_img.create_overlay(base, overlay)
    except qemu_img.QemuImgError as exc:
        raise SpecError(field, f"cannot use {quoted(str(base))}: {exc}") from None
    return DiskImage(str(overlay), "qcow2")


def _claim_disk(claim: Mapping[str, Any], field: str, name: str, sources: VolumeSources) -> Path:
    reject_unsupported(claim, field, ("claimName", "readOnly"))
    claim_name = xml_text(claim.get("claimName", ""), f"{field}.claimName")
    if not claim_name:
        raise SpecError(f"{field}.claimName", "required: the PersistentVolumeClaim to use")
    mount = sources.claims_dir / name
    if mount.exists() and stat.S_ISBLK(mount.stat().st_mode):
        return mount
    disk = mount / CLAIM_DISK
    if not disk.is_file():
        raise SpecError(f"{field}.claimName", f"claim {quoted(claim_name)} is not available to this launcher: "
                                              f"expected {disk} (the claim's volume mounted at {mount}); check "
                                              "that the claim is bound and holds disk.img")
    return disk


def persistent_volume_claim(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
                            vmi: Mapping[str, Any]) -> DiskImage:
    disk = _claim_disk(spec, field, name, sources)
    return _existing_disk(disk, f"{field}.claimName")


def ephemeral(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
              vmi: Mapping[str, Any]) -> DiskImage:
    reject_unsupported(spec, field, ("persistentVolumeClaim",))
    claim_field = f"{field}.persistentVolumeClaim"
    if "persistentVolumeClaim" not in spec:
        raise SpecError(claim_field, "required: the claim whose disk the overlay reads")
    disk = _claim_disk(as_mapping(spec["persistentVolumeClaim"], claim_field), claim_field, name, sources)
    return _overlay(disk, sources.state_dir / "volumes" / f"{name}.qcow2", f"{claim_field}.claimName")


def empty_disk(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
               vmi: Mapping[str, Any]) -> DiskImage:
    reject_unsupported(spec, field, ("capacity",))
    if "capacity" not in spec:
        raise SpecError(f"{field}.capacity", "required: the size of the empty disk, e.g. \"1Gi\"")
    size = quantity_bytes(spec["capacity"], f"{field}.capacity")
    if size < 512:
        raise SpecError(f"{field}.capacity", f"must be at least 512 bytes, not {quoted(spec['capacity'])}")
    path = sources.state_dir / "volumes" / f"{name}.qcow2"
    try:
        qemu_img.create_empty(path, size)
    except qemu_img.QemuImgError as exc:
        raise SpecError(f"{field}.capacity", str(exc)) from None
    return DiskImage(str(path), "qcow2")
