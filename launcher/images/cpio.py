"""Initramfs archives: the kernel's "newc" cpio format, written in-process so building a guest
needs neither cpio nor root (ownership and device nodes are set in the archive, not on disk)."""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass, field
from pathlib import Path

_TRAILER = "TRAILER!!!"


@dataclass
class Initramfs:
    """Entries in the order they are added; missing parent directories are added first (0755)."""

    entries: list[tuple[str, int, bytes, int]] = field(default_factory=list)
    _directories: set[str] = field(default_factory=set)

    def directory(self, path: str, mode: int = 0o755) -> None:
        path = path.strip("/")
        if path in self._directories:
            return
        self._parents(path)
        self._directories.add(path)
        self.entries.append((path, stat.S_IFDIR | mode, b"", 0))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._add(path, stat.S_IFREG | mode, data)

    def copy(self, path: str, source: Path, mode: int | None = None) -> None:
        """A host file, keeping its permission bits unless `mode` says otherwise."""
        self.file(path, source.read_bytes(), stat.S_IMODE(source.stat().st_mode) if mode is None else mode)

    def symlink(self, path: str, target: str) -> None:
        self._add(path, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._add(path, stat.S_IFCHR | mode, b"", (major << 8) | minor)

    def _add(self, path: str, mode: int, data: bytes, rdev: int = 0) -> None:
        path = path.strip("/")
        self._parents(path)
        self.entries.append((path, mode, data, rdev))

    def _parents(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent:
            self.directory(parent)

    def to_bytes(self) -> bytes:
        out = bytearray()
        for inode, (name, mode, data, rdev) in enumerate(self.entries, start=1):
            out += _record(inode, name, mode, data, rdev)
        out += _record(0, _TRAILER, 0, b"", 0)
        out += b"\0" * (-len(out) % 512)
        return bytes(out)

    def write_gzip(self, path: Path) -> None:
        # mtime=0 keeps the archive byte-for-byte reproducible.
        path.write_bytes(gzip.compress(self.to_bytes(), compresslevel=6, mtime=0))


def _record(inode: int, name: str, mode: int, data: bytes, rdev: int) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (inode, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF,
              len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    record = header + encoded
    record += b"\0" * (-len(record) % 4)
    record += data
    record += b"\0" * (-len(record) % 4)
    return record
