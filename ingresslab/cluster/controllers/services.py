"""Service IPs and node ports: allocated at admission, as the API server's allocators do, and kept whole afterwards.

`ServiceAllocator` is called by the API server on every Service create and update, before the object is stored:
`admit(obj, old)` returns the causes that make the request a 422 (a requested ClusterIP outside the range or taken,
a nodePort outside 30000-32767 or taken, worded as the real API server words them), and `allocate(obj, old)` fills
in `spec.clusterIP`/`clusterIPs` from `network.service_ips()` and a nodePort for each port of a NodePort or
LoadBalancer Service. The store is the allocation table: an address or port is in use while a stored Service holds
it, so deleting a Service, or turning a NodePort Service into a ClusterIP one, frees them with no extra bookkeeping.

`ServiceController` keeps that true for objects written straight to the store (tests, restores): it fills in what is
missing, and it keeps the `kubernetes` Service in `default` (ClusterIP .1, port 443 → the API server), as the API
server itself does. Neighbours: `endpointslices.py` (who backs a Service), `kubeproxy.py` (who forwards to it).
"""
from __future__ import annotations

import copy
import ipaddress
import random

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.errors import Cause
from ingresslab.cluster.node.network import NODE_PORT_RANGE, Network
from ingresslab.cluster.storage.store import Event, Store
from ingresslab.cluster.client.controller import Controller, meta

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
KUBERNETES_SERVICE = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "kubernetes", "namespace": "default",
                 "labels": {"component": "apiserver", "provider": "kubernetes"}},
    "spec": {"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
             "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
             "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
    "status": {"loadBalancer": {}},
}


def _type(svc: dict) -> str:
    return (svc.get("spec") or {}).get("type") or "ClusterIP"


def _requested_ip(spec: dict) -> str:
    ips = spec.get("clusterIPs") or []
    return spec.get("clusterIP") or (ips[0] if ips else "") or ""


def _go_strings(values: list[str]) -> str:
    """How apimachinery prints the []string value of a clusterIPs error."""
    return "[]string{" + ", ".join(f'"{v}"' for v in values) + "}"


class ServiceAllocator:
    def __init__(self, store: Store, network: Network):
        self.store = store
        self.network = network
        self.range = ipaddress.ip_network(network.service_cidr)

    # ------------------------------------------------------------------------------------------- what is taken
    def _others(self, obj: dict) -> list[dict]:
        ns, name = meta(obj).get("namespace", ""), meta(obj).get("name", "")
        return [s for s in self.store.iter_raw("services")
                if (meta(s).get("namespace", ""), meta(s).get("name")) != (ns, name)]

    def used_ips(self, obj: dict | None = None) -> set[str]:
        services = self._others(obj) if obj is not None else self.store.iter_raw("services")
        return {ip for s in services for ip in [_requested_ip(s.get("spec") or {})] if ip and ip != "None"}

    def used_node_ports(self, obj: dict | None = None) -> set[tuple[int, str]]:
        services = self._others(obj) if obj is not None else self.store.iter_raw("services")
        return {(int(p["nodePort"]), p.get("protocol") or "TCP") for s in services if _type(s) in NODE_PORT_TYPES
                for p in (s.get("spec") or {}).get("ports") or [] if p.get("nodePort")}

    # ------------------------------------------------------------------------------------------- admission
    def admit(self, obj: dict, old: dict | None = None) -> list[Cause]:
        """The allocation rules a create (old None) or update must pass; no causes means allocate() will succeed."""
        spec = obj.get("spec") or {}
        causes: list[Cause] = []
        stype = _type(obj)
        ip = _requested_ip(spec)
        old_ip = _requested_ip((old or {}).get("spec") or {})
        if stype == "ExternalName":
            ip = ""
        if old_ip and ip and ip != old_ip and stype != "ExternalName":
            causes.append(Cause("spec.clusterIPs[0]", f"Invalid value: {_go_strings([ip])}: may not change once set"))
        elif ip == "None" and stype in NODE_PORT_TYPES:
            causes.append(Cause.invalid("spec.clusterIPs[0]", "None",
                                        f"may not be set to 'None' for {stype} services"))
        elif ip and ip != "None" and ip != old_ip:
            causes.extend(self._check_ip(ip))
        if stype in NODE_PORT_TYPES:
            causes.extend(self._check_node_ports(obj, old))
        return causes

    def _check_ip(self, ip: str) -> list[Cause]:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return [Cause.invalid("spec.clusterIPs[0]", ip,
                                  "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
        if addr not in self.range or addr in (self.range.network_address, self.range.broadcast_address):
            return [Cause("spec.clusterIPs",
                          f"Invalid value: {_go_strings([ip])}: failed to allocate IP {ip}: the provided IP ({ip}) is "
                          f"not in the valid range. The range of valid IPs is {self.range}")]
        if ip in self.used_ips():
            return [Cause("spec.clusterIPs", f"Invalid value: {_go_strings([ip])}: failed to allocate IP {ip}: "
                                             "provided IP is already allocated")]
        return []

    def _check_node_ports(self, obj: dict, old: dict | None) -> list[Cause]:
        low, high = NODE_PORT_RANGE
        taken = self.used_node_ports(obj)
        mine: set[tuple[int, str]] = set()
        causes = []
        for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
            node_port = port.get("nodePort")
            if not node_port:
                continue
            field, key = f"spec.ports[{i}].nodePort", (int(node_port), port.get("protocol") or "TCP")
            if not low <= int(node_port) <= high:
                causes.append(Cause.invalid(field, node_port, f"provided port is not in the valid range. "
                                                              f"The range of valid ports is {low}-{high}"))
            elif key in mine:
                causes.append(Cause.duplicate(field, node_port))
            elif key in taken:
                causes.append(Cause.invalid(field, node_port, "provided port is already allocated"))
            mine.add(key)
        return causes

    # ------------------------------------------------------------------------------------------- allocation
    def allocate(self, obj: dict, old: dict | None = None) -> dict:
        """The Service to store: requested values checked, missing ClusterIP and nodePorts filled in.

        Pass the stored object as `old` on update; when None, a stored Service of the same name is taken as old
        (so an update that omits clusterIP keeps it, as the API server does). Raises 422 Invalid on a clash, and
        500 when a range is full."""
        if old is None:
            old = self.store.get("services", meta(obj).get("namespace", ""), meta(obj).get("name", ""))
        causes = self.admit(obj, old)
        if causes:
            raise errors.invalid("Service", meta(obj).get("name", ""), causes)
        obj = copy.deepcopy(obj)
        spec = obj.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        stype = _type(obj)
        if stype == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        else:
            ip = _requested_ip(spec) or _requested_ip(old_spec) or self._free_ip()
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            if ip != "None":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
        ports = spec.get("ports") or []
        if stype in NODE_PORT_TYPES:
            taken = self.used_node_ports(obj) | {(int(p["nodePort"]), p.get("protocol") or "TCP")
                                                 for p in ports if p.get("nodePort")}
            for port in ports:
                if port.get("nodePort"):
                    continue
                kept = self._old_node_port(port, old_spec, stype=_type(old or {}))
                protocol = port.get("protocol") or "TCP"
                node_port = kept if kept and (kept, protocol) not in taken else self._free_node_port(taken, protocol)
                port["nodePort"] = node_port
                taken.add((node_port, protocol))
            spec.setdefault("externalTrafficPolicy", "Cluster")
        else:
            for port in ports:
                port.pop("nodePort", None)      # ClusterIP again: the node ports are released
            if stype != "ExternalName":
                spec.pop("externalTrafficPolicy", None)
        return obj

    @staticmethod
    def _old_node_port(port: dict, old_spec: dict, *, stype: str) -> int | None:
        if stype not in NODE_PORT_TYPES:
            return None
        for old in old_spec.get("ports") or []:
            same_name = port.get("name") and old.get("name") == port.get("name")
            same_port = old.get("port") == port.get("port") and (old.get("protocol") or "TCP") == (
                port.get("protocol") or "TCP")
            if (same_name or same_port) and old.get("nodePort"):
                return int(old["nodePort"])
        return None

    def _free_ip(self, *, first_too: bool = False) -> str:
        """The lowest free ClusterIP; the first one of the range is kept for the `kubernetes` Service."""
        used = self.used_ips()
        candidates = list(self.network.service_ips())
        for ip in candidates if first_too else candidates[1:]:
            if ip not in used:
                return ip
        raise errors.ApiError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: "
                                                    "range is full")

    @staticmethod
    def _free_node_port(taken: set[tuple[int, str]], protocol: str) -> int:
        low, high = NODE_PORT_RANGE
        # Random like the API server's allocator, so a learner does not mistake the port for a rule.
        start = random.randint(low, high)
        for offset in range(high - low + 1):
            candidate = low + (start - low + offset) % (high - low + 1)
            if (candidate, protocol) not in taken:
                return candidate
        raise errors.ApiError(500, "InternalError", "Internal error occurred: failed to allocate a nodePort: "
                                                    "range is full")

    # ------------------------------------------------------------------------------------------- API hooks
    def register(self, admission) -> None:
        """Plug into the API server's `Admission` (validators and mutators by resource key)."""
        admission.add_validator("services", lambda op, obj, old: self.admit(obj, old))
        admission.add_mutator("services", lambda op, obj, old: self.allocate(obj, old))


class ServiceController(Controller):
    """Repairs Services stored without allocations and keeps the `kubernetes` Service."""

    name = "service-controller"
    kinds = ("services",)

    def __init__(self, store: Store, allocator: ServiceAllocator, *, api_endpoint: tuple[str, int] | None = None):
        super().__init__(store)
        self.allocator = allocator
        self.api_endpoint = api_endpoint

    def initial_keys(self):
        keys = [(meta(s).get("namespace", ""), meta(s)["name"]) for s in self.store.iter_raw("services")]
        return [("default", "kubernetes")] + keys

    def keys_for(self, event: Event):
        yield (meta(event.object).get("namespace", ""), meta(event.object)["name"])

    async def reconcile(self, key) -> None:
        ns, name = key
        svc = self.store.get("services", ns, name)
        if svc is None:
            if key == ("default", "kubernetes") and self.store.get("namespaces", "", "default") is not None:
                self._create_kubernetes_service()
            return
        if (ns, name) == ("default", "kubernetes") and self.api_endpoint:
            self._sync_api_endpoints(svc)
        spec = svc.get("spec") or {}
        missing_ip = _type(svc) != "ExternalName" and not _requested_ip(spec)
        missing_port = _type(svc) in NODE_PORT_TYPES and any(not p.get("nodePort") for p in spec.get("ports") or [])
        if missing_ip or missing_port:
            fixed = self.allocator.allocate(svc, old=svc)
            self.store.update("services", fixed, check_version=False)

    def _create_kubernetes_service(self) -> None:
        svc = copy.deepcopy(KUBERNETES_SERVICE)
        ip = self.allocator._free_ip(first_too=True)
        svc["spec"]["clusterIP"], svc["spec"]["clusterIPs"] = ip, [ip]
        self.store.create("services", svc)

    def _sync_api_endpoints(self, svc: dict) -> None:
        """The API server's own address behind the `kubernetes` Service, as the apiserver's reconciler writes it."""
        host, port = self.api_endpoint
        subsets = [{"addresses": [{"ip": host}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]
        ep = self.store.get("endpoints", "default", "kubernetes")
        if ep is None:
            self.store.create("endpoints", {"apiVersion": "v1", "kind": "Endpoints",
                                            "metadata": {"name": "kubernetes", "namespace": "default",
                                                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                                            "subsets": subsets})
        elif ep.get("subsets") != subsets:
            ep["subsets"] = subsets
            self.store.update("endpoints", ep, check_version=False)
        eps = {"addressType": "IPv4",
               "endpoints": [{"addresses": [host], "conditions": {"ready": True, "serving": True,
                                                                  "terminating": False}}],
               "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
        current = self.store.get("endpointslices.discovery.k8s.io", "default", "kubernetes")
        if current is None:
            self.store.create("endpointslices.discovery.k8s.io", {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"kubernetes.io/service-name": "kubernetes"}}, **eps})
        elif any(current.get(k) != v for k, v in eps.items()):
            current.update(eps)
            self.store.update("endpointslices.discovery.k8s.io", current, check_version=False)
