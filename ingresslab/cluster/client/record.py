"""Events, as client-go's EventRecorder writes them: what `kubectl describe` lists under "Events:".

Each built-in component (deployment-controller, replicaset-controller, default-scheduler, kubelet, …) records
core/v1 Event objects about the object it acted on. `kubectl describe` finds them with a field selector on
`involvedObject.name/namespace/kind/uid`, so the involved object reference carries all of those. A repeat of the same
event (same object, type, reason, message and source) increments `count` and moves `lastTimestamp`, as the
recorder's correlator does, instead of adding a new object.

Used by the controllers beside this module and by the kubelet; writes go straight to the store, so call it from a
reconcile, never from inside a store subscription callback.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.storage.store import Store, now_rfc3339

log = logging.getLogger("ingresslab.events")

NORMAL = "Normal"
WARNING = "Warning"
_REMEMBERED = 4096


def object_reference(obj: dict) -> dict:
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    ref.update(name=meta.get("name", ""), uid=meta.get("uid", ""), apiVersion=obj.get("apiVersion", ""),
               resourceVersion=meta.get("resourceVersion", ""))
    return ref


class EventRecorder:
    def __init__(self, store: Store):
        self.store = store
        # (uid, type, reason, message, component) → event name, for the dedupe; bounded like client-go's LRU cache.
        self._seen: OrderedDict[tuple, tuple[str, str]] = OrderedDict()

    def record(self, obj: dict, type_: str, reason: str, message: str, *, component: str,
               host: str | None = None) -> dict | None:
        """Record an event about `obj`; returns the stored Event (None if it could not be written)."""
        ref = object_reference(obj)
        namespace = ref.get("namespace") or "default"   # cluster-scoped objects' events live in `default`
        now = now_rfc3339()
        key = (ref["uid"], type_, reason, message, component, host)
        try:
            seen = self._seen.get(key)
            if seen is not None:
                existing = self.store.get("events", seen[0], seen[1])
                if existing is not None:
                    self._seen.move_to_end(key)
                    existing["count"] = int(existing.get("count") or 1) + 1
                    existing["lastTimestamp"] = now
                    return self.store.update("events", existing, check_version=False)
            name = f"{ref['name']}.{time.time_ns():x}"
            source = {"component": component, **({"host": host} if host else {})}
            event = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref,
                "reason": reason, "message": message, "type": type_,
                "source": source,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "eventTime": None,
                "reportingComponent": component, "reportingInstance": host or "",
            }
            stored = self.store.create("events", event)
        except errors.ApiError as exc:   # an event is never worth failing the action it reports
            log.warning("cannot record event %s/%s: %s", reason, message, exc)
            return None
        self._seen[key] = (namespace, name)
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return stored

    def normal(self, obj: dict, reason: str, message: str, *, component: str, host: str | None = None) -> None:
        self.record(obj, NORMAL, reason, message, component=component, host=host)

    def warning(self, obj: dict, reason: str, message: str, *, component: str, host: str | None = None) -> None:
        self.record(obj, WARNING, reason, message, component=component, host=host)
