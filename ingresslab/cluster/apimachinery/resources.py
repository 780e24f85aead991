"""The kinds the embedded API serves: one declaration per resource, read by discovery, routing, the store and tables.

Adding a kind is adding a line here; nothing else in the API knows resource names. Kinds that CustomResourceDefinitions
add at run time are registered here too (`register_custom`), by `apiserver/crds.py`: the lookups below then find
them as they find the built-in ones. One cluster is served per process, so the registry is the process's.
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
    custom: bool = False        # defined by a CustomResourceDefinition (apiserver/crds.py)
    categories: tuple[str, ...] = ()

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
    Resource("", "v1", "pods", "Pod", short_names=("po",), subresources=("status", "log", "exec", "attach", "portforward",
                                                                       "eviction")),
    Resource("", "v1", "services", "Service", short_names=("svc",), subresources=("status",)),
    Resource("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    Resource("", "v1", "events", "Event", short_names=("ev",)),
    Resource("", "v1", "nodes", "Node", namespaced=False, short_names=("no",), subresources=("status",)),
    Resource("apps", "v1", "deployments", "Deployment", short_names=("deploy",), subresources=("status", "scale")),
    Resource("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), subresources=("status", "scale")),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), subresources=("status",)),
    Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
             namespaced=False, short_names=("crd", "crds"), subresources=("status",), categories=("api-extensions",)),
    # Reviews are answered, never stored (apiserver/auth.py): create is their only verb, as on a real server.
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
             namespaced=False, verbs=("create",)),
    Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False,
             verbs=("create",)),
    # No short name: `ing` must mean networking.k8s.io alone (kubectl warns when a short name matches two groups).
    Resource("extensions", "v1beta1", "ingresses", "Ingress", subresources=("status",), served_only=True),
)

# The version each group prefers (discovery's preferredVersion).
PREFERRED = {"authorization.k8s.io": "v1", "authentication.k8s.io": "v1", "apps": "v1", "networking.k8s.io": "v1",
             "discovery.k8s.io": "v1", "extensions": "v1beta1", "apiextensions.k8s.io": "v1",
             "coordination.k8s.io": "v1"}

# --- kinds added by CustomResourceDefinitions (apiserver/crds.py keeps these in step with the stored CRDs) ----------
_CUSTOM: dict[str, tuple[Resource, ...]] = {}     # store key → the served versions, preferred first
_CUSTOM_STORAGE: dict[str, Resource] = {}         # store key → the storage version


def register_custom(served: tuple[Resource, ...], storage: Resource) -> None:
    """Serve a custom kind in `served` (preferred version first); objects are stored as `storage`."""
    _CUSTOM[storage.key] = served
    _CUSTOM_STORAGE[storage.key] = storage


def unregister_custom(key: str) -> None:
    _CUSTOM.pop(key, None)
    _CUSTOM_STORAGE.pop(key, None)


def custom_resources() -> tuple[Resource, ...]:
    return tuple(r for served in _CUSTOM.values() for r in served)


def served_resources() -> tuple[Resource, ...]:
    """Every resource served now: the built-in ones, then those of the established CRDs."""
    return RESOURCES + custom_resources()


def lookup(group: str, version: str, plural: str) -> Resource | None:
    for r in served_resources():
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def by_kind(api_version: str, kind: str) -> Resource | None:
    group, _, version = api_version.rpartition("/")
    for r in served_resources():
        if r.group == group and r.version == version and r.kind == kind:
            return r
    return None


def storage_resource(r: Resource) -> Resource:
    """The resource an object is stored as (extensions/v1beta1 Ingress → networking.k8s.io/v1; a custom kind's
    served version → its CRD's storage version)."""
    if r.served_only:
        return lookup("networking.k8s.io", "v1", r.plural)  # type: ignore[return-value]
    if r.custom:
        return _CUSTOM_STORAGE.get(r.key, r)
    return r


def by_key(key: str) -> Resource:
    for r in RESOURCES:
        if r.key == key and not r.served_only:
            return r
    if key in _CUSTOM_STORAGE:
        return _CUSTOM_STORAGE[key]
    raise KeyError(key)
