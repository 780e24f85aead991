"""What the injection proof sends: the payloads (every config-injection class of REFERENCE.md, plus your own from
`INGRESSLAB_PAYLOADS=payloads.json`), and for each payload an `Attempt` per field that reaches nginx.conf.

Neighbours: `test_injection.py` sends these through a real lab's API and judges what comes back; `conftest.py` has
the certificate maker and nginx's tokeniser.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ingresslab.ingress import annotations as ann

from .conftest import certificate_pair

CAFE = "cafe.example.com"
EXPLOIT = 'return 200 "PWNED";'
PAYLOADS: dict[str, str] = {
    "newline": f"\n{EXPLOIT}\n",
    "newline-header": "\nadd_header X-Pwned 1;\n",
    "carriage-return": f"\r{EXPLOIT}",
    "semicolon": ";x",
    "semicolon-exploit": f";{EXPLOIT}",
    "open-brace": "{x",
    "close-brace": "}x",
    "brace-exploit": f'}}location /pwned{{{EXPLOIT}}}location /y{{',
    "double-quote": '"x',
    "quote-exploit": f'";{EXPLOIT}#',
    "single-quote": "'x",
    "backslash": "\\x",
    "backslash-quote": f'\\";{EXPLOIT}#',
    "dollar": "$host",
    "dollar-brace": "${request_uri}",
    "hash": "#x",
    "hash-newline": f"#\n{EXPLOIT}",
    "traversal": "../../../etc/passwd",
    "overlong": "a" * 5000,
    "nul": "\x00x",
    "tab": "\tx",
    "space": " x",
    "fullwidth-semicolon": "；add_header　X-Pwned　1；",
    "fullwidth-braces-quote": "｝｛＂x",
    "cyrillic-lookalike": "\u0430",
    "zero-width": "\u200bx",
    "rtl-override": "\u202ex",
}

def _own_payloads() -> dict[str, str]:
    """Extra payloads from `INGRESSLAB_PAYLOADS=FILE`: a JSON object {label: payload} (JSON spells newlines, quotes
    and unicode exactly). They join every test of this module, in every field. To be caught when it goes live, an
    exploit should make the canary: `return 200 "PWNED"` or `add_header X-Pwned 1`."""
    path = os.environ.get("INGRESSLAB_PAYLOADS")
    if not path:
        return {}
    try:
        extra = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise pytest.UsageError(f"INGRESSLAB_PAYLOADS={path}: {error}") from None
    if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                              for k, v in extra.items()):
        raise pytest.UsageError(f"INGRESSLAB_PAYLOADS={path}: want a JSON object of label → non-empty string")
    return {f"own:{label}": payload for label, payload in extra.items()}


PAYLOADS.update(_own_payloads())
SNIPPETS = ("configuration-snippet", "server-snippet", "stream-snippet", "auth-snippet", "modsecurity-snippet")
IGNORED_ANNOTATIONS = ("auth-url", "auth-tls-match-cn", "permanent-redirect", "mirror-target")
VALID_PREFIX = {"rewrite-target": "/", "use-regex": "true", "ssl-redirect": "true", "force-ssl-redirect": "false",
                "backend-protocol": "HTTP", "service-upstream": "false", "proxy-body-size": "1m"}
CONFIG_PREFIX = {"proxy-body-size": "1m", "ssl-redirect": "true", "server-tokens": "false",
                 "use-forwarded-headers": "false", "log-format-upstream": "$remote_addr "}


# --- what we send ----------------------------------------------------------------------------------------------------

@dataclass
class Attempt:
    """One payload in one field: the object to create, and the field a 422 must name."""

    label: str
    kind: str                   # ingress, service, namespace, secret
    body: dict
    field: str
    must_reject: bool = True
    namespace: str = "default"
    accepted: dict | None = None
    problems: list[str] = field(default_factory=list)
    sent_at: float = 0.0


def ingress(name: str, *, host: str = "inj.test", path: str = "/inj", path_type: str = "Prefix",
            service: str = "coffee-svc", port: dict | None = None, annotations: dict | None = None,
            tls: dict | None = None, **spec_extra) -> dict:
    spec = {"rules": [{"host": host, "http": {"paths": [{"path": path, "pathType": path_type, "backend": {
        "service": {"name": service, "port": port or {"number": 80}}}}]}}], **spec_extra}
    if tls:
        spec["tls"] = [tls]
    meta = {"name": name, **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


P0 = "spec.rules[0].http.paths[0]"


def marker(n: int) -> str:
    """Written right before payload number `n` in the fields nginx.conf carries as text (paths, rewrite-target), so
    `outside_quotes` can find where the payload landed; no name or host contains it."""
    return f"payload{n}q"


def attempts_for(n: int, label: str, payload: str) -> list[Attempt]:
    """Every field that reaches nginx.conf, carrying `payload`; names and hosts unique per payload number `n`."""
    name, host, mark = f"inj-{n}", f"inj-{n}.test", marker(n)
    out = [
        Attempt(f"{label} in host", "ingress", ingress(f"{name}-h", host=host + payload), "spec.rules[0].host"),
        Attempt(f"{label} in tls host", "ingress", ingress(f"{name}-th", host=host, tls={
            "hosts": [host + payload], "secretName": "cafe-secret"}), "spec.tls[0].hosts[0]"),
        Attempt(f"{label} in tls secretName", "ingress", ingress(f"{name}-ts", host=host, tls={
            "hosts": [host], "secretName": "cafe-secret" + payload}), "spec.tls[0].secretName"),
        Attempt(f"{label} in Ingress name", "ingress", ingress(name + payload, host=host), "metadata.name"),
        Attempt(f"{label} in ingressClassName", "ingress", ingress(f"{name}-c", host=host,
                                                                  ingressClassName="nginx" + payload),
                "spec.ingressClassName"),
        Attempt(f"{label} in backend service name", "ingress", ingress(f"{name}-s", host=host,
                                                                      service="coffee-svc" + payload),
                f"{P0}.backend.service.name"),
        Attempt(f"{label} in backend port name", "ingress", ingress(f"{name}-pn", host=host,
                                                                   port={"name": "http" + payload}),
                f"{P0}.backend.service.port.name"),
        Attempt(f"{label} in defaultBackend service name", "ingress", {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": f"{name}-d"},
            "spec": {"defaultBackend": {"service": {"name": "coffee-svc" + payload, "port": {"number": 80}}}}},
            "spec.defaultBackend.service.name"),
        Attempt(f"{label} in annotation key", "ingress", ingress(f"{name}-ak", host=host, annotations={
            ann.PREFIX + "x" + payload: "1"}), "metadata.annotations"),
        Attempt(f"{label} in Service name", "service", service("svc-" + payload), "metadata.name"),
        Attempt(f"{label} in Service port name", "service", service(f"svc-{n}", port_name="http" + payload),
                "spec.ports[0].name"),
        Attempt(f"{label} in Namespace name", "namespace", {"metadata": {"name": f"ns-{n}" + payload}},
                "metadata.name"),
        Attempt(f"{label} in Secret name", "secret", tls_secret(f"sec-{n}" + payload), "metadata.name"),
    ]
    for path_type in ("Exact", "Prefix", "ImplementationSpecific"):
        out.append(Attempt(f"{label} in {path_type} path", "ingress",
                           ingress(f"{name}-p{path_type[0].lower()}", host=host, path=f"/{mark}" + payload,
                                   path_type=path_type), f"{P0}.path",
                           must_reject=path_type != "ImplementationSpecific"))
    for a in ann.ANNOTATIONS:
        prefix = f"/{mark}" if a.name == "rewrite-target" else VALID_PREFIX[a.name]
        out.append(Attempt(f"{label} in annotation {a.name}", "ingress", ingress(
            f"{name}-a-{a.name}", host=host, annotations={a.key: prefix + payload}),
            f"metadata.annotations[{a.key}]", must_reject=a.name != "rewrite-target"))
    for snippet in SNIPPETS:
        out.append(Attempt(f"{label} in {snippet}", "ingress", ingress(
            f"{name}-sn-{snippet}", host=host, annotations={ann.PREFIX + snippet: EXPLOIT + payload}),
            f"metadata.annotations[{ann.PREFIX + snippet}]"))
    for ignored in IGNORED_ANNOTATIONS:
        out.append(Attempt(f"{label} in ignored annotation {ignored}", "ingress", ingress(
            f"{name}-ig-{ignored}", host=host, annotations={ann.PREFIX + ignored: "http://x/" + payload}),
            f"metadata.annotations[{ann.PREFIX + ignored}]", must_reject=False))
    out.append(Attempt(f"{label} in legacy class annotation", "ingress", ingress(
        f"{name}-lc", host=host, annotations={"kubernetes.io/ingress.class": "nginx" + payload}),
        "metadata.annotations", must_reject=False))
    uid = ingress(f"{name}-uid", host=host)
    uid["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000" + payload
    out.append(Attempt(f"{label} in uid", "ingress", uid, "metadata.uid", must_reject=False))
    return out


def service(name: str, *, port_name: str = "http") -> dict:
    return {"metadata": {"name": name}, "spec": {"selector": {"app": "coffee"}, "ports": [
        {"name": port_name, "port": 80, "targetPort": 8080}]}}


PAIR = certificate_pair("tls.inj.test")


def tls_secret(name: str, crt: str = PAIR[0], key: str = PAIR[1]) -> dict:
    return {"metadata": {"name": name}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(crt.encode()).decode(),
                     "tls.key": base64.b64encode(key.encode()).decode()}}
