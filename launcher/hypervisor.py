"""libvirt for one launcher: the embedded QEMU driver (`qemu:///embed?root=DIR`) in this process,
no daemon, with one root directory per launcher and one QEMU capability cache per node.

Why embedded, one root per launcher: each launcher pod owns exactly one domain, as virt-launcher
does with its in-pod virtqemud; an embed root can only be open in one process at a time, and a
per-pod root keeps every file of a VM (domain status XML, QEMU log, monitor socket) inside the
pod's state directory, so deleting the pod deletes the VM's state. libvirt's first capability
probe of QEMU is slow (seconds to tens of seconds under TCG), so the node keeps a copy of the
capability cache (`<node dir>/libvirt-cache/qemu`), seeds each new root from it, and refreshes it
when a launcher had to probe. libvirt validates the cached entries itself (QEMU binary ctime,
libvirt version, host kernel and microcode), so a stale copy costs one new probe, never a wrong
answer.

What live migration will need (not built yet): libvirt migrates QEMU domains between two libvirt
instances that talk libvirt RPC to each other (peer-to-peer), and an embedded driver has no RPC
endpoint. So the launcher will run `virtqemud` inside its pod over the same root (same qemu.conf,
socket in the pod's state dir) and connect to it instead of embedding; that is a change of the
connection URI in `open_embedded`, not of the rest of the launcher. Then, as KubeVirt does: a
proxy in each launcher carrying libvirt RPC and QEMU's migration stream between the two pods (a
port on the pod IP, or `pods/portforward`), coordinated through a
VirtualMachineInstanceMigration; the target domain defined from the same VMI with the same name
and UUID and the canonical machine type pinned (`pc-q35-X.Y`: both nodes' QEMU must offer it);
disks on storage both nodes see (hostDisk `shared: true`, RWX claims) or copied with
VIR_MIGRATE_NON_SHARED_DISK; the containerDisk overlay re-created on the target from the same
base image; and the console broker re-attached to the target's serial socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import libvirt

EMULATOR = "/usr/bin/qemu-system-x86_64"
ARCH = "x86_64"
# root/group root: the launcher pod is the VM's sandbox; libvirt's own DAC relabelling would chown
# user-supplied files (hostDisk, image store) to root, so it is off. "file": QEMU writes its
# stdout/stderr and the serial log itself (no virtlogd in an embedded driver). No cgroup
# controllers: QEMU stays in the launcher container's cgroups, so whatever ends the container
# (the node agent, the kubelet) ends QEMU with it instead of leaving it running in libvirt's own.
QEMU_CONF = """\
# Written by the kvtui launcher.
user = "root"
group = "root"
stdio_handler = "file"
cgroup_controllers = [ ]
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
"""
_CACHE = Path("cache") / "qemu"
# Before resuming a new guest, libvirt reads its CPU back from QEMU. With QEMU's
# `unavailable-features` CPU property (the cached capability below) it does so with one qom-get per
# CPU property: about 400 monitor round trips, which under TCG cost ~0.3 s of CPU and more wall time
# than the rest of the start. Without the capability libvirt takes its x86 path, two qom-gets
# (feature-words, filtered-features), which differ only in MSR-based features (vmx-*): TCG offers
# none. So an emulated launcher's own copy of the cache leaves the capability out. libvirt then
# also refuses MSR-based features named in the domain, hence only for a VMI that names no CPU
# features; the node's copy is never changed.
_PER_PROPERTY_CPU_READBACK = "<flag name='cpu-unavailable-features'/>"

_event_loop_lock = threading.Lock()
_event_loop_started = False


class HypervisorError(Exception):
    """libvirt or QEMU are missing or refuse to start; the message says what to install or check."""


@dataclass(frozen=True)
class HostCapabilities:
    """What this node's QEMU offers, as libvirt reports it."""

    machine_types: frozenset[str]
    cpu_models: frozenset[str]
    passt: bool


def start_event_loop() -> None:
    """libvirt's default event loop in a daemon thread, once per process. The embedded driver needs
    it (it runs QEMU monitor I/O on it), and domain lifecycle callbacks are delivered from it."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()
        # Errors arrive as exceptions; the binding's default handler would also print each one.
        libvirt.registerErrorHandler(lambda _ctx, _error: None, None)

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _event_loop_started = True


def node_cache_dir(node_dir: Path) -> Path:
    return node_dir / "libvirt-cache" / "qemu"


def prepare_root(root: Path, node_dir: Path, *, short_cpu_readback: bool = False) -> None:
    """Create the embed root with its qemu.conf, seeded with the node's capability cache (without
    the per-property CPU readback when `short_cpu_readback`: see _PER_PROPERTY_CPU_READBACK)."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "qemu.conf").write_text(QEMU_CONF)
    shared = node_cache_dir(node_dir)
    target = root / _CACHE
    if shared.is_dir() and not target.exists():
        _copy_tree(shared, target)
        if short_cpu_readback:
            _drop_per_property_readback(target / "capabilities")


def _copy_tree(source: Path, target: Path) -> None:
    """A copy of `source` (a few small XML files, in a directory or two) at `target`, with their
    modes and modification times: what shutil.copytree does here, without the compression modules
    that importing shutil loads into every launcher."""
    target.mkdir(parents=True)
    for entry in os.scandir(source):
        copy = target / entry.name
        if entry.is_dir(follow_symlinks=False):
            _copy_tree(Path(entry.path), copy)
        elif entry.is_file(follow_symlinks=False):
            copy.write_bytes(Path(entry.path).read_bytes())
            stat = entry.stat()
            os.chmod(copy, stat.st_mode & 0o7777)
            os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _on_path(program: str) -> str | None:
    """Where `program` is on $PATH (shutil.which, without shutil)."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _drop_per_property_readback(capabilities: Path) -> None:
    for entry in capabilities.glob("*.xml"):
        text = entry.read_text()
        if _PER_PROPERTY_CPU_READBACK not in text:
            continue
        stat = entry.stat()
        entry.write_text("".join(line for line in text.splitlines(keepends=True)
                                 if line.strip() != _PER_PROPERTY_CPU_READBACK))
        # The same age as the node's copy: publish_cache must not take this edited copy for a newer probe.
        os.utime(entry, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def publish_cache(root: Path, node_dir: Path) -> None:
    """Make this root's capability cache the node's, when the node has none or an older one."""
    source = root / _CACHE / "capabilities"
    if not source.is_dir():
        return
    shared = node_cache_dir(node_dir)
    newest = max((p.stat().st_mtime for p in source.iterdir()), default=0)
    current = shared / "capabilities"
    if current.is_dir() and max((p.stat().st_mtime for p in current.iterdir()), default=0) >= newest:
        return
    import shutil  # only a launcher that probed QEMU publishes

    staging = shared.with_name(f".qemu-{os.urandom(16).hex()}")
    shutil.copytree(root / _CACHE, staging)
    old = shared.with_name(f".old-{os.urandom(16).hex()}")
    # Two renames keep the node cache whole at every moment for launchers copying it concurrently.
    if shared.exists():
        shared.rename(old)
    staging.rename(shared)
    shutil.rmtree(old, ignore_errors=True)


def open_embedded(root: Path, node_dir: Path, *, short_cpu_readback: bool = False) -> libvirt.virConnect:
    if not Path(EMULATOR).exists():
        raise HypervisorError(f"{EMULATOR} is missing: install the Debian package qemu-system-x86 "
                              "(scripts/setup.sh does)")
    prepare_root(root, node_dir, short_cpu_readback=short_cpu_readback)
    start_event_loop()
    try:
        conn = _open_on_first_cpu(f"qemu:///embed?root={root}")
    except libvirt.libvirtError as exc:
        raise HypervisorError(f"cannot open libvirt's embedded QEMU driver in {root}: {exc} (needs the Debian "
                              "package libvirt-daemon-driver-qemu and the libvirt-qemu user; run scripts/setup.sh)"
                              ) from exc
    return conn


def _open_on_first_cpu(uri: str) -> libvirt.virConnect:
    """libvirt.open(uri) with this thread on the lowest-numbered CPU it may use, then as before.

    The driver reads the host's CPUID when it opens and re-probes QEMU (seconds of CPU under TCG)
    when that differs from what the capability cache was probed with. CPUID carries the APIC ID of
    the CPU the instruction ran on, so a launcher opening on another CPU than the one that probed
    would find the node's cache outdated: on a 2-CPU node about every second launcher did. Threads
    libvirt starts meanwhile get the whole set back, and QEMU is started later from an unpinned
    thread."""
    before = set(os.listdir("/proc/self/task"))
    try:
        allowed = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(allowed)})
    except OSError:
        return libvirt.open(uri)
    try:
        return libvirt.open(uri)
    finally:
        for tid in set(os.listdir("/proc/self/task")) - before:
            with contextlib.suppress(OSError, ValueError):
                os.sched_setaffinity(int(tid), allowed)
        os.sched_setaffinity(0, allowed)


def host_capabilities(conn: libvirt.virConnect, root: Path, node_dir: Path) -> HostCapabilities:
    """Machine types and CPU models QEMU offers, and whether libvirt can use passt: from the node's
    copy when it was made for the same QEMU, libvirt, kernel and capability cache, else from libvirt
    (and then kept for the node's next launchers).

    Asking libvirt costs each launcher about 60 ms of CPU even with a warm capability cache (it
    loads every installed QEMU's capabilities to describe the host, then formats them as XML),
    a third of what a launcher spends to start its guest."""
    cached = _read_host_capabilities(node_dir)
    if cached is not None:
        return cached
    found = _ask_host_capabilities(conn, root, node_dir)
    _write_host_capabilities(node_dir, found)
    return found


def _host_capabilities_file(node_dir: Path) -> Path:
    return node_dir / "host-capabilities.json"


def _host_capabilities_key(node_dir: Path) -> dict:
    """What the answer depends on; a different key means ask libvirt again. The node's capability
    cache entries are rewritten whenever libvirt probes QEMU anew (new QEMU, libvirt, kernel)."""
    def stamp(path: Path) -> list[int]:
        st = path.stat()
        return [st.st_ino, st.st_size, st.st_mtime_ns]

    capabilities = node_cache_dir(node_dir) / "capabilities"
    entries = sorted(capabilities.glob("*.xml")) if capabilities.is_dir() else []
    return {"libvirt": libvirt.getVersion(), "kernel": os.uname().release, "emulator": stamp(Path(EMULATOR)),
            "passt": _on_path("passt") or "", "cache": {e.name: stamp(e) for e in entries}}


def _read_host_capabilities(node_dir: Path) -> HostCapabilities | None:
    try:
        saved = json.loads(_host_capabilities_file(node_dir).read_text())
        if not saved["key"]["cache"] or saved["key"] != json.loads(json.dumps(_host_capabilities_key(node_dir))):
            return None
        return HostCapabilities(frozenset(saved["machine_types"]), frozenset(saved["cpu_models"]),
                                bool(saved["passt"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_host_capabilities(node_dir: Path, found: HostCapabilities) -> None:
    target = _host_capabilities_file(node_dir)
    try:
        temporary = target.with_name(f".{target.name}.{os.urandom(16).hex()}")
        temporary.write_text(json.dumps({"key": _host_capabilities_key(node_dir),
                                         "machine_types": sorted(found.machine_types),
                                         "cpu_models": sorted(found.cpu_models), "passt": found.passt}))
        os.replace(temporary, target)
    except OSError:
        pass  # a read-only node directory: every launcher asks libvirt


def _ask_host_capabilities(conn: libvirt.virConnect, root: Path, node_dir: Path) -> HostCapabilities:
    capabilities = ET.fromstring(conn.getCapabilities())  # the slow call on a cold cache
    publish_cache(root, node_dir)
    machines: set[str] = set()
    for guest in capabilities.iter("guest"):
        arch = guest.find("arch")
        if arch is None or arch.get("name") != ARCH or guest.findtext("os_type") != "hvm":
            continue
        for machine in arch.iter("machine"):
            if machine.text:
                machines.add(machine.text)
            if machine.get("canonical"):
                machines.add(machine.get("canonical", ""))
    domain_caps = ET.fromstring(conn.getDomainCapabilities(EMULATOR, ARCH, None, "qemu"))
    models = {m.text for m in domain_caps.iterfind("./cpu/mode[@name='custom']/model") if m.text}
    return HostCapabilities(frozenset(machines), frozenset(models), _passt_usable(conn))


def _passt_usable(conn: libvirt.virConnect) -> bool:
    """passt needs both the binary and a libvirt built with it (Debian 12's libvirt 9.0 parses
    `<backend type='passt'/>` as an error): try defining a throwaway domain that uses it."""
    if _on_path("passt") is None:
        return False
    name = f"kvtui-passt-probe-{os.getpid()}"
    probe = (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>16</memory><os><type arch='{ARCH}'>"
             f"hvm</type></os><devices><emulator>{EMULATOR}</emulator><interface type='user'>"
             "<backend type='passt'/></interface></devices></domain>")
    try:
        conn.defineXML(probe).undefine()
    except libvirt.libvirtError:
        return False
    return True
