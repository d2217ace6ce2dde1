"""Pod volumes made real on the node: each becomes a directory (or, for hostPath, a host path) that
the container monitor binds at the container's mountPath.

Supported: emptyDir, hostPath, configMap, secret, downwardAPI and projected (serviceAccountToken,
configMap, secret, downwardAPI). Pods that do not opt out get the service-account volume the API
server's admission would add on a real cluster, so in-cluster configuration works.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .envvars import ConfigError, Lookup, PodFacts, field_value, resource_value

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_VOLUME = "kube-api-access-kvtui"
DEFAULT_TOKEN_SECONDS = 3607


class VolumeError(Exception):
    """A volume cannot be set up (the kubelet's FailedMount); the message names volume and cause."""


@dataclass
class Mount:
    source: str
    target: str
    read_only: bool

    def as_spec(self) -> dict:
        return {"source": self.source, "target": self.target, "readOnly": self.read_only}


# Issues a service-account token for the pod: (namespace, service account, pod, audience, seconds) → token.
TokenIssuer = Callable[[str, str, Mapping[str, Any], str | None, int], str]


def with_service_account_volume(pod: Mapping[str, Any]) -> tuple[list[dict], dict[str, list[dict]]]:
    """The pod's volumes and each container's mounts, plus the service-account volume when the pod
    wants it and no container mounts something there already."""
    spec = pod.get("spec") or {}
    volumes = list(spec.get("volumes") or [])
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    mounts = {c["name"]: list(c.get("volumeMounts") or []) for c in containers}
    if spec.get("automountServiceAccountToken") is False:
        return volumes, mounts
    if any(v.get("name", "").startswith("kube-api-access-") for v in volumes):
        return volumes, mounts  # the API server's admission added it already
    volumes.append({"name": SERVICE_ACCOUNT_VOLUME, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": DEFAULT_TOKEN_SECONDS}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}})
    for container_mounts in mounts.values():
        if not any(m.get("mountPath", "").rstrip("/") == SERVICE_ACCOUNT_DIR for m in container_mounts):
            container_mounts.append({"name": SERVICE_ACCOUNT_VOLUME, "mountPath": SERVICE_ACCOUNT_DIR,
                                     "readOnly": True})
    return volumes, mounts


def _write_file(directory: Path, relative: str, data: bytes, mode: int) -> None:
    if relative.startswith("/") or ".." in Path(relative).parts:
        raise VolumeError(f'item path "{relative}" must be relative and may not contain ".."')
    target = directory / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(data)
    os.chmod(temporary, mode)
    os.replace(temporary, target)


class VolumeBuilder:
    """Materialises one pod's volumes under `pod_dir/_volumes/<name>`."""

    def __init__(self, pod: Mapping[str, Any], pod_dir: Path, facts: PodFacts, lookup: Lookup,
                 issue_token: TokenIssuer, fallback_ca: Callable[[], bytes]):
        self.pod = pod
        self.namespace = pod["metadata"]["namespace"]
        self.root = pod_dir / "_volumes"
        self.facts = facts
        self.lookup = lookup
        self.issue_token = issue_token
        self.fallback_ca = fallback_ca

    def build(self, volumes: list[dict]) -> dict[str, Path]:
        paths = {}
        for volume in volumes:
            name = volume.get("name", "")
            try:
                paths[name] = self._build(volume)
            except (ConfigError, VolumeError, OSError) as exc:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
        return paths

    def _fresh_dir(self, name: str) -> Path:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _build(self, volume: Mapping[str, Any]) -> Path:
        name = volume["name"]
        if "emptyDir" in volume:
            return self._fresh_dir(name)
        if "hostPath" in volume:
            return _host_path(volume["hostPath"])
        if "configMap" in volume or "secret" in volume:
            directory = self._fresh_dir(name)
            source = volume.get("configMap") or volume.get("secret") or {}
            kind = "ConfigMap" if "configMap" in volume else "Secret"
            self._write_keys(directory, kind, source.get("name") or source.get("secretName", ""), source,
                             source.get("defaultMode", 0o644))
            return directory
        if "downwardAPI" in volume:
            directory = self._fresh_dir(name)
            source = volume["downwardAPI"]
            self._write_downward(directory, source.get("items") or [], source.get("defaultMode", 0o644))
            return directory
        if "projected" in volume:
            directory = self._fresh_dir(name)
            self._write_projected(directory, volume["projected"])
            return directory
        kinds = sorted(k for k in volume if k != "name")
        raise VolumeError(f"volume type {', '.join(kinds) or '(none)'} is not supported by the kvtui node agent: "
                          "use emptyDir, hostPath, configMap, secret, downwardAPI or projected")

    def _write_keys(self, directory: Path, kind: str, name: str, source: Mapping[str, Any], default_mode: int,
                    lenient: bool = False) -> None:
        obj = self.lookup(kind, self.namespace, name)
        if obj is None and name == "kube-root-ca.crt" and lenient:
            obj = {"data": {"ca.crt": self.fallback_ca().decode()}}
        if obj is None:
            if source.get("optional"):
                return
            raise VolumeError(f'{kind.lower()} "{name}" not found')
        data: dict[str, bytes] = {}
        if kind == "Secret":
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        else:
            data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        items = source.get("items")
        if items:
            for item in items:
                if item.get("key") not in data:
                    if source.get("optional"):
                        continue
                    raise VolumeError(f"configmap references non-existent config key: {item.get('key')}"
                                      if kind == "ConfigMap" else
                                      f"references non-existent secret key: {item.get('key')}")
                _write_file(directory, item.get("path") or item["key"], data[item["key"]],
                            item.get("mode", default_mode))
        else:
            for key, value in data.items():
                _write_file(directory, key, value, default_mode)

    def _write_downward(self, directory: Path, items: list[Mapping[str, Any]], default_mode: int) -> None:
        for item in items:
            if item.get("fieldRef"):
                value = field_value(self.pod, item["fieldRef"].get("fieldPath", ""), self.facts)
            elif item.get("resourceFieldRef"):
                value = resource_value(self.pod, "", item["resourceFieldRef"], self.facts)
            else:
                raise VolumeError(f'downwardAPI item "{item.get("path")}" needs a fieldRef or a resourceFieldRef')
            _write_file(directory, item.get("path", ""), value.encode(), item.get("mode", default_mode))

    def _write_projected(self, directory: Path, projected: Mapping[str, Any]) -> None:
        mode = projected.get("defaultMode", 0o644)
        spec = self.pod.get("spec") or {}
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                ref = source["serviceAccountToken"]
                token = self.issue_token(self.namespace, spec.get("serviceAccountName") or "default", self.pod,
                                         ref.get("audience"), int(ref.get("expirationSeconds") or 3600))
                _write_file(directory, ref.get("path", "token"), token.encode(), mode)
            elif "configMap" in source:
                ref = source["configMap"]
                self._write_keys(directory, "ConfigMap", ref.get("name", ""), ref, mode, lenient=True)
            elif "secret" in source:
                ref = source["secret"]
                self._write_keys(directory, "Secret", ref.get("name", ""), ref, mode)
            elif "downwardAPI" in source:
                self._write_downward(directory, source["downwardAPI"].get("items") or [], mode)


def _host_path(source: Mapping[str, Any]) -> Path:
    path = Path(source.get("path", ""))
    kind = source.get("type") or ""
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
    elif kind == "FileOrCreate":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o644, exist_ok=True)
    checks: dict[str, tuple[Callable[[int], bool], str]] = {
        "Directory": (stat.S_ISDIR, "directory"), "DirectoryOrCreate": (stat.S_ISDIR, "directory"),
        "File": (stat.S_ISREG, "file"), "FileOrCreate": (stat.S_ISREG, "file"),
        "Socket": (stat.S_ISSOCK, "socket"), "CharDevice": (stat.S_ISCHR, "character device"),
        "BlockDevice": (stat.S_ISBLK, "block device"),
    }
    if kind in checks:
        test, word = checks[kind]
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise VolumeError(f"hostPath type check failed: {path} is not a {word}") from None
        if not test(mode):
            raise VolumeError(f"hostPath type check failed: {path} is not a {word}")
    elif kind not in ("",):
        raise VolumeError(f'hostPath type "{kind}" is unknown: use Directory, DirectoryOrCreate, File, '
                          "FileOrCreate, Socket, CharDevice or BlockDevice")
    elif not path.exists():
        # Without a type the kubelet mounts whatever is there; a missing path becomes a directory, as Docker did.
        path.mkdir(parents=True, exist_ok=True)
    return path


def container_mounts(container_name: str, mounts: Mapping[str, list[dict]], paths: Mapping[str, Path]) -> list[Mount]:
    result = []
    for mount in mounts.get(container_name) or []:
        name = mount.get("name", "")
        if name not in paths:
            raise VolumeError(f'container "{container_name}" mounts volume "{name}", which the pod does not '
                              "define in spec.volumes")
        source = paths[name]
        if mount.get("subPath"):
            source = source / mount["subPath"]
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)  # the kubelet creates missing subPaths as directories
        result.append(Mount(str(source), mount.get("mountPath", ""), bool(mount.get("readOnly"))))
    return result


def remove_pod_volumes(pod_dir: Path) -> None:
    shutil.rmtree(pod_dir / "_volumes", ignore_errors=True)
