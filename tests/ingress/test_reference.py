"""The reference matcher: every example of REFERENCE.md's Ingress section, plus ingress-nginx's merging rules."""
from __future__ import annotations

import pytest

from ingresslab.ingress.reference import (Route, host_matches, ingress_class_of, normalize_path, oldest_first,
                                          path_matches, request_host, route, tls_host)


def backend(service: str, port=80) -> dict:
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": service, "port": {key: port}}}


def ingress(name: str, rules: list[dict] | None = None, *, default: str | None = None, created: str | None = None,
            namespace: str = "default", cls: str | None = "nginx", annotation: str | None = None) -> dict:
    spec: dict = {}
    if cls:
        spec["ingressClassName"] = cls
    if rules is not None:
        spec["rules"] = rules
    if default:
        spec["defaultBackend"] = backend(default)
    meta: dict = {"name": name, "namespace": namespace}
    if created:
        meta["creationTimestamp"] = created
    if annotation:
        meta["annotations"] = {"kubernetes.io/ingress.class": annotation}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def rule(host: str | None, *paths: tuple[str, str, str]) -> dict:
    out: dict = {"http": {"paths": [{"path": p, "pathType": t, "backend": backend(s)} for p, t, s in paths]}}
    if host:
        out["host"] = host
    return out


def served_by(ingresses, path, host="foo.com") -> str | None:
    found = route(ingresses, host, path)
    return found.service if found else None


def one(*paths):
    return [ingress("paths", [rule("foo.com", *paths)])]


# --- REFERENCE.md: path examples ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/foo", "/foo/bar", "/anything/at/all"])
def test_prefix_slash_matches_everything(path):
    assert served_by(one(("/", "Prefix", "all")), path) == "all"


@pytest.mark.parametrize("path,expected", [("/foo", "exact"), ("/foo/", None), ("/bar", None)])
def test_exact_foo_matches_only_foo(path, expected):
    assert served_by(one(("/foo", "Exact", "exact")), path) == expected


def test_exact_foo_slash_does_not_match_foo():
    assert served_by(one(("/foo/", "Exact", "exact")), "/foo") is None
    assert served_by(one(("/foo/", "Exact", "exact")), "/foo/") == "exact"


@pytest.mark.parametrize("rule_path", ["/foo", "/foo/"])
@pytest.mark.parametrize("path", ["/foo", "/foo/"])
def test_prefix_foo_and_prefix_foo_slash_both_match_foo_and_foo_slash(rule_path, path):
    assert served_by(one((rule_path, "Prefix", "foo")), path) == "foo"


def test_prefix_aaa_bb_does_not_match_aaa_bbb():
    assert served_by(one(("/aaa/bb", "Prefix", "x")), "/aaa/bbb") is None


def test_prefix_aaa_bbb_slash_matches_aaa_bbb():
    assert served_by(one(("/aaa/bbb/", "Prefix", "x")), "/aaa/bbb") == "x"


@pytest.mark.parametrize("path,expected", [("/aaa/bbb/ccc", "x"), ("/aaa/bbbxyz", None), ("/aaa/bbb", "x")])
def test_prefix_aaa_bbb_matches_element_by_element(path, expected):
    assert served_by(one(("/aaa/bbb", "Prefix", "x")), path) == expected


def test_the_longest_prefix_wins():
    both = one(("/", "Prefix", "root"), ("/aaa", "Prefix", "aaa"))
    assert served_by(both, "/aaa/ccc") == "aaa"
    assert served_by(both, "/ccc") == "root"


@pytest.mark.parametrize("order", [0, 1])
def test_on_a_tie_exact_beats_prefix_whatever_the_order(order):
    paths = [("/foo", "Prefix", "prefix"), ("/foo", "Exact", "exact")]
    ingresses = one(*(paths if order else paths[::-1]))
    assert served_by(ingresses, "/foo") == "exact"
    assert served_by(ingresses, "/foo/bar") == "prefix"


def test_matching_is_case_sensitive_for_paths():
    assert served_by(one(("/Foo", "Prefix", "x")), "/foo") is None


def test_implementation_specific_is_treated_as_prefix():
    assert served_by(one(("/foo", "ImplementationSpecific", "x")), "/foo/bar") == "x"
    assert served_by(one(("/foo", "ImplementationSpecific", "x")), "/foobar") is None


def test_no_match_on_a_known_host_goes_to_the_default_backend():
    assert route(one(("/tea", "Prefix", "tea")), "foo.com", "/coffee") is None


# --- REFERENCE.md: host examples ------------------------------------------------------------------------------------

def test_hosts_match_exactly_with_the_port_ignored_and_case_folded():
    ings = [ingress("a", [rule("foo.bar.com", ("/", "Prefix", "foo"))])]
    assert served_by(ings, "/", host="foo.bar.com") == "foo"
    assert served_by(ings, "/", host="FOO.bar.com:8080") == "foo"
    assert served_by(ings, "/", host="other.com") is None


@pytest.mark.parametrize("host,expected", [("bar.foo.com", "wild"), ("baz.bar.foo.com", None), ("foo.com", None)])
def test_a_wildcard_matches_exactly_one_extra_label(host, expected):
    ings = [ingress("w", [rule("*.foo.com", ("/", "Prefix", "wild"))])]
    assert served_by(ings, "/", host=host) == expected


def test_a_rule_without_host_matches_any_host():
    ings = [ingress("any", [rule(None, ("/", "Prefix", "any"))])]
    for host in ("foo.com", "bar.example.org", "127.0.0.1:8080", ""):
        assert served_by(ings, "/x", host=host) == "any"


def test_an_exact_host_beats_a_wildcard_and_a_wildcard_beats_rules_without_host():
    ings = [ingress("all", [rule(None, ("/", "Prefix", "nohost")), rule("*.foo.com", ("/", "Prefix", "wild")),
                            rule("www.foo.com", ("/", "Prefix", "www"))])]
    assert served_by(ings, "/", host="www.foo.com") == "www"
    assert served_by(ings, "/", host="api.foo.com") == "wild"
    assert served_by(ings, "/", host="bar.com") == "nohost"


def test_a_host_with_its_own_rules_never_falls_through_to_rules_without_host():
    """ingress-nginx puts host-less rules in the catch-all server; a named host does not see them."""
    ings = [ingress("cafe", [rule("cafe.example.com", ("/tea", "Prefix", "tea"))]),
            ingress("generic", [rule(None, ("/coffee", "Prefix", "coffee"))])]
    assert served_by(ings, "/coffee", host="cafe.example.com") is None
    assert served_by(ings, "/coffee", host="other.example.com") == "coffee"


# --- merging several Ingresses -----------------------------------------------------------------------------------

def test_ingresses_on_one_host_merge():
    ings = [ingress("tea", [rule("cafe.example.com", ("/tea", "Prefix", "tea-svc"))]),
            ingress("coffee", [rule("cafe.example.com", ("/coffee", "Prefix", "coffee-svc"))])]
    assert served_by(ings, "/tea", host="cafe.example.com") == "tea-svc"
    assert served_by(ings, "/coffee", host="cafe.example.com") == "coffee-svc"


def test_a_conflicting_path_stays_with_the_oldest_ingress():
    old = ingress("old", [rule("foo.com", ("/tea", "Prefix", "old-svc"))], created="2024-01-01T00:00:00Z")
    new = ingress("new", [rule("foo.com", ("/tea", "Prefix", "new-svc"))], created="2024-02-01T00:00:00Z")
    assert served_by([new, old], "/tea") == "old-svc"
    assert route([new, old], "foo.com", "/tea").ingress == "default/old"


def test_on_equal_timestamps_ingress_nginx_prefers_the_greater_namespace_and_name():
    stamp = "2024-01-01T00:00:00Z"
    a = ingress("a", [rule("foo.com", ("/tea", "Prefix", "a-svc"))], created=stamp)
    b = ingress("b", [rule("foo.com", ("/tea", "Prefix", "b-svc"))], created=stamp)
    assert served_by([a, b], "/tea") == "b-svc"
    assert [i["metadata"]["name"] for i in oldest_first([a, b])] == ["b", "a"]


def test_same_path_with_different_path_types_is_no_conflict():
    old = ingress("old", [rule("foo.com", ("/foo", "Prefix", "prefix"))], created="2024-01-01T00:00:00Z")
    new = ingress("new", [rule("foo.com", ("/foo", "Exact", "exact"))], created="2024-02-01T00:00:00Z")
    assert served_by([old, new], "/foo") == "exact"
    assert served_by([old, new], "/foo/x") == "prefix"


# --- default backends ---------------------------------------------------------------------------------------------

def test_an_ingress_default_backend_answers_unmatched_paths_of_its_hosts():
    ings = [ingress("cafe", [rule("cafe.example.com", ("/tea", "Prefix", "tea"))], default="menu")]
    found = route(ings, "cafe.example.com", "/water")
    assert found == Route("default/cafe", "default", "menu", 80)
    assert found.is_default_backend and "defaultBackend of Ingress default/cafe" in str(found)


def test_the_default_backend_of_a_newer_ingress_does_not_take_over_an_older_host():
    old = ingress("old", [rule("foo.com", ("/tea", "Prefix", "tea"))], created="2024-01-01T00:00:00Z")
    new = ingress("new", [rule("foo.com", ("/coffee", "Prefix", "coffee"))], default="menu",
                  created="2024-02-01T00:00:00Z")
    assert route([old, new], "foo.com", "/water") is None


def test_an_ingress_with_only_a_default_backend_takes_the_catch_all():
    ings = [ingress("cafe", [rule("cafe.example.com", ("/tea", "Prefix", "tea"))]),
            ingress("fallback", default="web")]
    assert served_by(ings, "/anything", host="unknown.example.com") == "web"
    assert served_by(ings, "/coffee", host="cafe.example.com") is None


def test_the_oldest_default_backend_only_ingress_wins_the_catch_all():
    ings = [ingress("second", default="two", created="2024-02-01T00:00:00Z"),
            ingress("first", default="one", created="2024-01-01T00:00:00Z")]
    assert served_by(ings, "/", host="x.com") == "one"


def test_nothing_at_all_means_the_controllers_default_backend():
    assert route([], "foo.com", "/") is None


# --- classes ----------------------------------------------------------------------------------------------------

def test_ingresses_of_other_classes_are_ignored():
    ings = [ingress("traefik", [rule("foo.com", ("/", "Prefix", "other"))], cls="traefik")]
    assert route(ings, "foo.com", "/") is None
    assert route(ings, "foo.com", "/", ingress_class="traefik").service == "other"


def test_the_legacy_class_annotation_counts_like_the_class_name():
    ings = [ingress("old", [rule("foo.com", ("/", "Prefix", "legacy"))], cls=None, annotation="nginx")]
    assert ingress_class_of(ings[0]) == "nginx"
    assert served_by(ings, "/") == "legacy"


def test_an_ingress_without_class_is_served_only_by_the_default_class():
    ings = [ingress("plain", [rule("foo.com", ("/", "Prefix", "plain"))], cls=None)]
    assert served_by(ings, "/") == "plain"
    assert route(ings, "foo.com", "/", default_class=False) is None


# --- the pieces -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,normal", [("/a//b", "/a/b"), ("/a/./b", "/a/b"), ("/a/b/../c", "/a/c"),
                                        ("/a/%62", "/a/b"), ("/a?x=1", "/a"), ("/a/", "/a/"), ("", "/"),
                                        ("/..", "/"), ("/a/.", "/a/")])
def test_request_paths_are_normalized_as_nginx_does_before_matching(raw, normal):
    assert normalize_path(raw) == normal


def test_a_dot_dot_cannot_climb_out_of_a_prefix_unnoticed():
    assert served_by(one(("/tea", "Prefix", "tea")), "/tea/../coffee") is None


@pytest.mark.parametrize("header,host", [("Foo.COM:80", "foo.com"), ("foo.com.", "foo.com"), ("[::1]:8080", "::1"),
                                         ("127.0.0.1:80", "127.0.0.1")])
def test_the_host_header_loses_its_port_case_and_final_dot(header, host):
    assert request_host(header) == host


def test_helpers_read_as_the_rules_they_name():
    assert path_matches("Prefix", "/", "/x") and not path_matches("Exact", "/x/", "/x")
    assert host_matches("*.foo.com", "a.foo.com") and not host_matches("*.foo.com", ".foo.com")


def test_a_route_prints_as_a_sentence():
    found = route(one(("/foo", "Prefix", "foo-svc")), "foo.com", "/foo")
    assert str(found) == "default/foo-svc:80 (Prefix /foo on foo.com, Ingress default/paths)"


def test_resource_backends_are_skipped_like_ingress_nginx_does():
    ing = ingress("r", [{"host": "foo.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket", "name": "b"}}}]}}])
    assert route([ing], "foo.com", "/") is None


def test_named_ports_are_reported_as_names():
    ing = ingress("n", [{"host": "foo.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": backend("web", "http")}]}}])
    assert route([ing], "foo.com", "/").port == "http"


# --- ingress-nginx's "Ingress Path Matching": use-regex and rewrite-target ------------------------------------------

def annotated(name, rules, **annotations) -> dict:
    out = ingress(name, rules)
    out["metadata"]["annotations"] = {f"nginx.ingress.kubernetes.io/{k.replace('_', '-')}": v
                                      for k, v in annotations.items()}
    return out


REGEX_TABLE = [
    # (rules on foo.com with use-regex, request path, expected service)
    ([("/foo/.*", "ImplementationSpecific", "regex")], "/foo/bar", "regex"),
    ([("/foo/.*", "ImplementationSpecific", "regex")], "/FOO/bar", "regex"),          # case-insensitive
    ([("/foo/.*", "ImplementationSpecific", "regex")], "/foo", None),
    ([("/a", "Prefix", "a")], "/ab", "a"),                                            # a regex prefix, not elements
    ([("/a.*", "ImplementationSpecific", "dotstar"), ("/ab", "Prefix", "ab")], "/ab", "dotstar"),   # longer first
    ([("/ab", "Prefix", "ab"), ("/a.*", "ImplementationSpecific", "dotstar")], "/abc", "dotstar"),
    ([("/a.", "ImplementationSpecific", "dot"), ("/ab", "Prefix", "ab")], "/ab", "ab"),   # same length: greater
    ([("/a.", "ImplementationSpecific", "dot"), ("/ab", "Prefix", "ab")], "/ac", "dot"),
    ([("/x", "Exact", "exact"), ("/x.*", "ImplementationSpecific", "regex")], "/x", "exact"),  # Exact stays exact
    ([("/x", "Exact", "exact")], "/X", None),
    ([("/", "Prefix", "root"), ("/b[0-9]+", "ImplementationSpecific", "digits")], "/b12/x", "digits"),
]


@pytest.mark.parametrize("paths,request_path,expected", REGEX_TABLE)
def test_a_host_with_use_regex_matches_its_paths_as_regexes_longest_first(paths, request_path, expected):
    ings = [annotated("r", [rule("foo.com", *paths)], use_regex="true")]
    assert served_by(ings, request_path) == expected


def test_use_regex_on_one_ingress_turns_the_whole_hosts_paths_into_regexes():
    plain = ingress("plain", [rule("foo.com", ("/a", "Prefix", "plain"))], created="2024-01-01T00:00:00Z")
    regex = annotated("regex", [rule("foo.com", ("/z.*", "ImplementationSpecific", "z"))], use_regex="true")
    assert served_by([plain], "/ab") is None
    assert served_by([plain, regex], "/ab") == "plain"
    assert served_by([plain, regex], "/ab", host="other.com") is None


@pytest.mark.parametrize("value,regex", [("true", True), ("1", True), ("True", True), ("false", False),
                                         ("yes", False)])
def test_use_regex_is_a_go_boolean(value, regex):
    ings = [annotated("r", [rule("foo.com", ("/a", "Prefix", "a"))], use_regex=value)]
    assert (served_by(ings, "/ab") == "a") is regex


REWRITES = [
    # (path, rewrite-target, request, what the Service receives)
    ("/something(/|$)(.*)", "/$2", "/something/new", "/new"),
    ("/something(/|$)(.*)", "/$2", "/something", "/"),
    ("/api/(.*)", "/v2/$1", "/API/users", "/v2/users"),
    ("/api", "/", "/api/x", "/"),
    ("/api/(.*)", "/$3", "/api/x", "/"),                          # a group the regex lacks is empty
]


@pytest.mark.parametrize("path,target,request_path,upstream", REWRITES)
def test_rewrite_target_replaces_the_uri_with_the_regex_captures(path, target, request_path, upstream):
    ings = [annotated("rw", [rule("foo.com", (path, "ImplementationSpecific", "svc"))], rewrite_target=target)]
    found = route(ings, "foo.com", request_path)
    assert (found.service, found.upstream_path) == ("svc", upstream)
    assert f"rewritten to {upstream}" in str(found)


def test_without_rewrite_target_the_upstream_path_is_the_requests_own():
    assert route(one(("/tea", "Prefix", "tea")), "foo.com", "/tea").upstream_path is None


# --- TLS hosts (308 over plain HTTP) --------------------------------------------------------------------------------

def with_tls(ing: dict, hosts: list[str], secret: str | None = "s") -> dict:
    ing["spec"]["tls"] = [{"hosts": hosts, **({"secretName": secret} if secret else {})}]
    return ing


@pytest.mark.parametrize("ings,host,expected", [
    ([with_tls(ingress("t", [rule("foo.com", ("/", "Prefix", "x"))]), ["foo.com"])], "FOO.com:443", True),
    ([with_tls(ingress("t", [rule("foo.com", ("/", "Prefix", "x"))]), ["bar.com"])], "foo.com", False),
    ([with_tls(ingress("t", [rule("*.foo.com", ("/", "Prefix", "x"))]), ["*.foo.com"])], "a.foo.com", True),
    ([with_tls(ingress("t", [rule("a.foo.com", ("/", "Prefix", "x"))]), ["*.foo.com"])], "a.foo.com", True),
    ([with_tls(ingress("t", [rule("foo.com", ("/", "Prefix", "x"))]), ["foo.com"])], "other.com", False),
    ([with_tls(ingress("t", [rule(None, ("/", "Prefix", "x"))]), ["foo.com"])], "foo.com", False),
    ([with_tls(ingress("t", [rule("foo.com", ("/", "Prefix", "x"))]), ["foo.com"], secret=None)], "foo.com", False),
    ([ingress("plain", [rule("foo.com", ("/", "Prefix", "x"))]),
      with_tls(ingress("tls", [rule("foo.com", ("/a", "Prefix", "y"))]), ["foo.com"])], "foo.com", True),
])
def test_a_host_is_served_with_tls_when_an_ingress_with_its_rule_lists_it(ings, host, expected):
    assert tls_host(ings, host) is expected
