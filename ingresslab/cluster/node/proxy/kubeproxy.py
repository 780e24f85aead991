"""kube-proxy: Services and EndpointSlices become forwarding rules that really carry traffic, and iptables text.

For each TCP and UDP port of each Service, `build_forward_rules` makes one `ForwardRule` on ClusterIP:port (the port at the
lab's offset below 1024 when not root, `network.bind_port`) and, for NodePort and LoadBalancer Services, one on
every node's IP at the nodePort. Each rule's backends are the *ready* endpoints of the Service's EndpointSlices for
that port name, at the port the pod really listens on. NodePort rules carry the node's IP as `source_ip`: the pod
sees the node as its client, as kube-proxy's masquerade makes it; with `externalTrafficPolicy: Local` a node
forwards only to its own pods and keeps the client's address, as on a real node. A port without ready endpoints
has no listener, so clients get "connection refused", as kube-proxy's REJECT rule gives them.

`KubeProxy` follows Services and EndpointSlices in the store and hands every change to the userspace forwarder
(`forwarder.py`), which runs in a process of its own (`dataplane.py`, as kube-proxy is a daemon of its own on a
real node) and logs each connection as a JSON line to `home/logs/kube-proxy.log`. `render()` gives the
`iptables-save` text a real node would hold for the same objects (`iptables.py`), for `ingresslab iptables`.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ingresslab.cluster.client.controller import Controller, meta
from ingresslab.cluster.node.proxy.dataplane import DataPlaneError, ForwarderProcess
from ingresslab.cluster.node.proxy.forwarder import PRESERVE_CLIENT, BindError, ForwardRule
from ingresslab.cluster.node.proxy.iptables import render_iptables_save
from ingresslab.cluster.node.network import Network, bind_port
from ingresslab.cluster.storage.store import Event, Store

log = logging.getLogger("ingresslab.kubeproxy")

SLICES = "endpointslices.discovery.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def service_port_label(namespace: str, name: str, port_name: str | None) -> str:
    """kube-proxy's servicePortName: `ns/svc:port`, or `ns/svc` for an unnamed port."""
    return f"{namespace}/{name}:{port_name}" if port_name else f"{namespace}/{name}"


def _ready_endpoints(slices: list[dict], port_name: str, protocol: str) -> list[tuple[str, int, str]]:
    """(address, port, nodeName) of the ready endpoints serving this port name; `ready` unset counts as ready."""
    found: set[tuple[str, int, str]] = set()
    for s in slices:
        for sp in s.get("ports") or []:
            if (sp.get("name") or "") != port_name or (sp.get("protocol") or "TCP") != protocol or not sp.get("port"):
                continue
            for endpoint in s.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready") is False:
                    continue
                for address in endpoint.get("addresses") or []:
                    found.add((address, int(sp["port"]), endpoint.get("nodeName") or ""))
    return sorted(found)


def build_forward_rules(services: list[dict], endpoint_slices: list[dict], network: Network) -> list[ForwardRule]:
    by_service: dict[tuple[str, str], list[dict]] = {}
    for s in endpoint_slices:
        name = (meta(s).get("labels") or {}).get(SERVICE_NAME)
        if name:
            by_service.setdefault((meta(s).get("namespace", ""), name), []).append(s)
    rules: dict[tuple[str, int, str], ForwardRule] = {}

    def add(rule: ForwardRule) -> None:
        key = (rule.listen_ip, rule.listen_port, rule.protocol)
        if key in rules:
            log.warning("%s and %s both want %s:%d/%s; keeping the first", rules[key].label, rule.label, *key)
            return
        rules[key] = rule

    for svc in sorted(services, key=lambda s: (meta(s).get("namespace", ""), meta(s).get("name", ""))):
        spec = svc.get("spec") or {}
        stype = spec.get("type") or "ClusterIP"
        if stype == "ExternalName":
            continue
        ns, name = meta(svc).get("namespace", ""), meta(svc)["name"]
        slices = by_service.get((ns, name), [])
        cluster_ip = spec.get("clusterIP")
        for port in spec.get("ports") or []:
            protocol = port.get("protocol") or "TCP"
            if protocol not in ("TCP", "UDP"):
                continue        # the forwarder carries TCP and UDP (no SCTP)
            port_name = port.get("name") or ""
            label = service_port_label(ns, name, port_name)
            endpoints = _ready_endpoints(slices, port_name, protocol)
            backends = tuple((ip, bind_port(p)) for ip, p, _ in endpoints)
            if cluster_ip and cluster_ip != "None":
                add(ForwardRule(cluster_ip, bind_port(int(port["port"])), backends, label, PRESERVE_CLIENT, protocol))
            if stype in NODE_PORT_TYPES and port.get("nodePort"):
                local = spec.get("externalTrafficPolicy") == "Local"
                for node in network.nodes:
                    mine = tuple((ip, bind_port(p)) for ip, p, n in endpoints if n == node.name) if local else backends
                    add(ForwardRule(node.ip, int(port["nodePort"]), mine, label, None if local else node.ip,
                                    protocol))
    return list(rules.values())


def render(store: Store, *, node_ip: str | None = None) -> str:
    """`iptables-save` text for the Services and EndpointSlices in the store (`ingresslab iptables`)."""
    return render_iptables_save(store.list("services"), store.list(SLICES), node_ip=node_ip)


class KubeProxy(Controller):
    name = "kube-proxy"
    kinds = ("services", SLICES)
    RETRY_BIND = 2.0

    def __init__(self, store: Store, network: Network, *, home: Path):
        super().__init__(store)
        self.network = network
        log_dir = Path(home) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.forwarder = ForwarderProcess(log_path=str(log_dir / "kube-proxy.log"))
        self.rules: list[ForwardRule] = []
        self.bind_failures: dict = {}

    def initial_keys(self):
        return ["rules"]

    def keys_for(self, event: Event):
        yield "rules"   # one key: every change recomputes the whole table, as kube-proxy's syncProxyRules does

    async def reconcile(self, key) -> None:
        rules = build_forward_rules(self.store.list("services"), self.store.list(SLICES), self.network)
        if rules == self.rules and not self.bind_failures:
            return
        try:
            await self.forwarder.apply(rules)
            self.bind_failures = {}
        except BindError as exc:
            self.bind_failures = exc.failures
            log.warning("kube-proxy: %s (retrying)", exc)
            self.enqueue_after(key, self.RETRY_BIND)
        except DataPlaneError as exc:
            self.bind_failures = {"data plane": exc}
            log.warning("kube-proxy: %s (retrying)", exc)
            self.enqueue_after(key, self.RETRY_BIND)
        self.rules = rules

    def render(self, *, node_ip: str | None = None) -> str:
        return render(self.store, node_ip=node_ip)

    async def close(self) -> None:
        await self.forwarder.close()
