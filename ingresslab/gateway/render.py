"""GatewayConfiguration → nginx.conf text, through the Ingress renderer's safe pipeline.

The `http` settings, the controller's unix-socket server (checksum, Lua feed) and the file header are the Ingress
renderer's own (`ingresslab.ingress.render`), so both controllers' files read alike and share their safety:
every string reaches the file as a checked token (`syntax.token`: hostnames, upstream names, object names) or
quoted (`syntax.quote`), never raw. What differs:

  * one `server` per (port, hostname) of `layout.py`, with the listener's certificate on HTTPS ports; `_` is the
    port's `default_server`; wildcards are nginx's own `*.example.com`, which like the spec's match one or more
    labels;
  * every server has a single `location /` whose rewrite phase runs `lua/gateway.lua`: the matches (path,
    method, headers, query params — in the spec's precedence order), the filters and the weighted group are
    data, not nginx directives. That data is the route table: one JSON line `# gateway-routes: {...}` near the
    top of the file, JSON-escaped (printable ASCII only, so no user string can end the comment or start a
    directive), read by gateway.lua when nginx loads the file. Above each server a comment lists its matches in
    order, each user string quoted, so a learner reads the precedence;
  * a RequestMirror gets nginx's `mirror` subrequest to an internal location.

Endpoints and weights are not in the file: `GatewayConfiguration.balancer_feed()` goes to the Lua balancer.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..ingress.render import BALANCER, SHARED_DICT, RenderPaths, _config_server, _http_settings, _Writer
from ..ingress.syntax import UnsafeValue, integer, ip_address, port, quote, token
from .model import GatewayConfiguration, Match, Port, VirtualServer

LUA_DIR = str(Path(__file__).parent / "lua")
MIRROR_PATH = "/.ingresslab-gateway-mirror"
TABLE_LINE = 1024


def server_id(p: Port, index: int) -> str:
    return f"p{p.port}s{index}"


def route_table(config: GatewayConfiguration) -> str:
    """The JSON line gateway.lua reads: server id → its spec port and ordered matches with their actions."""
    servers = {}
    for p in config.ports:
        for i, server in enumerate(p.servers):
            servers[server_id(p, i)] = {"port": p.spec_port, "matches": [_match(m) for m in server.matches]}
    text = json.dumps({"servers": servers}, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in text):   # cannot happen with ensure_ascii; checked anyway
        raise UnsafeValue("route table", text[:40], "must be printable ASCII")
    return text


def _match(m: Match) -> dict:
    a = m.action
    data = {"path_type": m.path_type, "path": m.path, "method": m.method,
            "headers": [asdict(h) for h in m.headers], "query": [asdict(q) for q in m.query],
            "action": {"route": a.route, "rule": a.rule, "group": a.group, "prefix": a.prefix,
                       "mirror": a.mirrors[0] if a.mirrors else None,
                       "request_headers": _changes(a.request_headers), "response_headers": _changes(a.response_headers),
                       "redirect": None, "rewrite": None}}
    if a.redirect:
        r = a.redirect
        data["action"]["redirect"] = {"scheme": r.scheme, "hostname": r.hostname, "port": r.port,
                                      "status_code": r.status_code, "path": asdict(r.path) if r.path else None}
    if a.rewrite:
        data["action"]["rewrite"] = {"hostname": a.rewrite.hostname,
                                     "path": asdict(a.rewrite.path) if a.rewrite.path else None}
    # JSON null would become cjson.null (truthy) in Lua: leave unset keys out instead.
    data["action"] = {k: v for k, v in data["action"].items() if v is not None}
    for key in ("redirect", "rewrite"):
        if key in data["action"]:
            data["action"][key] = {k: v for k, v in data["action"][key].items() if v is not None}
    return {k: v for k, v in data.items() if v is not None}


def _changes(changes) -> dict | None:
    if changes is None:
        return None
    return {"set": [list(p) for p in changes.set], "add": [list(p) for p in changes.add],
            "remove": list(changes.remove)}


def render_gateway_conf(config: GatewayConfiguration, *, paths: RenderPaths) -> str:
    """The complete nginx.conf for one Gateway. Raises `syntax.UnsafeValue` on an unsafe string."""
    if not config.lua:
        raise UnsafeValue("lua", False, "the Gateway data plane needs nginx's Lua module (matching and weights)")
    s = config.settings
    w = _Writer()
    w("# nginx.conf written by ingresslab for Gateway "
      f"{token(config.gateway, 'object', field='gateway')} (ingresslab/gateway/render.py). Do not edit.")
    w(f"# Configuration checksum: {token(config.checksum(), 'sha256')}")
    w("# Endpoints and backend weights: not in this file; the Lua balancer gets them from the controller.")
    w("# Route table, read by gateway.lua when nginx loads this file (JSON; the comments below say it in words):")
    table = route_table(config)
    # nginx reads at most 4 KiB per token, a comment included: the table is cut into lines gateway.lua rejoins.
    for start in range(0, len(table), TABLE_LINE):
        w("# gateway-routes: " + table[start:start + TABLE_LINE])
    w()
    for module in ("ndk_http_module.so", "ngx_http_lua_module.so"):
        w(f"load_module {quote(str(Path(paths.modules_dir) / module), field='modules_dir')};")
    if paths.user:
        group = f" {token(paths.group, 'user', field='group')}" if paths.group else ""
        w(f"user {token(paths.user, 'user')}{group};")
    w(f"pid {quote(paths.pid)};")
    w(f"worker_processes {integer(s.worker_processes, field='settings.worker_processes', low=1, high=64)};")
    w("pcre_jit on;")
    w(f"error_log {quote(paths.error_log)} notice;")
    w()
    with w.block("events"):
        w(f"worker_connections {integer(s.worker_connections, field='settings.worker_connections', low=16)};")
    w()
    with w.block("http"):
        _http_settings(w, config, paths)
        w()
        w(f"lua_package_path {quote(str(Path(paths.lua_dir) / '?.lua') + ';' + str(Path(LUA_DIR) / '?.lua') + ';;')};")
        w(f"lua_shared_dict {SHARED_DICT} 16m;")
        with w.block("init_by_lua_block"):
            w('require("configuration")')
            w('require("balancer")')
            w('require("gateway")')
        w()
        w("# One upstream for every backend: balancer.lua picks the group member (by weight), then the endpoint.")
        with w.block(f"upstream {BALANCER}"):
            w("server 0.0.0.1; # placeholder, never used")
            with w.block("balancer_by_lua_block"):
                w('require("balancer").balance()')
            keepalive = integer(s.upstream_keepalive_connections, field="settings.upstream_keepalive_connections")
            if keepalive != "0":
                w(f"keepalive {keepalive};")
        for p in config.ports:
            for i, server in enumerate(p.servers):
                _server(w, config, paths, p, i, server)
        _config_server(w, config, paths)
    return "\n".join(w.lines) + "\n"


def _describe(m: Match) -> str:
    parts = [f"{m.path_type} {quote(m.path, field='path')}"]
    if m.method:
        parts.append(f"method {token(m.method, 'user', field='method')}")
    for h in m.headers:
        parts.append(f"header {quote(h.name, field='header')} {'~' if h.type != 'Exact' else '='} "
                     f"{quote(h.value, field='header value')}")
    for q in m.query:
        parts.append(f"query {quote(q.name, field='query')} {'~' if q.type != 'Exact' else '='} "
                     f"{quote(q.value, field='query value')}")
    a = m.action
    if a.redirect:
        to = f"redirect {integer(a.redirect.status_code, field='statusCode', low=300, high=399)}"
    elif a.group:
        to = f"group {token(a.group, 'upstream', field='group')}"
    else:
        to = "500"
    return f"{' '.join(parts)} -> {to} (HTTPRoute {token(a.route, 'object', field='route')} " \
           f"rule {integer(a.rule, field='rule')})"


def _server(w: _Writer, config: GatewayConfiguration, paths: RenderPaths, p: Port, index: int,
            server: VirtualServer) -> None:
    host = token(server.hostname, "host", field="hostname")
    address = ip_address(config.listen_address, field="listen_address")
    w()
    owner = f"listener {quote(server.listener, field='listener')}" if server.listener else "no listener"
    w(f"# {p.protocol} port {integer(p.spec_port, field='port')} (bound {port(p.port)}), host "
      f"{host if not server.is_catch_all else '(any)'}: {owner}; first match wins:")
    for n, m in enumerate(server.matches, 1):
        w(f"#   {n}. {_describe(m)}")
    if not server.matches:
        w("#   (no match: 404)")
    with w.block("server"):
        w(f"server_name {host};")
        flag = " default_server" if server.is_catch_all else ""
        if p.protocol == "HTTPS":
            w(f"listen {address}:{port(p.port)} ssl http2{flag};")
            cert = config.certificate(server.tls_secret) if server.tls_secret else None
            pem = str(Path(paths.ssl_dir) / cert.file_name) if cert else (config.default_cert_file or paths.default_cert)
            w(f"ssl_certificate {quote(pem)};")
            w(f"ssl_certificate_key {quote(pem)};")
        else:
            w(f"listen {address}:{port(p.port)}{flag};")
        mirrors = any(m.action.mirrors for m in server.matches)
        with w.block("location /"):
            w('set $proxy_upstream_name "-";')
            w('set $gateway_mirror "";')
            w(f'rewrite_by_lua_block {{ require("gateway").route("{server_id(p, index)}") }}')
            w('header_filter_by_lua_block { require("gateway").response() }')
            if mirrors:
                w(f"mirror {MIRROR_PATH};")
            w(f"proxy_pass http://{BALANCER};")
        if mirrors:
            with w.block(f"location = {MIRROR_PATH}"):
                w("internal;")
                w('rewrite_by_lua_block { require("gateway").mirror() }')
                w(f"proxy_pass http://{BALANCER}$request_uri;")
