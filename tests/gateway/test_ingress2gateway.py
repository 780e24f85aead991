"""`convert` and `ingresslab ingress2gateway`: the course's Ingresses become Gateway API objects that route the same
requests to the same backends — checked by serving the converted objects on the real nginx — and every
annotation without an equivalent is named in the notes, as the upstream migration tool does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.conftest import endpoint_slice, gateway_class, make_certificate, service, tls_secret
from ingresslab.gateway.ingress2gateway import convert, name_from_host
from ingresslab.gateway.translate import translate
from ingresslab.ingress.nginx import lua_available

MANIFESTS = Path(__file__).resolve().parents[2] / "ingresslab" / "manifests"


def ingress(name, rules, *, annotations=None, tls=None, default_backend=None, cls="nginx", namespace="default"):
    spec = {"ingressClassName": cls, "rules": rules}
    if tls:
        spec["tls"] = tls
    if default_backend:
        spec["defaultBackend"] = {"service": {"name": default_backend, "port": {"number": 80}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}}, "spec": spec}


def rule(host, *paths):
    return {**({"host": host} if host else {}), "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}} for p, t, s in paths]}}


def docs(text):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text)}


def test_the_articles_cafe_ingress_becomes_a_gateway_and_routes():
    text, notes = convert(yaml.safe_load_all((MANIFESTS / "cafe-ingress.yaml").read_text()))
    out = docs(text)
    gw = out[("Gateway", "nginx")]
    assert gw["spec"]["gatewayClassName"] == "nginx"
    assert [(ls["name"], ls["port"], ls["protocol"], ls.get("hostname")) for ls in gw["spec"]["listeners"]] == [
        ("cafe-example-com-http", 80, "HTTP", "cafe.example.com"),
        ("cafe-example-com-https", 443, "HTTPS", "cafe.example.com")]
    assert gw["spec"]["listeners"][1]["tls"] == {"mode": "Terminate",
                                                 "certificateRefs": [{"kind": "Secret", "name": "cafe-secret"}]}
    main = out[("HTTPRoute", "cafe-ingress-cafe-example-com")]["spec"]
    assert main["parentRefs"] == [{"name": "nginx", "sectionName": "cafe-example-com-https"}]
    assert [(r["matches"][0]["path"]["value"], r["backendRefs"][0]["name"]) for r in main["rules"]] == [
        ("/tea", "tea-svc"), ("/coffee", "coffee-svc")]
    redirect = out[("HTTPRoute", "cafe-ingress-cafe-example-com-http")]["spec"]
    assert redirect["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 308}
    # The article's Ingress has no pathType (extensions/v1beta1): said plainly.
    assert any("ImplementationSpecific" in n and "'/tea'" in n for n in notes)
    v1_text, v1_notes = convert(yaml.safe_load_all((MANIFESTS / "cafe-ingress-v1.yaml").read_text()))
    assert docs(v1_text) == out and v1_notes == []


@pytest.mark.skipif(not lua_available(), reason="needs nginx's Lua module")
def test_the_converted_cafe_serves_the_same_requests_on_the_real_nginx(gateway_nginx, listen, backends, http):
    tea, coffee = backends("tea"), backends("coffee")
    text, _ = convert(yaml.safe_load_all((MANIFESTS / "cafe-ingress-v1.yaml").read_text()))
    out = list(yaml.safe_load_all(text))
    gw = next(d for d in out if d["kind"] == "Gateway")
    routes = [dict(d, metadata={**d["metadata"], "creationTimestamp": "2026-01-01T00:00:00Z"})
              for d in out if d["kind"] == "HTTPRoute"]
    address, http_port, https_port = listen
    t = translate(gw, gateway_class=gateway_class("nginx"), routes=routes,
                  services=[service("tea-svc"), service("coffee-svc")],
                  endpoint_slices=endpoint_slice("tea-svc", [(tea.ip, tea.port)])
                  + endpoint_slice("coffee-svc", [(coffee.ip, coffee.port)]),
                  secrets=[tls_secret("cafe-secret", make_certificate("cafe.example.com"))],
                  listen_address=address, port_map={80: http_port, 443: https_port}.get)
    assert all(c["status"] == "True" for ls in t.gateway_status["listeners"] for c in ls["conditions"]
               if c["type"] != "Conflicted")
    assert gateway_nginx.apply(t.config).ok
    assert http(address, https_port, "/tea", host="cafe.example.com", https=True).name == "tea"
    assert http(address, https_port, "/coffee/latte", host="cafe.example.com", https=True).name == "coffee"
    assert http(address, https_port, "/teapot", host="cafe.example.com", https=True).status == 404
    plain = http(address, http_port, "/tea?x=1", host="cafe.example.com")
    assert plain.status == 308 and plain.headers["location"] == "https://cafe.example.com/tea?x=1"


def test_multi_host_ingress_gets_a_listener_and_route_per_host():
    """The course's mysite exercise: www and forums on one Ingress."""
    ing = ingress("mysite", [rule("www.mysite.com", ("/", "Prefix", "site-svc")),
                             rule("forums.mysite.com", ("/", "Prefix", "forums-svc"))])
    out = docs(convert([ing])[0])
    assert [ls["name"] for ls in out[("Gateway", "nginx")]["spec"]["listeners"]] == [
        "www-mysite-com-http", "forums-mysite-com-http"]
    forums = out[("HTTPRoute", "mysite-forums-mysite-com")]["spec"]
    assert forums["hostnames"] == ["forums.mysite.com"]
    assert forums["rules"][0]["backendRefs"] == [{"name": "forums-svc", "port": 80}]
    assert forums["parentRefs"] == [{"name": "nginx", "sectionName": "forums-mysite-com-http"}]


def test_path_types_map_to_gateway_match_types():
    ing = ingress("p", [rule("a.test", ("/exact", "Exact", "s"), ("/pre", "Prefix", "s"),
                             ("/impl", "ImplementationSpecific", "s"))])
    text, notes = convert([ing])
    matches = [r["matches"][0]["path"] for r in docs(text)[("HTTPRoute", "p-a-test")]["spec"]["rules"]]
    assert matches == [{"type": "Exact", "value": "/exact"}, {"type": "PathPrefix", "value": "/pre"},
                       {"type": "PathPrefix", "value": "/impl"}]
    assert notes == ["Ingress default/p: path '/impl' is ImplementationSpecific (or has no pathType): converted to "
                     "PathPrefix, as ingress-nginx treats it"]


def test_tls_host_without_ssl_redirect_is_served_on_both_listeners():
    ing = ingress("t", [rule("a.test", ("/", "Prefix", "app"))], tls=[{"hosts": ["a.test"], "secretName": "s"}],
                  annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"})
    out = docs(convert([ing])[0])
    assert out[("HTTPRoute", "t-a-test")]["spec"]["parentRefs"] == [
        {"name": "nginx", "sectionName": "a-test-http"}, {"name": "nginx", "sectionName": "a-test-https"}]
    assert ("HTTPRoute", "t-a-test-http") not in out


def test_wildcard_hosts_are_converted_with_a_note_on_their_wider_meaning():
    text, notes = convert([ingress("w", [rule("*.a.test", ("/", "Prefix", "app"))])])
    assert docs(text)[("HTTPRoute", "w-a-test")]["spec"]["hostnames"] == ["*.a.test"]
    assert any("exactly one label" in n and "a.b.a.test" in n for n in notes)


def test_default_backend_becomes_a_catch_all_route():
    out = docs(convert([ingress("site", [rule("a.test", ("/", "Prefix", "app"))], default_backend="fallback")])[0])
    route = out[("HTTPRoute", "site-default-backend")]["spec"]
    assert route == {"parentRefs": [{"name": "nginx"}], "rules": [{"backendRefs": [{"name": "fallback", "port": 80}]}]}


def test_rewrite_target_simple_and_the_capture_idiom():
    simple = ingress("s", [rule("a.test", ("/old", "Prefix", "app"))],
                     annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/new"})
    idiom = ingress("i", [rule("b.test", ("/something(/|$)(.*)", "ImplementationSpecific", "app"))],
                    annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                                 "nginx.ingress.kubernetes.io/use-regex": "true"})
    hard = ingress("h", [rule("c.test", ("/x/(.+)/y", "ImplementationSpecific", "app"))],
                   annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/$1"})
    text, notes = convert([simple, idiom, hard])
    out = docs(text)
    s_rule = out[("HTTPRoute", "s-a-test")]["spec"]["rules"][0]
    assert s_rule["filters"] == [{"type": "URLRewrite", "urlRewrite": {"path": {
        "type": "ReplaceFullPath", "replaceFullPath": "/new"}}}]
    i_rule = out[("HTTPRoute", "i-b-test")]["spec"]["rules"][0]
    assert i_rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/something"}}]
    assert i_rule["filters"][0]["urlRewrite"]["path"] == {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
    assert "filters" not in out[("HTTPRoute", "h-c-test")]["spec"]["rules"][0]
    assert any("default/h" in n and "regex captures" in n for n in notes)


def test_use_regex_becomes_regular_expression():
    ing = ingress("r", [rule("a.test", ("/api/v[0-9]+", "ImplementationSpecific", "app"))],
                  annotations={"nginx.ingress.kubernetes.io/use-regex": "true"})
    text, notes = convert([ing])
    path = docs(text)[("HTTPRoute", "r-a-test")]["spec"]["rules"][0]["matches"][0]["path"]
    assert path == {"type": "RegularExpression", "value": "/api/v[0-9]+.*"}
    assert any("case-insensitively" in n for n in notes)


def test_canary_weight_and_header_join_the_primary_rule():
    primary = ingress("web", [rule("a.test", ("/", "Prefix", "stable"))])
    canary = ingress("web-canary", [rule("a.test", ("/", "Prefix", "canary"))], annotations={
        "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "25",
        "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"})
    text, notes = convert([canary, primary])
    out = docs(text)
    assert ("HTTPRoute", "web-canary-a-test") not in out
    rules = out[("HTTPRoute", "web-a-test")]["spec"]["rules"]
    assert rules[0]["backendRefs"] == [{"name": "stable", "port": 80, "weight": 75},
                                       {"name": "canary", "port": 80, "weight": 25}]
    assert rules[1]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"},
                                    "headers": [{"name": "X-Canary", "value": "always"}]}]
    assert rules[1]["backendRefs"] == [{"name": "canary", "port": 80}]
    assert notes == []


def test_annotations_without_equivalent_are_listed_plainly():
    ing = ingress("c", [rule("a.test", ("/", "Prefix", "app"))], annotations={
        "nginx.ingress.kubernetes.io/enable-cors": "true",
        "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers x;",
        "nginx.ingress.kubernetes.io/backend-protocol": "GRPC",
        "nginx.ingress.kubernetes.io/ssl-redirect": "false",
        "kubernetes.io/ingress.class": "ignored-because-the-spec-names-one"})
    _, notes = convert([ing])
    assert "Ingress default/c: annotation nginx.ingress.kubernetes.io/enable-cors has no Gateway API equivalent: " \
           "not converted" in notes
    assert any("configuration-snippet" in n for n in notes)
    assert any("backend-protocol GRPC" in n and "GRPCRoute" in n for n in notes)
    assert not any("ssl-redirect" in n for n in notes)


def test_redirect_annotations_and_named_ports():
    ing = ingress("r", [{"host": "a.test", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "app", "port": {"name": "web"}}}}]}}], annotations={
        "nginx.ingress.kubernetes.io/permanent-redirect": "https://example.org/moved",
        "nginx.ingress.kubernetes.io/permanent-redirect-code": "308"})
    app = {"metadata": {"name": "app", "namespace": "default"}, "spec": {"ports": [{"name": "web", "port": 8081}]}}
    text, notes = convert([ing], services=[app])
    rule_ = docs(text)[("HTTPRoute", "r-a-test")]["spec"]["rules"][0]
    assert rule_["filters"][0]["requestRedirect"] == {"statusCode": 308, "scheme": "https", "hostname": "example.org",
                                                      "path": {"type": "ReplaceFullPath", "replaceFullPath": "/moved"}}
    named = ingress("n", [{"host": "b.test", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "app", "port": {"name": "web"}}}}]}}])
    assert docs(convert([named], services=[app])[0])[("HTTPRoute", "n-b-test")]["spec"]["rules"][0][
        "backendRefs"] == [{"name": "app", "port": 8081}]
    assert any("port 'web' is named" in n for n in convert([named])[1])


def test_one_gateway_per_ingress_class_and_namespace():
    a = ingress("a", [rule("a.test", ("/", "Prefix", "s"))], cls="nginx")
    b = ingress("b", [rule("b.test", ("/", "Prefix", "s"))], cls="internal")
    c = ingress("c", [rule("c.test", ("/", "Prefix", "s"))], namespace="team")
    out = yaml.safe_load_all(convert([a, b, c], gateway_class="lab")[0])
    gateways = sorted((d["metadata"]["namespace"], d["metadata"]["name"], d["spec"]["gatewayClassName"])
                      for d in out if d["kind"] == "Gateway")
    assert gateways == [("default", "internal", "lab"), ("default", "nginx", "lab"), ("team", "nginx", "lab")]


def test_names_follow_the_upstream_tool():
    assert name_from_host("cafe.example.com") == "cafe-example-com"
    assert name_from_host("*.example.com") == "example-com"
    assert name_from_host("") == "all-hosts"


def test_cli_converts_a_file_and_prints_notes_to_stderr(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ingresslab.cli", "ingress2gateway", "-f",
                           str(MANIFESTS / "cafe-ingress.yaml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert docs(proc.stdout)[("Gateway", "nginx")]["spec"]["listeners"][0]["name"] == "cafe-example-com-http"
    assert "ImplementationSpecific" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed")
    proc = subprocess.run([sys.executable, "-m", "ingresslab.cli", "ingress2gateway", "-f", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "bad.yaml" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_reads_the_ingresses_of_a_live_cluster_through_its_kubeconfig(lab, kubectl):
    """The lab as "any cluster": real kubectl creates the Ingress, the CLI reads it with the official client."""
    namespace = "i2g-cli"
    kubectl("create", "namespace", namespace)
    try:
        kubectl("apply", "-n", namespace, "-f", str(MANIFESTS / "cafe-ingress-v1.yaml"))
        proc = subprocess.run([sys.executable, "-m", "ingresslab.cli", "ingress2gateway", "--kubeconfig",
                               str(lab.kubeconfig_path), "-n", namespace], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        out = docs(proc.stdout)
        assert out[("Gateway", "nginx")]["metadata"]["namespace"] == namespace
        assert [r["backendRefs"][0]["name"] for r in
                out[("HTTPRoute", "cafe-ingress-cafe-example-com")]["spec"]["rules"]] == ["tea-svc", "coffee-svc"]
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
