"""Pure helpers on Gateway API objects as plain dicts (what a watch on a real cluster delivers).

Names and keys, the spec's hostname rules (a wildcard `*.example.com` matches one or more labels in place of `*`,
never `example.com` itself), the intersection of a listener's hostname with a route's hostnames, ReferenceGrant
checks for cross-namespace references, and status conditions in the shape the API wants (type, status, reason,
message, observedGeneration, lastTransitionTime — kept from the previous status when nothing changed, as
controllers must, so that a status write does not churn).

Neighbours: `translate.py` and `routes.py` call these; nothing here knows nginx.
"""
from __future__ import annotations

import datetime
import re
from typing import Iterable, Mapping

GROUP = "gateway.networking.k8s.io"
CONTROLLER_NAME = "ingresslab.dev/gateway-controller"
"""The `spec.controllerName` of GatewayClasses this controller serves."""
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")
"""The spec's Hostname: a DNS-1123 subdomain, optionally with a wildcard first label (never an IP address)."""
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}")
"""The spec's HTTPHeaderName (RFC 7230 token)."""
PATH_VALUE = re.compile(r"/(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})*")
"""The spec's validation of Exact and PathPrefix values (plus the CEL rules in `path_problem`)."""


def meta(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("metadata") or {}


def namespace_of(obj: Mapping, default: str = "default") -> str:
    return meta(obj).get("namespace") or default


def key(obj: Mapping) -> str:
    """`namespace/name` (or `name` for cluster-scoped objects)."""
    ns = meta(obj).get("namespace")
    return f"{ns}/{meta(obj).get('name')}" if ns else str(meta(obj).get("name"))


def generation(obj: Mapping) -> int:
    value = meta(obj).get("generation")
    return value if isinstance(value, int) else 1


def age_key(obj: Mapping) -> tuple[str, str]:
    """Oldest first, then `namespace/name`: the spec's tie-break between routes."""
    return (meta(obj).get("creationTimestamp") or "", key(obj))


def is_ip(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*", value))


def hostname_problem(value) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if is_ip(value):
        return "must be a DNS name, not an IP address"
    if len(value) > 253 or not HOSTNAME.fullmatch(value):
        return "must be a lowercase RFC 1123 hostname, optionally with a wildcard `*.` as its whole first label"
    return None


def path_problem(value) -> str | None:
    """Why an Exact/PathPrefix value is invalid (the spec's pattern and CEL rules), or None."""
    if not isinstance(value, str) or not PATH_VALUE.fullmatch(value) or len(value) > 1024:
        return "must be an absolute path of URL characters (at most 1024)"
    for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
        if bad in value:
            return f"must not contain {bad!r}"
    if value.endswith("/..") or value.endswith("/."):
        return "must not end with '/..' or '/.'"
    return None


def has_control_characters(value: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def wildcard_covers(wildcard: str, hostname: str) -> bool:
    """`*.example.com` covers `a.example.com`, `a.b.example.com`, and the narrower wildcard `*.a.example.com`."""
    suffix = wildcard[1:]   # ".example.com"
    if hostname.startswith("*."):
        return hostname[1:].endswith(suffix) and len(hostname) > len(wildcard) or hostname == wildcard
    return hostname.endswith(suffix) and len(hostname) > len(suffix)


def host_matches(pattern: str | None, hostname: str) -> bool:
    """Does a request for `hostname` reach a listener/route hostname `pattern` (None: any host)?"""
    if pattern is None:
        return True
    if pattern.startswith("*."):
        return wildcard_covers(pattern, hostname)
    return pattern == hostname


def intersect(listener: str | None, route_hostnames: Iterable[str]) -> list[str | None]:
    """The hostnames a route serves through a listener; `[None]` means any host, `[]` no intersection."""
    hostnames = list(route_hostnames)
    if not hostnames:
        return [listener]
    if listener is None:
        return list(dict.fromkeys(hostnames))
    found: list[str] = []
    for h in hostnames:
        if h == listener:
            found.append(h)
        elif listener.startswith("*.") and wildcard_covers(listener, h):
            found.append(h)          # the route's name is the narrower one
        elif h.startswith("*.") and wildcard_covers(h, listener):
            found.append(listener)   # the listener's name is the narrower one
    return list(dict.fromkeys(found))


def specificity(hostname: str | None) -> tuple[int, int]:
    """Sort key, most specific first: exact names before wildcards, longer before shorter, any host last."""
    if hostname is None:
        return (2, 0)
    if hostname.startswith("*."):
        return (1, -len(hostname))
    return (0, -len(hostname))


def grant_allows(grants: Iterable[Mapping], *, from_group: str, from_kind: str, from_namespace: str,
                 to_group: str, to_kind: str, to_namespace: str, to_name: str) -> bool:
    """Does a ReferenceGrant in `to_namespace` allow this reference? Same-namespace references need none."""
    if from_namespace == to_namespace:
        return True
    for grant in grants:
        if namespace_of(grant) != to_namespace:
            continue
        spec = grant.get("spec") or {}
        from_ok = any((f.get("group") or "") == from_group and f.get("kind") == from_kind
                      and f.get("namespace") == from_namespace for f in spec.get("from") or [])
        to_ok = any((t.get("group") or "") == to_group and t.get("kind") == to_kind
                    and (not t.get("name") or t.get("name") == to_name) for t in spec.get("to") or [])
        if from_ok and to_ok:
            return True
    return False


def selector_matches(selector: Mapping | None, labels: Mapping | None) -> bool:
    """A LabelSelector (matchLabels and matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    selector, labels = selector or {}, labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, ok: bool, reason: str, message: str, gen: int, *, previous: Iterable[Mapping] = (),
              now: str | None = None) -> dict:
    """One status condition; `lastTransitionTime` is kept from `previous` when the status did not change."""
    status = "True" if ok else "False"
    before = next((c for c in previous or () if c.get("type") == type_), None)
    when = before.get("lastTransitionTime") if before and before.get("status") == status else None
    return {"type": type_, "status": status, "reason": reason, "message": message, "observedGeneration": gen,
            "lastTransitionTime": when or now or now_rfc3339()}


def gateway_class_status(gateway_class: Mapping, *, controller_name: str = CONTROLLER_NAME,
                         now: str | None = None) -> dict | None:
    """The status our controller writes on a GatewayClass it owns (None: not ours, leave it alone)."""
    if (gateway_class.get("spec") or {}).get("controllerName") != controller_name:
        return None
    previous = (gateway_class.get("status") or {}).get("conditions") or []
    params = (gateway_class.get("spec") or {}).get("parametersRef")
    if params:
        cond = condition("Accepted", False, "InvalidParameters",
                         "this controller takes no parametersRef", generation(gateway_class), previous=previous,
                         now=now)
    else:
        cond = condition("Accepted", True, "Accepted", "handled by the ingresslab Gateway controller (nginx)",
                         generation(gateway_class), previous=previous, now=now)
    return {"conditions": [cond]}
