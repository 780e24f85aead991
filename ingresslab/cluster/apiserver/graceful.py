"""Graceful deletion of pods, as the pod registry's strategy (`CheckGracefulDelete`) and the generic store do it.

A DELETE on a pod that runs on a node does not remove it: it sets `metadata.deletionTimestamp` (now + the grace
period) and `deletionGracePeriodSeconds`, and answers 200 with the pod. kubectl then shows it `Terminating`, the
endpointslice controller takes it out of every Service at once (`ready: false, terminating: true`), and the kubelet
stops its containers and deletes it for good (`node/kubelet.py`). The grace period comes from the DeleteOptions
(`gracePeriodSeconds` in the body or the query: kubectl's `--grace-period`), else the pod's
`spec.terminationGracePeriodSeconds` (30 by default). A grace period of 0 (`--grace-period=0 --force`), a pod never
bound to a node, or one that has finished goes at once. A second DELETE may only shorten the grace period.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ingresslab.cluster.apimachinery import errors

__all__ = ["delete_options", "graceful_deadline", "keep_deletion_fields"]

DEFAULT_GRACE_SECONDS = 30


def delete_options(body: dict | None, query_grace: str | None) -> dict:
    """The DeleteOptions of a DELETE request: its decoded body (JSON or kubectl's protobuf; may be absent), with
    `?gracePeriodSeconds=` on top."""
    options = dict(body or {})
    if query_grace is not None:
        try:
            options["gracePeriodSeconds"] = int(query_grace)
        except ValueError:
            raise errors.bad_request(f'gracePeriodSeconds: Invalid value: "{query_grace}": must be an integer') \
                from None
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.bad_request("gracePeriodSeconds: Invalid value: must be an integer")
    return options


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
