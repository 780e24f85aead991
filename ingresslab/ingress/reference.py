"""A reference matcher for Ingress routing, in plain Python, to read next to the nginx.conf the controller writes.

`route(ingresses, host, path)` answers the question every learner asks — "which Service gets this request?" —
from the Ingress objects alone, without nginx. It follows the Ingress spec where the spec decides, and
ingress-nginx where the spec leaves a choice open; each rule below is one small function whose docstring says
which is which. The tests hold every example of the Kubernetes documentation's Ingress page; integration tests
can hold this answer against what the real nginx does.

Not modelled here: regular-expression paths (`use-regex`, `rewrite-target`), whose order nginx takes from the file;
resource backends (ingress-nginx ignores them); and the controller's own `--default-backend-service`, which is
what a `None` answer stands for (404 when none is configured).

Neighbours: `translate.py` reuses the helpers (`oldest_first`, `ingress_class_of`, `host_matches`) so the
controller and this reference cannot disagree on ordering, classes or wildcards; `validate.py` uses the order
for its overlap check.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cmp_to_key
from urllib.parse import unquote

CLASS_ANNOTATION = "kubernetes.io/ingress.class"
CATCH_ALL = "_"
"""The name ingress-nginx gives the server of rules without a host (nginx's `server_name _`)."""


# --- which Ingresses count, and in which order ------------------------------------------------------------------

def ingress_key(ingress: dict) -> str:
    meta = ingress.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name') or ''}"


def creation_time(ingress: dict) -> datetime:
    """`metadata.creationTimestamp`; a missing one counts as the oldest possible, like Go's zero time."""
    stamp = (ingress.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return datetime.min.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))


def oldest_first(ingresses: list[dict]) -> list[dict]:
    """The order in which Ingresses claim hosts and paths: the oldest `creationTimestamp` first.

    Timestamps have one-second precision, so Ingresses applied from one file often tie. ingress-nginx then orders
    by "namespace/name" *descending* (`sortIngressSlice`: `return in > jn`) — a surprise we keep, because the lab
    must answer as the real controller does.
    """
    def compare(a: dict, b: dict) -> int:
        ta, tb = creation_time(a), creation_time(b)
        if ta != tb:
            return -1 if ta < tb else 1
        ka, kb = ingress_key(a), ingress_key(b)
        return -1 if ka > kb else (1 if ka < kb else 0)
    return sorted(ingresses, key=cmp_to_key(compare))


def ingress_class_of(ingress: dict) -> str | None:
    """`spec.ingressClassName`, else the legacy annotation `kubernetes.io/ingress.class`, else None (no class)."""
    name = (ingress.get("spec") or {}).get("ingressClassName")
    if name:
        return name
    return ((ingress.get("metadata") or {}).get("annotations") or {}).get(CLASS_ANNOTATION) or None


def is_selected(ingress: dict, *, ingress_class: str = "nginx", default_class: bool = True) -> bool:
    """A controller serves the Ingresses of its class, and those without a class when its class is the default.

    Every other Ingress is ignored entirely — as if it did not exist — which is how two controllers share a
    cluster.
    """
    name = ingress_class_of(ingress)
    return name == ingress_class if name is not None else default_class


# --- hosts -------------------------------------------------------------------------------------------------------

def request_host(host_header: str) -> str:
    """The host part of a Host header: port dropped, lower-cased, a final dot removed (nginx does the same)."""
    host = host_header.strip()
    if host.startswith("["):                       # [::1]:8080
        host = host[1:host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.lower().rstrip(".")


def host_matches(rule_host: str, host: str) -> bool:
    """Exact match, or a wildcard `*.foo.com` standing for exactly one more label.

    `*.foo.com` matches `bar.foo.com`, but neither `baz.bar.foo.com` (two labels) nor `foo.com` (none). nginx's
    own `*.foo.com` would also match the deeper name, so ingress-nginx writes wildcards as a one-label regex.
    """
    if not rule_host.startswith("*."):
        return rule_host == host
    first, dot, rest = host.partition(".")
    return bool(first) and bool(dot) and rest == rule_host[2:]


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
    """Does one rule path match the request path?

    * Exact: the whole path, case-sensitive — `/foo` matches `/foo` but not `/foo/`.
    * Prefix: element by element on `/` — `/aaa/bbb` matches `/aaa/bbb/ccc` but not `/aaa/bbbxyz`; a trailing
      `/` on either side is ignored, so `/foo/` matches `/foo`. Prefix `/` matches everything.
    * ImplementationSpecific: ingress-nginx treats it as Prefix (when no regex annotation is set).
    """
    if path_type == "Exact":
        return request_path == rule_path
    rule = path_elements(rule_path)
    return path_elements(request_path)[:len(rule)] == rule


# --- the answer --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """Who serves a request: which Ingress, which Service and port, and through which rule.

    `path` and `path_type` are None when no path matched and the Ingress's `defaultBackend` answered.
    `host` is the rule's host (`""` for a rule without host).
    """

    ingress: str
    namespace: str
    service: str
    port: int | str
    host: str = ""
    path: str | None = None
    path_type: str | None = None

    @property
    def is_default_backend(self) -> bool:
        return self.path is None

    def __str__(self) -> str:
        target = f"{self.namespace}/{self.service}:{self.port}"
        if self.is_default_backend:
            return f"{target} (defaultBackend of Ingress {self.ingress})"
        where = f" on {self.host}" if self.host else " (rule without host)"
        return f"{target} ({self.path_type} {self.path}{where}, Ingress {self.ingress})"


@dataclass
class _Server:
    """One host as ingress-nginx builds it: its rules in claim order, and what answers when none matches."""

    fallback: Route | None = None
    rules: list[Route] = field(default_factory=list)


def _service_route(ingress: dict, backend: dict | None, host: str = "", path: str | None = None,
                   path_type: str | None = None) -> Route | None:
    service = (backend or {}).get("service")
    if not service:
        return None                       # resource backends: ingress-nginx skips them
    port = service.get("port") or {}
    namespace = (ingress.get("metadata") or {}).get("namespace") or "default"
    return Route(ingress_key(ingress), namespace, service.get("name") or "", port.get("number") or port.get("name"),
                 host, path, path_type)


def build_servers(ingresses: list[dict], *, ingress_class: str = "nginx",
                  default_class: bool = True) -> dict[str, _Server]:
    """Merge the selected Ingresses into one server per host, oldest Ingress first.

    * The first (oldest) Ingress to name a host creates its server; that Ingress's `defaultBackend`, if any,
      answers the host's unmatched paths. Otherwise the controller's default backend does (None here).
    * Rules of several Ingresses on one host merge. The same path with the same pathType twice: the older rule
      keeps it, the newer one is ignored (ingress-nginx: "location … already configured").
    * Rules without host go to the catch-all server `_`. The oldest Ingress that has a `defaultBackend` and no
      rules at all becomes the catch-all's answer for everything else.
    """
    servers: dict[str, _Server] = {CATCH_ALL: _Server()}
    catch_all: Route | None = None
    selected = [i for i in ingresses if is_selected(i, ingress_class=ingress_class, default_class=default_class)]
    for ingress in oldest_first(selected):
        spec = ingress.get("spec") or {}
        default = _service_route(ingress, spec.get("defaultBackend"))
        rules = spec.get("rules") or []
        if not rules and default is not None and catch_all is None:
            catch_all = default
        for rule in rules:
            host = (rule or {}).get("host") or ""
            server = servers.get(host or CATCH_ALL)
            if server is None:
                server = servers[host] = _Server(fallback=default)
            for p in ((rule or {}).get("http") or {}).get("paths") or []:
                path, path_type = p.get("path") or "/", p.get("pathType") or "ImplementationSpecific"
                if any(r.path == path and r.path_type == path_type for r in server.rules):
                    continue
                claimed = _service_route(ingress, p.get("backend"), host, path, path_type)
                if claimed is not None:
                    server.rules.append(claimed)
    servers[CATCH_ALL].fallback = catch_all
    return servers


def pick_server(servers: dict[str, _Server], host: str) -> _Server:
    """The host's own server; else the wildcard server one label up; else the catch-all `_`.

    So a rule without host matches any host that no rule names — ingress-nginx puts such rules in its catch-all
    server, and a host with a server of its own never falls through to them.
    """
    if host in servers and host != CATCH_ALL:
        return servers[host]
    for name, server in servers.items():
        if name.startswith("*.") and host_matches(name, host):
            return server
    return servers[CATCH_ALL]


def best_rule(rules: list[Route], path: str) -> Route | None:
    """Among the matching rules, the longest path wins (a trailing `/` not counted); on a tie Exact beats Prefix;
    then the rule claimed first."""
    matching = [r for r in rules if path_matches(r.path_type or "", r.path or "/", path)]
    if not matching:
        return None
    return max(matching, key=lambda r: (len((r.path or "").rstrip("/")), r.path_type == "Exact",
                                        -rules.index(r)))


def route(ingresses: list[dict], host: str, path: str, *, ingress_class: str = "nginx",
          default_class: bool = True) -> Route | None:
    """Which Ingress, Service and port serve a request for `host` and `path` (None: the controller's default
    backend, a 404 unless `--default-backend-service` names one)."""
    servers = build_servers(ingresses, ingress_class=ingress_class, default_class=default_class)
    server = pick_server(servers, request_host(host))
    return best_rule(server.rules, normalize_path(path)) or server.fallback
