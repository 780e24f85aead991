"""Ingress + Service + EndpointSlice + Secret → one `model.Configuration`: the controller's Kubernetes semantics.

This is ingress-nginx's `getConfiguration` (internal/ingress/controller/controller.go) as one pure function:
  * IngressClass: only Ingresses of this controller's classes count (`spec.ingressClassName`, or the legacy
    annotation `kubernetes.io/ingress.class`); one without a class counts when our IngressClass is the default.
  * Each Ingress is checked again with `validate.validate_ingress` — objects stored before admission existed, or in
    a real cluster without our webhook, must not reach nginx.conf either.
  * One server per host, Ingresses merged oldest first (`ingress_objects.oldest_first`); a path a newer Ingress also
    claims (same host, path and pathType) stays with the older one, and the newer one gets a Warning event.
  * Backends by Service port number or name → targetPort → the EndpointSlice port of the same name; only ready
    endpoints. A missing Service, port or ready endpoint keeps the location (nginx answers 503) and says why.
  * `service-upstream`: the single endpoint is ClusterIP:port (kube-proxy then picks the pod).
  * TLS from `kubernetes.io/tls` Secrets; a missing, malformed or non-matching one means the default certificate.
  * `--default-backend-service`, the controller ConfigMap (→ `Settings`), the TCP services ConfigMap.

Nothing here touches the cluster or nginx; `controller.py` feeds it listers' contents and acts on the result:
render and reload, post the events, write `status.loadBalancer` on the Ingresses in `statuses`.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from . import annotations as ann
from .model import (DEFAULT_BACKEND_NAME, Backend, Certificate, Configuration, Endpoint, Location, Server,
                    Settings, TCPService, upstream_name)
from .ingress_objects import CATCH_ALL, host_matches, ingress_class_of, ingress_key, oldest_first
from .validate import nginx_unsafe, validate_ingress

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class EventRecord:
    """A Kubernetes Event to post: on which object, Normal or Warning, a CamelCase reason and a sentence."""

    type: str
    reason: str
    message: str
    kind: str = "Ingress"
    namespace: str = ""
    name: str = ""


@dataclass
class TranslateResult:
    """The model, the events explaining it, and `status` to write on each Ingress this controller owns."""

    config: Configuration
    events: list[EventRecord] = field(default_factory=list)
    statuses: dict[str, dict] = field(default_factory=dict)


def _meta(obj: Mapping) -> Mapping:
    return obj.get("metadata") or {}


def _data(obj: Mapping | None) -> Mapping:
    """A ConfigMap object's `data`, or the mapping itself when the caller passed the data already."""
    if not obj:
        return {}
    return (obj.get("data") or {}) if ("data" in obj or obj.get("kind") == "ConfigMap") else obj


class _Cluster:
    """The listers' contents, indexed — and the events the translation produces."""

    def __init__(self, services, endpoint_slices, secrets):
        self.services = {(_meta(s).get("namespace") or "default", _meta(s).get("name")): s for s in services}
        self.slices: dict[tuple[str, str], list[dict]] = {}
        for es in endpoint_slices:
            owner = (_meta(es).get("labels") or {}).get("kubernetes.io/service-name")
            if owner:
                self.slices.setdefault((_meta(es).get("namespace") or "default", owner), []).append(es)
        self.secrets = {(_meta(s).get("namespace") or "default", _meta(s).get("name")): s for s in secrets}
        self.events: dict[EventRecord, None] = {}   # insertion-ordered set

    def event(self, kind: str, namespace: str, name: str, reason: str, message: str, type_: str = "Warning") -> None:
        self.events[EventRecord(type_, reason, message, kind, namespace, name)] = None

    def service_port(self, namespace: str, name: str, port: int | str) -> tuple[dict | None, dict | None, str | None]:
        """(Service, its port entry, problem): the port matched by number or by name."""
        service = self.services.get((namespace, name))
        if service is None:
            return None, None, f"service {namespace}/{name} not found"
        if (service.get("spec") or {}).get("type") == "ExternalName":
            return service, None, f"service {namespace}/{name} is of type ExternalName, which this lab does not proxy"
        for sp in (service.get("spec") or {}).get("ports") or []:
            if (isinstance(port, int) and sp.get("port") == port) or (isinstance(port, str) and sp.get("name") == port):
                return service, sp, None
        return service, None, f"service {namespace}/{name} has no port {port!r}" if isinstance(port, str) \
            else f"service {namespace}/{name} has no port {port}"

    def ready_endpoints(self, namespace: str, name: str, service_port: dict) -> tuple[Endpoint, ...]:
        """Ready addresses with the EndpointSlice port named like the Service port (targetPort already resolved)."""
        wanted = service_port.get("name") or ""
        found: set[Endpoint] = set()
        for es in self.slices.get((namespace, name), []):
            if es.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
                continue
            numbers = [p.get("port") for p in es.get("ports") or [] if (p.get("name") or "") == wanted]
            if not numbers or not isinstance(numbers[0], int):
                continue
            for ep in es.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:   # nil means ready (EndpointSlice API)
                    continue
                found.update(Endpoint(ip, numbers[0]) for ip in ep.get("addresses") or [])
        return tuple(sorted(found, key=lambda e: (e.ip, e.port)))


class _Builder:
    """Accumulates servers and backends while Ingresses are read oldest first."""

    def __init__(self, cluster: _Cluster, settings: Settings):
        self.cluster, self.settings = cluster, settings
        self.backends: dict[str, Backend] = {}
        self.made_by: dict[str, str] = {}    # upstream name → the Ingress (ns/name) whose annotations shaped it
        self.problems: dict[str, str] = {}
        self.servers: dict[str, dict] = {}   # host → {"locations": [...], "claims": {(path, type): key},
                                             #          "fallback": the creating Ingress's defaultBackend}
        self.catch_all_default: Location | None = None

    def backend(self, ingress: dict, ref: dict, parsed: ann.ParsedAnnotations) -> Backend:
        namespace = _meta(ingress).get("namespace") or "default"
        port_ref = ref.get("port") or {}
        port = port_ref.get("number") or port_ref.get("name")
        name = upstream_name(namespace, ref.get("name"), port)
        if name not in self.backends:
            backend = Backend(name, namespace, ref.get("name"), port, protocol=parsed.backend_protocol,
                              service_upstream=parsed.service_upstream)
            service, sp, problem = self.cluster.service_port(namespace, ref.get("name"), port)
            if sp is not None and parsed.service_upstream:
                ip = (service.get("spec") or {}).get("clusterIP")
                if ip and ip != "None":
                    backend = replace(backend, endpoints=(Endpoint(ip, sp["port"]),))
                else:
                    problem = f"service {namespace}/{ref.get('name')} has no ClusterIP, so service-upstream cannot work"
            elif sp is not None:
                backend = replace(backend, endpoints=self.cluster.ready_endpoints(namespace, ref.get("name"), sp))
                if not backend.endpoints:
                    problem = f"service {namespace}/{ref.get('name')} port {port} has no ready endpoints"
            self.backends[name] = backend
            self.made_by[name] = ingress_key(ingress)
            if problem:
                self.problems[name] = problem
        elif self.backends[name].service_upstream != parsed.service_upstream:
            # One upstream per Service port, shaped by the first Ingress to name it: a learner who sets the
            # annotation on a second Ingress would otherwise see it do nothing, with no word why.
            first, wanted = self.made_by[name], "true" if parsed.service_upstream else "false"
            applied = "true" if self.backends[name].service_upstream else "false"
            self.cluster.event("Ingress", namespace, _meta(ingress).get("name"), "ServiceUpstreamShared",
                               f"upstream {name} is shared with Ingress {first}, which names it first, so its "
                               f"service-upstream ({applied}) applies here too, not this Ingress's ({wanted}), as in "
                               f"ingress-nginx. Use a second Service to keep them apart")
        if name in self.problems:
            self.cluster.event("Ingress", namespace, _meta(ingress).get("name"), "BackendUnavailable",
                               f"{self.problems[name]}: requests for it get 503 until that changes")
        return self.backends[name]

    def location(self, ingress: dict, path: str, path_type: str, backend: Backend, parsed: ann.ParsedAnnotations, *,
                 regex: bool = True) -> Location:
        return Location(
            path, path_type, backend.name, ingress=ingress_key(ingress),
            service=f"{backend.namespace}/{backend.service}:{backend.port}",
            rewrite_target=parsed.rewrite_target if regex else None, use_regex=parsed.use_regex and regex,
            backend_protocol=parsed.backend_protocol, proxy_body_size=parsed.proxy_body_size,
            ssl_redirect=self.settings.ssl_redirect if parsed.ssl_redirect is None else parsed.ssl_redirect,
            force_ssl_redirect=parsed.force_ssl_redirect)

    def add_ingress(self, ingress: dict) -> None:
        key, meta, spec = ingress_key(ingress), _meta(ingress), ingress.get("spec") or {}
        namespace, name = meta.get("namespace") or "default", meta.get("name")
        parsed, _ = ann.parse_annotations(meta.get("annotations") or {})
        for ignored in parsed.ignored:
            self.cluster.event("Ingress", namespace, name, "AnnotationIgnored",
                               f"annotation {ignored} is not supported by ingresslab and has no effect", "Normal")
        fallback = None
        default_ref = (spec.get("defaultBackend") or {}).get("service")
        if default_ref:
            fallback = self.location(ingress, "/", "Prefix", self.backend(ingress, default_ref, parsed), parsed,
                                     regex=False)
            if not spec.get("rules") and self.catch_all_default is None:
                self.catch_all_default = fallback
        for rule in spec.get("rules") or []:
            host = (rule or {}).get("host") or CATCH_ALL
            server = self.servers.get(host)
            if server is None:
                server = self.servers[host] = {"locations": [], "claims": {}, "fallback": fallback}
            for p in ((rule or {}).get("http") or {}).get("paths") or []:
                ref = (p.get("backend") or {}).get("service")
                path, path_type = p.get("path") or "/", p.get("pathType") or "ImplementationSpecific"
                if not ref:
                    self.cluster.event("Ingress", namespace, name, "BackendIgnored",
                                       f"path {path} has a resource backend, which ingress-nginx does not serve")
                    continue
                owner = server["claims"].get((path, path_type))
                if owner is not None:
                    winner = "an earlier rule of this Ingress" if owner == key else f"Ingress {owner}, which is older"
                    shown = "rules without host" if host == CATCH_ALL else f"host {host}"
                    self.cluster.event("Ingress", namespace, name, "PathConflict",
                                       f"{path_type} path {path} on {shown} is already served by {winner}; "
                                       "this rule is ignored")
                    continue
                server["claims"][(path, path_type)] = key
                server["locations"].append(self.location(ingress, path, path_type,
                                                         self.backend(ingress, ref, parsed), parsed))

    def build_servers(self, tls: Mapping[str, str | None]) -> tuple[Server, ...]:
        servers = []
        for host, built in sorted(self.servers.items()):
            locations = list(built["locations"])
            fallback = self.catch_all_default if host == CATCH_ALL else built["fallback"]
            if fallback and not any(loc.path == "/" and not loc.is_exact for loc in locations):
                locations.append(fallback)
            servers.append(Server(host, tuple(locations), tls_secret=tls.get(host)))
        if CATCH_ALL not in self.servers and self.catch_all_default:
            servers.insert(0, Server(CATCH_ALL, (self.catch_all_default,)))
        return tuple(servers)


def _owned_by(ingress: dict, our_classes: set[str], default: bool, ingress_class: str,
              watch_without_class: bool) -> bool:
    name = (ingress.get("spec") or {}).get("ingressClassName")
    if name:
        return name in our_classes
    legacy = ingress_class_of(ingress)
    if legacy:
        return legacy in our_classes or legacy == ingress_class
    return default or watch_without_class


def _tls(valid: list[dict], hosts: Iterable[str], cluster: _Cluster) -> tuple[dict[str, str | None], list]:
    """host → "ns/secret" for hosts the oldest Ingress naming them lists under `tls`; and the certificates that load.

    A missing Secret keeps its name on the server (nginx.conf says so; the default certificate answers and
    ssl-redirect still applies, as in ingress-nginx); an unusable one is dropped with the reason.
    """
    chosen: dict[str, str | None] = {}
    certificates: dict[str, Certificate] = {}
    # The Ingresses naming each host, in `valid`'s (oldest-first) order: one pass, not one per host.
    naming: dict[str, list[dict]] = {}
    for ingress in valid:
        for rule_host in dict.fromkeys(((r or {}).get("host") or "") for r in
                                       (ingress.get("spec") or {}).get("rules") or []):
            naming.setdefault(rule_host, []).append(ingress)
    for host in hosts:
        for ingress in naming.get(host, ()):
            spec = ingress.get("spec") or {}
            entry = next((t for t in spec.get("tls") or [] if any(host_matches(h.lower(), host)
                                                                 for h in (t or {}).get("hosts") or [])), None)
            if entry is None:
                continue
            namespace, name = _meta(ingress).get("namespace") or "default", _meta(ingress).get("name")
            ref = f"{namespace}/{entry.get('secretName')}"
            secret = cluster.secrets.get((namespace, entry.get("secretName")))
            pem, problem = _load_certificate(secret, ref, host) if secret else (None, f"secret {ref} not found")
            if not entry.get("secretName"):
                pem, problem = None, f"host {host} is listed under tls without a secretName"
            if problem:
                cluster.event("Ingress", namespace, name, "TLSDefaultCertificate",
                              f"{problem}: host {host} uses the default (self-signed) certificate")
            chosen[host] = ref if pem or (secret is None and entry.get("secretName")) else None
            if pem:
                certificates[ref] = Certificate(ref, pem)
            break
    return chosen, sorted(certificates.values(), key=lambda c: c.secret)


def _load_certificate(secret: dict, ref: str, host: str) -> tuple[str | None, str | None]:
    """(PEM, problem): a kubernetes.io/tls Secret whose key fits its certificate, and whose certificate names the
    host. Checked here because one bad file would make `nginx -t` refuse the whole configuration. `cryptography` is
    imported at the first TLS Secret: it maps about 10 MB into the controller's process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtensionOID, NameOID
    if secret.get("type") != "kubernetes.io/tls":
        return None, f"secret {ref} is of type {secret.get('type') or 'Opaque'}, not kubernetes.io/tls"
    try:
        crt, key = (base64.b64decode((secret.get("data") or {})[k], validate=True).decode("ascii")
                    for k in ("tls.crt", "tls.key"))
        chain = x509.load_pem_x509_certificates(crt.encode())   # every block must parse, not just the first
        cert = chain[0]
        private = serialization.load_pem_private_key(key.encode(), password=None)
    except (KeyError, binascii.Error, UnicodeDecodeError, TypeError, ValueError):
        return None, f"secret {ref} needs a PEM certificate in tls.crt and its unencrypted PEM key in tls.key"
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != private.public_key().public_bytes(*spki):
        return None, f"secret {ref}: tls.key is not the key of the certificate in tls.crt"
    try:
        names = [str(n) for n in cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
                 .value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if not any(host_matches(n.lower(), host) for n in names):
        return None, f"the certificate in secret {ref} is for {', '.join(names) or 'no name'}, not {host}"
    # Only what was parsed reaches the file nginx loads: text around the PEM blocks (or a block nginx would refuse,
    # failing `nginx -t` for every later configuration) is dropped by re-serialising.
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain) + private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode("ascii"), None


def _settings(configmap: Mapping | None, cluster: _Cluster) -> Settings:
    """The controller ConfigMap through `annotations.parse_settings`; what it cannot use becomes an event."""
    settings, invalid, ignored = ann.parse_settings(_data(configmap))
    meta = _meta(configmap or {})
    where = ("ConfigMap", meta.get("namespace") or "", meta.get("name") or "")
    for key in ignored:
        cluster.event(*where, "ConfigIgnored", f"key {key} is not supported by ingresslab and has no effect",
                      "Normal")
    for key, reason in invalid:
        cluster.event(*where, "ConfigInvalid", f"key {key} {reason}; keeping the default")
    return settings


def _tcp_services(data_obj: Mapping | None, cluster: _Cluster, reserved: set[int]) -> tuple[list, list]:
    """`"9000": "default/tcp-echo:9000"` entries → TCP services and their backends (`tcp-<ns>-<svc>-<port>`)."""
    services, backends, meta = [], [], _meta(data_obj or {})
    where = ("ConfigMap", meta.get("namespace") or "", meta.get("name") or "")
    for external, target in sorted(_data(data_obj).items(), key=lambda kv: str(kv[0])):
        target = str(target)
        ref, _, port_text = target.partition(":")
        namespace, _, name = ref.partition("/")
        problem = None
        if not str(external).isdigit() or not 1 <= int(external) <= 65535:
            problem = f"{external!r} is not a port number"
        elif int(external) in reserved:
            problem = f"port {external} is reserved for the controller's HTTP/HTTPS listeners"
        elif not (namespace and name and port_text) or nginx_unsafe(target) or ":" in port_text:
            problem = f"{target!r} is not of the form namespace/service:port (PROXY protocol is not supported)"
        if problem is None:
            port: int | str = int(port_text) if port_text.isdigit() else port_text
            _, sp, problem = cluster.service_port(namespace, name, port)
            endpoints = cluster.ready_endpoints(namespace, name, sp) if sp is not None else ()
            if sp is not None and not endpoints:
                problem = f"service {namespace}/{name} port {port} has no ready endpoints (stream servers need one)"
        if problem:
            cluster.event(*where, "TCPServiceSkipped", f"tcp port {external}: {problem}")
            continue
        backend = Backend(f"tcp-{namespace}-{name}-{port}", namespace, name, port, endpoints)
        backends.append(backend)
        services.append(TCPService(int(external), backend.name, f"{namespace}/{name}:{port}"))
    return services, backends


def _default_backend(ref: str | None, cluster: _Cluster) -> Backend | None:
    """`--default-backend-service=ns/name`: upstream-default-backend on that Service's first port."""
    if not ref:
        return None
    namespace, _, name = ref.partition("/")
    service = cluster.services.get((namespace, name))
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    if not ports:
        cluster.event("Service", namespace, name, "DefaultBackendUnavailable",
                      f"default backend service {ref} not found or without ports: unmatched requests get 404")
        return None
    endpoints = cluster.ready_endpoints(namespace, name, ports[0])
    if not endpoints:
        cluster.event("Service", namespace, name, "DefaultBackendUnavailable",
                      f"default backend service {ref} has no ready endpoints: unmatched requests get 503")
    return Backend(DEFAULT_BACKEND_NAME, namespace, name, ports[0].get("port"), endpoints)


def translate(*, ingresses: Iterable[dict], services: Iterable[dict] = (), endpoint_slices: Iterable[dict] = (),
              secrets: Iterable[dict] = (), configmap: Mapping | None = None, ingress_classes: Iterable[dict] = (),
              controller_name: str = "k8s.io/ingress-nginx", ingress_class: str = "nginx",
              watch_without_class: bool = False, default_backend_service: str | None = None,
              tcp_services: Mapping | None = None, status_addresses: Iterable[str] = (),
              base: Configuration | None = None) -> TranslateResult:
    """Build the model from the cluster's objects (see the module docstring for the rules).

    `configmap` / `tcp_services`: the ConfigMap objects, or their `data` mappings. `status_addresses`: the IPs or
    hostnames to publish in `status.loadBalancer.ingress`. `base`: a Configuration carrying the runtime fields
    (listen address, ports, `lua`, default certificate file) that translate copies into the result.
    """
    cluster = _Cluster(list(services), list(endpoint_slices), list(secrets))
    base = base or Configuration()
    settings = _settings(configmap, cluster)
    classes = [c for c in ingress_classes if (c.get("spec") or {}).get("controller") == controller_name]
    our_classes = {_meta(c).get("name") for c in classes}
    default = any((_meta(c).get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true" for c in classes)
    own = oldest_first([i for i in ingresses if _owned_by(i, our_classes, default, ingress_class,
                                                          watch_without_class)])
    addresses = [{"hostname": a} if any(ch.isalpha() for ch in a) and ":" not in a else {"ip": a}
                 for a in status_addresses]
    statuses = {ingress_key(i): {"loadBalancer": {"ingress": addresses} if addresses else {}} for i in own}
    builder = _Builder(cluster, settings)
    valid = []
    for ingress in own:
        causes = validate_ingress(ingress, ingress)   # as an update: what the API stored stays acceptable
        if causes:
            meta = _meta(ingress)
            cluster.event("Ingress", meta.get("namespace") or "default", meta.get("name"), "Rejected",
                          "the controller ignores this Ingress until it is fixed: "
                          + "; ".join(f"{c.field}: {c.message}" for c in causes))
            continue
        valid.append(ingress)
        builder.add_ingress(ingress)
    tls, certificates = _tls(valid, [h for h in builder.servers if h != CATCH_ALL], cluster)
    default_backend = _default_backend(default_backend_service, cluster)
    tcp, tcp_backends = _tcp_services(tcp_services, cluster, {base.http_port, base.https_port})
    backends = sorted([*builder.backends.values(), *tcp_backends, *([default_backend] if default_backend else [])],
                      key=lambda b: b.name)
    config = replace(base, servers=builder.build_servers(tls), backends=tuple(backends), tcp_services=tuple(tcp),
                     default_backend=default_backend.name if default_backend else None, settings=settings,
                     certificates=tuple(certificates))
    return TranslateResult(config, list(cluster.events), statuses)
