"""Gateway API objects → model and status, as the spec says; pure functions, no nginx (that is test_dataplane).

Tests are named after the upstream conformance scenarios whose expectations they mirror (GatewayInvalidTLS-
Configuration, GatewayWithAttachedRoutes, HTTPRouteListenerHostnameMatching, HTTPRouteInvalidNonExistentBackendRef,
HTTPRouteInvalidCrossNamespaceParentRef, …).
"""
from __future__ import annotations

import pytest

from gateway.conftest import (condition, endpoint_slice, gateway, gateway_class, http_route, make_certificate,
                              reference_grant, service, tls_secret)
from ingresslab.gateway.objects import gateway_class_status, intersect, wildcard_covers
from ingresslab.gateway.precedence import path_matches, replace_prefix
from ingresslab.gateway.translate import translate

HTTP = {"name": "http", "port": 80, "protocol": "HTTP"}


def run(listeners, routes=(), **kw):
    kw.setdefault("services", [service("web")])
    kw.setdefault("endpoint_slices", endpoint_slice("web", [("127.0.0.9", 8080)]))
    gw = kw.pop("gw", None) or gateway(listeners)
    return translate(gw, gateway_class=kw.pop("cls", gateway_class()), routes=list(routes), **kw)


def listener(t, name):
    return next(ls for ls in t.gateway_status["listeners"] if ls["name"] == name)


def parent(t, route="default/r", index=0):
    return t.route_parents[route][index]["conditions"]


def web_route(name="r", **kw):
    return http_route(name, [{"backendRefs": [{"name": "web", "port": 80}]}], **kw)


def test_gateway_class_of_ours_is_accepted_and_others_are_left_alone():
    status = gateway_class_status(gateway_class())
    assert (status["conditions"][0]["type"], status["conditions"][0]["status"]) == ("Accepted", "True")
    assert gateway_class_status(gateway_class(controller="example.com/other")) is None
    t = run([HTTP], cls=gateway_class(controller="example.com/other"))
    assert t.config is None and t.gateway_status is None


def test_gateway_with_attached_routes_counts_them_per_listener():
    listeners = [HTTP, {"name": "other", "port": 8080, "protocol": "HTTP"}]
    t = run(listeners, [web_route("a"), web_route("b", parents=[{"name": "gw", "sectionName": "other"}])])
    assert listener(t, "http")["attachedRoutes"] == 1
    assert listener(t, "other")["attachedRoutes"] == 2
    assert condition(t.gateway_status["conditions"], "Accepted")["status"] == "True"
    assert condition(t.gateway_status["conditions"], "Programmed")["status"] == "True"
    assert t.gateway_status["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    for ls in t.gateway_status["listeners"]:
        assert {c["type"]: c["status"] for c in ls["conditions"]} == {
            "Accepted": "True", "Conflicted": "False", "ResolvedRefs": "True", "Programmed": "True"}
        assert ls["supportedKinds"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}]


def test_conditions_carry_observed_generation_and_keep_their_transition_time():
    gw = gateway([HTTP], generation=7)
    gw["status"] = run([HTTP], gw=gw, now="2026-01-01T00:00:00Z").gateway_status
    again = run([HTTP], gw=gw, now="2026-06-01T00:00:00Z")
    accepted = condition(again.gateway_status["conditions"], "Accepted")
    assert accepted["observedGeneration"] == 7
    assert accepted["lastTransitionTime"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("secret, grants, reason", [
    (None, [], "InvalidCertificateRef"),                                           # not found
    ({"kind": "Secret", "type": "Opaque", "metadata": {"name": "cert", "namespace": "default"}, "data": {}}, [],
     "InvalidCertificateRef"),                                                      # not kubernetes.io/tls
    ("other-namespace", [], "RefNotPermitted"),
])
def test_gateway_invalid_tls_configuration(secret, grants, reason):
    ref = {"name": "cert"}
    secrets = []
    if secret == "other-namespace":
        ref["namespace"] = "certs"
        secrets = [tls_secret("cert", make_certificate("a.example.com"), namespace="certs")]
    elif secret:
        secrets = [secret]
    https = {"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"certificateRefs": [ref]}}
    t = run([HTTP, https], [web_route()], secrets=secrets, reference_grants=grants)
    resolved = condition(listener(t, "https")["conditions"], "ResolvedRefs")
    assert (resolved["status"], resolved["reason"]) == ("False", reason)
    assert condition(listener(t, "https")["conditions"], "Programmed")["status"] == "False"
    accepted = condition(t.gateway_status["conditions"], "Accepted")
    assert accepted["reason"] == "ListenersNotValid"
    assert [p.protocol for p in t.config.ports] == ["HTTP"]     # the bad listener is not programmed


def test_gateway_with_attached_routes_counts_them_even_on_an_unresolved_listener():
    """Conformance GatewayWithAttachedRoutes: attachment is parentRefs + allowedRoutes, not listener status."""
    https = {"name": "tls", "port": 443, "protocol": "HTTPS", "tls": {"certificateRefs": [{"name": "does-not-exist"}]}}
    route = http_route("r", [{"backendRefs": [{"name": "does-not-exist", "port": 8080}]}],
                       parents=[{"name": "gw", "sectionName": "tls"}])
    t = run([https], [route])
    assert listener(t, "tls")["attachedRoutes"] == 1
    assert condition(listener(t, "tls")["conditions"], "Programmed")["status"] == "False"
    assert condition(parent(t), "ResolvedRefs")["status"] == "False"
    assert t.config.ports == ()    # nothing served


def test_cross_namespace_certificate_with_reference_grant_is_used():
    https = {"name": "https", "port": 443, "protocol": "HTTPS",
             "tls": {"certificateRefs": [{"name": "cert", "namespace": "certs"}]}}
    t = run([https], [web_route()], secrets=[tls_secret("cert", make_certificate("a.example.com"), namespace="certs")],
            reference_grants=[reference_grant("certs", from_kind="Gateway", from_namespace="default", to_kind="Secret")])
    assert condition(listener(t, "https")["conditions"], "ResolvedRefs")["status"] == "True"
    assert [c.secret for c in t.config.certificates] == ["certs/cert"]
    assert t.config.ports[0].servers[0].tls_secret == "certs/cert"


def test_requested_addresses_are_unsupported():
    gw = gateway([HTTP])
    gw["spec"]["addresses"] = [{"type": "IPAddress", "value": "10.0.0.1"}]
    t = run([HTTP], [web_route()], gw=gw)
    accepted = condition(t.gateway_status["conditions"], "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "UnsupportedAddress")
    assert t.config.ports == ()


def test_invalid_route_kinds_are_dropped_from_supported_kinds():
    ls = dict(HTTP, allowedRoutes={"kinds": [{"kind": "TCPRoute"}, {"kind": "HTTPRoute"}]})
    t = run([ls], [web_route()])
    resolved = condition(listener(t, "http")["conditions"], "ResolvedRefs")
    assert (resolved["status"], resolved["reason"]) == ("False", "InvalidRouteKinds")
    assert listener(t, "http")["supportedKinds"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}]
    assert listener(t, "http")["attachedRoutes"] == 1


@pytest.mark.parametrize("second, reason", [
    ({"name": "twin", "port": 80, "protocol": "HTTP"}, "HostnameConflict"),
    ({"name": "tls", "port": 80, "protocol": "HTTPS", "tls": {"certificateRefs": [{"name": "c"}]}},
     "ProtocolConflict"),
])
def test_conflicted_listeners_are_not_programmed(second, reason):
    t = run([HTTP, second], secrets=[tls_secret("c", make_certificate("x.example.com"))])
    for name in ("http", second["name"]):
        conflicted = condition(listener(t, name)["conditions"], "Conflicted")
        assert (conflicted["status"], conflicted["reason"]) == ("True", reason)
        assert condition(listener(t, name)["conditions"], "Programmed")["status"] == "False"
    assert t.config.ports == ()


def test_listeners_with_different_hostnames_share_a_port():
    a = dict(HTTP, name="a", hostname="a.example.com")
    b = dict(HTTP, name="b", hostname="*.example.com")
    t = run([a, b], [web_route()])
    assert all(condition(listener(t, n)["conditions"], "Conflicted")["status"] == "False" for n in "ab")
    assert sorted(s.hostname for s in t.config.ports[0].servers) == ["*.example.com", "_", "a.example.com"]


def test_route_from_another_namespace_is_not_allowed_by_default():
    t = run([HTTP], [web_route(namespace="team", parents=[{"name": "gw", "namespace": "default"}])])
    accepted = condition(parent(t, "team/r"), "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "NotAllowedByListeners")
    assert listener(t, "http")["attachedRoutes"] == 0


def test_allowed_routes_by_namespace_selector_and_all():
    selector = dict(HTTP, allowedRoutes={"namespaces": {"from": "Selector", "selector": {
        "matchLabels": {"gateway-access": "yes"}}}})
    namespaces = [{"metadata": {"name": "team", "labels": {"gateway-access": "yes"}}},
                  {"metadata": {"name": "other", "labels": {}}}]
    routes = [web_route(namespace=ns, parents=[{"name": "gw", "namespace": "default"}]) for ns in ("team", "other")]
    t = run([selector], routes, namespaces=namespaces, services=[service("web", namespace="team"),
                                                              service("web", namespace="other")])
    assert condition(parent(t, "team/r"), "Accepted")["status"] == "True"
    assert condition(parent(t, "other/r"), "Accepted")["reason"] == "NotAllowedByListeners"
    everyone = dict(HTTP, allowedRoutes={"namespaces": {"from": "All"}})
    t = run([everyone], routes)
    assert listener(t, "http")["attachedRoutes"] == 2


def test_listener_hostname_mismatch_is_no_matching_listener_hostname():
    ls = dict(HTTP, hostname="*.example.com")
    t = run([ls], [web_route(hostnames=["example.net"]), web_route("ok", hostnames=["a.b.example.com"])])
    accepted = condition(parent(t), "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "NoMatchingListenerHostname")
    assert condition(parent(t, "default/ok"), "Accepted")["status"] == "True"


def test_parent_ref_to_a_missing_section_is_no_matching_parent():
    t = run([HTTP], [web_route(parents=[{"name": "gw", "sectionName": "nope"}])])
    accepted = condition(parent(t), "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "NoMatchingParent")


def test_routes_of_other_gateways_get_no_status_from_this_one():
    t = run([HTTP], [web_route(parents=[{"name": "someone-else"}])])
    assert t.route_parents == {}


@pytest.mark.parametrize("ref, reason", [
    ({"name": "missing", "port": 80}, "BackendNotFound"),
    ({"name": "web", "port": 81}, "BackendNotFound"),
    ({"name": "web", "port": 80, "kind": "ConfigMap"}, "InvalidKind"),
    ({"name": "web", "port": 80, "namespace": "elsewhere"}, "RefNotPermitted"),
])
def test_unresolved_backend_refs(ref, reason):
    t = run([HTTP], [http_route("r", [{"backendRefs": [ref]}])])
    resolved = condition(parent(t), "ResolvedRefs")
    assert (resolved["status"], resolved["reason"]) == ("False", reason)
    assert condition(parent(t), "Accepted")["status"] == "True"      # attached; its requests get 500
    assert t.config.groups[0].members == (("", 1),)


@pytest.mark.parametrize("rule, field", [
    ({"filters": [{"type": "ExtensionRef", "extensionRef": {}}]}, "filters[0].type"),
    ({"matches": [{"path": {"type": "Exact", "value": "/a/../b"}}]}, "path.value"),
    ({"matches": [{"path": {"type": "RegularExpression", "value": "/(unclosed"}}]}, "path.value"),
    ({"matches": [{"headers": [{"name": "bad header", "value": "x"}]}]}, "headers[0].name"),
    ({"filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
        "set": [{"name": "X-A", "value": "line\nbreak"}]}}]}, "set[0].value"),
    ({"matches": [{"path": {"type": "Exact", "value": "/x"}}], "filters": [{"type": "URLRewrite", "urlRewrite": {
        "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/y"}}}]}, "ReplacePrefixMatch needs"),
    ({"filters": [{"type": "RequestRedirect", "requestRedirect": {"statusCode": 200}}]}, "statusCode"),
])
def test_unsupported_values_make_the_route_not_accepted(rule, field):
    t = run([HTTP], [http_route("r", [rule])])
    accepted = condition(parent(t), "Accepted")
    assert (accepted["status"], accepted["reason"]) == ("False", "UnsupportedValue")
    assert field in accepted["message"]
    assert listener(t, "http")["attachedRoutes"] == 0


def test_hostname_intersection_rules():
    assert intersect(None, []) == [None]
    assert intersect("a.example.com", []) == ["a.example.com"]
    assert intersect("*.example.com", ["a.b.example.com", "example.com", "x.org"]) == ["a.b.example.com"]
    assert intersect("a.example.com", ["*.example.com"]) == ["a.example.com"]
    assert intersect("*.example.com", ["*.a.example.com"]) == ["*.a.example.com"]
    assert intersect("*.a.example.com", ["*.example.com"]) == ["*.a.example.com"]
    assert not wildcard_covers("*.example.com", "example.com")


@pytest.mark.parametrize("path, prefix, replacement, result", [
    ("/foo/bar", "/foo", "/xyz", "/xyz/bar"), ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
    ("/foo/bar", "/foo/", "/xyz", "/xyz/bar"), ("/foo/bar", "/foo/", "/xyz/", "/xyz/bar"),
    ("/foo", "/foo", "/xyz", "/xyz"), ("/foo/", "/foo", "/xyz", "/xyz/"), ("/foo/bar", "/foo", "", "/bar"),
    ("/foo/", "/foo", "", "/"), ("/foo", "/foo", "", "/"), ("/foo/", "/foo", "/", "/"), ("/foo", "/foo", "/", "/"),
])
def test_replace_prefix_match_follows_the_spec_table(path, prefix, replacement, result):
    assert replace_prefix(path, prefix, replacement) == result


def test_path_prefix_matches_whole_elements():
    assert path_matches("PathPrefix", "/abc", "/abc") and path_matches("PathPrefix", "/abc", "/abc/")
    assert path_matches("PathPrefix", "/abc/", "/abc") and path_matches("PathPrefix", "/abc", "/abc/def")
    assert not path_matches("PathPrefix", "/abc", "/abcd")
    assert path_matches("PathPrefix", "/", "/anything")
    assert path_matches("Exact", "/a", "/a") and not path_matches("Exact", "/a", "/a/")
