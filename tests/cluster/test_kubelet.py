"""The kubelet schedules pods onto the two nodes, runs them as real servers on their own addresses, reports their
status and events as a real kubelet does, keeps their logs, and brings them back when the lab starts again."""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from pathlib import Path

import pytest

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.node.network import acquire_slot, bind_port
from ingresslab.cluster.storage.store import Store
from cluster_harness import get, refused, run_async, running_controllers

HELLO = "nginxdemos/nginx-hello:plain-text"


@contextlib.asynccontextmanager
async def cluster(home: Path, *, store: Store | None = None, slot=None):
    async with running_controllers(home, store=store, slot=slot) as (store, controllers, _):
        yield store, controllers


def pod(name: str, image: str = HELLO, port: int = 8080, **container) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                                                            "labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": port}], **container}]}}


def events_of(store: Store, name: str) -> list[tuple[str, str, str, str]]:
    return [(e["type"], e["reason"], e["message"], e["source"]["component"]) for e in store.list("events", "default")
            if e["involvedObject"]["name"] == name]


@run_async
async def test_a_pod_is_scheduled_given_an_address_of_its_node_and_answers_there(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("hello"))
        await c.wait_idle()
        p = store.require("pods", "default", "hello")
        node = next(n for n in c.network.nodes if n.name == p["spec"]["nodeName"])
        status = p["status"]
        assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(node.pod_cidr)
        assert status["podIPs"] == [{"ip": status["podIP"]}] and status["hostIP"] == node.ip
        assert status["phase"] == "Running" and status["startTime"]
        assert {cond["type"]: cond["status"] for cond in status["conditions"]} == {
            "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True", "ContainersReady": "True",
            "PodScheduled": "True"}
        [cs] = status["containerStatuses"]
        assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "startedAt" in cs["state"]["running"]
        assert cs["image"] == "docker.io/nginxdemos/nginx-hello:plain-text"
        assert cs["imageID"].startswith("docker.io/nginxdemos/nginx-hello@sha256:")
        assert cs["containerID"].startswith("containerd://")
        body = await get(status["podIP"], bind_port(8080), "/coffee")
        assert f"Server address: {status['podIP']}:8080" in body and "Server name: hello" in body
        assert events_of(store, "hello") == [
            ("Normal", "Scheduled", f"Successfully assigned default/hello to {node.name}", "default-scheduler"),
            ("Normal", "Pulled", f'Container image "{HELLO}" already present on machine', "kubelet"),
            ("Normal", "Created", "Created container app", "kubelet"),
            ("Normal", "Started", "Started container app", "kubelet")]


@run_async
async def test_addresses_are_unique_and_a_deleted_pods_address_is_given_again(tmp_path):
    async with cluster(tmp_path) as (store, c):
        for i in range(6):
            store.create("pods", pod(f"p{i}"))
        await c.wait_idle()
        ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in store.list("pods")}
        assert len(set(ips.values())) == 6
        freed = ips["p0"]
        store.delete("pods", "default", "p0")
        await c.wait_idle()
        assert await refused(freed, bind_port(8080))
        store.create("pods", pod("p6"))
        await c.wait_idle()
        assert store.require("pods", "default", "p6")["status"]["podIP"] == freed


@run_async
async def test_an_unknown_image_leaves_the_pod_pending_with_err_image_pull_and_a_warning(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("bad", image="nginx:does-not-exist"))
        store.create("pods", pod("good"))
        await c.wait_idle()
        bad = store.require("pods", "default", "bad")
        assert bad["status"]["phase"] == "Pending"
        [cs] = bad["status"]["containerStatuses"]
        assert cs["state"]["waiting"]["reason"] == "ErrImagePull"
        assert "nginx:does-not-exist" in cs["state"]["waiting"]["message"] and not cs["ready"]
        ready = next(cond for cond in bad["status"]["conditions"] if cond["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
        warnings = [(reason, message) for type_, reason, message, _ in events_of(store, "bad") if type_ == "Warning"]
        assert warnings[0][0] == "Failed" and warnings[0][1].startswith('Failed to pull image "nginx:does-not-exist"')
        assert warnings[1] == ("Failed", "Error: ErrImagePull")
        assert store.require("pods", "default", "good")["status"]["phase"] == "Running"
        with pytest.raises(errors.ApiError) as err:
            c.kubelet.logs("default", "bad")
        assert err.value.code == 400
        assert err.value.message == 'container "app" in pod "bad" is waiting to start: image can\'t be pulled'


@run_async
async def test_a_port_already_taken_is_retried_with_backoff_not_a_crash(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("twice", image=HELLO, port=8080))
        spec = store.require("pods", "default", "twice")["spec"]
        two = pod("two-containers")
        two["spec"]["containers"].append({**spec["containers"][0], "name": "again"})
        store.create("pods", two)
        await c.wait_idle()
        p = store.require("pods", "default", "two-containers")
        assert p["status"]["phase"] == "Pending"
        assert p["status"]["containerStatuses"][1]["state"]["waiting"]["reason"] == "RunContainerError"
        assert await refused(p["status"]["podIP"], bind_port(8080))     # the first container was stopped too


@run_async
async def test_environment_comes_from_values_fields_and_configmaps(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("configmaps", {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"status": "418"}})
        p = pod("teapot", image="ingresslab/static-page:latest", env=[
            {"name": "STATUS", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "status"}}},
            {"name": "PAGE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}])
        store.create("pods", p)
        await c.wait_idle()
        p = store.require("pods", "default", "teapot")
        answer = await get(p["status"]["podIP"], bind_port(8080))
        assert answer.startswith("HTTP/1.1 418") and answer.endswith(p["spec"]["nodeName"])


@run_async
async def test_logs_are_kept_in_memory_and_on_disk_and_can_be_followed(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("talker"))
        await c.wait_idle()
        ip = store.require("pods", "default", "talker")["status"]["podIP"]
        follower = c.kubelet.follow("default", "talker")
        for i in range(3):
            await get(ip, bind_port(8080), f"/n{i}")
        await c.kubelet.sync_logs()     # the lines come from the pods' process in batches
        lines = c.kubelet.logs("default", "talker")
        assert [line.split('"')[1] for line in lines] == [f"GET /n{i} HTTP/1.0" for i in range(3)]
        assert c.kubelet.logs("default", "talker", tail=1) == lines[-1:]
        assert c.kubelet.logs("default", "talker", tail=0) == []
        assert c.kubelet.logs("default", "talker", since_seconds=60) == lines
        assert c.kubelet.logs("default", "talker", timestamps=True)[0].endswith(lines[0])
        assert (tmp_path / "logs" / "pods" / "default_talker.log").read_text().splitlines() == lines
        assert [await follower.__anext__() for _ in range(3)] == lines
        followed = asyncio.ensure_future(anext(follower, "ended"))
        store.delete("pods", "default", "talker")
        assert await asyncio.wait_for(followed, 5) == "ended"
        with pytest.raises(errors.ApiError) as err:
            c.kubelet.logs("default", "talker")
        assert err.value.code == 404


@run_async
async def test_pods_in_the_store_come_back_on_their_addresses_when_the_lab_starts_again(tmp_path):
    slot = acquire_slot()
    store = Store(tmp_path / "cluster.db")
    try:
        async with cluster(tmp_path, store=store, slot=slot) as (store, c):
            store.create("pods", pod("keeper"))
            await c.wait_idle()
            before = store.require("pods", "default", "keeper")
            await get(before["status"]["podIP"], bind_port(8080), "/first")
        store.close()
        assert await refused(before["status"]["podIP"], bind_port(8080))
        store = Store(tmp_path / "cluster.db")
        async with cluster(tmp_path, store=store, slot=slot) as (store, c):
            after = store.require("pods", "default", "keeper")
            assert after["status"]["podIP"] == before["status"]["podIP"]
            assert after["status"]["containerStatuses"][0]["restartCount"] == 1
            assert "Server name: keeper" in await get(after["status"]["podIP"], bind_port(8080), "/second")
            await c.kubelet.sync_logs()
            paths = [line.split('"')[1].split()[1] for line in c.kubelet.logs("default", "keeper")]
            assert paths == ["/first", "/second"]
    finally:
        store.close()
        slot.release()


@run_async
async def test_a_pod_is_ready_within_a_blink(tmp_path):
    """Not a timed assertion: prints the figure (benchmarks/ has the real measurement)."""
    async with cluster(tmp_path) as (store, c):
        started = time.perf_counter()
        store.create("pods", pod("quick"))
        while store.require("pods", "default", "quick").get("status", {}).get("phase") != "Running":
            await asyncio.sleep(0.001)
        print(f"pod Running and answering after {(time.perf_counter() - started) * 1000:.1f} ms")
        assert "Server name: quick" in await get(store.require("pods", "default", "quick")["status"]["podIP"],
                                                 bind_port(8080))
