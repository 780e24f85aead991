"""Model → nginx.conf text: our `ingress-nginx` template, written as plain Python.

`render_nginx_conf(config, paths=...)` is a pure, deterministic function of a `model.Configuration` and the
`RenderPaths` where the running nginx keeps its files. Its output follows the structure of ingress-nginx's
`nginx.tmpl` so that a learner who reads ours can read theirs: one `server` per host sorted by host, a catch-all
`_` as the only `default_server`, `location` blocks per Ingress path, `$proxy_upstream_name` set in each, one
shared `upstream upstream_balancer` whose peer a Lua balancer picks (endpoints never appear in the file), a
`stream` block for TCP services, and a checksum line that lets the process manager skip needless reloads.

Neighbours: `model.py` (the input), `syntax.py` (every string passes `token` or `quote` — see REFERENCE.md's
injection list), `render_locations.py` (how Ingress paths become nginx locations), `nginx.py` (writes the text
to disk, runs `nginx -t`, reloads), `lua/` (the balancer the text refers to).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .model import Backend, Configuration, Server
from .render_locations import PlannedLocation, plan_locations
from .syntax import host_regex, integer, ip_address, port, quote, token

LOG_FORMAT = (
    '$remote_addr:$remote_port - [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_length $request_time '
    "host=$host uri=$uri upstream=$proxy_upstream_name upstream_addr=$upstream_addr "
    "upstream_status=$upstream_status upstream_time=$upstream_response_time req_id=$req_id msec=$msec"
)
"""Default access log line: who called (`ip:port`), what, the Ingress upstream chosen, which endpoint answered,
and the request id that nginx also sends upstream as `X-Request-ID` — the fields `trace.py` joins hops on."""

STREAM_LOG_FORMAT = (
    "$remote_addr:$remote_port - [$time_local] $protocol $status $bytes_sent $bytes_received "
    "$session_time tcp_port=$server_port upstream_addr=$upstream_addr"
)
MODULES_DIR = "/usr/lib/nginx/modules"  # Debian/Ubuntu libnginx-mod-* packages
BALANCER = "upstream_balancer"
SHARED_DICT = "ingresslab_backends"
SCHEMES = {"HTTP": ("proxy_pass", "http"), "HTTPS": ("proxy_pass", "https"),
           "GRPC": ("grpc_pass", "grpc"), "GRPCS": ("grpc_pass", "grpcs")}


@dataclass(frozen=True)
class RenderPaths:
    """Where the running nginx keeps its files; all inside the lab's home (see `RenderPaths.under`)."""

    prefix: str
    pid: str
    error_log: str
    access_log: str
    stream_access_log: str
    temp_dir: str
    ssl_dir: str
    default_cert: str
    lua_dir: str
    config_socket: str
    modules_dir: str = MODULES_DIR
    user: str | None = None  # the `user` directive (workers drop to it), only meaningful when nginx starts as root
    group: str | None = None

    @classmethod
    def under(cls, nginx_dir: Path, *, user: str | None = None, group: str | None = None,
              modules_dir: str = MODULES_DIR) -> "RenderPaths":
        d = Path(nginx_dir)
        return cls(prefix=str(d), pid=str(d / "run" / "nginx.pid"), error_log=str(d / "logs" / "error.log"),
                   access_log=str(d / "logs" / "access.log"), stream_access_log=str(d / "logs" / "stream.log"),
                   temp_dir=str(d / "tmp"), ssl_dir=str(d / "ssl"), default_cert=str(d / "ssl" / "default.pem"),
                   lua_dir=str(Path(__file__).parent / "lua"), config_socket=str(d / "run" / "config.sock"),
                   modules_dir=modules_dir, user=user, group=group)


class _Writer:
    """Indented lines; `block()` opens `head {` and closes `}`."""

    def __init__(self):
        self.lines: list[str] = []
        self.depth = 0

    def __call__(self, text: str = "") -> None:
        self.lines.append("    " * self.depth + text if text else "")

    def block(self, head: str):
        writer = self

        class _Block:
            def __enter__(self):
                writer(head + " {")
                writer.depth += 1

            def __exit__(self, *exc):
                writer.depth -= 1
                writer("}")

        return _Block()


def render_nginx_conf(config: Configuration, *, paths: RenderPaths) -> str:
    """Render `config` as the complete text of nginx.conf. Raises `syntax.UnsafeValue` on an unsafe string."""
    s = config.settings
    w = _Writer()
    w("# nginx.conf written by ingresslab (ingresslab/ingress/render.py). Do not edit: the controller rewrites it.")
    w(f"# Configuration checksum: {token(config.checksum(), 'sha256')}")
    w("# Endpoints: " + ("not in this file; the Lua balancer gets them from the controller (POST "
                         "/configuration/backends)" if config.lua else "static upstream blocks (no Lua module)"))
    w()
    modules = ["ndk_http_module.so", "ngx_http_lua_module.so"] if config.lua else []
    modules += ["ngx_stream_module.so"] if config.tcp_services else []
    for module in modules:
        w(f"load_module {quote(str(Path(paths.modules_dir) / module), field='modules_dir')};")
    if paths.user:
        group = f" {token(paths.group, 'user', field='group')}" if paths.group else ""
        w(f"user {token(paths.user, 'user')}{group}; # nginx started as root: workers run unprivileged (uid 33 in "
          "the real image)")
    w(f"pid {quote(paths.pid)};")
    w(f"worker_processes {integer(s.worker_processes, field='settings.worker_processes', low=1, high=64)};")
    w("pcre_jit on; # regex locations (use-regex) compiled to machine code: a costly pattern costs far less")
    w(f"error_log {quote(paths.error_log)} notice;")
    w()
    with w.block("events"):
        w(f"worker_connections {integer(s.worker_connections, field='settings.worker_connections', low=16)};")
    w()
    with w.block("http"):
        _http_settings(w, config, paths)
        _upstreams(w, config, paths)
        servers = sorted((sv for sv in config.servers if not sv.is_catch_all), key=lambda sv: sv.hostname)
        catch_all = config.server("_") or Server("_")
        _server(w, catch_all, config, paths, default=True)
        for server in servers:
            _server(w, server, config, paths, default=False)
        _config_server(w, config, paths)
    if config.tcp_services:
        w()
        _stream(w, config, paths)
    return "\n".join(w.lines) + "\n"


def _http_settings(w: _Writer, config: Configuration, paths: RenderPaths) -> None:
    s = config.settings
    w(f"server_tokens {'on' if s.server_tokens else 'off'};")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        w(f"{kind}_temp_path {quote(str(Path(paths.temp_dir) / kind))};")
    w(f"keepalive_timeout {integer(s.keep_alive, field='settings.keep_alive')}s;")
    w(f"client_max_body_size {token(s.proxy_body_size, 'size', field='settings.proxy_body_size')};")
    w()
    w("# Websockets and keepalive to upstreams: pass Upgrade/Connection only when the client asked to upgrade.")
    with w.block("map $http_upgrade $connection_upgrade"):
        w("default upgrade;")
        w('"" "";')
    w("# Reuse the caller's X-Request-ID, or make one: it follows the request to the pod and into the logs.")
    with w.block("map $http_x_request_id $req_id"):
        w("default $http_x_request_id;")
        w('"" $request_id;')
    with w.block("map $http_host $best_http_host"):
        w("default $http_host;")
        w('"" $host;')
    w()
    log_format = s.log_format_upstream if s.log_format_upstream is not None else LOG_FORMAT
    w(f"log_format upstreaminfo {quote(log_format, field='settings.log_format_upstream')};")
    params = "".join(f" {token(p, 'access_log_param', field='settings.access_log_params')}"
                     for p in s.access_log_params.split())
    w(f"access_log {quote(paths.access_log)} upstreaminfo{params};")
    w()
    w("# Every location proxies like this (inherited from here).")
    w("proxy_http_version 1.1;")
    if config.listen_address != "127.0.0.1":
        # Connect to upstreams from the pod's own address, as a pod's traffic leaves from its IP.
        w(f"proxy_bind {ip_address(config.listen_address, field='listen_address')};")
    headers = [("Host", "$best_http_host"), ("Upgrade", "$http_upgrade"), ("Connection", "$connection_upgrade"),
               ("X-Request-ID", "$req_id"), ("X-Real-IP", "$remote_addr"),
               ("X-Forwarded-For", "$proxy_add_x_forwarded_for" if s.use_forwarded_headers else "$remote_addr"),
               ("X-Forwarded-Host", "$best_http_host"), ("X-Forwarded-Port", "$server_port"),
               ("X-Forwarded-Proto", "$scheme"), ("X-Scheme", "$scheme"), ("X-Original-URI", "$request_uri")]
    for name, value in headers:
        w(f"proxy_set_header {name} {value};")
    for name, value in headers[3:]:
        w(f"grpc_set_header {name} {value};")
    w(f"proxy_connect_timeout {integer(s.proxy_connect_timeout, field='settings.proxy_connect_timeout', low=1)}s;")
    w(f"proxy_read_timeout {integer(s.proxy_read_timeout, field='settings.proxy_read_timeout', low=1)}s;")
    w(f"proxy_send_timeout {integer(s.proxy_send_timeout, field='settings.proxy_send_timeout', low=1)}s;")
    w("proxy_buffering off;")
    w()
    # The default certificate sits in the catch-all server only: a certificate at http level would give each of
    # 10,000 servers an OpenSSL context of its own (≈1 ms of CPU each at every start and reload). A host without
    # its own certificate keeps the catch-all's after SNI, which is what ingress-nginx serves it.
    w("# TLS: the default (self-signed) certificate is the catch-all server's; hosts with a Secret have theirs.")
    w("ssl_protocols TLSv1.2 TLSv1.3;")
    w("ssl_session_cache shared:SSL:10m;")


def _upstreams(w: _Writer, config: Configuration, paths: RenderPaths) -> None:
    keepalive = integer(config.settings.upstream_keepalive_connections, field="settings.upstream_keepalive_connections")
    w()
    if config.lua:
        w("# Lua: endpoints live in shared memory, fed by the controller; no reload when pods come and go.")
        w(f"lua_package_path {quote(str(Path(paths.lua_dir) / '?.lua') + ';;')};")
        w(f"lua_shared_dict {SHARED_DICT} 16m;")
        with w.block("init_by_lua_block"):
            w('require("configuration")')
            w('require("balancer")')
        w()
        w("# One upstream for every Service: balancer.lua picks the endpoint of $proxy_upstream_name.")
        with w.block(f"upstream {BALANCER}"):
            w("server 0.0.0.1; # placeholder, never used")
            with w.block("balancer_by_lua_block"):
                w('require("balancer").balance()')
            if keepalive != "0":  # upstream-keepalive-connections: 0 turns keepalive to the pods off
                _upstream_keepalive(w, config.settings, keepalive)
        return
    w("# Static upstreams (no Lua module): an endpoint change rewrites this file and reloads nginx.")
    for backend in sorted(config.backends, key=lambda b: b.name):
        if not backend.endpoints:
            continue
        w(f"# {_service_comment(backend)}")
        with w.block(f"upstream {token(backend.name, 'upstream', field='backend.name')}"):
            for endpoint in backend.endpoints:
                w(f"server {ip_address(endpoint.ip)}:{port(endpoint.port)} max_fails=0;")
            if keepalive != "0":
                _upstream_keepalive(w, config.settings, keepalive)


def _upstream_keepalive(w: _Writer, s, connections: str) -> None:
    """Idle connections to the pods kept per worker, and how long and how often each is reused (ingress-nginx's
    upstream-keepalive-* keys). Without keepalive_requests, nginx closes one after 1,000 requests (its default)."""
    w(f"keepalive {connections};")
    w(f"keepalive_time {token(s.upstream_keepalive_time, 'time', field='settings.upstream_keepalive_time')};")
    w(f"keepalive_timeout {integer(s.upstream_keepalive_timeout, field='settings.upstream_keepalive_timeout')}s;")
    w(f"keepalive_requests {integer(s.upstream_keepalive_requests, field='settings.upstream_keepalive_requests')};")


def _service_comment(backend: Backend) -> str:
    if not backend.service:
        return f"upstream {token(backend.name, 'upstream')}"
    ref = f"{backend.namespace}/{backend.service}:{backend.port}"
    return f"Service {token(ref, 'service', field='backend')}" + (" (ClusterIP: via kube-proxy)"
                                                                     if backend.service_upstream else "")


def _cert_file(server: Server, config: Configuration, paths: RenderPaths) -> str | None:
    """The host's own certificate file, or None for the default one (also when its Secret is missing)."""
    if server.tls_cert_file:
        return server.tls_cert_file
    certificate = config.certificate(server.tls_secret) if server.tls_secret else None
    return str(Path(paths.ssl_dir) / certificate.file_name) if certificate else None


def _listen(config: Configuration, default: bool) -> list[str]:
    address = ip_address(config.listen_address, field="listen_address")
    flag = " default_server" if default else ""
    return [f"listen {address}:{port(config.http_port, field='http_port')}{flag};",
            f"listen {address}:{port(config.https_port, field='https_port')} ssl http2{flag};"]


def _server(w: _Writer, server: Server, config: Configuration, paths: RenderPaths, *, default: bool) -> None:
    host = token(server.hostname, "host", field="server.hostname")
    cert = _cert_file(server, config, paths)
    w()
    if default:
        w("# Catch-all: a Host no rule names, or rules without host. The only default_server.")
    else:
        w(f"# Host {host}" + (" (wildcard: exactly one label in place of *)" if server.is_wildcard else ""))
    if cert and server.tls_secret:
        w(f"# TLS certificate from Secret {token(server.tls_secret, 'object', field='server.tls_secret')}")
    elif server.tls_secret:
        w(f"# Secret {token(server.tls_secret, 'object', field='server.tls_secret')} not found: default certificate")
    with w.block("server"):
        # A wildcard becomes a regex; the host matched the strict host pattern, so it is safe unquoted.
        w(f"server_name {host_regex(host) if server.is_wildcard else host};")
        for line in _listen(config, default):
            w(line)
        if cert or default:
            w(f"ssl_certificate {quote(cert or config.default_cert_file or paths.default_cert)};")
            w(f"ssl_certificate_key {quote(cert or config.default_cert_file or paths.default_cert)};")
        w('set $proxy_upstream_name "-";')
        for planned in plan_locations(server, default_backend=config.default_backend):
            # A Secret that is missing still makes the host TLS (default certificate), as in ingress-nginx:
            # plain HTTP is redirected all the same.
            _location(w, planned, config, tls=cert is not None or server.tls_secret is not None)


def _location(w: _Writer, planned: PlannedLocation, config: Configuration, *, tls: bool) -> None:
    rule = planned.rule
    w()
    w("# " + _location_comment(planned, config))
    with w.block(f"location {planned.modifier + ' ' if planned.modifier else ''}{quote(planned.path, field='path')}"):
        backend_name = rule.backend if rule else config.default_backend
        if backend_name is not None:
            w(f'set $proxy_upstream_name "{token(backend_name, "upstream", field="location.backend")}";')
        if rule and rule.proxy_body_size is not None:
            w(f"client_max_body_size {token(rule.proxy_body_size, 'size', field='proxy-body-size')};")
        redirect = (rule.force_ssl_redirect or (rule.ssl_redirect and tls)) if rule else \
            (config.settings.ssl_redirect and tls)
        if redirect:
            # As ingress-nginx by default: to the standard HTTPS port of the same host. nginx's own port is not
            # what clients dial (they come through a NodePort or a load balancer on 443).
            with w.block("if ($scheme = http)"):
                w('return 308 "https://$host$request_uri";')
        if rule and rule.rewrite_target is not None:
            target = token(rule.rewrite_target, "rewrite_target", field="rewrite-target")
            w(f"rewrite {quote('(?i)' + rule.path, field='path')} {quote(target)} break;")
        backend = config.backend(backend_name) if backend_name is not None else None
        if backend_name is None:
            w("return 404;")
        elif backend is None or (not config.lua and not backend.endpoints):
            w("return 503; # the Service has no ready endpoints" if backend else "return 503; # unknown Service")
        else:
            directive, scheme = SCHEMES[rule.backend_protocol if rule else backend.protocol]
            if config.lua:
                w('rewrite_by_lua_block { require("balancer").rewrite() }')
            w(f"{directive} {scheme}://{BALANCER if config.lua else backend.name};")


def _location_comment(planned: PlannedLocation, config: Configuration) -> str:
    rule = planned.rule
    if rule is None:
        if config.default_backend is None:
            return "No rule matches: nginx answers 404 (no default backend configured)"
        return f"No rule matches: default backend ({token(config.default_backend, 'upstream')})"
    who = f"Ingress {token(rule.ingress, 'object', field='location.ingress')}: " if rule.ingress else ""
    to = f" -> {token(rule.service, 'service', field='location.service')}" if rule.service else ""
    return f"{who}{planned.note}{to}"


def _config_server(w: _Writer, config: Configuration, paths: RenderPaths) -> None:
    w()
    w("# Controller endpoint on a unix socket (no TCP port, unreachable from the network).")
    with w.block("server"):
        w(f"listen {quote('unix:' + paths.config_socket)};")
        w("access_log off;")
        with w.block("location = /healthz"):
            w('return 200 "ok";')
        with w.block("location = /configuration/checksum"):
            w("# The workers that loaded this file answer with its checksum: how the controller knows a reload took.")
            if config.lua:   # configuration.lua read it from this file's header when nginx loaded it
                w('content_by_lua_block { require("configuration").checksum() }')
            else:
                w(f'return 200 "{token(config.checksum(), "sha256")}";')
        with w.block("location = /nginx_status"):
            w("stub_status;")
        if config.lua:
            with w.block("location = /configuration/backends"):
                w("client_max_body_size 64m;")
                w("client_body_buffer_size 64m;")
                w('content_by_lua_block { require("configuration").backends() }')
            with w.block("location = /configuration/state"):
                w('content_by_lua_block { require("configuration").state() }')
        with w.block("location /"):
            w("return 404;")


def _stream(w: _Writer, config: Configuration, paths: RenderPaths) -> None:
    address = ip_address(config.listen_address, field="listen_address")
    taken = {config.http_port, config.https_port}
    with w.block("stream"):
        w(f"log_format tcpinfo {quote(STREAM_LOG_FORMAT)};")
        w(f"access_log {quote(paths.stream_access_log)} tcpinfo;")
        for tcp in sorted(config.tcp_services, key=lambda t: t.port):
            listen = port(tcp.port, field="tcp_services.port")
            if tcp.port in taken:
                raise ValueError(f"tcp_services: port {tcp.port} is already used by another listener")
            taken.add(tcp.port)
            backend = config.backend(tcp.backend)
            name = f"tcp-{listen}-{token(tcp.backend, 'upstream', field='tcp_services.backend')}"
            w()
            w(f"# TCP {address}:{listen}" + (f" -> {token(tcp.service, 'service')}" if tcp.service else ""))
            with w.block(f"upstream {name}"):
                endpoints = backend.endpoints if backend else ()
                for endpoint in endpoints:
                    w(f"server {ip_address(endpoint.ip)}:{port(endpoint.port)};")
                if not endpoints:
                    w("server 127.0.0.1:1 down; # no ready endpoints: connections are closed")
            with w.block("server"):
                w(f"listen {address}:{listen};")
                w(f"proxy_pass {name};")
