"""kube-scheduler binds each pod to a node that fits: it honours cordon, taints and tolerations, nodeSelector and
node affinity, and resource requests against allocatable; when nothing fits the pod stays Pending with the real
scheduler's FailedScheduling message, and is bound as soon as a node frees up."""
from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path

import pytest

from ingresslab.cluster.apimachinery.quantity import milli, parse_quantity
from ingresslab.cluster.scheduler.plugins import Failure, unschedulable_message
from ingresslab.cluster.storage.store import Store
from cluster_harness import run_async, running_controllers

HELLO = "nginxdemos/nginx-hello:plain-text"


@contextlib.asynccontextmanager
async def cluster(home: Path):
    async with running_controllers(home) as (store, controllers, _):
        yield store, controllers


def pod(name: str, **spec) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": HELLO, "ports": [{"containerPort": 8080}],
                                     **spec.pop("container", {})}], **spec}}


def node_of(store: Store, name: str) -> str | None:
    return store.require("pods", "default", name)["spec"].get("nodeName")


def scheduler_events(store: Store, name: str) -> list[tuple[str, str]]:
    return [(e["reason"], e["message"]) for e in store.list("events", "default")
            if e["involvedObject"]["name"] == name and e["source"]["component"] == "default-scheduler"]


def patch_node(store: Store, name: str, **spec) -> None:
    node = store.require("nodes", "", name)
    node["spec"].update(spec)
    store.update("nodes", node)


@run_async
async def test_cordoned_and_tainted_nodes_leave_the_pod_pending_with_the_schedulers_words(tmp_path):
    async with cluster(tmp_path) as (store, c):
        patch_node(store, "node-1", unschedulable=True)
        patch_node(store, "node-2", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
        await c.wait_idle()
        assert [t["key"] for t in store.require("nodes", "", "node-1")["spec"]["taints"]] == [
            "node.kubernetes.io/unschedulable"]
        store.create("pods", pod("waiting"))
        await c.wait_idle()
        p = store.require("pods", "default", "waiting")
        message = ("0/2 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable. "
                   "no new claims to deallocate, preemption: 0/2 nodes are available: 2 Preemption is not helpful "
                   "for scheduling.")
        assert p["status"]["phase"] == "Pending" and "nodeName" not in p["spec"]
        [cond] = p["status"]["conditions"]
        assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
            "PodScheduled", "False", "Unschedulable", message)
        assert scheduler_events(store, "waiting") == [("FailedScheduling", message)]
        patch_node(store, "node-1", unschedulable=False)      # kubectl uncordon node-1
        await c.wait_idle()
        assert node_of(store, "waiting") == "node-1"
        assert store.require("pods", "default", "waiting")["status"]["phase"] == "Running"
        assert scheduler_events(store, "waiting")[-1] == ("Scheduled",
                                                          "Successfully assigned default/waiting to node-1")
        assert "taints" not in store.require("nodes", "", "node-1")["spec"]


@run_async
async def test_a_toleration_lets_a_pod_onto_a_tainted_node_and_no_execute_evicts_the_others(tmp_path):
    async with cluster(tmp_path) as (store, c):
        patch_node(store, "node-1", unschedulable=True)
        patch_node(store, "node-2", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
        store.create("pods", pod("tolerant", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                                           "effect": "NoSchedule"}]))
        store.create("pods", pod("anything", tolerations=[{"operator": "Exists"}],
                                 nodeSelector={"kubernetes.io/hostname": "node-2"}))
        await c.wait_idle()
        assert node_of(store, "tolerant") == "node-2"
        assert node_of(store, "anything") == "node-2"
        patch_node(store, "node-2", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                                            {"key": "maintenance", "effect": "NoExecute"}])
        await c.wait_idle()
        assert store.require("pods", "default", "tolerant")["metadata"]["deletionTimestamp"]      # evicted
        for _ in range(300):
            if store.get("pods", "default", "tolerant") is None:      # stopped, then deleted by the kubelet
                break
            await asyncio.sleep(0.01)
        assert store.get("pods", "default", "tolerant") is None
        assert node_of(store, "anything") == "node-2"
        assert ("TaintManagerEviction", "Marking for deletion Pod default/tolerant") in [
            (e["reason"], e["message"]) for e in store.list("events", "default")]


@run_async
async def test_node_selector_and_required_node_affinity_choose_the_node(tmp_path):
    async with cluster(tmp_path) as (store, c):
        store.create("pods", pod("on-two", nodeSelector={"kubernetes.io/hostname": "node-2"}))
        store.create("pods", pod("not-two", affinity={"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["node-2"]}]}]}}}))
        store.create("pods", pod("nowhere", nodeSelector={"disktype": "ssd"}))
        await c.wait_idle()
        assert node_of(store, "on-two") == "node-2"
        assert node_of(store, "not-two") == "node-1"
        assert node_of(store, "nowhere") is None
        assert scheduler_events(store, "nowhere") == [("FailedScheduling", (
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. no new claims to "
            "deallocate, preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."))]
        node = store.require("nodes", "", "node-1")
        node["metadata"]["labels"]["disktype"] = "ssd"          # kubectl label node node-1 disktype=ssd
        store.update("nodes", node)
        await c.wait_idle()
        assert node_of(store, "nowhere") == "node-1"


@run_async
async def test_requests_are_counted_against_allocatable_and_a_freed_node_takes_the_waiting_pod(tmp_path):
    async with cluster(tmp_path) as (store, c):
        node = store.require("nodes", "", "node-1")
        assert node["status"]["capacity"]["cpu"] == "2" and node["status"]["allocatable"]["cpu"] == "1930m"
        big = {"resources": {"requests": {"cpu": "1500m", "memory": "256Mi"}}}
        for name in ("big-a", "big-b", "big-c"):
            store.create("pods", pod(name, container=big))
        await c.wait_idle()
        assert {node_of(store, "big-a"), node_of(store, "big-b")} == {"node-1", "node-2"}
        assert node_of(store, "big-c") is None
        assert scheduler_events(store, "big-c")[-1][1] == (
            "0/2 nodes are available: 2 Insufficient cpu. no new claims to deallocate, preemption: 0/2 nodes are "
            "available: 2 No preemption victims found for incoming pod.")
        huge = {"resources": {"requests": {"memory": "8Gi"}}}
        store.create("pods", pod("huge", container=huge))
        await c.wait_idle()
        assert "2 Insufficient memory" in scheduler_events(store, "huge")[-1][1]
        freed = node_of(store, "big-a")
        store.delete("pods", "default", "big-a")
        await c.wait_idle()
        assert node_of(store, "big-c") == freed


@run_async
async def test_a_pod_naming_its_node_or_another_scheduler_is_not_touched(tmp_path):
    async with cluster(tmp_path) as (store, c):
        patch_node(store, "node-2", unschedulable=True)
        store.create("pods", pod("pinned", nodeName="node-2"))      # the scheduler is not asked: cordon is no bar
        store.create("pods", pod("other", schedulerName="my-scheduler"))
        await c.wait_idle()
        assert node_of(store, "pinned") == "node-2"
        assert store.require("pods", "default", "pinned")["status"]["phase"] == "Running"
        assert scheduler_events(store, "pinned") == []
        assert node_of(store, "other") is None and scheduler_events(store, "other") == []


def test_the_message_counts_reasons_per_node_sorted_as_fit_error_writes_them():
    failures = [Failure(("Insufficient cpu", "Insufficient memory"), True), Failure(("node(s) were unschedulable",),
                                                                                    False)]
    assert unschedulable_message(failures, 2) == (
        "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) were unschedulable. no new "
        "claims to deallocate, preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, "
        "1 Preemption is not helpful for scheduling.")
    assert unschedulable_message([], 0) == "no nodes available to schedule pods"


@pytest.mark.parametrize("text, value", [("500m", Decimal("0.5")), ("2", Decimal(2)), ("128Mi", Decimal(134217728)),
                                         ("1G", Decimal(10**9)), ("1e3", Decimal(1000)), ("1.5", Decimal("1.5"))])
def test_quantities_read_as_apimachinery_reads_them(text, value):
    assert parse_quantity(text) == value


def test_cpu_is_counted_in_millicores_rounded_up_and_nonsense_is_refused():
    assert milli("1930m") == 1930 and milli("0.0001") == 1
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity("lots")


@run_async
async def test_a_pending_pod_found_at_start_is_bound_once_the_nodes_register(tmp_path):
    store = Store(None)
    store.create("namespaces", {"metadata": {"name": "default"}})
    store.create("pods", pod("early"))          # in the store before any Node exists
    try:
        async with running_controllers(tmp_path, store=store) as (store, c, _):
            await c.wait_idle()
            assert node_of(store, "early") in ("node-1", "node-2")
            assert store.require("pods", "default", "early")["status"]["phase"] == "Running"
    finally:
        store.close()
