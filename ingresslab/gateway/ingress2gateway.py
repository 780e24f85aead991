"""Ingress objects → Gateway API YAML, with plain notes on everything that has no equivalent.

`convert(ingresses, services=..., ingress_classes=...)` follows the upstream migration tool
(kubernetes-sigs/ingress2gateway, its common converter and ingress-nginx provider), in our own words:
  * one Gateway per IngressClass and namespace, named after the class, `gatewayClassName` the class name
    (the lab's GatewayClass is called `nginx`, like NGINX Gateway Fabric's, so the output applies unchanged);
  * per host a listener `<host-name>-http` on port 80, and `<host-name>-https` on 443 (tls.mode Terminate,
    certificateRefs from the Ingress's `tls` Secrets) when the host is under `tls`; `all-hosts-…` without host;
  * one HTTPRoute per Ingress and host, `<ingress>-<host-name>`, bound to its host's listener; one rule per
    path: Prefix → PathPrefix, Exact → Exact, ImplementationSpecific → PathPrefix (noted: ingress-nginx treats
    it as a prefix too); a `defaultBackend` becomes `<ingress>-default-backend`, a catch-all route;
  * annotations with an equivalent (`ANNOTATIONS` says which and how): ssl-redirect (a TLS host's plain-HTTP
    listener gets `<route>-http` answering RequestRedirect https 308, ingress-nginx's own code; the rules are
    served on the HTTPS listener), force-ssl-redirect, rewrite-target without captures → URLRewrite
    ReplaceFullPath (the common `/path(/|$)(.*)` + `/$2` → ReplacePrefixMatch `/`), use-regex →
    RegularExpression, canary + canary-weight → weighted backendRefs on the primary Ingress's rule,
    canary-by-header(-value) → a header-matched rule, app-root / permanent-redirect / temporal-redirect →
    RequestRedirect, upstream-vhost → URLRewrite hostname, backend-protocol HTTP (nothing to do);
    every other `nginx.ingress.kubernetes.io/` annotation is listed as having no equivalent.

Input is plain dicts (networking.k8s.io/v1, and the article's extensions/v1beta1 form); output is YAML text and a
list of notes. Neighbours: `cli.py` (`ingresslab ingress2gateway`) reads files or a cluster and prints both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import urlsplit

import yaml

from . import objects as o

PREFIX = "nginx.ingress.kubernetes.io/"
DEFAULT_CLASS = "nginx"
GATEWAY_API = "gateway.networking.k8s.io/v1"

ANNOTATIONS = {
    "ssl-redirect": "TLS hosts: the HTTP listener answers RequestRedirect https 308 (\"false\" keeps plain HTTP)",
    "force-ssl-redirect": "RequestRedirect https 308 on the HTTP listener, even without a certificate",
    "rewrite-target": "URLRewrite ReplaceFullPath (or ReplacePrefixMatch for the /path(/|$)(.*) + /$2 idiom)",
    "use-regex": "paths become RegularExpression matches",
    "canary": "the canary Ingress's backend joins the primary's rule",
    "canary-weight": "weighted backendRefs (weight, total - weight)",
    "canary-weight-total": "the total of canary-weight (default 100)",
    "canary-by-header": "a rule matching the header (value `always`, or canary-by-header-value)",
    "canary-by-header-value": "the exact header value for canary-by-header",
    "backend-protocol": "HTTP needs nothing; HTTPS/GRPC/GRPCS have no HTTPRoute equivalent (noted)",
    "app-root": "RequestRedirect 302 of Exact / to the app root",
    "permanent-redirect": "RequestRedirect 301 (or permanent-redirect-code)",
    "permanent-redirect-code": "the status of permanent-redirect",
    "temporal-redirect": "RequestRedirect 302 (or temporal-redirect-code)",
    "temporal-redirect-code": "the status of temporal-redirect",
    "upstream-vhost": "URLRewrite hostname",
}
"""The ingress-nginx annotations this converter maps, and how (data, as ingress-nginx declares annotations)."""

REDIRECT_CODES = (301, 302, 303, 307, 308)


def name_from_host(host: str) -> str:
    """The upstream tool's listener/route naming: non-alphanumerics → `-`, leading ones dropped; no host →
    `all-hosts`."""
    if not host or host == "*":
        return "all-hosts"
    return re.sub(r"^[^a-zA-Z0-9]+", "", re.sub(r"[^a-zA-Z0-9]+", "-", host)).lower()


@dataclass
class _Path:
    path_type: str
    path: str
    service: str
    port: int | str


@dataclass
class _Converter:
    services: dict
    default_class: str
    gateway_class: str | None
    notes: list[str] = field(default_factory=list)
    gateways: dict = field(default_factory=dict)      # (ns, class) → {"listeners": {name: listener}}
    routes: dict = field(default_factory=dict)        # (ns, name) → HTTPRoute
    primary_rules: dict = field(default_factory=dict)  # (ns, class, host, type, path) → rule dict

    def note(self, ingress: Mapping, text: str) -> None:
        self.notes.append(f"Ingress {o.namespace_of(ingress)}/{o.meta(ingress).get('name')}: {text}")

    def port_number(self, ingress: Mapping, service: str, port) -> int | None:
        if isinstance(port, int):
            return port
        ns = o.namespace_of(ingress)
        for sp in ((self.services.get((ns, service)) or {}).get("spec") or {}).get("ports") or []:
            if sp.get("name") == port:
                return sp.get("port")
        self.note(ingress, f"Service {ns}/{service} port {port!r} is named; its number is unknown (no such "
                           "Service was given), so the backendRef has no port — fill it in")
        return None

    def backend_ref(self, ingress: Mapping, service: str, port, weight: int | None = None) -> dict:
        ref: dict = {"name": service}
        number = self.port_number(ingress, service, port)
        if number is not None:
            ref["port"] = number
        if weight is not None:
            ref["weight"] = weight
        return ref


def _class_of(ingress: Mapping, default: str) -> str:
    return (ingress.get("spec") or {}).get("ingressClassName") or \
        (o.meta(ingress).get("annotations") or {}).get("kubernetes.io/ingress.class") or default


def _backend(raw: Mapping | None) -> tuple[str, int | str] | None:
    """(service, port) from a v1 backend or the legacy serviceName/servicePort form."""
    raw = raw or {}
    if "serviceName" in raw:
        return raw.get("serviceName"), raw.get("servicePort")
    svc = raw.get("service") or {}
    if not svc:
        return None
    port = svc.get("port") or {}
    return svc.get("name"), port.get("number") if port.get("number") is not None else port.get("name")


def _annotations(ingress: Mapping) -> dict[str, str]:
    return {k[len(PREFIX):]: str(v) for k, v in (o.meta(ingress).get("annotations") or {}).items()
            if k.startswith(PREFIX)}


def _is_true(value: str | None) -> bool:
    return str(value).lower() == "true"


def convert(ingresses: Iterable[Mapping], *, services: Iterable[Mapping] = (),
            ingress_classes: Iterable[Mapping] = (), gateway_class: str | None = None) -> tuple[str, list[str]]:
    """Ingress dicts → (multi-document Gateway API YAML, notes in plain words). `services` resolve named ports;
    `ingress_classes` find the default class for Ingresses without one; `gateway_class` overrides the
    `gatewayClassName` (default: the IngressClass's name, as the upstream tool does)."""
    default = DEFAULT_CLASS
    for ic in ingress_classes:
        if (o.meta(ic).get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class") == "true":
            default = o.meta(ic).get("name")
    conv = _Converter({(o.namespace_of(s), o.meta(s).get("name")): s for s in services}, default, gateway_class)
    items = [i for i in ingresses if i.get("kind", "Ingress") == "Ingress"]
    primaries = [i for i in items if not _is_true(_annotations(i).get("canary"))]
    canaries = [i for i in items if _is_true(_annotations(i).get("canary"))]
    for ingress in sorted(primaries, key=o.age_key):
        _convert_ingress(conv, ingress)
    for ingress in sorted(canaries, key=o.age_key):
        _merge_canary(conv, ingress)
    docs = []
    for (ns, cls), gw in sorted(conv.gateways.items()):
        docs.append({"apiVersion": GATEWAY_API, "kind": "Gateway", "metadata": {"name": cls, "namespace": ns},
                     "spec": {"gatewayClassName": gateway_class or cls, "listeners": list(gw.values())}})
    docs += [conv.routes[k] for k in sorted(conv.routes)]
    text = yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False) if docs else ""
    return text, conv.notes


def _listener(conv: _Converter, ns: str, cls: str, host: str, https: bool, secrets: list[str]) -> str:
    listeners = conv.gateways.setdefault((ns, cls), {})
    name = f"{name_from_host(host)}-{'https' if https else 'http'}"
    entry = listeners.setdefault(name, {"name": name, **({"hostname": host} if host else {}),
                                        "port": 443 if https else 80, "protocol": "HTTPS" if https else "HTTP"})
    if https:
        refs = entry.setdefault("tls", {"mode": "Terminate", "certificateRefs": []})["certificateRefs"]
        for secret in secrets:
            if {"kind": "Secret", "name": secret} not in refs:
                refs.append({"kind": "Secret", "name": secret})
    return name


def _tls_secrets(ingress: Mapping, host: str) -> list[str] | None:
    """The Secrets naming `host` under `tls` (None: the host is not a TLS host)."""
    found = None
    for entry in (ingress.get("spec") or {}).get("tls") or []:
        hosts = entry.get("hosts") or []
        if host and host in hosts or (not hosts and host):
            found = (found or []) + ([entry["secretName"]] if entry.get("secretName") else [])
    return found


def _paths(conv: _Converter, ingress: Mapping, rule: Mapping, ann: dict) -> list[_Path]:
    out = []
    for p in ((rule.get("http") or {}).get("paths") or []):
        backend = _backend(p.get("backend"))
        if backend is None:
            conv.note(ingress, f"path {p.get('path')!r} has a resource backend: no Gateway API equivalent, skipped")
            continue
        path_type = p.get("pathType") or "ImplementationSpecific"
        if path_type == "ImplementationSpecific" and not _is_true(ann.get("use-regex")):
            conv.note(ingress, f"path {p.get('path') or '/'!r} is ImplementationSpecific (or has no pathType): "
                               "converted to PathPrefix, as ingress-nginx treats it")
        out.append(_Path(path_type, p.get("path") or "/", backend[0], backend[1]))
    return out


def _rewrite_and_match(conv: _Converter, ingress: Mapping, ann: dict, path: _Path) -> tuple[dict, list[dict]]:
    """The match for one Ingress path and the filters its annotations imply."""
    filters: list[dict] = []
    target = ann.get("rewrite-target")
    regex = _is_true(ann.get("use-regex")) or (target is not None and "$" in target)
    idiom = re.fullmatch(r"(/[^()$^*+?\[\]{}|\\]*?)/?\(/\|\$\)\(\.\*\)", path.path)
    if target is not None and idiom and target in ("/$2", "/$2/"):
        match = {"path": {"type": "PathPrefix", "value": idiom.group(1) or "/"}}
        filters.append({"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch",
                                                                      "replacePrefixMatch": "/"}}})
        return match, filters
    if regex:
        value = path.path if path.path.endswith("$") or path.path.endswith(".*") else path.path + ".*"
        match = {"path": {"type": "RegularExpression", "value": value}}
        conv.note(ingress, f"path {path.path!r} becomes the RegularExpression {value!r}: ingress-nginx matched it "
                           "case-insensitively as a prefix; Gateway API regexes are implementation-specific "
                           "(this lab: whole path, case-sensitive)")
    else:
        gw_type = {"Exact": "Exact"}.get(path.path_type, "PathPrefix")
        match = {"path": {"type": gw_type, "value": path.path}}
    if target is not None:
        if "$" in target:
            conv.note(ingress, f"rewrite-target {target!r} uses regex captures: no Gateway API equivalent, "
                               "not converted — rewrite the route by hand")
        else:
            filters.append({"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath",
                                                                          "replaceFullPath": target}}})
    if ann.get("upstream-vhost"):
        filters = [f for f in filters if f["type"] != "URLRewrite"] + [
            {"type": "URLRewrite", "urlRewrite": {**next((f["urlRewrite"] for f in filters
                                                         if f["type"] == "URLRewrite"), {}),
                                                  "hostname": ann["upstream-vhost"]}}]
    return match, filters


def _redirect_filter(conv: _Converter, ingress: Mapping, ann: dict) -> dict | None:
    for kind, default_code in (("temporal-redirect", 302), ("permanent-redirect", 301)):
        url = ann.get(kind)
        if not url:
            continue
        code = int(ann.get(f"{kind}-code") or default_code) if str(ann.get(f"{kind}-code") or "").isdigit() \
            else default_code
        if code not in REDIRECT_CODES:
            conv.note(ingress, f"{kind}-code {code} is not a Gateway API redirect code; using {default_code}")
            code = default_code
        parts = urlsplit(url)
        redirect: dict = {"statusCode": code}
        if parts.scheme:
            redirect["scheme"] = parts.scheme
        if parts.hostname:
            redirect["hostname"] = parts.hostname
        if parts.port:
            redirect["port"] = parts.port
        if parts.path:
            redirect["path"] = {"type": "ReplaceFullPath", "replaceFullPath": parts.path}
        if parts.query:
            conv.note(ingress, f"{kind} {url!r}: the query string has no RequestRedirect equivalent, dropped")
        return {"type": "RequestRedirect", "requestRedirect": redirect}
    return None


def _convert_ingress(conv: _Converter, ingress: Mapping) -> None:
    ns, name = o.namespace_of(ingress), o.meta(ingress).get("name")
    cls = _class_of(ingress, conv.default_class)
    ann = _annotations(ingress)
    for key in sorted(ann):
        if key not in ANNOTATIONS:
            conv.note(ingress, f"annotation {PREFIX}{key} has no Gateway API equivalent: not converted")
    protocol = (ann.get("backend-protocol") or "HTTP").upper()
    if protocol != "HTTP":
        conv.note(ingress, f"backend-protocol {protocol}: HTTPRoute speaks HTTP to backends; "
                           + ("gRPC needs a GRPCRoute" if protocol.startswith("GRPC") else "")
                           + (" and " if protocol == "GRPCS" else "")
                           + ("TLS to the backend needs a BackendTLSPolicy" if protocol in ("HTTPS", "GRPCS") else "")
                           + " — not generated")
    redirect = _redirect_filter(conv, ingress, ann)
    spec = ingress.get("spec") or {}
    for rule in spec.get("rules") or []:
        host = rule.get("host") or ""
        if host.startswith("*."):
            conv.note(ingress, f"host {host}: an Ingress wildcard stands for exactly one label, a Gateway API "
                               "wildcard for one or more (a.b" + host[1:] + " now matches too)")
        secrets = _tls_secrets(ingress, host)
        tls = secrets is not None
        ssl_redirect = (tls and ann.get("ssl-redirect", "true").lower() != "false") or _is_true(
            ann.get("force-ssl-redirect"))
        http_listener = _listener(conv, ns, cls, host, False, [])
        main_listener = _listener(conv, ns, cls, host, tls, secrets or [])
        if not tls and ssl_redirect:
            http_listener = main_listener
            conv.note(ingress, f"force-ssl-redirect on {host or 'all hosts'} without a certificate: HTTP is "
                               "redirected to an HTTPS listener this conversion does not create")
        rules = []
        redirects = []
        if ann.get("app-root"):
            rules.append({"matches": [{"path": {"type": "Exact", "value": "/"}}], "filters": [
                {"type": "RequestRedirect", "requestRedirect": {
                    "path": {"type": "ReplaceFullPath", "replaceFullPath": ann["app-root"]}, "statusCode": 302}}]})
        for path in _paths(conv, ingress, rule, ann):
            match, filters = _rewrite_and_match(conv, ingress, ann, path)
            if redirect:
                entry = {"matches": [match], "filters": [redirect]}
            else:
                entry = {"matches": [match], **({"filters": filters} if filters else {}),
                         "backendRefs": [conv.backend_ref(ingress, path.service, path.port)]}
                conv.primary_rules.setdefault((ns, cls, host, match["path"]["type"], match["path"]["value"]),
                                              (entry, ingress))
            rules.append(entry)
            redirects.append({"matches": [match], "filters": [
                {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 308}}]})
        if not rules:
            continue
        route_name = f"{name}-{name_from_host(host)}"
        # A TLS host without ssl-redirect is served on both listeners, as ingress-nginx serves it on both ports.
        sections = [main_listener] if ssl_redirect or not tls else [http_listener, main_listener]
        _add_route(conv, ns, route_name, cls, sections, host, rules)
        if ssl_redirect:
            if tls:
                _add_route(conv, ns, f"{route_name}-http", cls, [http_listener], host, redirects)
            else:   # the same listener: the redirect replaces serving plain HTTP
                conv.routes[(ns, route_name)]["spec"]["rules"] = redirects
    default = _backend(spec.get("defaultBackend") or spec.get("backend"))
    if default:
        conv.gateways.setdefault((ns, cls), {})
        if not conv.gateways[(ns, cls)]:
            _listener(conv, ns, cls, "", False, [])
        conv.routes[(ns, f"{name}-default-backend")] = {
            "apiVersion": GATEWAY_API, "kind": "HTTPRoute",
            "metadata": {"name": f"{name}-default-backend", "namespace": ns},
            "spec": {"parentRefs": [{"name": cls}], "rules": [{"backendRefs": [
                conv.backend_ref(ingress, default[0], default[1])]}]}}


def _add_route(conv: _Converter, ns: str, name: str, cls: str, sections: list[str], host: str, rules: list) -> None:
    route = conv.routes.setdefault((ns, name), {
        "apiVersion": GATEWAY_API, "kind": "HTTPRoute", "metadata": {"name": name, "namespace": ns},
        "spec": {"parentRefs": [{"name": cls, "sectionName": section} for section in sections],
                 **({"hostnames": [host]} if host else {}), "rules": []}})
    route["spec"]["rules"] += rules


def _merge_canary(conv: _Converter, ingress: Mapping) -> None:
    """A canary Ingress: its backend joins the rule of the primary Ingress with the same host and path."""
    ns, cls, ann = o.namespace_of(ingress), _class_of(ingress, conv.default_class), _annotations(ingress)
    for key in sorted(ann):
        if key not in ANNOTATIONS:
            conv.note(ingress, f"annotation {PREFIX}{key} has no Gateway API equivalent: not converted")
    for extra in ("canary-by-header-pattern", "canary-by-cookie"):
        if ann.get(extra):
            conv.note(ingress, f"{extra} has no Gateway API equivalent: not converted")
    try:
        weight = int(ann.get("canary-weight") or 0)
        total = int(ann.get("canary-weight-total") or 100)
    except ValueError:
        conv.note(ingress, "canary-weight or canary-weight-total is not a number: no traffic is shifted")
        weight, total = 0, 100
    weight = max(0, min(weight, total))
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        host = rule.get("host") or ""
        for path in _paths(conv, ingress, rule, ann):
            match, _ = _rewrite_and_match(conv, ingress, ann, path)
            found = conv.primary_rules.get((ns, cls, host, match["path"]["type"], match["path"]["value"]))
            if not found:
                conv.note(ingress, f"canary for {host or 'any host'}{path.path}: no primary Ingress serves that "
                                   "host and path, so there is nothing to split — skipped")
                continue
            entry, primary = found
            canary_ref = conv.backend_ref(ingress, path.service, path.port)
            if ann.get("canary-by-header"):
                value = ann.get("canary-by-header-value") or "always"
                header_rule = {"matches": [{**match, "headers": [{"name": ann["canary-by-header"], "value": value}]}],
                               **({"filters": entry["filters"]} if entry.get("filters") else {}),
                               "backendRefs": [canary_ref]}
                for route in conv.routes.values():
                    if entry in route["spec"]["rules"]:
                        route["spec"]["rules"].append(header_rule)
            if ann.get("canary-weight") is not None or not ann.get("canary-by-header"):
                primary_ref = entry["backendRefs"][0]
                primary_ref["weight"] = total - weight
                entry["backendRefs"].append({**canary_ref, "weight": weight})
