"""trace: real requests through a node's NodePort, the real nginx and real pods, joined back from their own logs."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import kubernetes
import pytest

from ingresslab import Lab, viz
from ingresslab.lab import LabError
from ingresslab.trace import Response, Trace, TraceError, hop_table, send, trace

ROOT = Path(__file__).resolve().parent.parent
HOST = "cafe.example.com"
SERVICE_UPSTREAM = "nginx.ingress.kubernetes.io/service-upstream"
CAFE_INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: cafe-ingress
spec:
  ingressClassName: nginx
  rules:
  - host: cafe.example.com
    http:
      paths:
      - path: /tea
        pathType: Prefix
        backend:
          service:
            name: tea-svc
            port:
              number: 80
      - path: /coffee
        pathType: Prefix
        backend:
          service:
            name: coffee-svc
            port:
              number: 80
"""


def answered_by(lab: Lab, path: str, prefix: str, *, timeout: float = 60.0, **options) -> Response:
    """Send until a pod whose name starts with `prefix` answers (the controller needs a moment after an apply)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = send(lab, HOST, path, **options)
            if last.status == 200 and (last.pod or "").startswith(prefix):
                return last
        except (LabError, OSError) as exc:
            last = exc
        time.sleep(0.2)
    pytest.fail(f"no answer from a {prefix}… pod through the Ingress within {timeout:.0f} s; last: {last!r} "
                f"(see {lab.home}/logs/lab.log)")


@pytest.fixture(scope="module")
def cafe():
    # A short home: nginx's unix socket path lives under it and must stay below 108 bytes ("pytest-" keeps the
    # session's leftover-process check looking at our nginx).
    home = tempfile.mkdtemp(prefix="pytest-")
    lab = Lab.up(home)
    try:
        lab.apply(ROOT / "manifests" / "cafe.yaml")
        lab.apply(CAFE_INGRESS)
        answered_by(lab, "/coffee", "coffee-")
        yield lab
    finally:
        lab.down()
        shutil.rmtree(home, ignore_errors=True)


def pod_addresses(lab: Lab, namespace: str) -> dict[str, str]:
    pods = kubernetes.client.CoreV1Api(lab.api).list_namespaced_pod(namespace).items
    return {p.metadata.name: p.status.pod_ip for p in pods}


def test_send_goes_through_the_first_node_at_the_controllers_node_port(cafe):
    response = send(cafe, HOST, "/coffee")
    first = cafe.status()["nodes"][0]
    assert response.status == 200 and response.pod.startswith("coffee-")
    assert response.server_addr == f"{first['ip']}:{cafe.ingress_node_ports()['http_nodeport']}"
    assert response.node == first["name"]
    assert f"Request ID: {response.request_id}" in response.body
    assert len(response.request_id) == 32 and int(response.request_id, 16) >= 0


def test_send_through_another_node_by_name(cafe):
    second = cafe.status()["nodes"][1]
    response = send(cafe, HOST, "/tea", node=second["name"])
    assert response.status == 200 and response.pod.startswith("tea-")
    assert response.server_addr.startswith(second["ip"] + ":")


def test_trace_joins_three_hops_by_their_addresses(cafe):
    response = answered_by(cafe, "/coffee", "coffee-")
    found = trace(cafe, response)
    assert [h.component for h in found.hops] == ["kube-proxy", "nginx", "pod"]
    entry, nginx, pod = found.hops
    # client → node:NodePort, as our socket saw it
    assert (entry.from_addr, entry.to_addr) == (response.client_addr, response.server_addr)
    assert entry.name == cafe.status()["nodes"][0]["name"]
    # kube-proxy's backend is the controller pod, and nginx saw kube-proxy's outgoing address as its peer
    controllers = pod_addresses(cafe, "ingress-nginx")
    assert nginx.to_addr.rpartition(":")[0] in controllers.values()
    assert nginx.name.startswith("ingress-nginx/nginx-ingress-controller-")
    assert nginx.from_addr.rpartition(":")[0] == response.server_addr.rpartition(":")[0]  # the node's own address
    assert f"upstream_addr={pod.to_addr}" in nginx.detail
    # nginx's upstream_addr is the pod that answered, and that pod logged our id
    assert pod.to_addr == response.server_address
    assert pod.name == f"default/{response.pod}" and found.pod == response.pod
    assert f"rid={response.request_id}" in pod.detail and f"peer={pod.from_addr}" in pod.detail
    assert found.status == 200 and found.body == response.body and not found.service_upstream
    assert entry.at is not None and response.started <= entry.at <= response.finished


def test_trace_from_the_request_id_alone_finds_the_same_hops(cafe):
    response = answered_by(cafe, "/tea", "tea-")
    by_response, by_id = trace(cafe, response), trace(cafe, response.request_id)
    assert by_id.hops == by_response.hops
    assert by_id.status == 200 and by_id.pod == response.pod and by_id.started is None
    # without the client's start, the first hop's own time and the total are unknown, the others still known
    first, *rest = by_id.hop_timings()
    assert first.own_ms is None and first.at_ms == 0.0 and by_id.total_ms is None
    assert [t.own_ms for t in rest] == [t.own_ms for t in by_response.hop_timings()[1:]]
    assert by_id.request.startswith("GET /tea ") and by_id.host == HOST


def test_trace_over_https_with_sni(cafe):
    response = answered_by(cafe, "/coffee", "coffee-", scheme="https")
    assert response.server_addr.endswith(f":{cafe.ingress_node_ports()['https_nodeport']}")
    found = trace(cafe, response)
    assert [h.component for h in found.hops] == ["kube-proxy", "nginx", "pod"]
    assert found.hops[2].to_addr == response.server_address


def test_an_id_nobody_logged_is_a_trace_error_naming_the_log(cafe):
    with pytest.raises(TraceError, match="access.log"):
        trace(cafe, "0123456789abcdef" * 2, timeout=0.2)
    with pytest.raises(ValueError, match="32 hex"):
        trace(cafe, "not-an-id")


def test_hop_table_has_one_row_per_hop_with_time_offsets(cafe):
    found = trace(cafe, answered_by(cafe, "/coffee", "coffee-"))
    rows = hop_table(found)
    assert [r["hop"] for r in rows] == [1, 2, 3]
    assert [r["component"] for r in rows] == ["kube-proxy", "nginx", "pod"]
    assert rows[0]["from"] == found.hops[0].from_addr and rows[2]["to"] == found.hops[2].to_addr
    assert set(rows[0]) == {"hop", "component", "where", "from", "to", "hop_ms", "at_ms", "detail"}
    assert rows[0]["at_ms"] is not None and 0 <= rows[0]["at_ms"] < 5000
    # at_ms is cumulative, hop_ms each hop's own share: the own shares of the timed hops add up to the last at_ms
    timed = [r for r in rows if r["hop_ms"] is not None]
    assert timed and abs(sum(r["hop_ms"] for r in timed) - timed[-1]["at_ms"]) < 0.05 * len(timed) + 0.01
    assert all(r["hop_ms"] <= r["at_ms"] + 0.05 for r in timed)
    assert found.total_ms is not None and found.total_ms >= timed[-1]["at_ms"] - 2.0   # log times: 1 ms steps


def test_the_picture_of_a_real_trace_names_every_address(cafe):
    found = trace(cafe, answered_by(cafe, "/coffee", "coffee-"))
    svg = viz.svg(viz.request_path(found, highlight=True))
    for hop in found.hops:
        assert hop.to_addr in svg and f"from {hop.from_addr}" in svg
    assert viz.COLOURS["highlight"] in svg


def test_service_upstream_adds_the_cluster_ip_hop(cafe):
    networking = kubernetes.client.NetworkingV1Api(cafe.api)
    coffee_ip = kubernetes.client.CoreV1Api(cafe.api).read_namespaced_service("coffee-svc", "default").spec.cluster_ip
    networking.patch_namespaced_ingress("cafe-ingress", "default",
                                        {"metadata": {"annotations": {SERVICE_UPSTREAM: "true"}}})
    try:
        deadline, found = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            response = answered_by(cafe, "/coffee", "coffee-")
            found = trace(cafe, response)
            if len(found.hops) == 4:
                break
            time.sleep(0.2)
        assert found is not None and len(found.hops) == 4, f"the ClusterIP hop never appeared: {found}"
        assert [h.component for h in found.hops] == ["kube-proxy", "nginx", "kube-proxy", "pod"]
        _, nginx, via_service, pod = found.hops
        # nginx sent the request to the ClusterIP; kube-proxy took it from there to the pod that answered
        assert via_service.to_addr.rpartition(":")[0] == coffee_ip
        assert f"upstream_addr={via_service.to_addr}" in nginx.detail
        assert via_service.name == "default/coffee-svc:http"
        assert pod.to_addr == response.server_address and pod.name == f"default/{response.pod}"
        assert f"peer={pod.from_addr}" in pod.detail and found.service_upstream
        assert isinstance(found, Trace)
    finally:
        networking.patch_namespaced_ingress("cafe-ingress", "default",
                                            {"metadata": {"annotations": {SERVICE_UPSTREAM: None}}})
