"""The imperative verbs served by a VM's launcher (pause, unpause, soft reboot, reset, shutdown,
guest info), spoken as HTTP over a socket from `console_transport`."""

from __future__ import annotations

import http.client
import json

from cluster.client import Client, resource_path

from .console_transport import Endpoint, PortForwardEndpoint, TransportError

VERBS = {"pause": "/pause", "unpause": "/unpause", "soft_reboot": "/soft-reboot", "reset": "/reset",
         "shutdown": "/shutdown"}


class LauncherError(Exception):
    """The launcher refused or could not be reached; the message says why and what to do."""


def launcher_pod(client: Client, namespace: str, vm: str) -> dict:
    """The running launcher pod of VM `vm` (the VMI has the VM's name)."""
    pods = client.request("GET", resource_path("", "v1", "pods", namespace),
                          query={"labelSelector": f"kubevirt.io=virt-launcher,vm.kubevirt.io/name={vm}"})
    running = [p for p in pods.get("items") or [] if (p.get("status") or {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp")]
    if not running:
        raise LauncherError(f'VirtualMachine "{namespace}/{vm}" has no running launcher pod: start the VM and wait '
                            "until it is Running")
    return max(running, key=lambda p: p["metadata"].get("creationTimestamp", ""))


def endpoint_for_vm(client: Client, namespace: str, vm: str) -> PortForwardEndpoint:
    return PortForwardEndpoint(client, namespace, launcher_pod(client, namespace, vm)["metadata"]["name"])


def _call(endpoint: Endpoint, method: str, path: str, what: str) -> dict:
    try:
        sock = endpoint.open_socket()
    except TransportError as exc:
        raise LauncherError(f"{what}: {exc}") from None
    conn = http.client.HTTPConnection("launcher", timeout=30)
    conn.sock = sock
    headers = {"Authorization": f"Bearer {endpoint.token}"} if endpoint.token else {}
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise LauncherError(f"{what}: the launcher at {endpoint.describe()} did not answer ({exc}); "
                            "check the launcher pod's logs") from None
    finally:
        conn.close()
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        data = {"message": body.decode(errors="replace")}
    if resp.status >= 400:
        raise LauncherError(f"{what}: {data.get('message') or resp.reason}")
    return data


def act(endpoint: Endpoint, verb: str, vm: str = "") -> str:
    """Run `verb` (pause, unpause, soft_reboot, reset, shutdown); returns the launcher's message."""
    if verb not in VERBS:
        raise ValueError(f"unknown launcher verb {verb!r}; use one of {', '.join(VERBS)}")
    label = verb.replace("_", " ")
    data = _call(endpoint, "POST", VERBS[verb], f'cannot {label} VirtualMachine "{vm}"' if vm else f"cannot {label}")
    return data.get("message") or f"VM {vm} {label} requested"


def guest_info(endpoint: Endpoint, vm: str = "") -> dict:
    return _call(endpoint, "GET", "/guest-info", f'no guest info for VirtualMachine "{vm}"')
