"""A reference matcher for Ingress routing, in plain Python, to read next to the nginx.conf the controller writes.

`route(ingresses, host, path)` answers the question every learner asks — "which Service gets this request, and
with which path?" — from the Ingress objects alone, without nginx. It follows the Ingress spec where the spec
decides, and ingress-nginx's documented behaviour where the spec leaves a choice open; each rule below is one small
function whose docstring says which is which. `tls_host(ingresses, host)` says whether the server answering a host
has TLS (then plain HTTP is redirected with 308).

This module is the *judge* of the proofs (tests/proof/test_differential.py holds the real nginx, running what
translate.py and render.py make, against it), so it deliberately shares no code with the controller: it imports
nothing from ingresslab, and its small helpers (age order, classes, wildcards) are its own, written from the spec
and ingress-nginx's documentation, not from `ingress_objects.py`. A misreading there shows up as a disagreement.

Modelled: Exact/Prefix/ImplementationSpecific paths, hosts and wildcards, merging several Ingresses (oldest first,
ties by name), defaultBackends; `use-regex` and `rewrite-target` (ingress-nginx's "Ingress Path Matching" page:
the whole host's paths become case-insensitive regexes, tried longest first; the rewrite target replaces the
URI, with `$1`… from the path regex). Not modelled: resource backends (ingress-nginx ignores them); rewrites on a
defaultBackend's location; and the controller's own `--default-backend-service`, which is what a `None` answer
stands for (404 when none is configured). Whether the chosen Service has ready endpoints (else 503) is the
caller's to check: it is a fact about the cluster, not about the Ingresses.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

CLASS_ANNOTATION = "kubernetes.io/ingress.class"
ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"
CATCH_ALL = "_"
"""The name ingress-nginx gives the server of rules without a host (nginx's `server_name _`)."""


# --- which Ingresses count, and in which order ------------------------------------------------------------------

def ingress_key(ingress: dict) -> str:
    """The Ingress's "namespace/name"; an object without namespace lives in `default`."""
    meta = ingress.get("metadata") or {}
    return "/".join((meta.get("namespace") or "default", meta.get("name") or ""))


def creation_time(ingress: dict) -> str:
    """`metadata.creationTimestamp` as RFC 3339 UTC text (`2024-01-01T00:00:00Z`), which sorts as time does;
    a missing one sorts first, like Go's zero time."""
    return str((ingress.get("metadata") or {}).get("creationTimestamp") or "")


class _Descending(str):
    """A string that sorts backwards: ingress-nginx breaks age ties by "namespace/name" *descending*."""

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


def oldest_first(ingresses: list[dict]) -> list[dict]:
    """The order in which Ingresses claim hosts and paths: the oldest `creationTimestamp` first.

    Timestamps have one-second precision, so Ingresses applied from one file often tie. ingress-nginx then orders
    by "namespace/name" *descending* (`sortIngressSlice`: `return in > jn`) — a surprise we keep, because the lab
    must answer as the real controller does.
    """
    return sorted(ingresses, key=lambda i: (creation_time(i), _Descending(ingress_key(i))))


def ingress_class_of(ingress: dict) -> str | None:
    """`spec.ingressClassName`, else the legacy annotation `kubernetes.io/ingress.class`, else None (no class)."""
    spec, meta = ingress.get("spec") or {}, ingress.get("metadata") or {}
    return spec.get("ingressClassName") or (meta.get("annotations") or {}).get(CLASS_ANNOTATION) or None


def is_selected(ingress: dict, *, ingress_class: str = "nginx", default_class: bool = True) -> bool:
    """A controller serves the Ingresses of its class, and those without a class when its class is the default.

    Every other Ingress is ignored entirely — as if it did not exist — which is how two controllers share a
    cluster.
    """
    name = ingress_class_of(ingress)
    return default_class if name is None else name == ingress_class


def _annotation(ingress: dict, name: str) -> str | None:
    return ((ingress.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_PREFIX + name)


def uses_regex(ingress: dict) -> bool:
    """`use-regex` is a Go boolean (`strconv.ParseBool`); a `rewrite-target` implies regex paths as well."""
    return (_annotation(ingress, "use-regex") or "") in ("1", "t", "T", "true", "TRUE", "True") \
        or bool(_annotation(ingress, "rewrite-target"))


# --- hosts -------------------------------------------------------------------------------------------------------

def request_host(host_header: str) -> str:
    """The host part of a Host header: port dropped, lower-cased, a final dot removed (nginx does the same)."""
    host = host_header.strip()
    if host.startswith("["):                       # [::1]:8080
        end = host.find("]")
        host = host[1:end] if end > 0 else host[1:]
    elif host.count(":") == 1:
        host = host[:host.index(":")]
    return host.lower().rstrip(".")


def host_matches(rule_host: str, host: str) -> bool:
    """Exact match, or a wildcard `*.foo.com` standing for exactly one more label (the Ingress spec).

    `*.foo.com` matches `bar.foo.com`, but neither `baz.bar.foo.com` (two labels) nor `foo.com` (none). nginx's
    own `*.foo.com` would also match the deeper name, so ingress-nginx writes wildcards as a one-label regex.
    """
    if rule_host[:2] != "*.":
        return host == rule_host
    labels = host.split(".")
    return len(labels) >= 2 and labels[0] != "" and ".".join(labels[1:]) == rule_host[2:]


# --- paths -------------------------------------------------------------------------------------------------------

def normalize_path(raw: str) -> str:
    """The path nginx matches locations against: no query, %XX decoded, `//` merged, `.` and `..` resolved."""
    path = raw.split("?", 1)[0].split("#", 1)[0] or "/"
    path = unquote(path)
    path = re.sub("/+", "/", path)
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    path = posixpath.normpath("/" + path.lstrip("/"))
    path = "/" + path.lstrip("/")
    return path + "/" if trailing and path != "/" else path


def path_elements(path: str) -> list[str]:
    """`/aaa/bbb/` → `["aaa", "bbb"]`: the labels Prefix matching compares (empty ones, so slashes, ignored)."""
    return [part for part in path.split("/") if part]


def path_matches(path_type: str, rule_path: str, request_path: str) -> bool:
    """Does one rule path match the request path (a host without regex paths)?

    * Exact: the whole path, case-sensitive — `/foo` matches `/foo` but not `/foo/`.
    * Prefix: element by element on `/` — `/aaa/bbb` matches `/aaa/bbb/ccc` but not `/aaa/bbbxyz`; a trailing
      `/` on either side is ignored, so `/foo/` matches `/foo`. Prefix `/` matches everything.
    * ImplementationSpecific: ingress-nginx treats it as Prefix (when no regex annotation is set).
    """
    if path_type == "Exact":
        return request_path == rule_path
    wanted = path_elements(rule_path)
    return path_elements(request_path)[:len(wanted)] == wanted


def regex_matches(rule_path: str, request_path: str) -> bool:
    """A path on a host in regex mode: ingress-nginx writes `location ~* "^<path>"` — a case-insensitive regex
    anchored at the start only (so Prefix `/a` also matches `/ab` there)."""
    try:
        return re.match(rule_path, request_path, re.IGNORECASE) is not None
    except re.error:
        return False


def rewritten(rule_path: str, target: str, request_path: str) -> str:
    """What `rewrite-target` sends upstream: the whole URI replaced by the target, `$n`/`${n}` taken from the
    rule's regex searched (unanchored, case-insensitively) in the path; a group that did not take part is empty."""
    found = re.search(rule_path, request_path, re.IGNORECASE)
    if found is None:
        return request_path

    def group(m: re.Match) -> str:
        n = int(m.group(1) or m.group(2))
        return (found.group(n) or "") if n <= (found.re.groups or 0) else ""
    return re.sub(r"\$(?:(\d)|\{(\d)\})", group, target)


# --- the answer --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """Who serves a request: which Ingress, which Service and port, and through which rule.

    `path` and `path_type` are None when no path matched and the Ingress's `defaultBackend` answered.
    `host` is the rule's host (`""` for a rule without host). `upstream_path` is the path the Service receives
    when a `rewrite-target` changed it (None: the request's own path).
    """

    ingress: str
    namespace: str
    service: str
    port: int | str
    host: str = ""
    path: str | None = None
    path_type: str | None = None
    upstream_path: str | None = None

    @property
    def is_default_backend(self) -> bool:
        return self.path is None

    def __str__(self) -> str:
        target = f"{self.namespace}/{self.service}:{self.port}"
        if self.is_default_backend:
            return f"{target} (defaultBackend of Ingress {self.ingress})"
        where = f" on {self.host}" if self.host else " (rule without host)"
        rewrite = f", rewritten to {self.upstream_path}" if self.upstream_path is not None else ""
        return f"{target} ({self.path_type} {self.path}{where}, Ingress {self.ingress}{rewrite})"


@dataclass(frozen=True)
class _Claim:
    """One rule path on a server, and what its Ingress's annotations make of it."""

    route: Route
    regex: bool
    rewrite_target: str | None


@dataclass
class _Server:
    """One host as ingress-nginx builds it: its rules in claim order, what answers when none matches, TLS."""

    fallback: Route | None = None
    rules: list[_Claim] = field(default_factory=list)
    tls: bool = False

    @property
    def regex_mode(self) -> bool:
        """ingress-nginx: one path with `use-regex`/`rewrite-target` turns every path of the host into a regex."""
        return any(claim.regex for claim in self.rules)


def _service_route(ingress: dict, backend: dict | None, host: str = "", path: str | None = None,
                   path_type: str | None = None) -> Route | None:
    service = (backend or {}).get("service")
    if not service:
        return None                       # resource backends: ingress-nginx skips them
    port = service.get("port") or {}
    namespace = (ingress.get("metadata") or {}).get("namespace") or "default"
    return Route(ingress_key(ingress), namespace, service.get("name") or "", port.get("number") or port.get("name"),
                 host, path, path_type)


def _lists_tls(ingress: dict, host: str) -> bool:
    """The Ingress names `host` (or a wildcard covering it) under `spec.tls` with a Secret."""
    return any(entry.get("secretName") and any(host_matches(h.lower(), host) for h in entry.get("hosts") or [])
               for entry in (ingress.get("spec") or {}).get("tls") or [])


def build_servers(ingresses: list[dict], *, ingress_class: str = "nginx",
                  default_class: bool = True) -> dict[str, _Server]:
    """Merge the selected Ingresses into one server per host, oldest Ingress first.

    * The first (oldest) Ingress to name a host creates its server; that Ingress's `defaultBackend`, if any,
      answers the host's unmatched paths. Otherwise the controller's default backend does (None here).
    * Rules of several Ingresses on one host merge. The same path with the same pathType twice: the older rule
      keeps it, the newer one is ignored (ingress-nginx: "location … already configured").
    * Rules without host go to the catch-all server `_`. The oldest Ingress that has a `defaultBackend` and no
      rules at all becomes the catch-all's answer for everything else.
    * A host has TLS when an Ingress with a rule for it lists it under `tls` (the catch-all never does); a
      missing Secret means the default certificate, still TLS (REFERENCE.md).
    """
    servers: dict[str, _Server] = {CATCH_ALL: _Server()}
    catch_all: Route | None = None
    for ingress in oldest_first([i for i in ingresses if is_selected(i, ingress_class=ingress_class,
                                                                     default_class=default_class)]):
        spec = ingress.get("spec") or {}
        default = _service_route(ingress, spec.get("defaultBackend"))
        rules = spec.get("rules") or []
        if not rules and catch_all is None:
            catch_all = default
        regex, target = uses_regex(ingress), _annotation(ingress, "rewrite-target") or None
        for rule in rules:
            host = (rule or {}).get("host") or ""
            server = servers.setdefault(host or CATCH_ALL, _Server(fallback=default))
            if host and _lists_tls(ingress, host):
                server.tls = True
            for p in ((rule or {}).get("http") or {}).get("paths") or []:
                path, path_type = p.get("path") or "/", p.get("pathType") or "ImplementationSpecific"
                if any(c.route.path == path and c.route.path_type == path_type for c in server.rules):
                    continue
                claimed = _service_route(ingress, p.get("backend"), host, path, path_type)
                if claimed is not None:
                    server.rules.append(_Claim(claimed, regex, target))
    servers[CATCH_ALL].fallback = catch_all
    return servers


def pick_server(servers: dict[str, _Server], host: str) -> _Server:
    """The host's own server; else the wildcard server one label up; else the catch-all `_`.

    So a rule without host matches any host that no rule names — ingress-nginx puts such rules in its catch-all
    server, and a host with a server of its own never falls through to them.
    """
    if host != CATCH_ALL and host in servers:
        return servers[host]
    wildcard = next((s for name, s in servers.items() if name.startswith("*.") and host_matches(name, host)), None)
    return wildcard or servers[CATCH_ALL]


def best_rule(rules: list, path: str) -> Route | None:
    """Among the matching rules (Routes, or claims), the longest path wins (a trailing `/` not counted); on a tie
    Exact beats Prefix; then the rule claimed first."""
    routes = [r.route if isinstance(r, _Claim) else r for r in rules]
    best: tuple | None = None
    for index, r in enumerate(routes):
        if path_matches(r.path_type or "", r.path or "/", path):
            rank = (len((r.path or "").rstrip("/")), r.path_type == "Exact", -index)
            if best is None or rank > best[0]:
                best = (rank, r)
    return best[1] if best else None


def _regex_rule(server: _Server, path: str) -> _Claim | None:
    """A host in regex mode (ingress-nginx's "Ingress Path Matching"): Exact paths stay exact and win; the other
    paths, and the host's own `/` for its default, are regexes nginx tries in order, first match wins — and
    ingress-nginx orders them by path length, longest first (ties: the greater path first)."""
    exact = next((c for c in server.rules if c.route.path_type == "Exact" and c.route.path == path), None)
    if exact is not None:
        return exact
    others = [c for c in server.rules if c.route.path_type != "Exact"]
    candidates = sorted({c.route.path for c in others} | {"/"}, key=lambda p: (len(p), p), reverse=True)
    for candidate in candidates:
        if regex_matches(candidate, path):
            return next((c for c in others if c.route.path == candidate), None)   # None: the host's default
    return None


def route(ingresses: list[dict], host: str, path: str, *, ingress_class: str = "nginx",
          default_class: bool = True) -> Route | None:
    """Which Ingress, Service and port serve a request for `host` and `path` (None: the controller's default
    backend, a 404 unless `--default-backend-service` names one)."""
    server = pick_server(build_servers(ingresses, ingress_class=ingress_class, default_class=default_class),
                         request_host(host))
    path = normalize_path(path)
    if not server.regex_mode:
        return best_rule(server.rules, path) or server.fallback
    claim = _regex_rule(server, path)
    if claim is None:
        return server.fallback
    if claim.rewrite_target is None:
        return claim.route
    return Route(**{**claim.route.__dict__, "upstream_path": rewritten(claim.route.path, claim.rewrite_target, path)})


def tls_host(ingresses: list[dict], host: str, *, ingress_class: str = "nginx", default_class: bool = True) -> bool:
    """Does the server answering `host` have TLS (so ingress-nginx redirects plain HTTP there with 308)?"""
    servers = build_servers(ingresses, ingress_class=ingress_class, default_class=default_class)
    return pick_server(servers, request_host(host)).tls
