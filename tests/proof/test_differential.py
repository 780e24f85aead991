"""Differential proof: the real nginx, running the config we generate, routes every request as the Ingress spec says.

`reference.route` is the spec and ingress-nginx's documented behaviour written as plain Python, sharing no code with
translate.py/render.py (tests/ingress/test_reference.py holds it to hand-written tables). Here Hypothesis draws
random *valid* Ingress sets — wildcard hosts and rules without a host, Exact/Prefix/ImplementationSpecific paths
with shared prefixes and trailing slashes, several Ingresses on one host with tied or different
creationTimestamps, defaultBackends, Service ports by number and by name, other classes, `use-regex` with regex
paths, `rewrite-target`s, TLS sections (good or missing Secret) — and the cluster behind them: Services whose
endpoints are not ready, and a `--default-backend-service` or none. Requests vary too (hosts with ports, upper
case, final dots; paths with `//`, `/./`, queries, %XX, case changes). Each example is translated
(`translate.translate`), rendered and applied to ONE real nginx for the module (`NginxProcess.apply`: render →
`nginx -t` → swap → reload), whose upstreams are tiny real HTTP servers that answer their own name and echo the
path they received. Every request, plus probes at every rule's edges, must get exactly what the reference says:
200 from the named backend with the path it names (the request's own, or the rewrite), 503 when that Service has
no ready endpoint, 404 when nothing answers, and for a TLS host a 308 over HTTP and the routed answer over HTTPS.

The second property widens the generator to everything else that reaches nginx.conf — every annotation (valid
values and random text), ImplementationSpecific paths of random text, TLS sections with good, wrong, missing and
non-TLS Secrets, the controller ConfigMap and the TCP services ConfigMap — keeps what admission accepts, and
proves each resulting file passes `nginx -t`: an accepted object can never make nginx refuse its configuration.

Profiles: 300 examples per property in CI, 2,000 with `INGRESSLAB_PROOF=long`; reproduce with
`pytest --hypothesis-seed=N tests/proof/test_differential.py` or `HYPOTHESIS_SEED=N` (a failure also prints a
`@reproduce_failure` blob).
"""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ingresslab.cluster.node.network import bind_port
from ingresslab.ingress.controller import offset_low_ports
from ingresslab.ingress.model import Configuration
from ingresslab.ingress.nginx import NginxProcess, lua_available, stream_available
from ingresslab.ingress.reference import request_host, route, tls_host
from ingresslab.ingress.render import render_nginx_conf
from ingresslab.ingress.translate import translate
from ingresslab.ingress.validate import validate_ingress

from .conftest import NamedBackend, certificate_pair, free_port, fresh_address, http_get, processes_under
from .strategies import (INGRESS_CLASSES, NAMESPACES, PROOF, SERVICE_PORTS, SERVICES, accepted_inputs, b64,
                         backend_name, endpoint_slices, ingress_sets, probes, requests, services)

pytestmark = pytest.mark.skipif(not lua_available(), reason="needs nginx with libnginx-mod-http-lua")


@pytest.fixture(scope="module")
def backends():
    """One tiny HTTP server per (namespace, Service, port), answering `namespace/service:port`."""
    ip = fresh_address()
    servers = {}
    try:
        for ns in NAMESPACES:
            for name in SERVICES:
                for port, _ in SERVICE_PORTS:
                    answer = backend_name(ns, name, port)
                    servers[answer] = NamedBackend(ip, answer)
        yield {answer: server.address for answer, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def listen():
    ip = fresh_address()
    return ip, free_port(ip), free_port(ip)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """One real nginx for the whole module; each example re-applies its configuration."""
    home = tmp_path_factory.mktemp("proof-nginx")
    process = NginxProcess(home)
    try:
        yield process
    finally:
        process.stop()
    assert processes_under(home) == [], "nginx left running"


def model(ingress_list, backends, listen, *, unready=frozenset(), **objects):
    """What the controller would run: translate, then (without root) ports below 1024 moved up as the lab does."""
    ip, http_port, https_port = listen
    base = Configuration(listen_address=ip, http_port=http_port, https_port=https_port, lua=True)
    result = translate(ingresses=ingress_list, services=services(),
                       endpoint_slices=endpoint_slices(backends, unready=unready),
                       ingress_classes=INGRESS_CLASSES, base=base, **objects)
    return offset_low_ports(result, bind_port(80) - 80).config


def explain(ingress_list, nginx) -> str:
    import yaml
    return ("\nIngresses:\n" + yaml.safe_dump(ingress_list, sort_keys=False) + "\nserver/location lines:\n"
            + "\n".join(line for line in nginx.conf().splitlines()
                        if line.strip().startswith(("server_name", "location", "set $proxy_upstream_name"))))


@st.composite
def clusters(draw) -> dict:
    """The cluster behind the Ingresses: which Services have no ready endpoint, and `--default-backend-service`."""
    unready = draw(st.one_of(st.just(frozenset()), st.frozensets(
        st.tuples(st.sampled_from(NAMESPACES), st.sampled_from(SERVICES)), max_size=2)))
    default = draw(st.sampled_from([None, None, "default/s0", "team/s2"]))
    return {"unready": unready, "default_backend_service": default}


def expected(ingress_list, cluster, host: str, path: str, *, scheme: str) -> tuple[int, str | None, str | None]:
    """(status, backend answer, path the backend must see — None: not checked) as the reference says."""
    if scheme == "http" and tls_host(ingress_list, host):
        return 308, None, None
    found = route(ingress_list, host, path)
    if found is None:
        if cluster["default_backend_service"] is None:
            return 404, None, None
        namespace, _, name = cluster["default_backend_service"].partition("/")
        found_ns, found_name, port, seen = namespace, name, 80, None
    else:
        found_ns, found_name, port = found.namespace, found.service, found.port
        seen = None                           # the path is checked where a rewrite made it
        if found.upstream_path is not None:   # nginx's `rewrite … break` keeps a non-empty query
            query = path.partition("?")[2]
            seen = found.upstream_path + ("?" + query if query else "")
    if (found_ns, found_name) in cluster["unready"]:
        return 503, None, None
    return 200, backend_name(found_ns, found_name, port), seen


@pytest.fixture(scope="module")
def good_certificate() -> list[dict]:
    """`tls-good` in both namespaces: one certificate for every rule host the generator draws."""
    crt, key = certificate_pair("a.test", "b.test", "x.a.test", "*.a.test", "*.x.a.test")
    return [{"metadata": {"namespace": ns, "name": "tls-good"}, "type": "kubernetes.io/tls",
             "data": {"tls.crt": b64(crt), "tls.key": b64(key)}} for ns in NAMESPACES]


@PROOF
@given(ingress_list=ingress_sets(routing=True), cluster=clusters(), extra_requests=requests())
def test_nginx_routes_every_request_to_the_backend_the_reference_names(nginx, backends, listen, good_certificate,
                                                                        ingress_list, cluster, extra_requests):
    for ingress in ingress_list:
        assert validate_ingress(ingress) == [], ingress   # the generator draws valid Ingresses only
    config = model(ingress_list, backends, listen, unready=cluster["unready"], secrets=good_certificate,
                   default_backend_service=cluster["default_backend_service"])
    outcome = nginx.apply(config, reason="hypothesis example")
    assert outcome.ok, outcome.error
    ip, http_port, https_port = listen
    for host, path in probes(ingress_list) + extra_requests:
        for scheme in ("http", "https") if tls_host(ingress_list, host) else ("http",):
            want = expected(ingress_list, cluster, host, path, scheme=scheme)
            reply = http_get(ip, http_port if scheme == "http" else https_port, path, host,
                             sni=request_host(host) if scheme == "https" else None)
            got = (reply.status, reply.text if reply.status == 200 else None,
                   reply.headers.get("x-seen-path") if want[2] is not None else None)
            assert got == want, (
                f"{scheme}://{host}{path}: reference says {route(ingress_list, host, path) or 'no rule'} → "
                f"{want}, nginx answered {got} {reply.text[:80]!r} {reply.error}; cluster {cluster}"
                + explain(ingress_list, nginx))


# --- every accepted input renders to a config nginx accepts ----------------------------------------------------------

class _Secrets(list):
    def __repr__(self) -> str:
        return f"<{len(self)} TLS and Opaque Secrets>"


@pytest.fixture(scope="module")
def secrets() -> list[dict]:
    """In both namespaces: a good certificate for *.a.test and a.test, one for another host, an Opaque one."""
    good = certificate_pair("a.test")
    wild = certificate_pair("*.a.test")
    other = certificate_pair("elsewhere.test")
    out = []
    for ns in NAMESPACES:
        for name, (crt, key), kind in (("tls-good", good, "kubernetes.io/tls"), ("tls-wild", wild, "kubernetes.io/tls"),
                                       ("tls-wrong-host", other, "kubernetes.io/tls"),
                                       ("tls-opaque", good, "Opaque")):
            out.append({"metadata": {"namespace": ns, "name": name}, "type": kind,
                        "data": {"tls.crt": b64(crt), "tls.key": b64(key)}})
    return _Secrets(out)


PRIVILEGED_TCP_PORT = {   # found by this property when the suite ran as an ordinary user: nginx cannot bind :80
    "ingresses": [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
        "name": "ing-0", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z", "annotations": {}},
        "spec": {"defaultBackend": {"service": {"name": "s0", "port": {"number": 80}}}}}],
    "configmap": {}, "tcp_services": {"80": "default/s0:80"}}


@PROOF
@given(inputs=accepted_inputs())
@example(inputs=PRIVILEGED_TCP_PORT)
def test_every_accepted_input_renders_a_config_nginx_t_accepts(nginx, backends, listen, secrets, inputs):
    accepted = [i for i in inputs["ingresses"] if not validate_ingress(i)]
    tcp = inputs["tcp_services"] if stream_available(nginx.paths.modules_dir) else {}
    config = model(accepted, backends, listen, secrets=secrets,
                   configmap={"metadata": {"namespace": "ingress-nginx", "name": "nginx-configuration"},
                              "data": inputs["configmap"]},
                   tcp_services={"metadata": {"namespace": "ingress-nginx", "name": "tcp-services"}, "data": tcp})
    text = render_nginx_conf(config, paths=nginx.paths)   # never raises for translate's output
    ok, stderr = nginx.check(config)
    assert ok, f"nginx -t refused the config of accepted input {inputs!r}:\n{stderr}\n{text}"
