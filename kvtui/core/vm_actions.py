"""Start, stop and restart with KubeVirt's semantics: patches of `spec.runStrategy` or requests
queued in `status.stateChangeRequests`, guarded by JSON-patch `test` operations so two clients
cannot queue conflicting requests."""

from __future__ import annotations

from cluster.client import APIError, Client, resource_path

GROUP, VERSION = "kubevirt.io", "v1"


class ActionError(Exception):
    """The action is not possible in the VM's state; the message says why and what to do."""


def _vm_path(namespace: str, name: str, sub: str | None = None) -> str:
    return resource_path(GROUP, VERSION, "virtualmachines", namespace, name, sub)


def _vmi_path(namespace: str, name: str) -> str:
    return resource_path(GROUP, VERSION, "virtualmachineinstances", namespace, name)


def _get(client: Client, path: str, what: str) -> dict:
    try:
        return client.get(path)
    except APIError as exc:
        if exc.status == 404:
            raise ActionError(f"{what} not found") from None
        raise


def _vmi(client: Client, namespace: str, name: str) -> dict | None:
    try:
        return client.get(_vmi_path(namespace, name))
    except APIError as exc:
        if exc.status == 404:
            return None
        raise


def _strategy(vm: dict) -> str:
    spec = vm.get("spec") or {}
    if spec.get("runStrategy"):
        return spec["runStrategy"]
    return "Always" if spec.get("running") else "Halted"


def _set_strategy(client: Client, vm: dict, strategy: str) -> None:
    meta = vm["metadata"]
    spec = vm.get("spec") or {}
    if "running" in spec and "runStrategy" not in spec:
        patch = [{"op": "replace", "path": "/spec/running", "value": strategy != "Halted"}]
    else:
        patch = [{"op": "add", "path": "/spec/runStrategy", "value": strategy}]
    client.json_patch(_vm_path(meta["namespace"], meta["name"]),
                      [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}, *patch])


def _queue(client: Client, vm: dict, requests: list[dict]) -> None:
    meta = vm["metadata"]
    current = (vm.get("status") or {}).get("stateChangeRequests")
    if current:
        raise ActionError(f'VirtualMachine "{meta["name"]}": a {current[0].get("action", "").lower()} is already '
                          "underway; wait for it to finish")
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]}]
    if vm.get("status") is None:
        ops.append({"op": "add", "path": "/status", "value": {}})
    ops.append({"op": "add", "path": "/status/stateChangeRequests", "value": requests})
    try:
        client.json_patch(_vm_path(meta["namespace"], meta["name"], "status"), ops)
    except APIError as exc:
        if exc.status in (409, 422):
            raise ActionError(f'VirtualMachine "{meta["name"]}" changed meanwhile; try again') from None
        raise


def _running(vmi: dict | None) -> bool:
    return vmi is not None and not vmi["metadata"].get("deletionTimestamp") and \
        (vmi.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def start(client: Client, namespace: str, name: str) -> str:
    vm = _get(client, _vm_path(namespace, name), f'VirtualMachine "{name}" in namespace "{namespace}"')
    vmi = _vmi(client, namespace, name)
    strategy = _strategy(vm)
    if strategy == "Halted":
        _set_strategy(client, vm, "Always")
        return f"VM {name} was scheduled to start"
    if strategy in ("Always", "Once"):
        if _running(vmi):
            raise ActionError(f'VirtualMachine "{name}" is already running')
        raise ActionError(f'VirtualMachine "{name}": runStrategy {strategy} does not support manual start requests; '
                          "it starts on its own")
    if _running(vmi):
        raise ActionError(f'VirtualMachine "{name}" is already running')
    if strategy == "RerunOnFailure" and vmi is not None and (vmi.get("status") or {}).get("phase") == "Failed":
        raise ActionError(f'VirtualMachine "{name}": RerunOnFailure does not support starting VM from failed state')
    _queue(client, vm, [{"action": "Start"}])
    return f"VM {name} was scheduled to start"


def stop(client: Client, namespace: str, name: str, *, grace_period: int | None = None, force: bool = False) -> str:
    vm = _get(client, _vm_path(namespace, name), f'VirtualMachine "{name}" in namespace "{namespace}"')
    vmi = _vmi(client, namespace, name)
    strategy = _strategy(vm)
    if force and grace_period is None:
        grace_period = 0
    if vmi is not None and grace_period is not None:
        client.merge_patch(_vmi_path(namespace, name), {"spec": {"terminationGracePeriodSeconds": grace_period}})
    if strategy == "Halted":
        if vmi is None:
            raise ActionError(f'VirtualMachine "{name}" is not running')
        if grace_period is None:
            raise ActionError(f'VirtualMachine "{name}" is already stopping; use --force or --grace-period to '
                              "shorten the wait")
        return f"VM {name} was scheduled to stop"
    if strategy in ("Always", "Once"):
        _set_strategy(client, vm, "Halted")
    else:
        if not _running(vmi):
            raise ActionError(f'VirtualMachine "{name}" is not running')
        _queue(client, vm, [{"action": "Stop", "uid": vmi["metadata"]["uid"]}])   # type: ignore[index]
    if force and vmi is not None:
        try:   # as virtctl --force: the VMI goes at once, without waiting for the guest
            client.delete(_vmi_path(namespace, name), grace=0, uid=vmi["metadata"]["uid"])
        except APIError as exc:
            if exc.status != 404:
                raise
    return f"VM {name} was scheduled to stop"


def restart(client: Client, namespace: str, name: str, *, grace_period: int | None = None,
            force: bool = False) -> str:
    vm = _get(client, _vm_path(namespace, name), f'VirtualMachine "{name}" in namespace "{namespace}"')
    vmi = _vmi(client, namespace, name)
    strategy = _strategy(vm)
    if strategy in ("Halted", "Once"):
        raise ActionError(f'VirtualMachine "{name}": runStrategy {strategy} does not support restart; '
                          "use start" if strategy == "Halted" else f'VirtualMachine "{name}": runStrategy Once '
                          "does not support restart")
    if vmi is None:
        raise ActionError(f'VirtualMachine "{name}" is not running; use start')
    if force and grace_period is None:
        grace_period = 1
    if grace_period is not None:
        client.merge_patch(_vmi_path(namespace, name), {"spec": {"terminationGracePeriodSeconds": grace_period}})
    _queue(client, vm, [{"action": "Stop", "uid": vmi["metadata"]["uid"]}, {"action": "Start"}])
    return f"VM {name} was scheduled to restart"
