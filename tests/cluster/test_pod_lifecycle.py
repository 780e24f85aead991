"""Pods behave like pods: readiness decides who is an endpoint, liveness restarts the container (and its previous
log stays readable), a new pod is ContainerCreating before Running, a deleted one terminates before it goes, an image
that cannot be pulled backs off, and the nodes renew their Leases."""
from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apiserver.graceful import delete_options, graceful_deadline
from ingresslab.cluster.node import kubelet as kubelet_module
from ingresslab.cluster.node.network import bind_port
from ingresslab.cluster.node.probes import ProbeSpec, probe_once
from ingresslab.cluster.storage.store import Store
from cluster_harness import get, refused, run_async, running_controllers

HELLO = "nginxdemos/nginx-hello:plain-text"
SLICES = "endpointslices.discovery.k8s.io"


@contextlib.asynccontextmanager
async def cluster(home: Path):
    async with running_controllers(home) as (store, controllers, _):
        yield store, controllers


def pod(name: str, app: str = "web", **container) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": HELLO, "ports": [{"containerPort": 8080}],
                                     **container}]}}


def service(name: str = "web") -> dict:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def fast(handler: dict, **timing) -> dict:
    return {**handler, "periodSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 1,
            **timing}


async def until(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout} s: {value!r}")
        await asyncio.sleep(0.02)


def events(store: Store, name: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["reason"], e["message"]) for e in store.list("events", "default")
            if e["involvedObject"]["name"] == name]


def endpoints_of(store: Store, svc: str) -> dict[str, bool]:
    return {e["addresses"][0]: e["conditions"]["ready"] for s in store.list(SLICES, "default")
            if s["metadata"]["labels"]["kubernetes.io/service-name"] == svc for e in s["endpoints"]}


def ready(store: Store, name: str) -> bool:
    p = store.require("pods", "default", name)
    return {c["type"]: c["status"] for c in (p.get("status") or {}).get("conditions") or []}.get("Ready") == "True"


@run_async
async def test_a_failing_readiness_probe_keeps_the_pod_out_of_the_endpoints_and_kube_proxy(tmp_path):
    async with cluster(tmp_path) as (store, c):
        svc = c.allocator.allocate(service())
        store.create("services", svc)
        store.create("pods", pod("good", readinessProbe=fast({"httpGet": {"path": "/", "port": 8080}})))
        store.create("pods", pod("bad", readinessProbe=fast({"httpGet": {"path": "/healthz", "port": 9999}})))
        await c.wait_idle()
        await until(lambda: ready(store, "good"))
        bad_ip = store.require("pods", "default", "bad")["status"]["podIP"]
        good_ip = store.require("pods", "default", "good")["status"]["podIP"]
        await until(lambda: any(r == "Unhealthy" for _, r, _ in events(store, "bad")))
        bad = store.require("pods", "default", "bad")
        assert bad["status"]["phase"] == "Running" and not ready(store, "bad")
        [cs] = bad["status"]["containerStatuses"]
        assert cs["started"] and not cs["ready"] and "running" in cs["state"]
        assert ("Warning", "Unhealthy", f'Readiness probe failed: Get "http://{bad_ip}:9999/healthz": dial tcp '
                f'{bad_ip}:9999: connect: connection refused') in events(store, "bad")
        await c.wait_idle()
        assert endpoints_of(store, "web") == {good_ip: True, bad_ip: False}
        ep = store.require("endpoints", "default", "web")
        assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == [good_ip]
        assert [a["ip"] for a in ep["subsets"][0]["notReadyAddresses"]] == [bad_ip]
        for _ in range(6):      # kube-proxy sends every request to the ready pod
            assert "Server name: good" in await get(svc["spec"]["clusterIP"], bind_port(80))


@run_async
async def test_a_pod_that_stops_answering_its_probe_leaves_the_endpoints_and_comes_back(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("services", c.allocator.allocate(service()))
        store.create("configmaps", {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"status": "200"}})
        p = pod("flaky", image="ingresslab/static-page:latest", readinessProbe=fast({"tcpSocket": {"port": 8080}}))
        store.create("pods", p)
        await until(lambda: ready(store, "flaky"))
        ip = store.require("pods", "default", "flaky")["status"]["podIP"]
        await c.wait_idle()
        assert endpoints_of(store, "web") == {ip: True}
        held = c.kubelet._pods[("default", "flaky")]
        await held.containers["app"].handle.close()          # the app stops listening, the container lives on
        await until(lambda: not ready(store, "flaky"))
        await c.wait_idle()
        assert endpoints_of(store, "web") == {ip: False}
        assert any(m == f"Readiness probe failed: dial tcp {ip}:8080: connect: connection refused"
                   for _, _, m in events(store, "flaky"))


@run_async
async def test_a_failing_liveness_probe_restarts_the_container_and_keeps_the_previous_log(tmp_path, monkeypatch):
    monkeypatch.setattr(kubelet_module, "BACKOFF_START", 0.5)
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("sick", livenessProbe=fast({"httpGet": {"path": "/alive", "port": 8080}},
                                                           initialDelaySeconds=0)))
        await c.wait_idle()
        with pytest.raises(errors.ApiError) as err:
            c.kubelet.logs("default", "sick", previous=True)
        assert err.value.code == 400
        assert err.value.message == 'previous terminated container "app" in pod "sick" not found'
        ip = store.require("pods", "default", "sick")["status"]["podIP"]
        await get(ip, bind_port(8080), "/before-restart")
        # nginx-hello answers every path with 200: liveness passes, nothing restarts
        await asyncio.sleep(1.5)
        assert store.require("pods", "default", "sick")["status"]["containerStatuses"][0]["restartCount"] == 0
        held = c.kubelet._pods[("default", "sick")]
        first_id = held.containers["app"].container_id
        await held.containers["app"].handle.close()          # now it hangs up: the probe fails
        await until(lambda: store.require("pods", "default", "sick")["status"]["containerStatuses"][0]
                    ["restartCount"] == 1)
        cs = store.require("pods", "default", "sick")["status"]["containerStatuses"][0]
        assert "running" in cs["state"] and cs["lastState"]["terminated"]["containerID"] == first_id
        assert cs["lastState"]["terminated"]["reason"] == "Completed" and cs["containerID"] != first_id
        assert ("Normal", "Killing", "Container app failed liveness probe, will be restarted") in events(store, "sick")
        assert any(m.startswith('Liveness probe failed: Get "http://') for _, _, m in events(store, "sick"))
        previous = c.kubelet.logs("default", "sick", previous=True)
        assert any("GET /before-restart" in line for line in previous)
        assert not any("GET /before-restart" in line for line in c.kubelet.logs("default", "sick"))
        assert "Server name: sick" in await get(ip, bind_port(8080), "/after")
        await held.containers["app"].handle.close()          # fails again: now the crash back-off applies
        await until(lambda: store.require("pods", "default", "sick")["status"]["containerStatuses"][0]["state"]
                    .get("waiting", {}).get("reason") == "CrashLoopBackOff")
        cs = store.require("pods", "default", "sick")["status"]["containerStatuses"][0]
        uid = store.require("pods", "default", "sick")["metadata"]["uid"]
        assert cs["state"]["waiting"]["message"] == f"back-off 0.5s restarting failed container=app pod=sick_default({uid})"
        assert any("GET /after" in line for line in c.kubelet.logs("default", "sick"))   # the last instance's log
        assert ("Warning", "BackOff", f"Back-off restarting failed container app in pod sick_default({uid})") in \
            events(store, "sick")
        await until(lambda: store.require("pods", "default", "sick")["status"]["containerStatuses"][0]
                    ["restartCount"] == 2 and ready(store, "sick"))


@run_async
async def test_a_new_pod_is_container_creating_before_running(tmp_path):
    async with cluster(tmp_path) as (store, c):
        seen: list[tuple] = []

        def watch(event):
            if event.key == "pods" and event.object.get("status", {}).get("containerStatuses"):
                st = event.object["status"]
                seen.append((st["phase"], next(iter(st["containerStatuses"][0]["state"])),
                             st["containerStatuses"][0]["state"].get("waiting", {}).get("reason"), st.get("podIP")))
        store.subscribe(watch)
        store.create("pods", pod("fresh"))
        await c.wait_idle()
        store.unsubscribe(watch)
        assert seen[0] == ("Pending", "waiting", "ContainerCreating", None)
        assert seen[-1][:2] == ("Running", "running") and seen[-1][3]


@run_async
async def test_graceful_deletion_takes_the_pod_out_of_endpoints_then_the_kubelet_deletes_it(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("services", c.allocator.allocate(service()))
        store.create("pods", pod("leaving"))
        await c.wait_idle()
        p = store.require("pods", "default", "leaving")
        ip = p["status"]["podIP"]
        marked = graceful_deadline(p, delete_options({"kind": "DeleteOptions", "apiVersion": "v1"}, None),
                                   now=datetime(2026, 12, 6, 10, 0, 0, tzinfo=timezone.utc))
        assert marked["metadata"]["deletionTimestamp"] == "2026-12-06T10:00:30Z"
        assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
        states = []
        store.subscribe(lambda e: e.key == SLICES and states.append(
            [ep["conditions"] for ep in e.object.get("endpoints") or []]))
        store.update("pods", marked)
        await c.wait_idle()
        assert await refused(ip, bind_port(8080))            # stopped at once
        left = store.require("pods", "default", "leaving")   # shown Terminating until the kubelet's next relist
        assert left["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
        await until(lambda: store.get("pods", "default", "leaving") is None)
        assert {"ready": False, "serving": True, "terminating": True} in [s[0] for s in states if s]
        assert await refused(ip, bind_port(8080))
        assert ("Normal", "Killing", "Stopping container app") in events(store, "leaving")


def test_the_grace_period_comes_from_options_then_the_pod_and_zero_means_now():
    p = {"metadata": {"name": "x"}, "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 5},
         "status": {"phase": "Running"}}
    assert graceful_deadline(p, {})["metadata"]["deletionGracePeriodSeconds"] == 5
    assert graceful_deadline(p, delete_options(None, "12"))["metadata"]["deletionGracePeriodSeconds"] == 12
    assert graceful_deadline(p, delete_options({"gracePeriodSeconds": 0}, None)) is None   # --force
    assert graceful_deadline({**p, "spec": {}}, {}) is None                     # never bound to a node
    assert graceful_deadline({**p, "status": {"phase": "Succeeded"}}, {}) is None
    terminating = graceful_deadline(p, {})
    assert graceful_deadline(terminating, {"gracePeriodSeconds": 30}) is terminating     # only ever shorter
    with pytest.raises(errors.ApiError) as err:
        delete_options(None, "soon")
    assert err.value.code == 400 and "gracePeriodSeconds" in err.value.message


@run_async
async def test_an_image_that_cannot_be_pulled_backs_off(tmp_path, monkeypatch):
    monkeypatch.setattr(kubelet_module, "ERR_IMAGE_PULL_SECONDS", 0.05)
    monkeypatch.setattr(kubelet_module, "BACKOFF_START", 0.2)
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("nope", image="nginx:does-not-exist"))

        def waiting():
            statuses = (store.require("pods", "default", "nope").get("status") or {}).get("containerStatuses")
            return statuses[0]["state"].get("waiting") or {} if statuses else {}
        await until(lambda: waiting().get("reason") == "ImagePullBackOff")
        assert waiting()["message"].startswith('Back-off pulling image "nginx:does-not-exist": ErrImagePull: ')
        with pytest.raises(errors.ApiError) as err:
            c.kubelet.logs("default", "nope")
        assert err.value.message == 'container "app" in pod "nope" is waiting to start: trying and failing to pull image'
        await until(lambda: [r for _, r, m in events(store, "nope") if m == "Error: ErrImagePull"] and
                    len({e[2] for e in events(store, "nope")}) >= 5 and
                    next(e for e in store.list("events", "default") if e["message"] == "Error: ErrImagePull")
                    ["count"] >= 2)
        reasons = {(t, r, m) for t, r, m in events(store, "nope")}
        assert ("Normal", "BackOff", 'Back-off pulling image "nginx:does-not-exist"') in reasons
        assert ("Warning", "Failed", "Error: ImagePullBackOff") in reasons
        assert ("Normal", "Pulling", 'Pulling image "nginx:does-not-exist"') in reasons


@pytest.mark.parametrize("argv, ok, output", [
    (["true"], True, ""), (["sh", "-c", "exit 3"], False, ""),
    (["cat", "/tmp/healthy"], False, 'OCI runtime exec failed: exec failed: unable to start container process: '
                                     'exec: "cat": executable file not found in $PATH: unknown')])
def test_exec_probes_run_what_the_builtin_runner_knows(argv, ok, output):
    spec = ProbeSpec.of("Liveness", {"exec": {"command": argv}})
    result = asyncio.run(probe_once(spec, {"name": "app"}, pod_ip="127.0.0.1", node_ip=None, namespace="default",
                                    pod="p"))
    assert result == (ok, output)


@run_async
async def test_each_node_holds_a_lease_the_kubelet_renews(tmp_path, monkeypatch):
    from ingresslab.cluster.controllers import nodes
    monkeypatch.setattr(nodes, "LEASE_RENEW_SECONDS", 0.1)
    async with cluster(tmp_path) as (store, c):
        leases = {lease["metadata"]["name"]: lease for lease in store.list("leases.coordination.k8s.io",
                                                                           "kube-node-lease")}
        assert sorted(leases) == ["node-1", "node-2"]
        spec = leases["node-1"]["spec"]
        assert spec["holderIdentity"] == "node-1" and spec["leaseDurationSeconds"] == 40
        assert leases["node-1"]["metadata"]["ownerReferences"][0]["kind"] == "Node"
        await until(lambda: store.require("leases.coordination.k8s.io", "kube-node-lease", "node-1")["spec"]
                    ["renewTime"] != spec["renewTime"])


@run_async
async def test_a_deployments_change_cause_is_copied_to_its_new_replica_set(tmp_path):
    async with cluster(tmp_path) as (store, c):
        d = {"metadata": {"name": "web", "namespace": "default", "annotations": {
            "kubernetes.io/change-cause": "kubectl set image deployment/web app=v1",
            "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod("x")["spec"]}}}
        store.create("deployments.apps", d)
        await c.wait_idle()
        [rs] = store.list("replicasets.apps", "default")
        annotations = rs["metadata"]["annotations"]
        assert annotations["kubernetes.io/change-cause"] == "kubectl set image deployment/web app=v1"
        assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
        d = store.require("deployments.apps", "default", "web")
        d["metadata"]["annotations"]["kubernetes.io/change-cause"] = "scaled for the demo"
        store.update("deployments.apps", d)
        await c.wait_idle()
        [rs] = store.list("replicasets.apps", "default")
        assert rs["metadata"]["annotations"]["kubernetes.io/change-cause"] == "scaled for the demo"


@run_async
async def test_a_startup_probe_holds_back_readiness_and_a_failing_one_restarts_the_container(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("slow-start", startupProbe=fast({"httpGet": {"path": "/", "port": 8080}}),
                                 livenessProbe=fast({"tcpSocket": {"port": 8080}})))
        store.create("pods", pod("never-starts", startupProbe=fast({"tcpSocket": {"port": 9999}},
                                                                   failureThreshold=2)))
        await until(lambda: ready(store, "slow-start"))
        cs = store.require("pods", "default", "slow-start")["status"]["containerStatuses"][0]
        assert cs["started"] and cs["ready"] and cs["restartCount"] == 0
        await until(lambda: (store.require("pods", "default", "never-starts").get("status") or {})
                    .get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1)
        assert ("Normal", "Killing", "Container app failed startup probe, will be restarted") in \
            events(store, "never-starts")
        assert any(m.startswith("Startup probe failed: dial tcp ") for _, _, m in events(store, "never-starts"))
        p = store.require("pods", "default", "never-starts")
        assert not p["status"]["containerStatuses"][0]["started"] and not ready(store, "never-starts")
