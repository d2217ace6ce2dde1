"""How a launched VM ends, with KubeVirt's phases and events: a graceful shutdown within the
grace period Succeeds; a guest that ignores ACPI is destroyed when the grace period runs out and
Fails; a killed QEMU Fails with a reason; a spec the launcher cannot honour fails before boot."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from launcher.images.demo import SHELL_PROMPT

from .conftest import LauncherProcess, demo_vmi

pytestmark = pytest.mark.integration

Launch = Callable[..., LauncherProcess]


def boot(launch: Launch, name: str, **kwargs: object) -> tuple[LauncherProcess, object]:
    launcher = launch(demo_vmi(name, **kwargs))
    console = launcher.console()
    console.read_until(SHELL_PROMPT)
    launcher.wait_phase("Running")
    return launcher, console


def test_sigterm_shuts_the_guest_down_within_the_grace_period(launch: Launch) -> None:
    launcher, console = boot(launch, "graceful", grace=60)
    launcher.process.send_signal(signal.SIGTERM)
    console.read_until("Requesting system poweroff", timeout=60)
    assert launcher.wait_exit() == 0
    status = launcher.status()
    assert status["phase"] == "Succeeded"
    assert "reason" not in status
    assert launcher.condition("Ready")["message"] == "the guest powered off"
    assert [(e["type"], e["reason"], e["message"]) for e in launcher.events()][-2:] == [
        ("Normal", "ShuttingDown", "Signaled Graceful Shutdown"),
        ("Normal", "Stopped", "The VirtualMachineInstance was shut down."),
    ]


def test_the_shutdown_verb_powers_the_guest_off(launch: Launch) -> None:
    launcher, _ = boot(launch, "verb")
    status, body = launcher.request("POST", "/shutdown")
    assert status == 200
    assert body["message"].startswith("VirtualMachineInstance is shutting down (ACPI power button)")
    assert launcher.wait_exit() == 0
    assert launcher.status()["phase"] == "Succeeded"


def test_a_guest_ignoring_acpi_is_destroyed_when_the_grace_period_expires(launch: Launch) -> None:
    launcher, console = boot(launch, "stubborn", grace=3)
    # The guest's power-button handler becomes a no-op: ACPI presses are ignored from now on.
    console.run("echo '#!/bin/sh' > /etc/acpi/PWRF/00000080; echo acpi-$((6 * 7))", "acpi-42\r\n")
    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.wait_exit() == 1
    status = launcher.status()
    assert (status["phase"], status["reason"]) == ("Failed", "GracePeriodExpired")
    assert launcher.event_reasons()[-3:] == ["ShuttingDown", "Deleted", "Stopped"]
    assert launcher.events()[-2]["message"] == "VirtualMachineInstance stopping"


def test_grace_period_zero_destroys_at_once_and_succeeds(launch: Launch) -> None:
    launcher, _ = boot(launch, "immediate", grace=0)
    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.wait_exit() == 0
    assert launcher.status()["phase"] == "Succeeded"
    assert "ShuttingDown" not in launcher.event_reasons()


def test_killing_qemu_fails_the_vmi_with_a_reason(launch: Launch) -> None:
    launcher, _ = boot(launch, "killed")
    pid = launcher.qemu_pid()
    assert pid is not None
    # Under emulation QEMU runs without transparent huge pages (guest RAM resident only where used).
    emulated = launcher.condition("SoftwareEmulation") is not None
    thp = next(line for line in open(f"/proc/{pid}/status") if line.startswith("THP_enabled:")).split()[1]
    assert thp == ("0" if emulated else "1")
    os.kill(pid, signal.SIGKILL)
    assert launcher.wait_exit() == 1
    status = launcher.status()
    assert (status["phase"], status["reason"]) == ("Failed", "Crashed")
    assert launcher.condition("Ready")["message"] == "QEMU exited unexpectedly (killed or crashed)"
    last = launcher.events()[-1]
    assert (last["type"], last["reason"], last["message"]) == (
        "Warning", "Stopped", "The VirtualMachineInstance crashed: QEMU exited unexpectedly (killed or crashed)")


HOST_DISK_MESSAGE = (
    "spec.volumes[0].hostDisk: hostDisk volumes need the HostDisk feature gate, which is not enabled: add "
    "\"HostDisk\" to the KubeVirt CR's spec.configuration.developerConfiguration.featureGates, or use a "
    "containerDisk or persistentVolumeClaim volume")


def host_disk_vmi(path: str) -> dict:
    vmi = demo_vmi("hostdisk")
    vmi["spec"]["volumes"] = [{"name": "rootdisk", "hostDisk": {"path": path, "type": "DiskOrCreate",
                                                                "capacity": "64Mi"}}]
    return vmi


def test_host_disk_without_the_feature_gate_fails_naming_the_field(launch: Launch, tmp_path) -> None:
    launcher = launch(host_disk_vmi(str(tmp_path / "disk.img")))
    assert launcher.wait_exit() == 1
    status = launcher.status()
    assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
    synchronized = launcher.condition("Synchronized")
    assert (synchronized["status"], synchronized["reason"], synchronized["message"]) == (
        "False", "InvalidSpec", HOST_DISK_MESSAGE)
    assert [(e["type"], e["reason"], e["message"]) for e in launcher.events()] == [
        ("Warning", "SyncFailed", HOST_DISK_MESSAGE)]
    assert not (tmp_path / "disk.img").exists()


def test_host_disk_with_the_gate_creates_the_disk_and_boots(launch: Launch, tmp_path) -> None:
    disk = tmp_path / "disks" / "disk.img"
    launcher = launch(host_disk_vmi(str(disk)), KVTUI_FEATURE_GATES="Snapshot,HostDisk")
    launcher.console().read_until(SHELL_PROMPT)
    assert launcher.wait_phase("Running")
    assert disk.stat().st_size == 64 * 2**20
    assert disk.stat().st_blocks == 0  # sparse until the guest writes


def test_the_container_disk_base_image_is_never_written(launch: Launch, node) -> None:
    base = node.image_store / "demo" / "latest" / "disk.qcow2"
    before = base.read_bytes()
    launcher, console = boot(launch, "overlay")
    console.run("echo scribble > /dev/vda; sync; echo wrote-$((6 * 7))", "wrote-42\r\n")
    launcher.request("POST", "/shutdown")
    launcher.wait_exit()
    assert base.read_bytes() == before
    assert (launcher.state_dir / "volumes" / "rootdisk.qcow2").exists()


def test_the_demo_disk_boots_by_itself_under_bios(launch: Launch) -> None:
    vmi = demo_vmi("diskboot")
    del vmi["spec"]["domain"]["firmware"]  # as the demo VM: BIOS, first disk
    launcher = launch(vmi)
    console = launcher.console()
    output = console.read_until(SHELL_PROMPT)
    assert "SYSLINUX" in output  # the disk's boot loader, on the serial console
    assert launcher.wait_phase("Running")
    qemu = int(next((launcher.state_dir / "libvirt" / "run" / "qemu").glob("*.pid")).read_text())
    arguments = open(f"/proc/{qemu}/cmdline", "rb").read().split(b"\0")
    assert b"-kernel" not in arguments and b"-initrd" not in arguments
