"""The shape every built-in controller shares: watch the store, mark keys dirty, reconcile them in one task.

A controller subscribes to the store (`Store.subscribe`), whose callback runs synchronously inside every write; the
callback only marks keys dirty and wakes the controller's task, never writes back. The task then reconciles each
dirty key once, however many events touched it since the last pass (a burst of 60 pod updates is one reconcile of
the Service they select). A reconcile that raises is retried later with a growing delay, as client-go's rate-limited
work queue does; a 409 Conflict is retried at once.

Because the store lives on the same single asyncio loop, a reconcile that reads and writes without an `await` in
between sees no concurrent writer, so the controllers can read fresh objects and update them without conflicts.

Also here: the names Kubernetes gives generated objects (`pod_template_hash`, `random_suffix`, both over
apimachinery's "safe" alphabet) and owner references, shared by the deployment, replicaset and endpointslice
controllers beside this module.
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Hashable, Iterable

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.storage.store import Event, Store

log = logging.getLogger("ingresslab.controllers")

# apimachinery's rand alphabet: no vowels (no words) and no 0/1/3 (no confusion with o/l/e).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_RETRY_DELAY = 30.0


def safe_encode(text: str) -> str:
    """apimachinery `rand.SafeEncodeString`: each character mapped into the safe alphabet by its code."""
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in text)


def random_suffix(n: int = 5) -> str:
    """The random part of a `generateName` name (`coffee-7dbb5795f6-` + `vglbv`)."""
    return "".join(secrets.choice(SAFE_ALPHABET) for _ in range(n))


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def pod_template_hash(template: dict, collision_count: int | None = None) -> str:
    """The `pod-template-hash` label, computed as Kubernetes' `ComputeHash` does: FNV-32a over the template, the
    collision count (if any) as 8 little-endian bytes, then the decimal value safe-encoded (so up to 10 characters).

    Kubernetes feeds FNV a Go-specific dump of the struct; the lab feeds it canonical JSON, so the values differ from
    a real cluster's for the same template, but they behave the same: equal templates, equal hashes."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += int(collision_count & 0xFFFFFFFF).to_bytes(8, "little")
    return safe_encode(str(fnv32a(data)))


def owner_reference(owner: dict) -> dict:
    """A controller owner reference, as controllers set it (the store's garbage collector follows `uid`)."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: dict | None, kind: str) -> str | None:
    """The name of the object's controlling owner of this kind, if any."""
    for ref in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return ref.get("name")
    return None


def owned_by(obj: dict, owner_uid: str) -> bool:
    return any(ref.get("controller") and ref.get("uid") == owner_uid
               for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def pod_is_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


class Controller:
    """Subclasses set `name` and `kinds` (store keys to follow), and implement `keys_for` and `reconcile`."""

    name = "controller"
    kinds: tuple[str, ...] = ()

    def __init__(self, store: Store):
        self.store = store
        self._dirty: dict[Hashable, None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._failures: dict[Hashable, int] = {}
        self._busy = False
        self._stopped = False
        self.reconciles = 0

    # ----------------------------------------------------------------------------------------- for subclasses
    def initial_keys(self) -> Iterable[Hashable]:
        """Keys to reconcile at start (objects already in the store, e.g. restored from disk)."""
        return ()

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        """Which keys an event makes dirty. Runs inside the store's write: read only, quickly."""
        return ()

    async def reconcile(self, key: Hashable) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the controller holds (sockets, files) after its task has stopped."""

    # ----------------------------------------------------------------------------------------- queue
    def enqueue(self, key: Hashable) -> None:
        if self._stopped:
            return
        self._dirty[key] = None
        self._wake.set()

    def enqueue_after(self, key: Hashable, delay: float) -> None:
        if self._stopped:
            return
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    def _on_event(self, event: Event) -> None:
        if self._stopped or event.key not in self.kinds:
            return
        try:
            keys = list(self.keys_for(event))
        except Exception:   # a bad object must not break the writer that triggered us
            log.exception("%s: cannot map %s event", self.name, event.key)
            return
        for key in keys:
            self.enqueue(key)

    @property
    def idle(self) -> bool:
        return not self._dirty and not self._busy

    # ----------------------------------------------------------------------------------------- life
    def start(self) -> None:
        self.store.subscribe(self._on_event)
        for key in self.initial_keys():
            self.enqueue(key)
        self._task = asyncio.get_running_loop().create_task(self._work(), name=f"ingresslab-{self.name}")

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                key = next(iter(self._dirty))
                del self._dirty[key]
                self._busy = True
                try:
                    await self.reconcile(key)
                    self._failures.pop(key, None)
                except asyncio.CancelledError:
                    raise
                except errors.ApiError as exc:
                    if exc.code == 409:
                        self.enqueue(key)
                    else:
                        self._retry(key, exc)
                except Exception as exc:
                    self._retry(key, exc)
                finally:
                    self._busy = False
                    self.reconciles += 1
                await asyncio.sleep(0)   # let the pods, the API and the other controllers breathe

    def _retry(self, key: Hashable, exc: BaseException) -> None:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = min(0.05 * 2 ** n, MAX_RETRY_DELAY)
        log.warning("%s: reconcile of %s failed (retry in %.2fs): %s", self.name, key, delay, exc,
                    exc_info=not isinstance(exc, errors.ApiError))
        self.enqueue_after(key, delay)

    async def stop(self) -> None:
        self._stopped = True
        unsubscribe = getattr(self.store, "unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe(self._on_event)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._dirty.clear()
        if self._task is not None:
            # Cancel until it is done: Python 3.11's wait_for (used by reconciles) may swallow a cancellation that
            # arrives as its inner await completes, and the loop would then wait for work forever.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=0.5)
            if not self._task.cancelled() and self._task.exception() is not None:
                log.warning("%s stopped with %r", self.name, self._task.exception())
            self._task = None
        await self.close()
