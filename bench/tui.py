"""The terminal app's benchmarks: start to first full list (real embedded cluster), 1,000 VMs with 10
status changes per second (model fed synthetically: no watch traffic, only the UI's cost), and serial
console rendering throughput, each with the event loop's lag as the responsiveness measure."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cluster.embedded import REPO_ROOT


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20)[18]


class LoopLag:
    """A 20 ms timer on the app's loop; how late it fires is what a keypress would wait."""

    def __init__(self, app, interval: float = 0.02) -> None:
        self.app, self.interval, self.samples = app, interval, []
        self._expected = 0.0

    def start(self) -> None:
        self._expected = time.perf_counter() + self.interval
        self.app.set_timer(self.interval, self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.samples.append(max(now - self._expected, 0.0) * 1000)
        self._expected = now + self.interval
        self.app.set_timer(self.interval, self._tick)


def _cold_import_seconds() -> float:
    code = ("import time; t = time.perf_counter(); import kvtui.cli, kvtui.app.main; "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    return float(out.stdout.strip())


async def start_to_first_list(count: int) -> list[str]:
    from kvtui.app.main import Connection, KvtuiApp
    from kvtui.core.cluster_info import read_info
    from kvtui.core.connection import connect
    from kvtui.core.vm_templates import VMOptions, vm_manifest
    from tests.api.conftest import start_cluster

    cluster = start_cluster(Path(tempfile.mkdtemp(prefix="kvtui-bench-tui-")))
    try:
        client = connect(str(cluster.kubeconfig))
        for i in range(count):
            client.create("/apis/kubevirt.io/v1/namespaces/default/virtualmachines",
                          vm_manifest(VMOptions(name=f"vm-{i:04d}", run_strategy="Halted")))
        started = time.perf_counter()
        app = KvtuiApp(Connection(client, read_info(str(cluster.kubeconfig))))
        async with app.run_test(size=(160, 48)) as pilot:
            while len(app._shown) < count:
                await pilot.pause(0.005)
            first_list = time.perf_counter() - started
    finally:
        cluster.handle.stop()
    return [f"cold import of the app: {_cold_import_seconds() * 1000:.0f} ms",
            f"start to first full list ({count} VMs, headless): {first_list * 1000:.0f} ms"]


async def status_churn(count: int, seconds: float, rate: float = 10.0) -> list[str]:
    from kvtui.app.main import Connection, KvtuiApp
    from kvtui.core.model import ClusterModel
    from tests.tui.snapshot_data import INFO, StillClient, _vm

    model = ClusterModel(client=None)
    vms = [_vm(f"vm-{i:04d}", "Stopped", "Halted", 1, "128Mi") for i in range(count)]
    for vm in vms:
        model.apply("vm", "ADDED", vm)
    model.synced.update({"vm", "vmi", "pod", "node"})
    app = KvtuiApp(Connection(StillClient(), INFO), watch=False, model=model)
    flushes: list[float] = []
    original = app.refresh_table

    def timed_refresh() -> None:
        t = time.perf_counter()
        original()
        flushes.append((time.perf_counter() - t) * 1000)

    app.refresh_table = timed_refresh
    stop = threading.Event()

    def churn() -> None:
        statuses = ("Running", "Stopped", "Starting", "Paused")
        n = 0
        while not stop.wait(1 / rate):
            vm = vms[n * 37 % count]
            vm = {**vm, "status": {**vm["status"], "printableStatus": statuses[n % len(statuses)]}}
            vms[n * 37 % count] = vm
            model.apply("vm", "MODIFIED", vm)
            n += 1

    async with app.run_test(size=(160, 48)) as pilot:
        app._flush()
        await pilot.pause(0.1)
        flushes.clear()
        lag = LoopLag(app)
        lag.start()
        worker = threading.Thread(target=churn, daemon=True)
        worker.start()
        await pilot.pause(seconds)
        stop.set()
        worker.join()
    return [f"{count} VMs, {rate:.0f} status changes/s for {seconds:.0f} s: table update p95 "
            f"{_p95(flushes):.1f} ms (n={len(flushes)}), event-loop lag p95 {_p95(lag.samples):.1f} ms "
            f"(max {max(lag.samples, default=0):.1f} ms)"]


async def console_throughput(megabytes: int) -> list[str]:
    from textual.app import App

    from kvtui.app.widgets.console import SerialConsole

    class Bench(App):
        def compose(self):
            yield SerialConsole("bench", lambda: None, id="c")

        def on_mount(self) -> None:   # no connection: the bytes are posted as the reader thread would
            pass

    line = b"\x1b[32m[    1.234567]\x1b[0m kernel: virtio_net virtio0 eth0: renamed from something longer\r\n"
    chunk = line * (4096 // len(line))
    total = megabytes * 1024 * 1024
    app = Bench()
    async with app.run_test(size=(120, 40)) as pilot:
        console = app.query_one(SerialConsole)
        lag = LoopLag(app)
        lag.start()
        started = time.perf_counter()
        sent = 0

        def reader() -> None:     # as the console's reader thread: one delivery per WebSocket frame
            nonlocal sent
            while sent < total:
                console.deliver(chunk)
                sent += len(chunk)
                time.sleep(0)

        feeder = threading.Thread(target=reader, daemon=True)
        feeder.start()
        while feeder.is_alive():
            await pilot.pause(0.01)
        while console.received < sent:
            await pilot.pause(0.001)
        elapsed = time.perf_counter() - started
    return [f"console rendering: {sent / elapsed / 1e6:.1f} MB/s ({sent / 1e6:.0f} MB through pyte and the "
            f"widget), event-loop lag p95 {_p95(lag.samples):.1f} ms"]


async def run(quick: bool = False) -> list[str]:
    lines = await start_to_first_list(20 if quick else 200)
    lines += await status_churn(1000, 2 if quick else 10)
    lines += await console_throughput(2 if quick else 16)
    return lines
