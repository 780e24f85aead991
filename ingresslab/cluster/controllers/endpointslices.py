"""Who backs each Service: EndpointSlices (what kube-proxy and ingress-nginx read) and the legacy Endpoints.

For a Service with a selector, the pods it selects that have an IP become endpoints: address, `ready`/`serving`/
`terminating` conditions, `nodeName`, a `targetRef` to the pod. Ports carry the Service port's name and the
*target* port, resolved per pod: a number as is, a name through that pod's container ports, so two pods may listen
on different ports under one name (they then land in different slices, as in Kubernetes). Slices are named
`<service>-<5 characters>`, labelled `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`,
hold up to 100 endpoints and are owned by the Service (the store's garbage collector removes them with it). The
same content is written as core/v1 Endpoints (`subsets` with `addresses` and `notReadyAddresses`) for
`kubectl get endpoints`.

A Service without a selector is left to its user, as in Kubernetes; the Endpoints they write are mirrored into an
EndpointSlice (the endpointslicemirroring controller's job) so kube-proxy forwards to them too.

Writes happen only when content changes. Neighbours: the kubelet (`kubelet.py`) sets the pod IPs and readiness read
here; kube-proxy (`kubeproxy.py`) and the Ingress controller read the slices.
"""
from __future__ import annotations

import ipaddress

from ingresslab.cluster.apimachinery.selectors import LabelSelector
from ingresslab.cluster.storage.store import Event, Store
from ingresslab.cluster.client.controller import Controller, meta, owner_reference, pod_is_ready, random_suffix

SLICES = "endpointslices.discovery.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
MIRROR = "endpointslicemirroring-controller.k8s.io"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
HEADLESS = "service.kubernetes.io/headless"
MAX_ENDPOINTS = 100


def resolve_target_port(port: dict, pod: dict) -> int | None:
    """The pod port a Service port sends to: `targetPort` by number, or by the name of a container port."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    protocol = port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and (cport.get("protocol") or "TCP") == protocol:
                return int(cport["containerPort"])
    return None


def _ip_key(ip: str):
    try:
        return (0, int(ipaddress.ip_address(ip)))
    except ValueError:
        return (1, ip)


class EndpointSliceController(Controller):
    name = "endpointslice-controller"
    kinds = ("services", "pods", SLICES, "endpoints")

    def __init__(self, store: Store):
        super().__init__(store)
        self._written_endpoints: set[tuple[str, str]] = set()

    def initial_keys(self):
        return [(meta(s).get("namespace", ""), meta(s)["name"]) for s in self.store.iter_raw("services")]

    def keys_for(self, event: Event):
        obj = event.object
        ns = meta(obj).get("namespace", "")
        if event.key == "services":
            yield (ns, meta(obj)["name"])
        elif event.key == "pods":
            labels = [meta(o).get("labels") or {} for o in (obj, event.old) if o is not None]
            for svc in self.store.iter_raw("services"):
                selector = (svc.get("spec") or {}).get("selector")
                if meta(svc).get("namespace") == ns and selector and any(
                        all(lbl.get(k) == v for k, v in selector.items()) for lbl in labels):
                    yield (ns, meta(svc)["name"])
        elif event.key == SLICES:
            for o in (obj, event.old):
                labels = meta(o or {}).get("labels") or {}
                if labels.get(MANAGED_BY) in (CONTROLLER, MIRROR) and labels.get(SERVICE_NAME):
                    yield (ns, labels[SERVICE_NAME])
        else:
            yield (ns, meta(obj)["name"])

    # ------------------------------------------------------------------------------------------- reconcile
    async def reconcile(self, key) -> None:
        ns, name = key
        svc = self.store.get("services", ns, name)
        if svc is None:
            if key in self._written_endpoints and self.store.get("endpoints", ns, name) is not None:
                self.store.delete("endpoints", ns, name)
            self._written_endpoints.discard(key)
            return
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            self._sync_slices(svc, [], CONTROLLER, keep_none=True)
            return
        if not spec.get("selector"):
            self._mirror(svc)
            return
        groups = self._groups_from_pods(svc)
        self._sync_slices(svc, groups, CONTROLLER)
        self._sync_endpoints(svc, groups)

    def _groups_from_pods(self, svc: dict) -> list[tuple[list[dict], list[dict]]]:
        """(ports, endpoints) per distinct resolved port set, endpoints sorted by address."""
        ns = meta(svc).get("namespace", "")
        spec = svc["spec"]
        selector = LabelSelector.from_match_labels({"matchLabels": spec["selector"]})
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[tuple, list[dict]] = {}
        for pod in self.store.list("pods", ns, labels=selector):
            status = pod.get("status") or {}
            ip = status.get("podIP")
            if not ip or status.get("phase") in ("Succeeded", "Failed"):
                continue
            ports = []
            for port in spec.get("ports") or []:
                target = resolve_target_port(port, pod)
                if target is not None:
                    ports.append((port.get("name") or "", target, port.get("protocol") or "TCP"))
            if spec.get("ports") and not ports:
                continue
            terminating = bool(meta(pod).get("deletionTimestamp"))
            ready = (pod_is_ready(pod) or publish_not_ready) and not terminating
            endpoint = {"addresses": [ip],
                        "conditions": {"ready": ready, "serving": ready or (terminating and pod_is_ready(pod)),
                                       "terminating": terminating}}
            if (pod.get("spec") or {}).get("nodeName"):
                endpoint["nodeName"] = pod["spec"]["nodeName"]
            endpoint["targetRef"] = {"kind": "Pod", "namespace": ns, "name": meta(pod)["name"],
                                     "uid": meta(pod)["uid"]}
            groups.setdefault(tuple(ports), []).append(endpoint)
        out = []
        for ports, endpoints in sorted(groups.items()):
            endpoints.sort(key=lambda e: _ip_key(e["addresses"][0]))
            port_list = [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]
            for i in range(0, len(endpoints), MAX_ENDPOINTS):
                out.append((port_list, endpoints[i:i + MAX_ENDPOINTS]))
        return out

    def _mirror(self, svc: dict) -> None:
        ns, name = meta(svc).get("namespace", ""), meta(svc)["name"]
        ep = self.store.get("endpoints", ns, name)
        groups = []
        if ep is not None and (meta(ep).get("labels") or {}).get(SKIP_MIRROR) != "true":
            for subset in ep.get("subsets") or []:
                ports = [{"name": p.get("name") or "", "port": int(p["port"]), "protocol": p.get("protocol") or "TCP"}
                         for p in subset.get("ports") or []]
                endpoints = []
                for addresses, ready in ((subset.get("addresses"), True), (subset.get("notReadyAddresses"), False)):
                    for addr in addresses or []:
                        e = {"addresses": [addr["ip"]],
                             "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                        if addr.get("nodeName"):
                            e["nodeName"] = addr["nodeName"]
                        if addr.get("targetRef"):
                            e["targetRef"] = addr["targetRef"]
                        endpoints.append(e)
                groups.append((ports, endpoints))
        self._sync_slices(svc, groups, MIRROR, keep_none=ep is None)

    # ------------------------------------------------------------------------------------------- writing
    def _sync_slices(self, svc: dict, groups: list, manager: str, *, keep_none: bool = False) -> None:
        ns, name = meta(svc).get("namespace", ""), meta(svc)["name"]
        existing = [s for s in self.store.list(SLICES, ns)
                    if (meta(s).get("labels") or {}).get(SERVICE_NAME) == name
                    and (meta(s).get("labels") or {}).get(MANAGED_BY) in (CONTROLLER, MIRROR)]
        if not groups and not keep_none and manager == CONTROLLER:
            groups = [(None, [])]   # a placeholder slice says "selected, but nothing behind it"
        labels = {**(meta(svc).get("labels") or {}), SERVICE_NAME: name, MANAGED_BY: manager}
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        unused = list(existing)
        for ports, endpoints in groups:
            body = {"addressType": "IPv4", "endpoints": endpoints}
            if ports is not None:
                body["ports"] = ports
            match = next((s for s in unused if s.get("ports") == ports), None) or (unused[0] if unused else None)
            if match is None:
                slice_name = f"{name}-{random_suffix()}"
                while self.store.get(SLICES, ns, slice_name) is not None:
                    slice_name = f"{name}-{random_suffix()}"
                self.store.create(SLICES, {
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": slice_name, "generateName": f"{name}-", "namespace": ns, "labels": labels,
                                 "ownerReferences": [owner_reference(svc)]}, **body})
                continue
            unused.remove(match)
            current = {k: match.get(k) for k in ("addressType", "endpoints", "ports")}
            wanted = {"addressType": "IPv4", "endpoints": endpoints, "ports": ports}
            if current != wanted or meta(match).get("labels") != labels or \
                    meta(match).get("ownerReferences") != [owner_reference(svc)]:
                match.update(body)
                if ports is None:
                    match.pop("ports", None)
                match["metadata"]["labels"] = labels
                match["metadata"]["ownerReferences"] = [owner_reference(svc)]
                self.store.update(SLICES, match, check_version=False)
        for stale in unused:
            if self.store.get(SLICES, ns, meta(stale)["name"]) is not None:
                self.store.delete(SLICES, ns, meta(stale)["name"])

    def _sync_endpoints(self, svc: dict, groups: list) -> None:
        ns, name = meta(svc).get("namespace", ""), meta(svc)["name"]
        subsets = []
        for ports, endpoints in groups:
            if not endpoints:
                continue
            subset: dict = {}
            for ready, field in ((True, "addresses"), (False, "notReadyAddresses")):
                addresses = []
                for e in endpoints:
                    if e["conditions"]["ready"] == ready:
                        addr = {"ip": e["addresses"][0]}
                        if e.get("nodeName"):
                            addr["nodeName"] = e["nodeName"]
                        addr["targetRef"] = e["targetRef"]
                        addresses.append(addr)
                if addresses:
                    subset[field] = addresses
            subset["ports"] = [{k: v for k, v in p.items() if v != "" or k != "name"} for p in ports]
            subsets.append(subset)
        labels = dict(meta(svc).get("labels") or {})
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS] = ""
        ep = self.store.get("endpoints", ns, name)
        self._written_endpoints.add((ns, name))
        if ep is None:
            body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}}
            if labels:
                body["metadata"]["labels"] = labels
            if subsets:
                body["subsets"] = subsets
            self.store.create("endpoints", body)
            return
        if ep.get("subsets") == (subsets or None) and (meta(ep).get("labels") or {}) == labels:
            return
        if subsets:
            ep["subsets"] = subsets
        else:
            ep.pop("subsets", None)
        ep["metadata"]["labels"] = labels
        if not labels:
            ep["metadata"].pop("labels")
        self.store.update("endpoints", ep, check_version=False)
