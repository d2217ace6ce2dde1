"""Launcher benchmarks with the demo guest under real libvirt and QEMU: launcher start → domain
running, boot to the shell prompt, memory beyond guest RAM, console keystroke → echo latency and
console throughput. The guest boots from the demo disk as the demo VM does; memory is measured for
a kernelBoot guest too. Uses the node's real caches (warmed first, not timed)."""

from __future__ import annotations

import copy
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websocket

from launcher.images.demo import DEMO_IMAGE, SHELL_PROMPT, build_demo_image

REPO = Path(__file__).resolve().parent.parent
GUEST_MEMORY_MIB = 128
# As the demo VM: BIOS boot from the demo image's disk.
VMI = {
    "apiVersion": "kubevirt.io/v1",
    "kind": "VirtualMachineInstance",
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {
        "terminationGracePeriodSeconds": 0,
        "domain": {
            "memory": {"guest": f"{GUEST_MEMORY_MIB}Mi"},
            "devices": {"disks": [{"name": "rootdisk", "disk": {"bus": "virtio"}}]},
        },
        "volumes": [{"name": "rootdisk", "containerDisk": {"image": DEMO_IMAGE}}],
    },
}
KERNEL_BOOT_VMI = copy.deepcopy(VMI)
KERNEL_BOOT_VMI["spec"]["domain"]["firmware"] = {"kernelBoot": {
    "kernelArgs": "console=ttyS0 quiet",
    "container": {"image": DEMO_IMAGE, "kernelPath": "/boot/vmlinuz", "initrdPath": "/boot/initrd.img"}}}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class _Launcher:
    def __init__(self, work: Path, vmi: dict = VMI) -> None:
        self.state = work / f"state-{time.monotonic_ns()}"
        self.state.mkdir(parents=True)
        vmi_file = self.state / "vmi.json"  # JSON: a launcher in a pod loads no YAML parser either
        vmi_file.write_text(json.dumps(vmi))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            # -OO: as launcher pods run it (cluster/nodeagent/images.py, images/launcher/Containerfile).
            [sys.executable, "-OO", "-m", "launcher", "--vmi", str(vmi_file), "--state-dir", str(self.state),
             "--control-port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=open(self.state / "err", "w"))

    def wait(self, what: str, check, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return time.perf_counter() - self.started
            if self.process.poll() is not None:
                break
            time.sleep(0.005)
        raise RuntimeError(f"launcher never reached {what}: {(self.state / 'err').read_text()[-2000:]}")

    def running(self) -> bool:
        try:
            return json.loads((self.state / "status.json").read_text()).get("phase") == "Running"
        except (OSError, ValueError):
            return False

    def port(self) -> int:
        port_file = self.state / "control.port"
        self.wait("its control endpoint", lambda: port_file.exists() and port_file.read_text().strip())
        return int(port_file.read_text())

    def pids(self) -> tuple[int, int]:
        pidfile = next((self.state / "libvirt" / "run" / "qemu").glob("*_*.pid"))
        return self.process.pid, int(pidfile.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class _Console:
    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/console", timeout=5)
                break
            except websocket.WebSocketBadStatusException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.output = bytearray()

    def until(self, needle: bytes, start: int = 0, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        # Search only the new bytes (plus an overlap): rescanning megabytes per frame would make
        # the client, not the console, the bottleneck.
        searched = start
        while self.output.find(needle, searched) < 0:
            searched = max(start, len(self.output) - len(needle))
            if time.monotonic() > deadline:
                raise RuntimeError(f"console never showed {needle!r}")
            try:
                opcode, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue  # a quiet stretch (the kernel decompressing): the deadline decides
            if opcode == websocket.ABNF.OPCODE_BINARY:
                self.output += data


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _guest_ram_rss_kib(qemu: int) -> int:
    """Resident size of QEMU's guest-RAM mapping (the anonymous mapping as large as the guest)."""
    size_kib = GUEST_MEMORY_MIB * 1024
    current_size = 0
    for line in Path(f"/proc/{qemu}/smaps").read_text().splitlines():
        if line.startswith("Size:"):
            current_size = int(line.split()[1])
        elif line.startswith("Rss:") and current_size == size_kib:
            return int(line.split()[1])
    return 0


def _warm(work: Path) -> None:
    build_demo_image(progress=lambda line: None)
    subprocess.run([sys.executable, "-m", "launcher", "--warm-node", "--state-dir", str(work / "warm")],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})


async def run(quick: bool = False) -> list[str]:
    starts = 5 if quick else 20
    boots = 3 if quick else 5
    work = Path(tempfile.mkdtemp(prefix="kvtui-bench-launcher-"))
    _warm(work)
    out: list[str] = []

    running_times = []
    for _ in range(starts):
        launcher = _Launcher(work)
        try:
            running_times.append(launcher.wait("phase Running", launcher.running))
        finally:
            launcher.stop()
    out.append(f"launcher start → domain running: p50 {statistics.median(running_times) * 1000:.0f} ms, "
               f"p95 {_pct(running_times, 95) * 1000:.0f} ms ({starts} runs)")

    prompt_times = []
    launcher = None
    for i in range(boots):
        launcher = _Launcher(work)
        console = _Console(launcher.port())
        console.until(SHELL_PROMPT.encode())
        prompt_times.append(time.perf_counter() - launcher.started)
        if i < boots - 1:
            console.ws.close()
            launcher.stop()
    out.append(f"launcher start → shell prompt: p50 {statistics.median(prompt_times):.2f} s ({boots} boots, TCG)")

    assert launcher is not None
    try:
        out.append(_memory_line("disk boot, as the demo VM", launcher))
        out.append(_echo_latency(console, 20 if quick else 100))
        out.append(_throughput(console, 256 * 1024 if quick else 2 * 1024 * 1024))
    finally:
        console.ws.close()
        launcher.stop()
    kernel_boot = _Launcher(work, KERNEL_BOOT_VMI)
    try:
        _Console(kernel_boot.port()).until(SHELL_PROMPT.encode())
        out.append(_memory_line("kernelBoot", kernel_boot))
    finally:
        kernel_boot.stop()
    return out


def _memory_line(what: str, launcher: _Launcher) -> str:
    """RSS of launcher and QEMU beyond the guest RAM QEMU has resident, a second after the prompt."""
    time.sleep(1)
    launcher_pid, qemu_pid = launcher.pids()
    launcher_rss, qemu_rss, guest_rss = _rss_kib(launcher_pid), _rss_kib(qemu_pid), _guest_ram_rss_kib(qemu_pid)
    overhead = launcher_rss + qemu_rss - guest_rss
    return (f"memory beyond guest RAM ({what}): {overhead / 1024:.0f} MiB (launcher {launcher_rss / 1024:.0f} "
            f"MiB + QEMU {qemu_rss / 1024:.0f} MiB − {guest_rss / 1024:.0f} MiB resident guest RAM of "
            f"{GUEST_MEMORY_MIB} MiB); target ≤ 100 MiB")


def _echo_latency(console: _Console, samples: int) -> str:
    latencies = []
    for i in range(samples):
        key = b"abcdefghij"[i % 10 : i % 10 + 1]
        start = len(console.output)
        sent = time.perf_counter()
        console.ws.send_binary(key)
        console.until(key, start)
        latencies.append(time.perf_counter() - sent)
    console.ws.send_binary(b"\x15")  # Ctrl-U: forget the typed line
    return (f"console keystroke → echo: p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {_pct(latencies, 95) * 1000:.1f} ms ({samples} keys); target ≤ 50 ms")


def _throughput(console: _Console, size: int) -> str:
    start = len(console.output)
    console.ws.send_binary(f"head -c {size} /dev/zero | tr '\\0' x; echo; echo end-$((6 * 7))\n".encode())
    console.until(b"xxxx", start)
    began, first = time.perf_counter(), len(console.output)
    console.until(b"end-42", start, timeout=600)
    elapsed = time.perf_counter() - began
    received = len(console.output) - first
    return f"console throughput: {received / elapsed / 1024:.0f} KiB/s ({received / 1024:.0f} KiB guest → client)"
