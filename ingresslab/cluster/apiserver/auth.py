"""Who the caller is and what they may do: the two reviews kubectl asks the API server for.

    kubectl auth whoami   POST authentication.k8s.io/v1 selfsubjectreviews        → status.userInfo
    kubectl auth can-i    POST authorization.k8s.io/v1 selfsubjectaccessreviews   → status.allowed

The lab has one user, its learner, who holds the lab's token (the kubeconfig's `learner` user, `home.py`) and is the
cluster's admin: in the `system:masters` group, which RBAC lets do anything, as the admin of a kubeadm or kind
cluster. Reviews are answered, never stored; every other verb on them is refused as a real server refuses it.

Neighbours: `server.py` routes the two POSTs here; `resources.py` declares the two kinds (verbs: create).
"""
from __future__ import annotations

import copy

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.errors import Cause
from ingresslab.cluster.apimachinery.resources import Resource

ADMIN_USER = "learner"
ADMIN_GROUPS = ("system:masters", "system:authenticated")
ACCESS_REVIEWS = "selfsubjectaccessreviews.authorization.k8s.io"
SELF_REVIEWS = "selfsubjectreviews.authentication.k8s.io"
REVIEWS = (ACCESS_REVIEWS, SELF_REVIEWS)
ALLOWED_REASON = 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group ' \
                 '"system:masters"'


def review(r: Resource, body: dict) -> dict:
    """The answered review (201 Created) for a POSTed one."""
    if body.get("kind") not in (None, r.kind):
        raise errors.bad_request(f"the kind in the data ({body.get('kind')}) does not match the expected kind "
                                 f"({r.kind})")
    out = {"kind": r.kind, "apiVersion": r.api_version, "metadata": {"creationTimestamp": None}}
    if r.key == SELF_REVIEWS:
        out["status"] = {"userInfo": {"username": ADMIN_USER, "groups": list(ADMIN_GROUPS)}}
        return out
    spec = copy.deepcopy(body.get("spec") or {})
    if not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    has_resource, has_path = bool(spec.get("resourceAttributes")), bool(spec.get("nonResourceAttributes"))
    if has_resource == has_path:
        raise errors.invalid(r.kind, "", [Cause.invalid(
            "spec.resourceAttributes", spec.get("resourceAttributes"),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified")], r.group)
    out["spec"] = spec
    out["status"] = {"allowed": True, "reason": ALLOWED_REASON}
    return out
