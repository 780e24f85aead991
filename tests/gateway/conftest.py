"""Fixtures for the Gateway tests: the Ingress tests' real backends and HTTP client, a real nginx running the
Gateway renderer, and builders for the plain dicts a watch delivers (GatewayClass, Gateway, HTTPRoute, …)."""
from __future__ import annotations

import base64

import pytest

from ingress.conftest import backends, certificate, free_port, http, listen, make_certificate, next_address, request  # noqa: F401
from ingresslab.gateway.objects import CONTROLLER_NAME
from ingresslab.gateway.render import render_gateway_conf
from ingresslab.ingress.nginx import NginxProcess
from ingresslab.ingress.nginx_os import group_members


@pytest.fixture
def gateway_nginx(tmp_path):
    """A NginxProcess with the Gateway renderer in a temporary home; stopped after the test, nothing left."""
    process = NginxProcess(tmp_path / "home", renderer=render_gateway_conf, subdir="gateway-default-gw")
    pgid = None
    try:
        yield process
        pgid = process.pid
    finally:
        process.stop()
    if pgid is not None:
        assert group_members(pgid) == []


def gateway_class(name: str = "lab", controller: str = CONTROLLER_NAME) -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": name, "generation": 1}, "spec": {"controllerName": controller}}


def gateway(listeners: list[dict], *, name: str = "gw", namespace: str = "default", cls: str = "lab",
            generation: int = 1) -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace, "generation": generation},
            "spec": {"gatewayClassName": cls, "listeners": listeners}}


def http_route(name: str, rules: list[dict], *, namespace: str = "default", hostnames: list[str] | None = None,
               parents: list[dict] | None = None, created: str = "2026-01-01T00:00:00Z", generation: int = 1) -> dict:
    spec = {"parentRefs": parents if parents is not None else [{"name": "gw", "namespace": "default"}],
            "rules": rules}
    if hostnames:
        spec["hostnames"] = hostnames
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace, "generation": generation,
                         "creationTimestamp": created}, "spec": spec}


def service(name: str, *, namespace: str = "default", port: int = 80, target: int = 8080) -> dict:
    return {"kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": port, "targetPort": target}]}}


def endpoint_slice(service_name: str, addresses: list[tuple[str, int]], *, namespace: str = "default") -> list[dict]:
    """One EndpointSlice per distinct port (test backends each listen on their own port)."""
    by_port: dict[int, list[str]] = {}
    for ip, port in addresses:
        by_port.setdefault(port, []).append(ip)
    return [{"kind": "EndpointSlice", "addressType": "IPv4",
             "metadata": {"name": f"{service_name}-{i}", "namespace": namespace,
                          "labels": {"kubernetes.io/service-name": service_name}},
             "ports": [{"name": "http", "port": port}],
             "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}
            for i, (port, ips) in enumerate(sorted(by_port.items()))]


def tls_secret(name: str, pem: str, *, namespace: str = "default") -> dict:
    cert, key = pem.split("-----BEGIN PRIVATE KEY-----")
    key = "-----BEGIN PRIVATE KEY-----" + key
    return {"kind": "Secret", "type": "kubernetes.io/tls", "metadata": {"name": name, "namespace": namespace},
            "data": {"tls.crt": base64.b64encode(cert.encode()).decode(),
                     "tls.key": base64.b64encode(key.encode()).decode()}}


def reference_grant(namespace: str, *, from_kind: str, from_namespace: str, to_kind: str) -> dict:
    return {"kind": "ReferenceGrant", "metadata": {"name": "allow", "namespace": namespace},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": from_kind, "namespace": from_namespace}],
                     "to": [{"group": "", "kind": to_kind}]}}


def condition(conditions: list[dict], type_: str) -> dict:
    return next(c for c in conditions if c["type"] == type_)
