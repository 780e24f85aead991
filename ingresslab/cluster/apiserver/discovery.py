"""Discovery and OpenAPI documents: how clients learn which kinds this API serves.

kubectl maps `svc` to `services` and `Ingress` in `networking.k8s.io/v1` to a URL through `/api`, `/apis` and
`/apis/<group>/<version>`; it decides whether the server validates fields itself (`fieldValidation=Strict`) by
looking for that query parameter on the PATCH operations of `/openapi/v3/<group-version>`. When the server
validates, kubectl skips client-side schema validation. The same documents carry each kind's component schemas
(`schemas.py`: descriptions for `kubectl explain`, `x-kubernetes-group-version-kind`, and the patch strategies
kubectl's `apply` computes strategic merge patches from). Paths come from `resources.RESOURCES`.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from ingresslab.cluster.apimachinery.resources import PREFERRED, RESOURCES, Resource
from ingresslab.cluster.apiserver import schemas

KUBE_VERSION = {
    # kubectl warns when the server is more than one minor version away from it; the lab is tested with 1.37.
    "major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37", "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36", "gitVersion": "v1.37.0-ingresslab",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc", "platform": "linux/amd64",
}


def group_versions() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group:
            versions = out.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
    return out


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list() -> dict:
    groups = []
    for group, versions in group_versions().items():
        preferred = PREFERRED.get(group, versions[0])
        groups.append({
            "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
        })
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict | None:
    versions = group_versions().get(group)
    if not versions:
        return None
    preferred = PREFERRED.get(group, versions[0])
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group,
            "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred}}


def _resource_entry(r: Resource) -> dict:
    entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
             "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.group in ("apps",):
        entry["categories"] = ["all"]
    if r.key in ("pods", "services", "replicasets.apps", "deployments.apps"):
        entry["categories"] = ["all"]
    if r.categories:
        entry["categories"] = list(r.categories)
    return entry


def _sub_entry(r: Resource, sub: str) -> dict:
    kind = {"log": "Pod", "scale": "Scale", "status": r.kind, "exec": "PodExecOptions",
            "attach": "PodAttachOptions", "portforward": "PodPortForwardOptions", "eviction": "Eviction"}[sub]
    verbs = {"log": ["get"], "scale": ["get", "patch", "update"], "status": ["get", "patch", "update"],
             "eviction": ["create"]}.get(sub, ["create", "get"])
    entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs}
    if sub == "scale":
        entry.update(group="autoscaling", version="v1")
    if sub == "eviction":      # kubectl drain evicts (policy/v1) when discovery lists this, else it deletes
        entry.update(group="policy", version="v1")
    return entry


def api_resource_list(group: str, version: str) -> dict | None:
    resources = []
    for r in RESOURCES:
        if r.group == group and r.version == version:
            resources.append(_resource_entry(r))
            resources.extend(_sub_entry(r, s) for s in r.subresources)
    if not resources:
        return None
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# --------------------------------------------------------------------------------------------------- OpenAPI v3
def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


_QUERY_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
    for name in ("dryRun", "fieldManager", "fieldValidation", "pretty")
]


def _operation(r: Resource, action: str) -> dict:
    return {
        "operationId": f"{action}{r.kind}",
        "parameters": _QUERY_PARAMS,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
    }


def openapi_v3_group_version(group: str, version: str) -> str:
    """The OpenAPI document of one group-version, as compact JSON (cached until a kind is registered)."""
    return _openapi_v3_group_version(group, version, schemas.registry().generation)


@lru_cache(maxsize=64)
def _openapi_v3_group_version(group: str, version: str, generation: int) -> str:
    paths = {}
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        prefix = "/" + _gv_path(group, version)
        scope = "/namespaces/{namespace}" if r.namespaced else ""
        paths[f"{prefix}{scope}/{r.plural}"] = {"post": _operation(r, "post"), "get": _operation(r, "list")}
        paths[f"{prefix}{scope}/{r.plural}/{{name}}"] = {
            "get": _operation(r, "get"), "put": _operation(r, "put"),
            "patch": _operation(r, "patch"), "delete": _operation(r, "delete")}
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes (ingresslab)", "version": KUBE_VERSION["gitVersion"]},
           "paths": paths, "components": {"schemas": schemas.registry().components_for(group, version)}}
    return json.dumps(doc, separators=(",", ":"))


def openapi_v3_index() -> dict:
    seen = []
    for r in RESOURCES:
        gv = (r.group, r.version)
        if gv not in seen:
            seen.append(gv)
    out = {}
    for group, version in seen:
        digest = hashlib.sha256(openapi_v3_group_version(group, version).encode()).hexdigest()[:32].upper()
        path = _gv_path(group, version)
        out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": out}


def _pb_string(field: int, value: str) -> bytes:
    data = value.encode()
    return bytes([field << 3 | 2, len(data)]) + data


def openapi_v2_protobuf() -> bytes:
    """An OpenAPI v2 document with no definitions, in the protobuf form kubectl asks for.

    kubectl falls back to it for kinds the v3 document does not describe; finding no schema, it leaves validation
    to the server (and an unknown kind then fails where a real cluster fails it: "no matches for kind")."""
    info = _pb_string(1, "Kubernetes (ingresslab)") + _pb_string(2, KUBE_VERSION["gitVersion"])
    return _pb_string(1, "2.0") + bytes([2 << 3 | 2, len(info)]) + info
