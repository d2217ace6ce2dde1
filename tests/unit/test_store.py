"""The kine-style store: one global revision, a durable log, compaction, in-process fan-out."""

from __future__ import annotations

import pytest

from cluster.apiserver.store import ADDED, DELETED, MODIFIED, CompactedError, Store


def _obj(name: str, rv: int, **data) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}, "data": data}


def test_revisions_are_global_and_survive_reopen(tmp_path):
    store = Store(tmp_path / "db")
    store.put("configmaps", "ns", "a", _obj("a", 1), created=True)
    store.put("secrets", "ns", "b", _obj("b", 2), created=True)
    store.put("configmaps", "ns", "a", _obj("a", 3, x="1"), created=False)
    assert store.revision == 3
    store.close()
    again = Store(tmp_path / "db")
    assert again.revision == 3
    assert again.get("configmaps", "ns", "a").obj["data"] == {"x": "1"}
    assert again.get("configmaps", "ns", "a").rv == 3
    assert [s.obj["metadata"]["name"] for s in again.list("secrets")] == ["b"]
    assert again.next_revision() == 4


def test_changes_since_replays_with_previous_state(tmp_path):
    store = Store(tmp_path / "db")
    store.put("configmaps", "ns", "a", _obj("a", 1), created=True)
    store.put("configmaps", "ns", "a", _obj("a", 2, k="v"), created=False)
    store.delete("configmaps", "ns", "a", _obj("a", 3, k="v"))
    changes = list(store.changes_since("configmaps", 0))
    assert [(c.rv, c.type) for c in changes] == [(1, ADDED), (2, MODIFIED), (3, DELETED)]
    assert changes[1].previous["data"] == {}
    assert store.get("configmaps", "ns", "a") is None
    assert list(store.changes_since("configmaps", 2))[0].type == DELETED


def test_compaction_floor_rejects_old_revisions(tmp_path):
    store = Store(tmp_path / "db")
    for i in range(1, 11):
        store.put("configmaps", "ns", f"c{i}", _obj(f"c{i}", i), created=True)
    assert store.compact(keep=3) == 7
    with pytest.raises(CompactedError, match="too old resource version: 2 \\(7\\)"):
        list(store.changes_since("configmaps", 2))
    assert [c.rv for c in store.changes_since("configmaps", 7)] == [8, 9, 10]
    store.close()
    assert Store(tmp_path / "db").compacted == 7


def test_listeners_see_changes_in_order_and_can_unsubscribe(tmp_path):
    store = Store(tmp_path / "db")
    seen = []
    unsubscribe = store.subscribe("configmaps", lambda c: seen.append((c.rv, c.type, c.name)))
    everything = []
    store.subscribe_all(lambda c: everything.append(c.resource))
    store.put("configmaps", "ns", "a", _obj("a", 1), created=True)
    store.put("secrets", "ns", "s", _obj("s", 2), created=True)
    unsubscribe()
    store.put("configmaps", "ns", "b", _obj("b", 3), created=True)
    assert seen == [(1, ADDED, "a")]
    assert everything == ["configmaps", "secrets", "configmaps"]


def test_a_listener_for_one_object_hears_only_that_object(tmp_path):
    store = Store(tmp_path / "db")
    heard, everything = [], []
    unsubscribe = store.subscribe("configmaps", lambda c: heard.append((c.type, c.name)), only=("ns", "a"))
    store.subscribe("configmaps", lambda c: everything.append(c.name))
    store.put("configmaps", "ns", "a", _obj("a", 1), created=True)
    store.put("configmaps", "ns", "b", _obj("b", 2), created=True)
    store.put("configmaps", "other", "a", _obj("a", 3), created=True)  # same name, other namespace
    store.put("secrets", "ns", "a", _obj("a", 4), created=True)        # same name, other resource
    store.put("configmaps", "ns", "a", _obj("a", 5, k="v"), created=False)
    store.delete("configmaps", "ns", "a", _obj("a", 6, k="v"))
    assert heard == [(ADDED, "a"), (MODIFIED, "a"), (DELETED, "a")]
    assert everything == ["a", "b", "a", "a", "a"]
    unsubscribe()
    store.put("configmaps", "ns", "a", _obj("a", 7), created=True)
    assert len(heard) == 3
