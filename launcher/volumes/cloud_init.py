"""Volumes rendered as ISO disks: cloud-init NoCloud and ConfigDrive seeds, configMap and secret.

NoCloud (label `cidata`): `user-data`, `meta-data` (instance-id, local-hostname) and, when given,
`network-config`. ConfigDrive (label `config-2`): `openstack/latest/{user_data, meta_data.json,
network_data.json}`. User data comes from `userData`, `userDataBase64` or the Secret named by
`secretRef` (key `userdata` or `userData`); network data likewise (`networkdata`/`networkData`).
A configMap or secret volume is an ISO with one file per key (labels `cfgdata` / `secdata`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from launcher.domain import DiskImage, SpecError
from launcher.domain.errors import as_mapping, quoted, reject_unsupported, xml_text
from launcher.volumes.iso import write_iso

if TYPE_CHECKING:
    from launcher.volumes import ObjectReader, VolumeSources

CLOUD_INIT_FIELDS = ("userData", "userDataBase64", "secretRef", "networkData", "networkDataBase64",
                     "networkDataSecretRef")
USER_DATA_KEYS = ("userdata", "userData")
NETWORK_DATA_KEYS = ("networkdata", "networkData")


class ObjectNotFound(Exception):
    """Raised by an ObjectReader when the Secret or ConfigMap does not exist."""


def no_cloud(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
             vmi: Mapping[str, Any]) -> DiskImage:
    user_data, network_data = _cloud_init_data(spec, field, sources)
    meta = f"instance-id: {_instance_id(vmi)}\nlocal-hostname: {_hostname(vmi)}\n"
    files = {"user-data": user_data, "meta-data": meta.encode()}
    if network_data is not None:
        files["network-config"] = network_data
    return _iso(sources, name, "cidata", files)


def config_drive(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
                 vmi: Mapping[str, Any]) -> DiskImage:
    user_data, network_data = _cloud_init_data(spec, field, sources)
    meta = {"uuid": _instance_id(vmi), "hostname": _hostname(vmi), "name": _hostname(vmi)}
    files = {"openstack/latest/user_data": user_data,
             "openstack/latest/meta_data.json": json.dumps(meta).encode()}
    if network_data is not None:
        files["openstack/latest/network_data.json"] = network_data
    return _iso(sources, name, "config-2", files)


def config_map(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
               vmi: Mapping[str, Any]) -> DiskImage:
    reject_unsupported(spec, field, ("name",))
    data = _read(sources.read_config_map, "ConfigMap", spec.get("name"), f"{field}.name")
    return _iso(sources, name, "cfgdata", dict(data))


def secret(spec: Mapping[str, Any], field: str, name: str, sources: VolumeSources,
           vmi: Mapping[str, Any]) -> DiskImage:
    reject_unsupported(spec, field, ("secretName",))
    data = _read(sources.read_secret, "Secret", spec.get("secretName"), f"{field}.secretName")
    return _iso(sources, name, "secdata", dict(data))


def _iso(sources: VolumeSources, name: str, label: str, files: dict[str, bytes]) -> DiskImage:
    path = sources.state_dir / "volumes" / f"{name}.iso"
    write_iso(path, label, files)
    return DiskImage(str(path), "raw")


def _cloud_init_data(spec: Mapping[str, Any], field: str, sources: VolumeSources) -> tuple[bytes, bytes | None]:
    reject_unsupported(spec, field, CLOUD_INIT_FIELDS)
    user = _one_source(spec, field, "userData", "userDataBase64", "secretRef", USER_DATA_KEYS, sources)
    network = _one_source(spec, field, "networkData", "networkDataBase64", "networkDataSecretRef",
                          NETWORK_DATA_KEYS, sources)
    if user is None and network is None:
        raise SpecError(field, "needs userData, userDataBase64 or secretRef (or network data)")
    return user if user is not None else b"", network


def _one_source(spec: Mapping[str, Any], field: str, plain: str, encoded: str, ref: str,
                keys: tuple[str, ...], sources: VolumeSources) -> bytes | None:
    given = [k for k in (plain, encoded, ref) if spec.get(k) not in (None, "")]
    if len(given) > 1:
        raise SpecError(f"{field}.{given[1]}", f"set only one of {plain}, {encoded} or {ref}")
    if not given:
        return None
    key = given[0]
    if key == plain:
        text = spec[plain]
        if not isinstance(text, str):
            raise SpecError(f"{field}.{plain}", f"must be a string, not {quoted(text)}")
        return text.encode()
    if key == encoded:
        try:
            return base64.b64decode(str(spec[encoded]), validate=True)
        except (binascii.Error, ValueError):
            raise SpecError(f"{field}.{encoded}", "is not valid base64: encode the data with 'base64 -w0'") from None
    ref_field = f"{field}.{ref}"
    reference = as_mapping(spec[ref], ref_field)
    reject_unsupported(reference, ref_field, ("name",))
    data = _read(sources.read_secret, "Secret", reference.get("name"), f"{ref_field}.name")
    for candidate in keys:
        if candidate in data:
            return data[candidate]
    raise SpecError(f"{ref_field}.name", f"Secret {quoted(reference.get('name'))} has no key "
                                         f"{' or '.join(quoted(k) for k in keys)}: add one")


def _read(reader: ObjectReader | None, kind: str, name: object, field: str) -> Mapping[str, bytes]:
    object_name = xml_text(name if name is not None else "", field)
    if not object_name:
        raise SpecError(field, f"required: the name of the {kind}")
    if reader is None:
        raise SpecError(field, f"reading {kind} {quoted(object_name)} needs the API server: run the launcher "
                               "with --kubeconfig or in a pod, or inline the data")
    try:
        return reader(object_name)
    except ObjectNotFound:
        raise SpecError(field, f"{kind} {quoted(object_name)} not found in the VMI's namespace: create it") from None


def _instance_id(vmi: Mapping[str, Any]) -> str:
    meta = as_mapping(vmi.get("metadata"), "metadata")
    return str(meta.get("uid") or f"{meta.get('namespace') or 'default'}.{meta.get('name')}")


def _hostname(vmi: Mapping[str, Any]) -> str:
    spec = as_mapping(vmi.get("spec"), "spec")
    meta = as_mapping(vmi.get("metadata"), "metadata")
    # YAML-safe by construction: Kubernetes names and hostnames are [a-z0-9.-].
    host = str(spec.get("hostname") or meta.get("name") or "localhost")
    return "".join(c for c in host if c.isalnum() or c in "-.")[:63] or "localhost"
