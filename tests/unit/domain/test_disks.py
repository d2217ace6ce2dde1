"""Disks joined with volumes: targets, buses, drivers and every way to get them wrong."""

import xml.etree.ElementTree as ET

import pytest

from launcher.domain import DiskImage, SpecError
from launcher.domain.disks import build_disks

from .conftest import seed_context


def _with_disks(vmi, disks, volumes=None):
    vmi["spec"]["domain"]["devices"]["disks"] = disks
    vmi["spec"]["volumes"] = volumes if volumes is not None else [
        {"name": d["name"], "emptyDisk": {"capacity": "1Gi"}} for d in disks
    ]
    return vmi


def _images(*names, fmt="qcow2", block=False):
    return {n: DiskImage(f"/var/lib/kvtui/disks/{n}.{fmt}", fmt, block) for n in names}


def test_seed_host_disk_on_virtio(seed_vmi, seed_ctx, golden):
    golden("disks_seed", build_disks(seed_vmi, seed_ctx))


def test_buses_kinds_and_options(seed_vmi, golden):
    _with_disks(seed_vmi, [
        {"name": "root", "disk": {"bus": "virtio"}, "bootOrder": 1, "cache": "none", "io": "native",
         "serial": "ROOT-1"},
        {"name": "data", "disk": {"bus": "scsi", "readonly": True}, "cache": "writethrough"},
        {"name": "install", "cdrom": {"bus": "sata", "tray": "closed"}, "bootOrder": 2},
        {"name": "cidata"},  # no kind: a virtio disk
        {"name": "shared", "disk": {"bus": "sata"}, "shareable": True, "errorPolicy": "report"},
        {"name": "stick", "disk": {"bus": "usb"}},
        {"name": "raw", "lun": {}},
    ])
    images = _images("root", "data", "install", "cidata", "shared", "stick")
    images["raw"] = DiskImage("/dev/mapper/raw", "raw", block=True)
    golden("disks_buses", build_disks(seed_vmi, seed_context(disk_paths=images)))


def test_target_names_continue_past_z(seed_vmi):
    names = [f"d{i}" for i in range(28)]
    _with_disks(seed_vmi, [{"name": n} for n in names])
    disks = build_disks(seed_vmi, seed_context(disk_paths=_images(*names)))
    targets = [d.find("target").get("dev") for d in disks]
    assert targets[:2] == ["vda", "vdb"]
    assert targets[25:] == ["vdz", "vdaa", "vdab"]


def test_qcow2_image_sets_the_driver_type(seed_vmi):
    disk = build_disks(seed_vmi, seed_context(disk_paths=_images("disk0")))[0]
    assert disk.find("driver").get("type") == "qcow2"


def test_unknown_bus(seed_vmi, seed_ctx):
    _with_disks(seed_vmi, [{"name": "disk0", "disk": {"bus": "virtio"}}, {"name": "old", "disk": {"bus": "ide"}}])
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.devices.disks[1].disk.bus: unsupported value "ide": '
                                 'supported values: "virtio", "sata", "scsi", "usb"')


def test_cdrom_cannot_be_virtio(seed_vmi, seed_ctx):
    _with_disks(seed_vmi, [{"name": "iso", "cdrom": {"bus": "virtio"}}])
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.devices.disks[0].cdrom.bus: unsupported value "virtio": '
                                 'supported values: "sata", "scsi", "usb"')


def test_disk_without_a_volume(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"].append({"name": "data", "disk": {}})
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.devices.disks[1].name: no volume named "data": add one to '
                                 'spec.volumes or remove the disk')


def test_volume_without_a_disk(seed_vmi, seed_ctx):
    seed_vmi["spec"]["volumes"].append({"name": "orphan", "emptyDisk": {"capacity": "1Gi"}})
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.volumes[1].name: volume "orphan" is not used by any disk: add a disk named '
                                 '"orphan" to spec.domain.devices.disks or remove the volume')


def test_duplicate_disk_names(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"].append({"name": "disk0", "cdrom": {}})
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.devices.disks[1].name: duplicate disk name "disk0": '
                                 'spec.domain.devices.disks[0] already uses it')


def test_duplicate_volume_names(seed_vmi, seed_ctx):
    seed_vmi["spec"]["volumes"].append({"name": "disk0", "emptyDisk": {"capacity": "1Gi"}})
    with pytest.raises(SpecError, match=r'^spec.volumes\[1\].name: duplicate volume name "disk0": spec.volumes\[0\]'):
        build_disks(seed_vmi, seed_ctx)


def test_duplicate_boot_orders(seed_vmi):
    _with_disks(seed_vmi, [{"name": "a", "bootOrder": 1}, {"name": "b", "bootOrder": 1}])
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_context(disk_paths=_images("a", "b")))
    assert str(caught.value) == ("spec.domain.devices.disks[1].bootOrder: duplicate boot order 1: "
                                 "spec.domain.devices.disks[0].bootOrder already uses it; give each device its "
                                 "own bootOrder")


def test_volume_the_launcher_could_not_prepare(seed_vmi):
    _with_disks(seed_vmi, [{"name": "dv"}], [{"name": "dv", "dataVolume": {"name": "fedora"}}])
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_context(disk_paths={}))
    assert str(caught.value) == (
        'spec.volumes[0].dataVolume: volume "dv" (dataVolume) could not be prepared as a disk image on this node: '
        "use one of hostDisk, containerDisk, persistentVolumeClaim, emptyDisk, ephemeral, cloudInitNoCloud or "
        "cloudInitConfigDrive"
    )


def test_lun_needs_a_block_device(seed_vmi):
    _with_disks(seed_vmi, [{"name": "disk0", "lun": {}}], seed_vmi["spec"]["volumes"])
    with pytest.raises(SpecError, match=r"^spec.domain.devices.disks\[0\].lun: a lun needs a block device"):
        build_disks(seed_vmi, seed_context(disk_paths=_images("disk0")))


def test_shareable_disk_with_a_cache(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0].update(shareable=True, cache="writeback")
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.devices.disks[0].cache: a shareable disk needs cache "none", '
                                 'not "writeback"')


def test_unknown_cache_mode(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0]["cache"] = "unsafe"
    with pytest.raises(SpecError, match=r'^spec.domain.devices.disks\[0\].cache: unsupported value "unsafe"'):
        build_disks(seed_vmi, seed_ctx)


def test_bad_serial(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0]["serial"] = "has space"
    with pytest.raises(SpecError, match=r'^spec.domain.devices.disks\[0\].serial: "has space" must consist of'):
        build_disks(seed_vmi, seed_ctx)


def test_disk_name_must_be_an_alias(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0]["name"] = "disk<0>"
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_ctx)
    assert str(caught.value) == ("spec.domain.devices.disks[0].name: \"disk<0>\" must consist of letters, digits, "
                                 "'-' and '_'")


def test_two_kinds_at_once(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0]["cdrom"] = {}
    with pytest.raises(SpecError, match=r"^spec.domain.devices.disks\[0\]: set only one of disk, lun or cdrom"):
        build_disks(seed_vmi, seed_ctx)


def test_block_size_is_refused(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0]["blockSize"] = {"matchVolume": {}}
    with pytest.raises(SpecError, match=r"^spec.domain.devices.disks\[0\].blockSize: not supported"):
        build_disks(seed_vmi, seed_ctx)


@pytest.mark.parametrize("path", ["/images/<vm>.img", "/images/it's.img", "/images/a&b.img"])
def test_paths_with_xml_characters_round_trip(seed_vmi, path):
    disk = build_disks(seed_vmi, seed_context(disk_paths={"disk0": DiskImage(path)}))[0]
    assert ET.fromstring(ET.tostring(disk)).find("source").get("file") == path


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/images/a]]>b.img", 'must not contain "]]>": rename "/images/a]]>b.img"'),
        ("/images/a\x00b.img", "must not contain control characters"),
    ],
)
def test_paths_with_cdata_end_or_nul_are_refused(seed_vmi, path, message):
    with pytest.raises(SpecError) as caught:
        build_disks(seed_vmi, seed_context(disk_paths={"disk0": DiskImage(path)}))
    assert caught.value.field == "spec.volumes[0].hostDisk.path"
    assert caught.value.message.startswith(message)
