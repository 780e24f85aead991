"""Graceful deletion of pods, as the pod registry's strategy (`CheckGracefulDelete`) and the generic store do it.

A DELETE on a pod that runs on a node does not remove it: it sets `metadata.deletionTimestamp` (now + the grace
period) and `deletionGracePeriodSeconds`, and answers 200 with the pod. kubectl then shows it `Terminating`, the
endpointslice controller takes it out of every Service at once (`ready: false, terminating: true`), and the kubelet
stops its containers and deletes it for good (`node/kubelet.py`). The grace period comes from the DeleteOptions
(`gracePeriodSeconds` in the body or the query: kubectl's `--grace-period`), else the pod's
`spec.terminationGracePeriodSeconds` (30 by default). A grace period of 0 (`--grace-period=0 --force`), a pod never
bound to a node, or one that has finished goes at once. A second DELETE may only shorten the grace period.

The same holds for pods the garbage collector deletes (their ReplicaSet went with its Deployment): they are
Terminating first, as on a real cluster, unless the delete asked to orphan its dependents
(`kubectl delete --cascade=orphan`, `propagationPolicy: Orphan`), which keeps them and drops their owner reference.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ingresslab.cluster.apimachinery import errors

__all__ = ["delete_options", "graceful_deadline", "keep_deletion_fields", "propagation", "PROPAGATION_POLICIES"]

DEFAULT_GRACE_SECONDS = 30


def delete_options(body: dict | None, query_grace: str | None, *, query_policy: str | None = None,
                   query_orphan: str | None = None) -> dict:
    """The DeleteOptions of a DELETE request: its decoded body (JSON or kubectl's protobuf; may be absent), with
    `?gracePeriodSeconds=`, `?propagationPolicy=` and `?orphanDependents=` (how the Python client sends them) on
    top."""
    options = dict(body or {})
    if query_policy is not None:
        options["propagationPolicy"] = query_policy
    if query_orphan is not None:
        if query_orphan not in ("true", "false"):
            raise errors.bad_request(f'orphanDependents: Invalid value: "{query_orphan}": must be true or false')
        options["orphanDependents"] = query_orphan == "true"
    if query_grace is not None:
        try:
            options["gracePeriodSeconds"] = int(query_grace)
        except ValueError:
            raise errors.bad_request(f'gracePeriodSeconds: Invalid value: "{query_grace}": must be an integer') \
                from None
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.bad_request("gracePeriodSeconds: Invalid value: must be an integer")
    causes = []       # apimachinery's ValidateDeleteOptions
    policy, orphan = options.get("propagationPolicy"), options.get("orphanDependents")
    if orphan is not None and policy is not None:
        causes.append(errors.Cause.invalid("propagationPolicy", policy,
                                           "orphanDependents and deletionPropagation cannot be both set"))
    if policy is not None and policy not in PROPAGATION_POLICIES:
        causes.append(errors.Cause.not_supported("propagationPolicy", policy, (*PROPAGATION_POLICIES, "nil")))
    if causes:
        raise errors.invalid("DeleteOptions", "", causes, group="meta.k8s.io")
    return options


PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")


def propagation(options: dict) -> str:
    """How a delete treats the object's dependents: `Orphan` keeps them (without the owner reference), `Background`
    (the default) and `Foreground` delete them too. The deprecated `orphanDependents: true` means Orphan."""
    if options.get("propagationPolicy"):
        return options["propagationPolicy"]
    return "Orphan" if options.get("orphanDependents") is True else "Background"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def graceful_deadline(pod: dict, options: dict, *, now: datetime | None = None) -> dict | None:
    """The pod marked for graceful deletion, or None when it must be deleted now."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
    grace = options.get("gracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds")
        grace = DEFAULT_GRACE_SECONDS if grace is None else int(grace)
    grace = max(int(grace), 0)
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        grace = 0
    if grace == 0:
        return None
    now = now or datetime.now(timezone.utc)
    if meta.get("deletionTimestamp"):
        current = meta.get("deletionGracePeriodSeconds")
        if current is not None and grace >= int(current):
            return pod          # already terminating with no more time than that: nothing changes
    marked = dict(pod)
    marked["metadata"] = {**meta, "deletionTimestamp": _rfc3339(now + timedelta(seconds=grace)),
                          "deletionGracePeriodSeconds": grace}
    return marked


def keep_deletion_fields(obj: dict, old: dict) -> None:
    """An update cannot set, move or clear a deletion mark: those fields stay the stored object's."""
    meta, old_meta = obj.setdefault("metadata", {}), old.get("metadata") or {}
    for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
