"""render.py: the model → nginx.conf text, checked against golden files, against `nginx -t`, and for safety.

Golden files live in tests/ingress/golden/; after an intended change, regenerate them with
`INGRESSLAB_UPDATE_GOLDEN=1 .venv/bin/pytest tests/ingress/test_render.py` and read the diff.
"""
from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path

import pytest

from ingresslab.cluster.node.network import bind_port

from ingresslab.ingress.model import (DEFAULT_BACKEND_NAME, Backend, Certificate, Configuration, Endpoint,
                                      Location, Server, Settings, TCPService, upstream_name)
from ingresslab.ingress.render import LOG_FORMAT, RenderPaths, render_nginx_conf
from ingresslab.ingress.render_locations import plan_locations
from ingresslab.ingress.syntax import UnsafeValue, quote, token

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_PATHS = dataclasses.replace(RenderPaths.under(Path("/lab/nginx")), lua_dir="/lab/lua")
FAKE_PEM = "-----BEGIN CERTIFICATE-----\nnot a real certificate (golden files only)\n-----END CERTIFICATE-----\n"


def backend(ns: str, svc: str, port, *ips: str, **kw) -> Backend:
    return Backend(upstream_name(ns, svc, port), ns, svc, port,
                   tuple(Endpoint(ip, 8080) for ip in ips), **kw)


def rule(path: str, path_type: str, b: Backend, ingress: str = "default/cafe-ingress", **kw) -> Location:
    return Location(path, path_type, b.name, ingress, f"{b.namespace}/{b.service}:{b.port}", **kw)


def cafe(*, lua: bool = True, pem: str = FAKE_PEM) -> Configuration:
    tea = backend("default", "tea-svc", 80, "127.244.0.11", "127.244.0.12", "127.244.0.13")
    coffee = backend("default", "coffee-svc", 80, "127.244.0.21", "127.244.0.22")
    default = Backend(DEFAULT_BACKEND_NAME, "ingress-nginx", "default-http-backend", 80,
                      (Endpoint("127.244.0.2", 8080),))
    server = Server("cafe.example.com", (rule("/tea", "Prefix", tea), rule("/coffee", "Prefix", coffee)),
                    tls_secret="default/cafe-secret")
    return Configuration(servers=(server,), backends=(coffee, default, tea), default_backend=DEFAULT_BACKEND_NAME,
                         certificates=(Certificate("default/cafe-secret", pem),), http_port=8080, https_port=8443,
                         lua=lua)


def paths_model() -> Configuration:
    a, b, c = (backend("demo", name, 80, f"127.244.1.{i}") for i, name in enumerate(("a", "b", "c"), 1))
    empty = backend("demo", "empty", "http")
    host = Server("paths.example.com", (
        rule("/", "Prefix", a, "demo/root"), rule("/aaa", "Prefix", b, "demo/aaa"),
        rule("/aaa", "Exact", c, "demo/aaa-exact"), rule("/foo/", "Exact", c, "demo/foo"),
        rule("/aaa/bbb/", "ImplementationSpecific", c, "demo/bbb"), rule("/none", "Prefix", empty, "demo/none")))
    wildcard = Server("*.foo.com", (rule("/", "Prefix", b, "demo/wild"),))
    catch_all = Server("_", (rule("/any", "Prefix", a, "demo/nohost"),))
    return Configuration(servers=(wildcard, host, catch_all), backends=(a, b, c, empty), default_backend=None,
                         lua=False, http_port=80, https_port=443)


def annotations_model() -> Configuration:
    api = backend("shop", "api", 443, "127.244.2.1", protocol="HTTPS")
    web = backend("shop", "web", 80, "127.244.2.2")
    grpc = backend("shop", "grpc", 50051, "127.244.2.3", protocol="GRPC")
    redis = backend("shop", "redis", 6379, "127.244.2.4")
    host = Server("shop.example.com", (
        rule("/api(/|$)(.*)", "ImplementationSpecific", api, "shop/api", rewrite_target="/$2",
             backend_protocol="HTTPS", proxy_body_size="8m"),
        rule("/web", "Prefix", web, "shop/web", force_ssl_redirect=True),
        rule("/exact", "Exact", web, "shop/web"),
        rule("/grpc", "Prefix", grpc, "shop/grpc", backend_protocol="GRPC")))
    settings = Settings(server_tokens=True, proxy_read_timeout=120, proxy_body_size="2m",
                        upstream_keepalive_connections=0,
                        log_format_upstream='$remote_addr "$request" $status $req_id')
    return Configuration(servers=(host,), backends=(api, web, grpc, redis),
                         tcp_services=(TCPService(9000, redis.name, "shop/redis:6379"),), settings=settings,
                         default_backend=None, listen_address="127.0.0.1", http_port=8080, https_port=8443)


MODELS = {"cafe": cafe, "cafe-static": lambda: cafe(lua=False), "paths": paths_model,
          "annotations": annotations_model}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_render_matches_the_golden_file(name):
    text = render_nginx_conf(MODELS[name](), paths=GOLDEN_PATHS)
    golden = GOLDEN / f"{name}.conf"
    if os.environ.get("INGRESSLAB_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_rendered_model_passes_nginx_t(name, nginx, certificate):
    config = MODELS[name]()
    config = dataclasses.replace(config, certificates=tuple(
        Certificate(c.secret, certificate("cafe.example.com")) for c in config.certificates))
    # nginx -t binds the listen sockets: without root, the ports below 1024 go to the lab's offset.
    config = dataclasses.replace(config, http_port=bind_port(config.http_port), https_port=bind_port(config.https_port))
    ok, stderr = nginx.check(config)
    assert ok, stderr


def test_a_buffered_access_log_and_upstream_keepalive_settings_render_as_ingress_nginx_writes_them(nginx,
                                                                                                    certificate):
    settings = Settings(access_log_params="buffer=16k flush=1s", upstream_keepalive_requests=100,
                        upstream_keepalive_time="30s", upstream_keepalive_timeout=5)
    config = cafe(pem=certificate("cafe.example.com"))
    config = dataclasses.replace(config, settings=settings, http_port=bind_port(80), https_port=bind_port(443))
    text = render_nginx_conf(config, paths=GOLDEN_PATHS)
    assert re.search(r'access_log "[^"]+" upstreaminfo buffer=16k flush=1s;', text)
    assert "keepalive 320;\n        keepalive_time 30s;\n        keepalive_timeout 5s;\n        keepalive_requests " \
           "100;" in text
    ok, stderr = nginx.check(config)
    assert ok, stderr


def test_render_is_deterministic_and_ignores_model_order():
    config = paths_model()
    shuffled = dataclasses.replace(config, servers=tuple(reversed(config.servers)),
                                   backends=tuple(reversed(config.backends)))
    assert render_nginx_conf(config, paths=GOLDEN_PATHS) == render_nginx_conf(shuffled, paths=GOLDEN_PATHS)


def locations(text: str, host: str) -> list[str]:
    block = text.split(f"server_name {host};", 1)[1].split("\n    }\n", 1)[0]
    return re.findall(r"^\s+location (.*) \{$", block, re.M)


def test_prefix_becomes_a_directory_location_plus_an_exact_copy():
    text = render_nginx_conf(cafe(), paths=GOLDEN_PATHS)
    assert locations(text, "cafe.example.com") == ['"/tea/"', '= "/tea"', '"/coffee/"', '= "/coffee"', '"/"']


def test_an_exact_rule_replaces_the_exact_copy_of_a_prefix():
    planned = plan_locations(paths_model().server("paths.example.com"), default_backend=None)
    exact = [p for p in planned if (p.modifier, p.path) == ("=", "/aaa")]
    assert len(exact) == 1 and exact[0].rule.ingress == "demo/aaa-exact"


def test_an_exact_path_with_a_slash_is_a_regex_so_nginx_does_not_redirect():
    text = render_nginx_conf(paths_model(), paths=GOLDEN_PATHS)
    assert '~ "^/foo/$"' in locations(text, "paths.example.com")
    assert '"/foo/"' not in locations(text, "paths.example.com")


def test_a_wildcard_host_is_an_anchored_one_label_regex():
    text = render_nginx_conf(paths_model(), paths=GOLDEN_PATHS)
    assert "server_name ~^[^.]+\\.foo\\.com$;" in text


def test_every_host_gets_a_root_location_and_only_the_catch_all_is_default_server():
    text = render_nginx_conf(paths_model(), paths=GOLDEN_PATHS)
    assert text.count("default_server;") == 2  # the http and https listen of the catch-all
    names = re.findall(r"server_name (\S+);", text)
    assert names == ["_", "~^[^.]+\\.foo\\.com$", "paths.example.com"]
    assert '"/"' in locations(text, "~^[^.]+\\.foo\\.com$")


def test_unmatched_requests_get_404_without_default_backend_and_proxy_with_one():
    assert "return 404;" in render_nginx_conf(paths_model(), paths=GOLDEN_PATHS)
    text = render_nginx_conf(cafe(), paths=GOLDEN_PATHS)
    root = text.split("# No rule matches: default backend", 1)[1].split("}", 1)[0]
    assert 'set $proxy_upstream_name "upstream-default-backend";' in root


def test_lua_mode_keeps_endpoints_out_of_the_file_and_the_checksum():
    config = cafe()
    text = render_nginx_conf(config, paths=GOLDEN_PATHS)
    assert "127.244.0.11" not in text and "balancer_by_lua_block" in text
    moved = dataclasses.replace(config, backends=tuple(dataclasses.replace(b, endpoints=(Endpoint("10.9.9.9", 1),))
                                                       for b in config.backends))
    assert render_nginx_conf(moved, paths=GOLDEN_PATHS) == text


def test_static_mode_writes_upstreams_and_endpoints_change_the_checksum():
    config = cafe(lua=False)
    text = render_nginx_conf(config, paths=GOLDEN_PATHS)
    assert "server 127.244.0.11:8080 max_fails=0;" in text and "balancer_by_lua" not in text
    fewer = dataclasses.replace(config, backends=config.backends[1:])
    assert fewer.checksum() != config.checksum()
    assert f"# Configuration checksum: {config.checksum()}" in text


def test_a_service_without_endpoints_answers_503_in_static_mode():
    text = render_nginx_conf(paths_model(), paths=GOLDEN_PATHS)
    assert 'set $proxy_upstream_name "demo-empty-http";\n            return 503;' in text


def test_the_log_format_carries_what_trace_joins_on():
    for field in ("$remote_addr:$remote_port", "$req_id", "$host", "$uri", "$status", "$proxy_upstream_name",
                  "$upstream_addr"):
        assert field in LOG_FORMAT
    assert "log_format upstreaminfo" in render_nginx_conf(cafe(), paths=GOLDEN_PATHS)


def test_tls_hosts_redirect_with_308_and_force_ssl_redirect_works_without_a_certificate():
    text = render_nginx_conf(cafe(), paths=GOLDEN_PATHS)
    assert text.count('return 308 "https://$host$request_uri";') == 5  # every cafe location, incl. /; to the standard port, as ingress-nginx
    annotated = render_nginx_conf(annotations_model(), paths=GOLDEN_PATHS)
    assert annotated.count("return 308") == 1  # only /web (a regex location: the host uses rewrite-target)


def test_checksum_changes_with_the_certificate_content():
    assert cafe(pem="A").checksum() != cafe(pem="B").checksum()


# ---- injection: every string is a checked token or a quoted string --------------------------------------------

NASTY = ["\n", ";", "{", "}", '"', "\\", "$", "#", "'", " "]


def test_quote_escapes_backslash_and_quote_and_refuses_control_characters():
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("; return 200 x; # {}") == '"; return 200 x; # {}"'
    for bad in ("a\nb", "a\rb", "a\0b", "a\x7fb", "a\tb"):
        with pytest.raises(UnsafeValue):
            quote(bad)


@pytest.mark.parametrize("char", NASTY)
def test_hosts_upstream_names_and_references_refuse_every_syntax_character(char):
    for kind, value in (("host", f"a{char}b.com"), ("upstream", f"ns-svc{char}-80"), ("object", f"ns/n{char}"),
                        ("service", f"ns/svc:{char}80"), ("size", f"1{char}m"), ("rewrite_target", f"/x{char}")):
        if kind == "rewrite_target" and char == "$":
            continue  # "$" followed by a digit is a capture; "$x" is refused below
        with pytest.raises(UnsafeValue):
            token(value, kind)
    with pytest.raises(UnsafeValue):
        token("/$host", "rewrite_target")


@pytest.mark.parametrize("field", ["hostname", "backend", "ingress", "service", "tls_secret", "rewrite_target",
                                   "proxy_body_size"])
def test_a_nasty_model_string_is_refused_not_rendered(field):
    canary = 'x";\n return 200 "pwned"; #{'
    config = cafe()
    server = config.servers[0]
    if field in ("hostname", "tls_secret"):
        server = dataclasses.replace(server, **{field: canary})
    else:
        server = dataclasses.replace(server, locations=(dataclasses.replace(server.locations[0], **{field: canary}),))
    with pytest.raises(UnsafeValue):
        render_nginx_conf(dataclasses.replace(config, servers=(server,)), paths=GOLDEN_PATHS)


def test_a_nasty_path_is_quoted_into_one_inert_location():
    canary = '/x" { return 200 "pwned"; } location "/y;#$host\\'
    config = cafe()
    server = config.servers[0]
    server = dataclasses.replace(server, locations=(dataclasses.replace(server.locations[0], path=canary),))
    text = render_nginx_conf(dataclasses.replace(config, servers=(server,)), paths=GOLDEN_PATHS)
    assert 'location "/x\\" { return 200 \\"pwned\\"; } location \\"/y;#$host\\\\/" {' in text
    assert "\nreturn 200" not in text.replace(" ", "")
    with pytest.raises(UnsafeValue):
        bad = dataclasses.replace(server, locations=(dataclasses.replace(server.locations[0], path="/a\nb"),))
        render_nginx_conf(dataclasses.replace(config, servers=(bad,)), paths=GOLDEN_PATHS)


def test_rendering_a_thousand_servers_is_fast_enough_for_every_change():
    b = backend("default", "svc", 80, "127.244.0.9")
    servers = tuple(Server(f"host{i:04d}.example.com", (rule("/a", "Prefix", b), rule("/b", "Exact", b)))
                    for i in range(1000))
    config = Configuration(servers=servers, backends=(b,))
    started = time.perf_counter()
    text = render_nginx_conf(config, paths=GOLDEN_PATHS)
    elapsed = time.perf_counter() - started
    print(f"\nrendered 1000 servers ({len(text) // 1024} KiB) in {elapsed * 1000:.0f} ms")
    assert text.count("server_name host") == 1000
