"""The deployment controller: one ReplicaSet per pod template, rollouts between them, and the Deployment's status.

For a Deployment `coffee` whose template hashes to `7dbb5795f6` it keeps a ReplicaSet `coffee-7dbb5795f6`, owned by
the Deployment and selecting `pod-template-hash=7dbb5795f6` besides the Deployment's own selector. Scaling the
Deployment scales that ReplicaSet. Changing the template creates a new ReplicaSet (the next revision, annotation
`deployment.kubernetes.io/revision`) and moves the replicas over:

* RollingUpdate (the default): the new ReplicaSet gets every replica at once (a full surge, simpler than maxSurge's
  steps), and the old ones shrink as new pods become available, so the available count never drops below the
  desired one. An image that never starts leaves the old pods serving, as in a real cluster.
* Recreate: the old ReplicaSets go to zero first, the new one starts once their pods are gone.

The new ReplicaSet carries the Deployment's annotations (`kubernetes.io/change-cause` among them, for
`kubectl rollout history`). Old ReplicaSets stay (scaled to 0) up to `revisionHistoryLimit` for `kubectl rollout undo`. Events read as the real
controller's ("Scaled up replica set coffee-7dbb5795f6 to 2"). Neighbours: `replicasets.py` turns each ReplicaSet
into pods; the store's garbage collector deletes ReplicaSets and pods when their Deployment goes.
"""
from __future__ import annotations

import copy
import math

from ingresslab.cluster.storage.store import Event, Store, now_rfc3339
from ingresslab.cluster.client.controller import Controller, controller_of, meta, owned_by, owner_reference, pod_template_hash
from ingresslab.cluster.client.record import EventRecorder

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
COMPONENT = "deployment-controller"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# Annotations a Deployment does not hand to its new ReplicaSet (deploymentutil's annotationsToSkip).
NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, "deployment.kubernetes.io/revision-history",
              DESIRED, MAX_REPLICAS, "deprecated.deployment.rollback.to"}


def copy_deployment_annotations(d: dict, rs_annotations: dict) -> bool:
    """The Deployment's annotations (e.g. `kubernetes.io/change-cause`, which `kubectl rollout history` prints as
    CHANGE-CAUSE) onto its new ReplicaSet, as SetNewReplicaSetAnnotations does; True when something changed."""
    changed = False
    for k, v in (meta(d).get("annotations") or {}).items():
        if k not in NOT_COPIED and rs_annotations.get(k) != v:
            rs_annotations[k] = v
            changed = True
    return changed


def _template_without_hash(template: dict) -> dict:
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return template


def _revision(rs: dict) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _int_or_percent(value, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def _replicas(obj: dict, default: int = 1) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return default if value is None else int(value)


def _status(obj: dict, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


class DeploymentController(Controller):
    name = "deployment-controller"
    kinds = ("deployments.apps", "replicasets.apps")

    def __init__(self, store: Store, recorder: EventRecorder):
        super().__init__(store)
        self.recorder = recorder

    def initial_keys(self):
        return [(meta(d).get("namespace", ""), meta(d)["name"]) for d in self.store.iter_raw("deployments.apps")]

    def keys_for(self, event: Event):
        ns = meta(event.object).get("namespace", "")
        if event.key == "deployments.apps":
            yield (ns, meta(event.object)["name"])
            return
        for obj in (event.object, event.old):
            owner = controller_of(obj, "Deployment")
            if owner:
                yield (ns, owner)

    # ------------------------------------------------------------------------------------------- reconcile
    async def reconcile(self, key) -> None:
        ns, name = key
        d = self.store.get("deployments.apps", ns, name)
        if d is None:
            return
        uid = meta(d)["uid"]
        owned = [rs for rs in self.store.list("replicasets.apps", ns) if owned_by(rs, uid)]
        template = _template_without_hash(d["spec"].get("template"))
        new_rs = next((rs for rs in owned if _template_without_hash(rs["spec"].get("template")) == template), None)
        old = [rs for rs in owned if rs is not new_rs]
        desired = _replicas(d)
        spec = d.get("spec") or {}
        if not spec.get("paused"):
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                new_rs = self._recreate(d, new_rs, old, desired)
            else:
                new_rs = self._rolling(d, new_rs, old, desired)
            self._cleanup(d, old)
        self._sync_status(ns, name, new_rs)

    def _rolling(self, d: dict, new_rs: dict | None, old: list[dict], desired: int) -> dict | None:
        if new_rs is None:
            new_rs = self._create_rs(d, old, desired)
            if new_rs is None:
                return None
        else:
            new_rs = self._scale(d, new_rs, desired, newest_after=old, new=True)
        # Old replica sets keep what the new one cannot serve yet: available pods never drop below `desired`.
        allowed = max(0, desired - _status(new_rs, "availableReplicas"))
        for rs in sorted(old, key=_revision, reverse=True):
            keep = min(_replicas(rs, 0), allowed)
            allowed -= keep
            if keep != _replicas(rs, 0):
                self._scale(d, rs, keep)
        return new_rs

    def _recreate(self, d: dict, new_rs: dict | None, old: list[dict], desired: int) -> dict | None:
        for rs in old:
            if _replicas(rs, 0) > 0:
                self._scale(d, rs, 0)
        if any(_status(rs, "replicas") > 0 for rs in old):
            return new_rs   # wait until the old pods are gone (their ReplicaSets' status will wake us)
        if new_rs is None:
            return self._create_rs(d, old, desired)
        return self._scale(d, new_rs, desired, newest_after=old, new=True)

    # ------------------------------------------------------------------------------------------- replica sets
    def _max_replicas(self, d: dict, desired: int) -> int:
        surge = ((d["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
        return desired + _int_or_percent(surge, desired, round_up=True)

    def _create_rs(self, d: dict, old: list[dict], desired: int) -> dict | None:
        ns, dname = meta(d).get("namespace", ""), meta(d)["name"]
        status = d.get("status") or {}
        collisions = status.get("collisionCount")
        template = _template_without_hash(d["spec"].get("template"))
        hash_ = pod_template_hash(template, collisions)
        name = f"{dname}-{hash_}"
        if self.store.get("replicasets.apps", ns, name) is not None:
            # Someone else's ReplicaSet has our name: count the collision and hash again (the next pass).
            fresh = self.store.require("deployments.apps", ns, dname)
            fresh.setdefault("status", {})["collisionCount"] = int(collisions or 0) + 1
            self.store.update("deployments.apps", fresh, check_version=False)
            return None
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_
        selector = copy.deepcopy(d["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        revision = max([_revision(rs) for rs in old] + [0]) + 1
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": name, "namespace": ns,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {DESIRED: str(desired), MAX_REPLICAS: str(self._max_replicas(d, desired)),
                                REVISION: str(revision)},
                "ownerReferences": [owner_reference(d)],
            },
            "spec": {"replicas": desired, "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
                     "selector": selector, "template": template},
            "status": {"replicas": 0},
        }
        copy_deployment_annotations(d, rs["metadata"]["annotations"])
        created = self.store.create("replicasets.apps", rs)
        if desired > 0:
            self.recorder.normal(d, "ScalingReplicaSet", f"Scaled up replica set {name} to {desired}",
                                 component=COMPONENT)
        return created

    def _scale(self, d: dict, rs: dict, replicas: int, *, newest_after: list[dict] = (), new: bool = False) -> dict:
        """Set the replica count, recording the event; the new ReplicaSet also gets a revision newer than
        `newest_after` (rolling back to an older template makes its ReplicaSet the newest revision again)."""
        fresh = self.store.require("replicasets.apps", meta(rs)["namespace"], meta(rs)["name"])
        before = _replicas(fresh, 0)
        annotations = meta(fresh).setdefault("annotations", {})
        desired = _replicas(d)
        annotations[DESIRED] = str(desired)
        annotations[MAX_REPLICAS] = str(self._max_replicas(d, desired))
        top = max([_revision(o) for o in newest_after] + [0])
        if newest_after and top >= _revision(fresh):
            annotations[REVISION] = str(top + 1)
        if new:
            copy_deployment_annotations(d, annotations)
        fresh["spec"]["replicas"] = replicas
        stored = self.store.update("replicasets.apps", fresh, check_version=False)
        if before != replicas:
            direction = "up" if replicas > before else "down"
            self.recorder.normal(d, "ScalingReplicaSet",
                                 f"Scaled {direction} replica set {meta(rs)['name']} to {replicas} from {before}",
                                 component=COMPONENT)
        return stored

    def _cleanup(self, d: dict, old: list[dict]) -> None:
        limit = d["spec"].get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        idle = [rs for rs in old if _replicas(rs, 0) == 0 and _status(rs, "replicas") == 0]
        for rs in sorted(idle, key=_revision)[:max(0, len(idle) - limit)]:
            if self.store.get("replicasets.apps", meta(rs)["namespace"], meta(rs)["name"]) is not None:
                self.store.delete("replicasets.apps", meta(rs)["namespace"], meta(rs)["name"])

    # ------------------------------------------------------------------------------------------- status
    def _sync_status(self, ns: str, name: str, new_rs: dict | None) -> None:
        d = self.store.get("deployments.apps", ns, name)
        if d is None:
            return
        uid = meta(d)["uid"]
        owned = [rs for rs in self.store.list("replicasets.apps", ns) if owned_by(rs, uid)]
        new_rs = next((rs for rs in owned if new_rs is not None and meta(rs)["name"] == meta(new_rs)["name"]), None)
        desired = _replicas(d)
        old_status = d.get("status") or {}
        status = {
            "observedGeneration": meta(d).get("generation", 1),
            "replicas": sum(_status(rs, "replicas") for rs in owned),
            "updatedReplicas": _status(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_status(rs, "readyReplicas") for rs in owned),
            "availableReplicas": sum(_status(rs, "availableReplicas") for rs in owned),
        }
        unavailable = max(0, desired - status["availableReplicas"])
        if unavailable:
            status["unavailableReplicas"] = unavailable
        if "collisionCount" in old_status:
            status["collisionCount"] = old_status["collisionCount"]
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration",)}
        status["conditions"] = self._conditions(d, new_rs, status, desired, old_status.get("conditions") or [])
        annotations = dict(meta(d).get("annotations") or {})
        if new_rs is not None and _revision(new_rs):
            annotations[REVISION] = str(_revision(new_rs))
        if status == old_status and annotations == (meta(d).get("annotations") or {}):
            return
        d["status"] = status
        if annotations:
            d["metadata"]["annotations"] = annotations
        self.store.update("deployments.apps", d, check_version=False)

    def _conditions(self, d: dict, new_rs: dict | None, status: dict, desired: int, previous: list[dict]) -> list:
        unavailable_ok = ((d["spec"].get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            unavailable_ok = 0
        min_available = desired - _int_or_percent(unavailable_ok, desired, round_up=False)
        available = status.get("availableReplicas", 0) >= min_available
        rs_name = meta(new_rs)["name"] if new_rs else ""
        if d["spec"].get("paused"):
            progressing = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif new_rs is None:
            progressing = ("True", "ReplicaSetUpdated", "Waiting for the old replica sets' pods to go.")
        elif (status.get("updatedReplicas", 0) == desired and status.get("replicas", 0) == desired
              and status.get("availableReplicas", 0) >= desired):
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
        elif status.get("updatedReplicas", 0) == 0 and not _status(new_rs, "replicas"):
            progressing = ("True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        wanted = {
            "Available": ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.") if available
            else ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
            "Progressing": progressing,
        }
        by_type = {c.get("type"): c for c in previous}
        now = now_rfc3339()
        out = []
        for type_ in ("Available", "Progressing"):
            state, reason, message = wanted[type_]
            before = by_type.get(type_)
            if before and (before.get("status"), before.get("reason"), before.get("message")) == wanted[type_]:
                out.append(before)
                continue
            transition = before["lastTransitionTime"] if before and before.get("status") == state else now
            out.append({"type": type_, "status": state, "lastUpdateTime": now, "lastTransitionTime": transition,
                        "reason": reason, "message": message})
        return out
