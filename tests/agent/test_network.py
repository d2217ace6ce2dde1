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


def _eth0_mac(pod: network.PodNetwork) -> str:
    out = subprocess.run(["ip", "-n", pod.netns, "-o", "link", "show", "eth0"], capture_output=True, text=True,
                         check=True).stdout
    return out.split("link/ether ")[1].split()[0]


def _cached_mac(ip: str, netns: str | None = None) -> str | None:
    """The MAC address that the host (or the pod `netns`) has cached for `ip`, if any."""
    where = ["-n", netns] if netns else []
    device = "eth0" if netns else network.BRIDGE
    out = subprocess.run(["ip", *where, "neigh", "show", ip, "dev", device], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def _refused(ip: str, netns: str | None = None) -> None:
    """Connect to a closed port of `ip`, from the host or the pod `netns`: the kernel that has the
    address answers with a reset once the sender has the right MAC for it."""
    probe = (f"import socket\ntry:\n    socket.create_connection(({ip!r}, 9), timeout=3)\n"
             "except ConnectionRefusedError:\n    print('refused')\nexcept OSError as exc:\n    print(exc)")
    command = [sys.executable, "-c", probe]
    out = subprocess.run(["ip", "netns", "exec", netns, *command] if netns else command,
                         capture_output=True, text=True, timeout=30).stdout.strip()
    assert out == "refused", f"connecting to {ip} from {netns or 'the host'}: {out}"


def test_a_reused_address_is_reached_at_once_by_the_host_and_by_pods(pods):
    make, pool, made = pods
    first = make()
    neighbour = make()
    _refused(first.ip)
    _refused(first.ip, neighbour.netns)
    assert _eth0_mac(first) == network.pod_mac(first.ip)
    assert _cached_mac(first.ip, neighbour.netns) == _eth0_mac(first)
    network.tear_down_pod_network(made[0], pool)
    second = make()
    assert second.ip == first.ip           # the pool hands out the lowest free address again
    # Both still cache a MAC for the address from the first pod (the host's entry is dropped when
    # the address is handed out again). A wrong one would stall connections until the kernel
    # probed the entry again, about 5 s later.
    assert _cached_mac(second.ip) in (None, _eth0_mac(second))
    assert _cached_mac(second.ip, neighbour.netns) == _eth0_mac(second)
    _refused(second.ip)
    _refused(second.ip, neighbour.netns)


def test_pod_macs_are_made_from_the_address():
    assert network.pod_mac("10.244.0.22") == "02:6b:0a:f4:00:16"
    assert network.pod_mac("10.244.3.255") == "02:6b:0a:f4:03:ff"
    assert network.pod_mac("10.244.0.22") != network.BRIDGE_MAC


def test_the_network_of_a_cluster_whose_state_is_gone_is_taken_back(tmp_path):
    network.ensure_bridge()
    pool_dir = tmp_path / "pod-ips"
    live_root, gone_root = tmp_path / "live", tmp_path / "gone"
    live_root.mkdir()
    gone_root.mkdir()
    live_pool = network.AddressPool("10.244.252.0/24", pool_dir, agent_root=live_root)
    gone_pool = network.AddressPool("10.244.252.0/24", pool_dir, agent_root=gone_root)
    uids = [str(uuid.uuid4()) for _ in range(3)]
    live = network.set_up_pod_network(uids[0], live_pool)
    idle = network.set_up_pod_network(uids[1], gone_pool)
    busy = network.set_up_pod_network(uids[2], gone_pool)
    sleeper = subprocess.Popen(["ip", "netns", "exec", busy.netns, "sleep", "60"])
    try:
        _until_pids(busy.netns)
        assert network.reclaim_orphans(live_pool) == []      # the state directory is still there
        gone_root.rmdir()
        # The idle pod's cluster is gone: its namespace, veth and address go. Something still runs
        # in the busy pod's namespace, so that one stays.
        assert network.reclaim_orphans(live_pool) == [idle.ip]
        assert not network.netns_exists(idle.netns)
        assert not Path(f"/sys/class/net/{network._host_veth(uids[1])}").exists()
        assert live_pool.owner(idle.ip) is None
        assert network.netns_exists(busy.netns) and network.netns_exists(live.netns)
        sleeper.kill()
        sleeper.wait()
        assert network.reclaim_orphans(live_pool) == [busy.ip]
        assert live_pool.owners() == {live.ip: uids[0]}
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        for uid in uids:
            network.tear_down_pod_network(uid, live_pool)


def _until_pids(netns: str) -> None:
    for _ in range(100):
        if network.netns_pids(netns):
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"nothing started in {netns}")
