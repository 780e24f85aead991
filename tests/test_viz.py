"""viz: the pictures, rendered by the real `dot` — from hand-written objects and from a real lab's API.

SVG is read with ElementTree, so graphviz's escapes (`&#45;` for `-`) are undone before we look for labels.
"""
from __future__ import annotations

import html
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import kubernetes
import pytest

from ingresslab import Lab, viz
from polling import eventually
from ingresslab.trace import Hop, Trace

ROOT = Path(__file__).resolve().parent.parent
SVG_NS = "{http://www.w3.org/2000/svg}"


def texts(svg_text: str) -> list[str]:
    """Every piece of text in the SVG (labels, one line each), entities decoded."""
    root = ET.fromstring(svg_text)
    return ["".join(el.itertext()).strip() for el in root.iter(f"{SVG_NS}text")]


def titles(svg_text: str) -> set[str]:
    """The ids graphviz puts in each node's and edge's <title>."""
    root = ET.fromstring(svg_text)
    return {"".join(el.itertext()) for el in root.iter(f"{SVG_NS}title")}


def fills(svg_text: str) -> set[str]:
    root = ET.fromstring(svg_text)
    return {el.get("fill").lower() for el in root.iter() if el.get("fill")}


# --- hand-written objects ---------------------------------------------------------------------------------------

def node(name, ip):
    return {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def pod(name, ip, node_name, app, *, ready=True, namespace="default", labels=None):
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": app}},
            "spec": {"nodeName": node_name},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def service(name, ip, *, node_port=None, namespace="default", selector=None):
    port = {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    if node_port:
        port["nodePort"] = node_port
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "NodePort" if node_port else "ClusterIP", "clusterIP": ip, "ports": [port],
                     "selector": selector or {"app": name.removesuffix("-svc")}}}


def slice_of(svc, endpoints, *, namespace="default"):
    return {"metadata": {"name": f"{svc}-abcde", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip, ready in endpoints]}


CAFE_INGRESS = {
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"name": "cafe-ingress", "namespace": "default"},
    "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["cafe.example.com"], "secretName": "cafe-secret"}],
             "rules": [{"host": "cafe.example.com", "http": {"paths": [
                 {"path": "/tea", "pathType": "Prefix",
                  "backend": {"service": {"name": "tea-svc", "port": {"number": 80}}}},
                 {"path": "/coffee", "pathType": "Prefix",
                  "backend": {"service": {"name": "coffee-svc", "port": {"number": 80}}}}]}}]}}

NODES = [node("node-1", "127.0.2.1"), node("node-2", "127.0.2.2")]
PODS = [pod("coffee-1", "127.244.2.3", "node-1", "coffee"), pod("coffee-2", "127.244.3.2", "node-2", "coffee"),
        pod("tea-1", "127.244.2.4", "node-1", "tea", ready=False)]
SERVICES = [service("coffee-svc", "127.96.1.3"), service("tea-svc", "127.96.1.4", node_port=30080)]
SLICES = [slice_of("coffee-svc", [("127.244.2.3", True), ("127.244.3.2", True)]),
          slice_of("tea-svc", [("127.244.2.4", False)])]


def test_topology_puts_pods_in_their_node_with_name_and_ip():
    svg = viz.svg(viz.topology(NODES, PODS, SERVICES, [CAFE_INGRESS], SLICES))
    words = texts(svg)
    for expected in ("node-1 · 127.0.2.1", "node-2 · 127.0.2.2", "coffee-1", "127.244.2.3", "coffee-2", "127.244.3.2"):
        assert expected in words
    assert "cluster_node/node-1" in titles(svg)


def test_topology_shows_service_addresses_and_node_ports_like_kubectl():
    words = texts(viz.svg(viz.topology(NODES, PODS, SERVICES, [], SLICES)))
    assert "ClusterIP 127.96.1.3" in words and "80/TCP" in words
    assert "NodePort 127.96.1.4" in words and "80:30080/TCP" in words


def test_topology_draws_edges_only_to_ready_endpoints():
    names = titles(viz.svg(viz.topology(NODES, PODS, SERVICES, [], SLICES)))
    assert "svc/default/coffee-svc->pod/default/coffee-1" in names
    assert "svc/default/coffee-svc->pod/default/coffee-2" in names
    assert not any(t.startswith("svc/default/tea-svc->") for t in names)


def test_topology_without_slices_follows_selectors_over_ready_pods():
    names = titles(viz.svg(viz.topology(NODES, PODS, SERVICES)))
    assert "svc/default/coffee-svc->pod/default/coffee-1" in names
    assert not any(t.startswith("svc/default/tea-svc->") for t in names)


def test_topology_draws_an_ingress_edge_per_host_and_path():
    svg = viz.svg(viz.topology(NODES, PODS, SERVICES, [CAFE_INGRESS], SLICES))
    assert {"ing/default/cafe-ingress->svc/default/tea-svc",
            "ing/default/cafe-ingress->svc/default/coffee-svc"} <= titles(svg)
    words = texts(svg)
    assert "cafe.example.com/tea → :80" in words and "cafe.example.com/coffee → :80" in words
    assert "class nginx" in words and "TLS cafe.example.com" in words


def test_topology_marks_a_service_the_ingress_names_but_that_does_not_exist():
    typo = {**CAFE_INGRESS, "spec": {"rules": [{"host": "cafe.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "cofee-svc", "port": {"number": 80}}}}]}}]}}
    svg = viz.svg(viz.topology(NODES, PODS, SERVICES, [typo], SLICES))
    assert "no such Service" in texts(svg) and "cofee-svc" in texts(svg)


def test_topology_understands_the_v1beta1_backend_of_the_article():
    old = {"metadata": {"name": "cafe-ingress", "namespace": "default"},
           "spec": {"rules": [{"host": "cafe.example.com", "http": {"paths": [
               {"path": "/tea", "backend": {"serviceName": "tea-svc", "servicePort": 80}}]}}]}}
    assert "ing/default/cafe-ingress->svc/default/tea-svc" in titles(viz.svg(viz.topology(NODES, PODS, SERVICES, [old])))


def test_each_kind_has_its_own_palette_colour():
    controller = pod("nginx-ingress-controller-1", "127.244.2.2", "node-1", "x", namespace="ingress-nginx",
                     labels={"app.kubernetes.io/name": "ingress-nginx"})
    svg = viz.svg(viz.topology(NODES, PODS + [controller], SERVICES, [CAFE_INGRESS], SLICES))
    for kind in ("node", "pod", "service", "ingress", "nginx"):
        assert viz.COLOURS[kind] in fills(svg), kind
    assert len({viz.COLOURS[k] for k in ("client", "node", "pod", "service", "ingress", "nginx", "kube-proxy")}) == 7


def test_the_same_objects_in_any_order_give_the_same_svg():
    first = viz.svg(viz.topology(NODES, PODS, SERVICES, [CAFE_INGRESS], SLICES))
    shuffled = [list(x) for x in (NODES, PODS, SERVICES, SLICES)]
    for items in shuffled:
        random.Random(7).shuffle(items)
    again = viz.svg(viz.topology(shuffled[0], shuffled[1], shuffled[2], [CAFE_INGRESS], shuffled[3]))
    assert first == again


def test_svg_has_no_graphviz_version_comment_and_jupyter_shows_the_same_text():
    picture = viz.topology(NODES, PODS, SERVICES)
    text = viz.svg(picture)
    assert text.lstrip().startswith("<?xml") and "Generated by graphviz" not in text
    assert picture._repr_mimebundle_()["image/svg+xml"] == text


def test_chains_show_probabilities_and_dnat_targets():
    tea = [slice_of("tea-svc", [("127.244.2.4", True), ("127.244.3.3", True), ("127.244.3.4", True)])]
    words = texts(viz.svg(viz.iptables_chains(SERVICES, tea)))
    assert {"p=0.33333333349", "p=0.50000000000", "the rest"} <= set(words)
    assert {"DNAT to 127.244.2.4:8080", "DNAT to 127.244.3.3:8080", "DNAT to 127.244.3.4:8080"} <= set(words)
    assert "127.96.1.4:80" in words and "port 30080" in words


def test_chain_names_are_those_of_iptables_save():
    from ingresslab.cluster.node.proxy.iptables import chain_names
    names = chain_names(SERVICES, SLICES)["default/coffee-svc:http"]
    words = texts(viz.svg(viz.iptables_chains(SERVICES, SLICES)))
    assert names["svc"] in words and all(sep in words for sep in names["sep"].values())
    assert names["ext"] is None and "KUBE-SERVICES" in words and "KUBE-NODEPORTS" in words


def test_chains_of_one_service_leave_the_others_out():
    both = SLICES + [slice_of("tea-svc", [("127.244.3.3", True)])]
    words = texts(viz.svg(viz.iptables_chains(SERVICES, both, "tea-svc")))
    assert "default/tea-svc:http" in words and "default/coffee-svc:http" not in words
    assert any(w.startswith("KUBE-EXT-") for w in words)


def test_chains_of_an_unknown_service_say_which_exist():
    with pytest.raises(ValueError, match="default/coffee-svc:http"):
        viz.iptables_chains(SERVICES, SLICES, "milk-svc")


def made_up_trace(*, service_upstream=False, cluster_ip_time=True) -> Trace:
    t0 = 1_800_000_000.0
    hops = [Hop("kube-proxy", "node-1", "127.0.0.1:50000", "127.0.2.1:30174", t0 + 0.0004, ""),
            Hop("nginx", "ingress-nginx/nginx-ingress-controller-6c957c4b7f-mndz7", "127.0.2.1:40000",
                "127.244.2.2:80", t0 + 0.0006, "")]
    if service_upstream:
        hops.append(Hop("kube-proxy", "default/coffee-svc:http", "127.0.0.1:41000", "127.96.1.3:80",
                        t0 + 0.0012 if cluster_ip_time else None, ""))
    hops.append(Hop("pod", "default/coffee-65bbb69884-gp5f6", "127.0.0.1:42000", "127.244.2.3:8080",
                    t0 + 0.0020 if service_upstream else None, ""))
    return Trace("0" * 32, tuple(hops), 200, (), "", "coffee-65bbb69884-gp5f6", t0, "GET /coffee HTTP/1.1",
                 "cafe.example.com", t0 + 0.0031)


def test_request_path_labels_every_hop_with_addresses_and_time():
    svg = viz.svg(viz.request_path(made_up_trace()))
    words = texts(svg)
    for address in ("127.0.0.1:50000", "127.0.2.1:30174", "from 127.0.2.1:40000", "127.244.2.2:80",
                    "127.244.2.3:8080", "from 127.0.0.1:42000"):
        assert address in words
    # each arrow carries its own hop's time (0.4 then 0.6 − 0.4), never the time since the start
    assert "0.4 ms" in words and "0.2 ms" in words and "0.6 ms" not in words
    assert any("that hop alone" in w and "total 3.1 ms" in w for w in words)
    assert {"kube-proxy", "nginx", "pod", "client"} <= set(words)
    assert "coffee-65bbb69884-gp5f6" in words and "127.96.1.3:80" not in words
    assert {viz.COLOURS[k] for k in ("client", "kube-proxy", "nginx", "pod")} <= fills(svg)


def test_request_path_with_service_upstream_has_the_cluster_ip_hop():
    words = texts(viz.svg(viz.request_path(made_up_trace(service_upstream=True))))
    assert "127.96.1.3:80" in words and "coffee-svc:http" in words and words.count("kube-proxy") == 2


def test_a_hop_without_a_time_leaves_its_arrow_blank_and_the_next_counts_from_the_last_known():
    words = texts(viz.svg(viz.request_path(made_up_trace(service_upstream=True, cluster_ip_time=False))))
    # hops at 0.4, 0.6, unknown, 2.0 ms: the pod's arrow spans hops 3 and 4, and says so
    assert "0.4 ms" in words and "0.2 ms" in words and "1.4 ms (since hop 2)" in words
    assert sum(w.endswith(" ms") or w.endswith("(since hop 2)") for w in words) == 3


def test_highlight_lights_up_the_chosen_hops_only():
    plain = viz.svg(viz.request_path(made_up_trace()))
    assert viz.COLOURS["highlight"] not in plain
    one = ET.fromstring(viz.svg(viz.request_path(made_up_trace(), highlight="nginx")))
    lit = {"".join(g.find(f"{SVG_NS}title").itertext()) for g in one.iter(f"{SVG_NS}g")
           if any(el.get("stroke") == viz.COLOURS["highlight"] for el in g)}
    assert lit == {"hop/2", "hop/1->hop/2"}
    assert viz.COLOURS["highlight"] in viz.svg(viz.request_path(made_up_trace(), highlight=True))


# --- a real lab ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cafe(tmp_path_factory):
    lab = Lab.up(tmp_path_factory.mktemp("viz-lab"))
    try:
        lab.apply(ROOT / "manifests" / "cafe.yaml")
        yield lab
    finally:
        lab.down()


def api_objects(lab):
    core, disc = kubernetes.client.CoreV1Api(lab.api), kubernetes.client.DiscoveryV1Api(lab.api)
    s = lab.api.sanitize_for_serialization
    return (s(core.list_pod_for_all_namespaces().items), s(core.list_service_for_all_namespaces().items),
            s(disc.list_endpoint_slice_for_all_namespaces().items))


def wait_for_cafe_endpoints(lab, timeout=30.0):
    import time
    deadline = time.monotonic() + timeout
    while True:
        pods, services, slices = api_objects(lab)
        cafe_pods = [p for p in pods if p["metadata"]["name"].startswith(("coffee-", "tea-"))]
        ready = sum(len(s.get("endpoints") or []) for s in slices
                    if s["metadata"]["labels"].get("kubernetes.io/service-name") in ("coffee-svc", "tea-svc"))
        if len(cafe_pods) == 5 and ready == 5 and all(p["status"].get("podIP") for p in cafe_pods):
            return pods, services, slices
        assert time.monotonic() < deadline, "the cafe pods did not get ready endpoints"
        time.sleep(0.1)


def test_topology_of_a_real_lab_shows_every_pod_and_service(cafe):
    pods, services, _ = wait_for_cafe_endpoints(cafe)
    svg = viz.svg(viz.topology_of(cafe, include_api_service=True))
    words, names = texts(svg), titles(svg)
    for p in pods:
        assert f"pod/{p['metadata']['namespace']}/{p['metadata']['name']}" in names
        assert p["status"]["podIP"] in words
    for s in services:
        assert f"ClusterIP {s['spec']['clusterIP']}" in words or f"NodePort {s['spec']['clusterIP']}" in words
    assert sum(t.startswith("svc/default/tea-svc->pod/default/tea-") for t in names) == 3
    for n in cafe.status()["nodes"]:
        assert f"{n['name']} · {n['ip']}" in words


def test_topology_leaves_the_api_servers_own_service_out_by_default(cafe):
    wait_for_cafe_endpoints(cafe)
    names = titles(viz.svg(viz.topology_of(cafe)))
    assert "svc/default/kubernetes" not in names and "svc/default/tea-svc" in names


def test_topology_of_one_namespace_leaves_the_others_out(cafe):
    wait_for_cafe_endpoints(cafe)
    names = titles(viz.svg(viz.topology_of(cafe, "default")))
    assert not any(t.startswith(("pod/ingress-nginx/", "svc/ingress-nginx/")) for t in names)
    assert "svc/default/coffee-svc" in names


def test_chains_of_a_real_lab_are_the_chains_of_its_iptables_save(cafe):
    _, services, slices = wait_for_cafe_endpoints(cafe)
    words = set(texts(viz.svg(viz.iptables_chains(services, slices))))
    saved = cafe.iptables()
    declared = {line[1:].split()[0] for line in saved.splitlines() if line.startswith(":KUBE-")}
    drawn = {w for w in words if w.startswith(("KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-"))}
    assert drawn and drawn == {c for c in declared if c.startswith(("KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-"))}
    for line in saved.splitlines():
        if "--to-destination" in line:
            assert f"DNAT to {line.split('--to-destination ')[1].split()[0]}" in words


# --- the whole nginx.conf, readable ----------------------------------------------------------------------------------

HAND_MADE_CONF = """\
http {
    upstream default-tea-svc-80 {
        server 0.0.0.1:1234;
    }

    # Catch-all: a Host no rule names, or rules without host. The only default_server.
    server {
        server_name _;
        listen 127.0.1.1:80 default_server;
    }

    # Host cafe.example.com
    # TLS certificate from Secret default/cafe-secret
    server {
        server_name cafe.example.com;
        location /tea {
            set $proxy_upstream_name "default-tea-svc-80";
        }
    }

    # Host <tea>.example.com
    server {
        server_name tea.example.com;
    }
}
"""


def test_the_conf_view_folds_each_server_block_and_opens_the_chosen_one():
    view = viz.nginx_conf(HAND_MADE_CONF, highlight_host="cafe.example.com")
    assert [b.host for b in view.blocks] == ["(catch-all)", "cafe.example.com", "<tea>.example.com"]
    cafe = view.highlighted
    assert view.lines[cafe.start] == "    # Host cafe.example.com" and view.lines[cafe.end - 1] == "    }"
    markup = view._repr_html_()
    assert markup.count("<details") == 3 and markup.count("<details open") == 1
    opened = markup[markup.index("<details open"):]
    assert opened.index("cafe.example.com") < opened.index("</details>")
    assert "&lt;tea&gt;.example.com" in markup and "<tea>" not in markup          # escaped, never markup
    assert "overflow:auto" in markup and "max-height" in markup
    assert "<code>ingresslab conf</code>" in markup and "`ingresslab conf`" in repr(view)
    # every line of the file is shown exactly once, in order
    shown = [html.unescape(part) for part in re.findall(r"<pre[^>]*>(.*?)</pre>", markup, re.S)]
    assert "\n".join(shown) == "\n".join(view.lines)


def test_the_conf_view_says_when_the_host_has_no_block():
    view = viz.nginx_conf(HAND_MADE_CONF, highlight_host="milk.example.com")
    assert view.highlighted is None and "no server block for milk.example.com" in repr(view)
    assert "<details open" not in view._repr_html_()
    with pytest.raises(TypeError, match="lab.ingress.conf"):
        viz.nginx_conf(None)


def test_the_conf_view_of_a_real_lab_has_the_cafe_block_open(cafe):
    wait_for_cafe_endpoints(cafe)
    cafe.apply(ROOT / "manifests" / "cafe-secret.yaml")
    cafe.apply(ROOT / "manifests" / "cafe-ingress.yaml")
    eventually(lambda: "server_name cafe.example.com;" in cafe.ingress.conf(), timeout=30,
               what="the controller to write the cafe's server block")
    view = viz.nginx_conf_of(cafe, highlight_host="cafe.example.com")
    assert view.text == cafe.ingress.conf()
    assert view.highlighted is not None and "(catch-all)" in [b.host for b in view.blocks]
    block = "\n".join(view.lines[view.highlighted.start:view.highlighted.end])
    assert "server_name cafe.example.com;" in block and "location" in block
    assert view._repr_html_().count("<details open") == 1
