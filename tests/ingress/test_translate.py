"""translate(): cluster objects → model, with ingress-nginx's semantics and an event for every surprise."""
from __future__ import annotations

import base64
import datetime
import functools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingresslab.ingress.model import DEFAULT_BACKEND_NAME, Configuration, Endpoint, Location
from ingresslab.ingress.render import RenderPaths, render_nginx_conf
from ingresslab.ingress.translate import EventRecord, translate

T0, T1, T2 = "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"


# --- objects -----------------------------------------------------------------------------------------------------

def ingress(name="cafe-ingress", rules=None, *, created=T0, cls="nginx", annotations=None, tls=None, default=None,
            namespace="default") -> dict:
    spec: dict = {}
    if cls:
        spec["ingressClassName"] = cls
    if rules is not None:
        spec["rules"] = rules
    if tls:
        spec["tls"] = tls
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    meta = {"name": name, "namespace": namespace, "creationTimestamp": created, "annotations": annotations or {}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def path(p, service, port=80, path_type="Prefix") -> dict:
    key = "number" if isinstance(port, int) else "name"
    return {"path": p, "pathType": path_type, "backend": {"service": {"name": service, "port": {key: port}}}}


def rule(host, *paths) -> dict:
    out: dict = {"http": {"paths": list(paths)}}
    if host:
        out["host"] = host
    return out


def cafe_rules():
    return [rule("cafe.example.com", path("/tea", "tea-svc"), path("/coffee", "coffee-svc", "http"))]


def service(name, *, port=80, target=8080, port_name="http", cluster_ip="10.96.0.10", type_="ClusterIP") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": type_, "clusterIP": cluster_ip,
                     "ports": [{"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}]}}


def endpoint_slice(service_name, ips, *, port=8080, port_name="http", ready=True, suffix="abcde") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{service_name}-{suffix}", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service_name}},
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip in ips]}


NGINX_CLASS = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
               "metadata": {"name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
               "spec": {"controller": "k8s.io/ingress-nginx"}}


@functools.lru_cache(maxsize=None)
def certificate(*names: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def tls_secret(name="cafe-secret", *names, type_="kubernetes.io/tls") -> dict:
    crt, key = certificate(*(names or ("cafe.example.com",)))
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return {"apiVersion": "v1", "kind": "Secret", "type": type_, "metadata": {"name": name, "namespace": "default"},
            "data": {"tls.crt": b64(crt), "tls.key": b64(key)}}


def cafe_cluster(**overrides) -> dict:
    world = dict(
        ingresses=[ingress(rules=cafe_rules(), tls=[{"hosts": ["cafe.example.com"], "secretName": "cafe-secret"}])],
        services=[service("tea-svc"), service("coffee-svc", cluster_ip="10.96.0.11")],
        endpoint_slices=[endpoint_slice("tea-svc", ["10.244.0.3", "10.244.0.1", "10.244.0.2"]),
                         endpoint_slice("coffee-svc", ["10.244.1.1", "10.244.1.2"])],
        secrets=[tls_secret()], ingress_classes=[NGINX_CLASS])
    world.update(overrides)
    return world


def warnings(result, reason=None) -> list[str]:
    return [e.message for e in result.events if e.type == "Warning" and (reason is None or e.reason == reason)]


# --- the cafe example --------------------------------------------------------------------------------------------

def test_the_cafe_example_becomes_one_server_with_two_locations_and_two_backends():
    result = translate(**cafe_cluster())
    config = result.config
    assert [s.hostname for s in config.servers] == ["cafe.example.com"]
    server = config.server("cafe.example.com")
    assert [(loc.path, loc.path_type, loc.backend) for loc in server.locations] == [
        ("/tea", "Prefix", "default-tea-svc-80"), ("/coffee", "Prefix", "default-coffee-svc-http")]
    assert server.locations[0].ingress == "default/cafe-ingress"
    assert server.locations[0].service == "default/tea-svc:80"
    assert config.backend("default-tea-svc-80").endpoints == (
        Endpoint("10.244.0.1", 8080), Endpoint("10.244.0.2", 8080), Endpoint("10.244.0.3", 8080))
    assert result.events == []


def test_a_named_service_port_resolves_through_the_endpoint_slice_port_of_the_same_name():
    world = cafe_cluster(services=[service("tea-svc"), service("coffee-svc", port=8000, target="web",
                                                                 port_name="http")],
                         endpoint_slices=[endpoint_slice("coffee-svc", ["10.244.1.1"], port=9090, port_name="http"),
                                          endpoint_slice("coffee-svc", ["10.244.1.9"], port=7070, port_name="metrics",
                                                         suffix="zzz")])
    backend = translate(**world).config.backend("default-coffee-svc-http")
    assert backend.endpoints == (Endpoint("10.244.1.1", 9090),)
    assert backend.port == "http"


def test_endpoints_from_several_slices_are_merged_and_only_ready_ones_count():
    slices = [endpoint_slice("tea-svc", ["10.244.0.1"]), endpoint_slice("tea-svc", ["10.244.0.2"], suffix="b"),
              endpoint_slice("tea-svc", ["10.244.0.3"], ready=False, suffix="c")]
    config = translate(**cafe_cluster(endpoint_slices=slices)).config
    assert [str(e) for e in config.backend("default-tea-svc-80").endpoints] == ["10.244.0.1:8080", "10.244.0.2:8080"]


def test_a_missing_service_keeps_the_location_with_no_endpoints_and_says_so():
    result = translate(**cafe_cluster(services=[service("tea-svc")]))
    assert result.config.backend("default-coffee-svc-http").endpoints == ()
    assert [loc.path for loc in result.config.server("cafe.example.com").locations] == ["/tea", "/coffee"]
    assert warnings(result) == ["service default/coffee-svc not found: requests for it get 503 until that changes"]
    event = result.events[0]
    assert (event.kind, event.namespace, event.name, event.reason) == ("Ingress", "default", "cafe-ingress",
                                                                       "BackendUnavailable")


def test_a_service_without_ready_endpoints_gives_a_503_and_a_warning():
    result = translate(**cafe_cluster(endpoint_slices=[endpoint_slice("tea-svc", ["10.244.0.1"], ready=False)]))
    assert "service default/tea-svc port 80 has no ready endpoints" in warnings(result)[0]


def test_a_port_the_service_does_not_have_is_named_in_the_warning():
    rules = [rule("cafe.example.com", path("/tea", "tea-svc", 8080))]
    result = translate(**cafe_cluster(ingresses=[ingress(rules=rules)]))
    assert warnings(result) == ["service default/tea-svc has no port 8080: requests for it get 503 until that changes"]


def test_an_external_name_service_is_not_proxied_and_says_so():
    world = cafe_cluster(services=[service("tea-svc", type_="ExternalName"), service("coffee-svc")])
    assert "is of type ExternalName" in warnings(translate(**world))[0]


def test_service_upstream_sends_to_the_cluster_ip_so_kube_proxy_is_a_hop():
    ing = ingress(rules=cafe_rules(), annotations={"nginx.ingress.kubernetes.io/service-upstream": "true"})
    config = translate(**cafe_cluster(ingresses=[ing])).config
    backend = config.backend("default-tea-svc-80")
    assert backend.service_upstream and backend.endpoints == (Endpoint("10.96.0.10", 80),)


def test_a_second_ingress_on_the_same_service_port_shares_the_first_ones_service_upstream_and_is_told():
    plain = ingress("first", rules=[rule("a.example", path("/", "tea-svc"))], created=T0)
    asking = ingress("second", rules=[rule("b.example", path("/", "tea-svc"))], created=T1,
                     annotations={"nginx.ingress.kubernetes.io/service-upstream": "true"})
    result = translate(**cafe_cluster(ingresses=[plain, asking]))
    backend = result.config.backend("default-tea-svc-80")
    assert not backend.service_upstream and len(backend.endpoints) == 3   # the first Ingress decided: the pods
    (told,) = [e for e in result.events if e.reason == "ServiceUpstreamShared"]
    assert (told.type, told.kind, told.namespace, told.name) == ("Warning", "Ingress", "default", "second")
    assert "shared with Ingress default/first" in told.message and "(false)" in told.message
    assert "(true)" in told.message
    alone = translate(**cafe_cluster(ingresses=[asking])).events      # no sharing, no word
    assert not [e for e in alone if e.reason == "ServiceUpstreamShared"]
    same = ingress("third", rules=[rule("c.example", path("/", "tea-svc"))], created=T2)
    agreeing = translate(**cafe_cluster(ingresses=[plain, same])).events   # sharing, same setting: nothing to say
    assert not [e for e in agreeing if e.reason == "ServiceUpstreamShared"]


def test_annotations_are_applied_to_every_location_of_the_ingress():
    ing = ingress(rules=cafe_rules(), annotations={
        "nginx.ingress.kubernetes.io/rewrite-target": "/", "nginx.ingress.kubernetes.io/backend-protocol": "https",
        "nginx.ingress.kubernetes.io/proxy-body-size": "8m", "nginx.ingress.kubernetes.io/ssl-redirect": "false",
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true"})
    config = translate(**cafe_cluster(ingresses=[ing])).config
    tea = config.server("cafe.example.com").locations[0]
    assert (tea.rewrite_target, tea.backend_protocol, tea.proxy_body_size) == ("/", "HTTPS", "8m")
    assert tea.ssl_redirect is False and tea.force_ssl_redirect is True and tea.needs_regex
    assert config.backend("default-tea-svc-80").protocol == "HTTPS"


def test_unsupported_annotations_are_reported_as_having_no_effect():
    ing = ingress(rules=cafe_rules(), annotations={"nginx.ingress.kubernetes.io/auth-url": "http://auth"})
    result = translate(**cafe_cluster(ingresses=[ing]))
    assert result.events == [EventRecord("Normal", "AnnotationIgnored", "annotation nginx.ingress.kubernetes.io/"
                                         "auth-url is not supported by ingresslab and has no effect", "Ingress",
                                         "default", "cafe-ingress")]


# --- classes and validity ------------------------------------------------------------------------------------------

def test_ingresses_of_other_classes_are_ignored_and_get_no_status():
    other = ingress("traefik", [rule("other.example.com", path("/", "tea-svc"))], cls="traefik")
    result = translate(**cafe_cluster(ingresses=[ingress(rules=cafe_rules()), other]))
    assert [s.hostname for s in result.config.servers] == ["cafe.example.com"]
    assert list(result.statuses) == ["default/cafe-ingress"]


def test_an_ingress_without_class_belongs_to_the_default_class():
    plain = ingress(rules=cafe_rules(), cls=None)
    assert translate(**cafe_cluster(ingresses=[plain])).config.servers
    not_default = dict(NGINX_CLASS, metadata={"name": "nginx"})
    assert translate(**cafe_cluster(ingresses=[plain], ingress_classes=[not_default])).config.servers == ()


def test_the_legacy_class_annotation_still_selects_the_controller():
    legacy = ingress(rules=cafe_rules(), cls=None, annotations={"kubernetes.io/ingress.class": "nginx"})
    assert translate(**cafe_cluster(ingresses=[legacy], ingress_classes=[])).config.servers


def test_an_ingress_class_of_another_controller_does_not_count():
    theirs = {"metadata": {"name": "nginx"}, "spec": {"controller": "example.com/other"}}
    assert translate(**cafe_cluster(ingress_classes=[theirs])).config.servers == ()


def test_statuses_publish_the_controller_addresses_on_its_own_ingresses():
    result = translate(**cafe_cluster(status_addresses=["127.0.1.1", "ingress.lab.local"]))
    assert result.statuses == {"default/cafe-ingress": {"loadBalancer": {"ingress": [
        {"ip": "127.0.1.1"}, {"hostname": "ingress.lab.local"}]}}}


def test_a_stored_ingress_that_admission_would_refuse_never_reaches_the_model():
    bad = ingress("bad", [rule("evil.example.com", path("/x;\n}", "tea-svc", path_type="ImplementationSpecific"))])
    result = translate(**cafe_cluster(ingresses=[ingress(rules=cafe_rules()), bad]))
    assert [s.hostname for s in result.config.servers] == ["cafe.example.com"]
    [message] = warnings(result, "Rejected")
    assert message.startswith("the controller ignores this Ingress until it is fixed: spec.rules[0].http.paths[0].path")
    assert "injection rule" in message


# --- merging ---------------------------------------------------------------------------------------------------------

def test_a_conflicting_path_stays_with_the_older_ingress_and_the_newer_one_is_told_who_won():
    newer = ingress("copycat", [rule("cafe.example.com", path("/tea", "coffee-svc"))], created=T1)
    result = translate(**cafe_cluster(ingresses=[newer, ingress(rules=cafe_rules())]))
    tea = result.config.server("cafe.example.com").locations[0]
    assert (tea.path, tea.ingress) == ("/tea", "default/cafe-ingress")
    [event] = [e for e in result.events if e.reason == "PathConflict"]
    assert (event.type, event.name) == ("Warning", "copycat")
    assert event.message == ("Prefix path /tea on host cafe.example.com is already served by Ingress "
                             "default/cafe-ingress, which is older; this rule is ignored")


def test_ingresses_on_one_host_merge_in_age_order():
    tea = ingress("tea", [rule("cafe.example.com", path("/tea", "tea-svc"))], created=T1)
    coffee = ingress("coffee", [rule("cafe.example.com", path("/coffee", "coffee-svc", "http"))], created=T0)
    server = translate(**cafe_cluster(ingresses=[tea, coffee])).config.server("cafe.example.com")
    assert [loc.path for loc in server.locations] == ["/coffee", "/tea"]


def test_rules_without_host_go_to_the_catch_all_server():
    config = translate(**cafe_cluster(ingresses=[ingress(rules=[rule(None, path("/tea", "tea-svc"))])])).config
    assert [s.hostname for s in config.servers] == ["_"]


def test_an_ingress_default_backend_answers_the_unmatched_paths_of_its_hosts():
    config = translate(**cafe_cluster(ingresses=[ingress(rules=cafe_rules(), default="tea-svc")])).config
    root = config.server("cafe.example.com").locations[-1]
    assert (root.path, root.path_type, root.backend, root.rewrite_target) == ("/", "Prefix", "default-tea-svc-80", None)


def test_the_catch_all_default_sits_beside_rules_without_host():
    world = cafe_cluster(ingresses=[ingress("generic", [rule(None, path("/tea", "tea-svc"))], created=T0),
                                    ingress("fallback", default="coffee-svc", created=T1)])
    catch_all = translate(**world).config.server("_")
    assert [(loc.path, loc.backend) for loc in catch_all.locations] == [("/tea", "default-tea-svc-80"),
                                                                        ("/", "default-coffee-svc-80")]


def test_an_ingress_with_only_a_default_backend_takes_the_catch_all():
    config = translate(**cafe_cluster(ingresses=[ingress("fallback", default="tea-svc")])).config
    assert config.server("_").locations == (Location("/", "Prefix", "default-tea-svc-80",
                                                     ingress="default/fallback", service="default/tea-svc:80"),)


def test_a_resource_backend_is_skipped_with_a_warning():
    res = {"path": "/static", "pathType": "Prefix", "backend": {"resource": {"kind": "Bucket", "name": "b"}}}
    result = translate(**cafe_cluster(ingresses=[ingress(rules=[rule("cafe.example.com", res)])]))
    assert result.config.server("cafe.example.com").locations == ()
    assert warnings(result, "BackendIgnored") == ["path /static has a resource backend, which ingress-nginx does "
                                                  "not serve"]


# Hand-written: which Ingress owns each (host, pathType path) when several claim it. ingress-nginx takes the oldest;
# on equal creationTimestamps the greater "namespace/name" (sortIngressSlice: `return in > jn`).
CLAIMS = [
    ("older wins", [("a", T1, "default"), ("b", T0, "default")], "default/b"),
    ("older wins whatever the name", [("z", T1, "default"), ("a", T0, "default")], "default/a"),
    ("tie: greater name wins", [("a", T0, "default"), ("b", T0, "default")], "default/b"),
    ("tie: greater namespace wins", [("b", T0, "alpha"), ("a", T0, "beta")], "beta/a"),
    ("tie: namespace before name", [("z", T0, "default"), ("a", T0, "team")], "team/a"),
    ("no timestamp counts as oldest", [("a", T0, "default"), ("b", None, "default")], "default/b"),
]


@pytest.mark.parametrize("ingresses,owner", [c[1:] for c in CLAIMS], ids=[c[0] for c in CLAIMS])
def test_who_owns_a_path_several_ingresses_claim(ingresses, owner):
    claimants = []
    for name, created, namespace in ingresses:
        claimant = ingress(name, [rule("cafe.example.com", path("/tea", "tea-svc"))], created=created,
                           namespace=namespace)
        if created is None:
            del claimant["metadata"]["creationTimestamp"]
        claimants.append(claimant)
    for order in (claimants, claimants[::-1]):
        [tea] = translate(**cafe_cluster(ingresses=order)).config.server("cafe.example.com").locations
        assert tea.ingress == owner


# Hand-written: the locations each host gets (path, pathType, Service), in model order.
SERVERS = [
    ("cafe: two Prefix paths", cafe_rules(), {"cafe.example.com": [("/tea", "Prefix", "default/tea-svc:80"),
                                                                  ("/coffee", "Prefix", "default/coffee-svc:http")]}),
    ("same path, two pathTypes: both kept", [rule("a.test", path("/x", "tea-svc"),
                                                  path("/x", "coffee-svc", path_type="Exact"))],
     {"a.test": [("/x", "Prefix", "default/tea-svc:80"), ("/x", "Exact", "default/coffee-svc:80")]}),
    ("same path twice in one Ingress: the first", [rule("a.test", path("/x", "tea-svc"), path("/x", "coffee-svc"))],
     {"a.test": [("/x", "Prefix", "default/tea-svc:80")]}),
    ("no host: the catch-all; a wildcard host keeps its *", [rule(None, path("/", "tea-svc")),
                                                             rule("*.a.test", path("/w", "coffee-svc"))],
     {"_": [("/", "Prefix", "default/tea-svc:80")], "*.a.test": [("/w", "Prefix", "default/coffee-svc:80")]}),
    ("ImplementationSpecific kept as such", [rule("a.test", path("/i", "tea-svc", path_type="ImplementationSpecific"))],
     {"a.test": [("/i", "ImplementationSpecific", "default/tea-svc:80")]}),
]


@pytest.mark.parametrize("rules,servers", [c[1:] for c in SERVERS], ids=[c[0] for c in SERVERS])
def test_the_servers_and_locations_of_hand_written_ingresses(rules, servers):
    config = translate(**cafe_cluster(ingresses=[ingress(rules=rules)])).config
    assert {s.hostname: [(loc.path, loc.path_type, loc.service) for loc in s.locations]
            for s in config.servers} == servers


# --- TLS ------------------------------------------------------------------------------------------------------------

def test_a_tls_secret_gives_the_host_its_certificate():
    config = translate(**cafe_cluster()).config
    assert config.server("cafe.example.com").tls_secret == "default/cafe-secret"
    [cert] = config.certificates
    assert cert.secret == "default/cafe-secret"
    assert "BEGIN CERTIFICATE" in cert.pem and "PRIVATE KEY" in cert.pem


def test_a_missing_secret_means_the_default_certificate_and_an_event():
    result = translate(**cafe_cluster(secrets=[]))
    assert result.config.certificates == ()
    assert warnings(result, "TLSDefaultCertificate") == [
        "secret default/cafe-secret not found: host cafe.example.com uses the default (self-signed) certificate"]


def test_a_certificate_for_another_host_is_not_used():
    result = translate(**cafe_cluster(secrets=[tls_secret("cafe-secret", "tea.example.com")]))
    assert result.config.server("cafe.example.com").tls_secret is None
    assert "is for tea.example.com, not cafe.example.com" in warnings(result)[0]


def test_a_secret_of_the_wrong_type_is_not_used():
    result = translate(**cafe_cluster(secrets=[tls_secret(type_="Opaque")]))
    assert "is of type Opaque, not kubernetes.io/tls" in warnings(result)[0]


def test_a_key_that_does_not_fit_the_certificate_is_not_used_so_nginx_t_keeps_passing():
    secret = tls_secret()
    other_key = tls_secret("x", "other.example.com")["data"]["tls.key"]
    secret["data"] = dict(secret["data"], **{"tls.key": other_key})
    result = translate(**cafe_cluster(secrets=[secret]))
    assert result.config.certificates == ()
    assert "tls.key is not the key of the certificate in tls.crt" in warnings(result)[0]


def test_garbage_in_a_tls_secret_is_reported():
    secret = tls_secret()
    secret["data"] = {"tls.crt": "bm90IGEgY2VydA==", "tls.key": "???"}
    result = translate(**cafe_cluster(secrets=[secret]))
    assert "needs a PEM certificate in tls.crt" in warnings(result)[0]


def test_a_host_listed_under_tls_without_secret_name_uses_the_default_certificate():
    world = cafe_cluster(ingresses=[ingress(rules=cafe_rules(), tls=[{"hosts": ["cafe.example.com"]}])])
    result = translate(**world)
    assert result.config.server("cafe.example.com").tls_secret is None
    assert "listed under tls without a secretName" in warnings(result)[0]


def test_a_wildcard_certificate_covers_one_label():
    tls = [{"hosts": ["*.example.com"], "secretName": "wild"}]
    world = cafe_cluster(ingresses=[ingress(rules=cafe_rules(), tls=tls)],
                         secrets=[tls_secret("wild", "*.example.com")])
    assert translate(**world).config.server("cafe.example.com").tls_secret == "default/wild"


# --- the controller's own options ------------------------------------------------------------------------------------

def test_the_default_backend_service_becomes_upstream_default_backend_on_its_first_port():
    world = cafe_cluster(services=[service("tea-svc"), service("coffee-svc"), service("default-http-backend")],
                         endpoint_slices=[endpoint_slice("default-http-backend", ["10.244.9.9"])])
    config = translate(**world, default_backend_service="default/default-http-backend").config
    assert config.default_backend == DEFAULT_BACKEND_NAME
    backend = config.backend(DEFAULT_BACKEND_NAME)
    assert (backend.service, backend.port, backend.endpoints) == ("default-http-backend", 80,
                                                                  (Endpoint("10.244.9.9", 8080),))


def test_without_a_default_backend_service_nginx_answers_404_itself():
    assert translate(**cafe_cluster()).config.default_backend is None


def test_a_missing_default_backend_service_is_reported():
    result = translate(**cafe_cluster(), default_backend_service="default/nope")
    assert result.config.default_backend is None
    assert "default backend service default/nope not found" in warnings(result)[0]


def test_tcp_services_entries_become_stream_servers():
    world = cafe_cluster(services=[service("tea-svc"), service("coffee-svc"),
                                   service("tcp-echo", port=9000, target=9000, port_name="")],
                         endpoint_slices=[endpoint_slice("tcp-echo", ["10.244.5.5"], port=9000, port_name="")])
    tcp = {"kind": "ConfigMap", "metadata": {"name": "tcp-services", "namespace": "ingress-nginx"},
           "data": {"9000": "default/tcp-echo:9000", "80": "default/tcp-echo:9000", "9001": "default/nope:1",
                    "9002": "bad"}}
    result = translate(**world, tcp_services=tcp)
    [entry] = result.config.tcp_services
    assert (entry.port, entry.backend, entry.service) == (9000, "tcp-default-tcp-echo-9000", "default/tcp-echo:9000")
    assert result.config.backend("tcp-default-tcp-echo-9000").endpoints == (Endpoint("10.244.5.5", 9000),)
    skipped = warnings(result, "TCPServiceSkipped")
    assert len(skipped) == 3 and all(e.kind == "ConfigMap" and e.name == "tcp-services"
                                     for e in result.events if e.reason == "TCPServiceSkipped")
    assert "tcp port 80: port 80 is reserved" in skipped[0]


def test_the_controller_configmap_sets_the_settings_and_reports_what_it_cannot_use():
    configmap = {"kind": "ConfigMap", "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
                 "data": {"proxy-body-size": "20m", "ssl-redirect": "false", "worker-processes": "auto",
                          "enable-vts-status": "true"}}
    result = translate(**cafe_cluster(), configmap=configmap)
    settings = result.config.settings
    assert (settings.proxy_body_size, settings.ssl_redirect, settings.worker_processes) == ("20m", False, 1)
    assert warnings(result, "ConfigInvalid") == ["key worker-processes must be a whole number from 1 to 64; keeping "
                                                 "the default"]
    assert [e.reason for e in result.events if e.type == "Normal"] == ["ConfigIgnored"]
    tea = result.config.server("cafe.example.com").locations[0]
    assert tea.ssl_redirect is False


def test_a_configmap_may_be_passed_as_its_data_alone():
    assert translate(**cafe_cluster(), configmap={"keep-alive": "10"}).config.settings.keep_alive == 10


def test_runtime_fields_come_from_the_base_configuration():
    base = Configuration(listen_address="127.0.1.1", http_port=8080, https_port=8443, lua=False)
    config = translate(**cafe_cluster(), base=base).config
    assert (config.listen_address, config.http_port, config.https_port, config.lua) == ("127.0.1.1", 8080, 8443,
                                                                                       False)


def test_translation_is_deterministic_whatever_the_input_order():
    world = cafe_cluster()
    reversed_world = {k: list(reversed(v)) if isinstance(v, list) else v for k, v in world.items()}
    assert translate(**world).config == translate(**reversed_world).config


def test_the_model_renders_into_an_nginx_conf(tmp_path):
    ing2 = ingress("wild", [rule("*.example.org", path("/", "tea-svc", path_type="Exact"))], created=T2)
    config = translate(**cafe_cluster(ingresses=[ingress(rules=cafe_rules(), tls=[
        {"hosts": ["cafe.example.com"], "secretName": "cafe-secret"}], default="coffee-svc"), ing2])).config
    text = render_nginx_conf(config, paths=RenderPaths.under(tmp_path))
    assert "server_name cafe.example.com;" in text and "default-tea-svc-80" in text
