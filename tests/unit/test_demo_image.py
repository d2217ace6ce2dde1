"""The demo image's build: missing host tools are named with the package that has them."""

from __future__ import annotations

import pytest

from launcher.images import demo


def test_a_missing_disk_tool_names_its_debian_package(monkeypatch) -> None:
    monkeypatch.setattr(demo.shutil, "which", lambda tool, path=None: None)
    with pytest.raises(demo.DemoBuildError, match=r"syslinux is missing: install the Debian package syslinux"):
        demo._find_tool("syslinux", "syslinux")


def test_every_disk_tool_is_found_here() -> None:
    # scripts/setup.sh installs them; a missing one would fail every demo build.
    for tool, package in demo.DISK_TOOLS.items():
        assert demo._find_tool(tool, package).endswith(tool)


def test_the_boot_loader_boots_the_kernel_without_waiting() -> None:
    lines = [line.strip() for line in demo.SYSLINUX_CFG.splitlines()]
    assert "TIMEOUT 0" in lines and "PROMPT 0" in lines
    assert "SERIAL 0 115200" in lines  # its messages reach the serial console
    assert f"APPEND {demo.KERNEL_ARGS}" in lines
