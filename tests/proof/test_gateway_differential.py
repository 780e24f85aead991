"""Differential proof for the Gateway data plane: the real nginx, running what translate/render produce, answers
every request as the HTTPRoute spec's precedence says.

`precedence.reference_route` reads the spec straight over HTTPRoute dicts (every fitting match competes on
hostname specificity, Exact, prefix length, method, header count, query count, route age, name, rule order);
the data plane instead pre-sorts matches per server (`layout.py`) and takes the first fit in Lua
(`lua/gateway.lua`). Hypothesis draws sets of HTTPRoutes over a small alphabet so matches collide: exact and
wildcard hostnames or none, Exact and PathPrefix paths sharing prefixes (with and without a final `/`), methods,
header and query matches (names in either case), tied and different creationTimestamps; each rule has its own
backend that answers its name. Each example is applied to ONE real nginx (render → nginx -t → reload) and every
drawn request must reach exactly the reference's backend, or get 404 when nothing matches.

Profiles as the Ingress proof: 300 examples in CI, 2,000 with INGRESSLAB_PROOF=long (≥ 1,000 the issue asks).
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingresslab.gateway.objects import CONTROLLER_NAME
from ingresslab.gateway.precedence import reference_route
from ingresslab.gateway.render import render_gateway_conf
from ingresslab.gateway.translate import translate
from ingresslab.ingress.nginx import NginxProcess, lua_available

from ingress.conftest import request

from .conftest import NamedBackend, free_port, fresh_address, processes_under
from .strategies import PROOF

pytestmark = pytest.mark.skipif(not lua_available(), reason="needs nginx with libnginx-mod-http-lua")

SEGMENTS = ("a", "ab", "b")
HOSTNAMES = (None, "a.test", "x.a.test", "*.a.test", "*.test")
REQUEST_HOSTS = ("a.test", "x.a.test", "y.x.a.test", "b.test")
TIMESTAMPS = ("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z")
HEADERS = ("x-a", "X-B")
SERVICES = tuple(f"s{i}" for i in range(12))


def _path(segments, slash):
    text = "/" + "/".join(segments)
    return text + "/" if slash and segments else text


paths = st.builds(_path, st.lists(st.sampled_from(SEGMENTS), max_size=2), st.booleans())
matches = st.fixed_dictionaries({
    "path": st.fixed_dictionaries({"type": st.sampled_from(["Exact", "PathPrefix", "PathPrefix"]), "value": paths})},
    optional={"method": st.sampled_from(["GET", "POST"]),
              "headers": st.lists(st.fixed_dictionaries({"name": st.sampled_from(HEADERS),
                                                         "value": st.sampled_from("12")}),
                                  min_size=1, max_size=2, unique_by=lambda h: h["name"].lower()),
              "queryParams": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["q", "r"]),
                                                             "value": st.sampled_from("12")}),
                                      min_size=1, max_size=2, unique_by=lambda q: q["name"])})


@st.composite
def route_sets(draw):
    routes, service = [], iter(SERVICES)
    for n in range(draw(st.integers(1, 4))):
        rules = []
        for _ in range(draw(st.integers(1, 3))):
            rules.append({"matches": draw(st.lists(matches, min_size=1, max_size=2)),
                          "backendRefs": [{"name": next(service), "port": 80}]})
        hostnames = draw(st.lists(st.sampled_from(HOSTNAMES[1:]), max_size=2, unique=True))
        spec = {"parentRefs": [{"name": "gw"}], "rules": rules, **({"hostnames": hostnames} if hostnames else {})}
        routes.append({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                       "metadata": {"name": f"r{draw(st.sampled_from('zyx'))}{n}", "namespace": "default",
                                    "creationTimestamp": draw(st.sampled_from(TIMESTAMPS))}, "spec": spec})
    return routes


requests = st.lists(st.tuples(st.sampled_from(REQUEST_HOSTS), paths, st.sampled_from(["GET", "POST"]),
                              st.dictionaries(st.sampled_from(["X-A", "x-b"]), st.sampled_from("12"), max_size=2),
                              st.sampled_from(["", "q=1", "q=2&r=1", "r=2"])), min_size=1, max_size=12)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    ip = fresh_address()
    servers = {name: NamedBackend(ip, name) for name in SERVICES}
    home = tmp_path_factory.mktemp("gateway-proof")
    nginx = NginxProcess(home, renderer=render_gateway_conf, subdir="gateway-proof")
    listen = fresh_address()
    port = free_port(listen)
    services = [{"metadata": {"name": n, "namespace": "default"}, "spec": {"ports": [{"name": "http", "port": 80}]}}
                for n in SERVICES]
    slices = [{"metadata": {"name": n, "namespace": "default", "labels": {"kubernetes.io/service-name": n}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": s.address[1]}],
               "endpoints": [{"addresses": [s.address[0]], "conditions": {"ready": True}}]}
              for n, s in servers.items()]
    try:
        yield {"nginx": nginx, "listen": listen, "port": port, "services": services, "slices": slices}
    finally:
        nginx.stop()
        for server in servers.values():
            server.stop()
    assert processes_under(home) == [], "nginx left running"


GATEWAY = {"metadata": {"name": "gw", "namespace": "default"},
           "spec": {"gatewayClassName": "lab", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}
CLASS = {"metadata": {"name": "lab"}, "spec": {"controllerName": CONTROLLER_NAME}}


@PROOF
@given(routes=route_sets(), drawn=requests)
def test_nginx_picks_the_match_the_spec_precedence_names(stack, routes, drawn):
    t = translate(GATEWAY, gateway_class=CLASS, routes=routes, services=stack["services"],
                  endpoint_slices=stack["slices"], listen_address=stack["listen"], port_map=lambda _: stack["port"])
    outcome = stack["nginx"].apply(t.config, reason="hypothesis example")
    assert outcome.ok, outcome.error
    owner = {}
    for route in routes:
        for r, rule in enumerate(route["spec"]["rules"]):
            owner[("default/" + route["metadata"]["name"], r)] = rule["backendRefs"][0]["name"]
    for host, path, method, headers, query in drawn:
        want = reference_route(routes, host=host, path=path, method=method, headers=headers, query=query)
        reply = request(stack["listen"], stack["port"], path + ("?" + query if query else ""), host=host,
                        method=method, headers=headers)
        got = reply.body.decode() if reply.status == 200 else reply.status
        assert got == (owner[want] if want else 404), (host, path, method, headers, query, want, routes)
