"""One VMI's life in the launcher: prepare (acceleration, libvirt, volumes, domain XML), start the
domain, serve the console and control endpoint, follow libvirt's lifecycle events into the VMI's
status, and shut down gracefully on SIGTERM, VMI deletion or request.

Graceful shutdown is KubeVirt's: an ACPI power-button press, repeated every 5 s because a booting
guest may miss it, until `terminationGracePeriodSeconds` (default 30) runs out; then the domain
is destroyed. Grace 0 destroys at once. The launcher exits when the domain has stopped: 0 when
the VMI Succeeded, 1 when it Failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ctypes
import dataclasses
import gc
import hashlib
import os
import signal
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import libvirt

from launcher import events, hypervisor, status
from launcher.acceleration import Acceleration, choose_acceleration
from launcher.console import SerialConsole
from launcher.control import ActionRefused, control_server, health_server
from launcher.domain import DomainContext, SpecError, domain_xml
from launcher.domain.context import canonical_uuid, random_uuid
from launcher.domain.errors import as_int, as_mapping, vmi_spec
from launcher.domain.network import interfaces_and_networks
from launcher.events import Event
from launcher.httpserver import HttpServer
from launcher.reporting import Reporter
from launcher.settings import LauncherSettings
from launcher.status import Interface, Observation
from launcher.volumes import PreparedVolumes, VolumeSources, prepare_volumes

DEFAULT_GRACE_SECONDS = 30
# TCG's translated-code cache, resident in full once the guest has booted. For the demo guest 12 MiB
# keeps 14 MiB less resident than 24 MiB; QEMU flushes and refills the cache during the boot, which
# costs some 4 % more QEMU CPU time and no measurable boot time; 8 MiB doubles the boot time.
TCG_TRANSLATION_CACHE_MIB = 12
# After the start, once the guest runs: time to give the memory the start took back.
RELEASE_MEMORY_AFTER_SECONDS = 1.0
# Unix socket paths are limited to 108 bytes, and libvirt puts QEMU's monitor socket some 45
# bytes deep in its root: longer state directories get a short root elsewhere.
MAX_ROOT_LENGTH = 56
SHORT_ROOTS = Path("/run/kvtui/launcher")

_SHUTOFF_STATES = {
    libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN: status.SHUT_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED: status.DESTROYED,
    libvirt.VIR_DOMAIN_SHUTOFF_CRASHED: status.CRASHED,
    libvirt.VIR_DOMAIN_SHUTOFF_FAILED: status.CRASHED,
}
_FINAL_STATES = (status.SHUT_DOWN, status.DESTROYED, status.CRASHED, status.INVALID)


class Launcher:
    def __init__(self, settings: LauncherSettings, reporter: Reporter) -> None:
        self.settings = settings
        self.reporter = reporter
        self.obs = Observation(node_name=settings.node_name)
        self.vmi: dict[str, Any] = {}
        self.root = _libvirt_root(settings.state_dir)
        self.console = SerialConsole(self.root / "serial0", settings.console_log, self._guest_reported)
        self.control_port: int | None = None
        self._conn: libvirt.virConnect | None = None
        self._domain: libvirt.virDomain | None = None
        self._stopped = asyncio.Event()
        self._started = asyncio.Event()   # the domain runs (or waits paused) and the VMI says so
        self._stop_requested = asyncio.Event()
        self._status_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the whole life ------------------------------------------------------------------------------

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self.request_stop, f"received {signal.Signals(sig).name}")
        control = await self._serve_control()
        health = await self._serve_health()
        try:
            self.vmi = await asyncio.to_thread(self.reporter.read_vmi)
            if await self._start():
                self.reporter.watch_deletion(lambda: self._from_thread(self.request_stop, "the VMI was deleted"))
                await self._supervise()
            return 0 if status.phase(self.obs) == "Succeeded" else 1
        finally:
            await self._clean_up()
            await control.close()
            if health is not None:
                await health.close(timeout=0.5)

    async def _start(self) -> bool:
        """Prepare and start the domain; False (with the VMI failed) when the spec cannot run."""
        try:
            acceleration = await asyncio.to_thread(
                choose_acceleration, self.settings.node_dir, use_emulation=self.settings.use_emulation)
            self.obs = self.obs.but(emulation_reason=acceleration.reason if acceleration.emulated else "",
                                    emulation_message=acceleration.message if acceleration.emulated else "")
            self._conn = await asyncio.to_thread(
                hypervisor.open_embedded, self.root, self.settings.node_dir,
                short_cpu_readback=acceleration.emulated and not _names_cpu_features(self.vmi))
            capabilities = await asyncio.to_thread(hypervisor.host_capabilities, self._conn, self.root,
                                                   self.settings.node_dir)
            volumes = await asyncio.to_thread(prepare_volumes, self.vmi, self._volume_sources())
            xml, port_forwards = self._domain_definition(acceleration, capabilities, volumes)
        except SpecError as error:
            await self._fail_invalid(error)
            return False
        except hypervisor.HypervisorError as error:
            await self._fail_invalid(SpecError("spec", str(error)))
            return False
        try:
            self._domain = await asyncio.to_thread(self._define, xml)
            self._record(events.DEFINED)
            if acceleration.emulated:
                _without_huge_pages()
            await asyncio.to_thread(self._domain.createWithFlags, libvirt.VIR_DOMAIN_START_PAUSED)
        except libvirt.libvirtError as error:
            await self._fail_invalid(SpecError("spec.domain", f"libvirt could not start the domain: "
                                                              f"{error.get_error_message()}"))
            return False
        await asyncio.to_thread(_yield_to_launcher, self.root, self._domain.name())
        # libvirt probes QEMU anew when the node's capability cache no longer fits it (a QEMU or libvirt
        # upgrade): the next launchers need not.
        await asyncio.to_thread(hypervisor.publish_cache, self.root, self.settings.node_dir)
        # Paused until the console is attached, so not a byte of boot output is missed.
        await self.console.connect()
        await asyncio.to_thread(self._forward_ports, port_forwards)
        self.obs = self.obs.but(interfaces=self._interfaces())
        if vmi_spec(self.vmi).get("startStrategy") == "Paused":
            self.obs = self.obs.but(state=status.PAUSED, paused_reason="PausedByUser")
        else:
            await asyncio.to_thread(self._domain.resume)
            self.obs = self.obs.but(state=status.RUNNING)
        self._record(events.STARTED)
        await self._write_status()
        self._started.set()
        self._loop.call_later(RELEASE_MEMORY_AFTER_SECONDS, release_startup_memory)
        return True

    async def _supervise(self) -> None:
        stop_requested = asyncio.create_task(self._stop_requested.wait())
        stopped = asyncio.create_task(self._stopped.wait())
        await asyncio.wait({stop_requested, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not self._stopped.is_set():
            await self._shut_down_gracefully()
        await self._stopped.wait()
        stop_requested.cancel()
        await self._finish()

    async def _finish(self) -> None:
        if self.obs.state == status.CRASHED:
            await self._event(events.crashed(self.obs.detail))
        else:
            await self._event(events.STOPPED)
        await self._write_status()

    # -- preparing -----------------------------------------------------------------------------------

    def _volume_sources(self) -> VolumeSources:
        return VolumeSources(
            state_dir=self.settings.state_dir,
            image_store=self.settings.image_store,
            claims_dir=self.settings.claims_dir,
            feature_gates=self.settings.feature_gates,
            read_secret=self.reporter.read_secret,
            read_config_map=self.reporter.read_config_map,
        )

    def _domain_definition(self, acceleration: Acceleration, capabilities: hypervisor.HostCapabilities,
                           volumes: PreparedVolumes) -> tuple[str, list[tuple[str, str, int]]]:
        """The domain XML, and the port forwards the launcher must add itself (slirp only)."""
        ctx = DomainContext(
            uuid=_domain_uuid(self.vmi),
            serial_socket=str(self.console.socket_path),
            console_log=str(self.settings.console_log),
            accelerator=acceleration.accelerator,
            machine_types=capabilities.machine_types,
            cpu_models=capabilities.cpu_models,
            disk_paths=volumes.disks,
            kernel_boot=volumes.kernel_boot,
            user_network_backend="passt",
        )
        # Built with passt first either way: that validates the ports and lists them.
        xml = domain_xml(self.vmi, ctx)
        forwards: list[tuple[str, str, int]] = []
        if not capabilities.passt:
            forwards = _port_forwards(xml)
            xml = domain_xml(_without_ports(self.vmi), dataclasses.replace(ctx, user_network_backend="slirp"))
        if acceleration.emulated:
            xml = _with_translation_cache(xml, TCG_TRANSLATION_CACHE_MIB)
        return xml, forwards

    def _define(self, xml: str) -> libvirt.virDomain:
        assert self._conn is not None
        name = ET.fromstring(xml).findtext("name") or ""
        with contextlib.suppress(libvirt.libvirtError):
            stale = self._conn.lookupByName(name)
            if stale.isActive():
                stale.destroy()
            stale.undefine()
        domain = self._conn.defineXML(xml)
        self._conn.domainEventRegisterAny(domain, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None)
        return domain

    def _forward_ports(self, forwards: list[tuple[str, str, int]]) -> None:
        """slirp has no port forwarding in libvirt's XML; QEMU's monitor adds it (`hostfwd_add`)."""
        import libvirt_qemu

        for alias, proto, port in forwards:
            command = f"hostfwd_add host{alias} {proto}::{port}-:{port}"
            reply = libvirt_qemu.qemuMonitorCommand(self._domain, command,
                                                    libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
            if reply.strip():
                print(f"launcher: forwarding {proto} port {port} failed: {reply.strip()}", file=sys.stderr)

    def _interfaces(self) -> tuple[Interface, ...]:
        assert self._domain is not None
        interfaces_spec, _ = interfaces_and_networks(self.vmi)
        names = [as_mapping(i, "interface").get("name") for i in interfaces_spec]
        described = ET.fromstring(self._domain.XMLDesc(0))
        result = []
        for element in described.iterfind("./devices/interface"):
            alias = (element.find("alias").get("name", "") if element.find("alias") is not None else "")
            name = alias.removeprefix("ua-")
            if name not in names:
                continue
            mac = element.find("mac")
            # Masquerade NATs the guest behind the pod: its address, as KubeVirt reports it, is the pod IP.
            ip = self.settings.pod_ip if element.get("type") == "user" else None
            result.append(Interface(name=name, mac=mac.get("address") if mac is not None else None, ip=ip))
        return tuple(result)

    # -- what libvirt says ---------------------------------------------------------------------------

    def _on_lifecycle(self, conn: Any, domain: Any, event: int, detail: int, opaque: Any) -> None:
        """libvirt's event thread: hand over to the asyncio loop."""
        self._from_thread(self._domain_changed, event, detail)

    def _from_thread(self, callback: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _domain_changed(self, event: int, detail: int) -> None:
        if self._domain is None or self.obs.state in _FINAL_STATES:
            return
        try:
            state, state_reason = self._domain.state()
        except libvirt.libvirtError:
            return
        observed = _observed_state(state, state_reason)
        if observed is None:
            return
        new_state, paused_reason = observed
        if new_state == status.PAUSED and self.obs.state == status.PREPARING:
            return  # our own start-paused
        if new_state == self.obs.state and paused_reason == self.obs.paused_reason:
            return
        detail_text = self._why_stopped(new_state, state_reason)
        self.obs = self.obs.but(state=new_state, paused_reason=paused_reason, detail=detail_text)
        if new_state in _FINAL_STATES:
            self._stopped.set()  # _supervise writes the final status and event
        else:
            self._spawn(self._write_status())

    def _why_stopped(self, new_state: str, state_reason: int) -> str:
        if new_state == status.CRASHED:
            # libvirt says CRASHED both for a dead QEMU and for a guest panic it was told to stop on.
            return ("QEMU exited unexpectedly (killed or crashed)" if state_reason in (
                libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, libvirt.VIR_DOMAIN_SHUTOFF_FAILED) else "the guest crashed")
        if new_state == status.SHUT_DOWN:
            return "the guest powered off"
        if new_state == status.DESTROYED:
            return ("the domain was destroyed when the grace period expired" if self.obs.acpi_requested
                    else "the domain was destroyed")
        return ""

    # -- stopping ------------------------------------------------------------------------------------

    def request_stop(self, cause: str) -> None:
        if not self._stop_requested.is_set():
            print(f"launcher: stopping: {cause}", file=sys.stderr)
            self._stop_requested.set()
            if self._domain is None and not self._stopped.is_set():
                self._stopped.set()

    def grace_seconds(self) -> int:
        value = vmi_spec(self.vmi).get("terminationGracePeriodSeconds")
        if value is None:
            return DEFAULT_GRACE_SECONDS
        return as_int(value, "spec.terminationGracePeriodSeconds", minimum=0)

    async def _shut_down_gracefully(self) -> None:
        assert self._domain is not None and self._loop is not None
        grace = self.grace_seconds()
        deadline = self._loop.time() + grace
        first = True
        while grace > 0 and not self._stopped.is_set() and self._loop.time() < deadline:
            with contextlib.suppress(libvirt.libvirtError):
                await asyncio.to_thread(self._domain.shutdownFlags, libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
            if first:
                self.obs = self.obs.but(acpi_requested=True)
                self._record(events.SHUTTING_DOWN)
                first = False
            wait = min(self.settings.shutdown_retry_seconds, deadline - self._loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=max(wait, 0))
        if not self._stopped.is_set():
            await self._event(events.KILLING)
            with contextlib.suppress(libvirt.libvirtError):
                await asyncio.to_thread(self._domain.destroy)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=10)
            if not self._stopped.is_set():  # no event came: say what we know
                self.obs = self.obs.but(state=status.DESTROYED)
                self._stopped.set()

    async def _fail_invalid(self, error: SpecError) -> None:
        print(f"launcher: cannot run the VMI: {error}", file=sys.stderr)
        self.obs = self.obs.but(state=status.INVALID, failed_field=error.field, failure_message=str(error))
        await self._event(events.sync_failed(str(error)))
        await self._write_status()

    async def _clean_up(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        await self.console.close()
        if self._domain is not None:
            with contextlib.suppress(libvirt.libvirtError):
                if self._domain.isActive():
                    self._domain.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                self._domain.undefine()
        if self._conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
        if self.root.parent == SHORT_ROOTS:
            import shutil  # at the end only: the running launcher does without it

            shutil.rmtree(self.root, ignore_errors=True)
            (self.settings.state_dir / "libvirt").unlink(missing_ok=True)

    # -- the control endpoint ------------------------------------------------------------------------

    async def _serve_health(self) -> HttpServer | None:
        if self.settings.health_port is None:
            return None
        # Imported here, not at the top: a fork server preloads this module for launchers it has yet
        # to start, and `early` binds the health port of the pod that imports it first.
        from launcher.early import take_health_socket

        server = health_server(self._started)
        port = await server.start("0.0.0.0", self.settings.health_port,
                                  sock=take_health_socket(self.settings.health_port))
        print(f"launcher: health endpoint (/readyz) on port {port}", file=sys.stderr)
        return server

    async def _serve_control(self) -> HttpServer:
        server = control_server(self, self.settings.control_token)
        self.control_port = await server.start(self.settings.control_address, self.settings.control_port)
        (self.settings.state_dir / "control.port").write_text(f"{self.control_port}\n")
        print(f"launcher: control endpoint on {self.settings.control_address}:{self.control_port}", file=sys.stderr)
        return server

    def _require(self, *states: str) -> libvirt.virDomain:
        if self._domain is None or self.obs.state not in states:
            raise ActionRefused(f"VirtualMachineInstance is {self._state_words()}")
        if self._stop_requested.is_set():
            raise ActionRefused("VirtualMachineInstance is shutting down")
        return self._domain

    def _state_words(self) -> str:
        return {status.PREPARING: "not running yet", status.RUNNING: "running", status.PAUSED: "paused"}.get(
            self.obs.state, "not running")

    async def pause(self) -> str:
        domain = self._require(status.RUNNING)
        await asyncio.to_thread(domain.suspend)
        self.obs = self.obs.but(state=status.PAUSED, paused_reason="PausedByUser")
        self._record(events.PAUSED)
        await self._write_status()
        return "VirtualMachineInstance paused"

    async def unpause(self) -> str:
        domain = self._require(status.PAUSED)
        await asyncio.to_thread(domain.resume)
        self.obs = self.obs.but(state=status.RUNNING, paused_reason="")
        self._record(events.RESUMED)
        await self._write_status()
        return "VirtualMachineInstance unpaused"

    async def soft_reboot(self) -> str:
        domain = self._require(status.RUNNING)
        await asyncio.to_thread(domain.reboot, libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
        self._record(events.SOFT_REBOOTED)
        return "VirtualMachineInstance soft rebooted (ACPI)"

    async def reset(self) -> str:
        domain = self._require(status.RUNNING, status.PAUSED)
        await asyncio.to_thread(domain.reset, 0)
        self._record(events.RESET)
        return "VirtualMachineInstance reset"

    async def shutdown(self) -> str:
        self._require(status.RUNNING, status.PAUSED)
        self.request_stop("shutdown requested through the control endpoint")
        return (f"VirtualMachineInstance is shutting down (ACPI power button); it is stopped after "
                f"terminationGracePeriodSeconds={self.grace_seconds()} if the guest does not power off")

    def guest_info(self) -> dict[str, Any] | None:
        if not self.obs.guest_os_info:
            return None
        return {"guestAgentVersion": "", "hostname": self.obs.guest_os_info.get("hostname", ""),
                "os": {k: v for k, v in self.obs.guest_os_info.items() if k != "hostname"}}

    def health(self) -> dict[str, Any]:
        return {"phase": status.phase(self.obs) or "Scheduled", "state": self.obs.state,
                "consoleClients": self.console.clients}

    def _guest_reported(self, info: dict[str, str]) -> None:
        known = ("name", "prettyName", "version", "versionId", "id", "kernelRelease", "kernelVersion", "machine")
        self.obs = self.obs.but(guest_os_info={k: info[k] for k in known if k in info})
        self._spawn(self._write_status())

    # -- plumbing ------------------------------------------------------------------------------------

    async def _write_status(self) -> None:
        async with self._status_lock:
            try:
                await asyncio.to_thread(self.reporter.write_status, self.obs)
            except Exception as exc:  # noqa: BLE001 - a failed write is retried by the next change
                print(f"launcher: could not write the VMI status: {exc}", file=sys.stderr)

    async def _event(self, event: Event) -> None:
        try:
            await asyncio.to_thread(self.reporter.record_event, event)
        except Exception as exc:  # noqa: BLE001
            print(f"launcher: could not record event {event.reason}: {exc}", file=sys.stderr)

    def _record(self, event: Event) -> None:
        self._spawn(self._event(event))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _observed_state(state: int, reason: int) -> tuple[str, str] | None:
    if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PMSUSPENDED):
        return status.RUNNING, ""
    if state == libvirt.VIR_DOMAIN_PAUSED:
        if reason == libvirt.VIR_DOMAIN_PAUSED_IOERROR:
            return status.PAUSED, "PausedIOError"
        if reason in (libvirt.VIR_DOMAIN_PAUSED_STARTING_UP, libvirt.VIR_DOMAIN_PAUSED_USER):
            return status.PAUSED, "PausedByUser"
        return None  # migration, snapshots, shutdown in progress: transient
    if state == libvirt.VIR_DOMAIN_CRASHED:
        return status.CRASHED, ""
    if state == libvirt.VIR_DOMAIN_SHUTOFF:
        return _SHUTOFF_STATES.get(reason, status.SHUT_DOWN), ""
    return None


def _domain_uuid(vmi: Mapping[str, Any]) -> str:
    uid = as_mapping(vmi.get("metadata"), "metadata").get("uid")
    return canonical_uuid(uid) or random_uuid()


def _port_forwards(xml: str) -> list[tuple[str, str, int]]:
    """(interface alias, protocol, port) for every `<portForward>` range in the domain."""
    forwards = []
    for interface in ET.fromstring(xml).iterfind("./devices/interface"):
        alias = interface.find("alias")
        for forward in interface.iterfind("portForward"):
            for port_range in forward.iterfind("range"):
                forwards.append((alias.get("name", "") if alias is not None else "", forward.get("proto", "tcp"),
                                 int(port_range.get("start", "0"))))
    return forwards


def _without_ports(vmi: Mapping[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(dict(vmi))
    devices = stripped.get("spec", {}).get("domain", {}).get("devices", {})
    for interface in devices.get("interfaces") or []:
        if isinstance(interface, dict):
            interface.pop("ports", None)
    return stripped


def _with_translation_cache(xml: str, mib: int) -> str:
    """Cap TCG's translated-code cache (QEMU's default is 1 GiB, which fills as the guest runs and
    is most of QEMU's memory beyond guest RAM)."""
    domain = ET.fromstring(xml)
    features = domain.find("features")
    if features is None:
        features = ET.SubElement(domain, "features")
    tcg = features.find("tcg")
    if tcg is None:
        tcg = ET.SubElement(features, "tcg")
    ET.SubElement(tcg, "tb-cache", unit="MiB").text = str(mib)
    return ET.tostring(domain, encoding="unicode")


PR_SET_THP_DISABLE = 41


def _without_huge_pages() -> None:
    """No transparent huge pages for this process and what it forks, QEMU included (libvirt's
    embedded driver forks it from here). QEMU asks for huge pages on guest RAM, and a 2 MiB page is
    resident whole once the guest touches any of it: the demo guest keeps 113 MiB of its 128 MiB
    resident without them, 122 MiB with. Under TCG they buy nothing (the emulated TLB does not use
    them); under KVM they spare the guest TLB misses and stay. Best effort."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def release_startup_memory() -> None:
    """Return the heap that starting took to the system. Preparing and defining the domain leaves
    some 4-5 MiB of freed memory (XML, QEMU's capabilities, compiled code) in the launcher's heap,
    which glibc keeps unless asked: `malloc_trim` gives the free pages back. Best effort."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


GUEST_NICENESS = 19


def _yield_to_launcher(root: Path, domain_name: str) -> None:
    """Lower QEMU's threads to nice 19. Niceness only weighs processes within one cgroup, so this
    changes nothing between pods (their CPU requests do): within the launcher pod the launcher's
    own work (reporting the start, the console, passt's networking) goes before the guest. Without
    it, a guest booting under TCG starves its launcher of the pod's CPU share while that launcher
    still has to report the VMI Running. Best effort: a pod without the right keeps the default."""
    try:
        pid = int((root / "run" / "qemu" / f"{domain_name}.pid").read_text().strip())
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(tid), GUEST_NICENESS)
    except (OSError, ValueError) as exc:
        print(f"launcher: the guest keeps its CPU priority ({exc})", file=sys.stderr)


def _libvirt_root(state_dir: Path) -> Path:
    root = state_dir / "libvirt"
    if len(str(root)) <= MAX_ROOT_LENGTH and not root.is_symlink():
        return root
    short = SHORT_ROOTS / hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    short.mkdir(parents=True, exist_ok=True)
    if not root.is_symlink():
        with contextlib.suppress(OSError):
            os.symlink(short, root)  # so the VM's libvirt files are found from the state dir
    return short


def _names_cpu_features(vmi: Mapping[str, Any]) -> bool:
    domain = vmi_spec(vmi).get("domain")
    cpu = domain.get("cpu") if isinstance(domain, Mapping) else None
    return bool(cpu.get("features")) if isinstance(cpu, Mapping) else False
