"""The typed model of what nginx should do — our counterpart of ingress-nginx's `ingress.Configuration`.

ingress-nginx never renders nginx.conf straight from Ingress objects: its controller first translates every
Ingress, Service and EndpointSlice into one plain value (`internal/ingress/types.go`: `Configuration` holding
`Servers`, `Backends`, `TCPEndpoints`, …), compares that value with the running one, and only then renders it.
This module is that value, as frozen dataclasses with tuples, so a model can be compared with `==`, hashed and
shared between threads without copying.

Neighbours:
  * `translate.py` builds a `Configuration` from the cluster's objects (it owns the Kubernetes semantics:
    which rule wins, which Service port, which annotations);
  * `render.py` turns a `Configuration` into nginx.conf text (it owns nginx syntax and quoting);
  * `nginx.py` runs the real nginx with it (`NginxProcess.apply`) and feeds endpoints to the Lua balancer
    (`NginxProcess.push_endpoints`), so an endpoint change needs no reload;
  * `controller.py` watches the cluster and calls those two.

The mapping to ingress-nginx, one line each:
  `Endpoint`    ≈ `ingress.Endpoint` (one ready pod address of a Service port)
  `Backend`     ≈ `ingress.Backend`  (an upstream: `<namespace>-<service>-<port>`, its endpoints)
  `Location`    ≈ `ingress.Location` (one path of one Ingress rule, with its annotations already applied)
  `Server`      ≈ `ingress.Server`   (one host, its locations, its certificate)
  `TCPService`  ≈ `ingress.L4Service` (a `--tcp-services-configmap` entry)
  `Settings`    ≈ `config.Configuration` (the controller's ConfigMap keys, with ingress-nginx's defaults)

Nothing here checks that strings are safe for nginx.conf; `render.py` does that (every string is either matched
against a strict pattern or quoted), so a model built by hand in a notebook is as safe as one from translate.py.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

DEFAULT_BACKEND_NAME = "upstream-default-backend"
"""The upstream name ingress-nginx gives the default backend (`--default-backend-service`)."""

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")
BACKEND_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "GRPCS")


def upstream_name(namespace: str, service: str, port: int | str) -> str:
    """ingress-nginx's upstream name for a Service port: `<namespace>-<service>-<port number or name>`."""
    return f"{namespace}-{service}-{port}"


@dataclass(frozen=True)
class Endpoint:
    """One address nginx may send a request to (a ready pod IP and target port, or a ClusterIP)."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class Backend:
    """One upstream: a Service port and the endpoints behind it.

    `name` is the upstream name (`upstream_name(namespace, service, port)`, or `DEFAULT_BACKEND_NAME`).
    `port` is the Service port as the Ingress names it (number or name). `protocol` is the annotation
    `backend-protocol` (HTTP, HTTPS, GRPC, GRPCS). With `service_upstream=True` (annotation `service-upstream`)
    translate.py puts the ClusterIP:port as the single endpoint, so kube-proxy becomes a hop of the request.
    An empty `endpoints` tuple is allowed: nginx then answers 503 for it, as ingress-nginx does.
    """

    name: str
    namespace: str
    service: str
    port: int | str
    endpoints: tuple[Endpoint, ...] = ()
    protocol: str = "HTTP"
    service_upstream: bool = False

    def __post_init__(self):
        _check_tuple(self, "endpoints", Endpoint)
        _check_choice(self, "protocol", BACKEND_PROTOCOLS)

    def without_endpoints(self) -> "Backend":
        return replace(self, endpoints=())


@dataclass(frozen=True)
class Location:
    """One path of one Ingress rule, annotations applied.

    `path_type` is the Ingress `pathType` (ImplementationSpecific is treated as Prefix, as ingress-nginx does).
    `backend` is the upstream name (a `Backend.name`); `ingress` is `"namespace/name"` and `service`
    `"namespace/service:port"`, both only for humans (comments, `conf` views). Annotation values:
    `rewrite_target` and `use_regex` (turn the host's locations into case-insensitive regex locations),
    `backend_protocol`, `proxy_body_size` (None: the ConfigMap's value), `ssl_redirect` (redirect to HTTPS when
    the server has a certificate), `force_ssl_redirect` (redirect even without one).
    """

    path: str
    path_type: str
    backend: str
    ingress: str = ""
    service: str = ""
    rewrite_target: str | None = None
    use_regex: bool = False
    backend_protocol: str = "HTTP"
    proxy_body_size: str | None = None
    ssl_redirect: bool = True
    force_ssl_redirect: bool = False

    def __post_init__(self):
        _check_choice(self, "path_type", PATH_TYPES)
        _check_choice(self, "backend_protocol", BACKEND_PROTOCOLS)

    @property
    def is_exact(self) -> bool:
        return self.path_type == "Exact"

    @property
    def needs_regex(self) -> bool:
        """ingress-nginx writes a location as a regex when `use-regex` or `rewrite-target` is set."""
        return self.use_regex or self.rewrite_target is not None


@dataclass(frozen=True)
class Server:
    """One virtual host: `hostname` (`"_"` for rules without host, `*.foo.com` for a wildcard) and its locations.

    TLS: `tls_secret` names the Secret (`"namespace/name"`) whose certificate the host uses. The PEM itself
    travels in `Configuration.certificates` (so the model stays a pure value and `nginx.py` decides where files
    live); `tls_cert_file` is an alternative for a PEM file that already exists (cert and key in one file, as
    ingress-nginx writes them). A host with neither uses the default self-signed certificate — and then
    `ssl-redirect` does not apply, only `force-ssl-redirect` does.
    """

    hostname: str
    locations: tuple[Location, ...] = ()
    tls_secret: str | None = None
    tls_cert_file: str | None = None

    def __post_init__(self):
        _check_tuple(self, "locations", Location)

    @property
    def is_catch_all(self) -> bool:
        return self.hostname == "_"

    @property
    def is_wildcard(self) -> bool:
        return self.hostname.startswith("*.")

    @property
    def has_tls(self) -> bool:
        return self.tls_secret is not None or self.tls_cert_file is not None


@dataclass(frozen=True)
class Certificate:
    """The PEM text (certificate chain, then private key) of one kubernetes.io/tls Secret, named `"ns/name"`."""

    secret: str
    pem: str = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.pem.encode()).hexdigest()

    @property
    def file_name(self) -> str:
        """A file name no Secret name can steer: sha256 of `"ns/name"` (never the name itself), then a short hash
        of the content, so a renewed certificate gets a new file and the running config's file stays intact."""
        return hashlib.sha256(self.secret.encode()).hexdigest() + "-" + self.sha256[:16] + ".pem"


@dataclass(frozen=True)
class TCPService:
    """One entry of the TCP services ConfigMap: nginx listens on `port` and forwards bytes to `backend`."""

    port: int
    backend: str
    service: str = ""  # "namespace/service:port", for humans


@dataclass(frozen=True)
class Settings:
    """The controller ConfigMap's keys we support, with ingress-nginx's defaults (names in `snake_case`).

    `worker_processes` is 1 rather than ingress-nginx's `auto` (a lab runs one nginx per learner), and
    `worker_connections` 1024 rather than 16384 (the open-file limit a non-root user usually has).
    `log_format_upstream` None means our default format (see `render.LOG_FORMAT`), which carries what
    `trace.py` needs to join hops. `access_log_params` is empty, as in ingress-nginx: one write per request, so
    `trace` finds a request's line at once (with `buffer=… flush=…`, up to `flush` later).
    """

    proxy_body_size: str = "1m"
    ssl_redirect: bool = True
    server_tokens: bool = False
    proxy_connect_timeout: int = 5
    proxy_read_timeout: int = 60
    proxy_send_timeout: int = 60
    log_format_upstream: str | None = None
    worker_processes: int = 1
    worker_connections: int = 1024
    upstream_keepalive_connections: int = 320
    upstream_keepalive_requests: int = 10000
    upstream_keepalive_timeout: int = 60
    upstream_keepalive_time: str = "1h"
    keep_alive: int = 75
    access_log_params: str = ""
    use_forwarded_headers: bool = False


@dataclass(frozen=True)
class Configuration:
    """Everything nginx needs, as one comparable value.

    `default_backend` is the upstream name requests go to when no rule matches (usually `DEFAULT_BACKEND_NAME`,
    which must then be among `backends`); `None` means nginx answers 404 itself, as ingress-nginx's built-in
    default server does. `listen_address` is where the HTTP/HTTPS/TCP ports are bound (the lab uses a loopback
    address). `lua=True` keeps endpoints out of nginx.conf (the Lua balancer gets them over the configuration
    socket); `lua=False` writes static upstreams, so an endpoint change means a reload.
    """

    servers: tuple[Server, ...] = ()
    backends: tuple[Backend, ...] = ()
    tcp_services: tuple[TCPService, ...] = ()
    default_backend: str | None = None
    settings: Settings = Settings()
    certificates: tuple[Certificate, ...] = ()
    default_cert_file: str | None = None
    listen_address: str = "127.0.0.1"
    http_port: int = 80
    https_port: int = 443
    lua: bool = True

    def __post_init__(self):
        _check_tuple(self, "servers", Server)
        _check_tuple(self, "backends", Backend)
        _check_tuple(self, "tcp_services", TCPService)
        _check_tuple(self, "certificates", Certificate)

    def backend(self, name: str) -> Backend | None:
        return next((b for b in self.backends if b.name == name), None)

    def server(self, hostname: str) -> Server | None:
        return next((s for s in self.servers if s.hostname == hostname), None)

    def certificate(self, secret: str) -> Certificate | None:
        return next((c for c in self.certificates if c.secret == secret), None)

    def without_endpoints(self) -> "Configuration":
        return replace(self, backends=tuple(b.without_endpoints() for b in self.backends))

    def endpoints(self) -> dict[str, tuple[Endpoint, ...]]:
        """Upstream name → endpoints: what the controller pushes to the Lua balancer."""
        return {b.name: b.endpoints for b in self.backends}

    def canonical(self) -> "Configuration":
        """The same configuration with servers, backends, TCP services and certificates sorted by their names.

        Their order does not change what nginx does (render.py sorts too); location order does (the first of two
        rules on the same path wins), so locations keep the order translate.py gave them.
        """
        return replace(self, servers=tuple(sorted(self.servers, key=lambda s: s.hostname)),
                       backends=tuple(sorted(self.backends, key=lambda b: b.name)),
                       tcp_services=tuple(sorted(self.tcp_services, key=lambda t: (t.port, t.backend))),
                       certificates=tuple(sorted(self.certificates, key=lambda c: c.secret)))

    def checksum(self) -> str:
        """sha256 over what decides nginx.conf: everything but endpoints when Lua balances, everything otherwise.

        Certificates count by content, so a renewed Secret reloads nginx. TCP services always count their
        endpoints, because the stream balancer is static (the Lua module for streams is not installed).
        """
        config = self.canonical()
        data = asdict(config.without_endpoints() if config.lua else config)
        data["certificates"] = [(c.secret, c.sha256) for c in config.certificates]
        if config.lua:
            tcp = {t.backend for t in config.tcp_services}
            data["tcp_endpoints"] = {b.name: [str(e) for e in b.endpoints] for b in config.backends if b.name in tcp}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _check_tuple(obj, name: str, kind: type) -> None:
    value = getattr(obj, name)
    if not isinstance(value, tuple):
        raise TypeError(f"{type(obj).__name__}.{name} must be a tuple (frozen model), got {type(value).__name__}")
    for item in value:
        if not isinstance(item, kind):
            raise TypeError(f"{type(obj).__name__}.{name} holds {type(item).__name__}, expected {kind.__name__}")


def _check_choice(obj, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(obj, name)
    if value not in allowed:
        raise ValueError(f"{type(obj).__name__}.{name} must be one of {', '.join(allowed)}, got {value!r}")
