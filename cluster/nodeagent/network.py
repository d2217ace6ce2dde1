"""Pod networking as the CNI bridge plugin does it: one host bridge, a network namespace and a veth
pair per pod, an address from the node's pod CIDR.

Pod addresses stay on this machine: the bridge's IPv4 forwarding is switched off and no NAT rule is
added, so nothing from a pod is routed off the host (pods reach each other and the host only).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "kvtui0"
BRIDGE_ADDRESS = "10.244.0.1"
# The bridge's own MAC address, set once ("kvtui" in ASCII, locally administered). A bridge without
# one takes the lowest of its ports' and changes it whenever a lower one joins or that port leaves.
# Each change flushes the host's neighbour entries and strands pods that resolved the gateway to the
# old address: with 40 pods starting at once, the first pods' connections to the API server timed
# out for tens of seconds.
BRIDGE_MAC = "02:6b:76:74:75:69"
CLUSTER_CIDR = ipaddress.ip_network("10.244.0.0/16")
NETNS_DIR = Path("/run/netns")
# Addresses are handed out machine-wide (one file per address), since every agent of every embedded
# cluster on this machine shares the bridge; /run is emptied at boot, as the namespaces are.
ADDRESS_DIR = Path("/run/kvtui/pod-ips")


class NetworkError(RuntimeError):
    """A network set-up step failed; the message names the command and what it said."""


def _ip(*args: str, batch: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *args] + (["-batch", "-"] if batch is not None else [])
    proc = subprocess.run(cmd, input=batch, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _write_sysctl(path: str, value: str) -> None:
    try:
        Path(path).write_text(value)
    except OSError:
        pass  # not every kernel has every knob (e.g. IPv6 disabled); the others still apply


def ensure_bridge() -> None:
    """Create the host bridge with the gateway address, once per machine; safe to call concurrently."""
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        proc = _ip("link", "add", BRIDGE, "type", "bridge", check=False)
        if proc.returncode != 0 and not Path(f"/sys/class/net/{BRIDGE}").exists():
            raise NetworkError(f"cannot create the pod bridge {BRIDGE}: {proc.stderr.strip()}")
    if not _has_own_address(BRIDGE):
        _ip("link", "set", BRIDGE, "address", BRIDGE_MAC)
    # Forwarding off on the bridge: packets from pods are delivered to the host or to other pods, never routed on.
    _write_sysctl(f"/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding", "0")
    _write_sysctl(f"/proc/sys/net/ipv6/conf/{BRIDGE}/forwarding", "0")
    addresses = _ip("-4", "-o", "addr", "show", "dev", BRIDGE).stdout
    if f" {BRIDGE_ADDRESS}/" not in addresses:
        proc = _ip("addr", "add", f"{BRIDGE_ADDRESS}/{CLUSTER_CIDR.prefixlen}", "dev", BRIDGE, check=False)
        if proc.returncode != 0 and "File exists" not in proc.stderr:
            raise NetworkError(f"cannot give {BRIDGE} the address {BRIDGE_ADDRESS}: {proc.stderr.strip()}")
    _ip("link", "set", BRIDGE, "up")


def _has_own_address(device: str) -> bool:
    """True once the device's MAC address was set explicitly (addr_assign_type 3, NET_ADDR_SET)."""
    try:
        return Path(f"/sys/class/net/{device}/addr_assign_type").read_text().strip() == "3"
    except OSError:
        return False


def netns_name(pod_uid: str) -> str:
    return "kvtui-" + pod_uid.replace("-", "")[:12]


def _host_veth(pod_uid: str) -> str:
    return "kv" + pod_uid.replace("-", "")[:12]


def pod_mac(ip: str) -> str:
    """The MAC address of the pod's eth0, made from its IPv4 address (02:6b, then the address's four
    bytes). Addresses are reused as pods come and go, and the host and the other pods keep the old
    pod's MAC address cached for that address: with a random MAC the first connections to the new
    pod were sent to a vanished interface until the cache entry was probed again (about 5 s). The
    same address always has the same MAC, so a cached entry stays right."""
    return "02:6b:" + ":".join(f"{byte:02x}" for byte in ipaddress.IPv4Address(ip).packed)


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


@dataclass
class PodNetwork:
    netns: str
    ip: str


class AddressPool:
    """The node's pod CIDR; each handed-out address is a file naming its pod and the agent's state
    directory, so a restarted agent knows what is taken, two agents (even of two clusters) never hand
    out the same address, and the addresses of a cluster whose state is gone can be taken back."""

    def __init__(self, cidr: str, state_dir: Path = ADDRESS_DIR, agent_root: Path | None = None):
        self.cidr = ipaddress.ip_network(cidr)
        if not self.cidr.subnet_of(CLUSTER_CIDR):  # type: ignore[arg-type]
            raise NetworkError(f"--pod-cidr {cidr} is outside the cluster network {CLUSTER_CIDR}: choose "
                               "10.244.N.0/24 with N the node's index")
        self.dir = state_dir
        self.agent_root = agent_root.resolve() if agent_root else None
        self.dir.mkdir(parents=True, exist_ok=True)

    def _record(self, ip: str) -> list[str]:
        try:
            return (self.dir / ip).read_text().split("\n")
        except FileNotFoundError:
            return []

    def owner(self, ip: str) -> str | None:
        record = self._record(ip)
        return record[0].strip() if record else None

    def allocate(self, pod_uid: str) -> str:
        for address in self.cidr.hosts():
            ip = str(address)
            if ip == BRIDGE_ADDRESS:
                continue
            if self.owner(ip) == pod_uid:
                return ip
            try:
                fd = os.open(self.dir / ip, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as f:
                f.write(pod_uid + "\n" + (f"{self.agent_root}\n" if self.agent_root else ""))
            return ip
        raise NetworkError(f"the pod CIDR {self.cidr} has no free address left; delete pods or give the node a "
                           "larger --pod-cidr")

    def release(self, pod_uid: str) -> None:
        for entry in self.dir.iterdir():
            if self.owner(entry.name) == pod_uid:
                entry.unlink(missing_ok=True)

    def address_of(self, pod_uid: str) -> str | None:
        for entry in self.dir.iterdir():
            if self.owner(entry.name) == pod_uid:
                return entry.name
        return None

    def owners(self) -> dict[str, str]:
        return {entry.name: self.owner(entry.name) or "" for entry in self.dir.iterdir()}

    def orphans(self) -> dict[str, str]:
        """Address -> pod uid for the pods whose agent's state directory no longer exists: no agent
        can adopt them again (their cluster was killed and its data removed)."""
        found = {}
        for entry in self.dir.iterdir():
            record = self._record(entry.name)
            if len(record) > 1 and record[1].strip() and not Path(record[1].strip()).exists():
                found[entry.name] = record[0].strip()
        return found


def set_up_pod_network(pod_uid: str, pool: AddressPool) -> PodNetwork:
    """Create (or complete) the pod's namespace: lo up, eth0 on the bridge, default route via the host."""
    name = netns_name(pod_uid)
    ip = pool.address_of(pod_uid) or pool.allocate(pod_uid)
    host_end = _host_veth(pod_uid)
    # Two `ip` processes per pod (one batch on the host, one in the namespace): each spawn costs
    # the agent a few milliseconds of CPU, and many pods start at once.
    host = []
    if not netns_exists(name):
        host.append(f"netns add {name}")
    if not Path(f"/sys/class/net/{host_end}").exists():
        # The pod's end is made inside the namespace, already named eth0: no half-moved pair.
        host.append(f"link add {host_end} type veth peer name eth0 netns {name}")
    host.append(f"link set {host_end} master {BRIDGE} up")
    # An entry cached before the address's MAC was fixed (or by anything else) would still be wrong.
    host.append(f"neigh flush to {ip} dev {BRIDGE}")
    _ip(batch="\n".join(host) + "\n")
    _ip("-n", name, batch="\n".join([
        "link set lo up",
        f"link set eth0 address {pod_mac(ip)}",
        f"addr replace {ip}/{CLUSTER_CIDR.prefixlen} dev eth0",
        "link set eth0 up",
        f"route replace default via {BRIDGE_ADDRESS} dev eth0",
    ]) + "\n")
    return PodNetwork(name, ip)


def netns_pids(name: str) -> list[int]:
    return [int(pid) for pid in _ip("netns", "pids", name, check=False).stdout.split()]


def reclaim_orphans(pool: AddressPool) -> list[str]:
    """Remove the network of every pod whose agent's state directory is gone and in whose namespace
    nothing runs any more, and free its address; returns the addresses freed."""
    freed = []
    for ip, uid in pool.orphans().items():
        name = netns_name(uid)
        if netns_exists(name) and netns_pids(name):
            continue  # something still runs there: leave it to whoever started it
        tear_down_pod_network(uid, pool)
        freed.append(ip)
    return freed


def tear_down_pod_network(pod_uid: str, pool: AddressPool) -> None:
    """Remove the namespace and the host end of the veth pair, and free the address; idempotent."""
    host_end = _host_veth(pod_uid)
    if Path(f"/sys/class/net/{host_end}").exists():
        _ip("link", "del", host_end, check=False)
    name = netns_name(pod_uid)
    if netns_exists(name):
        _ip("netns", "del", name, check=False)
    pool.release(pod_uid)
