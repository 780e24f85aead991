"""The taint eviction controller: pods on a node with a NoExecute taint they do not tolerate are deleted.

kube-controller-manager's `taint-eviction-controller`, kept minimal: when a Node gains a NoExecute taint (`kubectl
taint node node-1 k=v:NoExecute`) or a pod is bound to such a node, every pod there that does not tolerate it is
deleted gracefully (the kubelet stops it; its ReplicaSet replaces it, and the scheduler keeps the replacement off
that node), with the event `TaintManagerEviction` "Marking for deletion Pod ns/name". A toleration's
`tolerationSeconds` is not counted down here: a pod that tolerates the taint at all stays.
Neighbours: `apimachinery/scheduling.py` (`tolerates`), `apiserver/graceful.py` (the deletion mark).
"""
from __future__ import annotations

from ingresslab.cluster.apimachinery.scheduling import tolerates
from ingresslab.cluster.apiserver.graceful import graceful_deadline
from ingresslab.cluster.client.controller import Controller, meta
from ingresslab.cluster.client.record import EventRecorder
from ingresslab.cluster.storage.store import Event, Store

COMPONENT = "taint-eviction-controller"


def _no_execute(node: dict | None) -> list[dict]:
    return [t for t in ((node or {}).get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]


class TaintEvictionController(Controller):
    name = COMPONENT
    kinds = ("nodes", "pods")

    def __init__(self, store: Store, recorder: EventRecorder):
        super().__init__(store)
        self.recorder = recorder

    def initial_keys(self):
        return [meta(n)["name"] for n in self.store.iter_raw("nodes") if _no_execute(n)]

    def keys_for(self, event: Event):
        if event.type == "DELETED":
            return
        if event.key == "nodes":
            if _no_execute(event.object):
                yield meta(event.object)["name"]
            return
        node_name = (event.object.get("spec") or {}).get("nodeName")
        if node_name and _no_execute(self.store.get("nodes", "", node_name)):
            yield node_name

    async def reconcile(self, key) -> None:
        taints = _no_execute(self.store.get("nodes", "", key))
        if not taints:
            return
        for pod in self.store.list("pods"):
            if (pod.get("spec") or {}).get("nodeName") != key or meta(pod).get("deletionTimestamp"):
                continue
            tolerations = (pod.get("spec") or {}).get("tolerations") or []
            if all(tolerates(tolerations, t) for t in taints):
                continue
            ns, name = meta(pod).get("namespace", ""), meta(pod)["name"]
            self.recorder.normal(pod, "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}",
                                 component=COMPONENT)
            marked = graceful_deadline(pod, {})
            if marked is None:
                self.store.delete("pods", ns, name)
            else:
                self.store.update("pods", marked, check_version=False)
