"""The scheduling loop: each pod without a node is filtered against every Node, scored, and bound.

Among the nodes that pass every filter (`plugins.run_filters`) the pod goes to the one running the fewest pods
(ties: by name), which spreads a Deployment's replicas over the two nodes as the default scoring does on an empty
cluster. Binding sets `spec.nodeName` and `PodScheduled=True` and records `Scheduled` ("Successfully assigned
ns/pod to node-1"). When nothing fits, the pod keeps Pending with `PodScheduled=False, reason Unschedulable` and a
`FailedScheduling` warning whose message is the real scheduler's (`plugins.unschedulable_message`); it is tried
again whenever a Node changes or a pod goes away (the scheduling queue's "move on cluster event"), and every
`RETRY_SECONDS` otherwise (the unschedulable pods' flush interval is 5 minutes in kube-scheduler; a lab is
impatient). Pods naming another `schedulerName` are left alone.
"""
from __future__ import annotations

from ingresslab.cluster.client.controller import Controller, meta
from ingresslab.cluster.client.record import EventRecorder
from ingresslab.cluster.scheduler import plugins
from ingresslab.cluster.storage.store import Event, Store, now_rfc3339

SCHEDULER_NAME = "default-scheduler"
RETRY_SECONDS = 60.0


def _finished(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _wants_node(pod: dict | None) -> bool:
    if pod is None:
        return False
    spec = pod.get("spec") or {}
    return (not spec.get("nodeName") and not meta(pod).get("deletionTimestamp") and not _finished(pod)
            and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME)


def _scheduled_condition(pod: dict, ok: bool, message: str = "") -> dict:
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    before = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    state = "True" if ok else "False"
    cond = {"type": "PodScheduled", "status": state, "lastProbeTime": None,
            "lastTransitionTime": before["lastTransitionTime"] if before and before.get("status") == state
            and before.get("lastTransitionTime") else now_rfc3339()}
    if not ok:
        cond.update(reason="Unschedulable", message=message)
    status["conditions"] = [*conditions, cond]
    return status


class Scheduler(Controller):
    name = "default-scheduler"
    kinds = ("pods", "nodes")

    def __init__(self, store: Store, recorder: EventRecorder):
        super().__init__(store)
        self.recorder = recorder
        self._waiting: set[tuple[str, str]] = set()    # pods that found no node last time

    def initial_keys(self):
        return [(meta(p).get("namespace", ""), meta(p)["name"]) for p in self.store.iter_raw("pods")
                if _wants_node(p)]

    def keys_for(self, event: Event):
        if event.key == "nodes":
            yield from list(self._waiting)
            return
        obj = event.object
        key = (meta(obj).get("namespace", ""), meta(obj)["name"])
        if event.type == "DELETED" or (_finished(obj) and not _finished(event.old or {})):
            self._waiting.discard(key)
            yield from list(self._waiting)     # room was freed on some node
        elif _wants_node(obj) and (event.type == "ADDED" or (event.old or {}).get("spec") != obj.get("spec")):
            yield key       # new, or its spec changed (tolerations, affinity…); not our own status writes

    async def reconcile(self, key) -> None:
        pod = self.store.get("pods", *key)
        if not _wants_node(pod):
            self._waiting.discard(key)
            return
        nodes = sorted(self.store.list("nodes"), key=lambda n: meta(n)["name"])
        if not nodes:
            self._waiting.add(key)      # no node registered yet: the Node's ADDED event brings this pod back
            return
        on_node: dict[str, list[dict]] = {meta(n)["name"]: [] for n in nodes}
        for other in self.store.iter_raw("pods"):
            where = (other.get("spec") or {}).get("nodeName")
            if where in on_node and not _finished(other):
                on_node[where].append(other)
        fits, failures = [], []
        for node in nodes:
            failure = plugins.run_filters(pod, node, on_node[meta(node)["name"]])
            if failure is None:
                fits.append(node)
            else:
                failures.append(failure)
        if not fits:
            self._unschedulable(key, pod, plugins.unschedulable_message(failures, len(nodes)))
            return
        chosen = min(fits, key=lambda n: (len(on_node[meta(n)["name"]]), meta(n)["name"]))
        self._bind(key, pod, meta(chosen)["name"])

    def _bind(self, key, pod: dict, node_name: str) -> None:
        self._waiting.discard(key)
        pod["spec"]["nodeName"] = node_name
        _scheduled_condition(pod, True)
        pod = self.store.update("pods", pod, check_version=False)
        self.recorder.normal(pod, "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {node_name}",
                             component=SCHEDULER_NAME)

    def _unschedulable(self, key, pod: dict, message: str) -> None:
        self._waiting.add(key)
        _scheduled_condition(pod, False, message)
        pod = self.store.update("pods", pod, check_version=False)
        self.recorder.warning(pod, "FailedScheduling", message, component=SCHEDULER_NAME)
        self.enqueue_after(key, RETRY_SECONDS)
