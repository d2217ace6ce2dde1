"""Pod networking with real network namespaces, veth pairs and the kvtui0 bridge (needs root).

Addresses come from a pool of their own (10.244.251.0/24, state in the test's directory), so a
cluster running beside the tests keeps its pods' addresses; every namespace made is removed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from cluster.nodeagent import network

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and the pod bridge")


@pytest.fixture
def pods(tmp_path):
    pool = network.AddressPool("10.244.251.0/24", tmp_path / "pod-ips")
    made: list[str] = []

    def make() -> network.PodNetwork:
        uid = str(uuid.uuid4())
        made.append(uid)
        return network.set_up_pod_network(uid, pool)

    network.ensure_bridge()
    yield make, pool, made
    for uid in made:
        network.tear_down_pod_network(uid, pool)


def _bridge_mac() -> str:
    return Path(f"/sys/class/net/{network.BRIDGE}/address").read_text().strip()


def test_the_bridge_keeps_its_own_address_as_pods_come_and_go(pods):
    make, pool, made = pods
    assert _bridge_mac() == network.BRIDGE_MAC
    for _ in range(6):
        make()
    assert _bridge_mac() == network.BRIDGE_MAC
    for uid in made[:3]:
        network.tear_down_pod_network(uid, pool)
    assert _bridge_mac() == network.BRIDGE_MAC


def test_a_pod_keeps_reaching_the_gateway_while_others_join(pods):
    make, _pool, _made = pods
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((network.BRIDGE_ADDRESS, 0))
    server.listen(256)
    port = server.getsockname()[1]

    def accept() -> None:
        while True:
            try:
                server.accept()[0].close()
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    first = make()
    # Connects once every 50 ms until told to stop (a line on stdin); prints each failure.
    prober = subprocess.Popen(
        ["ip", "netns", "exec", first.netns, sys.executable, "-c", f"""
import select, socket, sys, time
while not select.select([sys.stdin], [], [], 0.05)[0]:
    try:
        socket.create_connection(({network.BRIDGE_ADDRESS!r}, {port}), timeout=2).close()
        print("ok", flush=True)
    except OSError as exc:
        print("failed:", exc, flush=True)
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert prober.stdout is not None
        assert prober.stdout.readline().strip() == "ok"   # reachable before the others join
        for _ in range(20):
            make()
        out, _ = prober.communicate("stop\n", timeout=30)
    finally:
        server.close()
        if prober.poll() is None:
            prober.kill()
    lines = out.splitlines()
    assert lines and all(line == "ok" for line in lines), [line for line in lines if line != "ok"][:3]
