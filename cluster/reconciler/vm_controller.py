"""VirtualMachine → VMI: runStrategy and start/stop requests, start-failure back-off, status roll-up."""

from __future__ import annotations

import copy
import logging
import random
from datetime import UTC, datetime, timedelta

from ..client import APIError, resource_path
from .printable_status import printable_status
from .run_strategy import (
    FINAL_PHASES,
    RunStrategyError,
    decide,
    has_start_request,
    run_strategy,
    start_backoff_seconds,
)
from .vmi_controller import set_condition

log = logging.getLogger("kvtui.reconciler")

VM_FINALIZER = "kubevirt.io/virtualMachineControllerFinalize"


def _was_running(vmi: dict | None) -> bool:
    if vmi is None:
        return False
    status = vmi.get("status") or {}
    return status.get("phase") == "Running" or any(
        s.get("phase") == "Running" for s in status.get("phaseTransitionTimestamps") or [])


def vmi_from_template(vm: dict) -> dict:
    template = (vm.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    meta = vm["metadata"]
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(tmeta.get("labels") or {}),
            "annotations": {**(tmeta.get("annotations") or {}),
                            "kubevirt.io/vm-generation": str(meta.get("generation", 1))},
            "finalizers": [VM_FINALIZER],
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


class VMController:
    def __init__(self, reconciler):
        self.r = reconciler

    def _vmi_of(self, vm: dict) -> dict | None:
        vmi = self.r.vmis.get(vm["metadata"]["namespace"], vm["metadata"]["name"])
        if vmi is None:
            return None
        owners = vmi["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == vm["metadata"]["uid"] for o in owners):
            return None   # a VMI of the same name that this VM does not own is left alone
        return vmi

    def sync(self, namespace: str, name: str) -> float | None:
        vm = self.r.vms.get(namespace, name)
        vmi_any = self.r.vmis.get(namespace, name)
        if vm is None:
            if vmi_any is not None:
                self._release_vmi(vmi_any)
            return None
        path = resource_path("kubevirt.io", "v1", "virtualmachines", namespace, name)
        vmi = self._vmi_of(vm)
        meta = vm["metadata"]
        if meta.get("deletionTimestamp"):
            if vmi is not None and not vmi["metadata"].get("deletionTimestamp"):
                self._delete_vmi(vm, vmi)
            if vmi is not None:
                self._release_vmi(vmi)
            elif VM_FINALIZER in (meta.get("finalizers") or []):
                self.r.client.json_patch(path, [
                    {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
                    {"op": "replace", "path": "/metadata/finalizers",
                     "value": [f for f in meta["finalizers"] if f != VM_FINALIZER]}])
            return None
        if VM_FINALIZER not in (meta.get("finalizers") or []):
            self.r.client.json_patch(path, [
                {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
                {"op": "add", "path": "/metadata/finalizers", "value": [*(meta.get("finalizers") or []), VM_FINALIZER]}])
            return None
        status = copy.deepcopy(vm.get("status") or {})
        try:
            strategy = run_strategy(vm)
        except RunStrategyError as exc:
            set_condition(status, "Failure", "True", "InvalidRunStrategy", str(exc))
            self._write_status(vm, status)
            self.r.recorder.warning(vm, "FailedCreate", str(exc))
            return None
        self._sync_start_failure(vm, vmi, status, strategy)
        vm_view = {**vm, "status": status}
        now = datetime.now(UTC)
        decision = decide(vm_view, vmi, now)
        requeue: float | None = None
        if decision.delete_vmi and vmi is not None:
            self._delete_vmi(vm, vmi)
            if decision.add_start_request:
                status["stateChangeRequests"] = [*status.get("stateChangeRequests", []), {"action": "Start"}]
        elif decision.create_vmi:
            vmi = self._create_vmi(vm, status)
        elif decision.switch_to_always:
            patch = {"spec": {"runStrategy": "Always"}} if (vm.get("spec") or {}).get("runStrategy") else \
                {"spec": {"running": True}}
            self.r.client.merge_patch(path, patch)
        elif decision.wait_seconds:
            requeue = decision.wait_seconds
        self._pop_requests(status, vmi)
        status["runStrategy"] = strategy
        self._roll_up(vm, vmi, status)
        self._write_status(vm, status)
        if vmi is not None and vmi["metadata"].get("deletionTimestamp"):
            self._release_vmi(vmi)   # its final state is recorded above
        return requeue

    # -- actions ---------------------------------------------------------------------------

    def _create_vmi(self, vm: dict, status: dict) -> dict | None:
        body = vmi_from_template(vm)
        ns = vm["metadata"]["namespace"]
        try:
            created = self.r.client.create(resource_path("kubevirt.io", "v1", "virtualmachineinstances", ns), body)
        except APIError as exc:
            if exc.status == 409:
                return None   # the old VMI is still going away; its deletion requeues the VM
            set_condition(status, "Failure", "True", "FailedCreate", exc.message)
            self.r.recorder.warning(vm, "FailedCreate", f"Error creating virtual machine instance: {exc.message}")
            raise
        self.r.recorder.normal(vm, "SuccessfulCreate", "Started the virtual machine by creating the new virtual "
                               f"machine instance {created['metadata']['name']}")
        return created

    def _delete_vmi(self, vm: dict, vmi: dict) -> None:
        meta = vmi["metadata"]
        try:
            self.r.client.delete(resource_path("kubevirt.io", "v1", "virtualmachineinstances", meta["namespace"],
                                               meta["name"]), uid=meta["uid"])
        except APIError as exc:
            if exc.status in (404, 409):
                return
            self.r.recorder.warning(vm, "FailedDelete", f"Error deleting virtual machine instance: {exc.message}")
            raise
        self.r.recorder.normal(vm, "SuccessfulDelete", "Stopped the virtual machine by deleting the virtual machine "
                               f"instance {meta['uid']}")

    def _release_vmi(self, vmi: dict) -> None:
        """Once a VMI is going away, drop the VM controller's finalizer from it."""
        meta = vmi["metadata"]
        if VM_FINALIZER not in (meta.get("finalizers") or []) or not meta.get("deletionTimestamp"):
            return   # not going away yet; when the VM is gone the garbage collector deletes it
        path = resource_path("kubevirt.io", "v1", "virtualmachineinstances", meta["namespace"], meta["name"])
        try:
            self.r.client.json_patch(path, [
                {"op": "test", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
                {"op": "replace", "path": "/metadata/finalizers",
                 "value": [f for f in meta["finalizers"] if f != VM_FINALIZER]}])
        except APIError as exc:
            if exc.status not in (404, 422):
                raise

    # -- status ----------------------------------------------------------------------------

    def _pop_requests(self, status: dict, vmi: dict | None) -> None:
        """A Stop request is done once its VMI is gone; a Start request once a new VMI exists."""
        reqs = list(status.get("stateChangeRequests") or [])
        while reqs:
            head = reqs[0]
            if head.get("action") == "Stop":
                uid = head.get("uid")
                if vmi is None or (uid and vmi["metadata"]["uid"] != uid):
                    reqs.pop(0)
                    continue
            elif head.get("action") == "Start":
                if vmi is not None and not vmi["metadata"].get("deletionTimestamp"):
                    reqs.pop(0)
                    continue
            break
        if reqs:
            status["stateChangeRequests"] = reqs
        else:
            status.pop("stateChangeRequests", None)

    def _sync_start_failure(self, vm: dict, vmi: dict | None, status: dict, strategy: str) -> None:
        if _was_running(vmi) or strategy not in ("Always", "RerunOnFailure", "Once"):
            status.pop("startFailure", None)
            return
        if vmi is None or (vmi.get("status") or {}).get("phase") not in FINAL_PHASES:
            return
        failure = status.get("startFailure") or {}
        if failure.get("lastFailedVMIUID") == vmi["metadata"]["uid"]:
            return
        count = failure.get("consecutiveFailCount", 0) + 1
        delay = start_backoff_seconds(count, jitter=random.random())
        retry = datetime.now(UTC) + timedelta(seconds=delay)
        status["startFailure"] = {"consecutiveFailCount": count, "lastFailedVMIUID": vmi["metadata"]["uid"],
                                  "retryAfterTimestamp": retry.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _roll_up(self, vm: dict, vmi: dict | None, status: dict) -> None:
        pod = None
        if vmi is not None:
            pods = self.r.vmi_controller.pods_of(vmi)
            pod = pods[0] if pods else None
        vmi_status = (vmi or {}).get("status") or {}
        conds = {c.get("type"): c for c in vmi_status.get("conditions") or []}
        ready = bool(vmi) and conds.get("Ready", {}).get("status") == "True"
        status["created"] = vmi is not None
        status["ready"] = ready
        status["printableStatus"] = printable_status({**vm, "status": status}, vmi, pod)
        if ready:
            set_condition(status, "Ready", "True")
        else:
            reason = conds.get("Ready", {}).get("reason") or ("VMINotExists" if vmi is None else "NotReady")
            set_condition(status, "Ready", "False", reason,
                          conds.get("Ready", {}).get("message") or ("VMI does not exist" if vmi is None else ""))
        if conds.get("Paused", {}).get("status") == "True":
            paused = conds["Paused"]
            set_condition(status, "Paused", "True", paused.get("reason", "PausedByUser"), paused.get("message", ""))
        else:
            status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "Paused"]
        failure_cond = conds.get("Synchronized")
        if failure_cond and failure_cond.get("status") == "False":
            set_condition(status, "Failure", "True", failure_cond.get("reason", ""), failure_cond.get("message", ""))
        elif vmi is not None and vmi_status.get("phase") not in FINAL_PHASES:
            status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "Failure"]
        status["observedGeneration"] = vm["metadata"].get("generation", 1)
        status["desiredGeneration"] = vm["metadata"].get("generation", 1)

    def _write_status(self, vm: dict, status: dict) -> None:
        if status == (vm.get("status") or {}):
            return
        body = copy.deepcopy(vm)
        body["status"] = status
        path = resource_path("kubevirt.io", "v1", "virtualmachines", vm["metadata"]["namespace"],
                             vm["metadata"]["name"], "status")
        self.r.client.replace(path, body)

    def has_pending_start(self, vm: dict) -> bool:
        return has_start_request(vm)
