"""The namespace controller: empties a Terminating namespace, then lets it go (kube-controller-manager's
`namespace` controller, "namespaced resources deleter").

Deleting a namespace through the API only marks it: `metadata.deletionTimestamp` and `status.phase: Terminating`,
with `spec.finalizers: [kubernetes]` still set (`store.Store.delete`). This controller then deletes everything in
it, in batches of at most `BATCH_SECONDS` of work, each one database transaction, yielding the loop between
batches so pods, the API and the other controllers keep answering while ten thousand objects go. Owners go first
(Deployments, ReplicaSets, then Pods and Services) so that no controller recreates what was just removed. When
nothing is left, it removes its `kubernetes` finalizer (what `/finalize` does) and deletes the namespace itself.

Because the namespace is Terminating in the database before anything in it is removed, a lab killed midway starts
again with that namespace still Terminating and half full: `initial_keys` picks it up and finishes the deletion.
Neighbours: `base.Controller` (the work queue), `store.py` (`contents`, `batch`, the deletion itself); the API
server refuses new objects in a Terminating namespace (`api.py`).
"""
from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.storage.store import Event
from ingresslab.cluster.client.controller import Controller, meta

BATCH_SECONDS = 0.01    # work between two yields to the loop: well under the 100 ms a request may wait
# Owners before what they own: a Deployment's ReplicaSets and a ReplicaSet's Pods would otherwise be replaced.
FIRST = ("deployments.apps", "replicasets.apps", "pods", "services")


def _order(item: tuple[str, str]) -> tuple[int, str, str]:
    key, name = item
    return (FIRST.index(key) if key in FIRST else len(FIRST), key, name)


def terminating(namespace: dict | None) -> bool:
    return bool(namespace and meta(namespace).get("deletionTimestamp"))


class NamespaceController(Controller):
    name = "namespace"
    kinds = ("namespaces",)

    def __init__(self, store):
        super().__init__(store)
        self.deleted = 0

    def initial_keys(self) -> Iterable[Hashable]:
        return [meta(ns)["name"] for ns in self.store.iter_raw("namespaces") if terminating(ns)]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        if event.type != "DELETED" and terminating(event.object):
            yield meta(event.object)["name"]

    async def reconcile(self, key: Hashable) -> None:
        name = str(key)
        loop = asyncio.get_running_loop()
        while terminating(self.store.get("namespaces", "", name)):
            left = sorted(self.store.contents(name), key=_order, reverse=True)   # pop() takes owners first
            if not left:
                break
            while left:
                started = loop.time()
                with self.store.batch():
                    while left and loop.time() - started < BATCH_SECONDS:
                        resource, obj_name = left.pop()
                        try:
                            self.store.delete(resource, name, obj_name, cascade=False)
                        except errors.ApiError as error:   # gone meanwhile (an owner's controller removed it)
                            if error.code != 404:
                                raise
                        else:
                            self.deleted += 1
                await asyncio.sleep(0)
        namespace = self.store.get("namespaces", "", name)
        if not terminating(namespace):
            return
        spec = namespace.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or () if f != "kubernetes"]
        with self.store.batch():
            self.store.update("namespaces", namespace, check_version=False)
            self.store.delete("namespaces", "", name)
