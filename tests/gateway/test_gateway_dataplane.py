"""The Gateway data plane on the real nginx: rendered config, real backends on loopback, real requests.

Each test translates plain Gateway API dicts (as a watch delivers them), lets `NginxProcess` run the rendered
nginx.conf (`nginx -t`, start, Lua feed) and sends real HTTP(S) requests. Names follow the upstream conformance
scenarios they mirror (HTTPRouteMatching, HTTPRouteMatchingAcrossRoutes, HTTPRouteHeaderMatching,
HTTPRouteRedirect*, HTTPRouteRewritePath, HTTPRouteWeight, HTTPRouteInvalidCrossNamespaceBackendRef, …).
"""
from __future__ import annotations

import collections
import time

import pytest

from gateway.conftest import (endpoint_slice, gateway, gateway_class, http_route, reference_grant, service,
                              tls_secret)
from ingresslab.gateway.precedence import choose
from ingresslab.gateway.translate import translate
from ingresslab.ingress.nginx import lua_available

pytestmark = pytest.mark.skipif(not lua_available(), reason="the Gateway data plane needs nginx's Lua module")

HTTP = [{"name": "http", "port": 80, "protocol": "HTTP"}]


class Lab:
    """One Gateway served by a real nginx: `serve(...)` translates and applies; `get(...)` sends a request."""

    def __init__(self, nginx, listen, backends, http):
        self.nginx, self.backends, self.http = nginx, backends, http
        self.address, self.http_port, self.https_port = listen
        self.services, self.slices, self.secrets, self.grants = [], [], [], []
        self.translation = None

    def backend(self, name: str, *, replicas: int = 1, namespace: str = "default"):
        pods = [self.backends(f"{name}-{i}") for i in range(replicas)]
        self.services.append(service(name, namespace=namespace))
        self.slices += endpoint_slice(name, [(p.ip, p.port) for p in pods], namespace=namespace)
        return pods

    def serve(self, routes, *, listeners=HTTP, gw=None):
        gw = gw or gateway(listeners)
        self.translation = translate(gw, gateway_class=gateway_class(), routes=routes,
                                     reference_grants=self.grants, services=self.services,
                                     endpoint_slices=self.slices, secrets=self.secrets,
                                     listen_address=self.address,
                                     port_map=lambda p: {80: self.http_port, 443: self.https_port}[p])
        outcome = self.nginx.apply(self.translation.config)
        assert outcome.ok, outcome.error
        return self.translation

    def get(self, path="/", *, host="example.com", https=False, **kw):
        port = self.https_port if https else self.http_port
        return self.http(self.address, port, path, host=host, https=https, **kw)


@pytest.fixture
def lab(gateway_nginx, listen, backends, http):
    return Lab(gateway_nginx, listen, backends, http)


def test_simple_same_namespace_route_reaches_its_backend(lab):
    lab.backend("coffee")
    lab.serve([http_route("cafe", [{"backendRefs": [{"name": "coffee", "port": 80}]}])])
    reply = lab.get("/anything")
    assert reply.status == 200 and reply.name == "coffee-0"
    assert reply.json["path"] == "/anything"


def test_matching_across_routes_follows_the_spec_precedence(lab):
    """HTTPRouteMatchingAcrossRoutes + the precedence list: Exact > longest prefix > method > headers > query,
    then the oldest route; nginx's answers equal the Python reference matcher's on every request."""
    for name in ("root", "prefix", "longer", "exact", "method", "header", "headers2", "query", "newer"):
        lab.backend(name)

    def rule(backend, **match):
        return {"matches": [match], "backendRefs": [{"name": backend, "port": 80}]}

    routes = [
        http_route("a-old", [rule("root", path={"type": "PathPrefix", "value": "/"})], created="2026-01-01T00:00:00Z"),
        http_route("b", [rule("prefix", path={"type": "PathPrefix", "value": "/shop"}),
                         rule("longer", path={"type": "PathPrefix", "value": "/shop/tea/"}),
                         rule("exact", path={"type": "Exact", "value": "/shop/tea"})], created="2026-01-02T00:00:00Z"),
        http_route("c", [rule("method", path={"type": "PathPrefix", "value": "/shop"}, method="POST"),
                         rule("header", path={"type": "PathPrefix", "value": "/shop"},
                              headers=[{"name": "X-Version", "value": "2"}]),
                         rule("headers2", path={"type": "PathPrefix", "value": "/shop"},
                              headers=[{"name": "x-version", "value": "2"}, {"name": "x-env", "value": "canary"}]),
                         rule("query", path={"type": "PathPrefix", "value": "/shop"},
                              queryParams=[{"name": "color", "value": "green"}])], created="2026-01-03T00:00:00Z"),
        # Same match as route b's first rule, but newer: b (older) wins.
        http_route("d-newer", [rule("newer", path={"type": "PathPrefix", "value": "/shop"})],
                   created="2026-01-04T00:00:00Z"),
    ]
    t = lab.serve(routes)
    server = next(s for s in t.config.ports[0].servers if s.hostname == "_")
    cases = [
        ("GET", "/", {}, "root"), ("GET", "/shopping", {}, "root"), ("GET", "/shop", {}, "prefix"),
        ("GET", "/shop/coffee", {}, "prefix"), ("GET", "/shop/tea", {}, "exact"), ("GET", "/shop/tea/", {}, "longer"),
        ("GET", "/shop/tea/green", {}, "longer"), ("POST", "/shop/x", {}, "method"),
        ("POST", "/shop/x", {"X-Version": "2"}, "method"), ("GET", "/shop/x", {"X-Version": "2"}, "header"),
        ("GET", "/shop/x", {"X-Version": "2", "X-Env": "canary"}, "headers2"),
        ("GET", "/shop/x?color=green", {}, "query"), ("GET", "/shop/x?color=green", {"x-version": "2"}, "header"),
        ("GET", "/shop/x?color=red", {}, "prefix"), ("GET", "/shop/tea?color=green", {}, "exact"),
    ]
    for method, target, headers, expected in cases:
        path, _, query = target.partition("?")
        reference = choose(server.matches, path=path, method=method, headers=headers, query=query)
        reply = lab.get(target, method=method, headers=headers, body=b"" if method == "POST" else None)
        want = f"{expected}-0"
        assert reply.name == want, (method, target, headers, reply.status, reply.name)
        assert lab.translation.config.groups and reference is not None
        group = next(g for g in lab.translation.config.groups if g.name == reference.action.group)
        assert group.members[0][0] == f"default-{expected}-80", (method, target, headers)


def test_header_matching_exact_and_regex(lab):
    lab.backend("v1")
    lab.backend("v2")
    lab.serve([http_route("r", [
        {"matches": [{"headers": [{"name": "version", "value": "two"}]}], "backendRefs": [{"name": "v2", "port": 80}]},
        {"matches": [{"headers": [{"name": "version", "type": "RegularExpression", "value": "^one|^uno"}]}],
         "backendRefs": [{"name": "v1", "port": 80}]}])])
    assert lab.get("/", headers={"Version": "two"}).name == "v2-0"
    assert lab.get("/", headers={"version": "uno-mas"}).name == "v1-0"
    assert lab.get("/", headers={"version": "TWO"}).status == 404   # values are case-sensitive
    assert lab.get("/").status == 404


@pytest.mark.parametrize("redirect, target, status, location", [
    ({}, "/old?x=1", 302, "http://example.com/old?x=1"),                      # default 302, listener port 80
    ({"statusCode": 301, "scheme": "https"}, "/a", 301, "https://example.com/a"),
    ({"hostname": "new.example.org", "port": 8443}, "/a", 302, "http://new.example.org:8443/a"),
    ({"path": {"type": "ReplaceFullPath", "replaceFullPath": "/fixed"}}, "/old/deep", 302,
     "http://example.com/fixed"),
    ({"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}, "statusCode": 308}, "/old/deep", 308,
     "http://example.com/new/deep"),
])
def test_redirects_answer_the_spec_status_and_location(lab, redirect, target, status, location):
    lab.serve([http_route("r", [{"matches": [{"path": {"type": "PathPrefix", "value": "/old"}}],
                                 "filters": [{"type": "RequestRedirect", "requestRedirect": redirect}]},
                                {"matches": [{"path": {"type": "PathPrefix", "value": "/a"}}],
                                 "filters": [{"type": "RequestRedirect", "requestRedirect": redirect}]}])])
    reply = lab.get(target)
    assert reply.status == status
    assert reply.headers["location"] == location


@pytest.mark.parametrize("modifier, request_path, upstream_path", [
    ({"type": "ReplacePrefixMatch", "replacePrefixMatch": "/xyz"}, "/foo/bar", "/xyz/bar"),
    ({"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}, "/foo/bar", "/bar"),
    ({"type": "ReplacePrefixMatch", "replacePrefixMatch": "/xyz"}, "/foo", "/xyz"),
    ({"type": "ReplacePrefixMatch", "replacePrefixMatch": "/xyz"}, "/foo/?q=1", "/xyz/?q=1"),
    ({"type": "ReplaceFullPath", "replaceFullPath": "/one"}, "/foo/bar?q=1", "/one?q=1"),
])
def test_url_rewrite_changes_the_upstream_path(lab, modifier, request_path, upstream_path):
    lab.backend("app")
    lab.serve([http_route("r", [{"matches": [{"path": {"type": "PathPrefix", "value": "/foo"}}],
                                 "filters": [{"type": "URLRewrite", "urlRewrite": {"path": modifier,
                                                                                   "hostname": "inside.local"}}],
                                 "backendRefs": [{"name": "app", "port": 80}]}])])
    reply = lab.get(request_path)
    assert reply.status == 200
    assert reply.json["path"] == upstream_path
    assert reply.json["headers"]["host"] == "inside.local"


def test_header_modifiers_on_request_and_response(lab):
    lab.backend("app")
    lab.serve([http_route("r", [{"filters": [
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {
            "set": [{"name": "X-Set", "value": "set $value; with \"quotes\""}],
            "add": [{"name": "X-Add", "value": "added"}], "remove": ["X-Remove"]}},
        {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
            "set": [{"name": "X-Answer", "value": "42"}], "remove": ["Content-Type"]}}],
        "backendRefs": [{"name": "app", "port": 80}]}])])
    reply = lab.get("/", headers={"X-Add": "first", "X-Remove": "gone", "X-Set": "old"})
    seen = reply.json["headers"]
    assert seen["x-set"] == 'set $value; with "quotes"'   # literally: no nginx variable expansion
    assert seen["x-add"] == "first,added"
    assert "x-remove" not in seen
    assert reply.headers["x-answer"] == "42"
    assert "content-type" not in reply.headers


def test_weighted_backends_split_3_to_1_and_reweigh_without_reload(lab):
    lab.backend("stable")
    lab.backend("canary")
    route = http_route("split", [{"backendRefs": [{"name": "stable", "port": 80, "weight": 3},
                                                  {"name": "canary", "port": 80, "weight": 1}]}])
    lab.serve([route])
    counts = collections.Counter(lab.get("/").name for _ in range(200))
    assert abs(counts["stable-0"] / 200 - 0.75) <= 0.05, counts
    reloads = lab.nginx.reloads
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 1
    route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 0    # weight 0: no requests at all
    lab.serve([route])
    counts = collections.Counter(lab.get("/").name for _ in range(40))
    assert counts == {"stable-0": 40}
    assert lab.nginx.reloads == reloads   # weights travel through the Lua balancer


def test_invalid_backend_gets_500_and_its_share_only(lab):
    """HTTPRouteInvalidBackendRefUnknownKind / BackendNotFound: a missing Service's share of requests gets 500."""
    lab.backend("real")
    t = lab.serve([http_route("r", [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/missing"}}],
         "backendRefs": [{"name": "nowhere", "port": 80}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/half"}}],
         "backendRefs": [{"name": "real", "port": 80}, {"name": "nowhere", "port": 80}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/none"}}]}])])
    parent = t.route_parents["default/r"][0]
    resolved = next(c for c in parent["conditions"] if c["type"] == "ResolvedRefs")
    assert (resolved["status"], resolved["reason"]) == ("False", "BackendNotFound")
    assert lab.get("/missing").status == 500
    assert lab.get("/none").status == 500
    statuses = collections.Counter(lab.get("/half").status for _ in range(20))
    assert statuses == {200: 10, 500: 10}


def test_cross_namespace_backend_needs_a_reference_grant(lab):
    """HTTPRouteInvalidCrossNamespaceBackendRef, then HTTPRouteReferenceGrant."""
    lab.backend("web", namespace="other")
    route = http_route("r", [{"backendRefs": [{"name": "web", "namespace": "other", "port": 80}]}])
    t = lab.serve([route])
    resolved = next(c for c in t.route_parents["default/r"][0]["conditions"] if c["type"] == "ResolvedRefs")
    assert (resolved["status"], resolved["reason"]) == ("False", "RefNotPermitted")
    assert lab.get("/").status == 500
    lab.grants.append(reference_grant("other", from_kind="HTTPRoute", from_namespace="default", to_kind="Service"))
    t = lab.serve([route])
    resolved = next(c for c in t.route_parents["default/r"][0]["conditions"] if c["type"] == "ResolvedRefs")
    assert resolved["status"] == "True"
    assert lab.get("/").name == "web-0"


def test_https_listener_terminates_tls_with_its_certificate(lab, certificate):
    lab.backend("app")
    lab.secrets.append(tls_secret("cafe-secret", certificate("cafe.example.com")))
    listeners = HTTP + [{"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "cafe.example.com",
                         "tls": {"mode": "Terminate", "certificateRefs": [{"name": "cafe-secret"}]}}]
    t = lab.serve([http_route("r", [{"backendRefs": [{"name": "app", "port": 80}]}])], listeners=listeners)
    reply = lab.get("/tea", host="cafe.example.com", https=True)
    assert reply.status == 200 and reply.name == "app-0" and reply.peer_cn == "cafe.example.com"
    assert reply.json["headers"]["x-forwarded-proto"] == "https"
    https = next(ls for ls in t.gateway_status["listeners"] if ls["name"] == "https")
    assert https["attachedRoutes"] == 1
    assert lab.get("/tea", host="cafe.example.com").name == "app-0"    # the HTTP listener serves it too


def test_hostname_intersection_picks_the_most_specific_route_first(lab):
    """HTTPRouteHostnameIntersection: exact host before wildcard before any host, falling back on no match."""
    for name in ("exact", "wild", "any"):
        lab.backend(name)
    lab.serve([
        http_route("any", [{"backendRefs": [{"name": "any", "port": 80}]}]),
        http_route("wild", [{"matches": [{"path": {"type": "PathPrefix", "value": "/w"}}],
                             "backendRefs": [{"name": "wild", "port": 80}]}], hostnames=["*.example.com"]),
        http_route("exact", [{"matches": [{"path": {"type": "PathPrefix", "value": "/e"}}],
                              "backendRefs": [{"name": "exact", "port": 80}]}], hostnames=["a.example.com"]),
    ])
    assert lab.get("/e", host="a.example.com").name == "exact-0"
    assert lab.get("/w", host="a.example.com").name == "wild-0"
    assert lab.get("/w", host="b.c.example.com").name == "wild-0"   # a wildcard covers one or more labels
    assert lab.get("/e", host="b.example.com").name == "any-0"
    assert lab.get("/w", host="example.com").name == "any-0"


def test_request_mirror_copies_the_request(lab):
    """HTTPRouteRequestMirror: the mirror backend gets a copy; the client gets the real backend's answer."""
    lab.backend("app")
    mirror = lab.backend("shadow")[0]
    seen = []
    handler = mirror.server.RequestHandlerClass

    class Recording(handler):
        def do_GET(self):
            seen.append(self.path)
            super().do_GET()

    mirror.server.RequestHandlerClass = Recording
    lab.serve([http_route("r", [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/copy"}}],
         "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 80}}}],
         "backendRefs": [{"name": "app", "port": 80}]},
        {"backendRefs": [{"name": "app", "port": 80}]}])])
    assert lab.get("/copy-not").name == "app-0"
    reply = lab.get("/copy/me?x=1")
    assert reply.name == "app-0"
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen == ["/copy/me?x=1"]


def test_listener_hostname_matching(lab):
    """Conformance HTTPRouteListenerHostnameMatching: four listeners on one port, the most specific one serves."""
    for name in ("v1", "v2", "v3"):
        lab.backend(name)
    listeners = [{"name": f"listener-{i}", "port": 80, "protocol": "HTTP", "hostname": h}
                 for i, h in enumerate(("bar.com", "foo.bar.com", "*.bar.com", "*.foo.com"), 1)]

    def route(name, *sections):
        return http_route(name, [{"backendRefs": [{"name": name, "port": 80}]}],
                          parents=[{"name": "gw", "sectionName": s} for s in sections])
    t = lab.serve([route("v1", "listener-1"), route("v2", "listener-2"), route("v3", "listener-3", "listener-4")],
                  listeners=listeners)
    assert [ls["attachedRoutes"] for ls in t.gateway_status["listeners"]] == [1, 1, 1, 1]
    for host, want in (("bar.com", "v1-0"), ("foo.bar.com", "v2-0"), ("baz.bar.com", "v3-0"),
                       ("multiple.prefixes.bar.com", "v3-0"), ("multiple.prefixes.foo.com", "v3-0")):
        assert lab.get("/", host=host).name == want, host
    for host in ("foo.com", "no.matching.host"):
        assert lab.get("/", host=host).status == 404
