"""What the Ingress controller writes back to the cluster, off its sync thread: Events (deduplicated as client-go's
recorder does) and Ingress statuses.

A sync that touched 10,000 Ingresses owes the API 10,000 Events ("Scheduled for sync") and as many status
patches; made in the sync thread, they held the next sync (and so nginx's next change) back for over a minute.
`WriteQueue` runs them on a thread of its own, in order; a later write for the same key (an Ingress's status)
replaces one not yet made. `flush()` waits until everything queued is written (tests, `sync_now`, stop).
Neighbours: `controller.py` queues the writes; `informer.API_VERSIONS` names the involved objects' versions.
"""
from __future__ import annotations

import collections
import datetime
import json
import logging
import threading
import time
from typing import Callable, Hashable

import kubernetes
from kubernetes.client.rest import ApiException

from .informer import API_VERSIONS

log = logging.getLogger("ingresslab.ingress.controller")
COMPONENT = "nginx-ingress-controller"


class WriteQueue:
    """Callables run in order on one thread; `submit(fn, key=k)` replaces a queued write with the same key."""

    def __init__(self, name: str = "ingress-controller-writes"):
        self.name = name
        self._jobs: collections.OrderedDict[Hashable, Callable[[], None]] = collections.OrderedDict()
        self._cv = threading.Condition()
        self._busy = self._stopping = False
        self._count = 0
        self._thread: threading.Thread | None = None

    def start(self) -> "WriteQueue":
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def submit(self, fn: Callable[[], None], *, key: Hashable | None = None) -> None:
        with self._cv:
            if key is None:
                self._count += 1
                key = ("write", self._count)
            self._jobs[key] = fn
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._jobs or self._stopping)
                if not self._jobs:
                    return
                _, fn = self._jobs.popitem(last=False)
                self._busy = True
            try:
                fn()
            except Exception:   # a write is never worth stopping the ones after it
                log.exception("a write to the API failed")
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Until every queued write is made (True), or `timeout` (False)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Make what is queued (up to `timeout`), then end the thread."""
        self.flush(timeout)
        with self._cv:
            self._stopping = True
            self._jobs.clear()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def call(fn, *args, **kwargs) -> dict:
    """A write through the client, its answer read as plain JSON (model classes are slow and add nothing here)."""
    response = fn(*args, _preload_content=False, **kwargs)
    try:
        return json.loads(response.data or b"{}")
    finally:
        response.release_conn()


class EventRecorder:
    """core/v1 Events as client-go's recorder writes them: the same event again (object, type, reason, message)
    increments `count` and moves `lastTimestamp` on the Event already written, instead of adding one."""

    REMEMBERED = 1024

    def __init__(self, core: kubernetes.client.CoreV1Api, instance: str):
        self.core, self.instance, self.written = core, instance, 0
        self._seen: collections.OrderedDict[tuple, tuple[str, str, int]] = collections.OrderedDict()

    def record(self, kind: str, obj: dict | None, namespace: str, name: str, type_: str, reason: str,
               message: str) -> None:
        meta = (obj or {}).get("metadata") or {}
        involved = {"kind": kind, "apiVersion": API_VERSIONS.get(kind, "v1"), "name": name,
                    "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", ""),
                    **({"namespace": namespace} if namespace else {})}
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = (kind, namespace, name, involved["uid"], type_, reason, message)
        try:
            if key in self._seen:
                where, event_name, count = self._seen[key]
                try:
                    call(self.core.patch_namespaced_event, event_name, where,
                          {"count": count + 1, "lastTimestamp": now})
                    self._seen[key] = (where, event_name, count + 1)
                    self._seen.move_to_end(key)
                    self.written += 1
                    return
                except ApiException as error:
                    if error.status != 404:   # 404: the Event expired; write a new one
                        raise
            where, event_name = namespace or "default", f"{name}.{time.time_ns():x}"
            call(self.core.create_namespaced_event, where, {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": event_name, "namespace": where},
                "involvedObject": involved, "type": type_, "reason": reason, "message": message,
                "source": {"component": COMPONENT}, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "reportingComponent": COMPONENT, "reportingInstance": self.instance})
            self.written += 1
        except (ApiException, OSError) as error:   # an event is never worth failing the sync it reports
            log.warning("cannot record event %s %s on %s %s/%s: %s", type_, reason, kind, namespace, name, error)
            return
        self._seen[key] = (where, event_name, 1)
        while len(self._seen) > self.REMEMBERED:
            self._seen.popitem(last=False)
