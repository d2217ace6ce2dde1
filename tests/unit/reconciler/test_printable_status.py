"""printableStatus: KubeVirt's ordered checks, first match wins."""

from __future__ import annotations

from cluster.reconciler.printable_status import printable_status


def vm(strategy="Always", deleting=False, failures=0):
    meta = {"name": "v", "uid": "u"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"startFailure": {"consecutiveFailCount": failures}} if failures else {}
    return {"metadata": meta, "spec": {"runStrategy": strategy}, "status": status}


def vmi(phase="Running", paused=False, deleting=False):
    meta = {"name": "v", "uid": "i"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    conditions = [{"type": "Paused", "status": "True"}] if paused else []
    return {"metadata": meta, "status": {"phase": phase, "conditions": conditions}}


def pod(waiting=None, unschedulable=False):
    status = {}
    if waiting:
        status["containerStatuses"] = [{"name": "compute", "state": {"waiting": {"reason": waiting}}}]
    if unschedulable:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    return {"metadata": {"name": "p"}, "status": status}


def test_order_of_checks():
    assert printable_status(vm(deleting=True), vmi(), None) == "Terminating"
    assert printable_status(vm(), vmi(deleting=True), None) == "Stopping"
    assert printable_status(vm("Halted"), vmi(), None) == "Stopping"
    assert printable_status(vm(), vmi(paused=True), None) == "Paused"
    assert printable_status(vm(), vmi(), None) == "Running"
    assert printable_status(vm(), vmi("Scheduling"), pod(unschedulable=True)) == "ErrorUnschedulable"
    assert printable_status(vm(), vmi("Scheduling"), pod(waiting="ImageNotLocal")) == "ErrImagePull"
    assert printable_status(vm(), vmi("Scheduling"), pod(waiting="ImagePullBackOff")) == "ImagePullBackOff"
    assert printable_status(vm(), vmi("Pending"), None) == "Starting"
    assert printable_status(vm(failures=2), None, None) == "CrashLoopBackOff"
    assert printable_status(vm("Halted"), None, None) == "Stopped"
    assert printable_status(vm(), vmi("Succeeded"), None) == "Stopped"
