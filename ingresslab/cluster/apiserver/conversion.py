"""Ingress version conversion: the `extensions/v1beta1` manifests of older articles, stored as networking.k8s.io/v1.

Kubernetes removed `extensions/v1beta1` and `networking.k8s.io/v1beta1` Ingress in 1.22. The lab still serves the
old paths (see `resources.py`: `served_only=True`) because the seed article and many tutorials use them, but it
stores only v1 — as a real API server stores one version and converts on the way in and out. Creating through an
old path answers with the real deprecation warning, plus one line in our words showing the learner what their first
backend became in v1, so the old manifest teaches the new shape.

Pure functions on dicts; the API layer (`api.py`) calls them and sends the warnings as `Warning:` headers.
"""
from __future__ import annotations

import copy

V1 = "networking.k8s.io/v1"
LEGACY_VERSIONS = {
    "extensions/v1beta1": "extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; "
                          "use networking.k8s.io/v1 Ingress",
    "networking.k8s.io/v1beta1": "networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, unavailable in v1.22+; "
                                 "use networking.k8s.io/v1 Ingress",
}


def deprecation_warning(api_version: str) -> str | None:
    """The API server's warning text for a deprecated Ingress version, or None for v1."""
    return LEGACY_VERSIONS.get(api_version)


def _backend_to_v1(backend: dict) -> dict:
    """`{serviceName, servicePort}` → `{service: {name, port: {number|name}}}`; `resource` is kept as it is.

    servicePort is an int-or-string: a number becomes `port.number`, a string `port.name` — even a string of
    digits ("80"), exactly as Kubernetes converts it (and then refuses it: a port name needs a letter).
    """
    out = {k: copy.deepcopy(v) for k, v in backend.items() if k not in ("serviceName", "servicePort")}
    if "serviceName" in backend or "servicePort" in backend:
        port = backend.get("servicePort")
        service: dict = {"name": backend.get("serviceName", "")}
        if isinstance(port, bool) or port is None:
            service["port"] = {}
        elif isinstance(port, int):
            service["port"] = {"number": port}
        else:
            service["port"] = {"name": str(port)}
        out["service"] = service
    return out


def _backend_to_v1beta1(backend: dict) -> dict:
    out = {k: copy.deepcopy(v) for k, v in backend.items() if k != "service"}
    service = backend.get("service")
    if service is not None:
        port = service.get("port") or {}
        out["serviceName"] = service.get("name", "")
        if port.get("number"):
            out["servicePort"] = port["number"]
        elif port.get("name"):
            out["servicePort"] = port["name"]
    return out


def _short(value) -> str:
    """A YAML flow-style rendering for the warning line: `{name: tea-svc, port: {number: 80}}`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def ingress_v1beta1_to_v1(obj: dict) -> tuple[dict, list[str]]:
    """Convert an `extensions/v1beta1` or `networking.k8s.io/v1beta1` Ingress to networking.k8s.io/v1.

    `spec.backend` → `spec.defaultBackend`; every `serviceName`/`servicePort` → `service: {name, port}`; a path
    without `pathType` gets `ImplementationSpecific` (the v1beta1 default, which ingress-nginx treats as Prefix).
    Everything else — metadata with the `kubernetes.io/ingress.class` annotation, `ingressClassName`, `tls`,
    `status` — is kept. Returns the v1 object and the warnings to send (none for an object already in v1).
    """
    api_version = obj.get("apiVersion", "")
    if api_version == V1:
        return copy.deepcopy(obj), []
    if api_version not in LEGACY_VERSIONS or obj.get("kind", "Ingress") != "Ingress":
        raise ValueError(f"not a legacy Ingress: apiVersion {api_version!r}, kind {obj.get('kind')!r}")
    out = copy.deepcopy(obj)
    out["apiVersion"] = V1
    out["kind"] = "Ingress"
    spec = out.get("spec")
    first: tuple[str, dict, dict, str | None] | None = None
    if isinstance(spec, dict):
        if "backend" in spec:
            legacy = spec.pop("backend")
            spec["defaultBackend"] = _backend_to_v1(legacy or {})
            first = ("spec.backend", legacy or {}, spec["defaultBackend"], None)
        rule_first = None
        for rule in spec.get("rules") or []:
            for path in ((rule or {}).get("http") or {}).get("paths") or []:
                legacy = path.get("backend") or {}
                path["backend"] = _backend_to_v1(legacy)
                defaulted = "pathType" not in path or path["pathType"] is None
                if defaulted:
                    path["pathType"] = "ImplementationSpecific"
                if rule_first is None:
                    rule_first = ("backend", legacy, path["backend"], "ImplementationSpecific" if defaulted else None)
        first = rule_first or first
    warnings = [LEGACY_VERSIONS[api_version]]
    if first is not None:
        where, legacy, converted, path_type = first
        became = f"spec.defaultBackend: {_short(converted)}" if where == "spec.backend" else _short(converted)[1:-1]
        line = f"ingresslab: stored as {V1}: {where} {_short(legacy)} became {became}"
        if path_type:
            line += f", pathType: {path_type}"
        warnings.append(line)
    return out, warnings


def ingress_v1_to_v1beta1(obj: dict, api_version: str = "extensions/v1beta1") -> dict:
    """The stored v1 Ingress as an old client asked for it (GET, LIST, WATCH through a legacy path).

    `defaultBackend` → `backend`, `service: {name, port}` → `serviceName`/`servicePort`. `pathType` stays: both
    v1beta1 versions have the field.
    """
    if api_version not in LEGACY_VERSIONS:
        raise ValueError(f"not a legacy Ingress version: {api_version!r}")
    out = copy.deepcopy(obj)
    out["apiVersion"] = api_version
    spec = out.get("spec")
    if isinstance(spec, dict):
        if "defaultBackend" in spec:
            spec["backend"] = _backend_to_v1beta1(spec.pop("defaultBackend") or {})
        for rule in spec.get("rules") or []:
            for path in ((rule or {}).get("http") or {}).get("paths") or []:
                if "backend" in path:
                    path["backend"] = _backend_to_v1beta1(path["backend"] or {})
    return out
