"""iptables.py: kube-proxy's chain names, probabilities and the iptables-save text for Services + EndpointSlices."""
from __future__ import annotations

import dataclasses
import random

import pytest

from ingresslab.cluster.node.proxy.iptables import (
    Chain, Rule, _save_string, build_rules, chain_names, endpoint_chain_hash, kube_proxy_probability,
    render_iptables_save, save_probability, service_port_chain_hash, service_port_name, service_ports,
)


def svc(name, cluster_ip, ports, *, ns="default", type_="ClusterIP", **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": ns, "name": name},
            "spec": {"type": type_, "clusterIP": cluster_ip, "ports": ports, **spec}}


def port(name, port_, target=8080, proto="TCP", node_port=None):
    p = {"name": name, "port": port_, "protocol": proto, "targetPort": target}
    if node_port:
        p["nodePort"] = node_port
    return p


def eps(service, endpoints, *, ns="default", ports=(("http", 8080, "TCP"),), slice_name=None):
    """endpoints: (ip, ready) with ready True/False/None (None: condition not set)."""
    out = []
    for ip, ready in endpoints:
        conditions = {} if ready is None else {"ready": ready}
        out.append({"addresses": [ip], "conditions": conditions})
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": ns, "name": slice_name or f"{service}-x1", "labels":
                         {"kubernetes.io/service-name": service}},
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports], "endpoints": out}


# --- REFERENCE.md test vectors --------------------------------------------------------------------------------

def test_reference_hash_vectors():
    assert service_port_chain_hash("ns1/svc1:p80", "tcp") == "XPGD46QRK7WJZT7O"
    assert service_port_chain_hash("ns4/svc4:p80", "tcp") == "4SW47YFZTEDKD3PK"
    assert endpoint_chain_hash("ns4/svc4:p80", "tcp", "10.180.0.4:80") == "UKSFD7AGPMPPLUHC"


def test_more_upstream_vectors_and_protocol_is_lowercased():
    # chain names that appear in kube-proxy's own proxier tests
    assert endpoint_chain_hash("ns1/svc1:p80", "TCP", "10.180.0.1:80") == "SXIVWICOYRO3J4NJ"
    assert service_port_chain_hash("ns2/svc2:p80", "TCP") == "GNZBNJ2PO5MGZ6GT"
    assert endpoint_chain_hash("ns4/svc4:p80", "tcp", "10.180.0.5:80") == "C6EBXVWJJZMIWKLZ"


def test_service_port_name():
    assert service_port_name("ns1", "svc1", "p80") == "ns1/svc1:p80"
    assert service_port_name("ns1", "svc1", "") == "ns1/svc1"
    assert service_port_name("ns1", "svc1", None) == "ns1/svc1"


@pytest.mark.parametrize("n, written, saved", [
    (2, "0.5000000000", "0.50000000000"),
    (3, "0.3333333333", "0.33333333349"),
    (4, "0.2500000000", "0.25000000000"),
    (5, "0.2000000000", "0.20000000019"),
    (6, "0.1666666667", "0.16666666651"),
])
def test_probability_written_and_saved(n, written, saved):
    assert kube_proxy_probability(n) == written
    assert save_probability(written) == saved


def test_old_five_decimal_probability_as_seen_on_real_nodes():
    # kube-proxy once wrote %0.5f; real iptables-save dumps of that era show 0.33332999982 for 1/3
    assert save_probability("0.33333") == "0.33332999982"
    assert save_probability(1.0) == "1.00000000000"


def test_comment_quoting_follows_xtables_save_string():
    assert _save_string("ns1-svc_1") == "ns1-svc_1"
    assert _save_string("ns1/svc1:p80") == '"ns1/svc1:p80"'
    assert _save_string("a \"b\" \\ 'c'") == '"a \\"b\\" \\\\ \\\'c\\\'"'
    assert _save_string("") == '""'


# --- the rendered tables --------------------------------------------------------------------------------------

CAFE = [
    svc("coffee-svc", "127.96.0.10", [port("http", 80)]),
    svc("tea-svc", "127.96.0.11", [port("http", 80, node_port=30080)], type_="NodePort"),
    svc("empty", "127.96.0.12", [port("", 80, node_port=30081)], type_="NodePort"),
    svc("headless", "None", [port("http", 80)]),
    svc("external", "", [], type_="ExternalName", externalName="example.com"),
]
CAFE_SLICES = [
    eps("coffee-svc", [("127.244.1.2", True), ("127.244.2.3", True)]),
    eps("tea-svc", [("127.244.1.5", True), ("127.244.1.6", False), ("127.244.2.7", None), ("127.244.1.10", True)]),
    eps("empty", [("127.244.1.9", False)], ports=(("", 8080, "TCP"),)),
    eps("headless", [("127.244.1.11", True)]),
]

GOLDEN = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30081 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-SERVICES -d 127.96.0.12/32 -p tcp -m comment --comment "default/empty has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-DVHFM6YVY2RW3DPQ - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-DSS7YXIEAYI5ADV3 - [0:0]
:KUBE-SEP-HUV5Q54GWG372ERM - [0:0]
:KUBE-SEP-OECFHEVUQOFFILAD - [0:0]
:KUBE-SEP-VTDWFHCW5PUQTJ6I - [0:0]
:KUBE-SEP-YYS3DXKYZSXV7QNU - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-DVHFM6YVY2RW3DPQ - [0:0]
:KUBE-SVC-I277KLBDTTJWT3KA - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-DVHFM6YVY2RW3DPQ -m comment --comment "masquerade traffic for default/tea-svc:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-DVHFM6YVY2RW3DPQ -j KUBE-SVC-DVHFM6YVY2RW3DPQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/tea-svc:http" -m tcp --dport 30080 -j KUBE-EXT-DVHFM6YVY2RW3DPQ
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-DSS7YXIEAYI5ADV3 -s 127.244.1.5/32 -m comment --comment "default/tea-svc:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-DSS7YXIEAYI5ADV3 -p tcp -m comment --comment "default/tea-svc:http" -m tcp -j DNAT --to-destination 127.244.1.5:8080
-A KUBE-SEP-HUV5Q54GWG372ERM -s 127.244.1.10/32 -m comment --comment "default/tea-svc:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-HUV5Q54GWG372ERM -p tcp -m comment --comment "default/tea-svc:http" -m tcp -j DNAT --to-destination 127.244.1.10:8080
-A KUBE-SEP-OECFHEVUQOFFILAD -s 127.244.2.3/32 -m comment --comment "default/coffee-svc:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-OECFHEVUQOFFILAD -p tcp -m comment --comment "default/coffee-svc:http" -m tcp -j DNAT --to-destination 127.244.2.3:8080
-A KUBE-SEP-VTDWFHCW5PUQTJ6I -s 127.244.1.2/32 -m comment --comment "default/coffee-svc:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-VTDWFHCW5PUQTJ6I -p tcp -m comment --comment "default/coffee-svc:http" -m tcp -j DNAT --to-destination 127.244.1.2:8080
-A KUBE-SEP-YYS3DXKYZSXV7QNU -s 127.244.2.7/32 -m comment --comment "default/tea-svc:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-YYS3DXKYZSXV7QNU -p tcp -m comment --comment "default/tea-svc:http" -m tcp -j DNAT --to-destination 127.244.2.7:8080
-A KUBE-SERVICES -d 127.96.0.10/32 -p tcp -m comment --comment "default/coffee-svc:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-I277KLBDTTJWT3KA
-A KUBE-SERVICES -d 127.96.0.11/32 -p tcp -m comment --comment "default/tea-svc:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-DVHFM6YVY2RW3DPQ
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-DVHFM6YVY2RW3DPQ ! -s 127.244.0.0/16 -d 127.96.0.11/32 -p tcp -m comment --comment "default/tea-svc:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-DVHFM6YVY2RW3DPQ -m comment --comment "default/tea-svc:http -> 127.244.1.10:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-HUV5Q54GWG372ERM
-A KUBE-SVC-DVHFM6YVY2RW3DPQ -m comment --comment "default/tea-svc:http -> 127.244.1.5:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-DSS7YXIEAYI5ADV3
-A KUBE-SVC-DVHFM6YVY2RW3DPQ -m comment --comment "default/tea-svc:http -> 127.244.2.7:8080" -j KUBE-SEP-YYS3DXKYZSXV7QNU
-A KUBE-SVC-I277KLBDTTJWT3KA ! -s 127.244.0.0/16 -d 127.96.0.10/32 -p tcp -m comment --comment "default/coffee-svc:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-I277KLBDTTJWT3KA -m comment --comment "default/coffee-svc:http -> 127.244.1.2:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-VTDWFHCW5PUQTJ6I
-A KUBE-SVC-I277KLBDTTJWT3KA -m comment --comment "default/coffee-svc:http -> 127.244.2.3:8080" -j KUBE-SEP-OECFHEVUQOFFILAD
COMMIT
"""


def test_golden_cafe_render():
    assert render_iptables_save(CAFE, CAFE_SLICES) == GOLDEN


def test_order_does_not_depend_on_input_order():
    services, slices = list(CAFE), list(CAFE_SLICES)
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(services)
        rng.shuffle(slices)
        assert render_iptables_save(services, slices) == GOLDEN


def test_upstream_vector_names_appear_in_the_render():
    services = [svc("svc4", "172.30.0.44", [port("p80", 80)], ns="ns4")]
    slices = [eps("svc4", [("10.180.0.4", True)], ns="ns4", ports=(("p80", 80, "TCP"),))]
    text = render_iptables_save(services, slices, cluster_cidr=None)
    assert ("-A KUBE-SERVICES -d 172.30.0.44/32 -p tcp -m comment --comment \"ns4/svc4:p80 cluster IP\" "
            "-m tcp --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK") in text
    assert ("-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment \"ns4/svc4:p80 -> 10.180.0.4:80\" "
            "-j KUBE-SEP-UKSFD7AGPMPPLUHC") in text
    assert ("-A KUBE-SEP-UKSFD7AGPMPPLUHC -s 10.180.0.4/32 -m comment --comment \"ns4/svc4:p80\" "
            "-j KUBE-MARK-MASQ") in text
    assert ("-A KUBE-SEP-UKSFD7AGPMPPLUHC -p tcp -m comment --comment \"ns4/svc4:p80\" -m tcp "
            "-j DNAT --to-destination 10.180.0.4:80") in text
    assert "KUBE-MARK-MASQ" not in [r.target for c in build_rules(services, slices, cluster_cidr=None)
                                    if c.name.startswith("KUBE-SVC-") for r in c.rules]


def test_probabilities_for_four_endpoints_in_string_order():
    ips = ["10.0.0.5", "10.0.0.10", "10.0.0.2", "10.0.0.30"]
    chains = build_rules([svc("s", "172.30.0.1", [port("http", 80)])], [eps("s", [(ip, True) for ip in ips])],
                         cluster_cidr=None)
    (svc_chain,) = [c for c in chains if c.name.startswith("KUBE-SVC-")]
    comments = [r.comment for r in svc_chain.rules]
    # kube-proxy sorts endpoints as "ip:port" strings: 10.0.0.10 before 10.0.0.2
    assert comments == [f"default/s:http -> {ip}:8080" for ip in ("10.0.0.10", "10.0.0.2", "10.0.0.30", "10.0.0.5")]
    probs = [r.spec[r.spec.index("--probability") + 1] if "--probability" in r.spec else None for r in svc_chain.rules]
    assert probs == ["0.25000000000", "0.33333333349", "0.50000000000", None]


def test_service_without_ready_endpoints_gets_only_filter_reject():
    services = [svc("web", "127.96.0.20", [port("http", 80)])]
    text = render_iptables_save(services, [eps("web", [("127.244.1.2", False)])])
    nat = text.split("*nat")[1]
    assert "default/web" not in nat
    assert ('-A KUBE-SERVICES -d 127.96.0.20/32 -p tcp -m comment --comment "default/web:http has no endpoints" '
            "-m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable") in text.split("*nat")[0]
    assert chain_names(services, []) == {}


def test_nodeports_is_the_last_kube_services_rule_and_node_ip_variant():
    for node_ip, last in [(None, '-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'),
                          ("127.0.1.1", '-j KUBE-NODEPORTS')]:
        chains = build_rules(CAFE, CAFE_SLICES, node_ip=node_ip)
        (services,) = [c for c in chains if c.table == "nat" and c.name == "KUBE-SERVICES"]
        assert services.rules[-1].target == "KUBE-NODEPORTS"
        assert services.rules[-1].line.endswith(last)
        assert all(r.target != "KUBE-NODEPORTS" for r in services.rules[:-1])
    assert services.rules[-1].line.startswith("-A KUBE-SERVICES -d 127.0.1.1/32 -m comment")


def test_unnamed_port_udp_multiple_slices_and_external_ips():
    services = [svc("dns", "127.96.0.53", [{"port": 53, "protocol": "UDP", "targetPort": 53}],
                    externalIPs=["127.0.1.1"])]
    slices = [eps("dns", [("127.244.1.3", True)], ports=(("", 53, "UDP"),), slice_name="dns-a"),
              eps("dns", [("127.244.1.3", True), ("127.244.2.3", True)], ports=(("", 53, "UDP"),), slice_name="dns-b")]
    (sp,) = service_ports(services, slices)
    assert sp.name == "default/dns" and sp.protocol == "udp"
    assert sp.endpoints == ("127.244.1.3:53", "127.244.2.3:53")   # merged and de-duplicated
    text = render_iptables_save(services, slices)
    h = service_port_chain_hash("default/dns", "udp")
    assert (f'-A KUBE-SERVICES -d 127.0.1.1/32 -p udp -m comment --comment "default/dns external IP" '
            f"-m udp --dport 53 -j KUBE-EXT-{h}") in text
    assert f"-A KUBE-EXT-{h} -j KUBE-SVC-{h}" in text
    assert "-p udp -m comment --comment \"default/dns\" -m udp -j DNAT --to-destination 127.244.2.3:53" in text


def test_endpoint_ports_are_matched_by_name_and_protocol():
    services = [svc("two", "127.96.0.30", [port("http", 80), port("metrics", 9090, target=9100)])]
    slices = [eps("two", [("127.244.1.4", True)], ports=(("http", 8080, "TCP"), ("metrics", 9100, "TCP")))]
    got = {sp.name: sp.endpoints for sp in service_ports(services, slices)}
    assert got == {"default/two:http": ("127.244.1.4:8080",), "default/two:metrics": ("127.244.1.4:9100",)}
    other_ns = [eps("two", [("127.244.1.4", True)], ns="elsewhere")]
    assert all(not sp.endpoints for sp in service_ports(services, other_ns))


def test_build_rules_gives_frozen_chain_picture():
    chains = build_rules(CAFE, CAFE_SLICES)
    assert all(isinstance(c, Chain) and all(isinstance(r, Rule) for r in c.rules) for c in chains)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chains[0].name = "X"
    declared = {(c.table, c.name) for c in chains}
    for c in chains:
        for r in c.rules:
            assert r.chain == c.name and r.table == c.table
            if r.jumps_to_chain:
                assert (c.table, r.target) in declared, r.line
    names = chain_names(CAFE, CAFE_SLICES)
    tea = names["default/tea-svc:http"]
    assert tea["svc"] == "KUBE-SVC-DVHFM6YVY2RW3DPQ" and tea["ext"] == "KUBE-EXT-DVHFM6YVY2RW3DPQ"
    assert tea["sep"]["127.244.1.5:8080"] == "KUBE-SEP-DSS7YXIEAYI5ADV3"
    assert names["default/coffee-svc:http"]["ext"] is None
    assert set(names) == {"default/coffee-svc:http", "default/tea-svc:http"}


def test_every_table_ends_with_commit_and_chains_are_declared_once():
    text = render_iptables_save(CAFE, CAFE_SLICES)
    lines = text.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT" and lines.count("COMMIT") == 2
    for table in text.split("COMMIT\n")[:2]:
        decls = [ln for ln in table.splitlines() if ln.startswith(":")]
        assert len(decls) == len(set(decls))
