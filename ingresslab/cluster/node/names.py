"""The cluster's DNS records, answered from the API's objects as CoreDNS's kubernetes plugin answers them.

`<service>.<namespace>.svc.cluster.local` is the Service's ClusterIP (a headless Service: its ready endpoints'
addresses), `<a-b-c-d>.<namespace>.pod.cluster.local` is that pod address. This is the `lookup` a pod's resolver
uses (`shell/resolver.py`) until a real cluster DNS server answers on the kube-dns Service.
"""
from __future__ import annotations

from ingresslab.cluster.storage.store import Store

__all__ = ["CLUSTER_DOMAIN", "store_lookup"]

CLUSTER_DOMAIN = "cluster.local"


def store_lookup(store: Store):
    def lookup(fqdn: str) -> list[str] | None:
        labels = fqdn.rstrip(".").split(".")
        suffix = CLUSTER_DOMAIN.split(".")
        if labels[-len(suffix):] != suffix or len(labels) != len(suffix) + 3:
            return None
        name, namespace, kind = labels[0], labels[1], labels[2]
        if kind == "svc":
            svc = store.get("services", namespace, name)
            if svc is None:
                return None
            spec = svc.get("spec") or {}
            if spec.get("clusterIP") and spec["clusterIP"] != "None":
                return [spec["clusterIP"]]
            if spec.get("type") == "ExternalName":
                return []
            addresses = []
            for sl in store.list("endpointslices.discovery.k8s.io", namespace):
                if (sl["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != name:
                    continue
                for ep in sl.get("endpoints") or []:
                    if (ep.get("conditions") or {}).get("ready", True):
                        addresses.extend(ep.get("addresses") or [])
            return sorted(set(addresses))
        if kind == "pod":
            ip = name.replace("-", ".")
            return [ip] if ip.count(".") == 3 else None
        return None
    return lookup
