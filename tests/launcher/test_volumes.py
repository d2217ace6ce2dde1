"""Volumes made into files before the domain is built (no QEMU needed): the image store's naming,
cloud-init and config ISOs as the guest will read them, and the errors a user can cause."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pycdlib
import pytest

from launcher.domain import SpecError
from launcher.volumes import VolumeSources, kernel_boot_files, prepare_volumes
from launcher.volumes.cloud_init import ObjectNotFound
from launcher.volumes.image_store import image_directory


@pytest.mark.parametrize(("reference", "directory"), [
    ("kvtui/demo:latest", "demo/latest"),
    ("kvtui/demo", "demo/latest"),
    ("quay.io/containerdisks/fedora:39", "containerdisks/fedora/39"),
    ("localhost:5000/cirros:0.6", "cirros/0.6"),
    ("cirros@sha256:" + "a" * 64, "cirros/sha256-" + "a" * 64),
])
def test_image_references_map_to_store_directories(reference: str, directory: str) -> None:
    assert image_directory(reference, Path("/store")) == Path("/store") / directory


def test_an_invalid_image_name_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid image name 'Demo:latest'"):
        image_directory("Demo:latest", Path("/store"))


def vmi(*volumes: dict, name: str = "vm1") -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": "0b6f3a52-1c2d-4e3f-9a8b-7c6d5e4f3a2b"},
            "spec": {"volumes": list(volumes)}}


def sources(tmp_path: Path, **changes: object) -> VolumeSources:
    values: dict = {"state_dir": tmp_path / "state", "image_store": tmp_path / "images",
                    "claims_dir": tmp_path / "claims"}
    values.update(changes)
    return VolumeSources(**values)


def iso_files(path: str) -> dict[str, bytes]:
    """Files of an ISO by their Rock Ridge names, as Linux shows them."""
    iso = pycdlib.PyCdlib()
    iso.open(path)
    files = {}
    for root, _dirs, names in iso.walk(rr_path="/"):
        for name in names:
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"{root.rstrip('/')}/{name}")
            files[f"{root.rstrip('/')}/{name}".lstrip("/")] = out.getvalue()
    label = iso.pvd.volume_identifier.decode().strip()
    iso.close()
    return {"<label>": label.encode(), **files}


def test_no_cloud_seed_has_user_data_meta_data_and_network_config(tmp_path: Path) -> None:
    prepared = prepare_volumes(vmi({"name": "cloudinit", "cloudInitNoCloud": {
        "userDataBase64": base64.b64encode(b"#cloud-config\nhostname: web\n").decode(),
        "networkData": "version: 2\n"}}), sources(tmp_path))
    files = iso_files(prepared.disks["cloudinit"].path)
    assert files == {
        "<label>": b"cidata",
        "user-data": b"#cloud-config\nhostname: web\n",
        "meta-data": b"instance-id: 0b6f3a52-1c2d-4e3f-9a8b-7c6d5e4f3a2b\nlocal-hostname: vm1\n",
        "network-config": b"version: 2\n",
    }


def test_config_drive_uses_the_openstack_layout(tmp_path: Path) -> None:
    prepared = prepare_volumes(vmi({"name": "cd", "cloudInitConfigDrive": {"userData": "#!/bin/sh\necho hi\n"}}),
                               sources(tmp_path))
    files = iso_files(prepared.disks["cd"].path)
    assert files["<label>"] == b"config-2"
    assert files["openstack/latest/user_data"] == b"#!/bin/sh\necho hi\n"
    assert json.loads(files["openstack/latest/meta_data.json"])["hostname"] == "vm1"


def test_a_secret_volume_is_an_iso_with_one_file_per_key(tmp_path: Path) -> None:
    read = {"creds": {"user": b"admin", "password": b"s3cret<&>"}}.__getitem__
    prepared = prepare_volumes(vmi({"name": "creds", "secret": {"secretName": "creds"}}),
                               sources(tmp_path, read_secret=read))
    assert iso_files(prepared.disks["creds"].path) == {"<label>": b"secdata", "password": b"s3cret<&>",
                                                      "user": b"admin"}


def error(volume: dict, tmp_path: Path, **changes: object) -> str:
    with pytest.raises(SpecError) as caught:
        prepare_volumes(vmi(volume), sources(tmp_path, **changes))
    return str(caught.value)


def test_cloud_init_errors_name_the_field(tmp_path: Path) -> None:
    assert error({"name": "c", "cloudInitNoCloud": {"userDataBase64": "not base64!"}}, tmp_path) == (
        "spec.volumes[0].cloudInitNoCloud.userDataBase64: is not valid base64: encode the data with 'base64 -w0'")
    assert error({"name": "c", "cloudInitNoCloud": {"userData": "x", "userDataBase64": "eA=="}}, tmp_path) == (
        "spec.volumes[0].cloudInitNoCloud.userDataBase64: set only one of userData, userDataBase64 or secretRef")
    assert error({"name": "c", "cloudInitNoCloud": {"secretRef": {"name": "ud"}}}, tmp_path) == (
        "spec.volumes[0].cloudInitNoCloud.secretRef.name: reading Secret \"ud\" needs the API server: run the "
        "launcher with --kubeconfig or in a pod, or inline the data")

    def missing(name: str) -> dict:
        raise ObjectNotFound(name)

    assert error({"name": "c", "cloudInitNoCloud": {"secretRef": {"name": "ud"}}}, tmp_path,
                 read_secret=missing) == (
        "spec.volumes[0].cloudInitNoCloud.secretRef.name: Secret \"ud\" not found in the VMI's namespace: create it")


def test_host_disk_errors_name_the_field(tmp_path: Path) -> None:
    gated = {"feature_gates": frozenset({"HostDisk"})}
    assert error({"name": "d", "hostDisk": {"path": str(tmp_path / "absent.img"), "type": "Disk"}}, tmp_path,
                 **gated) == (
        f"spec.volumes[0].hostDisk.path: \"{tmp_path}/absent.img\" does not exist on this node: create it, or "
        "set type: DiskOrCreate with a capacity")
    assert error({"name": "d", "hostDisk": {"path": str(tmp_path / "new.img"), "type": "DiskOrCreate"}}, tmp_path,
                 **gated) == (
        "spec.volumes[0].hostDisk.capacity: required with type DiskOrCreate: the size of the disk to create, "
        "e.g. \"1Gi\"")
    assert error({"name": "d", "hostDisk": {"path": "relative.img"}}, tmp_path, **gated) == (
        "spec.volumes[0].hostDisk.path: must be an absolute path, not \"relative.img\"")
    assert error({"name": "d", "hostDisk": {"path": "/tmp/x]]>.img"}}, tmp_path, **gated) == (
        "spec.volumes[0].hostDisk.path: must not contain \"]]>\": rename \"/tmp/x]]>.img\"")


def test_missing_images_and_claims_say_where_they_were_looked_for(tmp_path: Path) -> None:
    assert error({"name": "r", "containerDisk": {"image": "kvtui/demo:latest"}}, tmp_path) == (
        f"spec.volumes[0].containerDisk.image: image 'kvtui/demo:latest' not found in the local image store: no "
        f"disk (disk.qcow2, disk.raw or disk.img) in {tmp_path}/images/demo/latest; build it with "
        "'kvtui images build demo'")
    assert error({"name": "p", "persistentVolumeClaim": {"claimName": "data"}}, tmp_path) == (
        f"spec.volumes[0].persistentVolumeClaim.claimName: claim \"data\" is not available to this launcher: "
        f"expected {tmp_path}/claims/p/disk.img (the claim's volume mounted at {tmp_path}/claims/p); check that "
        "the claim is bound and holds disk.img")
    assert error({"name": "x", "dataVolume": {"name": "dv"}}, tmp_path).startswith(
        "spec.volumes[0].dataVolume: volume source dataVolume is not supported by this launcher: use one of hostDisk")


def test_kernel_boot_files_come_from_the_image_directory(tmp_path: Path) -> None:
    image = tmp_path / "images" / "demo" / "latest"
    image.mkdir(parents=True)
    (image / "vmlinuz").write_bytes(b"kernel")
    (image / "initrd.img").write_bytes(b"initrd")
    spec = {"metadata": {"name": "d"}, "spec": {"domain": {"firmware": {"kernelBoot": {"container": {
        "image": "kvtui/demo:latest", "kernelPath": "/boot/vmlinuz", "initrdPath": "/boot/initrd.img"}}}}}}
    files = kernel_boot_files(spec, tmp_path / "images")
    assert (files.kernel, files.initrd) == (str(image / "vmlinuz"), str(image / "initrd.img"))
