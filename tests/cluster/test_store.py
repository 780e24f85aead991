"""The store: versions, conflicts, watches from a version, 410 for versions older than the log, persistence."""
from __future__ import annotations

import asyncio

import pytest

from ingresslab.cluster.apimachinery.errors import ApiError
from ingresslab.cluster.apimachinery.selectors import FieldSelector, LabelSelector
from ingresslab.cluster.storage.store import Store


def cm(name, ns="default", **labels):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "data": {"k": "v"}}


def test_every_write_takes_the_next_cluster_wide_version():
    s = Store()
    a = s.create("configmaps", cm("a"))
    b = s.create("secrets", {"metadata": {"name": "b", "namespace": "default"}})
    assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1
    assert a["kind"] == "ConfigMap" and a["apiVersion"] == "v1"


def test_update_with_a_stale_version_is_a_conflict():
    s = Store()
    a = s.create("configmaps", cm("a"))
    a["data"] = {"k": "1"}
    s.update("configmaps", a)
    a["data"] = {"k": "2"}
    with pytest.raises(ApiError) as err:
        s.update("configmaps", a)
    assert err.value.code == 409 and err.value.reason == "Conflict"


def test_an_update_that_changes_nothing_keeps_the_version():
    s = Store()
    a = s.create("configmaps", cm("a"))
    same = s.update("configmaps", a)
    assert same["metadata"]["resourceVersion"] == a["metadata"]["resourceVersion"]


def test_generation_counts_spec_changes_only():
    s = Store()
    d = s.create("deployments.apps", {"metadata": {"name": "d", "namespace": "default"}, "spec": {"replicas": 1}})
    assert d["metadata"]["generation"] == 1
    d["status"] = {"replicas": 1}
    d = s.update("deployments.apps", d)
    assert d["metadata"]["generation"] == 1
    d["spec"]["replicas"] = 2
    assert s.update("deployments.apps", d)["metadata"]["generation"] == 2


def test_watch_replays_from_a_version_then_follows_live():
    async def main():
        s = Store()
        s.create("configmaps", cm("a"))
        v = str(s.resource_version)
        s.create("configmaps", cm("b"))
        w = s.watch("configmaps", "default", since=v)
        s.delete("configmaps", "default", "a")
        got = [await asyncio.wait_for(w.queue.get(), 1) for _ in range(2)]
        w.close()
        return [(e.type, e.object["metadata"]["name"]) for e in got]
    assert asyncio.run(main()) == [("ADDED", "b"), ("DELETED", "a")]


def test_a_version_older_than_the_event_log_is_410_expired():
    s = Store(log_size=3)
    for i in range(6):
        s.create("configmaps", cm(f"c{i}"))
    with pytest.raises(ApiError) as err:
        s.watch("configmaps", since="1")
    assert err.value.code == 410 and err.value.reason == "Expired"


def test_after_a_restart_only_the_current_version_can_be_resumed(tmp_path):
    s = Store(tmp_path / "db")
    s.create("configmaps", cm("a"))
    s.create("configmaps", cm("b"))
    s.close()
    again = Store(tmp_path / "db")
    assert [o["metadata"]["name"] for o in again.list("configmaps")] == ["a", "b"]
    assert again.resource_version == 2
    again.watch("configmaps", since="2").close()
    with pytest.raises(ApiError):
        again.watch("configmaps", since="1")
    again.close()


def test_owned_objects_are_collected_with_their_owner():
    s = Store()
    owner = s.create("deployments.apps", {"metadata": {"name": "d", "namespace": "default"}, "spec": {}})
    ref = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": owner["metadata"]["uid"],
            "controller": True}]
    rs = s.create("replicasets.apps", {"metadata": {"name": "d-1", "namespace": "default", "ownerReferences": ref}})
    rs_ref = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "d-1", "uid": rs["metadata"]["uid"]}]
    s.create("pods", {"metadata": {"name": "d-1-x", "namespace": "default", "ownerReferences": rs_ref}})
    s.delete("deployments.apps", "default", "d")
    assert s.list("replicasets.apps") == [] and s.list("pods") == []


def test_selectors_filter_lists():
    s = Store()
    s.create("configmaps", cm("a", app="tea"))
    s.create("configmaps", cm("b", app="coffee"))
    assert [o["metadata"]["name"] for o in s.list("configmaps", labels=LabelSelector.parse("app=tea"))] == ["a"]
    assert [o["metadata"]["name"] for o in s.list("configmaps", fields=FieldSelector.parse("metadata.name!=a"))] == ["b"]


def test_malformed_label_selector_is_a_bad_request():
    with pytest.raises(ApiError) as err:
        LabelSelector.parse("app in tea")
    assert err.value.code == 400
