"""Defaulting: what a real API server fills in before validating and storing."""
from __future__ import annotations

import base64
import copy

import pytest

from ingresslab.cluster.apiserver.defaults import apply_defaults, image_pull_policy


def service(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


def pod(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}], **spec}}


def test_defaulting_returns_a_new_object_and_leaves_the_input_alone():
    original = service()
    before = copy.deepcopy(original)
    out = apply_defaults("services", original)
    assert original == before and out is not original and out["spec"] is not original["spec"]


def test_an_unknown_kind_comes_back_as_an_equal_copy():
    obj = {"metadata": {"name": "w"}, "spec": {"x": 1}}
    out = apply_defaults("widgets.example.com", obj)
    assert out == obj and out is not obj


# --- Service --------------------------------------------------------------------------------------------------------

def test_a_bare_service_becomes_a_single_stack_cluster_ip_service():
    spec = apply_defaults("services", service())["spec"]
    assert spec == {"selector": {"app": "web"}, "type": "ClusterIP", "sessionAffinity": "None",
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                    "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}


def test_service_defaulting_leaves_allocated_fields_to_the_allocator():
    spec = apply_defaults("services", service(type="NodePort"))["spec"]
    assert "clusterIP" not in spec and "clusterIPs" not in spec
    assert "nodePort" not in spec["ports"][0]


def test_node_port_and_load_balancer_services_default_external_traffic_policy_to_cluster():
    assert apply_defaults("services", service(type="NodePort"))["spec"]["externalTrafficPolicy"] == "Cluster"
    lb = apply_defaults("services", service(type="LoadBalancer"))["spec"]
    assert lb["externalTrafficPolicy"] == "Cluster" and lb["allocateLoadBalancerNodePorts"] is True
    with_ips = apply_defaults("services", service(externalIPs=["192.0.2.1"]))["spec"]
    assert with_ips["externalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in apply_defaults("services", service())["spec"]


def test_explicit_service_values_are_kept():
    spec = apply_defaults("services", service(type="NodePort", externalTrafficPolicy="Local", ports=[
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "UDP"}]))["spec"]
    assert spec["externalTrafficPolicy"] == "Local"
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "UDP"}]


def test_a_zero_or_empty_target_port_means_the_port_itself():
    spec = apply_defaults("services", service(ports=[{"port": 80, "targetPort": 0}, {"port": 81, "targetPort": ""}]))
    assert [p["targetPort"] for p in spec["spec"]["ports"]] == [80, 81]


def test_an_external_name_service_gets_no_ip_family_or_traffic_policy_fields():
    spec = apply_defaults("services", {"metadata": {"name": "db"}, "spec": {"type": "ExternalName",
                                                                            "externalName": "db.example.com"}})
    assert spec["spec"] == {"type": "ExternalName", "externalName": "db.example.com", "sessionAffinity": "None"}


def test_client_ip_affinity_gets_a_three_hour_timeout_and_none_affinity_drops_the_config():
    sticky = apply_defaults("services", service(sessionAffinity="ClientIP"))["spec"]
    assert sticky["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    plain = apply_defaults("services", service(sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5}}))["spec"]
    assert "sessionAffinityConfig" not in plain


# --- Pods -----------------------------------------------------------------------------------------------------------

def test_a_pod_gets_the_pod_spec_and_container_defaults():
    spec = apply_defaults("pods", pod())["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["containers"] == [{"name": "app", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                                   "terminationMessagePath": "/dev/termination-log",
                                   "terminationMessagePolicy": "File", "resources": {}}]


def test_a_pod_gets_what_the_priority_and_toleration_admission_plugins_add():
    spec = apply_defaults("pods", pod())["spec"]
    assert spec["priority"] == 0 and spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]


def test_a_pod_that_tolerates_everything_gets_no_extra_tolerations():
    spec = apply_defaults("pods", pod(tolerations=[{"operator": "Exists"}]))["spec"]
    assert spec["tolerations"] == [{"operator": "Exists"}]


def test_defaulting_a_pod_twice_changes_nothing_more():
    once = apply_defaults("pods", pod())
    assert apply_defaults("pods", once) == once


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("registry.local:5000/team/nginx", "Always"), ("registry.local:5000/team/nginx:1.2", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:latest@sha256:" + "a" * 64, "Always"),
])
def test_image_pull_policy_is_always_only_for_latest_or_untagged_images(image, policy):
    assert image_pull_policy(image) == policy


def test_container_ports_probes_and_field_refs_get_their_defaults():
    container = {"name": "app", "image": "nginx", "imagePullPolicy": "Never",
                 "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
                 "readinessProbe": {"httpGet": {"port": 80}},
                 "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 3},
                 "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}
    (c,) = apply_defaults("pods", pod(containers=[container]))["spec"]["containers"]
    assert c["imagePullPolicy"] == "Never"
    assert [p["protocol"] for p in c["ports"]] == ["TCP", "UDP"]
    assert c["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["livenessProbe"]["periodSeconds"] == 3
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName", "apiVersion": "v1"}


def test_init_containers_get_container_defaults_too():
    spec = apply_defaults("pods", pod(initContainers=[{"name": "wait", "image": "busybox:1.36"}]))["spec"]
    assert spec["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_volumes_get_an_empty_dir_when_sourceless_and_a_default_mode_for_projections():
    spec = apply_defaults("pods", pod(volumes=[{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "c"}},
                                               {"name": "tls", "secret": {"secretName": "t", "defaultMode": 256}}]))
    assert spec["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}},
                                       {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
                                       {"name": "tls", "secret": {"secretName": "t", "defaultMode": 256}}]


def test_pod_requests_default_to_limits():
    container = {"name": "app", "image": "nginx", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"},
                                                                "requests": {"cpu": "100m"}}}
    (c,) = apply_defaults("pods", pod(containers=[container]))["spec"]["containers"]
    assert c["resources"]["requests"] == {"cpu": "100m", "memory": "64Mi"}


# --- Deployments and ReplicaSets ------------------------------------------------------------------------------------

def deployment(**spec) -> dict:
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}, **spec}}


def test_a_deployment_gets_one_replica_a_rolling_update_and_its_limits():
    spec = apply_defaults("deployments.apps", deployment())["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%",
                                                                          "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600


def test_a_deployment_template_gets_pod_spec_defaults_but_not_pod_only_ones():
    template = apply_defaults("deployments.apps", deployment())["spec"]["template"]["spec"]
    assert template["restartPolicy"] == "Always" and template["containers"][0]["imagePullPolicy"] == "Always"
    assert not {"enableServiceLinks", "priority", "tolerations"} & set(template)


def test_a_recreate_deployment_gets_no_rolling_update_and_zero_replicas_stay_zero():
    spec = apply_defaults("deployments.apps", deployment(replicas=0, strategy={"type": "Recreate"}))["spec"]
    assert spec["strategy"] == {"type": "Recreate"} and spec["replicas"] == 0


def test_a_replicaset_gets_one_replica_and_template_defaults():
    spec = apply_defaults("replicasets.apps", deployment())["spec"]
    assert spec["replicas"] == 1 and spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "strategy" not in spec


# --- the rest -------------------------------------------------------------------------------------------------------

def test_a_secret_is_opaque_unless_typed():
    assert apply_defaults("secrets", {"metadata": {"name": "s"}})["type"] == "Opaque"
    assert apply_defaults("secrets", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"})["type"] == \
        "kubernetes.io/tls"


def test_secret_string_data_is_encoded_into_data_and_wins_over_it():
    out = apply_defaults("secrets", {"metadata": {"name": "s"}, "data": {"a": "b2xk", "keep": "eA=="},
                                     "stringData": {"a": "new", "b": "ünï"}})
    assert "stringData" not in out
    assert out["data"] == {"a": base64.b64encode(b"new").decode(), "keep": "eA==",
                           "b": base64.b64encode("ünï".encode()).decode()}


def test_a_namespace_is_labelled_with_its_name_and_active():
    out = apply_defaults("namespaces", {"metadata": {"name": "shop", "labels": {"team": "a"}}})
    assert out["metadata"]["labels"] == {"team": "a", "kubernetes.io/metadata.name": "shop"}
    assert out["status"] == {"phase": "Active"}
    terminating = apply_defaults("namespaces", {"metadata": {"name": "x"}, "status": {"phase": "Terminating"}})
    assert terminating["status"]["phase"] == "Terminating"


def test_endpoint_ports_default_to_tcp_and_slice_ports_to_an_empty_name():
    ep = apply_defaults("endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    eps = apply_defaults("endpointslices.discovery.k8s.io", {"addressType": "IPv4", "ports": [{"port": 80}]})
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]


def test_ingress_class_parameters_default_to_cluster_scope():
    ic = apply_defaults("ingressclasses.networking.k8s.io",
                        {"spec": {"controller": "k8s.io/ingress-nginx", "parameters": {"kind": "P", "name": "p"}}})
    assert ic["spec"]["parameters"]["scope"] == "Cluster"
    bare = apply_defaults("ingressclasses.networking.k8s.io", {"spec": {"controller": "k8s.io/ingress-nginx"}})
    assert bare["spec"] == {"controller": "k8s.io/ingress-nginx"}


def test_ingresses_are_left_to_their_own_module():
    ing = {"metadata": {"name": "shop"}, "spec": {"rules": [{"http": {"paths": [{"path": "/"}]}}]}}
    assert apply_defaults("ingresses.networking.k8s.io", ing) == ing
