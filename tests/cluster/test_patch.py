"""The three PATCH algorithms: RFC 7386 merge patch, RFC 6902 JSON patch, Kubernetes strategic merge patch."""
from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ingresslab.cluster.apimachinery.errors import ApiError
from ingresslab.cluster.apiserver.patch import (
    MERGE_KEYS,
    SCALARS,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    json_equal,
    merge_keys_for,
)
from ingresslab.cluster.apimachinery.resources import RESOURCES

NO_DEADLINE = hypothesis_settings(deadline=None)
"""Hypothesis's 200 ms per example is a timing assertion; on a loaded machine one example can take longer."""

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def directive_keys(value) -> list[str]:
    """Every `$...` key anywhere in a JSON value."""
    if isinstance(value, dict):
        return [k for k in value if k.startswith("$")] + [d for v in value.values() for d in directive_keys(v)]
    if isinstance(value, list):
        return [d for v in value for d in directive_keys(v)]
    return []


def service() -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                     "annotations": {LAST_APPLIED: "{\"old\":true}\n"}, "labels": {"app": "web"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                           {"name": "metrics", "port": 8080, "protocol": "TCP", "targetPort": 9090}]},
    }


def container(name: str, image: str, **extra) -> dict:
    return {"name": name, "image": image, **extra}


def deployment() -> dict:
    web = container("web", "nginx:1.25",
                    ports=[{"containerPort": 80, "protocol": "TCP"}],
                    env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    volumeMounts=[{"name": "data", "mountPath": "/data"}])
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "d-1", "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [web, container("log-shipper", "fluent-bit:3")],
                         "volumes": [{"name": "data", "emptyDir": {}}],
                         "tolerations": [{"key": "a", "operator": "Exists"}]},
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"},
                                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]},
    }


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def smp_deploy(patch: dict, obj: dict | None = None) -> dict:
    return apply_strategic_merge_patch(obj or deployment(), patch, "deployments.apps")


def template_patch(spec_patch: dict) -> dict:
    return {"spec": {"template": {"spec": spec_patch}}}


def raises(code: int, reason: str, fn, *args) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args)
    assert (info.value.code, info.value.reason) == (code, reason), info.value
    return info.value


# ------------------------------------------------------------------------------------------------------ merge patch
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_follows_the_rfc7386_examples(target, patch, expected):
    # Nested one level down, because a Kubernetes PATCH body must itself be an object.
    assert apply_merge_patch({"x": target, "keep": 1}, {"x": patch}) == {"x": expected, "keep": 1}


def test_merge_patch_merges_nested_maps_and_null_deletes_a_label():
    obj = {"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}}, "spec": {"replicas": 1}}
    out = apply_merge_patch(obj, {"metadata": {"labels": {"tier": None, "team": "a"}}, "spec": {"replicas": 3}})
    assert out == {"metadata": {"name": "web", "labels": {"app": "web", "team": "a"}}, "spec": {"replicas": 3}}


def test_merge_patch_replaces_a_container_list_wholesale():
    out = apply_merge_patch(deployment(), template_patch({"containers": [container("web", "nginx:1.27")]}))
    assert pod_spec(out)["containers"] == [{"name": "web", "image": "nginx:1.27"}]


def test_merge_patch_does_not_mutate_its_inputs():
    obj, patch = deployment(), {"spec": {"replicas": None, "template": {"metadata": {"labels": {"x": "y"}}}}}
    before_obj, before_patch = copy.deepcopy(obj), copy.deepcopy(patch)
    out = apply_merge_patch(obj, patch)
    out["spec"]["selector"]["matchLabels"]["app"] = "changed"
    assert (obj, patch) == (before_obj, before_patch)


def test_merge_patch_body_that_is_not_an_object_is_a_bad_request():
    raises(400, "BadRequest", apply_merge_patch, {"a": 1}, ["a"])


# ------------------------------------------------------------------------------------------------------- JSON patch
def test_json_patch_replaces_replicas():
    assert apply_json_patch(deployment(), [{"op": "replace", "path": "/spec/replicas", "value": 5}])["spec"][
        "replicas"] == 5


def test_json_patch_adds_an_object_member_and_an_array_element_at_an_index():
    out = apply_json_patch({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"},
                                                     {"op": "add", "path": "/hello", "value": ["world"]}])
    assert out == {"foo": ["bar", "qux", "baz"], "hello": ["world"]}


def test_json_patch_dash_appends_to_an_array():
    out = apply_json_patch(deployment(), [{"op": "add", "path": "/spec/template/spec/containers/-",
                                           "value": container("extra", "busybox")}])
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["web", "log-shipper", "extra"]


def test_json_patch_unescapes_tilde_one_as_slash_and_tilde_zero_as_tilde():
    obj = {"metadata": {"labels": {}}, "/": 9, "~1": 10}
    out = apply_json_patch(obj, [{"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "web"},
                                 {"op": "test", "path": "/~01", "value": 10},
                                 {"op": "test", "path": "/~1", "value": 9}])
    assert out["metadata"]["labels"] == {"app.kubernetes.io/name": "web"}


def test_json_patch_removes_an_object_member_and_an_array_element():
    out = apply_json_patch({"a": 1, "b": [1, 2, 3]}, [{"op": "remove", "path": "/a"},
                                                      {"op": "remove", "path": "/b/1"}])
    assert out == {"b": [1, 3]}


def test_json_patch_moves_and_copies_values():
    out = apply_json_patch({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}, "list": [1, 2, 3, 4]},
                           [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"},
                            {"op": "move", "from": "/list/1", "path": "/list/3"},
                            {"op": "copy", "from": "/qux", "path": "/copied"},
                            {"op": "replace", "path": "/copied/corge", "value": "changed"}])
    assert out == {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}, "list": [1, 3, 4, 2],
                   "copied": {"corge": "changed", "thud": "fred"}}


def test_json_patch_replace_keeps_member_order_and_can_replace_the_whole_document():
    out = apply_json_patch({"a": 1, "b": 2}, [{"op": "replace", "path": "/a", "value": 3}])
    assert list(out) == ["a", "b"]
    assert apply_json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}


def test_json_patch_ignores_unrecognised_members_of_an_operation():
    assert apply_json_patch({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]) == {
        "foo": "bar", "baz": "qux"}


def test_json_patch_failing_test_is_invalid_and_changes_nothing():
    obj = deployment()
    before = copy.deepcopy(obj)
    err = raises(422, "Invalid", apply_json_patch, obj,
                 [{"op": "replace", "path": "/spec/replicas", "value": 9},
                  {"op": "test", "path": "/metadata/name", "value": "other"}])
    assert "test" in err.message and "/metadata/name" in err.message
    assert obj == before


def test_json_patch_test_tells_strings_numbers_and_booleans_apart():
    raises(422, "Invalid", apply_json_patch, {"baz": "qux", "foo": ["a", 2, "c"]},
           [{"op": "test", "path": "/foo/1", "value": "2"}])
    raises(422, "Invalid", apply_json_patch, {"flag": True}, [{"op": "test", "path": "/flag", "value": 1}])
    assert apply_json_patch({"n": 1}, [{"op": "test", "path": "/n", "value": 1.0}]) == {"n": 1}


@pytest.mark.parametrize("op", [
    {"op": "remove", "path": "/spec/nope"},
    {"op": "replace", "path": "/spec/nope", "value": 1},
    {"op": "add", "path": "/spec/nope/deeper", "value": 1},
    {"op": "add", "path": "/spec/template/spec/containers/5", "value": {}},
    {"op": "add", "path": "/spec/template/spec/containers/01", "value": {}},
    {"op": "remove", "path": "/spec/template/spec/containers/-"},
    {"op": "test", "path": "/spec/nope", "value": None},
    {"op": "move", "from": "/spec/nope", "path": "/spec/x"},
    {"op": "copy", "from": "/spec/template/spec/containers/2", "path": "/spec/x"},
    {"op": "move", "from": "/spec", "path": "/spec/inner"},
    {"op": "add", "path": "/spec/replicas/x", "value": 1},
    {"op": "remove", "path": ""},
], ids=lambda op: f"{op['op']} {op.get('from', '')} {op['path']}")
def test_json_patch_on_a_path_that_does_not_exist_is_invalid(op):
    raises(422, "Invalid", apply_json_patch, deployment(), [op])


@pytest.mark.parametrize("ops", [
    {"op": "add", "path": "/a", "value": 1},
    ["add"],
    [{"path": "/a", "value": 1}],
    [{"op": "frobnicate", "path": "/a"}],
    [{"op": "add", "value": 1}],
    [{"op": "add", "path": "/a"}],
    [{"op": "replace", "path": "/a"}],
    [{"op": "test", "path": "/a"}],
    [{"op": "move", "path": "/a"}],
    [{"op": "copy", "path": "/a", "from": 3}],
    [{"op": "add", "path": "a", "value": 1}],
    [{"op": "add", "path": "/a~2b", "value": 1}],
    [{"op": "add", "path": "/a~", "value": 1}],
], ids=lambda ops: json.dumps(ops))
def test_json_patch_malformed_document_or_operation_is_a_bad_request(ops):
    raises(400, "BadRequest", apply_json_patch, {"a": 1}, ops)


def test_json_patch_does_not_mutate_its_inputs_and_copies_values():
    obj, value = {"a": {"b": 1}}, {"deep": [1]}
    ops = [{"op": "add", "path": "/c", "value": value}]
    out = apply_json_patch(obj, ops)
    out["c"]["deep"].append(2)
    out["a"]["b"] = 9
    assert obj == {"a": {"b": 1}} and value == {"deep": [1]}


# -------------------------------------------------------------------------------------------- strategic merge patch
def test_merge_key_table_is_declarative_data_per_resource():
    assert MERGE_KEYS["pods"]["spec.containers"] == "name"
    assert MERGE_KEYS["pods"]["spec.containers.ports"] == "containerPort"
    assert MERGE_KEYS["deployments.apps"]["spec.template.spec.initContainers.env"] == "name"
    assert MERGE_KEYS["replicasets.apps"]["spec.template.spec.containers.volumeMounts"] == "mountPath"
    assert MERGE_KEYS["services"]["spec.ports"] == "port"
    assert merge_keys_for("ingresses.networking.k8s.io") == {"metadata.ownerReferences": "uid",
                                                             "metadata.finalizers": SCALARS}
    served = {r.key for r in RESOURCES}
    assert set(MERGE_KEYS) <= served


def test_labels_merge_and_a_null_deletes_a_label():
    out = apply_strategic_merge_patch(service(), {"metadata": {"labels": {"app": None, "tier": "front"}}}, "services")
    assert out["metadata"]["labels"] == {"tier": "front"}
    assert out["spec"] == service()["spec"]


def test_service_ports_merge_by_port_number():
    out = apply_strategic_merge_patch(service(), {"spec": {"ports": [{"port": 8080, "targetPort": 9100}]}},
                                      "services")
    assert out["spec"]["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "metrics", "port": 8080, "protocol": "TCP", "targetPort": 9100}]


def test_kubectl_client_side_apply_of_a_changed_service_port_list():
    # What kubectl 1.3x `apply` sends when the manifest's ports go from [80, 8080] to [80, 443].
    applied = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                          "spec": {"selector": {"app": "web"}, "ports": [
                              {"name": "http", "port": 80, "targetPort": 8080},
                              {"name": "https", "port": 443, "targetPort": 8443}]}}) + "\n"
    patch = {"metadata": {"annotations": {LAST_APPLIED: applied}},
             "spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 443}],
                      "ports": [{"port": 443, "targetPort": 8443, "name": "https"},
                                {"$patch": "delete", "port": 8080}]}}
    obj = service()
    out = apply_strategic_merge_patch(obj, patch, "services")
    assert out["spec"]["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                                    {"port": 443, "targetPort": 8443, "name": "https"}]
    assert out["metadata"]["annotations"] == {LAST_APPLIED: applied}
    assert out["spec"]["clusterIP"] == "10.96.0.10" and out["spec"]["selector"] == {"app": "web"}
    assert directive_keys(out) == []
    assert obj == service()


def test_kubectl_client_side_apply_of_a_deployment_image_change():
    applied = "{\"kind\":\"Deployment\"}\n"
    patch = {"metadata": {"annotations": {LAST_APPLIED: applied}},
             "spec": {"template": {"spec": {
                 "$setElementOrder/containers": [{"name": "web"}, {"name": "log-shipper"}],
                 "containers": [{"image": "nginx:1.27", "name": "web"}]}}}}
    out = smp_deploy(patch)
    web, shipper = pod_spec(out)["containers"]
    assert web == {**pod_spec(deployment())["containers"][0], "image": "nginx:1.27"}
    assert shipper == container("log-shipper", "fluent-bit:3")
    assert out["metadata"]["annotations"] == {LAST_APPLIED: applied}
    assert out["spec"]["replicas"] == 2 and out["status"] == deployment()["status"]
    assert directive_keys(out) == []


def test_kubectl_apply_env_change_uses_a_nested_set_element_order_inside_the_container():
    patch = template_patch({
        "$setElementOrder/containers": [{"name": "web"}, {"name": "log-shipper"}],
        "containers": [{"$setElementOrder/env": [{"name": "C"}, {"name": "A"}],
                        "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                        "name": "web"}]})
    out = smp_deploy(patch)
    assert pod_spec(out)["containers"][0]["env"] == [{"name": "C", "value": "3"}, {"name": "A", "value": "1"}]
    assert directive_keys(out) == []


def test_containers_merge_by_name_and_a_new_container_goes_first_like_kubernetes():
    # The order apimachinery produces (see the "kubectl patch" task page: the patched-in container is listed first).
    out = smp_deploy(template_patch({"containers": [container("redis", "redis")]}))
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["redis", "web", "log-shipper"]


def test_set_element_order_puts_listed_containers_in_that_order():
    out = smp_deploy(template_patch({"$setElementOrder/containers": [{"name": "log-shipper"}, {"name": "web"}]}))
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["log-shipper", "web"]
    assert pod_spec(out)["containers"][1] == pod_spec(deployment())["containers"][0]


def test_set_element_order_slots_unlisted_live_items_before_the_next_listed_one_after_them():
    obj = deployment()
    pod_spec(obj)["containers"] = [container(n, "img") for n in "axb"]
    out = smp_deploy(template_patch({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}), obj)
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["x", "b", "a"]
    out = smp_deploy(template_patch({"$setElementOrder/containers": [{"name": "a"}, {"name": "n"}, {"name": "b"}],
                                     "containers": [container("n", "new")]}), obj)
    # apimachinery only compares items that are both live, so x waits behind the new n until b is reached.
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["a", "n", "x", "b"]


def test_set_element_order_that_omits_a_patched_item_is_a_bad_request():
    raises(400, "BadRequest", smp_deploy, template_patch({
        "$setElementOrder/containers": [{"name": "web"}], "containers": [container("new", "img")]}))
    raises(400, "BadRequest", smp_deploy, template_patch({
        "$setElementOrder/containers": [{"name": "web"}, {"name": "new"}],
        "containers": [container("new", "img"), container("web", "img")]}))
    raises(400, "BadRequest", smp_deploy, template_patch({"$setElementOrder/containers": [{"image": "x"}]}))


def test_container_ports_merge_by_container_port():
    patch = template_patch({"containers": [{"name": "web", "ports": [{"containerPort": 80, "name": "http"},
                                                                      {"containerPort": 443}]}]})
    web = pod_spec(smp_deploy(patch))["containers"][0]
    assert web["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]
    patch = template_patch({"containers": [{"name": "web", "ports": [{"containerPort": 443}]}]})
    assert pod_spec(smp_deploy(patch))["containers"][0]["ports"] == [{"containerPort": 443},
                                                                     {"containerPort": 80, "protocol": "TCP"}]


def test_env_merges_by_name_and_a_null_deletes_a_field_of_one_entry():
    entry = {"name": "A", "value": None, "valueFrom": {"fieldRef": {"fieldPath": "x"}}}
    patch = template_patch({"containers": [{"name": "web", "env": [entry]}]})
    env = pod_spec(smp_deploy(patch))["containers"][0]["env"]
    assert env == [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}, {"name": "B", "value": "2"}]


def test_volume_mounts_merge_by_mount_path():
    patch = template_patch({"containers": [{"name": "web", "volumeMounts": [{"mountPath": "/data", "readOnly": True},
                                                                             {"mountPath": "/cfg", "name": "cfg"}]}]})
    mounts = pod_spec(smp_deploy(patch))["containers"][0]["volumeMounts"]
    assert mounts == [{"name": "data", "mountPath": "/data", "readOnly": True}, {"mountPath": "/cfg", "name": "cfg"}]


def test_pod_volumes_image_pull_secrets_and_host_aliases_merge_by_their_keys():
    pod = {"metadata": {"name": "p"}, "spec": {
        "containers": [container("c", "img")], "volumes": [{"name": "v", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "reg"}], "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}]}}
    out = apply_strategic_merge_patch(pod, {"spec": {
        "volumes": [{"name": "w", "configMap": {"name": "cm"}}], "imagePullSecrets": [{"name": "reg2"}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}]}}, "pods")
    assert [v["name"] for v in out["spec"]["volumes"]] == ["w", "v"]
    assert out["spec"]["imagePullSecrets"] == [{"name": "reg2"}, {"name": "reg"}]
    assert out["spec"]["hostAliases"] == [{"ip": "10.0.0.1", "hostnames": ["b"]}]  # hostnames is atomic


def test_init_containers_merge_by_name_in_a_pod():
    pod = {"spec": {"initContainers": [container("init", "busybox", command=["sh"])],
                    "containers": [container("c", "img")]}}
    out = apply_strategic_merge_patch(pod, {"spec": {"initContainers": [{"name": "init", "image": "alpine"}]}}, "pods")
    assert out["spec"]["initContainers"] == [container("init", "alpine", command=["sh"])]


def test_lists_without_a_merge_key_are_replaced_wholesale():
    out = smp_deploy(template_patch({"tolerations": [{"key": "b", "operator": "Exists"}],
                                     "containers": [{"name": "web", "args": ["--new"]}]}))
    assert pod_spec(out)["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert pod_spec(out)["containers"][0]["args"] == ["--new"]


def test_ingress_rules_paths_and_tls_are_replaced_wholesale():
    ingress = {"spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.test"], "secretName": "a"}],
                        "rules": [{"host": "a.test", "http": {"paths": [
                            {"path": "/", "pathType": "Prefix",
                             "backend": {"service": {"name": "a", "port": {"number": 80}}}}]}}]}}
    new_rules = [{"host": "b.test", "http": {"paths": [
        {"path": "/b", "pathType": "Exact", "backend": {"service": {"name": "b", "port": {"number": 8080}}}}]}}]
    out = apply_strategic_merge_patch(ingress, {"spec": {"rules": new_rules, "tls": []}},
                                      "ingresses.networking.k8s.io")
    assert out["spec"] == {"ingressClassName": "nginx", "tls": [], "rules": new_rules}


def test_endpointslice_endpoints_are_replaced_wholesale():
    eps = {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
           "ports": [{"name": "http", "port": 80}]}
    out = apply_strategic_merge_patch(eps, {"endpoints": [{"addresses": ["10.0.0.3"]}]},
                                      "endpointslices.discovery.k8s.io")
    assert out["endpoints"] == [{"addresses": ["10.0.0.3"]}] and out["ports"] == eps["ports"]


def test_owner_references_merge_by_uid():
    obj = {"metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "a", "controller": True}]}}
    out = apply_strategic_merge_patch(obj, {"metadata": {"ownerReferences": [
        {"uid": "1", "controller": None}, {"uid": "2", "kind": "ReplicaSet", "name": "b"}]}}, "pods")
    assert out["metadata"]["ownerReferences"] == [{"uid": "1", "kind": "ReplicaSet", "name": "a"},
                                                  {"uid": "2", "kind": "ReplicaSet", "name": "b"}]


def test_status_conditions_merge_by_type():
    out = smp_deploy({"status": {"conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicas"}],
                                 "readyReplicas": 1}})
    assert out["status"]["conditions"] == [
        {"type": "Available", "status": "False", "reason": "MinimumReplicas"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]


def test_finalizers_union_and_delete_from_primitive_list_removes_them():
    obj = {"metadata": {"name": "p", "finalizers": ["a", "b"]}}
    out = apply_strategic_merge_patch(obj, {"metadata": {"finalizers": ["b", "c"]}}, "pods")
    assert sorted(out["metadata"]["finalizers"]) == ["a", "b", "c"]
    out = apply_strategic_merge_patch(obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}, "pods")
    assert out["metadata"]["finalizers"] == ["b"]


def test_kubectl_apply_finalizer_change_sends_order_additions_and_deletions():
    obj = {"metadata": {"name": "p", "finalizers": ["a", "b"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["a", "c"], "finalizers": ["c"],
                          "$deleteFromPrimitiveList/finalizers": ["b"]}}
    assert apply_strategic_merge_patch(obj, patch, "pods")["metadata"] == {"name": "p", "finalizers": ["a", "c"]}


def test_delete_directive_removes_a_container_by_name():
    out = smp_deploy(template_patch({"containers": [{"$patch": "delete", "name": "log-shipper"}]}))
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["web"]


def test_delete_directive_without_the_merge_key_is_a_bad_request():
    raises(400, "BadRequest", smp_deploy, template_patch({"containers": [{"$patch": "delete", "image": "x"}]}))


def test_a_list_item_without_its_merge_key_is_a_bad_request():
    raises(400, "BadRequest", smp_deploy, template_patch({"containers": [{"image": "nginx"}]}))


def test_replace_marker_in_a_list_replaces_the_whole_list():
    out = smp_deploy(template_patch({"containers": [{"$patch": "replace"}, container("solo", "img")]}))
    assert pod_spec(out)["containers"] == [container("solo", "img")]


def test_replace_directive_on_a_map_replaces_that_map():
    out = smp_deploy({"spec": {"selector": {"$patch": "replace", "matchLabels": {"app": "v2"}}}})
    assert out["spec"]["selector"] == {"matchLabels": {"app": "v2"}}
    out = smp_deploy({"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "v": "2"}}}}})
    assert out["spec"]["template"]["metadata"]["labels"] == {"v": "2"}


def test_delete_directive_on_a_map_empties_it():
    out = smp_deploy({"spec": {"strategy": {"$patch": "delete"}}})
    assert out["spec"]["strategy"] == {}


def test_merge_directive_is_the_default_merge():
    containers = [{"$patch": "merge"}, {"$patch": "merge", "name": "web", "tty": True}]
    patch = {"metadata": {"$patch": "merge", "labels": {"x": "y"}}, **template_patch({"containers": containers})}
    out = smp_deploy(patch)
    assert out["metadata"]["labels"] == {"x": "y"} and out["metadata"]["name"] == "web"
    assert pod_spec(out)["containers"][0]["tty"] is True and len(pod_spec(out)["containers"]) == 2


@pytest.mark.parametrize("patch", [
    {"metadata": {"$patch": "frobnicate"}},
    template_patch({"containers": [{"$patch": "frobnicate", "name": "web"}]}),
    {"spec": {"$unknownDirective": 1}},
    {"spec": {"$retainKeys": "type"}},
    {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
    {"metadata": {"$setElementOrder/finalizers": "a"}},
    template_patch({"containers": ["web"]}),
], ids=lambda p: json.dumps(p))
def test_malformed_strategic_merge_patches_are_bad_requests(patch):
    raises(400, "BadRequest", smp_deploy, patch)


def test_strategic_merge_patch_body_that_is_not_an_object_is_a_bad_request():
    raises(400, "BadRequest", apply_strategic_merge_patch, deployment(), [], "deployments.apps")


def test_retain_keys_clears_fields_not_listed_like_a_strategy_switch_to_recreate():
    out = smp_deploy({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_swaps_a_volume_source():
    patch = template_patch({"$setElementOrder/volumes": [{"name": "data"}],
                            "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cfg"},
                                         "emptyDir": None, "name": "data"}]})
    assert pod_spec(smp_deploy(patch))["volumes"] == [{"name": "data", "configMap": {"name": "cfg"}}]


def test_retain_keys_must_list_every_field_the_patch_sets():
    raises(400, "BadRequest", smp_deploy, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate",
                                                                 "rollingUpdate": {"maxSurge": 1}}}})


def test_directive_keys_never_appear_in_the_stored_result_even_for_new_fields():
    obj = {"metadata": {"name": "p"}, "spec": {}}
    out = apply_strategic_merge_patch(obj, {"spec": {
        "$setElementOrder/containers": [{"name": "a"}],
        "containers": [{"name": "a", "image": "x", "$setElementOrder/env": [{"name": "E"}],
                        "env": [{"name": "E", "value": "1"}, {"$patch": "delete", "name": "gone"}], "tty": None}],
        "tolerations": [{"$patch": "replace"}, {"key": "k", "operator": "Exists", "value": None}],
        "securityContext": {"$patch": "replace", "runAsUser": 1000}}}, "pods")
    assert directive_keys(out) == []
    assert out["spec"] == {"containers": [{"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}],
                           "tolerations": [{"key": "k", "operator": "Exists"}],
                           "securityContext": {"runAsUser": 1000}}


def test_a_patch_value_of_another_type_replaces_the_live_value():
    out = smp_deploy({"spec": {"replicas": {"odd": True}, "selector": "text"}})
    assert out["spec"]["replicas"] == {"odd": True} and out["spec"]["selector"] == "text"


def test_strategic_merge_patch_does_not_mutate_its_inputs():
    obj = deployment()
    patch = template_patch({"$setElementOrder/containers": [{"name": "web"}],
                            "containers": [{"name": "web", "image": "x", "$patch": "merge"},
                                           {"$patch": "delete", "name": "log-shipper"}]})
    before_obj, before_patch = copy.deepcopy(obj), copy.deepcopy(patch)
    out = smp_deploy(patch, obj)
    pod_spec(out)["volumes"].append({"name": "more"})
    assert (obj, patch) == (before_obj, before_patch)


def test_replica_set_templates_use_the_same_container_merge_keys():
    rs = {"spec": {"template": {"spec": {"containers": [container("web", "a"), container("side", "b")]}}}}
    out = apply_strategic_merge_patch(rs, template_patch({"containers": [{"name": "side", "image": "c"}]}),
                                      "replicasets.apps")
    assert pod_spec(out)["containers"] == [container("web", "a"), container("side", "c")]


def test_json_equal_is_strict_about_booleans_but_not_about_int_and_float():
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1) and not json_equal([0], [False]) and not json_equal("1", 1)


_KEYS = st.sampled_from(["a", "b", "c"])
_SCALARS = st.one_of(st.booleans(), st.integers(-3, 3), st.text("xy", max_size=2))
_OBJECTS = st.recursive(st.dictionaries(_KEYS, _SCALARS, max_size=3),
                        lambda inner: st.dictionaries(_KEYS, st.one_of(_SCALARS, inner), max_size=3), max_leaves=8)
_PATCHES = st.recursive(st.dictionaries(_KEYS, st.one_of(_SCALARS, st.none()), max_size=3),
                        lambda inner: st.dictionaries(_KEYS, st.one_of(_SCALARS, st.none(), inner), max_size=3),
                        max_leaves=8)


@NO_DEADLINE
@given(_OBJECTS, _PATCHES)
def test_without_lists_or_directives_strategic_merge_agrees_with_json_merge_patch(obj, patch):
    assert apply_strategic_merge_patch(obj, patch, "pods") == apply_merge_patch(obj, patch)


@NO_DEADLINE
@given(_OBJECTS, _SCALARS)
def test_json_patch_add_then_remove_of_a_new_member_gives_back_the_document(obj, value):
    ops = [{"op": "add", "path": "/new~1key", "value": value}, {"op": "remove", "path": "/new~1key"}]
    assert apply_json_patch(obj, ops) == obj
