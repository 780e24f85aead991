"""HTTPRoute match precedence, as the spec states it, and a reference matcher written from the spec alone.

The spec (HTTPRouteRule, "Proxy or Load Balancer routing configuration generated from HTTPRoutes MUST prioritize
matches based on the following criteria, continuing on ties"), across all rules of all Routes on a listener:
  1. an Exact path match;
  2. a PathPrefix match with the largest number of characters;
  3. a method match;
  4. the largest number of header matches;
  5. the largest number of query param matches;
then the oldest Route (creationTimestamp), then `namespace/name` alphabetically, then the first matching rule
in list order (and, within a rule, the first match). Before all of these, a route's hostname: a matching exact
hostname beats a matching wildcard, a longer wildcard a shorter one, and either beats "any host".

RegularExpression path precedence is implementation-specific; here a regex ranks after Exact and before every
PathPrefix (longer patterns first) — the reading learners expect from NGINX Gateway Fabric's docs, and said so in
the rendered config.

`precedence_key` sorts; `request_matches` / `choose` decide which match a request takes. The data plane
(`lua/gateway.lua`) takes the first match of the sorted list that matches, with the same tests; tests compare the
two on real requests.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence
from urllib.parse import parse_qsl

from .model import Match, ValueMatch

_PATH_RANK = {"Exact": 0, "RegularExpression": 1, "PathPrefix": 2}


def precedence_key(match: Match, *, route_age: tuple[str, str], rule: int, index: int) -> tuple:
    """Sort key for one match among all matches of one hostname; smaller sorts first (wins)."""
    return (_PATH_RANK[match.path_type], -len(match.path), 0 if match.method else 1, -len(match.headers),
            -len(match.query), route_age, rule, index)


def path_matches(path_type: str, value: str, path: str) -> bool:
    """Exact: the whole path. PathPrefix: element-wise (`/foo` matches `/foo`, `/foo/`, `/foo/bar`, not
    `/foobar`; a trailing `/` in the value is ignored). RegularExpression: the whole path (anchored)."""
    if path_type == "Exact":
        return path == value
    if path_type == "PathPrefix":
        prefix = value.rstrip("/")
        return path == prefix or path.startswith(prefix + "/") or (prefix == "" and path.startswith("/"))
    return re.fullmatch(value, path) is not None


def _value_matches(m: ValueMatch, actual: str | None) -> bool:
    if actual is None:
        return False
    if m.type == "Exact":
        return actual == m.value
    return re.search(m.value, actual) is not None


def request_matches(match: Match, *, path: str, method: str = "GET", headers: Mapping[str, str] | None = None,
                    query: str = "") -> bool:
    """Does a request (path without query, method, headers, raw query string) satisfy `match`?

    Header names compare case-insensitively; a query param compares by exact name, first occurrence (the spec
    leaves repeated params implementation-specific; nginx's Lua API and this function both take the first).
    """
    if not path_matches(match.path_type, match.path, path):
        return False
    if match.method and match.method != method:
        return False
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if not all(_value_matches(h, lowered.get(h.name.lower())) for h in match.headers):
        return False
    params: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        params.setdefault(k, v)
    return all(_value_matches(q, params.get(q.name)) for q in match.query)


def choose(matches: Sequence[Match], **request) -> Match | None:
    """The match a request takes: the first in precedence order that matches, or None (404)."""
    return next((m for m in matches if request_matches(m, **request)), None)


def replace_prefix(path: str, prefix: str, replacement: str) -> str:
    """ReplacePrefixMatch, by the spec's table (`/foo/bar`, prefix `/foo`, `/xyz` → `/xyz/bar`; `/foo`, `/` → `/`)."""
    rest = path[len(prefix.rstrip("/")):]
    return (replacement.rstrip("/") + rest) or "/"


def reference_route(routes, *, host: str, path: str, method: str = "GET", headers: Mapping[str, str] | None = None,
                    query: str = "") -> tuple[str, int] | None:
    """The spec read directly over HTTPRoute dicts attached to one listener without hostname: every (route, rule,
    match) that fits the request competes, and the winner is the smallest of (hostname specificity, path kind and
    length, method, header count, query count, route age, `namespace/name`, rule index, match index).
    Returns (`namespace/name`, rule index) or None (404). Written apart from `layout.py` and `lua/gateway.lua`
    (which pre-sort per server and take the first fit), so the two can be compared on real requests."""
    best = None
    for route in routes:
        meta, spec = route.get("metadata") or {}, route.get("spec") or {}
        name = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        hosts = [h for h in (spec.get("hostnames") or [None]) if h is None or _host_fits(h, host)]
        if not hosts:
            continue
        host_rank = min((2, 0) if h is None else (1, -len(h)) if h.startswith("*.") else (0, -len(h)) for h in hosts)
        for r, rule in enumerate(spec.get("rules") or [{}]):
            for m, raw in enumerate(rule.get("matches") or [{}]):
                p = raw.get("path") or {}
                match = Match(p.get("type") or "PathPrefix", p.get("value") or "/", None, raw.get("method"),
                              tuple(ValueMatch(h["name"], h["value"], h.get("type") or "Exact")
                                    for h in raw.get("headers") or []),
                              tuple(ValueMatch(q["name"], q["value"], q.get("type") or "Exact")
                                    for q in raw.get("queryParams") or []))
                if not request_matches(match, path=path, method=method, headers=headers, query=query):
                    continue
                key = (host_rank, _PATH_RANK[match.path_type], -len(match.path), 0 if match.method else 1,
                       -len(match.headers), -len(match.query), meta.get("creationTimestamp") or "", name, r, m)
                if best is None or key < best[0]:
                    best = (key, (name, r))
    return best[1] if best else None


def _host_fits(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host
