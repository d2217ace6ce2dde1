"""A launcher opening libvirt on any of the node's CPUs uses the node's QEMU capability cache as it
is: CPUID differs between CPUs (the APIC ID), and libvirt re-probes QEMU, seconds of CPU under TCG,
when the host's CPUID differs from the cache's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# On one CPU: run there, open a new embed root seeded from the node's cache, make libvirt look the
# emulator's capabilities up (where it validates them), report whether the entry was rewritten.
# One process per CPU: an embedded driver opens one root per process.
SCRIPT = """
import json, os, sys, time
from pathlib import Path
from launcher import hypervisor

node, root, cpu = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
shared = {p.name: p.stat().st_mtime_ns for p in (hypervisor.node_cache_dir(node) / "capabilities").iterdir()}
allowed = os.sched_getaffinity(0)
os.sched_setaffinity(0, {cpu})
time.sleep(0.05)
os.sched_setaffinity(0, allowed)   # still on `cpu`: nothing moves a thread that just woke at once
conn = hypervisor.open_embedded(root, node)
conn.getDomainCapabilities(hypervisor.EMULATOR, hypervisor.ARCH, None, "qemu")
mine = {p.name: p.stat().st_mtime_ns for p in (root / "cache" / "qemu" / "capabilities").iterdir()}
print(json.dumps({"reprobed": mine != shared, "affinity": sorted(os.sched_getaffinity(0))}))
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_opening_on_any_cpu_keeps_the_nodes_capability_cache(node, tmp_path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    for cpu in allowed:
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(node.node_dir), str(tmp_path / f"root-{cpu}"),
                               str(cpu)], env=node.env(), capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert not report["reprobed"], f"opened on CPU {cpu}, libvirt probed QEMU anew: {done.stderr[-2000:]}"
        assert report["affinity"] == allowed  # the launcher's thread has all its CPUs back
