"""What every namespace holds from birth: the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap.

Two of kube-controller-manager's controllers, as small as they are there:

    serviceaccount         ensures a `default` ServiceAccount in every active namespace (and puts it back when it
                           is deleted)
    root-ca-cert-publisher ensures a `kube-root-ca.crt` ConfigMap holding the cluster's CA (`ca.crt`) in every
                           active namespace, and restores its content when it is changed or deleted

Pods mount both through the projected `kube-api-access-…` volume the ServiceAccount admission plugin adds
(`apiserver/admission.py`). Neighbours: `client.controller.Controller` (the work queue), the store.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apiserver.admission import ROOT_CA_CONFIGMAP
from ingresslab.cluster.client.controller import Controller, meta
from ingresslab.cluster.storage.store import Event, Store

DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def _active(store: Store, namespace: str) -> bool:
    ns = store.get("namespaces", "", namespace)
    return ns is not None and not meta(ns).get("deletionTimestamp")


class _PerNamespace(Controller):
    """Reconciles one key per namespace: on namespace events, and on events of the object it keeps there."""

    kept_key = ""
    kept_name = ""

    @property
    def kinds(self) -> tuple[str, ...]:   # type: ignore[override]
        return ("namespaces", self.kept_key)

    def initial_keys(self) -> Iterable[Hashable]:
        return [meta(ns)["name"] for ns in self.store.list("namespaces")]

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        m = meta(event.object)
        if event.key == "namespaces":
            if event.type != "DELETED":
                yield m["name"]
        elif m.get("name") == self.kept_name:
            yield m.get("namespace") or ""

    def _write(self, namespace: str, wanted: dict, same) -> None:
        if not _active(self.store, namespace):
            return
        current = self.store.get(self.kept_key, namespace, self.kept_name)
        try:
            if current is None:
                self.store.create(self.kept_key, wanted)
            elif not same(current):
                body = dict(current)
                body.update({k: v for k, v in wanted.items() if k != "metadata"})
                body["metadata"] = {**meta(current), "annotations": {
                    **(meta(current).get("annotations") or {}), **(wanted["metadata"].get("annotations") or {})}}
                self.store.update(self.kept_key, body, check_version=False)
        except errors.ApiError as error:
            if error.code not in (403, 404, 409):   # the namespace went away or someone else made it meanwhile
                raise


class ServiceAccountController(_PerNamespace):
    name = "serviceaccount"
    kept_key = "serviceaccounts"
    kept_name = "default"

    async def reconcile(self, key: Hashable) -> None:
        namespace = str(key)
        wanted = {"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": "default", "namespace": namespace}}
        self._write(namespace, wanted, lambda current: True)


class RootCACertPublisher(_PerNamespace):
    name = "root-ca-cert-publisher"
    kept_key = "configmaps"
    kept_name = ROOT_CA_CONFIGMAP

    def __init__(self, store: Store, ca_pem: str):
        super().__init__(store)
        self.ca_pem = ca_pem

    async def reconcile(self, key: Hashable) -> None:
        if not self.ca_pem:     # a cluster without a CA (bare controller tests) has nothing to publish
            return
        namespace = str(key)
        data = {"ca.crt": self.ca_pem}
        wanted = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace,
                               "annotations": {"kubernetes.io/description": DESCRIPTION}},
                  "data": data}
        self._write(namespace, wanted, lambda current: current.get("data") == data and not current.get("binaryData")
                    and (meta(current).get("annotations") or {}).get("kubernetes.io/description") == DESCRIPTION)
