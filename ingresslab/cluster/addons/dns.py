"""Cluster DNS answers, as CoreDNS's `kubernetes` plugin gives them, and a resolver that asks them the way a pod does.

Names under `cluster.local` (the kubeadm Corefile: `kubernetes cluster.local … { pods insecure; ttl 30 }`):

    <svc>.<ns>.svc.cluster.local                A: the ClusterIP; headless (clusterIP None): each ready endpoint
    <svc>.<ns>.svc.cluster.local (ExternalName) CNAME to spec.externalName
    _<port>._<proto>.<svc>.<ns>.svc.cluster.local  SRV 0 100 <port> <svc>.<ns>.svc.cluster.local. (+ the A record)
    <a-b-c-d>.<ns>.pod.cluster.local            A: a.b.c.d ("pods insecure": any well-formed address answers)

A name that exists without records of the asked type (AAAA of a Service, `svc.cluster.local` itself) is answered
NOERROR with no records and the zone's SOA, so resolvers go on to the A answer; anything else under cluster.local is
NXDOMAIN. Real CoreDNS forwards other names to the node's resolvers; the lab never leaves loopback, so they are
NXDOMAIN too (said in the lab's own words by whoever prints it).

`answer(store, wire)` turns one query message into the response message (dnspython's wire format, the same bytes
over UDP and, length-prefixed, over TCP). `resolve()` / `resolve_async()` ask a nameserver as a pod's resolver
would: the search path of the pod's /etc/resolv.conf (`<ns>.svc.cluster.local svc.cluster.local cluster.local`,
`ndots:5`), A records, UDP unless told TCP (kube-proxy forwards both to the CoreDNS pods).
"""
from __future__ import annotations

import ipaddress
import re

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["CLUSTER_DOMAIN", "answer", "resolve", "resolve_async", "search_names", "set_default_nameserver"]

CLUSTER_DOMAIN = "cluster.local"
TTL = 30
NDOTS = 5
ZONE = dns.name.from_text(CLUSTER_DOMAIN)
SLICES = "endpointslices.discovery.k8s.io"
_DASHED_IP = re.compile(r"^\d{1,3}(-\d{1,3}){3}$")


# --------------------------------------------------------------------------------------------- answering
def _soa() -> dns.rrset.RRset:
    return dns.rrset.from_text(ZONE, TTL, "IN", "SOA",
                               f"ns.dns.{CLUSTER_DOMAIN}. hostmaster.{CLUSTER_DOMAIN}. 1 7200 1800 86400 {TTL}")


def _ready_addresses(store, namespace: str, service: str) -> list[str]:
    found = []
    for s in store.list(SLICES, namespace):
        if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != service:
            continue
        for endpoint in s.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is not False:
                found.extend(endpoint.get("addresses") or [])
    return sorted(set(found), key=lambda ip: ipaddress.ip_address(ip))


def _service_records(store, labels: list[str], qname: dns.name.Name, qtype: int) -> list[dns.rrset.RRset] | None:
    """Records for `<svc>.<ns>.svc` or `_<port>._<proto>.<svc>.<ns>.svc`; None when the name does not exist."""
    port_name = proto = None
    if len(labels) == 4 and labels[0].startswith("_") and labels[1].startswith("_"):
        port_name, proto = labels[0][1:], labels[1][1:].upper()
        labels = labels[2:]
    if len(labels) != 2:
        return None
    svc_name, ns = labels
    svc = store.get("services", ns, svc_name)
    if svc is None:
        return None
    spec = svc.get("spec") or {}
    target = dns.name.from_text(f"{svc_name}.{ns}.svc.{CLUSTER_DOMAIN}")
    if spec.get("type") == "ExternalName":
        cname = dns.rrset.from_text(target, TTL, "IN", "CNAME", spec.get("externalName", "") + ".")
        return [cname] if port_name is None and qtype in (dns.rdatatype.CNAME, dns.rdatatype.A,
                                                          dns.rdatatype.ANY) else []
    ips = [spec["clusterIP"]] if spec.get("clusterIP") not in (None, "", "None") \
        else _ready_addresses(store, ns, svc_name)
    if port_name is not None:
        ports = [p for p in spec.get("ports") or [] if p.get("name") == port_name
                 and (p.get("protocol") or "TCP") == proto]
        if not ports:
            return None
        if qtype not in (dns.rdatatype.SRV, dns.rdatatype.ANY):
            return []
        return [dns.rrset.from_text(qname, TTL, "IN", "SRV", *[f"0 100 {p['port']} {target}" for p in ports])]
    if qtype == dns.rdatatype.SRV:
        named = [p for p in spec.get("ports") or [] if p.get("name")]
        return [dns.rrset.from_text(qname, TTL, "IN", "SRV", *[f"0 100 {p['port']} {target}" for p in named])] \
            if named else []
    if qtype in (dns.rdatatype.A, dns.rdatatype.ANY) and ips:
        return [dns.rrset.from_text(qname, TTL, "IN", "A", *ips)]
    return []


def _records(store, qname: dns.name.Name, qtype: int) -> list[dns.rrset.RRset] | None:
    if not qname.is_subdomain(ZONE):
        return None
    labels = [label.decode("ascii", "replace").lower() for label in qname.relativize(ZONE).labels]
    if not labels or labels == ["svc"] or labels == ["pod"]:
        return []
    if labels[-1] == "svc":
        if len(labels) == 2:        # <ns>.svc.cluster.local: exists if the namespace does
            return [] if store.get("namespaces", "", labels[0]) is not None else None
        return _service_records(store, labels[:-1], qname, qtype)
    if labels[-1] == "pod" and len(labels) == 3 and _DASHED_IP.match(labels[0]):
        try:
            ip = str(ipaddress.IPv4Address(labels[0].replace("-", ".")))
        except ValueError:
            return None
        return [dns.rrset.from_text(qname, TTL, "IN", "A", ip)] if qtype in (dns.rdatatype.A,
                                                                             dns.rdatatype.ANY) else []
    return None


def answer(store, wire: bytes) -> bytes | None:
    """The response to one DNS query message (None for bytes that are not a query worth answering)."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    if query.flags & dns.flags.QR:
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA | dns.flags.RA
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response.to_wire()
    question = query.question[0]
    found = _records(store, question.name, question.rdtype) if question.rdclass == dns.rdataclass.IN else None
    if found is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(_soa())
    elif not found:
        response.authority.append(_soa())
    else:
        response.answer.extend(found)
        for rrset in found:        # SRV targets' addresses, as CoreDNS adds them
            if rrset.rdtype == dns.rdatatype.SRV:
                target = rrset[0].target
                extra = _records(store, target, dns.rdatatype.A)
                if extra:
                    response.additional.extend(extra)
    return response.to_wire()


# --------------------------------------------------------------------------------------------- resolving
_default: dict[str, tuple[str, int]] = {}


def set_default_nameserver(ip: str, port: int) -> None:
    """Where `resolve()` asks when not told: the kube-dns Service of the cluster running in this process."""
    _default["server"] = (ip, port)


def search_names(name: str, namespace: str) -> list[str]:
    """The names a pod's resolver tries, in order: with fewer than `ndots` dots, the search path first."""
    if name.endswith("."):
        return [name]
    search = [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN]
    tried = [f"{name}.{domain}." for domain in search]
    return tried + [f"{name}."] if name.count(".") < NDOTS else [f"{name}."] + tried


def _server(nameserver: tuple[str, int] | None) -> tuple[str, int]:
    server = nameserver or _default.get("server")
    if server is None:
        raise LookupError("no cluster DNS server known: pass nameserver=(ip, port) (the kube-dns Service)")
    return server


def _addresses(response: dns.message.Message) -> list[str]:
    return [r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]


def resolve(name: str, namespace: str = "default", *, nameserver: tuple[str, int] | None = None,
            tcp: bool = False, timeout: float = 2.0) -> list[str]:
    """IPv4 addresses of `name` as seen from a pod in `namespace` (a real DNS query; [] when no name matches).
    Blocking: never call it on the loop that serves the DNS pods — use `resolve_async` there."""
    ip, port = _server(nameserver)
    for candidate in search_names(name, namespace):
        query = dns.message.make_query(candidate, dns.rdatatype.A)
        send = dns.query.tcp if tcp else dns.query.udp
        response = send(query, ip, port=port, timeout=timeout)
        if response.rcode() == dns.rcode.NOERROR and _addresses(response):
            return _addresses(response)
    return []


async def resolve_async(name: str, namespace: str = "default", *, nameserver: tuple[str, int] | None = None,
                        tcp: bool = False, timeout: float = 2.0) -> list[str]:
    """`resolve` for code on an asyncio loop (a pod's command): the same queries, awaited."""
    ip, port = _server(nameserver)
    for candidate in search_names(name, namespace):
        query = dns.message.make_query(candidate, dns.rdatatype.A)
        send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
        response = await send(query, ip, port=port, timeout=timeout)
        if response.rcode() == dns.rcode.NOERROR and _addresses(response):
            return _addresses(response)
    return []
