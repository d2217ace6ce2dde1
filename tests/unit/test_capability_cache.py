"""The node's QEMU capability cache as each launcher's embed root gets it (launcher/hypervisor.py)."""

from __future__ import annotations

import os
import threading

import pytest

from launcher import hypervisor

FLAG = "  <flag name='cpu-unavailable-features'/>\n"
CACHED = "<qemuCaps>\n  <emulator>/usr/bin/qemu-system-x86_64</emulator>\n" + FLAG + "  <flag name='kvm'/>\n</qemuCaps>\n"


def _node(tmp_path):
    node = tmp_path / "node"
    capabilities = hypervisor.node_cache_dir(node) / "capabilities"
    capabilities.mkdir(parents=True)
    entry = capabilities / "x86.xml"
    entry.write_text(CACHED)
    os.utime(entry, (1_700_000_000, 1_700_000_000))
    return node, entry


def test_an_emulated_root_reads_the_guest_cpu_back_the_short_way(tmp_path):
    node, shared = _node(tmp_path)
    root = tmp_path / "root"
    hypervisor.prepare_root(root, node, short_cpu_readback=True)
    copy = root / "cache" / "qemu" / "capabilities" / "x86.xml"
    assert copy.read_text() == CACHED.replace(FLAG, "")
    assert "<flag name='kvm'/>" in copy.read_text()
    assert copy.stat().st_mtime == shared.stat().st_mtime
    assert shared.read_text() == CACHED  # the node's copy is never changed


def test_the_edited_copy_is_not_published_as_a_newer_probe(tmp_path):
    node, shared = _node(tmp_path)
    root = tmp_path / "root"
    hypervisor.prepare_root(root, node, short_cpu_readback=True)
    hypervisor.publish_cache(root, node)
    assert shared.read_text() == CACHED


def test_other_roots_get_the_cache_unchanged(tmp_path):
    node, _shared = _node(tmp_path)
    root = tmp_path / "root"
    hypervisor.prepare_root(root, node)
    assert (root / "cache" / "qemu" / "capabilities" / "x86.xml").read_text() == CACHED


class _NoLibvirt:
    """A connection that must not be used: the node's copy of the answer has to do."""

    def __getattr__(self, name):
        raise AssertionError(f"libvirt was asked ({name}) although the node's answer is current")


def _answer():
    return hypervisor.HostCapabilities(frozenset({"pc", "pc-q35-7.2"}), frozenset({"Nehalem-IBRS"}), False)


def test_host_capabilities_come_from_the_node_while_its_cache_is_unchanged(tmp_path):
    node, _entry = _node(tmp_path)
    hypervisor._write_host_capabilities(node, _answer())
    assert hypervisor.host_capabilities(_NoLibvirt(), tmp_path / "root", node) == _answer()


def test_a_new_probe_or_another_libvirt_means_asking_again(tmp_path):
    node, entry = _node(tmp_path)
    hypervisor._write_host_capabilities(node, _answer())
    os.utime(entry, (1_800_000_000, 1_800_000_000))  # libvirt probed QEMU anew
    assert hypervisor._read_host_capabilities(node) is None
    hypervisor._write_host_capabilities(node, _answer())
    saved = hypervisor._host_capabilities_file(node)
    data = saved.read_text().replace('"libvirt": ', '"libvirt": 1')  # written by another libvirt version
    saved.write_text(data)
    assert hypervisor._read_host_capabilities(node) is None


def test_no_answer_is_kept_for_a_node_without_a_capability_cache(tmp_path):
    node = tmp_path / "node"
    node.mkdir()
    hypervisor._write_host_capabilities(node, _answer())
    assert hypervisor._read_host_capabilities(node) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_libvirt_opens_on_the_first_cpu_and_its_threads_get_every_cpu_back(monkeypatch):
    allowed = os.sched_getaffinity(0)
    seen: dict[str, object] = {}
    started = threading.Event()
    finish = threading.Event()

    def worker() -> None:
        started.set()
        finish.wait(10)

    def fake_open(uri: str) -> str:
        seen["affinity"] = os.sched_getaffinity(0)
        thread = threading.Thread(target=worker)   # as libvirt starts its worker threads
        thread.start()
        started.wait(10)
        seen["thread"] = thread
        return "conn"

    monkeypatch.setattr(hypervisor.libvirt, "open", fake_open)
    try:
        assert hypervisor._open_on_first_cpu("qemu:///embed?root=/x") == "conn"
        assert seen["affinity"] == {min(allowed)}
        assert os.sched_getaffinity(0) == allowed
        assert os.sched_getaffinity(seen["thread"].native_id) == allowed
    finally:
        finish.set()
        seen["thread"].join()
