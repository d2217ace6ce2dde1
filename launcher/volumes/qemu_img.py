"""qemu-img, for the image files the launcher makes: copy-on-write overlays over base images that
must never be written, and sparse empty disks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

QEMU_IMG = "qemu-img"


class QemuImgError(Exception):
    pass


def _run(*args: str) -> str:
    try:
        result = subprocess.run([QEMU_IMG, *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise QemuImgError("qemu-img is missing: install the Debian package qemu-utils "
                           "(scripts/setup.sh does)") from None
    if result.returncode != 0:
        raise QemuImgError(result.stderr.strip() or f"qemu-img {args[0]} failed with status {result.returncode}")
    return result.stdout


def image_format(path: Path) -> str:
    """"raw" or "qcow2" (anything else is an error: the domain only knows those two)."""
    info = json.loads(_run("info", "--output=json", "-U", str(path)))
    fmt = info.get("format")
    if fmt not in ("raw", "qcow2"):
        raise QemuImgError(f"{path} is a {fmt} image; only raw and qcow2 images are supported")
    return fmt


def create_overlay(base: Path, overlay: Path) -> None:
    """A qcow2 file whose reads fall through to `base` and whose writes stay in the overlay."""
    overlay.parent.mkdir(parents=True, exist_ok=True)
    overlay.unlink(missing_ok=True)
    _run("create", "-q", "-f", "qcow2", "-F", image_format(base), "-b", str(base.resolve()), str(overlay))


def create_empty(path: Path, size_bytes: int, fmt: str = "qcow2") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    _run("create", "-q", "-f", fmt, str(path), str(size_bytes))
