"""The replicaset controller: as many pods as `spec.replicas` says, made from the ReplicaSet's template.

Pods are named `<replicaset>-<5 safe characters>` (`coffee-7dbb5795f6-vglbv`), carry the template's labels and an
owner reference to the ReplicaSet, and start unscheduled and Pending: the kubelet (`kubelet.py`) places and runs
them. Scaling down deletes the pods a real controller would pick first: unscheduled, then pending, then not ready,
then the newest. Status counts replicas, ready and available ones (ready for `minReadySeconds`). Events read as
the real controller's ("Created pod: coffee-7dbb5795f6-vglbv"). The deployment controller (`deployments.py`) sets
the replica counts; the store's garbage collector deletes a ReplicaSet's pods with it.
"""
from __future__ import annotations

import copy
from datetime import datetime, timezone

from ingresslab.cluster.apiserver import admission, defaults
from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.storage.store import Event, Store
from ingresslab.cluster.client.controller import Controller, controller_of, meta, owned_by, owner_reference, pod_is_ready, random_suffix
from ingresslab.cluster.client.record import EventRecorder

COMPONENT = "replicaset-controller"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _parse_time(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def _ready_since(pod: dict) -> float | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            return _parse_time(cond.get("lastTransitionTime"))
    return None


def deletion_order(pod: dict) -> tuple:
    """Sort key: the first pods are the first to delete (kubernetes' ActivePodsWithRanks, simplified)."""
    status = pod.get("status") or {}
    return (bool((pod.get("spec") or {}).get("nodeName")),
            _PHASE_RANK.get(status.get("phase", "Pending"), 1),
            pod_is_ready(pod),
            -_parse_time(meta(pod).get("creationTimestamp")),
            -int(meta(pod).get("resourceVersion") or 0))


def _active(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") \
        and not meta(pod).get("deletionTimestamp")


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    kinds = ("replicasets.apps", "pods")

    def __init__(self, store: Store, recorder: EventRecorder, *, clock=None):
        super().__init__(store)
        self.recorder = recorder
        self._clock = clock or (lambda: datetime.now(timezone.utc).timestamp())

    def initial_keys(self):
        return [(meta(rs).get("namespace", ""), meta(rs)["name"]) for rs in self.store.iter_raw("replicasets.apps")]

    def keys_for(self, event: Event):
        ns = meta(event.object).get("namespace", "")
        if event.key == "replicasets.apps":
            yield (ns, meta(event.object)["name"])
            return
        for obj in (event.object, event.old):
            owner = controller_of(obj, "ReplicaSet")
            if owner:
                yield (ns, owner)

    async def reconcile(self, key) -> None:
        ns, name = key
        rs = self.store.get("replicasets.apps", ns, name)
        if rs is None:
            return
        uid = meta(rs)["uid"]
        pods = [p for p in self.store.list("pods", ns) if owned_by(p, uid) and _active(p)]
        wanted = int(rs["spec"].get("replicas", 1) or 0)
        if len(pods) < wanted:
            for _ in range(wanted - len(pods)):
                pods.append(self._create_pod(rs))
        elif len(pods) > wanted:
            pods.sort(key=deletion_order)
            doomed, pods = pods[:len(pods) - wanted], pods[len(pods) - wanted:]
            for pod in doomed:
                try:
                    self.store.delete_as_controller("pods", ns, meta(pod)["name"])     # Terminating first
                except errors.ApiError as exc:
                    if exc.code != 404:
                        raise
                    continue
                self.recorder.normal(rs, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}", component=COMPONENT)
        self._sync_status(ns, name, pods)

    def _create_pod(self, rs: dict) -> dict:
        ns, rs_name = meta(rs).get("namespace", ""), meta(rs)["name"]
        template = copy.deepcopy(rs["spec"].get("template") or {})
        tmeta = template.get("metadata") or {}
        name = f"{rs_name}-{random_suffix()}"
        while self.store.get("pods", ns, name) is not None:
            name = f"{rs_name}-{random_suffix()}"
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "generateName": f"{rs_name}-", "namespace": ns,
                         "labels": dict(tmeta.get("labels") or {}),
                         "ownerReferences": [owner_reference(rs)]},
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending", "qosClass": _qos_class(template.get("spec") or {})},
        }
        if tmeta.get("annotations"):
            pod["metadata"]["annotations"] = dict(tmeta["annotations"])
        pod = admission.service_account_pod(self.store, defaults.apply_defaults("pods", pod))   # as if through the API
        created = self.store.create("pods", pod)
        self.recorder.normal(rs, "SuccessfulCreate", f"Created pod: {name}", component=COMPONENT)
        return created

    def _sync_status(self, ns: str, name: str, pods: list[dict]) -> None:
        rs = self.store.get("replicasets.apps", ns, name)
        if rs is None:
            return
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        now = self._clock()
        ready = [p for p in pods if pod_is_ready(p)]
        available = [p for p in ready if (_ready_since(p) or now) + min_ready <= now]
        if len(available) < len(ready):
            self.enqueue_after((ns, name), 1.0)   # some become available once minReadySeconds has passed
        labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        fully = [p for p in pods if all((meta(p).get("labels") or {}).get(k) == v for k, v in labels.items())]
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(fully), "readyReplicas": len(ready),
                  "availableReplicas": len(available), "observedGeneration": meta(rs).get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if (rs.get("status") or {}) == status:
            return
        rs["status"] = status
        self.store.update("replicasets.apps", rs, check_version=False)


def _qos_class(spec: dict) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    if all(r.get("limits") and (not r.get("requests") or r.get("requests") == r.get("limits")) for r in resources):
        return "Guaranteed"
    return "Burstable"
