"""Per-container resource limits in cgroups (v1 memory and cpu controllers, or the v2 unified tree).

Limits are applied where the host lets us and skipped quietly where it does not (no controller,
read-only cgroupfs): a pod then runs unconfined rather than not at all.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import time
from pathlib import Path

from kubernetes.utils.quantity import parse_quantity

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "kvtui"
CFS_PERIOD_US = 100_000
MIN_SHARES = 2
# How long removing a pod's cgroups waits for their killed processes to leave them.
REMOVE_WAIT_SECONDS = 5.0


def _quantity(value: object, scale: int = 1) -> int | None:
    try:
        return math.ceil(parse_quantity(value) * scale)
    except (ValueError, TypeError):
        return None


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def is_unified() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def create(pod_uid: str, instance: str, resources: dict) -> list[str]:
    """Make the cgroups of one container instance with its limits; returns their directories."""
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    memory = _quantity(limits["memory"]) if "memory" in limits else None
    cpu_limit_milli = _quantity(limits["cpu"], 1000) if "cpu" in limits else None
    cpu_request_milli = _quantity(requests.get("cpu", limits.get("cpu")), 1000) if (
        "cpu" in requests or "cpu" in limits) else None
    if is_unified():
        return _create_v2(pod_uid, instance, memory, cpu_limit_milli, cpu_request_milli)
    return _create_v1(pod_uid, instance, memory, cpu_limit_milli, cpu_request_milli)


def _make(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        return True
    except OSError:
        return False


def _create_v1(pod_uid: str, instance: str, memory: int | None, cpu_limit: int | None,
               cpu_request: int | None) -> list[str]:
    made = []
    memory_dir = CGROUP_ROOT / "memory" / PARENT / pod_uid / instance
    if (CGROUP_ROOT / "memory").is_dir() and _make(memory_dir):
        if memory is not None:
            _write(memory_dir / "memory.limit_in_bytes", str(memory))
        made.append(str(memory_dir))
    cpu_dir = CGROUP_ROOT / "cpu" / PARENT / pod_uid / instance
    if (CGROUP_ROOT / "cpu").is_dir() and _make(cpu_dir):
        _write(cpu_dir / "cpu.shares", str(shares_for(cpu_request or 0)))
        if cpu_limit:
            _write(cpu_dir / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(cpu_dir / "cpu.cfs_quota_us", str(max(1000, cpu_limit * CFS_PERIOD_US // 1000)))
        made.append(str(cpu_dir))
    return made


def _create_v2(pod_uid: str, instance: str, memory: int | None, cpu_limit: int | None,
               cpu_request: int | None) -> list[str]:
    parent = CGROUP_ROOT / PARENT
    if not _make(parent):
        return []
    # Controllers must be enabled in every ancestor for the leaf to get the files.
    for directory in (CGROUP_ROOT, parent, parent / pod_uid):
        _make(directory)
        _write(directory / "cgroup.subtree_control", "+memory +cpu")
    leaf = parent / pod_uid / instance
    if not _make(leaf):
        return []
    if memory is not None:
        _write(leaf / "memory.max", str(memory))
    if cpu_limit:
        _write(leaf / "cpu.max", f"{max(1000, cpu_limit * CFS_PERIOD_US // 1000)} {CFS_PERIOD_US}")
    if cpu_request:
        _write(leaf / "cpu.weight", str(weight_for(shares_for(cpu_request))))
    return [str(leaf)]


def shares_for(cpu_milli: int) -> int:
    """cgroup v1 cpu.shares for a CPU amount, as the kubelet derives them: 1024 per CPU."""
    return max(MIN_SHARES, cpu_milli * 1024 // 1000)


def weight_for(shares: int) -> int:
    """cgroup v2 cpu.weight for v1 shares (the kubelet's conversion)."""
    return max(1, min(10000, 1 + ((shares - 2) * 9999) // 262142))


def set_pod_cpu(pod_uid: str, cpu_milli: int) -> bool:
    """Weigh the whole pod against other pods by `cpu_milli` (the kubelet gives the pod cgroup the
    sum of its containers' CPU requests). False where the host's cgroups do not allow it."""
    shares = shares_for(cpu_milli)
    if is_unified():
        pod_dir = CGROUP_ROOT / PARENT / pod_uid
        return _make(pod_dir) and _write(pod_dir / "cpu.weight", str(weight_for(shares)))
    if not (CGROUP_ROOT / "cpu").is_dir():
        return False
    pod_dir = CGROUP_ROOT / "cpu" / PARENT / pod_uid
    return _make(pod_dir) and _write(pod_dir / "cpu.shares", str(shares))


def cpu_request_milli(resources: dict) -> int:
    """A container's CPU request in millicores (its limit when only that is set; 0 when neither)."""
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    value = requests.get("cpu", limits.get("cpu"))
    return (_quantity(value, 1000) or 0) if value is not None else 0


def _pod_dirs(pod_uid: str) -> list[Path]:
    return [base / pod_uid for base in (CGROUP_ROOT / "memory" / PARENT, CGROUP_ROOT / "cpu" / PARENT,
                                        CGROUP_ROOT / PARENT) if (base / pod_uid).is_dir()]


def pod_pids(pod_uid: str) -> set[int]:
    """Every process in the pod's cgroups (any controller, any container)."""
    pids: set[int] = set()
    for pod_dir in _pod_dirs(pod_uid):
        for procs in (pod_dir / "cgroup.procs", *pod_dir.glob("*/cgroup.procs")):
            try:
                pids.update(int(line) for line in procs.read_text().split())
            except (OSError, ValueError):
                continue
    return pids


def kill_pod(pod_uid: str) -> None:
    """SIGKILL every process left in the pod's cgroups (QEMU, say, which leaves its parent's
    process group)."""
    for pid in pod_pids(pod_uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def remove_pod(pod_uid: str, timeout: float = REMOVE_WAIT_SECONDS) -> bool:
    """Remove the pod's cgroups (empty directories only). A cgroup is busy for a moment after its
    last process was killed, and the container's monitor may be removing its own at the same time:
    retry for up to `timeout` seconds. True once nothing of the pod's cgroups is left."""
    deadline = time.monotonic() + timeout
    for pod_dir in _pod_dirs(pod_uid):
        while True:
            for child in pod_dir.iterdir():
                if child.is_dir():
                    try:
                        os.rmdir(child)
                    except OSError:
                        pass
            try:
                os.rmdir(pod_dir)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY) or time.monotonic() >= deadline:
                    break
                time.sleep(0.02)
    return not _pod_dirs(pod_uid)
