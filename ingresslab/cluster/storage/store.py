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
import os
import sqlite3
import stat
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.resources import by_key
from ingresslab.cluster.apimachinery.selectors import FieldSelector, LabelSelector

EVENT_LOG_SIZE = 50_000
RECOVERY = ("The lab will not start on it, so as not to lose what it holds: restore cluster.db from a copy, or run "
            "`ingresslab reset` to start an empty cluster (every object is lost).")


class DatabaseError(RuntimeError):
    """The database cannot be used as it is; the message says so in plain words, and what to do."""


def _make_private(path: Path) -> None:
    """The database holds Secrets: its files are their user's alone (homes made by earlier versions had 0644)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o600)


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
    # (key, object) → the object marked for graceful deletion, or None to delete it now: how the garbage collector
    # deletes a dependent (the API server sets it: pods that run are Terminating first)
    graceful_dependent: Callable[[str, dict], dict | None] | None = None

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
        """Open (or create) the database. One that exists but is empty or unreadable is never replaced by an empty
        cluster: that would silently lose every object. The learner is told what happened and what to do."""
        path = Path(path)
        fresh = not path.exists()
        if not fresh and path.stat().st_size == 0:
            raise DatabaseError(f"the lab's database {path} is empty (0 bytes): it was truncated, e.g. when the disk "
                                f"filled up. {RECOVERY}")
        rows, row = [], None
        try:
            db = sqlite3.connect(str(path), isolation_level=None)
            for name in (path.name, path.name + "-wal", path.name + "-shm"):
                _make_private(path.with_name(name))
            if not fresh:   # read and check everything before changing a byte of the file
                problem = db.execute("PRAGMA quick_check").fetchone()[0]
                if problem != "ok":
                    raise sqlite3.DatabaseError(problem)
                tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "objects" in tables:
                    rows = db.execute("SELECT key, ns, name, body FROM objects").fetchall()
                if "meta" in tables:
                    row = db.execute("SELECT v FROM meta WHERE k='rv'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"the lab's database {path} is damaged (SQLite says: {exc}). {RECOVERY}") from None
        for key, ns, name, body in rows:
            try:
                obj = json.loads(body)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
            except (TypeError, ValueError) as exc:
                where = f"{key} {ns + '/' if ns else ''}{name}"
                raise DatabaseError(f"the lab's database {path} holds a damaged object ({where}: {exc}). "
                                    f"{RECOVERY}") from None
            self._objects.setdefault(key, {})[(ns, name)] = obj
        try:
            self._rv = int(row[0]) if row else 0
        except ValueError:
            raise DatabaseError(f"the lab's database {path} holds a damaged resourceVersion ({row[0]!r}). "
                                f"{RECOVERY}") from None
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS objects (key TEXT, ns TEXT, name TEXT, body TEXT, "
                   "PRIMARY KEY (key, ns, name))")
        db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        self._db = db

    def _persist(self, key: str, ns: str, name: str, obj: dict | None, rv: int) -> None:
        """Write one change and the new resourceVersion in one transaction. If the database refuses (disk full,
        read-only, I/O error) nothing is written, and the caller must change nothing in memory either: a write
        that was answered with an error is never visible, not now and not after a restart."""
        if self._db is None:
            return
        # Inside a batch() the outer transaction commits; a savepoint still undoes just this write if refused, so
        # the writes before it (already in memory) stay on disk too.
        nested = self._db.in_transaction
        try:
            self._db.execute("SAVEPOINT write" if nested else "BEGIN IMMEDIATE")
            if obj is None:
                self._db.execute("DELETE FROM objects WHERE key=? AND ns=? AND name=?", (key, ns, name))
            else:
                self._db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?)",
                                 (key, ns, name, json.dumps(obj, separators=(",", ":"))))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (str(rv),))
            self._db.execute("RELEASE write" if nested else "COMMIT")
        except (sqlite3.Error, ValueError) as exc:
            try:
                if nested:
                    self._db.execute("ROLLBACK TO write")
                    self._db.execute("RELEASE write")
                else:
                    self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise errors.ApiError(500, "InternalError", f"the cluster's database refused the write ({exc}); nothing "
                                  f"was changed. Is the disk full?") from None

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
        rv = self._rv + 1
        meta["uid"] = meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = meta.get("creationTimestamp") or now_rfc3339()
        meta["resourceVersion"] = str(rv)
        if "spec" in obj and r.kind not in ("Pod", "Service", "Namespace", "Node"):
            meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        obj["apiVersion"] = r.api_version
        obj["kind"] = r.kind
        self._persist(key, ns, name, obj, rv)   # first: a refused write leaves memory untouched
        self._rv = rv
        bucket[(ns, name)] = obj
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
        rv = self._rv + 1
        meta["resourceVersion"] = str(rv)
        obj["apiVersion"] = r.api_version
        obj["kind"] = r.kind
        self._persist(key, ns, name, obj, rv)   # first: a refused write leaves memory untouched
        self._rv = rv
        bucket[(ns, name)] = obj
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
        self._persist(key, ns, name, None, self._rv + 1)   # first: a refused delete leaves the object served
        del bucket[(ns, name)]
        self._rv += 1
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self._rv)
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
        for key, ns, name in sorted(self._owner_index().get(uid, ())):
            if (ns == namespace or not namespace) and (ns, name) in self._objects.get(key, {}):
                self.delete_as_controller(key, ns, name)

    def delete_as_controller(self, key: str, namespace: str, name: str) -> dict:
        """A delete made by a controller (the garbage collector, a ReplicaSet scaling down) through the API, so
        graceful where the API server makes it so (`graceful_dependent`): a running pod becomes Terminating, and
        its kubelet deletes it."""
        obj = self._objects.get(key, {}).get((namespace if by_key(key).namespaced else "", name))
        marked = self.graceful_dependent(key, obj) if obj is not None and self.graceful_dependent else None
        if marked is None:
            return self.delete(key, namespace, name)
        if marked is obj:                      # already Terminating with no more time than that
            return copy.deepcopy(obj)
        return self.update(key, marked, check_version=False)

    def orphan_dependents(self, uid: str, namespace: str) -> None:
        """`propagationPolicy: Orphan`: the owner's dependents stay, without their reference to it."""
        for key, ns, name in sorted(self._owner_index().get(uid, ())):
            obj = self._objects.get(key, {}).get((ns, name))
            if obj is not None and (ns == namespace or not namespace):
                kept = copy.deepcopy(obj)
                kept["metadata"]["ownerReferences"] = [ref for ref in obj["metadata"].get("ownerReferences") or ()
                                                       if not (isinstance(ref, dict) and ref.get("uid") == uid)]
                if not kept["metadata"]["ownerReferences"]:
                    del kept["metadata"]["ownerReferences"]
                self.update(key, kept, check_version=False)

    def _owner_index(self) -> dict[str, set[tuple[str, str, str]]]:
        if self._owned is None:
            self._owned = {}
            for key, bucket in self._objects.items():
                for obj in bucket.values():
                    self._index_owners(key, obj, add=True)
        return self._owned

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

    def oldest_version(self) -> int:
        """The oldest resource version the change log still holds (older versions are compacted away)."""
        return (self._log[0].rv - 1) if self._log else self._rv

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
