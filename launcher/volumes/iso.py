"""ISO 9660 disks built in-process (pycdlib) for data the guest reads at boot: cloud-init NoCloud
(`cidata`) and ConfigDrive (`config-2`) seeds, and configMap / secret volumes.

File names are carried by Rock Ridge (what Linux reads) and Joliet (what Windows reads); the
plain ISO 9660 names are generated (`F0001.;1`) because ISO 9660 cannot spell `user-data`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pycdlib

JOLIET_MAX = 64


def write_iso(path: Path, label: str, files: Mapping[str, bytes]) -> None:
    """`files` maps paths inside the ISO ("openstack/latest/user_data") to their content."""
    import pycdlib  # here, not at the top: only VMIs with cloud-init or config disks pay for it

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    directories: dict[str, str] = {"": ""}
    for number, (name, data) in enumerate(sorted(files.items()), start=1):
        parent, _, base = name.rpartition("/")
        iso_parent = _directory(iso, directories, parent)
        joliet = f"/{name}" if all(len(p) <= JOLIET_MAX for p in name.split("/")) else None
        iso.add_fp(io.BytesIO(data), len(data), f"{iso_parent}/F{number:04d}.;1", rr_name=base,
                   joliet_path=joliet)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    iso.write(str(tmp))
    iso.close()
    tmp.replace(path)


def _directory(iso: pycdlib.PyCdlib, directories: dict[str, str], path: str) -> str:
    """The ISO 9660 path of directory `path`, creating it (and its parents) on first use."""
    if path in directories:
        return directories[path]
    parent, _, base = path.rpartition("/")
    iso_parent = _directory(iso, directories, parent)
    iso_path = f"{iso_parent}/D{len(directories):04d}"
    iso.add_directory(iso_path, rr_name=base, joliet_path=f"/{path}")
    directories[path] = iso_path
    return iso_path
