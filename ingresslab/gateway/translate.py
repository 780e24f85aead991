"""One Gateway and what attaches to it → its `GatewayConfiguration` and the status of the Gateway and its routes.

`translate(gateway, gateway_class=..., routes=..., ...)` is a pure function of plain dicts, exactly what a watch on a
real cluster delivers. It owns the Gateway half of the spec:
  * the GatewayClass must name our controller and be Accepted (else: not ours, `None`);
  * listeners: protocol HTTP or HTTPS (others: Accepted=False UnsupportedProtocol); HTTPS needs `tls.mode`
    Terminate and `certificateRefs` to kubernetes.io/tls Secrets (cross-namespace only with a ReferenceGrant:
    RefNotPermitted; missing or unusable: InvalidCertificateRef); `allowedRoutes.kinds` other than HTTPRoute
    give InvalidRouteKinds; listeners on one port must share a protocol (ProtocolConflict) and differ in
    hostname (HostnameConflict) — a conflicted listener is not programmed;
  * `spec.addresses` cannot be honoured (the lab assigns the address): Accepted=False, UnsupportedAddress;
  * status: Gateway Accepted / Programmed and `addresses`; per listener `supportedKinds`, `attachedRoutes` and the
    conditions Accepted, Conflicted, Programmed, ResolvedRefs, all with `observedGeneration`.
The route half (attachment, rules, backends, route status) is `routes.py`; the data plane layout (which server
gets which matches in which order) is `layout.py`.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

from ..ingress.model import Certificate, Settings
from ..ingress.translate import _Cluster as ClusterIndex
from . import objects as o
from .layout import layout_ports
from .model import GatewayConfiguration
from .routes import Attachment, ListenerView, attach_routes

SUPPORTED_KINDS = ({"group": o.GROUP, "kind": "HTTPRoute"},)


@dataclass
class Translation:
    """The model nginx should run, and the status to write (None: leave that object alone)."""

    config: GatewayConfiguration | None
    gateway_status: dict | None
    route_parents: dict[str, list[dict]] = field(default_factory=dict)
    """`ns/name` of each HTTPRoute naming this Gateway → its `status.parents` entries for this Gateway."""
    problems: list[str] = field(default_factory=list)


def is_ours(gateway: Mapping, gateway_class: Mapping | None, controller_name: str = o.CONTROLLER_NAME) -> bool:
    return bool(gateway_class) and (gateway_class.get("spec") or {}).get("controllerName") == controller_name \
        and o.meta(gateway_class).get("name") == (gateway.get("spec") or {}).get("gatewayClassName")


def translate(gateway: Mapping, *, gateway_class: Mapping | None, routes: Iterable[Mapping] = (),
              reference_grants: Iterable[Mapping] = (), services: Iterable[Mapping] = (),
              endpoint_slices: Iterable[Mapping] = (), secrets: Iterable[Mapping] = (),
              namespaces: Iterable[Mapping] = (), controller_name: str = o.CONTROLLER_NAME,
              listen_address: str = "127.0.0.1", addresses: list[dict] | None = None,
              port_map: Callable[[int], int] | None = None, settings: Settings = Settings(),
              default_cert_file: str | None = None, now: str | None = None) -> Translation:
    """Translate one Gateway. `port_map` turns a listener port into the port nginx binds (the lab shifts ports
    below 1024 when not root); `addresses` is what `status.addresses` says (default: `listen_address`)."""
    if not is_ours(gateway, gateway_class, controller_name):
        return Translation(None, None)
    grants = list(reference_grants)
    cluster = ClusterIndex(list(services), list(endpoint_slices), list(secrets))
    gen = o.generation(gateway)
    previous = gateway.get("status") or {}
    listeners, certificates = _listeners(gateway, grants, cluster)
    attachment: Attachment = attach_routes(gateway, listeners, list(routes), grants, cluster,
                                           namespaces={o.meta(n).get("name"): n for n in namespaces},
                                           controller_name=controller_name, now=now)
    ports = layout_ports(listeners, attachment, port_map=port_map or (lambda p: p))
    config = GatewayConfiguration(gateway=o.key(gateway), ports=ports, backends=tuple(attachment.backends),
                                  groups=tuple(attachment.groups), certificates=tuple(certificates),
                                  settings=settings, listen_address=listen_address,
                                  default_cert_file=default_cert_file)
    listener_status = []
    old_listeners = {ls.get("name"): ls for ls in previous.get("listeners") or []}
    for view in listeners:
        before = (old_listeners.get(view.name) or {}).get("conditions") or []
        c = lambda *a: o.condition(*a, gen, previous=before, now=now)  # noqa: E731
        conflicted = view.conflict is not None
        conditions = [
            c("Accepted", view.accepted_reason is None and not conflicted,
              view.accepted_reason or view.conflict or "Accepted",
              view.accepted_message or view.conflict_message or "the listener is valid"),
            c("Conflicted", conflicted, view.conflict or "NoConflicts",
              view.conflict_message or "no other listener conflicts with it"),
            c("ResolvedRefs", view.refs_reason is None, view.refs_reason or "ResolvedRefs",
              view.refs_message or "all references resolved"),
            c("Programmed", view.usable, "Programmed" if view.usable else "Invalid",
              "served by nginx" if view.usable else "not programmed: see the other conditions"),
        ]
        listener_status.append({"name": view.name, "supportedKinds": view.supported_kinds,
                                "attachedRoutes": attachment.attached.get(view.name, 0), "conditions": conditions})
    usable = [v for v in listeners if v.usable]
    before = previous.get("conditions") or []
    if len(usable) == len(listeners):
        accepted = o.condition("Accepted", True, "Accepted", "the Gateway is valid", gen, previous=before, now=now)
    else:
        accepted = o.condition("Accepted", bool(usable), "ListenersNotValid",
                               f"{len(listeners) - len(usable)} of {len(listeners)} listeners are not valid",
                               gen, previous=before, now=now)
    programmed = o.condition("Programmed", bool(usable), "Programmed" if usable else "Invalid",
                             "nginx serves the valid listeners" if usable else "no valid listener to program",
                             gen, previous=before, now=now)
    if (gateway.get("spec") or {}).get("addresses"):
        # The lab gives each Gateway its nginx's address itself; a requested one cannot be honoured.
        accepted = o.condition("Accepted", False, "UnsupportedAddress", "spec.addresses is not supported: the lab "
                               "assigns the address (see status.addresses)", gen, previous=before, now=now)
        programmed = o.condition("Programmed", False, "Invalid", "the Gateway is not accepted", gen,
                                 previous=before, now=now)
        config = replace(config, ports=())
    status = {"addresses": addresses if addresses is not None else [{"type": "IPAddress", "value": listen_address}],
              "conditions": [accepted, programmed], "listeners": listener_status}
    return Translation(config, status, attachment.parents, attachment.problems)


def _listeners(gateway: Mapping, grants: list, cluster: ClusterIndex) -> tuple[list[ListenerView], list]:
    ns = o.namespace_of(gateway)
    views: list[ListenerView] = []
    certificates: dict[str, Certificate] = {}
    for raw in (gateway.get("spec") or {}).get("listeners") or []:
        view = ListenerView(name=str(raw.get("name")), port=raw.get("port"), protocol=raw.get("protocol"),
                            hostname=raw.get("hostname") or None, raw=raw)
        if view.hostname is not None and o.hostname_problem(view.hostname):
            view.accepted_reason, view.accepted_message = "UnsupportedValue", \
                f"hostname {view.hostname!r} {o.hostname_problem(view.hostname)}"
        if not isinstance(view.port, int) or not 1 <= view.port <= 65535:
            view.accepted_reason, view.accepted_message = "UnsupportedValue", "port must be 1-65535"
        if view.protocol not in ("HTTP", "HTTPS"):
            view.accepted_reason, view.accepted_message = "UnsupportedProtocol", \
                f"protocol {view.protocol!r} is not supported (this controller serves HTTP and HTTPS)"
        elif view.protocol == "HTTPS":
            _listener_tls(view, raw.get("tls") or {}, ns, grants, cluster, certificates)
        _route_kinds(view, (raw.get("allowedRoutes") or {}).get("kinds"))
        views.append(view)
    by_port: dict[int, list[ListenerView]] = {}
    for view in views:
        if view.accepted_reason is None:
            by_port.setdefault(view.port, []).append(view)
    for port, group in by_port.items():
        if len({v.protocol for v in group}) > 1:
            for v in group:
                protocols = ", ".join(sorted({x.protocol for x in group}))
                v.conflict, v.conflict_message = "ProtocolConflict", \
                    f"listeners on port {port} use different protocols ({protocols})"
            continue
        seen: dict[str | None, list[ListenerView]] = {}
        for v in group:
            seen.setdefault(v.hostname, []).append(v)
        for hostname, same in seen.items():
            if len(same) > 1:
                for v in same:
                    v.conflict, v.conflict_message = "HostnameConflict", \
                        f"listeners {', '.join(x.name for x in same)} on port {port} share the hostname " \
                        f"{hostname or '(any)'}"
    used = {v.certificate for v in views if v.usable and v.certificate}
    return views, sorted((c for k, c in certificates.items() if k in used), key=lambda c: c.secret)


def _listener_tls(view: ListenerView, tls: Mapping, ns: str, grants: list, cluster: ClusterIndex,
                  certificates: dict[str, Certificate]) -> None:
    mode = tls.get("mode") or "Terminate"
    if mode != "Terminate":
        view.accepted_reason, view.accepted_message = "UnsupportedValue", \
            f"tls.mode {mode} is not supported on an HTTPS listener (only Terminate)"
        return
    refs = tls.get("certificateRefs") or []
    if not refs:
        view.refs_reason, view.refs_message = "InvalidCertificateRef", "tls.certificateRefs is empty"
        return
    for i, ref in enumerate(refs[:1]):   # one certificate per listener (nginx picks by SNI among listeners)
        field_ = f"tls.certificateRefs[{i}]"
        group, kind = ref.get("group") or "", ref.get("kind") or "Secret"
        target_ns = ref.get("namespace") or ns
        name = ref.get("name")
        if group != "" or kind != "Secret":
            view.refs_reason, view.refs_message = "InvalidCertificateRef", \
                f"{field_}: only core Secrets are supported, not {group or 'core'}/{kind}"
            return
        if not o.grant_allows(grants, from_group=o.GROUP, from_kind="Gateway", from_namespace=ns, to_group="",
                              to_kind="Secret", to_namespace=target_ns, to_name=name):
            view.refs_reason, view.refs_message = "RefNotPermitted", \
                f"{field_}: Secret {target_ns}/{name} is in another namespace and no ReferenceGrant there allows it"
            return
        secret = cluster.secrets.get((target_ns, name))
        ref_key = f"{target_ns}/{name}"
        pem, problem = load_certificate(secret, ref_key) if secret else (None, f"Secret {ref_key} not found")
        if problem:
            view.refs_reason, view.refs_message = "InvalidCertificateRef", f"{field_}: {problem}"
            return
        certificates[ref_key] = Certificate(ref_key, pem)
        view.certificate = ref_key


def _route_kinds(view: ListenerView, kinds) -> None:
    if not kinds:
        view.supported_kinds = [dict(k) for k in SUPPORTED_KINDS]
        return
    good, bad = [], []
    for k in kinds:
        entry = {"group": k.get("group", o.GROUP) if k.get("group") is not None else o.GROUP, "kind": k.get("kind")}
        (good if entry in SUPPORTED_KINDS else bad).append(entry)
    view.supported_kinds = good
    if bad and view.refs_reason is None:
        view.refs_reason, view.refs_message = "InvalidRouteKinds", \
            "unsupported route kinds: " + ", ".join(f"{b['group']}/{b['kind']}" for b in bad)


def load_certificate(secret: Mapping, ref: str) -> tuple[str | None, str | None]:
    """(PEM, problem) of a kubernetes.io/tls Secret whose key fits its certificate (checked here, because one bad
    file would make `nginx -t` refuse the whole configuration). Only what parsed reaches nginx: re-serialised.
    `cryptography` is imported here, at the first HTTPS listener: it maps about 10 MB into the process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    if secret.get("type") != "kubernetes.io/tls":
        return None, f"Secret {ref} is of type {secret.get('type') or 'Opaque'}, not kubernetes.io/tls"
    try:
        crt, key = (base64.b64decode((secret.get("data") or {})[k], validate=True) for k in ("tls.crt", "tls.key"))
        chain = x509.load_pem_x509_certificates(crt)
        private = serialization.load_pem_private_key(key, password=None)
    except (KeyError, binascii.Error, TypeError, ValueError):
        return None, f"Secret {ref} needs a PEM certificate in tls.crt and its unencrypted PEM key in tls.key"
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if chain[0].public_key().public_bytes(*spki) != private.public_key().public_bytes(*spki):
        return None, f"Secret {ref}: tls.key is not the key of the certificate in tls.crt"
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain) + private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode("ascii"), None
