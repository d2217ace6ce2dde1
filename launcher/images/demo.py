"""The built-in demo guest (`kvtui/demo:latest`): Debian's cloud kernel plus a busybox initramfs
with dropbear, built from installed Debian packages into the local image store.

The image holds the kernel and initrd (for `firmware.kernelBoot`) and a disk that boots by itself
under BIOS: a FAT file system with SYSLINUX in its boot sector and the same kernel and initrd. The
demo VM boots from that disk, as VM images do: with kernelBoot QEMU keeps its own copy of the
kernel (14 MiB) in memory for the VM's whole life, to load it again on reset.

The guest mounts proc/sys/dev, brings eth0 up with DHCP, applies cloud-init NoCloud or ConfigDrive
user data (a `#!` script is run; `#cloud-config` `hostname` and `ssh_authorized_keys` are applied),
starts dropbear on port 22, powers off on the ACPI power button, and runs a root shell on ttyS0
whose prompt is `~ # `. It prints one `kvtui-guest-info: {json}` line at boot, which the launcher
reports as the VMI's guestOSInfo.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from launcher.images.cpio import Initramfs
from launcher.volumes.image_store import default_image_store, image_directory

DEMO_IMAGE = "kvtui/demo:latest"
SHELL_PROMPT = "~ # "
GUEST_INFO_MARKER = "kvtui-guest-info: "
# Bump when the initramfs layout or scripts change, so `build` redoes images made by older code.
FORMAT_VERSION = 5
DISK_SIZE_MIB = 64
KERNEL_ARGS = "console=ttyS0 quiet"
# SYSLINUX's configuration on the boot disk: no menu, no wait, its messages on the serial console.
SYSLINUX_CFG = f"""SERIAL 0 115200
DEFAULT demo
PROMPT 0
TIMEOUT 0
LABEL demo
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND {KERNEL_ARGS}
"""
# The programs that make the boot disk without mounting anything, and their Debian packages.
DISK_TOOLS = {"mkfs.vfat": "dosfstools", "syslinux": "syslinux", "mcopy": "mtools", "qemu-img": "qemu-utils"}
BUSYBOX_PATHS = (Path("/usr/bin/busybox"), Path("/bin/busybox"))
DROPBEAR_PATH = Path("/usr/sbin/dropbear")
# Drivers the guest needs that Debian's cloud kernel builds as modules: virtio disks and NIC, the
# SATA/SCSI CD-ROM and ISO 9660 for cloud-init seeds, and the ACPI power button via evdev.
KERNEL_MODULES = (
    "virtio_pci", "virtio_blk", "virtio_net", "virtio_scsi", "virtio_rng", "virtio_balloon",
    "virtio_console", "ahci", "sd_mod", "sr_mod", "isofs", "evdev", "button",
)


class DemoBuildError(Exception):
    """A missing host package or file; the message says which and how to install it."""


@dataclass(frozen=True)
class DemoImage:
    directory: Path
    kernel: Path
    initrd: Path
    disk: Path
    rebuilt: bool


@dataclass(frozen=True)
class _Inputs:
    kernel: Path
    kernel_release: str
    modules_dir: Path
    busybox: Path
    dropbear: Path | None
    authorized_keys: str

    def stamp(self) -> str:
        parts: list[object] = [FORMAT_VERSION, self.kernel_release, self.authorized_keys]
        for path in (self.kernel, self.busybox, self.dropbear):
            if path is not None:
                info = path.stat()
                parts += [str(path), info.st_size, int(info.st_mtime)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def build_demo_image(store: Path | None = None, *, authorized_keys: str = "", force: bool = False,
                     progress: Callable[[str], None] = print) -> DemoImage:
    """Build (or find up to date) the demo image in `store`/demo/latest."""
    directory = image_directory(DEMO_IMAGE, store or default_image_store())
    image = DemoImage(directory, directory / "vmlinuz", directory / "initrd.img", directory / "disk.qcow2",
                      rebuilt=False)
    inputs = _find_inputs(authorized_keys)
    stamp_file = directory / "build.json"
    stamp = inputs.stamp()
    if not force and _up_to_date(image, stamp_file, stamp):
        progress(f"demo image is up to date in {directory}")
        return image
    directory.mkdir(parents=True, exist_ok=True)
    progress(f"kernel: {inputs.kernel} ({inputs.kernel_release})")
    _atomic_write(image.kernel, inputs.kernel.read_bytes())
    initramfs, summary = _initramfs(inputs)
    progress(f"initramfs: {summary}")
    tmp = image.initrd.with_name(image.initrd.name + ".tmp")
    initramfs.write_gzip(tmp)
    tmp.replace(image.initrd)
    progress(f"initrd: {image.initrd} ({image.initrd.stat().st_size / 2**20:.1f} MiB)")
    _write_boot_disk(image)
    progress(f"boot disk: {image.disk} ({DISK_SIZE_MIB} MiB FAT, SYSLINUX, kernel and initrd)")
    stamp_file.write_text(json.dumps({"stamp": stamp, "kernelRelease": inputs.kernel_release}) + "\n")
    progress(f"demo image ready in {directory}")
    return DemoImage(image.directory, image.kernel, image.initrd, image.disk, rebuilt=True)


def _up_to_date(image: DemoImage, stamp_file: Path, stamp: str) -> bool:
    try:
        recorded = json.loads(stamp_file.read_text()).get("stamp")
    except (OSError, ValueError):
        return False
    return recorded == stamp and all(p.exists() for p in (image.kernel, image.initrd, image.disk))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _write_boot_disk(image: DemoImage) -> None:
    """The FAT disk with SYSLINUX in its boot sector, as qcow2. Replaced by a rename: a running
    guest's overlay keeps the disk it was started on."""
    tools = {tool: _find_tool(tool, package) for tool, package in DISK_TOOLS.items()}
    with tempfile.TemporaryDirectory(prefix=".disk-", dir=image.directory) as tmp:
        raw, config, qcow2 = Path(tmp) / "disk.raw", Path(tmp) / "syslinux.cfg", Path(tmp) / "disk.qcow2"
        config.write_text(SYSLINUX_CFG)
        for command in ([tools["mkfs.vfat"], "-C", "-n", "KVTUI-DEMO", str(raw), str(DISK_SIZE_MIB * 1024)],
                        [tools["syslinux"], "--install", str(raw)],
                        [tools["mcopy"], "-i", str(raw), str(image.kernel), str(image.initrd), str(config), "::/"],
                        [tools["qemu-img"], "convert", "-q", "-O", "qcow2", str(raw), str(qcow2)]):
            result = subprocess.run(command, capture_output=True, text=True,
                                    env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
            if result.returncode != 0:
                raise DemoBuildError(f"making the boot disk: {Path(command[0]).name} failed: "
                                     f"{(result.stderr or result.stdout).strip()}")
        qcow2.replace(image.disk)


def _find_tool(tool: str, package: str) -> str:
    found = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if found is None:
        raise DemoBuildError(f"{tool} is missing: install the Debian package {package} (scripts/setup.sh does)")
    return found


# -- host inputs ---------------------------------------------------------------------------------------


def find_kernel() -> tuple[Path, str]:
    """The newest Debian cloud kernel in /boot (it boots fastest), else the newest kernel at all."""
    kernels = sorted(Path("/boot").glob("vmlinuz-*"), key=lambda p: _version_key(p.name))
    cloud = [k for k in kernels if k.name.endswith("-cloud-amd64")]
    chosen = (cloud or kernels or [None])[-1]
    if chosen is None:
        raise DemoBuildError("no kernel in /boot: install the Debian package linux-image-cloud-amd64 "
                             "(scripts/setup.sh does)")
    return chosen, chosen.name.removeprefix("vmlinuz-")


def find_busybox() -> Path:
    for path in BUSYBOX_PATHS:
        if path.exists() and _statically_linked(path):
            return path
    raise DemoBuildError("no statically linked busybox: install the Debian package busybox-static "
                         "(scripts/setup.sh does)")


def _version_key(name: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", name)]


def _statically_linked(path: Path) -> bool:
    # The initramfs has no libc of its own for busybox: Debian's `busybox` package is dynamic,
    # `busybox-static` is not. ldd fails ("not a dynamic executable") on static binaries.
    result = subprocess.run(["ldd", str(path)], capture_output=True)
    return result.returncode != 0 or b"statically linked" in result.stdout


def _find_inputs(authorized_keys: str) -> _Inputs:
    kernel, release = find_kernel()
    modules_dir = Path("/lib/modules") / release
    if not (modules_dir / "modules.dep").exists():
        raise DemoBuildError(f"kernel modules for {release} are missing in {modules_dir}: reinstall the "
                             f"Debian package linux-image-{release}")
    dropbear = DROPBEAR_PATH if DROPBEAR_PATH.exists() else None
    return _Inputs(kernel, release, modules_dir, find_busybox(), dropbear, authorized_keys)


def _module_load_order(modules_dir: Path, wanted: Iterable[str]) -> list[str]:
    """Module files (relative to modules_dir) for `wanted` and their dependencies, dependencies first."""
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        module, _, requires = line.partition(":")
        deps[module] = requires.split()
    by_name = {Path(m).name.removesuffix(".ko").replace("-", "_"): m for m in deps}
    order: list[str] = []

    def visit(module: str) -> None:
        if module in order:
            return
        # modules.dep lists indirect dependencies too, deepest last; load them in reverse.
        for dependency in reversed(deps.get(module, [])):
            visit(dependency)
        order.append(module)

    for name in wanted:
        if name in by_name:  # not listed: built into this kernel
            visit(by_name[name])
    return order


def _shared_libraries(binary: Path) -> list[tuple[str, Path]]:
    """(path in the guest, file on the host) for each library `binary` loads, from ldd."""
    output = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libraries = []
    for line in output.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            libraries.append((match[1], Path(match[1]).resolve()))
    return libraries


# -- the initramfs -------------------------------------------------------------------------------------


def _initramfs(inputs: _Inputs) -> tuple[Initramfs, str]:
    image = Initramfs()
    for directory in ("bin", "sbin", "usr/bin", "usr/sbin", "etc/dropbear", "dev", "proc", "sys", "run",
                      "tmp", "mnt", "var", "lib/modules"):
        image.directory(directory)
    image.directory("root", 0o700)
    image.directory("root/.ssh", 0o700)
    image.symlink("var/run", "/run")
    # The kernel opens /dev/console before devtmpfs is mounted, to give init its stdio.
    image.char_device("dev/console", 5, 1)
    image.copy("bin/busybox", inputs.busybox, 0o755)
    image.symlink("init", "/bin/busybox")
    for applet in _busybox_applets(inputs.busybox):
        image.symlink(f"bin/{applet}", "/bin/busybox")
    modules = _module_load_order(inputs.modules_dir, KERNEL_MODULES)
    _add_modules(image, inputs.modules_dir, modules)
    has_ssh = inputs.dropbear is not None
    if inputs.dropbear is not None:
        _add_binary(image, "usr/sbin/dropbear", inputs.dropbear)
    for path, text, mode in _config_files(inputs, has_ssh):
        image.file(path, text.encode(), mode)
    ssh = f", dropbear {inputs.dropbear}" if has_ssh else ", no SSH (install dropbear-bin for it)"
    return image, f"busybox {inputs.busybox}, {len(modules)} kernel modules{ssh}"


def _busybox_applets(busybox: Path) -> list[str]:
    output = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout
    return [a for a in output.split() if a not in ("busybox", "init") and "/" not in a] + ["init"]


def _add_modules(image: Initramfs, modules_dir: Path, modules: list[str]) -> None:
    for module in modules:
        image.copy(f"lib/modules/{Path(module).name}", modules_dir / module, 0o644)
    image.file("etc/modules", ("\n".join(Path(m).name for m in modules) + "\n").encode())


def _add_binary(image: Initramfs, path: str, binary: Path) -> None:
    image.copy(path, binary, 0o755)
    for guest_path, host_file in _shared_libraries(binary):
        image.copy(guest_path, host_file, 0o755)


def _config_files(inputs: _Inputs, has_ssh: bool) -> list[tuple[str, str, int]]:
    keys = inputs.authorized_keys.strip()
    files = [
        ("etc/inittab", INITTAB, 0o644),
        ("etc/init.d/rcS", RCS, 0o755),
        ("etc/init.d/rcK", RCK, 0o755),
        ("etc/init.d/cloud-init", CLOUD_INIT, 0o755),
        ("etc/udhcpc/default.script", UDHCPC_SCRIPT, 0o755),
        ("etc/acpi/PWRF/00000080", POWER_BUTTON, 0o755),
        ("etc/profile", PROFILE, 0o644),
        ("etc/motd", MOTD, 0o644),
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nsshd:x:74:74:sshd:/var/empty:/bin/false\n", 0o644),
        ("etc/group", "root:x:0:\n", 0o644),
        # "*": no password can log in, but the account is not locked (dropbear refuses locked ones).
        ("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o600),
        ("etc/shells", "/bin/sh\n", 0o644),
        ("etc/hostname", "demo\n", 0o644),
        ("etc/hosts", "127.0.0.1 localhost\n", 0o644),
        ("etc/kvtui-ssh", "yes\n" if has_ssh else "no\n", 0o644),
    ]
    if keys:
        files.append(("root/.ssh/authorized_keys", keys + "\n", 0o600))
    return files


INITTAB = """\
::sysinit:/etc/init.d/rcS
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/bin/reboot
::shutdown:/etc/init.d/rcK
"""

RCS = r"""#!/bin/sh
# kvtui demo guest: early boot, run once by busybox init before the shell.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
for module in $(cat /etc/modules); do insmod "/lib/modules/$module" 2>/dev/null; done
hostname -F /etc/hostname
ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
    udhcpc -i eth0 -b -t 3 -T 1 -p /run/udhcpc.pid >/dev/null 2>&1
fi
/etc/init.d/cloud-init
acpid -l /run/acpid.log
if [ "$(cat /etc/kvtui-ssh)" = yes ]; then
    dropbear -R -s -p 22 -P /run/dropbear.pid
fi
printf 'kvtui-guest-info: {"id":"kvtui-demo","name":"kvtui demo","prettyName":"kvtui demo guest (busybox)",' > /dev/console
printf '"version":"1","versionId":"1","kernelRelease":"%s","kernelVersion":"%s","machine":"%s"}\n' \
    "$(uname -r)" "$(uname -v)" "$(uname -m)" > /dev/console
"""

RCK = """#!/bin/sh
# Run by busybox init on poweroff/reboot, before it kills everything.
echo "kvtui demo guest: shutting down" > /dev/console
sync
"""

CLOUD_INIT = r"""#!/bin/sh
# cloud-init, the small part: find a NoCloud (cidata) or ConfigDrive (config-2) ISO, set the
# hostname, install ssh_authorized_keys, and run user data that is a script.
seed=/run/cloud-init/seed
mkdir -p "$seed"
kind=
for dev in /dev/vd[a-z] /dev/sd[a-z] /dev/sr[0-9]; do
    [ -b "$dev" ] || continue
    mount -t iso9660 -o ro "$dev" "$seed" 2>/dev/null || continue
    if [ -f "$seed/user-data" ] || [ -f "$seed/meta-data" ]; then kind=nocloud; break; fi
    if [ -d "$seed/openstack/latest" ]; then kind=configdrive; break; fi
    umount "$seed"
done
[ -n "$kind" ] || exit 0
if [ "$kind" = nocloud ]; then
    user_data="$seed/user-data"
    host=$(sed -n 's/^local-hostname:[ \t]*//p' "$seed/meta-data" 2>/dev/null | head -n 1)
else
    user_data="$seed/openstack/latest/user_data"
    host=$(sed -n 's/.*"hostname"[ \t]*:[ \t]*"\([^"]*\)".*/\1/p' "$seed/openstack/latest/meta_data.json" 2>/dev/null)
fi
unquote() { sed -e 's/^[ \t]*//' -e 's/[ \t]*$//' -e "s/^[\"']//" -e "s/[\"']\$//"; }
[ -n "$host" ] && hostname "$host"
[ -f "$user_data" ] || exit 0
first=$(head -n 1 "$user_data")
case "$first" in
"#!"*)
    cp "$user_data" /run/cloud-init/user-script
    chmod 700 /run/cloud-init/user-script
    /run/cloud-init/user-script > /dev/console 2>&1
    ;;
"#cloud-config"*)
    host=$(sed -n 's/^hostname:\(.*\)$/\1/p' "$user_data" | unquote | head -n 1)
    [ -n "$host" ] && hostname "$host"
    awk '/^ssh_authorized_keys:/ { inside = 1; next }
         inside && /^[ \t]*-/ { sub(/^[ \t]*-[ \t]*/, ""); print; next }
         inside && /^[^ \t#]/ { inside = 0 }' "$user_data" | unquote >> /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
    ;;
esac
"""

POWER_BUTTON = """#!/bin/sh
# The ACPI power button (busybox acpid runs this): a clean shutdown through init.
echo "kvtui demo guest: power button pressed" > /dev/console
poweroff
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc calls this with the lease in the environment.
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for gw in $router; do ip route add default via "$gw" dev "$interface" 2>/dev/null; break; done
    : > /etc/resolv.conf
    for ns in $dns; do echo "nameserver $ns" >> /etc/resolv.conf; done
    ;;
esac
exit 0
"""

PROFILE = r"""export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
cd "$HOME"
PS1='\w # '
cat /etc/motd
"""

MOTD = """kvtui demo guest: busybox shell on ttyS0; SSH on port 22 (keys from cloud-init).
"""


def main(argv: list[str] | None = None) -> int:
    """`python -m launcher.images.demo [--force]`, for debugging without the kvtui CLI."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m launcher.images.demo", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--authorized-keys", type=Path, help="an authorized_keys file to bake in for root")
    args = parser.parse_args(argv)
    keys = args.authorized_keys.read_text() if args.authorized_keys else ""
    try:
        build_demo_image(authorized_keys=keys, force=args.force)
    except DemoBuildError as exc:
        print(f"demo image: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
