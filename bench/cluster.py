"""Whole-cluster benchmarks on the embedded cluster: pods through the node agent (issue 3) and VMIs
through reconciler + launcher + QEMU (issue 5), both created 100 ms apart as KubeVirt's density CI."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from cluster.client import Client, load_api_client, resource_path
from cluster.embedded import EmbeddedCluster


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _proc_stat(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of a process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


class PhaseWatch:
    """Records when each object first reaches a phase, from a watch (no polling)."""

    def __init__(self, client: Client, path: str, phase: str):
        self.client, self.path, self.phase = client, path, phase
        self.reached: dict[str, float] = {}
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        rv = self.client.get(self.path).get("metadata", {}).get("resourceVersion", "")
        while not self._stop.is_set():
            for event in self.client.watch(self.path, {"resourceVersion": rv}, 60):
                obj = event.get("object") or {}
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                name = obj.get("metadata", {}).get("name")
                if name and (obj.get("status") or {}).get("phase") == self.phase and name not in self.reached:
                    self.reached[name] = time.monotonic()
                if self._stop.is_set():
                    return

    def stop(self) -> None:
        self._stop.set()


def _start(tmp: Path, audit: bool = False) -> tuple[EmbeddedCluster, Client]:
    cluster = EmbeddedCluster(tmp / "data")
    extra = ["--audit-log", str(tmp / "audit.log")] if audit else None
    status = cluster.start(port=0, nodes=1, reconciler=True, extra_args=extra)
    return cluster, Client(load_api_client(str(status.kubeconfig)))


async def pods(quick: bool = False) -> list[str]:
    n = 30 if quick else 100
    tmp = Path(tempfile.mkdtemp(prefix="kvtui-bench-pods-"))
    cluster, client = _start(tmp)
    out: list[str] = []
    try:
        watch = PhaseWatch(client, resource_path("", "v1", "pods", "default"), "Running")
        sent: dict[str, float] = {}
        for i in range(n):
            name = f"p{i}"
            sent[name] = time.monotonic()
            client.create(resource_path("", "v1", "pods", "default"), {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "local/host", "command": ["sleep", "3600"]}]}})
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 300
        while len(watch.reached) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        lat = [watch.reached[k] - sent[k] for k in sent if k in watch.reached]
        out.append(f"pod creation -> Running, {n} pods 100 ms apart: p50 {_pct(lat, 50):.2f} s, "
                   f"p95 {_pct(lat, 95):.2f} s ({len(lat)}/{n} Running)")
        agent = cluster.status().nodes[0].pid
        assert agent
        rss0, cpu0 = _proc_stat(agent)
        await asyncio.sleep(30)
        rss1, cpu1 = _proc_stat(agent)
        out.append(f"node agent with {n} running pods: RSS {rss1:.0f} MiB, CPU {100 * (cpu1 - cpu0) / 30:.1f} % "
                   "of one core over 30 s (per-container monitor processes not included)")
        # Log-follow throughput: one pod writes 64 MiB of lines as fast as it can.
        client.create(resource_path("", "v1", "pods", "default"), {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "chatty"},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": "c", "image": "local/host",
                "command": ["sh", "-c", "sleep 1; yes 'kvtui log line 0123456789 abcdefghijklmnopqrstuvwxyz' "
                            "| head -c 67108864; sleep 2"]}]}})
        deadline = time.monotonic() + 60
        while "chatty" not in watch.reached and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        resp = client._send("GET", resource_path("", "v1", "pods", "default", "chatty", "log"),
                            {"follow": "true"}, None, "application/json", (10, 300)).response
        total, t0 = 0, time.monotonic()
        for chunk in resp.stream(1 << 16, decode_content=False):
            total += len(chunk)
            if total >= 64 << 20:
                break
        elapsed = time.monotonic() - t0
        resp.release_conn()
        out.append(f"log follow through the API server: {total / elapsed / 2**20:.1f} MiB/s "
                   f"({total / 2**20:.0f} MiB in {elapsed:.1f} s)")
        watch.stop()
    finally:
        cluster.stop(kill_pods=True)
    return out


def _bench_vmi(name: str) -> dict:
    from launcher.images.demo import DEMO_IMAGE

    return {
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": name},
        # 10m CPU: a 2-core node fits 200 such launchers, where KubeVirt's 100m would stop at 20.
        # 96Mi: the demo kernel needs about 80 MiB to boot; with less it resets in a loop.
        "spec": {"terminationGracePeriodSeconds": 0, "domain": {
            "memory": {"guest": "96Mi"}, "resources": {"requests": {"cpu": "10m"}},
            "firmware": {"kernelBoot": {"kernelArgs": "console=ttyS0 quiet", "container": {
                "image": DEMO_IMAGE, "kernelPath": "/boot/vmlinuz", "initrdPath": "/boot/initrd.img"}}},
            "devices": {}}}}


def _admitted(client: Client) -> tuple[int, float, float]:
    """How many bench VMIs the node's memory admits, as the scheduler counts it: (count, MiB each
    launcher pod requests, MiB the node offers)."""
    from cluster.reconciler.launcher_pod import LauncherSettings, launcher_pod_for
    from cluster.reconciler.quantity import parse_quantity

    vmi = _bench_vmi("probe")
    vmi["metadata"].update(namespace="default", uid="00000000-0000-0000-0000-000000000000")
    pod = launcher_pod_for(vmi, LauncherSettings())
    request = sum(parse_quantity(c["resources"]["requests"].get("memory", 0)) for c in pod["spec"]["containers"])
    node = client.get(resource_path("", "v1", "nodes", name="node-0"))
    offered = parse_quantity(node["status"]["allocatable"]["memory"])
    return int(offered // request), float(request) / 2**20, float(offered) / 2**20


async def _vmi_burst(client: Client, n: int) -> list[float]:
    """Create n VMIs 100 ms apart; each one's creation → Running latency."""
    path = resource_path("kubevirt.io", "v1", "virtualmachineinstances", "default")
    watch = PhaseWatch(client, path, "Running")
    sent: dict[str, float] = {}
    for i in range(n):
        name = f"vmi{i}"
        sent[name] = time.monotonic()
        client.create(path, _bench_vmi(name))
        await asyncio.sleep(0.1)
    deadline = time.monotonic() + 600
    while len(watch.reached) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    watch.stop()
    return [watch.reached[k] - sent[k] for k in sent if k in watch.reached]


def _latency_line(n: int, lat: list[float], note: str) -> str:
    return (f"VMI creation -> Running, {n} minimal VMIs (96Mi, 10m CPU, kernel boot) 100 ms apart{note}: "
            f"p50 {_pct(lat, 50):.1f} s, p95 {_pct(lat, 95):.1f} s, max {max(lat):.1f} s "
            f"({len(lat)}/{n} Running)   target p50 <= 5 s, p95 <= 10 s")


async def vmis(quick: bool = False) -> list[str]:
    """As KubeVirt's density test: 100 VMIs, or as many as the node's memory admits (the scheduler
    would leave the rest Pending); then, for comparison across machines, a burst of 40."""
    from launcher.images.demo import build_demo_image

    build_demo_image(progress=lambda line: None)
    wanted = int(os.environ.get("KVTUI_BENCH_VMIS", "10" if quick else "100"))
    out: list[str] = []
    for comparison in (False, True):
        if comparison and (quick or wanted <= 40):
            break
        tmp = Path(tempfile.mkdtemp(prefix="kvtui-bench-vmis-"))
        cluster, client = _start(tmp, audit=not comparison)
        try:
            admitted, request_mib, offered_mib = _admitted(client)
            n = 40 if comparison else min(wanted, admitted)
            note = ""
            if not comparison and n < wanted:
                note = (f" ({wanted} do not fit: each launcher pod requests {request_mib:.0f} MiB of the node's "
                        f"{offered_mib:.0f} MiB)")
            lat = await _vmi_burst(client, n)
            out.append(_latency_line(n, lat, note or (", for comparison" if comparison else "")))
            if comparison:
                continue
            await asyncio.sleep(2)
            records = [json.loads(line) for line in (tmp / "audit.log").read_text().splitlines()]
            by_user = Counter(r["user"].split(":")[0] if r["user"].startswith("system:node") else r["user"]
                              for r in records if r["user"] != "admin")
            per = ", ".join(f"{user.replace('system:serviceaccount:', 'sa:')} {count / n:.1f}"
                            for user, count in by_user.most_common())
            out.append(f"API requests per VMI (whole run / {n}): {sum(by_user.values()) / n:.1f} — {per}")
            rec = cluster.reconciler.daemon.pid()
            if rec:
                rss, _ = _proc_stat(rec)
                out.append(f"reconciler RSS with {n} VMIs: {rss:.0f} MiB")
        finally:
            cluster.stop(kill_pods=True)
    return out
