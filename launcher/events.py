"""The Kubernetes events the launcher records on its VMI, with KubeVirt's reasons and messages
(virt-handler's: Created, Started, ShuttingDown, Deleted, Stopped, SyncFailed, Paused, Resumed)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


DEFINED = Event("Normal", "Created", "VirtualMachineInstance defined.")
STARTED = Event("Normal", "Started", "VirtualMachineInstance started.")
SHUTTING_DOWN = Event("Normal", "ShuttingDown", "Signaled Graceful Shutdown")
KILLING = Event("Normal", "Deleted", "VirtualMachineInstance stopping")
STOPPED = Event("Normal", "Stopped", "The VirtualMachineInstance was shut down.")
PAUSED = Event("Normal", "Paused", "VirtualMachineInstance paused")
RESUMED = Event("Normal", "Resumed", "VirtualMachineInstance unpaused")
SOFT_REBOOTED = Event("Normal", "SoftRebooted", "VirtualMachineInstance soft rebooted")
RESET = Event("Normal", "Reset", "VirtualMachineInstance reset")


def crashed(detail: str) -> Event:
    return Event("Warning", "Stopped", f"The VirtualMachineInstance crashed: {detail}")


def sync_failed(message: str) -> Event:
    return Event("Warning", "SyncFailed", message)
