"""Shared fixtures for the domain builder tests: the seed VMI, the kernelBoot demo VMI, their
launcher contexts, and golden-XML comparison (`KVTUI_UPDATE_GOLDEN=1` rewrites the goldens)."""

from __future__ import annotations

import copy
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from launcher.domain import DiskImage, DomainContext, KernelBootFiles

GOLDEN_DIR = Path(__file__).parent / "golden"
SEED_UID = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
DEMO_UID = "0b6f3a52-1c2d-4e3f-9a8b-7c6d5e4f3a2b"
QEMU_CPU_MODELS = frozenset({"Nehalem", "Nehalem-IBRS", "Skylake-Client", "qemu64"})

_SEED_VMI: dict[str, Any] = {
    "apiVersion": "kubevirt.io/v1",
    "kind": "VirtualMachineInstance",
    "metadata": {
        "name": "testvm",
        "namespace": "default",
        "uid": SEED_UID,
        "labels": {"kubevirt.io/vm": "testvm", "kubevirt.io/size": "small"},
    },
    "spec": {
        "domain": {
            "cpu": {"model": "Nehalem-IBRS"},
            "devices": {
                "disks": [{"name": "disk0", "disk": {"bus": "virtio"}}],
                "interfaces": [{"name": "default", "masquerade": {}, "ports": [{"name": "http", "port": 80}]}],
            },
            "machine": {"type": ""},
            "resources": {"requests": {"memory": "2048M"}},
        },
        "networks": [{"name": "default", "pod": {}}],
        "volumes": [
            {"name": "disk0", "hostDisk": {"path": "/var/lib/kvtui/disks/testvm/disk.img", "type": "Disk"}}
        ],
        "terminationGracePeriodSeconds": 30,
    },
}

_DEMO_VMI: dict[str, Any] = {
    "apiVersion": "kubevirt.io/v1",
    "kind": "VirtualMachineInstance",
    "metadata": {"name": "demo", "namespace": "default", "uid": DEMO_UID, "labels": {"app": "demo"}},
    "spec": {
        "domain": {
            "cpu": {"cores": 1},
            "memory": {"guest": "256Mi"},
            "firmware": {
                "kernelBoot": {
                    "kernelArgs": "console=ttyS0 panic=-1",
                    "container": {
                        "image": "kvtui.local/demo-guest:1",
                        "kernelPath": "/boot/vmlinuz",
                        "initrdPath": "/boot/initramfs.cpio.gz",
                    },
                }
            },
            "devices": {"interfaces": [{"name": "default", "masquerade": {}, "ports": [{"name": "ssh", "port": 22}]}]},
        },
        "networks": [{"name": "default", "pod": {}}],
    },
}


@pytest.fixture
def seed_vmi() -> dict[str, Any]:
    """The seed document's VM as a VMI: Nehalem-IBRS, a virtio hostDisk, masquerade port 80, 2048M."""
    return copy.deepcopy(_SEED_VMI)


@pytest.fixture
def demo_vmi() -> dict[str, Any]:
    """The built-in demo guest: kernel + initramfs booted directly, no disks."""
    return copy.deepcopy(_DEMO_VMI)


def seed_context(**changes: Any) -> DomainContext:
    values: dict[str, Any] = {
        "uuid": SEED_UID,
        "serial_socket": f"/run/kvtui/launcher/{SEED_UID}/virt-serial0",
        "console_log": f"/run/kvtui/launcher/{SEED_UID}/virt-serial0-log",
        "cpu_models": QEMU_CPU_MODELS,
        "disk_paths": {"disk0": DiskImage("/var/lib/kvtui/disks/testvm/disk.img", "raw")},
    }
    values.update(changes)
    return DomainContext(**values)


def demo_context(**changes: Any) -> DomainContext:
    values: dict[str, Any] = {
        "uuid": DEMO_UID,
        "accelerator": "tcg",
        "serial_socket": f"/run/kvtui/launcher/{DEMO_UID}/virt-serial0",
        "console_log": f"/run/kvtui/launcher/{DEMO_UID}/virt-serial0-log",
        "cpu_models": QEMU_CPU_MODELS,
        "kernel_boot": KernelBootFiles(
            kernel=f"/run/kvtui/launcher/{DEMO_UID}/kernel-boot/vmlinuz",
            initrd=f"/run/kvtui/launcher/{DEMO_UID}/kernel-boot/initramfs.cpio.gz",
        ),
    }
    values.update(changes)
    return DomainContext(**values)


@pytest.fixture
def seed_ctx() -> DomainContext:
    return seed_context()


@pytest.fixture
def demo_ctx() -> DomainContext:
    return demo_context()


def _as_tree(built: ET.Element | Iterable[ET.Element]) -> ET.Element:
    """One element as is; several wrapped in <fragment>, in order."""
    if isinstance(built, ET.Element):
        return copy.deepcopy(built)
    fragment = ET.Element("fragment")
    fragment.extend(copy.deepcopy(list(built)))
    return fragment


def canonical(xml: str) -> str:
    return ET.canonicalize(xml_data=xml, strip_text=True)


@pytest.fixture
def golden() -> Callable[[str, ET.Element | Iterable[ET.Element]], None]:
    """golden(name, built): `built` equals golden/<name>.xml after canonicalisation."""

    def check(name: str, built: ET.Element | Iterable[ET.Element]) -> None:
        tree = _as_tree(built)
        ET.indent(tree)
        actual = ET.tostring(tree, encoding="unicode") + "\n"
        path = GOLDEN_DIR / f"{name}.xml"
        if os.environ.get("KVTUI_UPDATE_GOLDEN") == "1":
            path.write_text(actual)
        if not path.exists():
            pytest.fail(f"golden file {path} is missing: run with KVTUI_UPDATE_GOLDEN=1 to create it")
        assert canonical(actual) == canonical(path.read_text()), (
            f"{name}: output differs from {path} (KVTUI_UPDATE_GOLDEN=1 rewrites it)\n{actual}"
        )

    return check
