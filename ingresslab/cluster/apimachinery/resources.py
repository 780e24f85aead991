"""The kinds the embedded API serves: one declaration per resource, read by discovery, routing, the store and tables.

Adding a kind is adding a line here; nothing else in the API knows resource names.
"""
from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str          # "" for core
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    served_only: bool = False   # served for old manifests, stored as another version (extensions/v1beta1)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Store key: `pods`, `deployments.apps`, `ingresses.networking.k8s.io`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",), subresources=("status",)),
    Resource("", "v1", "pods", "Pod", short_names=("po",), subresources=("status", "log", "exec", "attach", "portforward")),
    Resource("", "v1", "services", "Service", short_names=("svc",), subresources=("status",)),
    Resource("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource("", "v1", "events", "Event", short_names=("ev",)),
    Resource("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), subresources=("status",)),
    Resource("apps", "v1", "deployments", "Deployment", short_names=("deploy",), subresources=("status", "scale")),
    Resource("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), subresources=("status", "scale")),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), subresources=("status",)),
    Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Resource("extensions", "v1beta1", "ingresses", "Ingress", short_names=("ing",), subresources=("status",),
             served_only=True),
)

# The version each group prefers (discovery's preferredVersion).
PREFERRED = {"apps": "v1", "networking.k8s.io": "v1", "discovery.k8s.io": "v1", "extensions": "v1beta1"}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def by_kind(api_version: str, kind: str) -> Resource | None:
    group, _, version = api_version.rpartition("/")
    for r in RESOURCES:
        if r.group == group and r.version == version and r.kind == kind:
            return r
    return None


def storage_resource(r: Resource) -> Resource:
    """The resource an object is stored as (extensions/v1beta1 Ingress → networking.k8s.io/v1)."""
    if r.served_only:
        return lookup("networking.k8s.io", "v1", r.plural)  # type: ignore[return-value]
    return r


def by_key(key: str) -> Resource:
    for r in RESOURCES:
        if r.key == key and not r.served_only:
            return r
    raise KeyError(key)
