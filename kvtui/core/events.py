"""Events of one VM: those of the VM, its VMI and its launcher pod, merged in time order."""

from __future__ import annotations

from cluster.client import Client, resource_path

from .rows import event_time, parse_time


def involves(event: dict, objects: list[dict]) -> bool:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        if involved.get("uid") and involved.get("uid") == meta.get("uid"):
            return True
        if not involved.get("uid") and involved.get("kind") == obj.get("kind") and \
                involved.get("name") == meta.get("name"):
            return True
    return False


def merge_events(events: list[dict], objects: list[dict]) -> list[dict]:
    """The events about any of `objects`, oldest first (ties keep the API's order)."""
    mine = [e for e in events if involves(e, objects)]

    def when(event: dict) -> float:
        stamp = parse_time(event_time(event))
        return stamp.timestamp() if stamp else 0.0

    return sorted(mine, key=when)


def list_events(client: Client, namespace: str) -> list[dict]:
    return client.get(resource_path("", "v1", "events", namespace)).get("items") or []


def events_for(client: Client, namespace: str, objects: list[dict | None]) -> list[dict]:
    present = [o for o in objects if o]
    return merge_events(list_events(client, namespace), present)
