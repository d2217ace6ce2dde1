"""API server benchmarks: create rate, large lists, watch fan-out latency, memory."""

from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from cluster.embedded import REPO_ROOT, EmbeddedCluster

CRD = REPO_ROOT / "tests" / "api" / "testdata" / "widgets-crd.yaml"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(quick: bool = False) -> list[str]:
    n_create = 1000 if quick else 5000
    n_list = 2000 if quick else 10000
    tmp = Path(tempfile.mkdtemp(prefix="kvtui-bench-"))
    cluster = EmbeddedCluster(tmp / "data")
    status = cluster.start(port=0, crds=[REPO_ROOT / "manifests" / "crds", CRD])
    token = (cluster.data_dir / "pki" / "admin.token").read_text().strip()
    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "pki" / "ca.crt"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    out: list[str] = []
    try:
        conn = aiohttp.TCPConnector(ssl=ctx, limit=64)
        async with aiohttp.ClientSession(status.url, headers=headers, connector=conn) as http:
            # 1. creates/s of small custom resources, 16 requests in flight.
            async def create(i: int) -> None:
                body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": f"w{i}"},
                        "spec": {"size": "small"}}
                async with http.post(WIDGETS, data=json.dumps(body)) as resp:
                    assert resp.status == 201, await resp.text()
                    await resp.read()

            sem = asyncio.Semaphore(16)

            async def bounded(i: int) -> None:
                async with sem:
                    await create(i)

            t0 = time.perf_counter()
            await asyncio.gather(*(bounded(i) for i in range(n_create)))
            elapsed = time.perf_counter() - t0
            out.append(f"creates of small custom resources: {n_create / elapsed:.0f}/s "
                       f"({n_create} in {elapsed:.2f} s, 16 in flight)   target >= 500/s")

            # 2. list of n_list objects.
            await asyncio.gather(*(bounded(i) for i in range(n_create, n_list)))
            timings = []
            for _ in range(7):
                t0 = time.perf_counter()
                async with http.get(WIDGETS) as resp:
                    body = await resp.read()
                timings.append((time.perf_counter() - t0) * 1000)
            count = len(json.loads(body)["items"])
            out.append(f"list of {count} objects (JSON): median {statistics.median(timings):.0f} ms, "
                       f"max {max(timings):.0f} ms   target <= 300 ms")
            table_timings = []
            for _ in range(3):
                t0 = time.perf_counter()
                async with http.get(WIDGETS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}) as r:
                    await r.read()
                table_timings.append((time.perf_counter() - t0) * 1000)
            out.append(f"list of {count} objects (Table, as kubectl get): median "
                       f"{statistics.median(table_timings):.0f} ms")
            out.append(f"API server RSS with {count} objects: {_rss_mib(status.pid):.0f} MiB")

            # 3. watch delivery with 50 watchers.
            n_watchers, n_updates = 50, 100 if quick else 200
            received: dict[int, list[float]] = {}
            ready = asyncio.Event()
            started = 0

            async def watcher() -> None:
                nonlocal started
                async with http.get(WIDGETS, params={"watch": "1", "resourceVersion": rv,
                                                     "fieldSelector": "metadata.name=w0"}) as resp:
                    started += 1
                    if started == n_watchers:
                        ready.set()
                    async for line in resp.content:
                        event = json.loads(line)
                        seq = int(event["object"]["spec"].get("color", "c-1")[1:])
                        received.setdefault(seq, []).append(time.perf_counter())
                        if seq == n_updates - 1:
                            return

            async with http.get(WIDGETS, params={"limit": "1"}) as resp:
                rv = (await resp.json())["metadata"]["resourceVersion"]
            tasks = [asyncio.create_task(watcher()) for _ in range(n_watchers)]
            await asyncio.wait_for(ready.wait(), 30)
            await asyncio.sleep(0.5)
            sent: dict[int, float] = {}
            for seq in range(n_updates):
                sent[seq] = time.perf_counter()
                async with http.patch(f"{WIDGETS}/w0", data=json.dumps({"spec": {"color": f"c{seq}"}}),
                                      headers={"Content-Type": "application/merge-patch+json"}) as resp:
                    assert resp.status == 200, await resp.text()
                await asyncio.sleep(0.02)
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
            latencies = [(t - sent[seq]) * 1000 for seq, times in received.items() for t in times]
            out.append(f"watch delivery, {n_watchers} watchers x {n_updates} updates (write sent -> event read): "
                       f"p50 {_pct(latencies, 50):.1f} ms, p99 {_pct(latencies, 99):.1f} ms   target p99 <= 20 ms")
    finally:
        cluster.stop()
    return out
