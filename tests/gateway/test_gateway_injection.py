"""The injection corpus over every HTTPRoute string that reaches nginx: paths, regexes, header and query names and
values, header modifier values, redirect and rewrite targets. Each either is refused by name (UnsupportedValue) or
reaches the data plane as inert data: the config keeps its shape, nginx accepts it, and real requests show the
string arrived literally (no nginx variable expansion, no new directive, no extra header line)."""
from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from gateway.conftest import condition, endpoint_slice, gateway, gateway_class, http_route, service
from ingresslab.gateway.render import render_gateway_conf
from ingresslab.gateway.translate import translate
from ingresslab.ingress.nginx import lua_available
from ingresslab.ingress.render import RenderPaths

CANARY_VALUES = ['x"; return 200 "pwned"; #', "x;}server{return 200 pwned;}", "$host ${remote_addr} $1",
                 "x' return 200 'pwned", "]] end os.exit(1) --[[", "\\\";return 200 pwned;#", "é ☕ ünïcode",
                 "}\"\\u000a{", "--]==]"]
CANARY_PATHS = ["/c';$host", "/c(*)+,=:@!", "/c&x=$1", "/c%22;return%20200"]
LISTENERS = [{"name": "http", "port": 80, "protocol": "HTTP"}]


def build(rules, *, address="127.0.0.1", port_map=None, backends=None):
    services, slices = [service("app")], endpoint_slice("app", backends or [("127.0.0.9", 8080)])
    return translate(gateway(LISTENERS), gateway_class=gateway_class(), routes=[http_route("r", rules)],
                     services=services, endpoint_slices=slices, listen_address=address,
                     port_map=port_map or (lambda p: p))


def corpus_rules():
    rules = []
    for v in CANARY_VALUES:
        rules.append({"matches": [{"path": {"type": "PathPrefix", "value": "/h"}, "headers": [{"name": "x-c", "value": v}],
                                   "queryParams": [{"name": "q'$|", "value": v}]}],
                      "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
                          "set": [{"name": "X-Echo", "value": v}]}},
                          {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                              "add": [{"name": "X-Back", "value": v}]}}],
                      "backendRefs": [{"name": "app", "port": 80}]})
    for p in CANARY_PATHS:
        rules.append({"matches": [{"path": {"type": "PathPrefix", "value": p}}],
                      "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {
                          "type": "ReplaceFullPath", "replaceFullPath": p + "/rewritten"}}}],
                      "backendRefs": [{"name": "app", "port": 80}]})
    rules.append({"matches": [{"path": {"type": "RegularExpression", "value": '/re/["{};#$]+'}}],
                  "backendRefs": [{"name": "app", "port": 80}]})
    rules.append({"matches": [{"path": {"type": "PathPrefix", "value": "/go"}}],
                  "filters": [{"type": "RequestRedirect", "requestRedirect": {
                      "path": {"type": "ReplaceFullPath", "replaceFullPath": "/c';$host"}}}]})
    return rules


def test_every_route_string_reaches_the_config_only_as_data():
    t = build(corpus_rules())
    assert condition(t.route_parents["default/r"][0]["conditions"], "Accepted")["status"] == "True"
    text = render_gateway_conf(t.config, paths=RenderPaths.under("/tmp/never-used"))
    lines = [x[len("# gateway-routes: "):] for x in text.splitlines() if x.startswith("# gateway-routes: ")]
    assert len(lines) > 1 and all(len(x) <= 1024 for x in lines)
    table = json.loads("".join(lines))
    strings = json.dumps(table, ensure_ascii=False)
    for v in CANARY_VALUES + [urllib.parse.unquote(p) for p in CANARY_PATHS]:   # paths as nginx's $uri has them
        assert json.dumps(v, ensure_ascii=False)[1:-1] in strings
    # The shape: the gateway's one server (any host) and the controller's, one `location /` each.
    assert text.count("server {") == 2 and text.count("location /") == 2
    # Outside comments, the file is the same as for one plain rule: no canary added or changed a directive.
    plain = render_gateway_conf(build([{"backendRefs": [{"name": "app", "port": 80}]}]).config,
                                paths=RenderPaths.under("/tmp/never-used"))
    directives = [re.sub(r"^\s*#.*$", "", x) for x in text.splitlines()]
    assert [x for x in directives if x] == [x for x in (re.sub(r"^\s*#.*$", "", y) for y in plain.splitlines()) if x]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "a\x7fb"])
def test_control_characters_are_refused_by_field(bad):
    for rule, where in (
            ({"matches": [{"headers": [{"name": "x", "value": bad}]}]}, "headers[0].value"),
            ({"matches": [{"queryParams": [{"name": "x", "value": bad}]}]}, "queryParams[0].value"),
            ({"filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                "set": [{"name": "x", "value": bad}]}}]}, "set[0].value"),
            ({"matches": [{"path": {"type": "RegularExpression", "value": "/" + bad}}]}, "path.value"),
            ({"matches": [{"path": {"type": "PathPrefix", "value": "/" + bad}}]}, "path.value"),
            ({"filters": [{"type": "RequestRedirect", "requestRedirect": {"hostname": bad}}]}, "hostname")):
        t = build([rule])
        accepted = condition(t.route_parents["default/r"][0]["conditions"], "Accepted")
        assert (accepted["status"], accepted["reason"]) == ("False", "UnsupportedValue"), rule
        assert where in accepted["message"]


@pytest.mark.skipif(not lua_available(), reason="needs nginx's Lua module")
def test_canaries_stay_inert_on_the_real_nginx(gateway_nginx, listen, backends, http):
    app = backends("app")
    address, http_port, _ = listen
    t = build(corpus_rules(), address=address, port_map=lambda p: http_port, backends=[(app.ip, app.port)])
    outcome = gateway_nginx.apply(t.config)
    assert outcome.ok, outcome.error
    for v in CANARY_VALUES:
        query = urllib.parse.urlencode({"q'$|": v})
        reply = http(address, http_port, "/h?" + query, host="x.test", headers={"X-C": v.encode("utf-8").decode("latin-1")})
        assert reply.status == 200, v
        assert reply.json["headers"]["x-echo"].encode("latin-1").decode("utf-8") == v
        assert reply.headers["x-back"].encode("latin-1").decode("utf-8") == v
    for p in CANARY_PATHS:
        reply = http(address, http_port, urllib.parse.quote(p, safe="/';$(*)+,=:@!&%") + "/deeper", host="x.test")
        assert reply.status == 200, p
        assert urllib.parse.unquote(reply.json["path"]) == urllib.parse.unquote(p) + "/rewritten"
    assert http(address, http_port, "/re/%22%7B%7D;%23$", host="x.test").status == 200
    redirect = http(address, http_port, "/go", host="x.test")
    assert redirect.status == 302 and redirect.headers["location"] == f"http://x.test:{80}/c';$host".replace(":80", "")
    for probe in ("/", "/pwned", "/h"):
        assert http(address, http_port, probe, host="x.test").body != b"pwned"
