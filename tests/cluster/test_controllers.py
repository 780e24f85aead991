"""The built-in controllers make stored objects come true: Deployments become ReplicaSets become running pods,
Services get addresses and ports, EndpointSlices follow the pods, and every step leaves the events a real cluster
leaves. Everything runs for real: a real store, a real loop, pods that are real servers on loopback addresses."""
from __future__ import annotations

import asyncio
import contextlib
import copy
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.client.record import EventRecorder
from ingresslab.cluster.components import Controllers
from ingresslab.cluster.client.controller import fnv32a, pod_template_hash, safe_encode
from ingresslab.cluster.node.network import NODE_PORT_RANGE, Network, bind_port
from ingresslab.cluster.storage.store import Store
from cluster_harness import run_async, running_controllers

HELLO = "nginxdemos/nginx-hello:plain-text"
SLICES = "endpointslices.discovery.k8s.io"
SAFE = "[bcdfghjklmnpqrstvwxz2456789]"


# ----------------------------------------------------------------------------------------------- harness


@dataclass
class Lab:
    store: Store
    network: Network
    controllers: Controllers

    async def settle(self) -> None:
        await self.controllers.wait_idle()

    def pods(self, app: str | None = None) -> list[dict]:
        return [p for p in self.store.list("pods", "default")
                if app is None or (p["metadata"].get("labels") or {}).get("app") == app]

    def events(self, kind: str, name: str) -> list[str]:
        return [e["message"] for e in self.store.list("events", "default")
                if (e["involvedObject"]["kind"], e["involvedObject"]["name"]) == (kind, name)]


@contextlib.asynccontextmanager
async def lab(home: Path):
    async with running_controllers(home) as (store, controllers, network):
        yield Lab(store, network, controllers)


def deployment(name: str = "coffee", replicas: int = 2, image: str = HELLO, **spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image,
                                                           "ports": [{"containerPort": 8080, "name": "http"}]}]}},
                     **spec}}


def service(name: str = "coffee-svc", app: str = "coffee", **spec) -> dict:
    body = {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": body}


def edit(store: Store, key: str, name: str, change) -> dict:
    obj = store.require(key, "default", name)
    change(obj)
    return store.update(key, obj)


async def can_connect(ip: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(ip, port)
    except ConnectionRefusedError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


# ----------------------------------------------------------------------------------------------- names
def test_template_hash_is_fnv32a_rendered_in_the_safe_alphabet():
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968
    assert safe_encode("3866135192") == "7dbb5795f6"      # the cafe example's hash is a safe-encoded number
    template = deployment()["spec"]["template"]
    assert pod_template_hash(template) == pod_template_hash(copy.deepcopy(template))
    assert pod_template_hash(template) != pod_template_hash(template, collision_count=1)
    assert re.fullmatch(f"{SAFE}{{1,10}}", pod_template_hash(template))


@run_async
async def test_a_deployment_becomes_a_replicaset_named_after_its_template_and_owned_by_it(tmp_path):
    async with lab(tmp_path) as c:
        d = c.store.create("deployments.apps", deployment())
        await c.settle()
        [rs] = c.store.list("replicasets.apps", "default")
        hash_ = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["metadata"]["name"] == f"coffee-{hash_}" == f"coffee-{pod_template_hash(d['spec']['template'])}"
        assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "coffee",
                                                      "uid": d["metadata"]["uid"], "controller": True,
                                                      "blockOwnerDeletion": True}]
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "coffee", "pod-template-hash": hash_}
        assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == hash_
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        assert c.events("Deployment", "coffee") == [f"Scaled up replica set coffee-{hash_} to 2"]


@run_async
async def test_pods_are_named_after_their_replicaset_and_spread_over_both_nodes(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=4))
        await c.settle()
        [rs] = c.store.list("replicasets.apps", "default")
        pods = c.pods()
        assert len(pods) == 4
        for pod in pods:
            assert re.fullmatch(f"{rs['metadata']['name']}-{SAFE}{{5}}", pod["metadata"]["name"])
            assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
            assert pod["status"]["phase"] == "Running"
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-1", "node-2", "node-2"]
        assert sorted(c.events("ReplicaSet", rs["metadata"]["name"])) == sorted(
            f"Created pod: {p['metadata']['name']}" for p in pods)


@run_async
async def test_deployment_status_says_available_and_progressed_once_pods_are_ready(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=3))
        await c.settle()
        d = c.store.require("deployments.apps", "default", "coffee")
        status = d["status"]
        assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"],
                status["availableReplicas"]) == (3, 3, 3, 3)
        assert status["observedGeneration"] == d["metadata"]["generation"]
        conditions = {cond["type"]: cond for cond in status["conditions"]}
        assert conditions["Available"]["status"] == "True"
        assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
        assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        rs = c.store.list("replicasets.apps", "default")[0]
        assert rs["status"]["readyReplicas"] == rs["status"]["availableReplicas"] == 3


@run_async
async def test_scaling_creates_and_deletes_pods_and_closes_the_deleted_pods_sockets(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=1))
        await c.settle()
        edit(c.store, "deployments.apps", "coffee", lambda d: d["spec"].update(replicas=3))
        await c.settle()
        pods = c.pods()
        assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
        assert all([await can_connect(p["status"]["podIP"], bind_port(8080)) for p in pods])
        rs_name = c.store.list("replicasets.apps", "default")[0]["metadata"]["name"]
        edit(c.store, "deployments.apps", "coffee", lambda d: d["spec"].update(replicas=1))
        await c.settle()
        [kept] = c.pods()
        gone = [p for p in pods if p["metadata"]["name"] != kept["metadata"]["name"]]
        assert [await can_connect(p["status"]["podIP"], bind_port(8080)) for p in gone] == [False, False]
        assert await can_connect(kept["status"]["podIP"], bind_port(8080))
        assert f"Scaled up replica set {rs_name} to 3 from 1" in c.events("Deployment", "coffee")
        assert f"Scaled down replica set {rs_name} to 1 from 3" in c.events("Deployment", "coffee")
        deleted = {m for m in c.events("ReplicaSet", rs_name) if m.startswith("Deleted pod: ")}
        assert deleted == {f"Deleted pod: {p['metadata']['name']}" for p in gone}
        assert c.store.require("deployments.apps", "default", "coffee")["status"]["replicas"] == 1


@run_async
async def test_changing_the_template_rolls_out_a_new_replicaset_and_scales_the_old_one_to_zero(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=2))
        await c.settle()
        [first] = c.store.list("replicasets.apps", "default")
        old_pods = {p["metadata"]["name"] for p in c.pods()}
        edit(c.store, "deployments.apps", "coffee",
             lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="ingresslab/echo:latest"))
        await c.settle()
        rss = {rs["metadata"]["name"]: rs for rs in c.store.list("replicasets.apps", "default")}
        [second] = [rs for name, rs in rss.items() if name != first["metadata"]["name"]]
        assert rss[first["metadata"]["name"]]["spec"]["replicas"] == 0
        assert second["spec"]["replicas"] == 2
        assert second["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        pods = c.pods()
        assert len(pods) == 2 and not old_pods & {p["metadata"]["name"] for p in pods}
        assert all(p["metadata"]["name"].startswith(second["metadata"]["name"] + "-") for p in pods)
        d = c.store.require("deployments.apps", "default", "coffee")
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        assert (d["status"]["replicas"], d["status"]["updatedReplicas"], d["status"]["availableReplicas"]) == (2, 2, 2)
        events = c.events("Deployment", "coffee")
        assert f"Scaled up replica set {second['metadata']['name']} to 2" in events
        assert any(m.startswith(f"Scaled down replica set {first['metadata']['name']} to 0 from ") for m in events)


@run_async
async def test_rolling_back_reuses_the_old_replicaset_as_the_newest_revision(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=1))
        await c.settle()
        [first] = c.store.list("replicasets.apps", "default")
        image = lambda value: lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image=value)  # noqa
        edit(c.store, "deployments.apps", "coffee", image("ingresslab/echo:latest"))
        await c.settle()
        edit(c.store, "deployments.apps", "coffee", image(HELLO))
        await c.settle()
        assert len(c.store.list("replicasets.apps", "default")) == 2
        back = c.store.require("replicasets.apps", "default", first["metadata"]["name"])
        assert back["spec"]["replicas"] == 1
        assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        d = c.store.require("deployments.apps", "default", "coffee")
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


@run_async
async def test_old_replicasets_beyond_the_revision_history_limit_are_deleted(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=1, revisionHistoryLimit=1))
        await c.settle()
        for i in range(3):
            edit(c.store, "deployments.apps", "coffee",
                 lambda d: d["spec"]["template"]["metadata"].setdefault("annotations", {}).update(rev=str(i)))
            await c.settle()
        revisions = sorted(int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
                           for rs in c.store.list("replicasets.apps", "default"))
        assert revisions == [3, 4]
        assert len(c.pods()) == 1


@run_async
async def test_a_rollout_to_an_unknown_image_keeps_the_old_pods_serving(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=2))
        await c.settle()
        edit(c.store, "deployments.apps", "coffee",
             lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="nginx:no-such-tag"))
        await c.settle()
        pods = c.pods()
        phases = sorted(p["status"]["phase"] for p in pods)
        assert phases == ["Pending", "Pending", "Running", "Running"]
        d = c.store.require("deployments.apps", "default", "coffee")
        assert d["status"]["availableReplicas"] == 2 and d["status"]["updatedReplicas"] == 2
        assert {cond["type"]: cond["reason"] for cond in d["status"]["conditions"]}["Progressing"] == \
            "ReplicaSetUpdated"


@run_async
async def test_the_recreate_strategy_stops_the_old_pods_before_starting_new_ones(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=2, strategy={"type": "Recreate"}))
        await c.settle()
        edit(c.store, "deployments.apps", "coffee",
             lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="ingresslab/echo:latest"))
        await c.settle()
        assert [p["spec"]["containers"][0]["image"] for p in c.pods()] == ["ingresslab/echo:latest"] * 2
        assert sorted(rs["spec"]["replicas"] for rs in c.store.list("replicasets.apps", "default")) == [0, 2]


@run_async
async def test_deleting_a_deployment_removes_its_replicasets_pods_and_sockets(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=2))
        await c.settle()
        ips = [p["status"]["podIP"] for p in c.pods()]
        c.store.delete("deployments.apps", "default", "coffee")
        await c.settle()
        assert c.store.list("replicasets.apps") == [] and c.pods() == []
        assert [await can_connect(ip, bind_port(8080)) for ip in ips] == [False, False]


# ----------------------------------------------------------------------------------------------- events, nodes
def test_a_repeated_event_counts_up_instead_of_piling_up():
    store = Store(None)
    recorder = EventRecorder(store)
    pod = store.create("pods", {"metadata": {"name": "p", "namespace": "default"}, "spec": {}})
    for _ in range(3):
        recorder.warning(pod, "BackOff", "Back-off pulling image", component="kubelet", host="node-1")
    recorder.normal(pod, "Pulled", "pulled", component="kubelet", host="node-1")
    events = store.list("events", "default")
    assert len(events) == 2
    [backoff] = [e for e in events if e["reason"] == "BackOff"]
    assert backoff["count"] == 3 and backoff["type"] == "Warning"
    assert backoff["involvedObject"] == {"kind": "Pod", "namespace": "default", "name": "p",
                                         "uid": pod["metadata"]["uid"], "apiVersion": "v1",
                                         "resourceVersion": pod["metadata"]["resourceVersion"]}
    assert backoff["source"] == {"component": "kubelet", "host": "node-1"}
    assert backoff["reportingComponent"] == "kubelet"
    assert backoff["firstTimestamp"] <= backoff["lastTimestamp"]
    assert backoff["metadata"]["name"].startswith("p.")
    store.close()


@run_async
async def test_both_nodes_are_registered_ready_with_their_addresses_and_pod_cidrs(tmp_path):
    async with lab(tmp_path) as c:
        nodes = {n["metadata"]["name"]: n for n in c.store.list("nodes")}
        assert sorted(nodes) == ["node-1", "node-2"]
        for spec in c.network.nodes:
            node = nodes[spec.name]
            assert {"type": "InternalIP", "address": spec.ip} in node["status"]["addresses"]
            assert node["spec"]["podCIDR"] == spec.pod_cidr
            ready = [cond for cond in node["status"]["conditions"] if cond["type"] == "Ready"]
            assert ready[0]["status"] == "True"
            assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.0-ingresslab"
        c.store.delete("nodes", "", "node-2")
        await c.settle()
        assert c.store.get("nodes", "", "node-2") is not None


# ----------------------------------------------------------------------------------------------- services
@run_async
async def test_services_get_a_cluster_ip_and_node_ports_at_admission(tmp_path):
    async with lab(tmp_path) as c:
        kubernetes = c.store.require("services", "default", "kubernetes")
        first_ip = next(iter(c.network.service_ips()))
        assert kubernetes["spec"]["clusterIP"] == first_ip and kubernetes["spec"]["ports"][0]["port"] == 443
        a = c.store.create("services", c.controllers.allocator.allocate(service("a", type="NodePort")))
        b = c.store.create("services", c.controllers.allocator.allocate(service("b")))
        assert a["spec"]["clusterIP"] != b["spec"]["clusterIP"] != first_ip
        assert a["spec"]["clusterIPs"] == [a["spec"]["clusterIP"]]
        low, high = NODE_PORT_RANGE
        assert low <= a["spec"]["ports"][0]["nodePort"] <= high
        assert "nodePort" not in b["spec"]["ports"][0]
        headless = c.controllers.allocator.allocate(service("h", clusterIP="None"))
        assert headless["spec"]["clusterIPs"] == ["None"]


@run_async
async def test_clashing_allocations_are_refused_with_causes_like_the_api_servers(tmp_path):
    async with lab(tmp_path) as c:
        allocator = c.controllers.allocator
        taken = c.store.create("services", allocator.allocate(service("a", type="NodePort")))
        ip, node_port = taken["spec"]["clusterIP"], taken["spec"]["ports"][0]["nodePort"]
        clash = service("b", type="NodePort", clusterIP=ip)
        clash["spec"]["ports"][0]["nodePort"] = node_port
        causes = allocator.admit(clash, None)
        assert [(x.field, x.message) for x in causes] == [
            ("spec.clusterIPs", f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: provided IP is '
                                "already allocated"),
            ("spec.ports[0].nodePort", f"Invalid value: {node_port}: provided port is already allocated")]
        outside = service("c", type="NodePort", clusterIP="10.0.0.1")
        outside["spec"]["ports"][0]["nodePort"] = 80
        messages = [x.message for x in allocator.admit(outside, None)]
        assert "the provided IP (10.0.0.1) is not in the valid range" in messages[0]
        assert messages[1] == ("Invalid value: 80: provided port is not in the valid range. "
                               "The range of valid ports is 30000-32767")
        with pytest.raises(errors.ApiError) as err:
            allocator.allocate(clash)
        assert err.value.code == 422 and err.value.status()["details"]["causes"][0]["field"] == "spec.clusterIPs"
        changed = copy.deepcopy(taken)
        changed["spec"]["clusterIP"] = changed["spec"]["clusterIPs"][0] = next(
            i for i in c.network.service_ips() if i not in allocator.used_ips())
        assert [x.message for x in allocator.admit(changed, taken)] == [
            f'Invalid value: []string{{"{changed["spec"]["clusterIP"]}"}}: may not change once set']


@run_async
async def test_deleting_a_service_or_leaving_nodeport_frees_its_ip_and_ports(tmp_path):
    async with lab(tmp_path) as c:
        allocator = c.controllers.allocator
        a = c.store.create("services", allocator.allocate(service("a", type="NodePort")))
        node_port = a["spec"]["ports"][0]["nodePort"]
        plain = copy.deepcopy(a)
        plain["spec"]["type"] = "ClusterIP"
        plain = c.store.update("services", allocator.allocate(plain, a))
        assert "nodePort" not in plain["spec"]["ports"][0] and plain["spec"]["clusterIP"] == a["spec"]["clusterIP"]
        again = service("b", type="NodePort")
        again["spec"]["ports"][0]["nodePort"] = node_port
        assert allocator.admit(again, None) == []
        c.store.delete("services", "default", "a")
        assert a["spec"]["clusterIP"] not in allocator.used_ips()
        reuse = service("c", clusterIP=a["spec"]["clusterIP"])
        assert allocator.admit(reuse, None) == []


@run_async
async def test_an_update_without_cluster_ip_or_node_port_keeps_them(tmp_path):
    async with lab(tmp_path) as c:
        allocator = c.controllers.allocator
        a = c.store.create("services", allocator.allocate(service("a", type="NodePort")))
        replaced = allocator.allocate(service("a", type="NodePort"))    # as `kubectl replace` sends it
        assert replaced["spec"]["clusterIP"] == a["spec"]["clusterIP"]
        assert replaced["spec"]["ports"][0]["nodePort"] == a["spec"]["ports"][0]["nodePort"]


@run_async
async def test_a_service_stored_without_allocations_is_repaired(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("services", service("raw", type="NodePort"))
        await c.settle()
        raw = c.store.require("services", "default", "raw")
        assert raw["spec"]["clusterIP"] and raw["spec"]["ports"][0]["nodePort"]


# ----------------------------------------------------------------------------------------------- endpoint slices
@run_async
async def test_endpointslices_list_the_ready_pods_with_the_resolved_target_port(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=2))
        svc = c.store.create("services", c.controllers.allocator.allocate(service()))
        await c.settle()
        [s] = [x for x in c.store.list(SLICES, "default") if x["metadata"]["name"] != "kubernetes"]
        assert re.fullmatch(f"coffee-svc-{SAFE}{{5}}", s["metadata"]["name"])
        assert s["metadata"]["labels"] == {"kubernetes.io/service-name": "coffee-svc",
                                           "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        assert s["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
        assert s["addressType"] == "IPv4"
        assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        pods = {p["metadata"]["name"]: p for p in c.pods()}
        assert sorted(e["targetRef"]["name"] for e in s["endpoints"]) == sorted(pods)
        for e in s["endpoints"]:
            pod = pods[e["targetRef"]["name"]]
            assert e["addresses"] == [pod["status"]["podIP"]] and e["nodeName"] == pod["spec"]["nodeName"]
            assert e["conditions"] == {"ready": True, "serving": True, "terminating": False}
            assert e["targetRef"]["kind"] == "Pod" and e["targetRef"]["uid"] == pod["metadata"]["uid"]
        ep = c.store.require("endpoints", "default", "coffee-svc")
        [subset] = ep["subsets"]
        assert sorted(a["ip"] for a in subset["addresses"]) == sorted(p["status"]["podIP"] for p in pods.values())
        assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


@run_async
async def test_endpoints_follow_pods_and_are_only_written_when_they_change(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("deployments.apps", deployment(replicas=1))
        c.store.create("services", c.controllers.allocator.allocate(service()))
        await c.settle()
        slice_of = lambda: [x for x in c.store.list(SLICES, "default") if x["metadata"]["name"] != "kubernetes"][0]  # noqa
        before = slice_of()["metadata"]["resourceVersion"]
        [pod] = c.pods()
        edit(c.store, "pods", pod["metadata"]["name"], lambda p: p["metadata"].setdefault("annotations", {}).update(x="1"))
        await c.settle()
        assert slice_of()["metadata"]["resourceVersion"] == before
        def not_ready(p):
            for cond in p["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond["status"] = "False"
        edit(c.store, "pods", pod["metadata"]["name"], not_ready)
        await c.settle()
        assert slice_of()["endpoints"][0]["conditions"]["ready"] is False
        subset = c.store.require("endpoints", "default", "coffee-svc")["subsets"][0]
        assert "addresses" not in subset and subset["notReadyAddresses"][0]["ip"] == pod["status"]["podIP"]
        edit(c.store, "deployments.apps", "coffee", lambda d: d["spec"].update(replicas=0))
        await c.settle()
        assert slice_of()["endpoints"] == []
        assert "subsets" not in c.store.require("endpoints", "default", "coffee-svc")
        c.store.delete("services", "default", "coffee-svc")
        await c.settle()
        assert [x["metadata"]["name"] for x in c.store.list(SLICES, "default")] == []
        assert c.store.get("endpoints", "default", "coffee-svc") is None


@run_async
async def test_a_named_target_port_resolves_per_pod(tmp_path):
    async with lab(tmp_path) as c:
        one, other = deployment("a", replicas=1), deployment("b", replicas=1, image="ingresslab/echo:latest")
        other["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 9090, "name": "http"}]
        for d in (one, other):
            d["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
            c.store.create("deployments.apps", d)
        c.store.create("services", c.controllers.allocator.allocate(service("web", selector={"tier": "web"})))
        await c.settle()
        slices = [x for x in c.store.list(SLICES, "default") if x["metadata"]["labels"].get(
            "kubernetes.io/service-name") == "web"]
        assert sorted(x["ports"][0]["port"] for x in slices) == [8080, 9090]


@run_async
async def test_endpoints_of_a_service_without_selector_are_mirrored_into_a_slice(tmp_path):
    async with lab(tmp_path) as c:
        c.store.create("services", c.controllers.allocator.allocate(service("external", selector=None)))
        c.store.create("endpoints", {"metadata": {"name": "external", "namespace": "default"}, "subsets": [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": 9999, "protocol": "TCP"}]}]})
        await c.settle()
        [s] = [x for x in c.store.list(SLICES, "default") if x["metadata"]["name"].startswith("external-")]
        assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
            "endpointslicemirroring-controller.k8s.io"
        assert s["endpoints"][0]["addresses"] == ["127.0.0.1"] and s["ports"][0]["port"] == 9999
