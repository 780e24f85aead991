"""The typed model of one Gateway's data plane: ports, virtual servers, ordered matches, actions, weighted groups.

Like `ingresslab.ingress.model`, this is a frozen value: translate.py builds it, it compares with `==`, and
`checksum()` decides whether nginx must reload. What it adds to the Ingress model:

  * `Match`     one HTTPRouteMatch (path, method, headers, query params) pointing at an `Action`; a server's
                matches are stored in the spec's precedence order (see `precedence.py`), so the data plane takes
                the first that matches;
  * `Action`    what a rule does: header modifiers, redirect, URL rewrite, mirror, and the `group` to proxy to;
  * `WeightedGroup` a rule's backendRefs as (upstream, weight) pairs; an empty upstream name stands for an
                invalid ref (those requests get 500). Groups travel to the Lua balancer with the endpoints, so
                a weight change, like an endpoint change, needs no reload;
  * `VirtualServer` one hostname on one port (`_` = any host, `*.x` = the spec's wildcard), owned by one listener;
  * `Port`      one listening port (HTTP or HTTPS) and its servers.

Backends and certificates are `ingresslab.ingress.model` values, so `ingresslab.ingress.nginx.NginxProcess` runs
this configuration as it runs an Ingress one (it needs `checksum`, `lua`, `backends`, `certificates`,
`listen_address`, `http_port`, `https_port`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from ..ingress.model import Backend, Certificate, Settings

PATH_MATCH_TYPES = ("Exact", "PathPrefix", "RegularExpression")
VALUE_MATCH_TYPES = ("Exact", "RegularExpression")


@dataclass(frozen=True)
class ValueMatch:
    """A header or query-param match: `name` (header names compared case-insensitively), `value`, `type`."""

    name: str
    value: str
    type: str = "Exact"


@dataclass(frozen=True)
class HeaderChanges:
    """RequestHeaderModifier / ResponseHeaderModifier: `set`, `add` (name, value) pairs and names to `remove`."""

    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class PathChange:
    """HTTPPathModifier: `type` ReplaceFullPath or ReplacePrefixMatch, and its `value`."""

    type: str
    value: str


@dataclass(frozen=True)
class Redirect:
    """RequestRedirect: unset parts keep the request's own (scheme, host, path); `port` None follows the spec's
    rule (the scheme's well-known port when a scheme is given, else the listener's port)."""

    scheme: str | None = None
    hostname: str | None = None
    port: int | None = None
    path: PathChange | None = None
    status_code: int = 302


@dataclass(frozen=True)
class Rewrite:
    """URLRewrite: a new Host and/or path."""

    hostname: str | None = None
    path: PathChange | None = None


@dataclass(frozen=True)
class Action:
    """What one HTTPRoute rule does with a request it matched.

    `group` is a `WeightedGroup.name` (None when the rule redirects). `prefix` is the PathPrefix value of the
    match, needed by ReplacePrefixMatch; actions are per match for that reason. `route` (`ns/name`) and `rule`
    are for humans.
    """

    route: str
    rule: int
    group: str | None = None
    request_headers: HeaderChanges | None = None
    response_headers: HeaderChanges | None = None
    redirect: Redirect | None = None
    rewrite: Rewrite | None = None
    mirrors: tuple[str, ...] = ()     # upstream names
    prefix: str | None = None


@dataclass(frozen=True)
class Match:
    """One HTTPRouteMatch; `path_type` is Exact, PathPrefix or RegularExpression."""

    path_type: str
    path: str
    action: Action
    method: str | None = None
    headers: tuple[ValueMatch, ...] = ()
    query: tuple[ValueMatch, ...] = ()


@dataclass(frozen=True)
class WeightedGroup:
    """A rule's backendRefs: (upstream name, weight); upstream "" is an invalid ref (its share answers 500)."""

    name: str
    members: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class VirtualServer:
    """One hostname on one port and the matches that serve it, in precedence order."""

    hostname: str                        # "_" any host, "*.example.com", or an exact name
    listener: str                        # the listener's name (for comments and status)
    matches: tuple[Match, ...] = ()
    tls_secret: str | None = None        # "ns/name" of the certificate Secret (HTTPS listeners)

    @property
    def is_catch_all(self) -> bool:
        return self.hostname == "_"


@dataclass(frozen=True)
class Port:
    """One port nginx listens on: `port` is bound, `spec_port` is what the Gateway says (redirects use it)."""

    port: int
    spec_port: int
    protocol: str                        # HTTP or HTTPS
    servers: tuple[VirtualServer, ...] = ()


@dataclass(frozen=True)
class GatewayConfiguration:
    """Everything one Gateway's nginx needs, as one comparable value."""

    gateway: str                         # "ns/name"
    ports: tuple[Port, ...] = ()
    backends: tuple[Backend, ...] = ()   # plain upstreams (one per Service port) with their endpoints
    groups: tuple[WeightedGroup, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    settings: Settings = field(default_factory=Settings)
    listen_address: str = "127.0.0.1"
    default_cert_file: str | None = None
    lua: bool = True                     # required: matching and weights run in Lua

    @property
    def http_port(self) -> int:
        return next((p.port for p in self.ports if p.protocol == "HTTP"), 0)

    @property
    def https_port(self) -> int:
        return next((p.port for p in self.ports if p.protocol == "HTTPS"), 0)

    def backend(self, name: str) -> Backend | None:
        return next((b for b in self.backends if b.name == name), None)

    def certificate(self, secret: str) -> Certificate | None:
        return next((c for c in self.certificates if c.secret == secret), None)

    def balancer_feed(self) -> list[dict]:
        """What the Lua balancer gets: every upstream's endpoints, every group's members and weights."""
        feed = [{"name": b.name, "endpoints": [{"address": e.ip, "port": e.port} for e in b.endpoints]}
                for b in sorted(self.backends, key=lambda b: b.name)]
        feed += [{"name": g.name, "endpoints": [],
                  "weights": [{"backend": m, "weight": w} for m, w in g.members]}
                 for g in sorted(self.groups, key=lambda g: g.name)]
        return feed

    def checksum(self) -> str:
        """sha256 over what decides nginx.conf. Endpoints, group members and weights are not in it: they reach
        nginx through the Lua balancer, so changing them needs no reload."""
        data = asdict(replace(self, backends=(), groups=(), certificates=()))
        data["groups"] = sorted(g.name for g in self.groups)
        data["certificates"] = sorted((c.secret, c.sha256) for c in self.certificates)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
