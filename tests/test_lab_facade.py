"""The facade's helpers for notebooks that must not depend on what ran before them: clearing a host of other
Ingresses, and waiting for a change to reach nginx instead of sleeping. On a real lab of this module's own."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import kubernetes
import pytest

from ingresslab import Lab
from ingresslab.lab import LabError


def ingress(name: str, host: str, *, namespace: str = "default", tls: bool = False) -> dict:
    spec = {"ingressClassName": "nginx",
            "rules": [{"host": "other.example.com" if tls else host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "nothing", "port": {"number": 80}}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": "none"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.fixture(scope="module")
def lab():
    home = Path(tempfile.mkdtemp(prefix="ilf-"))
    the_lab = Lab.up(home)
    yield the_lab
    the_lab.down()
    shutil.rmtree(home, ignore_errors=True)


def names(lab) -> set[str]:
    items = kubernetes.client.NetworkingV1Api(lab.api).list_ingress_for_all_namespaces().items
    return {f"{i.metadata.namespace}/{i.metadata.name}" for i in items}


def test_clear_host_removes_every_other_ingress_for_the_host_and_keeps_the_rest(lab):
    kubernetes.client.CoreV1Api(lab.api).create_namespace({"metadata": {"name": "elsewhere"}})
    lab.apply([ingress("cafe-ingress", "cafe.example.com"), ingress("my-ingress", "cafe.example.com"),
               ingress("by-tls", "cafe.example.com", tls=True), ingress("tea", "tea.example.com"),
               ingress("stray", "cafe.example.com", namespace="elsewhere")])
    removed = lab.clear_host("cafe.example.com", keep="cafe-ingress")
    assert removed == ["default/by-tls", "default/my-ingress", "elsewhere/stray"]
    assert {"default/cafe-ingress", "default/tea"} <= names(lab) and not {"default/my-ingress"} & names(lab)
    assert lab.clear_host("cafe.example.com", keep=["default/cafe-ingress"]) == []      # twice: nothing left
    assert lab.clear_host("cafe.example.com") == ["default/cafe-ingress"]
    with pytest.raises(ValueError, match="needs a host name"):
        lab.clear_host(" ")


def test_wait_until_returns_once_nginx_runs_the_change(lab):
    lab.apply(ingress("waited", "waited.example.com"))
    conf = lab.ingress.wait_until(lambda i: "server_name waited.example.com;" in i.conf() and i.conf(),
                                  what="the server block for waited.example.com")
    assert "server_name waited.example.com;" in conf
    with pytest.raises(LabError, match="within 0 s: a block that never comes"):
        lab.ingress.wait_until(lambda i: "never.example.com" in i.conf(), timeout=0.2,
                               what="a block that never comes")


def test_wait_synced_returns_after_the_change_reached_nginx(lab):
    before = lab.ingress.status()["syncs"]
    lab.apply(ingress("synced", "synced.example.com"))
    action = lab.ingress.wait_synced()
    # no polling here: the wait itself must have outlasted the sync the change started
    assert "server_name synced.example.com;" in lab.ingress.conf()
    assert lab.ingress.status()["syncs"] > before and action in ("reloaded", "endpoints pushed", "unchanged",
                                                                   "started", "rejected")
    assert lab.ingress.wait_synced(quiet=0.1) == action       # nothing new: it returns after the quiet time


def test_wait_rollout_and_delete_return_once_the_pods_they_let_go_are_gone(lab):
    core = kubernetes.client.CoreV1Api(lab.api)
    lab.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "settles"},
               "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "settles"}},
                        "template": {"metadata": {"labels": {"app": "settles"}}, "spec": {"containers": [
                            {"name": "web", "image": "nginxdemos/nginx-hello:plain-text"}]}}}})
    assert lab.wait_rollout("settles") == "settles: 3/3 ready"
    kubernetes.client.AppsV1Api(lab.api).patch_namespaced_deployment_scale(
        "settles", "default", {"spec": {"replicas": 1}})
    # scaling down makes two pods Terminating (graceful, as on a real cluster); wait_rollout waits them out
    assert lab.wait_rollout("settles") == "settles: 1/1 ready"
    pods = core.list_namespaced_pod("default", label_selector="app=settles").items
    assert len(pods) == 1 and pods[0].metadata.deletion_timestamp is None
    # deleting the Deployment: its pod goes through Terminating too, and delete returns once it is gone
    assert lab.delete("Deployment", "settles") == 1
    assert core.list_namespaced_pod("default", label_selector="app=settles").items == []
