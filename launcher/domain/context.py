"""DomainContext: what the launcher knows about its node and its prepared volumes, i.e. everything
a domain needs that is not in the VirtualMachineInstance spec.

The launcher fills it in before building the domain (probing /dev/kvm, asking QEMU for its
machine types and CPU models, resolving volumes to files). Values here come from the launcher,
not from the user, so mistakes in them are programming errors (ValueError), not SpecErrors;
paths that derive from user input (hostDisk paths, kernel paths) are still checked by the builders
against the VMI field they came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ACCELERATORS = ("kvm", "tcg")
DISK_FORMATS = ("raw", "qcow2")
# passt gives user-mode networking with port forwarding; slirp has no forwarding at all.
USER_NETWORK_BACKENDS = ("passt", "slirp")


@dataclass(frozen=True)
class DiskImage:
    """A volume resolved to the file (or block device) QEMU opens."""

    path: str
    format: str = "raw"
    block: bool = False

    def __post_init__(self) -> None:
        if self.format not in DISK_FORMATS:
            raise ValueError(f"DiskImage.format must be one of {DISK_FORMATS}, not {self.format!r}")


@dataclass(frozen=True)
class KernelBootFiles:
    """The kernel (and initrd) of `firmware.kernelBoot.container`, extracted to local files."""

    kernel: str
    initrd: str | None = None


@dataclass(frozen=True)
class EfiFirmware:
    """OVMF files on this node; `secure_*` are the Secure Boot builds, when installed."""

    code: str
    vars_template: str
    nvram: str
    secure_code: str | None = None
    secure_vars_template: str | None = None


@dataclass(frozen=True, kw_only=True)
class DomainContext:
    uuid: str
    serial_socket: str
    console_log: str | None = None
    emulator: str = "/usr/bin/qemu-system-x86_64"
    accelerator: str = "kvm"
    arch: str = "x86_64"
    machine_types: frozenset[str] = frozenset({"q35", "pc"})
    cpu_models: frozenset[str] = frozenset()
    disk_paths: Mapping[str, DiskImage] = field(default_factory=dict)
    kernel_boot: KernelBootFiles | None = None
    efi: EfiFirmware | None = None
    user_network_backend: str = "passt"
    tap_device: str | None = None
    vnc_socket: str | None = None

    def __post_init__(self) -> None:
        if canonical_uuid(self.uuid) is None:
            raise ValueError(f"DomainContext.uuid must be a UUID, not {self.uuid!r}")
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"DomainContext.accelerator must be one of {ACCELERATORS}, not {self.accelerator!r}")
        if self.user_network_backend not in USER_NETWORK_BACKENDS:
            raise ValueError(
                f"DomainContext.user_network_backend must be one of {USER_NETWORK_BACKENDS}, "
                f"not {self.user_network_backend!r}"
            )
        # Accept any iterable (a list from `qemu -machine help`), store an immutable set.
        object.__setattr__(self, "machine_types", _frozen(self.machine_types))
        object.__setattr__(self, "cpu_models", _frozen(self.cpu_models))
        for name, path in self._launcher_paths():
            _check_launcher_path(name, path)

    @property
    def emulated(self) -> bool:
        """True under TCG: no KVM, so no host CPU to pass through and no KVM-only devices."""
        return self.accelerator == "tcg"

    def _launcher_paths(self) -> Iterable[tuple[str, str | None]]:
        yield "serial_socket", self.serial_socket
        yield "console_log", self.console_log
        yield "emulator", self.emulator
        yield "vnc_socket", self.vnc_socket
        if self.efi is not None:
            yield "efi.code", self.efi.code
            yield "efi.vars_template", self.efi.vars_template
            yield "efi.nvram", self.efi.nvram
            yield "efi.secure_code", self.efi.secure_code
            yield "efi.secure_vars_template", self.efi.secure_vars_template


def _frozen(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise ValueError(f"expected a collection of names, not the string {values!r}")
    return frozenset(values)


def _check_launcher_path(name: str, path: str | None) -> None:
    if path is None:
        return
    if not path.startswith("/") or "]]>" in path or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ValueError(f"DomainContext.{name} must be an absolute printable path, not {path!r}")


def random_uuid() -> str:
    """A random (version 4) UUID; the launcher does without the `uuid` module, which brings
    `platform` along."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    return _hyphenated(raw.hex())


def canonical_uuid(value: object) -> str | None:
    """`value` as a lower-case hyphenated UUID when it is one (with or without hyphens, braces or a
    urn:uuid: prefix), else None."""
    text = str(value).strip().lower().removeprefix("urn:uuid:").strip("{}").replace("-", "")
    if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
        return None
    return _hyphenated(text)


def _hyphenated(digits: str) -> str:
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
