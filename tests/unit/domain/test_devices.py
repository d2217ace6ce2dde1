"""USB controller, RNG, watchdog, balloon, graphics, and refusing devices the launcher lacks."""

import pytest

from launcher.domain import DiskImage, SpecError
from launcher.domain.devices import build_devices, check_device_fields

from .conftest import seed_context


def test_seed_devices(seed_vmi, seed_ctx, golden):
    golden("devices_seed", build_devices(seed_vmi, seed_ctx))


def test_rng_watchdog_graphics_no_balloon(seed_vmi, golden):
    seed_vmi["spec"]["domain"]["devices"].update(
        rng={},
        watchdog={"name": "wd", "i6300esb": {"action": "poweroff"}},
        autoattachGraphicsDevice=True,
        autoattachMemBalloon=False,
    )
    golden("devices_all", build_devices(seed_vmi, seed_context(vnc_socket="/run/kvtui/launcher/vnc")))


def test_usb_disk_gets_an_xhci_controller(seed_vmi):
    seed_vmi["spec"]["domain"]["devices"]["disks"][0]["disk"]["bus"] = "usb"
    ctx = seed_context(disk_paths={"disk0": DiskImage("/d.img")})
    assert build_devices(seed_vmi, ctx)[0].attrib == {"type": "usb", "index": "0", "model": "qemu-xhci"}


def test_watchdog_action_default_is_reset(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["watchdog"] = {"name": "wd", "i6300esb": {}}
    watchdog = next(e for e in build_devices(seed_vmi, seed_ctx) if e.tag == "watchdog")
    assert watchdog.get("action") == "reset"


def test_unknown_watchdog_action(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["watchdog"] = {"name": "wd", "i6300esb": {"action": "dump"}}
    with pytest.raises(SpecError) as caught:
        build_devices(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.devices.watchdog.i6300esb.action: unsupported value "dump": '
                                 'supported values: "poweroff", "reset", "shutdown"')


def test_graphics_without_a_vnc_socket(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["autoattachGraphicsDevice"] = True
    with pytest.raises(SpecError, match=r"^spec.domain.devices.autoattachGraphicsDevice: this launcher has no VNC"):
        build_devices(seed_vmi, seed_ctx)


def test_gpus_are_refused(seed_vmi):
    seed_vmi["spec"]["domain"]["devices"]["gpus"] = [{"name": "gpu0", "deviceName": "nvidia.com/A100"}]
    with pytest.raises(SpecError) as caught:
        check_device_fields(seed_vmi)
    assert str(caught.value) == "spec.domain.devices.gpus: not supported by this launcher: remove it"


def test_off_only_fields(seed_vmi):
    seed_vmi["spec"]["domain"]["devices"]["autoattachVSOCK"] = False
    check_device_fields(seed_vmi)
    seed_vmi["spec"]["domain"]["devices"]["autoattachVSOCK"] = True
    with pytest.raises(SpecError) as caught:
        check_device_fields(seed_vmi)
    assert str(caught.value) == ("spec.domain.devices.autoattachVSOCK: only false is supported by this launcher: "
                                 "set it to false or remove it")
