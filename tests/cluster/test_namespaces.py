"""Deleting a namespace as Kubernetes does: the namespace turns Terminating (deletionTimestamp, phase, finalizer)
before anything in it goes, the namespace controller empties it in batches that leave the loop free, then deletes
it; a lab killed midway finishes the job when it starts again; cascades through ownerReferences follow an index
instead of scanning the store once per deleted object."""
from __future__ import annotations

import asyncio
import time

from cluster_harness import run_async, running_controllers

import pytest

from ingresslab.cluster.apiserver.server import Admission, ApiServer
from ingresslab.cluster.controllers.namespaces import NamespaceController
from ingresslab.cluster.apimachinery.errors import ApiError
from ingresslab.cluster.apimachinery.resources import lookup
from ingresslab.cluster.storage.store import Store


def fill(store: Store, namespace: str, n: int) -> None:
    store.create("namespaces", {"metadata": {"name": namespace}, "spec": {"finalizers": ["kubernetes"]},
                                "status": {"phase": "Active"}})
    with store.batch():
        for i in range(n):
            store.create("configmaps", {"metadata": {"name": f"cm-{i}", "namespace": namespace}, "data": {"i": str(i)}})


def test_deleting_a_namespace_first_marks_it_terminating_and_keeps_its_contents(tmp_path):
    store = Store(tmp_path / "cluster.db")
    fill(store, "shop", 5)
    marked = store.delete("namespaces", "", "shop")
    assert marked["metadata"]["deletionTimestamp"] and marked["status"]["phase"] == "Terminating"
    assert marked["spec"]["finalizers"] == ["kubernetes"]
    assert store.delete("namespaces", "", "shop")["metadata"]["resourceVersion"] == \
        marked["metadata"]["resourceVersion"]   # deleting again changes nothing
    assert len(store.list("configmaps", "shop")) == 5
    store.close()


@run_async
async def test_the_namespace_controller_empties_a_terminating_namespace_then_deletes_it(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        fill(store, "shop", 3000)
        store.create("configmaps", {"metadata": {"name": "stays", "namespace": "default"}})
        store.delete("namespaces", "", "shop")
        longest, last = 0.0, time.monotonic()
        while store.get("namespaces", "", "shop") is not None:   # the loop keeps turning while it works
            await asyncio.sleep(0)
            now = time.monotonic()
            longest, last = max(longest, now - last), now
        assert store.list("configmaps", "shop") == []
        assert [c["metadata"]["name"] for c in store.list("configmaps", "default")] == ["stays"]
        assert controllers.namespaces.deleted == 3000
        print(f"\n3,000 objects deleted; the longest the loop waited between two turns: {1000 * longest:.1f} ms")
        assert longest < 5.0   # generous: batches are about 10 ms, this only catches one long block


@run_async
async def test_a_lab_killed_midway_finishes_the_deletion_when_it_starts_again(tmp_path):
    db = tmp_path / "cluster.db"
    store = Store(db)
    fill(store, "shop", 500)
    store.delete("namespaces", "", "shop")
    for i in range(200):   # the first batches went before the kill
        store.delete("configmaps", "shop", f"cm-{i}")
    store.close()          # killed: nothing more was written
    again = Store(db)
    assert again.get("namespaces", "", "shop")["status"]["phase"] == "Terminating"
    assert len(again.list("configmaps", "shop")) == 300
    controller = NamespaceController(again)
    controller.start()
    try:
        await asyncio.wait_for(_until(lambda: again.get("namespaces", "", "shop") is None), 30)
        assert again.list("configmaps", "shop") == []
    finally:
        await controller.stop()
        again.close()
    reopened = Store(db)
    assert reopened.get("namespaces", "", "shop") is None and reopened.list("configmaps", "shop") == []
    reopened.close()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_cascade_follows_the_owner_index_through_later_writes():
    store = Store(None)
    store.create("namespaces", {"metadata": {"name": "default"}})
    owner = store.create("configmaps", {"metadata": {"name": "owner", "namespace": "default"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    store.create("configmaps", {"metadata": {"name": "a", "namespace": "default", "ownerReferences": [ref]}})
    store.delete("configmaps", "default", "a")   # builds the index, then keeps it current
    b = store.create("configmaps", {"metadata": {"name": "b", "namespace": "default"}})
    b["metadata"]["ownerReferences"] = [ref]
    store.update("configmaps", b)                # owned only after an update
    c = store.create("configmaps", {"metadata": {"name": "c", "namespace": "default", "ownerReferences": [ref]}})
    c["metadata"]["ownerReferences"] = []
    store.update("configmaps", c)                # no longer owned
    store.delete("configmaps", "default", "owner")
    assert [m["metadata"]["name"] for m in store.list("configmaps", "default")] == ["c"]


def test_the_api_refuses_new_objects_in_a_terminating_namespace():
    store = Store(None)
    fill(store, "going", 1)
    api = ApiServer(store, token="t", admission=Admission(), pod_logs=None, server_address="127.0.0.1:1")
    configmaps = lookup("", "v1", "configmaps")
    api.create(configmaps, "going", {"metadata": {"name": "before"}})
    store.delete("namespaces", "", "going")
    with pytest.raises(ApiError) as refused:
        api.create(configmaps, "going", {"metadata": {"name": "after"}})
    assert refused.value.code == 403
    assert "unable to create new content in namespace going because it is being terminated" in str(
        refused.value.status())
