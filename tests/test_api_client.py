"""The official `kubernetes` client against the embedded API: CRUD, selectors, watches, and Kubernetes' errors."""
from __future__ import annotations

import json
import ssl
import threading
import urllib.error
import urllib.request

import kubernetes
import pytest
from kubernetes.client.rest import ApiException
from polling import eventually


@pytest.fixture
def core(lab):
    return kubernetes.client.CoreV1Api(lab.api)


@pytest.fixture
def ns(core, request):
    name = "t-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def configmap(name, labels=None, data=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data or {"k": "v"}}


def test_namespaces_of_a_fresh_cluster_exist(core):
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "ingress-nginx"} <= names


def test_create_get_update_delete_round_trip(core, ns):
    created = core.create_namespaced_config_map(ns, configmap("one"))
    assert created.metadata.uid and created.metadata.resource_version
    got = core.read_namespaced_config_map("one", ns)
    assert got.data == {"k": "v"}
    got.data = {"k": "w"}
    updated = core.replace_namespaced_config_map("one", ns, got)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_config_map("one", ns)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("one", ns)
    assert err.value.status == 404
    body = json.loads(err.value.body)
    assert body["kind"] == "Status" and body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "one" not found'


def test_creating_twice_is_409_already_exists(core, ns):
    core.create_namespaced_config_map(ns, configmap("dup"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, configmap("dup"))
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "AlreadyExists"


def test_stale_resource_version_on_update_is_409_conflict(core, ns):
    first = core.create_namespaced_config_map(ns, configmap("cas"))
    first.data = {"k": "1"}
    core.replace_namespaced_config_map("cas", ns, first)
    first.data = {"k": "2"}   # still carries the old resourceVersion
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("cas", ns, first)
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "Conflict"


def test_label_selector_lists_only_matching_objects(core, ns):
    core.create_namespaced_config_map(ns, configmap("a", {"app": "tea"}))
    core.create_namespaced_config_map(ns, configmap("b", {"app": "coffee"}))
    core.create_namespaced_config_map(ns, configmap("c", {"app": "tea", "tier": "db"}))
    # Every namespace also holds the cluster's kube-root-ca.crt (root-ca-cert-publisher), unlabelled as on a real one.
    names = lambda sel: sorted(i.metadata.name for i in core.list_namespaced_config_map(ns, label_selector=sel).items
                               if i.metadata.name != "kube-root-ca.crt")
    assert names("app=tea") == ["a", "c"]
    assert names("app in (tea,coffee),tier!=db") == ["a", "b"]
    assert names("!tier") == ["a", "b"]
    field = core.list_namespaced_config_map(ns, field_selector="metadata.name=b").items
    assert [i.metadata.name for i in field] == ["b"]


def test_all_namespaces_list_includes_every_namespace(core, ns):
    core.create_namespaced_config_map(ns, configmap("here"))
    found = core.list_config_map_for_all_namespaces(field_selector="metadata.name=here").items
    assert [(i.metadata.namespace, i.metadata.name) for i in found] == [(ns, "here")]


def test_empty_lists_carry_an_empty_items_array(lab, ns):
    code, body = _raw(lab, "GET", f"/api/v1/namespaces/{ns}/secrets", None)
    assert code == 200 and body["items"] == [] and body["kind"] == "SecretList"


def test_watch_sees_added_modified_deleted_and_resumes_from_a_version(core, ns):
    core.create_namespaced_config_map(ns, configmap("w1"))
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    events = []

    def collect():
        w = kubernetes.watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=5):
            events.append((ev["type"], ev["object"].metadata.name))
            if len(events) == 3:
                w.stop()

    t = threading.Thread(target=collect)
    t.start()
    core.create_namespaced_config_map(ns, configmap("w2"))
    core.patch_namespaced_config_map("w2", ns, {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("w2", ns)
    t.join(10)
    assert events == [("ADDED", "w2"), ("MODIFIED", "w2"), ("DELETED", "w2")]


def test_watch_without_a_version_starts_with_synthetic_added_events(core, ns):
    core.create_namespaced_config_map(ns, configmap("s1"))
    core.create_namespaced_config_map(ns, configmap("s2"))
    w = kubernetes.watch.Watch()
    seen = []
    for ev in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=1):
        if ev["object"].metadata.name == "kube-root-ca.crt":    # every namespace holds it, as on a real cluster
            continue
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    assert seen == [("ADDED", "s1"), ("ADDED", "s2")]


def test_requests_without_the_token_get_401(lab):
    url = lab.api.configuration.host + "/api/v1/namespaces"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5, context=tls(lab))
    assert err.value.code == 401
    with err.value:
        assert json.loads(err.value.read())["reason"] == "Unauthorized"
    req = urllib.request.Request(url, headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5, context=tls(lab))
    err.value.close()
    assert err.value.code == 401


def tls(lab) -> ssl.SSLContext:
    """Verify the lab's API server with the CA from its kubeconfig, as kubectl does."""
    return ssl.create_default_context(cafile=lab.api.configuration.ssl_ca_cert)


def _raw(lab, method, path, body: bytes, content_type="application/json"):
    req = urllib.request.Request(lab.api.configuration.host + path, data=body, method=method, headers={
        "Authorization": lab.api.configuration.api_key["BearerToken"], "Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10, context=tls(lab)) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def test_malformed_json_is_400_with_a_status(lab, ns):
    code, body = _raw(lab, "POST", f"/api/v1/namespaces/{ns}/configmaps", b'{"metadata": {"name": "x"')
    assert code == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest"


def test_bodies_over_three_mebibytes_are_413(lab, ns):
    big = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 10)}}).encode()
    code, body = _raw(lab, "POST", f"/api/v1/namespaces/{ns}/configmaps", big)
    assert code == 413 and body["reason"] == "RequestEntityTooLarge"


def test_unsupported_patch_type_is_415(lab, ns, core):
    core.create_namespaced_config_map(ns, configmap("p"))
    code, body = _raw(lab, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/p", b"{}", "application/x-nonsense")
    assert code == 415 and body["kind"] == "Status"


def test_yaml_bodies_are_accepted(lab, ns, core):
    code, body = _raw(lab, "POST", f"/api/v1/namespaces/{ns}/configmaps",
                      b"metadata:\n  name: from-yaml\ndata:\n  k: v\n", "application/yaml")
    assert code == 201 and body["metadata"]["name"] == "from-yaml"


def test_invalid_service_is_422_with_field_causes_and_nothing_is_created(core, ns):
    svc = {"metadata": {"name": "bad"}, "spec": {"type": "NodePort", "selector": {"app": "x"},
                                                  "ports": [{"port": 80, "nodePort": 80}]}}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(ns, svc)
    assert err.value.status == 422
    body = json.loads(err.value.body)
    assert body["reason"] == "Invalid"
    assert any(c["field"] == "spec.ports[0].nodePort" for c in body["details"]["causes"])
    assert core.list_namespaced_service(ns).items == []


def test_object_in_a_missing_namespace_is_404(core):
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("no-such-namespace", configmap("x"))
    assert err.value.status == 404


def test_deleting_a_deployment_deletes_its_replicasets_and_pods(lab, ns):
    apps = kubernetes.client.AppsV1Api(lab.api)
    core = kubernetes.client.CoreV1Api(lab.api)
    apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "gc"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "gc"}},
        "template": {"metadata": {"labels": {"app": "gc"}}, "spec": {"containers": [
            {"name": "c", "image": "nginxdemos/nginx-hello:plain-text", "ports": [{"containerPort": 8080}]}]}}}})
    eventually(lambda: len(core.list_namespaced_pod(ns, label_selector="app=gc").items) == 2)
    apps.delete_namespaced_deployment("gc", ns)
    eventually(lambda: not core.list_namespaced_pod(ns, label_selector="app=gc").items)
    assert not apps.list_namespaced_replica_set(ns).items

