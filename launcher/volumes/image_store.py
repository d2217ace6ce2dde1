"""The local image store: where containerDisk and kernelBoot images live on a node without a
container runtime. An image reference maps to a directory holding the disk (`disk.qcow2`,
`disk.raw` or `disk.img`) and, for kernelBoot images, the kernel and initrd.

`registry.example.com/team/fedora:39` → `<store>/team/fedora/39`; the registry host is dropped
and the built-in `kvtui/` namespace is the store's top level, so `kvtui/demo:latest` →
`<store>/demo/latest`. Digests (`name@sha256:…`) map to a directory named after the digest.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_TAG = "latest"
BUILTIN_NAMESPACE = "kvtui"
DISK_NAMES = ("disk.qcow2", "disk.raw", "disk.img")
# Docker's reference grammar, loosely: lowercase path components, tags of word characters.
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageNotFound(Exception):
    """The message names the image, the directory looked in, and how to provide the image."""


def default_image_store() -> Path:
    configured = os.environ.get("KVTUI_IMAGE_STORE")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kvtui" / "images"


def image_directory(reference: str, store: Path) -> Path:
    """The directory an image reference maps to (whether or not it exists). ValueError when the
    reference is not a valid image name."""
    name, version = _split(reference)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    if len(parts) > 1 and parts[0] == BUILTIN_NAMESPACE:
        parts = parts[1:]
    for part in parts:
        if not _COMPONENT.match(part):
            raise ValueError(f"invalid image name {reference!r}: {part!r} must be lowercase letters, digits "
                             "and single separators (. _ -)")
    return store.joinpath(*parts, version.replace(":", "-"))


def _split(reference: str) -> tuple[str, str]:
    if "@" in reference:
        name, digest = reference.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"invalid image digest in {reference!r}: expected sha256:<64 hex digits>")
        return name, digest
    name, _, tag = reference.rpartition(":")
    # "host:5000/name" has a colon that is a port, not a tag.
    if not name or "/" in tag:
        return reference, DEFAULT_TAG
    if not _TAG.match(tag):
        raise ValueError(f"invalid image tag {tag!r} in {reference!r}")
    return name, tag


def find_disk(reference: str, store: Path, path_in_image: str | None = None) -> Path:
    """The disk file of a containerDisk image: `path` inside the image when given, else the first
    of disk.qcow2 / disk.raw / disk.img."""
    directory = image_directory(reference, store)
    if path_in_image:
        candidate = _inside(directory, path_in_image)
        if candidate.is_file():
            return candidate
        raise ImageNotFound(f"image {reference!r} has no file {path_in_image!r} (looked for {candidate})")
    for name in DISK_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise ImageNotFound(_missing(reference, directory, f"disk ({', '.join(DISK_NAMES[:-1])} or {DISK_NAMES[-1]})"))


def find_boot_file(reference: str, store: Path, path_in_image: str) -> Path:
    """A kernelBoot file: `path_in_image` under the image directory, else its file name there
    (so `/boot/vmlinuz` finds `<image>/vmlinuz`)."""
    directory = image_directory(reference, store)
    for candidate in (_inside(directory, path_in_image), directory / Path(path_in_image).name):
        if candidate.is_file():
            return candidate
    raise ImageNotFound(_missing(reference, directory, f"{path_in_image!r}"))


def _inside(directory: Path, path_in_image: str) -> Path:
    candidate = (directory / path_in_image.lstrip("/")).resolve()
    if not candidate.is_relative_to(directory.resolve()):
        raise ImageNotFound(f"path {path_in_image!r} leaves the image directory {directory}")
    return candidate


def _missing(reference: str, directory: Path, what: str) -> str:
    built_in = reference.split("@")[0].rsplit(":", 1)[0] == "kvtui/demo"
    hint = "build it with 'kvtui images build demo'" if built_in else f"copy the image's files into {directory}"
    return f"image {reference!r} not found in the local image store: no {what} in {directory}; {hint}"
