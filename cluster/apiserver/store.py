"""The embedded cluster's datastore: an append-only SQLite log with one global revision.

The revision of the newest log row is the cluster's resourceVersion. Each write appends one row
and updates the current-state table in the same transaction, so a write that returned survives
`kill -9`. Watches replay from the log above a compaction floor, then follow live writes, which
are fanned out in-process (one writer process, so nothing polls).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    rv INTEGER PRIMARY KEY AUTOINCREMENT,
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    object TEXT NOT NULL,
    previous TEXT
);
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rv INTEGER NOT NULL,
    object TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredObject:
    """One object as stored: its revision, its JSON text and the parsed dict (never mutated)."""

    rv: int
    raw: str
    obj: dict


@dataclass(frozen=True)
class Change:
    """One log entry: what happened to one object at revision `rv`."""

    rv: int
    resource: str
    namespace: str
    name: str
    type: str
    obj: dict
    previous: dict | None
    raw: str = ""           # the object's JSON text, so watch events need no re-serialising


class CompactedError(Exception):
    """A watch asked to resume from a revision older than the compaction floor."""

    def __init__(self, requested: int, floor: int):
        super().__init__(f"too old resource version: {requested} ({floor})")
        self.requested = requested
        self.floor = floor


Listener = Callable[[Change], None]


class Store:
    """Current objects in memory (the watch cache), every change in SQLite."""

    def __init__(self, path: Path | str):
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode keeps committed transactions across a process crash (kill -9);
        # only an OS crash or power loss could lose the newest ones.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._objects: dict[str, dict[tuple[str, str], StoredObject]] = {}
        self._listeners: dict[str, list[Listener]] = {}
        # Listeners for one object only, by (resource, namespace, name).
        self._object_listeners: dict[tuple[str, str, str], list[Listener]] = {}
        self._revision = self._db.execute("SELECT COALESCE(MAX(rv), 0) FROM log").fetchone()[0]
        floor = self._db.execute("SELECT value FROM meta WHERE key='compacted'").fetchone()
        self._floor = int(floor[0]) if floor else 0
        for resource, namespace, name, rv, raw in self._db.execute(
            "SELECT resource, namespace, name, rv, object FROM objects"
        ):
            self._objects.setdefault(resource, {})[(namespace, name)] = StoredObject(rv, raw, json.loads(raw))

    # -- reads -----------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted(self) -> int:
        return self._floor

    def get(self, resource: str, namespace: str, name: str) -> StoredObject | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[StoredObject]:
        """Objects of one resource, in one namespace or all, sorted by namespace and name."""
        table = self._objects.get(resource, {})
        if namespace is None:
            keys = sorted(table)
        else:
            keys = sorted(k for k in table if k[0] == namespace)
        return [table[k] for k in keys]

    def count(self, resource: str) -> int:
        return len(self._objects.get(resource, {}))

    def changes_since(self, resource: str, rv: int) -> Iterator[Change]:
        """Log entries of one resource after revision `rv`, oldest first."""
        if rv < self._floor:
            raise CompactedError(rv, self._floor)
        rows = self._db.execute(
            "SELECT rv, namespace, name, type, object, previous FROM log WHERE rv > ? AND resource = ? ORDER BY rv",
            (rv, resource),
        )
        for rrv, namespace, name, type_, raw, previous in rows:
            yield Change(rrv, resource, namespace, name, type_, json.loads(raw),
                         json.loads(previous) if previous else None, raw)

    # -- writes ----------------------------------------------------------------------------

    def next_revision(self) -> int:
        return self._revision + 1

    def put(self, resource: str, namespace: str, name: str, obj: dict, *, created: bool) -> StoredObject:
        """Store a new or changed object. `obj.metadata.resourceVersion` must already be
        `next_revision()`; the caller builds the object, the store makes it durable."""
        rv = self.next_revision()
        raw = json.dumps(obj, separators=(",", ":"))
        old = self.get(resource, namespace, name)
        type_ = ADDED if created else MODIFIED
        with self._transaction():
            self._db.execute(
                "INSERT INTO log (rv, resource, namespace, name, type, object, previous) VALUES (?,?,?,?,?,?,?)",
                (rv, resource, namespace, name, type_, raw, old.raw if old else None),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO objects (resource, namespace, name, rv, object) VALUES (?,?,?,?,?)",
                (resource, namespace, name, rv, raw),
            )
        self._revision = rv
        stored = StoredObject(rv, raw, obj)
        self._objects.setdefault(resource, {})[(namespace, name)] = stored
        self._notify(Change(rv, resource, namespace, name, type_, obj, old.obj if old else None, raw))
        return stored

    def delete(self, resource: str, namespace: str, name: str, final: dict) -> StoredObject:
        """Remove an object; `final` is its last state, stamped with the deletion revision."""
        rv = self.next_revision()
        raw = json.dumps(final, separators=(",", ":"))
        old = self.get(resource, namespace, name)
        with self._transaction():
            self._db.execute(
                "INSERT INTO log (rv, resource, namespace, name, type, object, previous) VALUES (?,?,?,?,?,?,?)",
                (rv, resource, namespace, name, DELETED, raw, old.raw if old else None),
            )
            self._db.execute(
                "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?", (resource, namespace, name)
            )
        self._revision = rv
        self._objects.get(resource, {}).pop((namespace, name), None)
        self._notify(Change(rv, resource, namespace, name, DELETED, final, old.obj if old else None, raw))
        return StoredObject(rv, raw, final)

    def compact(self, keep: int) -> int:
        """Drop log rows older than the newest `keep` revisions; returns the new floor."""
        floor = max(self._floor, self._revision - keep)
        if floor > self._floor:
            with self._transaction():
                self._db.execute("DELETE FROM log WHERE rv <= ?", (floor,))
                self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted', ?)", (str(floor),))
            self._floor = floor
        return self._floor

    def close(self) -> None:
        self._db.close()

    # -- watch fan-out ---------------------------------------------------------------------

    def subscribe(self, resource: str, listener: Listener,
                  only: tuple[str, str] | None = None) -> Callable[[], None]:
        """Call `listener` for every later change of `resource`, or with `only` = (namespace, name)
        for the changes of that one object; returns the unsubscribe. A watch of one object by name
        (each launcher watches its VMI so) then costs nothing when the others change."""
        if only is None:
            listeners = self._listeners.setdefault(resource, [])
        else:
            listeners = self._object_listeners.setdefault((resource, *only), [])
        listeners.append(listener)

        def unsubscribe() -> None:
            if listener in listeners:
                listeners.remove(listener)
            if only is not None and not listeners:
                self._object_listeners.pop((resource, *only), None)

        return unsubscribe

    def subscribe_all(self, listener: Listener) -> Callable[[], None]:
        return self.subscribe("*", listener)

    def _notify(self, change: Change) -> None:
        listeners = list(self._listeners.get(change.resource, ())) + list(self._listeners.get("*", ()))
        listeners += self._object_listeners.get((change.resource, change.namespace, change.name), ())
        for listener in listeners:
            listener(change)

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
