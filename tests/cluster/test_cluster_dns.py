"""Cluster DNS: CoreDNS pods behind the kube-dns Service answer real DNS queries (UDP and TCP, through kube-proxy)
for Services, headless Services, pods and named ports, and NXDOMAIN for the rest."""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode
import dns.rdatatype

from ingresslab.cluster.addons import coredns
from ingresslab.cluster.addons.dns import resolve, resolve_async, search_names
from cluster_harness import run_async, running_controllers

HELLO = "nginxdemos/nginx-hello:plain-text"


@contextlib.asynccontextmanager
async def cluster_with_dns(home: Path):
    async with running_controllers(home) as (store, controllers, network):
        store.create("namespaces", {"metadata": {"name": "kube-system"}})
        coredns.register_image(store)
        address = coredns.install(store, controllers.allocator, network)
        await controllers.wait_idle()
        yield store, controllers, address


def deploy(store, c, name: str, *, headless: bool = False, replicas: int = 2) -> dict:
    for i in range(replicas):
        store.create("pods", {"metadata": {"name": f"{name}-{i}", "namespace": "default", "labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": HELLO,
                                                       "ports": [{"containerPort": 8080}]}]}})
    svc = {"metadata": {"name": name, "namespace": "default"},
           "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    if headless:
        svc["spec"]["clusterIP"] = "None"
    return store.create("services", c.allocator.allocate(svc))


async def ask(address, name: str, rdtype=dns.rdatatype.A, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(query, address[0], port=address[1], timeout=3)


async def ready_dns(store, c) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        await c.wait_idle()
        pods = store.list("pods", "kube-system")
        if len(pods) == 2 and all(p["status"]["containerStatuses"][0]["ready"] for p in pods if p.get("status")
                                  and p["status"].get("containerStatuses")):
            slices = store.list("endpointslices.discovery.k8s.io", "kube-system")
            if sum(1 for s in slices for e in s.get("endpoints") or [] if e["conditions"]["ready"]) >= 2:
                return
        assert asyncio.get_running_loop().time() < deadline, "CoreDNS pods not ready"
        await asyncio.sleep(0.05)


@run_async
async def test_services_resolve_by_short_and_full_name_over_udp_and_tcp_through_kube_proxy(tmp_path):
    async with cluster_with_dns(tmp_path) as (store, c, address):
        assert address[0] == list(c.network.service_ips())[9]           # the 10th address, as kubeadm's 10.96.0.10
        await ready_dns(store, c)
        pods = store.list("pods", "kube-system")
        assert [p["spec"]["containers"][0]["image"] for p in pods] == [coredns.IMAGE] * 2
        assert all(p["status"]["phase"] == "Running" for p in pods)
        tea = deploy(store, c, "tea-svc")
        await c.wait_idle()
        ip = tea["spec"]["clusterIP"]
        for name in ("tea-svc", "tea-svc.default", "tea-svc.default.svc", "tea-svc.default.svc.cluster.local"):
            assert await resolve_async(name, "default", nameserver=address) == [ip]
            assert await resolve_async(name, "default", nameserver=address, tcp=True) == [ip]
        assert await resolve_async("kubernetes.default", "kube-system", nameserver=address) == [
            store.require("services", "default", "kubernetes")["spec"]["clusterIP"]]
        assert await resolve_async("tea-svc", "kube-system", nameserver=address) == []     # other namespace
        loop = asyncio.get_running_loop()      # the blocking resolver, from a thread that is not the pods' loop
        assert await loop.run_in_executor(None, lambda: resolve("tea-svc.default.svc.cluster.local")) == [ip]


@run_async
async def test_headless_services_pods_srv_and_unknown_names(tmp_path):
    async with cluster_with_dns(tmp_path) as (store, c, address):
        await ready_dns(store, c)
        deploy(store, c, "db", headless=True)
        web = deploy(store, c, "web", replicas=1)
        await c.wait_idle()
        pod_ips = sorted(p["status"]["podIP"] for p in store.list("pods", "default") if p["metadata"]["name"]
                         .startswith("db-"))
        assert sorted(await resolve_async("db", "default", nameserver=address)) == pod_ips
        dashed = pod_ips[0].replace(".", "-")
        assert await resolve_async(f"{dashed}.default.pod.cluster.local", "x", nameserver=address) == [pod_ips[0]]
        srv = await ask(address, "_http._tcp.web.default.svc.cluster.local.", dns.rdatatype.SRV)
        [record] = srv.answer[0]
        assert (record.priority, record.weight, record.port, str(record.target)) == (
            0, 100, 80, "web.default.svc.cluster.local.")
        assert [r.address for r in srv.additional[0]] == [web["spec"]["clusterIP"]]
        missing = await ask(address, "nothing.default.svc.cluster.local.")
        assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].rdtype == dns.rdatatype.SOA
        outside = await ask(address, "example.com.")
        assert outside.rcode() == dns.rcode.NXDOMAIN
        aaaa = await ask(address, "web.default.svc.cluster.local.", dns.rdatatype.AAAA, tcp=True)
        assert aaaa.rcode() == dns.rcode.NOERROR and not aaaa.answer


def test_a_pods_search_path_is_tried_first_for_short_names():
    assert search_names("tea-svc", "cafe") == [
        "tea-svc.cafe.svc.cluster.local.", "tea-svc.svc.cluster.local.", "tea-svc.cluster.local.", "tea-svc."]
    assert search_names("example.com.", "cafe") == ["example.com."]
