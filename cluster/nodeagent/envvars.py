"""A container's environment as the kubelet builds it: image defaults, envFrom, env (with
`$(VAR)` references, configMap/secret keys and the downward API), and the service variables
that in-cluster clients read (KUBERNETES_SERVICE_HOST/PORT)."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.utils.quantity import parse_quantity

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """The container cannot be configured (CreateContainerConfigError); the message says why."""


@dataclass
class PodFacts:
    """What the downward API can tell a container besides the pod object itself."""

    pod_ip: str = ""
    host_ip: str = ""
    node_allocatable: Mapping[str, Any] | None = None


# Reads a ConfigMap or Secret: (kind, namespace, name) → the object, or None when it does not exist.
Lookup = Callable[[str, str, str], dict | None]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, others kept, `$$` is a literal `$`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env[name] if name in env else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def field_value(pod: Mapping[str, Any], path: str, facts: PodFacts) -> str:
    """The value of a downward-API fieldRef."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": facts.pod_ip, "status.podIPs": facts.pod_ip,
        "status.hostIP": facts.host_ip, "status.hostIPs": facts.host_ip,
    }
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.(labels|annotations)(?:\['(.+)'\])?", path)
    if match:
        values = meta.get(match.group(1)) or {}
        if match.group(2) is not None:
            return values.get(match.group(2), "")
        return "\n".join(f'{k}="{_escape(v)}"' for k, v in sorted(values.items()))
    raise ConfigError(f'unsupported fieldRef fieldPath "{path}": use metadata.name, metadata.namespace, '
                      "metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, "
                      "spec.serviceAccountName, status.podIP or status.hostIP")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def resource_value(pod: Mapping[str, Any], container_name: str, ref: Mapping[str, Any], facts: PodFacts) -> str:
    """A resourceFieldRef: the container's limit or request divided by the divisor, rounded up; an
    unset limit reads as the node's allocatable amount, as the kubelet reports it."""
    name = ref.get("containerName") or container_name
    containers = (pod.get("spec") or {}).get("containers") or []
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise ConfigError(f'resourceFieldRef names container "{name}", which is not in the pod')
    kind, _, resource = (ref.get("resource") or "").partition(".")
    if kind not in ("limits", "requests") or resource not in ("cpu", "memory", "ephemeral-storage"):
        raise ConfigError(f'unsupported resourceFieldRef resource "{ref.get("resource")}": use limits.cpu, '
                          "limits.memory, requests.cpu or requests.memory")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(resource)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(resource)
    if value is None:
        value = (facts.node_allocatable or {}).get(resource, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(max(1 if parse_quantity(value) > 0 else 0, math.ceil(parse_quantity(value) / divisor)))


def _data_of(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    if kind == "Secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def _key_ref(kind: str, ref: Mapping[str, Any], namespace: str, lookup: Lookup) -> str | None:
    name, key = ref.get("name", ""), ref.get("key", "")
    obj = lookup(kind, namespace, name)
    if obj is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    data = _data_of(kind, obj)
    if key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key]


def service_env(host: str, port: int) -> dict[str, str]:
    """The variables of the `kubernetes` Service, as every pod on a cluster gets them."""
    return {
        "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port), "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}", f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port), f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }


def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], *, facts: PodFacts, lookup: Lookup,
                  image_env: Mapping[str, str], services: Mapping[str, str]) -> dict[str, str]:
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": (pod.get("metadata") or {}).get("name", ""),
                           **image_env}
    defined: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind, ref = ("ConfigMap", source["configMapRef"]) if source.get("configMapRef") else (
            ("Secret", source["secretRef"]) if source.get("secretRef") else (None, None))
        if kind is None or ref is None:
            continue
        obj = lookup(kind, namespace, ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
        for key, value in _data_of(kind, obj).items():
            name = (source.get("prefix") or "") + key
            if _ENV_NAME.match(name):  # the kubelet skips keys that are not valid variable names
                defined[name] = value
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "value" in var or not var.get("valueFrom"):
            defined[name] = expand(str(var.get("value") or ""), {**services, **defined})
            continue
        value_from = var["valueFrom"]
        if value_from.get("fieldRef"):
            defined[name] = field_value(pod, value_from["fieldRef"].get("fieldPath", ""), facts)
        elif value_from.get("resourceFieldRef"):
            defined[name] = resource_value(pod, container.get("name", ""), value_from["resourceFieldRef"], facts)
        elif value_from.get("configMapKeyRef") or value_from.get("secretKeyRef"):
            kind = "ConfigMap" if value_from.get("configMapKeyRef") else "Secret"
            value = _key_ref(kind, value_from.get("configMapKeyRef") or value_from["secretKeyRef"], namespace,
                             lookup)
            if value is not None:
                defined[name] = value
    for name, value in services.items():
        defined.setdefault(name, value)
    env.update(defined)
    return env
