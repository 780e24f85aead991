"""kube-proxy really forwards: ClusterIP:port and every node's nodePort reach the ready pods of a Service, follow
scaling live, refuse connections when no pod is ready, and log every connection; it also renders iptables text."""
from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from ingresslab.cluster.node.proxy.kubeproxy import build_forward_rules, render, service_port_label
from ingresslab.cluster.node.network import Network, bind_port
from ingresslab.cluster.storage.store import Store
from cluster_harness import get, refused, run_async, running_controllers

SLICES = "endpointslices.discovery.k8s.io"


@contextlib.asynccontextmanager
async def cluster(home: Path):
    async with running_controllers(home) as (store, controllers, _):
        yield store, controllers


def deployment(name: str, replicas: int, image: str = "nginxdemos/nginx-hello:plain-text") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image,
                                                           "ports": [{"containerPort": 8080, "name": "http"}]}]}}}}


def service(name: str, app: str, type_: str = "ClusterIP", **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": type_, "selector": {"app": app}, **spec,
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}


def server_name(answer: str) -> str:
    return re.search(r"Server name: (\S+)", answer).group(1)


async def deploy(store: Store, c, name: str, replicas: int, type_: str = "ClusterIP", **kw) -> dict:
    store.create("deployments.apps", deployment(name, replicas, **{k: v for k, v in kw.items() if k == "image"}))
    spec = {k: v for k, v in kw.items() if k != "image"}
    svc = store.create("services", c.allocator.allocate(service(f"{name}-svc", name, type_, **spec)))
    await c.wait_idle()
    return svc


@run_async
async def test_sixty_requests_to_the_cluster_ip_reach_every_pod_of_three(tmp_path):
    async with cluster(tmp_path) as (store, c):
        svc = await deploy(store, c, "tea", 3)
        answers = [await get(svc["spec"]["clusterIP"], bind_port(80), f"/tea/{i}") for i in range(60)]
        pods = {p["metadata"]["name"] for p in store.list("pods", "default")}
        assert {server_name(a) for a in answers} == pods
        log = [json.loads(line) for line in (tmp_path / "logs" / "kube-proxy.log").read_text().splitlines()]
        assert len(log) == 60 and {r["label"] for r in log} == {"default/tea-svc:http"}
        assert {tuple(r["frontend"]) for r in log} == {(svc["spec"]["clusterIP"], bind_port(80))}


@run_async
async def test_a_node_port_answers_on_every_node_and_the_pod_sees_the_node_as_client(tmp_path):
    async with cluster(tmp_path) as (store, c):
        svc = await deploy(store, c, "echo", 2, "NodePort", image="ingresslab/echo:latest")
        node_port = svc["spec"]["ports"][0]["nodePort"]
        for node in c.network.nodes:
            answer = json.loads((await get(node.ip, node_port, "/np")).split("\r\n\r\n", 1)[1])
            assert answer["client"].split(":")[0] == node.ip       # masqueraded, as kube-proxy does
            assert answer["path"] == "/np"


@run_async
async def test_external_traffic_policy_local_keeps_the_client_and_only_uses_local_pods(tmp_path):
    async with cluster(tmp_path) as (store, c):
        svc = await deploy(store, c, "echo", 1, "NodePort", image="ingresslab/echo:latest",
                           externalTrafficPolicy="Local")
        node_port = svc["spec"]["ports"][0]["nodePort"]
        [p] = store.list("pods", "default")
        here = next(n for n in c.network.nodes if n.name == p["spec"]["nodeName"])
        there = next(n for n in c.network.nodes if n.name != p["spec"]["nodeName"])
        answer = json.loads((await get(here.ip, node_port)).split("\r\n\r\n", 1)[1])
        assert answer["client"].split(":")[0] == "127.0.0.1"
        assert await refused(there.ip, node_port)


@run_async
async def test_a_service_without_ready_endpoints_refuses_connections_and_recovers_when_scaled_up(tmp_path):
    async with cluster(tmp_path) as (store, c):
        svc = await deploy(store, c, "coffee", 1, "NodePort")
        ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        d = store.require("deployments.apps", "default", "coffee")
        d["spec"]["replicas"] = 0
        store.update("deployments.apps", d)
        await c.wait_idle()
        assert await refused(ip, bind_port(80))
        assert await refused(c.network.nodes[0].ip, node_port)
        d = store.require("deployments.apps", "default", "coffee")
        d["spec"]["replicas"] = 2
        store.update("deployments.apps", d)
        await c.wait_idle()
        assert "Server name: coffee-" in await get(ip, bind_port(80))
        assert "Server name: coffee-" in await get(c.network.nodes[1].ip, node_port)


@run_async
async def test_deleting_a_service_closes_its_listeners(tmp_path):
    async with cluster(tmp_path) as (store, c):
        svc = await deploy(store, c, "coffee", 1, "NodePort")
        assert not await refused(svc["spec"]["clusterIP"], bind_port(80))
        store.delete("services", "default", "coffee-svc")
        await c.wait_idle()
        assert await refused(svc["spec"]["clusterIP"], bind_port(80))
        assert await refused(c.network.nodes[0].ip, svc["spec"]["ports"][0]["nodePort"])


def test_rules_name_the_service_port_and_forward_to_the_ports_pods_really_bind():
    network = Network(5)
    svc = {"metadata": {"name": "web", "namespace": "shop"},
           "spec": {"type": "NodePort", "clusterIP": "127.96.5.9",
                    "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"},
                              {"port": 53, "protocol": "UDP"}]}}
    endpoints = {"metadata": {"name": "web-abcde", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                 "endpoints": [{"addresses": ["127.244.10.2"], "conditions": {"ready": True}, "nodeName": "node-1"},
                               {"addresses": ["127.244.10.3"], "conditions": {"ready": False}, "nodeName": "node-1"},
                               {"addresses": ["127.244.11.2"], "conditions": {}, "nodeName": "node-2"}]}
    rules = build_forward_rules([svc], [endpoints], network)
    assert [(r.listen_ip, r.listen_port, r.source_ip, r.protocol) for r in rules] == [
        ("127.96.5.9", bind_port(80), "client", "TCP"), (network.nodes[0].ip, 30080, network.nodes[0].ip, "TCP"),
        (network.nodes[1].ip, 30080, network.nodes[1].ip, "TCP"), ("127.96.5.9", bind_port(53), "client", "UDP")]
    assert {r.label for r in rules} == {"shop/web:http", "shop/web"}
    assert rules[3].backends == ()      # no endpoint serves 53/UDP: no listener (kube-proxy's REJECT)
    assert rules[0].backends == (("127.244.10.2", bind_port(80)), ("127.244.11.2", bind_port(80)))
    assert service_port_label("shop", "web", "") == "shop/web"


@run_async
async def test_the_iptables_view_shows_the_services_chains(tmp_path):
    async with cluster(tmp_path) as (store, c):
        svc = await deploy(store, c, "tea", 2)
        text = render(store)
        assert text.startswith("*filter") and "*nat" in text
        assert f'-d {svc["spec"]["clusterIP"]}/32 -p tcp -m comment --comment "default/tea-svc:http cluster IP"' \
            in text
        assert c.kubeproxy.render(node_ip=c.network.nodes[0].ip) != text


def test_without_root_ports_below_1024_are_bound_at_the_offset_on_both_hops(tmp_path, monkeypatch):
    monkeypatch.setattr("ingresslab.cluster.node.network.privileged", lambda: False)

    @run_async
    async def scenario():
        async with cluster(tmp_path) as (store, c):
            store.create("deployments.apps", deployment("old", 2, image="nginxdemos/hello:plain-text"))
            d = store.require("deployments.apps", "default", "old")
            d["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "name": "http"}]
            store.update("deployments.apps", d)
            svc = store.create("services", c.allocator.allocate(service("old-svc", "old")))
            await c.wait_idle()
            [s] = [x for x in store.list(SLICES, "default") if x["metadata"]["name"].startswith("old-svc-")]
            assert s["ports"][0]["port"] == 80                      # the API shows the container's port ...
            assert await refused(svc["spec"]["clusterIP"], 80)      # ... the lab binds it 10000 higher
            answer = await get(svc["spec"]["clusterIP"], 10080)
            assert re.search(r"Server address: 127\.244\.\d+\.\d+:80\n", answer)

    scenario()
