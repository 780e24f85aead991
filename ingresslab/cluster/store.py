"""The cluster's memory: versioned objects, watches, and their persistence in SQLite.

Everything the API serves lives here, keyed by the resource key of `resources.py` (`pods`, `deployments.apps`, …),
namespace and name. Every write takes the next cluster-wide resourceVersion, as etcd's revision does, and becomes an
event in a bounded log; watches replay that log from a version and then follow live events, and a version older
than the log answers 410 Expired. The built-in controllers subscribe to the same events in-process.

The store is used from one asyncio thread only (the cluster process's loop), so it needs no locks.
Its neighbours: `api.py` above it (HTTP), the controllers beside it (they read and write through it), and
`selectors.py` for label and field selection.

Deletion as Kubernetes does it: an object's dependents (ownerReferences) go with it, found through an index of
owner uids kept up to date by every write (so a cascade costs what it deletes, not a scan per object); a namespace
is not removed at once but marked `Terminating` (deletionTimestamp, `status.phase`), and the namespace controller
(`controllers/namespaces.py`) empties it in bounded batches, each committed as one transaction (`batch()`), then
removes its `kubernetes` finalizer and deletes it. A lab killed midway still has the Terminating namespace and
finishes the job when it starts again.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import sqlite3
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from . import errors
from .resources import by_key
from .selectors import FieldSelector, LabelSelector

EVENT_LOG_SIZE = 50_000


@dataclass(frozen=True)
class Event:
    type: str          # ADDED, MODIFIED, DELETED
    key: str           # resource key
    object: dict
    old: dict | None
    rv: int


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Watch:
    """A live subscription to one resource key (optionally one namespace and selectors)."""

    def __init__(self, store: "Store", key: str, namespace: str | None,
                 labels: LabelSelector | None, fields: FieldSelector | None):
        self._store = store
        self.key = key
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.closed = False

    def matches(self, event: Event) -> bool:
        if event.key != self.key:
            return False
        meta = event.object.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.labels is not None and not self.labels.matches(meta.get("labels") or {}):
            return False
        if self.fields is not None and not self.fields.matches(event.object):
            return False
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._store._watches.discard(self)


class Store:
    # owner uid -> {(key, namespace, name)} of the objects naming it in ownerReferences; built on first use
    _owned: dict[str, set[tuple[str, str, str]]] | None = None

    def __init__(self, db_path: Path | None = None, *, log_size: int = EVENT_LOG_SIZE):
        self._objects: dict[str, dict[tuple[str, str], dict]] = {}
        self._rv = 0
        self._log: deque[Event] = deque(maxlen=log_size)
        self._watches: set[Watch] = set()
        self._subscribers: list[Callable[[Event], None]] = []
        self._db: sqlite3.Connection | None = None
        if db_path is not None:
            self._open_db(db_path)

    # ----------------------------------------------------------------- persistence
    def _open_db(self, path: Path) -> None:
        db = sqlite3.connect(str(path), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS objects (key TEXT, ns TEXT, name TEXT, body TEXT, "
                   "PRIMARY KEY (key, ns, name))")
        db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        for key, ns, name, body in db.execute("SELECT key, ns, name, body FROM objects"):
            self._objects.setdefault(key, {})[(ns, name)] = json.loads(body)
        row = db.execute("SELECT v FROM meta WHERE k='rv'").fetchone()
        self._rv = int(row[0]) if row else 0
        self._db = db

    def _persist(self, key: str, ns: str, name: str, obj: dict | None) -> None:
        if self._db is None:
            return
        if obj is None:
            self._db.execute("DELETE FROM objects WHERE key=? AND ns=? AND name=?", (key, ns, name))
        else:
            self._db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?)",
                             (key, ns, name, json.dumps(obj, separators=(",", ":"))))
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (str(self._rv),))

    def close(self) -> None:
        for w in list(self._watches):
            w.close()
        if self._db is not None:
            self._db.close()
            self._db = None

    # ----------------------------------------------------------------- reads
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: str, namespace: str, name: str) -> dict | None:
        obj = self._objects.get(key, {}).get((namespace or "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def require(self, key: str, namespace: str, name: str) -> dict:
        obj = self.get(key, namespace, name)
        if obj is None:
            r = by_key(key)
            raise errors.not_found(r.plural, r.group, name)
        return obj

    def list(self, key: str, namespace: str | None = None, *, labels: LabelSelector | None = None,
             fields: FieldSelector | None = None) -> list[dict]:
        out = []
        for (ns, _name), obj in sorted(self._objects.get(key, {}).items()):
            if namespace is not None and ns != namespace:
                continue
            if labels is not None and not labels.matches(obj.get("metadata", {}).get("labels") or {}):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            out.append(copy.deepcopy(obj))
        return out

    def iter_raw(self, key: str) -> Iterable[dict]:
        """Objects without copying, for controllers that only read. Do not mutate them."""
        return list(self._objects.get(key, {}).values())

    # ----------------------------------------------------------------- writes
    def create(self, key: str, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        r = by_key(key)
        ns = meta.get("namespace", "") if r.namespaced else ""
        if not r.namespaced:
            meta.pop("namespace", None)
        name = meta.get("name")
        if not name:
            raise errors.invalid(r.kind, "", [errors.Cause.required("metadata.name", "name or generateName is required")],
                                 r.group)
        bucket = self._objects.setdefault(key, {})
        if (ns, name) in bucket:
            raise errors.already_exists(r.plural, r.group, name)
        self._rv += 1
        meta["uid"] = meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = meta.get("creationTimestamp") or now_rfc3339()
        meta["resourceVersion"] = str(self._rv)
        if "spec" in obj and r.kind not in ("Pod", "Service", "Namespace", "Node"):
            meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        obj["apiVersion"] = r.api_version
        obj["kind"] = r.kind
        bucket[(ns, name)] = obj
        self._persist(key, ns, name, obj)
        self._emit(Event("ADDED", key, obj, None, self._rv))
        return copy.deepcopy(obj)

    def update(self, key: str, obj: dict, *, check_version: bool = True) -> dict:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        r = by_key(key)
        ns = meta.get("namespace", "") if r.namespaced else ""
        name = meta.get("name", "")
        bucket = self._objects.setdefault(key, {})
        old = bucket.get((ns, name))
        if old is None:
            raise errors.not_found(r.plural, r.group, name)
        sent = meta.get("resourceVersion")
        if check_version and sent and sent != old["metadata"]["resourceVersion"]:
            raise errors.conflict(r.plural, r.group, name)
        # Identity fields are the server's, whatever the client sent.
        for field in ("uid", "creationTimestamp"):
            meta[field] = old["metadata"][field]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        obj["apiVersion"] = r.api_version
        obj["kind"] = r.kind
        if "generation" in old["metadata"]:
            meta["generation"] = old["metadata"]["generation"]
        if obj == old:
            return copy.deepcopy(old)
        if "generation" in old["metadata"] and obj.get("spec") != old.get("spec"):
            meta["generation"] = old["metadata"]["generation"] + 1
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        obj["apiVersion"] = r.api_version
        obj["kind"] = r.kind
        bucket[(ns, name)] = obj
        self._persist(key, ns, name, obj)
        self._emit(Event("MODIFIED", key, obj, old, self._rv))
        return copy.deepcopy(obj)

    def delete(self, key: str, namespace: str, name: str, *, cascade: bool = True) -> dict:
        """Delete an object and (with `cascade`) its dependents. A namespace that still has its `kubernetes`
        finalizer only becomes Terminating: the namespace controller empties it and then deletes it."""
        r = by_key(key)
        ns = namespace if r.namespaced else ""
        bucket = self._objects.get(key, {})
        old = bucket.get((ns, name))
        if old is None:
            raise errors.not_found(r.plural, r.group, name)
        if key == "namespaces" and "kubernetes" in ((old.get("spec") or {}).get("finalizers") or ()):
            return self._terminating(old)
        del bucket[(ns, name)]
        self._rv += 1
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._persist(key, ns, name, None)
        self._emit(Event("DELETED", key, gone, old, self._rv))
        if cascade:
            self._collect_dependents(old["metadata"]["uid"], ns)
        return copy.deepcopy(gone)

    def _terminating(self, namespace: dict) -> dict:
        if (namespace.get("metadata") or {}).get("deletionTimestamp"):
            return copy.deepcopy(namespace)
        marked = copy.deepcopy(namespace)
        marked["metadata"]["deletionTimestamp"] = now_rfc3339()
        marked.setdefault("status", {})["phase"] = "Terminating"
        return self.update("namespaces", marked, check_version=False)

    def contents(self, namespace: str) -> list[tuple[str, str]]:
        """(resource key, name) of every object in `namespace` (one pass over the store)."""
        return [(key, name) for key, bucket in self._objects.items() for (ns, name) in bucket if ns == namespace]

    @contextlib.contextmanager
    def batch(self):
        """Writes made inside reach the database as one transaction (one commit for a batch of deletes). What was
        written in memory is committed even if the batch stops early, so memory and disk never disagree."""
        if self._db is None or self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _collect_dependents(self, uid: str, namespace: str) -> None:
        """Garbage collection: objects owned by a deleted object go too (background propagation). The owner index
        makes this cost what it deletes."""
        if self._owned is None:
            self._owned = {}
            for key, bucket in self._objects.items():
                for obj in bucket.values():
                    self._index_owners(key, obj, add=True)
        for key, ns, name in sorted(self._owned.get(uid, ())):
            if (ns == namespace or not namespace) and (ns, name) in self._objects.get(key, {}):
                self.delete(key, ns, name)

    def _index_owners(self, key: str, obj: dict, *, add: bool) -> None:
        meta = obj.get("metadata") or {}
        entry = (key, meta.get("namespace") or "", meta.get("name") or "")
        for ref in meta.get("ownerReferences") or ():
            uid = ref.get("uid") if isinstance(ref, dict) else None
            if not isinstance(uid, str):
                continue
            if add:
                self._owned.setdefault(uid, set()).add(entry)
            elif uid in self._owned:
                self._owned[uid].discard(entry)
                if not self._owned[uid]:
                    del self._owned[uid]

    # ----------------------------------------------------------------- events
    def _emit(self, event: Event) -> None:
        if self._owned is not None:   # keep the owner index true to every write
            if event.old is not None:
                self._index_owners(event.key, event.old, add=False)
            if event.type != "DELETED":
                self._index_owners(event.key, event.object, add=True)
        self._log.append(event)
        for w in list(self._watches):
            if w.matches(event):
                w.queue.put_nowait(event)
        for cb in list(self._subscribers):
            cb(event)

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """In-process controllers: called synchronously after every write (schedule work, do not write back here)."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def watch(self, key: str, namespace: str | None = None, *, since: str | None = None,
              labels: LabelSelector | None = None, fields: FieldSelector | None = None) -> Watch:
        """Start a watch. With no version (or "0"), existing objects arrive first as synthetic ADDED events;
        with a version, the log is replayed from it; one older than the log raises 410 Expired."""
        w = Watch(self, key, namespace, labels, fields)
        if not since or since == "0":
            for obj in self.list(key, namespace, labels=labels, fields=fields):
                w.queue.put_nowait(Event("ADDED", key, obj, None, int(obj["metadata"]["resourceVersion"])))
        else:
            try:
                from_rv = int(since)
            except ValueError:
                raise errors.bad_request(f'invalid resourceVersion "{since}"') from None
            oldest = self._log[0].rv if self._log else self._rv + 1
            if from_rv < oldest - 1 and from_rv < self._rv:
                raise errors.ApiError(410, "Expired", f"too old resource version: {from_rv} ({oldest - 1})")
            for ev in self._log:
                if ev.rv > from_rv and w.matches(ev):
                    w.queue.put_nowait(ev)
        self._watches.add(w)
        return w
