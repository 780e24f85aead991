"""The admission plugins every real cluster runs, built into the API server's write path (`server.ApiServer.prepare`):

    DefaultIngressClass   an Ingress created without `spec.ingressClassName` (and without the legacy
                          `kubernetes.io/ingress.class` annotation) gets the IngressClass annotated
                          `ingressclass.kubernetes.io/is-default-class: "true"`; with several, the newest
                          (ties: the first name), as kube-apiserver's plugin picks
    ServiceAccount        a Pod gets `serviceAccountName: default` and, unless automounting is turned off, the
                          projected `kube-api-access-xxxxx` volume (token, the cluster's CA from the
                          `kube-root-ca.crt` ConfigMap, the namespace) mounted read-only in every container at
                          /var/run/secrets/kubernetes.io/serviceaccount

Pods made by the ReplicaSet controller are written to the store directly; it calls `service_account_pod` itself,
so they look as pods that went through the API do. The `default` ServiceAccount and `kube-root-ca.crt` ConfigMap
of each namespace are made by `controllers/serviceaccounts.py`, as kube-controller-manager makes them.

Neighbours: `server.py` (calls `admit` after defaults, before validation), the store (listers).
"""
from __future__ import annotations

import copy
import secrets

from ingresslab.cluster.storage.store import Store

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_SECONDS = 3607          # what kube-apiserver asks for (one hour and a little, so kubelets refresh in time)
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def admit(store: Store, key: str, operation: str, obj: dict) -> dict:
    """The built-in mutating plugins for one write; `obj` is returned changed (a copy) or as it came."""
    if operation != "CREATE":
        return obj
    if key == "ingresses.networking.k8s.io":
        return default_ingress_class(store, obj)
    if key == "pods":
        return service_account_pod(store, obj)
    return obj


def default_class_name(store: Store) -> str | None:
    defaults = [c for c in store.list("ingressclasses.networking.k8s.io", None)
                if ((c.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    if not defaults:
        return None
    # Newest first; equal timestamps by name. RFC 3339 UTC timestamps of one format sort as text.
    defaults.sort(key=lambda c: c["metadata"]["name"])
    defaults.sort(key=lambda c: c["metadata"].get("creationTimestamp") or "", reverse=True)
    return defaults[0]["metadata"]["name"]


def default_ingress_class(store: Store, ingress: dict) -> dict:
    spec = ingress.get("spec") or {}
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    if spec.get("ingressClassName") is not None or LEGACY_CLASS_ANNOTATION in annotations:
        return ingress
    name = default_class_name(store)
    if name is None:
        return ingress
    ingress = copy.deepcopy(ingress)
    if not isinstance(ingress.get("spec"), dict):     # `spec: null` decodes to an empty spec, as in Go
        ingress["spec"] = {}
    ingress["spec"]["ingressClassName"] = name
    return ingress


def _automount(store: Store, pod: dict, sa_name: str) -> bool:
    spec = pod.get("spec") or {}
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    sa = store.get("serviceaccounts", (pod.get("metadata") or {}).get("namespace") or "", sa_name)
    if sa is not None and sa.get("automountServiceAccountToken") is not None:
        return bool(sa["automountServiceAccountToken"])
    return True


def token_volume(name: str) -> dict:
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                     "fieldPath": "metadata.namespace"}}]}}]}}


def service_account_pod(store: Store, pod: dict) -> dict:
    """The ServiceAccount plugin on a new pod (mirror pods, with the kubelet's annotation, are left alone)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if "kubernetes.io/config.mirror" in annotations:
        return pod
    pod = copy.deepcopy(pod)
    spec = pod.setdefault("spec", {})
    sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa_name
    spec["serviceAccount"] = sa_name     # the deprecated twin the API still fills in
    if not _automount(store, pod, sa_name):
        return pod
    containers = [c for group in ("initContainers", "containers") for c in spec.get(group) or []
                  if isinstance(c, dict)]
    if all(any(m.get("mountPath") == TOKEN_MOUNT for m in c.get("volumeMounts") or []) for c in containers):
        return pod
    volumes = spec.setdefault("volumes", [])
    existing = {v.get("name") for v in volumes if isinstance(v, dict)}
    name = "kube-api-access-" + "".join(secrets.choice(_ALPHABET) for _ in range(5))
    while name in existing:
        name = "kube-api-access-" + "".join(secrets.choice(_ALPHABET) for _ in range(5))
    volumes.append(token_volume(name))
    for c in containers:
        mounts = c.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == TOKEN_MOUNT for m in mounts):
            mounts.append({"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT})
    return pod
