"""KVM or TCG: KVM only when a probe shows it works, because some machines expose a /dev/kvm whose
guests hang right after the kernel decompresses (nested virtualisation gone wrong).

The probe boots the host's kernel with a two-file initramfs (busybox and an /init that prints a
marker and powers off) under `-accel kvm`; a working KVM does that in about a second. The verdict
is cached per node in `<node dir>/kvm-probe.json`, keyed by what would change it (host kernel,
QEMU binary, the /dev/kvm device), and concurrent launchers wait for one probe instead of each
running their own.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.hypervisor import EMULATOR

if TYPE_CHECKING:
    from launcher.images.cpio import Initramfs

KVM_DEVICE = Path("/dev/kvm")
PROBE_MARKER = "KVTUI-KVM-PROBE-OK"
PROBE_TIMEOUT_SECONDS = 15.0
VERDICT_FILE = "kvm-probe.json"


@dataclass(frozen=True)
class Acceleration:
    accelerator: str  # "kvm" or "tcg"
    reason: str  # CamelCase, for the SoftwareEmulation condition
    message: str

    @property
    def emulated(self) -> bool:
        return self.accelerator == "tcg"


def choose_acceleration(node_dir: Path, *, use_emulation: bool) -> Acceleration:
    if use_emulation:
        return Acceleration("tcg", "EmulationRequested",
                            "software emulation (TCG) requested by useEmulation (KVTUI_USE_EMULATION=true)")
    if not KVM_DEVICE.exists():
        return Acceleration("tcg", "KVMUnavailable", "/dev/kvm does not exist: running under software emulation "
                                                     "(TCG), which is several times slower")
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return Acceleration("tcg", "KVMUnavailable", "/dev/kvm is not readable and writable by the launcher: "
                                                     "running under software emulation (TCG)")
    works, detail = kvm_verdict(node_dir)
    if works:
        return Acceleration("kvm", "", "KVM works on this node")
    return Acceleration("tcg", "KVMNotWorking", f"/dev/kvm exists but a probe guest did not boot under it "
                                                f"({detail}): running under software emulation (TCG)")


def kvm_verdict(node_dir: Path) -> tuple[bool, str]:
    """(works, detail), from the node's cache or a fresh probe."""
    node_dir.mkdir(parents=True, exist_ok=True)
    key = _verdict_key()
    with open(node_dir / "kvm-probe.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one probe per node; the others read its verdict
        cached = _read_verdict(node_dir / VERDICT_FILE)
        if cached is not None and cached.get("key") == key:
            return bool(cached["works"]), str(cached["detail"])
        works, detail = probe_kvm()
        tmp = node_dir / f".{VERDICT_FILE}.tmp"
        tmp.write_text(json.dumps({"key": key, "works": works, "detail": detail}, indent=1) + "\n")
        tmp.replace(node_dir / VERDICT_FILE)
        return works, detail


def _verdict_key() -> dict[str, object]:
    emulator = Path(EMULATOR).stat() if Path(EMULATOR).exists() else None
    return {
        "hostKernel": os.uname().release,
        "qemu": [EMULATOR, emulator.st_size if emulator else 0, int(emulator.st_mtime) if emulator else 0],
        "kvmDevice": KVM_DEVICE.stat().st_rdev if KVM_DEVICE.exists() else None,
    }


def _read_verdict(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def probe_kvm(timeout: float = PROBE_TIMEOUT_SECONDS) -> tuple[bool, str]:
    """Boot a tiny Linux guest under KVM; (True, …) when it reaches userspace in time."""
    # Here, not at the top: the probe runs once per node, and every launcher imports this module.
    import tempfile

    from launcher.images.demo import DemoBuildError, find_busybox, find_kernel

    try:
        kernel, _ = find_kernel()
        busybox = find_busybox()
    except DemoBuildError as exc:
        return False, f"cannot probe: {exc}"
    with tempfile.TemporaryDirectory(prefix="kvtui-kvm-probe-") as tmp:
        initrd = Path(tmp) / "probe.img"
        _probe_initramfs(busybox).write_gzip(initrd)
        command = [EMULATOR, "-accel", "kvm", "-m", "128", "-nodefaults", "-nographic", "-no-reboot",
                   "-serial", "stdio", "-kernel", str(kernel), "-initrd", str(initrd),
                   "-append", "console=ttyS0 quiet panic=-1"]
        try:
            result = subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"the probe guest hung for {timeout:.0f} s"
        except OSError as exc:
            return False, f"cannot run {EMULATOR}: {exc}"
    if PROBE_MARKER.encode() in result.stdout:
        return True, "the probe guest booted"
    last = (result.stderr or result.stdout).decode(errors="replace").strip().splitlines()[-1:]
    return False, f"QEMU exited with status {result.returncode}" + (f": {last[0]}" if last else "")


def _probe_initramfs(busybox: Path) -> Initramfs:
    from launcher.images.cpio import Initramfs  # with gzip: only a probe needs them

    image = Initramfs()
    image.char_device("dev/console", 5, 1)
    image.copy("bin/busybox", busybox, 0o755)
    image.file("init", f"#!/bin/busybox sh\n/bin/busybox echo {PROBE_MARKER}\n/bin/busybox poweroff -f\n".encode(),
               0o755)
    return image
