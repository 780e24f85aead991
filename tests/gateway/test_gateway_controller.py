"""The controller's unit of behaviour — the store's objects in, nginx serving and statuses out — with plain dicts
and the real nginx. (The watch loop itself needs the API server to serve the Gateway API CRDs.)"""
from __future__ import annotations

import socket

import pytest

from gateway.conftest import condition, endpoint_slice, gateway, gateway_class, http_route, service
from ingresslab.gateway.controller import CUSTOM, Options, gateway_service, plan, programmed
from ingresslab.gateway.objects import CONTROLLER_NAME
from ingresslab.ingress.nginx import lua_available

HTTP = [{"name": "http", "port": 80, "protocol": "HTTP"}]


def objects(**kw):
    base = {"gateway_classes": [gateway_class("lab"), gateway_class("theirs", controller="example.com/other")],
            "gateways": [], "httproutes": [], "reference_grants": [], "services": [service("web")],
            "endpoint_slices": endpoint_slice("web", [("127.0.0.9", 8080)]), "secrets": [], "namespaces": []}
    base.update(kw)
    return base


def test_plan_serves_only_gateways_of_our_accepted_classes_each_on_its_own_address():
    mine = gateway(HTTP, name="a")
    second = gateway(HTTP, name="b")
    theirs = gateway(HTTP, name="c", cls="theirs")
    addresses: dict = {}
    p = plan(objects(gateways=[mine, second, theirs]), Options(gateway_network="127.0.3.0/29"), addresses)
    assert sorted(p.translations) == ["default/a", "default/b"]
    assert p.addresses == {"default/a": "127.0.3.1", "default/b": "127.0.3.2"}
    assert list(p.class_statuses) == ["lab"]
    assert p.translations["default/a"].gateway_status["addresses"] == [{"type": "IPAddress", "value": "127.0.3.1"}]
    # A deleted Gateway frees its address; the others keep theirs (no needless reload).
    p = plan(objects(gateways=[second]), Options(gateway_network="127.0.3.0/29"), addresses)
    assert p.addresses == {"default/b": "127.0.3.2"}


def test_route_status_keeps_other_controllers_parents_and_drops_ours_when_detached():
    other = {"parentRef": {"name": "elsewhere"}, "controllerName": "example.com/other", "conditions": []}
    route = http_route("r", [{"backendRefs": [{"name": "web", "port": 80}]}])
    route["status"] = {"parents": [other]}
    p = plan(objects(gateways=[gateway(HTTP)], httproutes=[route]), Options(), {})
    parents = p.route_statuses["default/r"]["parents"]
    assert parents[0] == other and parents[1]["controllerName"] == CONTROLLER_NAME
    route["status"] = p.route_statuses["default/r"]
    route["spec"]["parentRefs"] = [{"name": "elsewhere"}]
    p = plan(objects(gateways=[gateway(HTTP)], httproutes=[route]), Options(), {})
    assert p.route_statuses["default/r"]["parents"] == [other]


def test_privileged_ports_are_shifted_when_not_root():
    route = http_route("r", [{"backendRefs": [{"name": "web", "port": 80}]}])
    p = plan(objects(gateways=[gateway(HTTP)], services=[service("web", target=80)], httproutes=[route],
                     endpoint_slices=endpoint_slice("web", [("127.0.0.9", 80)])),
             Options(privileged_port_offset=8000), {})
    config = p.translations["default/gw"].config
    assert [(x.port, x.spec_port) for x in config.ports] == [(8080, 80)]
    assert config.backend("default-web-80").endpoints[0].port == 8080


def test_gateway_service_is_a_node_port_labelled_with_the_gateway_name():
    gw = gateway(HTTP + [{"name": "alt", "port": 8080, "protocol": "HTTP"}])
    gw["metadata"]["uid"] = "1234"
    t = plan(objects(gateways=[gw]), Options(privileged_port_offset=10000), {})
    svc, eps = gateway_service(gw, t.translations["default/gw"], "127.0.3.1", 10000)
    assert svc["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"] == "gw"
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"] == [{"name": "http-80", "port": 80, "targetPort": 10080, "protocol": "TCP"},
                                    {"name": "http-8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]
    assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == "gw-nginx"
    assert eps["endpoints"] == [{"addresses": ["127.0.3.1"], "conditions": {"ready": True}}]
    assert svc["metadata"]["ownerReferences"][0]["uid"] == "1234"


@pytest.mark.skipif(not lua_available(), reason="needs nginx's Lua module")
def test_nginx_refusing_the_config_makes_the_gateway_not_programmed(gateway_nginx, listen, http):
    address, port, _ = listen
    blocker = socket.socket()
    blocker.bind((address, port))
    blocker.listen()
    try:
        p = plan(objects(gateways=[gateway(HTTP)]), Options(), {})
        t = p.translations["default/gw"]
        config = t.config.__class__(**{**t.config.__dict__, "listen_address": address,
                                       "ports": tuple(x.__class__(port, x.spec_port, x.protocol, x.servers)
                                                      for x in t.config.ports)})
        outcome = gateway_nginx.apply(config)
        assert not outcome.ok
        status = programmed(t.gateway_status, outcome.ok, outcome.error, 1)
        cond = condition(status["conditions"], "Programmed")
        assert (cond["status"], cond["reason"]) == ("False", "Invalid")
        assert "Address already in use" in cond["message"] or "bind" in cond["message"]
    finally:
        blocker.close()


def test_the_api_surface_the_controller_needs_is_declared():
    assert CUSTOM == {"gateway_classes": ("GatewayClass", "v1", "gatewayclasses"),
                      "gateways": ("Gateway", "v1", "gateways"), "httproutes": ("HTTPRoute", "v1", "httproutes"),
                      "reference_grants": ("ReferenceGrant", "v1beta1", "referencegrants")}


@pytest.mark.skipif(not lua_available(), reason="needs nginx's Lua module")
def test_gateway_service_reaches_the_gateways_nginx_through_a_node_port(lab, kubectl, tmp_path, backends):
    """The controller's Service and EndpointSlice, written to the live lab with the official client: kube-proxy's
    NodePort leads to the Gateway's nginx, which routes to the backend. (Only the Gateway API watch is missing.)"""
    import time

    import kubernetes

    from gateway.conftest import next_address, request
    from ingresslab.cluster.node.network import bind_port
    from ingresslab.gateway.controller import GatewayController

    app = backends("app")
    address = next_address()
    offset = bind_port(80) - 80
    controller = GatewayController(lab.api, Options(home=tmp_path / "gw", gateway_network=f"{address}/32",
                                                    privileged_port_offset=offset))
    gw = gateway(HTTP, name="lab-gw", namespace="default")
    route = http_route("r", [{"backendRefs": [{"name": "app", "port": 80}]}],
                       parents=[{"name": "lab-gw"}])
    try:
        p = plan(objects(gateways=[gw], httproutes=[route], services=[service("app")],
                         endpoint_slices=endpoint_slice("app", [(app.ip, app.port)])), controller.options,
                 controller.addresses)
        t = p.translations["default/lab-gw"]
        assert controller.nginx_for("default/lab-gw").apply(t.config).ok
        controller._ensure_service(gw, t, p.addresses["default/lab-gw"])
        core, disc = kubernetes.client.CoreV1Api(lab.api), kubernetes.client.DiscoveryV1Api(lab.api)
        versions = (core.read_namespaced_service("lab-gw-nginx", "default").metadata.resource_version,
                    disc.read_namespaced_endpoint_slice("lab-gw-nginx-gateway", "default").metadata.resource_version)
        controller._ensure_service(gw, t, p.addresses["default/lab-gw"])   # the second time: nothing to write
        svc = core.read_namespaced_service("lab-gw-nginx", "default")
        assert (svc.metadata.resource_version, disc.read_namespaced_endpoint_slice(
            "lab-gw-nginx-gateway", "default").metadata.resource_version) == versions
        assert svc.metadata.labels["gateway.networking.k8s.io/gateway-name"] == "lab-gw"
        node_port = svc.spec.ports[0].node_port
        node = lab.status()["nodes"][0]["ip"]
        deadline, reply = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            try:
                reply = request(node, node_port, "/through", host="anything.test", timeout=2)
                if reply.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert reply is not None and reply.name == "app", reply
        assert reply.json["path"] == "/through"
        listed = kubectl("get", "svc", "-l", "gateway.networking.k8s.io/gateway-name=lab-gw", "-o", "name").stdout
        assert listed.strip() == "service/lab-gw-nginx"
    finally:
        kubectl("delete", "service", "lab-gw-nginx", "--ignore-not-found")
        kubectl("delete", "endpointslice", "lab-gw-nginx-gateway", "--ignore-not-found")
        controller.stop()
