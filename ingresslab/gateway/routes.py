"""HTTPRoutes on one Gateway: which listeners each attaches to, its rules as `Match`es, its backends, its status.

For every `parentRef` naming the Gateway (group gateway.networking.k8s.io, kind Gateway, namespace defaulting to
the route's), as the spec says:
  * no listener with that `sectionName`/`port` → Accepted=False, NoMatchingParent (a listener that is itself not
    valid still takes routes and counts them in `attachedRoutes`, as the spec says; it serves none);
  * no such listener's `allowedRoutes` lets this namespace and kind in → Accepted=False, NotAllowedByListeners;
  * no hostname in common with any of them → Accepted=False, NoMatchingListenerHostname;
  * a value this data plane cannot honour (a filter type, a regex that does not compile, ReplacePrefixMatch on
    a non-prefix match, header values with control characters…) → Accepted=False, UnsupportedValue, naming the
    field;
  * otherwise Accepted=True, and ResolvedRefs says whether every backendRef resolved: InvalidKind (not a core
    Service), RefNotPermitted (another namespace, no ReferenceGrant), BackendNotFound (no such Service or port).
    An unresolved ref stays in its rule's weighted group as "" so its share of requests answers 500, and a rule
    with no backend at all answers 500 too.

Neighbours: `translate.py` (listeners; calls `attach_routes`), `layout.py` (orders the matches per server),
`objects.py` (hostnames, grants, conditions), `ingresslab.ingress.translate`'s cluster index (Services,
EndpointSlices, Secrets — the same lookup the Ingress controller uses).
"""
from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Mapping

from ..ingress.model import Backend, upstream_name
from . import objects as o
from .model import (Action, HeaderChanges, Match, PathChange, Redirect, Rewrite, ValueMatch, WeightedGroup)

ROUTE_KIND = {"group": o.GROUP, "kind": "HTTPRoute"}
REDIRECT_CODES = (301, 302, 303, 307, 308)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


class Unsupported(ValueError):
    """A route value this data plane cannot honour; the message names the field."""


@dataclass
class ListenerView:
    """A listener of the Gateway as translate.py judged it (reasons None when fine)."""

    name: str
    port: int
    protocol: str
    hostname: str | None
    raw: Mapping
    accepted_reason: str | None = None
    accepted_message: str = ""
    refs_reason: str | None = None
    refs_message: str = ""
    conflict: str | None = None
    conflict_message: str = ""
    supported_kinds: list = field(default_factory=list)
    certificate: str | None = None

    @property
    def usable(self) -> bool:
        tls_ok = self.protocol != "HTTPS" or self.certificate is not None
        return self.accepted_reason is None and self.conflict is None and tls_ok \
            and self.refs_reason in (None, "InvalidRouteKinds")


@dataclass
class Attached:
    """One route on one listener: the hostnames it serves there (None: any) and its rules' matches."""

    route: str
    age: tuple[str, str]
    hostnames: list[str | None]
    rules: list[list[Match]]


@dataclass
class Attachment:
    by_listener: dict[str, list[Attached]] = field(default_factory=dict)
    attached: dict[str, int] = field(default_factory=dict)
    parents: dict[str, list[dict]] = field(default_factory=dict)
    backends: list[Backend] = field(default_factory=list)
    groups: list[WeightedGroup] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def names_gateway(ref: Mapping, route_ns: str, gateway: Mapping) -> bool:
    return (ref.get("group") if ref.get("group") is not None else o.GROUP) == o.GROUP \
        and (ref.get("kind") or "Gateway") == "Gateway" and (ref.get("namespace") or route_ns) == \
        o.namespace_of(gateway) and ref.get("name") == o.meta(gateway).get("name")


def _allows(listener: ListenerView, gateway: Mapping, route: Mapping, namespaces: dict) -> bool:
    if ROUTE_KIND not in listener.supported_kinds:
        return False
    spec = (listener.raw.get("allowedRoutes") or {}).get("namespaces") or {}
    where = spec.get("from") or "Same"
    route_ns = o.namespace_of(route)
    if where == "All":
        return True
    if where == "Same":
        return route_ns == o.namespace_of(gateway)
    if where == "Selector":
        ns_obj = namespaces.get(route_ns) or {}
        labels = dict(o.meta(ns_obj).get("labels") or {})
        labels.setdefault("kubernetes.io/metadata.name", route_ns)
        return o.selector_matches(spec.get("selector"), labels)
    return False


def attach_routes(gateway: Mapping, listeners: list[ListenerView], routes: list[Mapping], grants: list, cluster, *,
                  namespaces: dict, controller_name: str, now: str | None) -> Attachment:
    out = Attachment()
    backends: dict[str, Backend] = {}
    groups: dict[str, WeightedGroup] = {}
    for route in sorted(routes, key=o.age_key):
        route_ns, route_key = o.namespace_of(route), o.key(route)
        refs = [r for r in (route.get("spec") or {}).get("parentRefs") or [] if names_gateway(r, route_ns, gateway)]
        if not refs:
            continue
        gen = o.generation(route)
        previous = {_ref_key(p.get("parentRef") or {}, route_ns): p.get("conditions") or []
                    for p in (route.get("status") or {}).get("parents") or []
                    if p.get("controllerName") == controller_name}
        try:
            compiled = compile_route(route, grants, cluster)
            problem = None
        except Unsupported as error:
            compiled, problem = None, str(error)
        entries = []
        attached_any = False
        for ref in refs:
            before = previous.get(_ref_key(ref, route_ns), [])
            accepted_reason, message, hits = _attach(ref, route, gateway, listeners, namespaces)
            if accepted_reason is None and problem:
                accepted_reason, message = "UnsupportedValue", problem
            if accepted_reason is None:
                attached_any = True
                for listener, hostnames in hits:
                    out.attached[listener.name] = out.attached.get(listener.name, 0) + 1
                    out.by_listener.setdefault(listener.name, []).append(
                        Attached(route_key, o.age_key(route), hostnames, compiled.rules))
            refs_reason, refs_message = (compiled.refs_problem if compiled and compiled.refs_problem
                                         else ("ResolvedRefs", "all references resolved"))
            entries.append({"parentRef": dict(ref), "controllerName": controller_name, "conditions": [
                o.condition("Accepted", accepted_reason is None, accepted_reason or "Accepted",
                            message or "attached", gen, previous=before, now=now),
                o.condition("ResolvedRefs", refs_reason == "ResolvedRefs", refs_reason, refs_message, gen,
                            previous=before, now=now)]})
        out.parents[route_key] = entries
        if attached_any and compiled:
            for b in compiled.backends:
                backends.setdefault(b.name, b)
            for g in compiled.groups:
                groups[g.name] = g
        if problem:
            out.problems.append(f"HTTPRoute {route_key}: {problem}")
    out.backends = sorted(backends.values(), key=lambda b: b.name)
    out.groups = sorted(groups.values(), key=lambda g: g.name)
    return out


def _ref_key(ref: Mapping, route_ns: str) -> tuple:
    return (ref.get("namespace") or route_ns, ref.get("name"), ref.get("sectionName"), ref.get("port"))


def _attach(ref: Mapping, route: Mapping, gateway: Mapping, listeners: list[ListenerView], namespaces: dict):
    """(reason or None, message, [(listener, hostnames)])."""
    section, port = ref.get("sectionName"), ref.get("port")
    candidates = [v for v in listeners if (section is None or v.name == section) and (port is None or v.port == port)]
    if not candidates:
        what = " ".join(x for x in (f"sectionName {section}" if section else "", f"port {port}" if port else "") if x)
        return "NoMatchingParent", f"the Gateway has no listener with {what}", []
    # Attachment depends only on parentRefs, allowedRoutes and hostnames, not on the listener's own status: a
    # listener with an unresolved certificate still counts its routes (conformance GatewayWithAttachedRoutes);
    # layout.py serves only the valid listeners.
    allowed = [v for v in candidates if _allows(v, gateway, route, namespaces)]
    if not allowed:
        return "NotAllowedByListeners", f"listeners {', '.join(v.name for v in candidates)} do not allow HTTPRoutes " \
            f"from namespace {o.namespace_of(route)}", []
    route_hosts = [h for h in (route.get("spec") or {}).get("hostnames") or []]
    hits = [(v, o.intersect(v.hostname, route_hosts)) for v in allowed]
    hits = [(v, h) for v, h in hits if h]
    if not hits:
        return "NoMatchingListenerHostname", "no hostname of the route (" + ", ".join(route_hosts) + \
            ") matches a listener's (" + ", ".join(v.hostname or "any" for v in allowed) + ")", []
    return None, "attached to listener " + ", ".join(v.name for v, _ in hits), hits


@dataclass
class Compiled:
    rules: list[list[Match]]
    backends: list[Backend]
    groups: list[WeightedGroup]
    refs_problem: tuple[str, str] | None


def compile_route(route: Mapping, grants: list, cluster) -> Compiled:
    """A route's rules as `Match`es with their actions; raises `Unsupported` naming the first bad field."""
    spec = route.get("spec") or {}
    ns, name = o.namespace_of(route), o.meta(route).get("name")
    if not isinstance(name, str) or not o.HOSTNAME.fullmatch(name) or name.startswith("*") \
            or not o.HOSTNAME.fullmatch(ns) or "." in ns:
        # The API server validates names; a store without that check must not reach nginx.conf's comments.
        raise Unsupported(f"metadata.name {name!r} / namespace {ns!r} must be lowercase DNS names")
    for i, h in enumerate(spec.get("hostnames") or []):
        if o.hostname_problem(h):
            raise Unsupported(f"spec.hostnames[{i}]: {h!r} {o.hostname_problem(h)}")
    backends: list[Backend] = []
    groups: list[WeightedGroup] = []
    problems: list[tuple[str, str]] = []
    rules: list[list[Match]] = []
    for r, rule in enumerate(spec.get("rules") or [{}]):
        where = f"spec.rules[{r}]"
        for unsupported in ("timeouts", "retry", "sessionPersistence"):
            if rule.get(unsupported) is not None:
                raise Unsupported(f"{where}.{unsupported}: not supported by this data plane")
        filters = _filters(rule.get("filters") or [], where, route, grants, cluster, backends, problems)
        refs = rule.get("backendRefs") or []
        if filters["redirect"] and refs:
            raise Unsupported(f"{where}: a RequestRedirect rule must not have backendRefs")
        group = None
        if not filters["redirect"]:
            members = []
            for b, ref in enumerate(refs):
                if ref.get("filters"):
                    raise Unsupported(f"{where}.backendRefs[{b}].filters: per-backend filters are not supported")
                weight = ref.get("weight", 1)
                if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 1_000_000:
                    raise Unsupported(f"{where}.backendRefs[{b}].weight: must be an integer from 0 to 1000000")
                backend = _backend(ref, f"{where}.backendRefs[{b}]", route, grants, cluster, problems)
                if backend is not None:
                    backends.append(backend)
                members.append((backend.name if backend else "", weight))
            group = _group_name(ns, name, r)
            groups.append(WeightedGroup(group, tuple(members)))
        matches = []
        for m, raw in enumerate(rule.get("matches") or [{}]):
            matches.append(_match(raw or {}, f"{where}.matches[{m}]", filters, group, o.key(route), r))
        rules.append(matches)
    return Compiled(rules, backends, groups, problems[0] if problems else None)


def _group_name(ns: str, name: str, rule: int) -> str:
    readable = f"httproute-{ns}-{name}-{rule}".replace(".", "-")
    digest = hashlib.sha256(f"{ns}/{name}".encode()).hexdigest()[:6]
    # Dots become dashes for nginx's upstream-name alphabet; the hash keeps `a.b` and `a-b` apart.
    return f"{readable}-{digest}" if "." in name else readable


def _match(raw: Mapping, where: str, filters: dict, group: str | None, route: str, rule: int) -> Match:
    path = raw.get("path") or {}
    path_type, value = path.get("type") or "PathPrefix", path.get("value") if path.get("value") is not None else "/"
    if path_type in ("Exact", "PathPrefix"):
        problem = o.path_problem(value)
        if problem:
            raise Unsupported(f"{where}.path.value: {value!r} {problem}")
        # nginx matches the decoded, normalised path ($uri): compare it with the decoded value.
        value = urllib.parse.unquote(value)
    elif path_type == "RegularExpression":
        _regex(value, f"{where}.path.value")
        if not value.startswith("/") and not value.startswith("^/"):
            raise Unsupported(f"{where}.path.value: a path regex must start with / (it matches the whole path)")
    else:
        raise Unsupported(f"{where}.path.type: {path_type!r} is not Exact, PathPrefix or RegularExpression")
    method = raw.get("method")
    if method is not None and method not in METHODS:
        raise Unsupported(f"{where}.method: {method!r} is not an HTTP method the spec lists")
    headers = tuple(_value_match(h, f"{where}.headers[{i}]", header=True) for i, h in enumerate(raw.get("headers") or []))
    query = tuple(_value_match(q, f"{where}.queryParams[{i}]", header=False)
                  for i, q in enumerate(raw.get("queryParams") or []))
    for label, items in (("headers", headers), ("queryParams", query)):
        names = [(x.name.lower() if label == "headers" else x.name) for x in items]
        if len(set(names)) != len(names):
            raise Unsupported(f"{where}.{label}: a name may appear only once")
    uses_prefix = any(pc and pc.type == "ReplacePrefixMatch" for pc in (
        filters["redirect"] and filters["redirect"].path, filters["rewrite"] and filters["rewrite"].path))
    if uses_prefix and path_type != "PathPrefix":
        raise Unsupported(f"{where}.path.type: ReplacePrefixMatch needs a PathPrefix match, not {path_type}")
    action = Action(route=route, rule=rule, group=group, request_headers=filters["request_headers"],
                    response_headers=filters["response_headers"], redirect=filters["redirect"],
                    rewrite=filters["rewrite"], mirrors=tuple(filters["mirrors"]),
                    prefix=value if path_type == "PathPrefix" else None)
    return Match(path_type, value, action, method, headers, query)


def _regex(value, where: str) -> None:
    if not isinstance(value, str) or not value or len(value) > 1024 or o.has_control_characters(value):
        raise Unsupported(f"{where}: a regular expression of 1 to 1024 printable characters is required")
    try:
        re.compile(value)
    except re.error as error:
        raise Unsupported(f"{where}: {value!r} is not a valid regular expression ({error})") from None
    if "(?" in value:   # Python and PCRE differ on extensions; keep to the common subset
        raise Unsupported(f"{where}: regex extensions '(?…)' are not supported")


def _value_match(raw: Mapping, where: str, *, header: bool) -> ValueMatch:
    name, value, type_ = raw.get("name"), raw.get("value"), raw.get("type") or "Exact"
    if not isinstance(name, str) or not (o.HEADER_NAME.fullmatch(name) if header else
                                         re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}", name)):
        raise Unsupported(f"{where}.name: {name!r} is not a valid {'header' if header else 'query param'} name")
    if not isinstance(value, str) or len(value) > 4096 or o.has_control_characters(value):
        raise Unsupported(f"{where}.value: must be a string of at most 4096 characters without control characters")
    if type_ == "RegularExpression":
        _regex(value, f"{where}.value")
    elif type_ != "Exact":
        raise Unsupported(f"{where}.type: {type_!r} is not Exact or RegularExpression")
    return ValueMatch(name, value, type_)


def _header_changes(raw: Mapping, where: str) -> HeaderChanges:
    def pairs(key: str):
        out = []
        for i, h in enumerate(raw.get(key) or []):
            name, value = h.get("name"), h.get("value")
            if not isinstance(name, str) or not o.HEADER_NAME.fullmatch(name):
                raise Unsupported(f"{where}.{key}[{i}].name: {name!r} is not a valid header name")
            if not isinstance(value, str) or len(value) > 4096 or o.has_control_characters(value):
                raise Unsupported(f"{where}.{key}[{i}].value: must be at most 4096 characters, no control characters")
            out.append((name, value))
        return tuple(out)
    remove = tuple(raw.get("remove") or [])
    for i, name in enumerate(remove):
        if not isinstance(name, str) or not o.HEADER_NAME.fullmatch(name):
            raise Unsupported(f"{where}.remove[{i}]: {name!r} is not a valid header name")
    return HeaderChanges(pairs("set"), pairs("add"), remove)


def _path_change(raw: Mapping | None, where: str) -> PathChange | None:
    if not raw:
        return None
    type_ = raw.get("type")
    key = {"ReplaceFullPath": "replaceFullPath", "ReplacePrefixMatch": "replacePrefixMatch"}.get(type_)
    if key is None:
        raise Unsupported(f"{where}.type: {type_!r} is not ReplaceFullPath or ReplacePrefixMatch")
    value = raw.get(key)
    if value is None:
        raise Unsupported(f"{where}.{key}: required for type {type_}")
    if value != "" and o.path_problem(value):
        raise Unsupported(f"{where}.{key}: {value!r} {o.path_problem(value)}")
    return PathChange(type_, urllib.parse.unquote(value))   # decoded like $uri; nginx/gateway.lua re-escape it


def _filters(raw_filters: list, where: str, route, grants, cluster, backends, problems) -> dict:
    out = {"request_headers": None, "response_headers": None, "redirect": None, "rewrite": None, "mirrors": []}
    for f, raw in enumerate(raw_filters):
        at = f"{where}.filters[{f}]"
        kind = raw.get("type")
        if kind == "RequestHeaderModifier":
            out["request_headers"] = _header_changes(raw.get("requestHeaderModifier") or {}, f"{at}.requestHeaderModifier")
        elif kind == "ResponseHeaderModifier":
            out["response_headers"] = _header_changes(raw.get("responseHeaderModifier") or {},
                                                      f"{at}.responseHeaderModifier")
        elif kind == "RequestRedirect":
            r = raw.get("requestRedirect") or {}
            code = r.get("statusCode", 302)
            if code not in REDIRECT_CODES:
                raise Unsupported(f"{at}.requestRedirect.statusCode: {code!r} is not one of {REDIRECT_CODES}")
            scheme = r.get("scheme")
            if scheme not in (None, "http", "https"):
                raise Unsupported(f"{at}.requestRedirect.scheme: {scheme!r} is not http or https")
            host = r.get("hostname")
            if host is not None and (o.hostname_problem(host) or host.startswith("*")):
                raise Unsupported(f"{at}.requestRedirect.hostname: {host!r} must be a hostname without wildcard")
            port = r.get("port")
            if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
                raise Unsupported(f"{at}.requestRedirect.port: must be 1-65535")
            out["redirect"] = Redirect(scheme, host, port, _path_change(r.get("path"), f"{at}.requestRedirect.path"),
                                       code)
        elif kind == "URLRewrite":
            r = raw.get("urlRewrite") or {}
            host = r.get("hostname")
            if host is not None and (o.hostname_problem(host) or host.startswith("*")):
                raise Unsupported(f"{at}.urlRewrite.hostname: {host!r} must be a hostname without wildcard")
            out["rewrite"] = Rewrite(host, _path_change(r.get("path"), f"{at}.urlRewrite.path"))
        elif kind == "RequestMirror":
            ref = (raw.get("requestMirror") or {}).get("backendRef") or {}
            backend = _backend(ref, f"{at}.requestMirror.backendRef", route, grants, cluster, problems)
            if backend is not None:
                backends.append(backend)
                out["mirrors"].append(backend.name)
            if len(out["mirrors"]) > 1:
                raise Unsupported(f"{at}: one RequestMirror per rule is supported")
        else:
            raise Unsupported(f"{at}.type: {kind!r} is not supported (RequestHeaderModifier, "
                              "ResponseHeaderModifier, RequestRedirect, URLRewrite, RequestMirror are)")
    if out["redirect"] and out["rewrite"]:
        raise Unsupported(f"{where}.filters: RequestRedirect and URLRewrite cannot be used together")
    return out


def _backend(ref: Mapping, where: str, route, grants, cluster, problems: list) -> Backend | None:
    """The Backend for a backendRef, or None after noting why (InvalidKind, RefNotPermitted, BackendNotFound)."""
    route_ns = o.namespace_of(route)
    group, kind, name = ref.get("group") or "", ref.get("kind") or "Service", ref.get("name")
    if group != "" or kind != "Service":
        problems.append(("InvalidKind", f"{where}: {group or 'core'}/{kind} is not a Service"))
        return None
    target_ns = ref.get("namespace") or route_ns
    if not o.grant_allows(grants, from_group=o.GROUP, from_kind="HTTPRoute", from_namespace=route_ns, to_group="",
                          to_kind="Service", to_namespace=target_ns, to_name=name):
        problems.append(("RefNotPermitted", f"{where}: Service {target_ns}/{name} is in another namespace and no "
                                            "ReferenceGrant there allows it"))
        return None
    port = ref.get("port")
    if not isinstance(port, int) or isinstance(port, bool):
        problems.append(("BackendNotFound", f"{where}.port: a Service backendRef needs a port number"))
        return None
    service, sp, problem = cluster.service_port(target_ns, name, port)
    if problem:
        problems.append(("BackendNotFound", f"{where}: {problem}"))
        return None
    endpoints = cluster.ready_endpoints(target_ns, name, sp)
    return Backend(upstream_name(target_ns, name, port), target_ns, name, port, endpoints)
