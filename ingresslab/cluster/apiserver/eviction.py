"""`POST …/pods/<name>/eviction`: the Eviction API (policy/v1), which `kubectl drain` uses when discovery lists it.

As the pod registry's eviction storage does it (`pkg/registry/core/pod/storage/eviction.go`):

* the body is an `Eviction` (JSON, YAML or kubectl's protobuf) whose `metadata.name` is the pod's, else 400
  `name in URL does not match name in Eviction object`; a namespace other than the URL's is refused as any create's;
* `?dryRun=All` and the Eviction's own `deleteOptions.dryRun` must agree; a dry run checks and changes nothing;
* a pod that is not there is 404 `pods "x" not found`;
* a running pod first gets the condition `DisruptionTarget` (reason `EvictionByEvictionAPI`), as since Kubernetes
  1.26, then is deleted with the Eviction's `deleteOptions` (so gracefully: Terminating, then gone); a pod that has
  finished, has not started (Pending) or is already terminating is deleted without the condition;
* the answer is `201` with a success `Status`.

This cluster serves no PodDisruptionBudgets (`kubectl get pdb` says the server has no such resource type), so no
eviction is ever refused with 429 for a budget: every eviction that is well formed goes through.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ingresslab.cluster.apimachinery import errors

from . import graceful

__all__ = ["evict"]

SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
API_VERSIONS = ("policy/v1", "policy/v1beta1")


def evict(server, pods, namespace: str, name: str, body: dict, *, dry_run_query: str | None) -> dict:
    """Evict the pod `namespace/name` as `body` (a decoded Eviction) asks; the Status to answer with 201."""
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if (kind or "Eviction") != "Eviction" or (api_version or "policy/v1") not in API_VERSIONS:
        raise errors.bad_request(f"the body is a {kind or '?'} ({api_version or '?'}), not an Eviction (policy/v1)")
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    if meta.get("name", "") != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    if meta.get("namespace") not in (None, "", namespace):
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
    options = body.get("deleteOptions")
    if options is not None and not isinstance(options, dict):
        raise errors.bad_request("deleteOptions: Invalid value: must be an object")
    options = graceful.delete_options(options, None)
    query = [dry_run_query] if dry_run_query else []
    if query and options.get("dryRun") and options["dryRun"] != query:
        raise errors.bad_request(f"Non-matching dry-run options in request and content: {query} and "
                                 f"{options['dryRun']}")
    dry_run = bool(query or options.get("dryRun"))
    pod = server.store.require("pods", namespace, name)
    if dry_run:
        return dict(SUCCESS)
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    settled = status.get("phase") in ("Succeeded", "Failed", "Pending") or meta.get("deletionTimestamp")
    if not settled:
        server.store.update("pods", _with_disruption_target(pod), check_version=False)
    server.delete(pods, namespace, name, options)
    return dict(SUCCESS)


def _with_disruption_target(pod: dict) -> dict:
    pod = {**pod, "status": dict(pod.get("status") or {})}
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [c for c in pod["status"].get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    conditions.append({"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                       "lastTransitionTime": now, "reason": "EvictionByEvictionAPI",
                       "message": "Eviction API: evicting"})
    pod["status"]["conditions"] = conditions
    return pod
