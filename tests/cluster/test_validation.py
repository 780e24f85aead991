"""Validation: the causes a real API server answers a bad write with, field by field and word for word.

Objects go through `apply_defaults` first, as the API server runs them (defaults → validation).
"""
from __future__ import annotations

import base64
import copy
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingresslab.cluster.apiserver.defaults import apply_defaults
from ingresslab.cluster.apimachinery.errors import Cause, invalid
from ingresslab.cluster.apiserver.validation import (dns1035_label, dns1123_label, dns1123_subdomain, qualified_name,
                                           selector_matches, validate)


def check(key: str, obj: dict, old: dict | None = None) -> list[str]:
    """`field: message` lines, as kubectl prints them after "is invalid:"."""
    new = apply_defaults(key, obj)
    return [f"{c.field}: {c.message}" for c in validate(key, new, apply_defaults(key, old) if old else None)]


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# --- fixtures -------------------------------------------------------------------------------------------------------

def service(**spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def deployment(**spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                                                           "ports": [{"containerPort": 80}]}]}}, **spec}}


def pod(*containers: dict) -> dict:
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": list(containers) or [{"name": "app", "image": "nginx"}]}}


@pytest.fixture(scope="module")
def tls_pair() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.example")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def tls_secret(data: dict) -> dict:
    return {"metadata": {"name": "shop-tls", "namespace": "default"}, "type": "kubernetes.io/tls", "data": data}


# --- valid objects pass ---------------------------------------------------------------------------------------------

def test_well_formed_objects_of_every_kind_are_valid(tls_pair):
    crt, key = tls_pair
    good = {
        "namespaces": {"metadata": {"name": "shop"}},
        "pods": pod(),
        "services": service(),
        "deployments.apps": deployment(),
        "replicasets.apps": deployment(),
        "secrets": tls_secret({"tls.crt": b64(crt), "tls.key": b64(key)}),
        "configmaps": {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"nginx.conf": "x"}},
        "endpoints": {"metadata": {"name": "web", "namespace": "default"}},
        "events": {"metadata": {"name": "web.17c4a2", "namespace": "default"}},
        "nodes": {"metadata": {"name": "node-1"}},
        "ingressclasses.networking.k8s.io": {"metadata": {"name": "nginx"},
                                             "spec": {"controller": "k8s.io/ingress-nginx"}},
        "endpointslices.discovery.k8s.io": {"metadata": {"name": "web-abc", "namespace": "default"},
                                            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                                            "endpoints": [{"addresses": ["127.244.0.5"]}]},
    }
    for key_, obj in good.items():
        assert check(key_, obj) == [], key_


def test_ingress_validation_is_left_to_its_own_module():
    assert validate("ingresses.networking.k8s.io", {"metadata": {}}, None) == []


# --- names and metadata ---------------------------------------------------------------------------------------------

def test_a_service_name_must_be_a_dns_1035_label():
    bad = service()
    bad["metadata"]["name"] = "1web"
    assert check("services", bad) == [
        'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters '
        "or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]


def test_most_names_must_be_dns_1123_subdomains():
    assert dns1123_subdomain("web.v2") == []
    assert dns1123_subdomain("Web") == [
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
    assert dns1123_subdomain("a" * 254)[0] == "must be no more than 253 bytes"


def test_a_namespace_name_is_a_label_so_dots_are_called_out():
    assert dns1123_label("team.a") == ["must not contain dots"]
    assert check("namespaces", {"metadata": {"name": "team.a"}}) == [
        'metadata.name: Invalid value: "team.a": must not contain dots']
    assert dns1123_label("-x")[0].endswith("(e.g. 'my-name',  or '123-abc', regex used for validation is "
                                           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    assert dns1035_label("a" * 64) == ["must be no more than 63 bytes"]


def test_a_missing_name_asks_for_name_or_generate_name():
    assert check("configmaps", {"metadata": {"namespace": "default"}}) == [
        "metadata.name: Required value: name or generateName is required"]


def test_a_generate_name_prefix_may_end_in_a_dash_but_must_otherwise_be_valid():
    assert check("pods", dict(pod(), metadata={"generateName": "web-", "name": "web-x2k4d",
                                               "namespace": "default"})) == []
    bad = dict(pod(), metadata={"generateName": "Web-", "name": "web-1", "namespace": "default"})
    assert check("pods", bad)[0].startswith('metadata.generateName: Invalid value: "Web-": a lowercase RFC 1123')


def test_namespaced_objects_need_a_namespace_and_cluster_objects_must_not_have_one():
    assert check("configmaps", {"metadata": {"name": "cfg"}}) == ["metadata.namespace: Required value"]
    assert check("nodes", {"metadata": {"name": "n1", "namespace": "default"}}) == [
        "metadata.namespace: Forbidden: not allowed on this type"]


def test_label_keys_and_values_follow_the_qualified_name_rules():
    bad = {"metadata": {"name": "cfg", "namespace": "default", "labels": {"app.kubernetes.io/name": "web",
                                                                          "bad key": "ok", "tier": "-front"}}}
    assert check("configmaps", bad) == [
        "metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or "
        "'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        "metadata.labels: Invalid value: \"-front\": a valid label must be an empty string or consist of alphanumeric "
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
        "'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]


def test_label_key_prefixes_must_be_subdomains():
    assert qualified_name("example.com/app") == []
    assert qualified_name("/app") == ["prefix part must be non-empty"]
    assert qualified_name("Example.com/app")[0].startswith("prefix part a lowercase RFC 1123 subdomain")
    assert qualified_name("a/b/c")[0].startswith("a valid label key must consist of")
    assert qualified_name("x" * 64) == ["name part must be no more than 63 bytes"]


def test_annotation_keys_are_checked_case_insensitively():
    ok = {"metadata": {"name": "cfg", "namespace": "default", "annotations": {"Example.com/Owner": "me"}}}
    assert check("configmaps", ok) == []
    bad = {"metadata": {"name": "cfg", "namespace": "default", "annotations": {"no spaces": "x"}}}
    assert check("configmaps", bad)[0].startswith('metadata.annotations: Invalid value: "no spaces": name part')


def test_names_and_namespaces_cannot_change_on_update():
    old = {"metadata": {"name": "cfg", "namespace": "default"}}
    new = {"metadata": {"name": "cfg2", "namespace": "default"}}
    assert check("configmaps", new, old) == ['metadata.name: Invalid value: "cfg2": field is immutable']


# --- Services -------------------------------------------------------------------------------------------------------

def test_a_service_needs_ports_unless_it_is_headless_or_an_external_name():
    assert check("services", service(ports=[])) == ["spec.ports: Required value"]
    assert check("services", service(ports=[], clusterIP="None")) == []
    assert check("services", {"metadata": {"name": "db", "namespace": "default"},
                              "spec": {"type": "ExternalName", "externalName": "db.example.com."}}) == []


def test_service_ports_must_be_in_range_and_target_ports_numbers_or_names():
    assert check("services", service(ports=[{"port": 0, "targetPort": 70000}])) == [
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]
    assert check("services", service(ports=[{"port": 80, "targetPort": "http"}])) == []
    assert check("services", service(ports=[{"port": 80, "targetPort": "8080"}])) == [
        'spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z)']


def test_multiple_service_ports_need_unique_names():
    assert check("services", service(ports=[{"port": 80}, {"port": 443}])) == [
        "spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]
    assert check("services", service(ports=[{"name": "web", "port": 80}, {"name": "web", "port": 443}])) == [
        'spec.ports[1].name: Duplicate value: "web"']


def test_service_protocol_and_type_must_be_supported():
    assert check("services", service(type="Internal", ports=[{"port": 80, "protocol": "HTTP"}])) == [
        'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
        '"NodePort"']


def test_a_port_and_protocol_pair_may_appear_once():
    assert check("services", service(ports=[{"name": "a", "port": 53, "protocol": "UDP"},
                                            {"name": "b", "port": 53, "protocol": "TCP"}])) == []
    assert check("services", service(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}])) == [
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), '
        'Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}']


def test_a_cluster_ip_service_may_not_ask_for_a_node_port():
    assert check("services", service(ports=[{"port": 80, "nodePort": 30080}])) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]


def test_a_node_port_outside_the_range_is_refused_in_the_allocators_words():
    assert check("services", service(type="NodePort", ports=[{"port": 80, "nodePort": 8080}])) == [
        "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"]
    assert check("services", service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])) == []


def test_the_same_node_port_twice_in_one_service_is_a_duplicate():
    ports = [{"name": "a", "port": 80, "nodePort": 30080}, {"name": "b", "port": 81, "nodePort": 30080}]
    assert check("services", service(type="NodePort", ports=ports)) == [
        "spec.ports[1].nodePort: Duplicate value: 30080"]


def test_node_port_and_load_balancer_services_cannot_be_headless():
    assert check("services", service(type="NodePort", clusterIP="None")) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]


def test_external_traffic_policy_belongs_to_externally_reachable_services():
    assert check("services", service(externalTrafficPolicy="Local")) == [
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services']
    assert check("services", service(type="NodePort", externalTrafficPolicy="Nearest")) == [
        'spec.externalTrafficPolicy: Unsupported value: "Nearest": supported values: "Cluster", "Local"']


def test_an_external_name_must_be_a_dns_name_and_carries_no_cluster_ip():
    assert check("services", {"metadata": {"name": "db", "namespace": "default"},
                              "spec": {"type": "ExternalName", "externalName": "db_1.example"}})[0].startswith(
        'spec.externalName: Invalid value: "db_1.example": a lowercase RFC 1123 subdomain')
    assert check("services", {"metadata": {"name": "db", "namespace": "default"},
                              "spec": {"type": "ExternalName", "externalName": "db.example", "clusterIP": "10.96.0.9"}
                              }) == ["spec.clusterIPs: Forbidden: may not be set for ExternalName services"]
    assert check("services", {"metadata": {"name": "db", "namespace": "default"}, "spec": {"type": "ExternalName"}}
                 ) == ["spec.externalName: Required value"]


def test_cluster_and_external_ips_must_be_ip_addresses():
    assert check("services", service(clusterIP="10.96.0.300", externalIPs=["1.2.3"])) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or '
        '2001:db8::ffff)',
        'spec.externalIPs[0]: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']


def test_a_service_selector_is_validated_like_labels():
    assert check("services", service(selector={"app": "web shop"}))[0].startswith(
        'spec.selector: Invalid value: "web shop": a valid label must be an empty string')


def test_the_cluster_ip_cannot_change_on_update():
    old = service(clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"])
    assert check("services", service(clusterIP="10.96.0.99"), old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set']
    # kubectl apply keeps the stored clusterIPs next to a changed clusterIP: still a change
    assert check("services", service(clusterIP="10.96.0.99", clusterIPs=["10.96.0.10"]), old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set']


def test_an_update_that_omits_the_cluster_ip_keeps_it_and_is_valid():
    old = service(clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"])
    assert check("services", service(), old) == []


def test_switching_to_or_from_external_name_may_drop_the_cluster_ip():
    old = service(clusterIP="10.96.0.10", clusterIPs=["10.96.0.10"])
    new = {"metadata": {"name": "web", "namespace": "default"},
           "spec": {"type": "ExternalName", "externalName": "web.example", "clusterIP": "10.96.0.10",
                    "clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                    "ports": [{"port": 80}]}}
    assert check("services", new, old) == []


def test_applying_node_port_to_cluster_ip_tolerates_the_stored_node_port_left_behind():
    old = service(type="NodePort", clusterIP="10.96.0.10", ports=[{"port": 80, "nodePort": 30080}])
    leftover = service(type="ClusterIP", clusterIP="10.96.0.10", externalTrafficPolicy="Cluster",
                       ports=[{"port": 80, "nodePort": 30080}])
    assert check("services", leftover, old) == []
    fresh = service(type="ClusterIP", clusterIP="10.96.0.10", ports=[{"port": 80, "nodePort": 30081}])
    assert check("services", fresh, old) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]


# --- Deployments and ReplicaSets ------------------------------------------------------------------------------------

def test_a_deployment_without_selector_reads_exactly_like_kubectl_prints_it():
    bad = deployment()
    del bad["spec"]["selector"]
    causes = validate("deployments.apps", apply_defaults("deployments.apps", bad), None)
    assert invalid("Deployment", "web", causes, "apps").message == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value, spec.template.metadata.labels: '
        'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`]')


def test_a_selector_that_misses_the_template_labels_is_refused():
    assert check("deployments.apps", deployment(selector={"matchLabels": {"app": "api"}})) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match '
        'template `labels`']


def test_selectors_may_use_expressions_that_the_template_satisfies():
    sel = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]},
                                {"key": "canary", "operator": "DoesNotExist"}]}
    assert check("deployments.apps", deployment(selector=sel)) == []
    assert selector_matches(sel, {"app": "web"}) and not selector_matches(sel, {"app": "web", "canary": "1"})
    assert selector_matches({}, {}) and not selector_matches(None, {"app": "web"})


def test_bad_selector_expressions_are_reported_per_field():
    sel = {"matchExpressions": [{"key": "app", "operator": "In"}, {"key": "x", "operator": "Exists",
                                                                   "values": ["y"]},
                                {"key": "z", "operator": "Near"}]}
    assert check("deployments.apps", deployment(selector=sel))[:3] == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or "
        "'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or "
        "'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid selector operator']


def test_an_empty_selector_is_invalid_even_for_a_replicaset():
    assert check("replicasets.apps", deployment(selector={})) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"]


def test_replicas_and_history_limits_may_not_be_negative():
    assert check("deployments.apps", deployment(replicas=-1, revisionHistoryLimit=-2)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0"]
    assert check("replicasets.apps", deployment(replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


def test_template_containers_need_a_name_an_image_and_valid_ports():
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"] = [{"ports": [{"containerPort": 70000}, {"containerPort": 0}]}]
    assert check("deployments.apps", bad) == [
        "spec.template.spec.containers[0].name: Required value",
        "spec.template.spec.containers[0].image: Required value",
        "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, "
        "inclusive",
        "spec.template.spec.containers[0].ports[1].containerPort: Required value"]


def test_a_template_without_containers_and_with_bad_labels_says_so_at_the_real_paths():
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"] = []
    bad["spec"]["template"]["metadata"]["labels"]["bad key"] = "x"
    lines = check("deployments.apps", bad)
    assert lines[0].startswith('spec.template.labels: Invalid value: "bad key": name part')
    assert lines[1] == "spec.template.spec.containers: Required value"


def test_a_deployment_template_must_restart_always():
    bad = deployment()
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert check("deployments.apps", bad) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']


def test_a_recreate_strategy_cannot_carry_rolling_update_settings():
    assert check("deployments.apps", deployment(strategy={"type": "Recreate", "rollingUpdate": {}})) == [
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]


def test_a_deployment_selector_is_immutable_in_kubectls_words():
    old = deployment()
    new = deployment(selector={"matchLabels": {"app": "web", "v": "2"}})
    new["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    assert check("deployments.apps", new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"]
    assert check("deployments.apps", deployment(replicas=5), old) == []


# --- Pods -----------------------------------------------------------------------------------------------------------

def test_pod_containers_need_unique_label_names():
    assert check("pods", pod({"name": "app", "image": "a"}, {"name": "app", "image": "b"})) == [
        'spec.containers[1].name: Duplicate value: "app"']
    assert check("pods", pod({"name": "App", "image": "a"}))[0].startswith(
        'spec.containers[0].name: Invalid value: "App": a lowercase RFC 1123 label')


def test_an_init_container_may_not_reuse_a_container_name():
    bad = pod()
    bad["spec"]["initContainers"] = [{"name": "app", "image": "busybox"}]
    assert check("pods", bad) == ['spec.initContainers[0].name: Duplicate value: "app"']


def test_container_port_names_and_protocols_are_checked():
    c = {"name": "app", "image": "nginx", "ports": [{"name": "http", "containerPort": 80},
                                                    {"name": "http", "containerPort": 81},
                                                    {"name": "Web--1", "containerPort": 82, "protocol": "ICMP"}]}
    assert check("pods", pod(c)) == [
        'spec.containers[0].ports[1].name: Duplicate value: "http"',
        'spec.containers[0].ports[2].name: Invalid value: "Web--1": must contain only alpha-numeric characters '
        '(a-z, 0-9), and hyphens (-)',
        'spec.containers[0].ports[2].name: Invalid value: "Web--1": must not contain consecutive hyphens',
        'spec.containers[0].ports[2].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"']


def test_pod_policies_must_be_known_values():
    bad = pod({"name": "app", "image": "nginx", "imagePullPolicy": "Sometimes"})
    bad["spec"].update(restartPolicy="Maybe", dnsPolicy="Google")
    assert check("pods", bad) == [
        'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"IfNotPresent", "Never"',
        'spec.restartPolicy: Unsupported value: "Maybe": supported values: "Always", "OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirst", "ClusterFirstWithHostNet", '
        '"Default", "None"']


# --- Secrets --------------------------------------------------------------------------------------------------------

def test_a_tls_secret_needs_both_keys_in_the_real_wording():
    assert check("secrets", tls_secret({})) == ["data[tls.crt]: Required value", "data[tls.key]: Required value"]
    causes = validate("secrets", apply_defaults("secrets", tls_secret({})), None)
    assert causes[0] == Cause("data[tls.crt]", "Required value", "FieldValueRequired")


def test_a_tls_secrets_content_is_not_the_apis_business(tls_pair):
    """kube-apiserver checks only that tls.crt and tls.key are there (REFERENCE.md, measured against v1.36):
    swapped, garbage or password-protected contents are stored, and the Ingress controller warns about them."""
    crt, key = tls_pair
    locked = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    for data in ({"tls.crt": b64(crt), "tls.key": b64(key)}, {"tls.crt": b64(key), "tls.key": b64(crt)},
                 {"tls.crt": b64("hello"), "tls.key": b64(key)}, {"tls.crt": b64(crt), "tls.key": b64(locked)}):
        assert check("secrets", tls_secret(data)) == []
    assert check("secrets", tls_secret({"tls.crt": b64(crt)})) == ["data[tls.key]: Required value"]


def test_tls_secrets_written_with_string_data_are_checked_after_encoding(tls_pair):
    crt, key = tls_pair
    secret = {"metadata": {"name": "t", "namespace": "default"}, "type": "kubernetes.io/tls",
              "stringData": {"tls.crt": crt.decode(), "tls.key": key.decode()}}
    assert check("secrets", secret) == []


def test_secret_keys_must_be_config_keys_and_values_base64():
    secret = {"metadata": {"name": "s", "namespace": "default"},
              "data": {"ok.key": b64("x"), "bad key": b64("x"), "..hidden": b64("x"), "raw": "not base64!",
                       "short": "abc"}}
    assert check("secrets", secret) == [
        'data[..hidden]: Invalid value: "..hidden": must not start with \'..\'',
        "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', "
        "'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
        "'[-._a-zA-Z0-9]+')",
        'data[raw]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3',
        'data[short]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 0']


def test_a_secrets_type_cannot_change_and_an_immutable_secret_stays_put():
    old = {"metadata": {"name": "s", "namespace": "default"}, "data": {"a": b64("1")}}
    new = dict(old, type="kubernetes.io/basic-auth")
    assert check("secrets", new, old) == ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable']
    frozen = dict(old, immutable=True)
    assert check("secrets", dict(frozen, data={"a": b64("2")}), frozen) == [
        "data: Forbidden: field is immutable when `immutable` is set"]
    assert check("secrets", dict(old, data={"a": b64("2")}), frozen) == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set"]


# --- ConfigMaps -----------------------------------------------------------------------------------------------------

def test_configmap_keys_must_be_config_keys_and_not_repeat_across_data_and_binary_data():
    cm = {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"a b": "1", "same": "x"},
          "binaryData": {"same": b64("y")}}
    lines = check("configmaps", cm)
    assert lines[0].startswith('data[a b]: Invalid value: "a b": a valid config key')
    assert lines[1:] == ['data[same]: Invalid value: "same": duplicate of key present in binaryData',
                         'binaryData[same]: Invalid value: "same": duplicate of key present in data']


def test_an_immutable_configmap_keeps_its_data():
    old = {"metadata": {"name": "cfg", "namespace": "default"}, "immutable": True, "data": {"a": "1"}}
    assert check("configmaps", dict(old, data={"a": "2"}), old) == [
        "data: Forbidden: field is immutable when `immutable` is set"]


# --- IngressClass and EndpointSlice ---------------------------------------------------------------------------------

def ingress_class(controller) -> dict:
    return {"metadata": {"name": "nginx"}, "spec": {} if controller is None else {"controller": controller}}


def test_an_ingress_class_needs_a_domain_prefixed_controller():
    assert check("ingressclasses.networking.k8s.io", ingress_class(None)) == ["spec.controller: Required value"]
    assert check("ingressclasses.networking.k8s.io", ingress_class("nginx")) == [
        'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")']
    assert check("ingressclasses.networking.k8s.io", ingress_class("Acme.io/x"))[0].startswith(
        'spec.controller: Invalid value: "Acme.io": a lowercase RFC 1123 subdomain')
    assert check("ingressclasses.networking.k8s.io", ingress_class("acme.io/" + "x" * 250)) == [
        "spec.controller: Too long: may not be more than 250 bytes"]


def test_an_ingress_class_controller_is_immutable():
    assert check("ingressclasses.networking.k8s.io", ingress_class("example.com/other"),
                 ingress_class("k8s.io/ingress-nginx")) == [
        'spec.controller: Invalid value: "example.com/other": field is immutable']


def endpoint_slice(address_type, *addresses: str) -> dict:
    return {"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": address_type,
            "ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": list(addresses)}]}


def test_an_endpointslice_needs_a_supported_address_type_and_matching_addresses():
    assert check("endpointslices.discovery.k8s.io", endpoint_slice("", "127.244.0.5")) == [
        "addressType: Required value"]
    assert check("endpointslices.discovery.k8s.io", endpoint_slice("IPv5", "127.244.0.5")) == [
        'addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"']
    assert check("endpointslices.discovery.k8s.io", endpoint_slice("IPv4", "fd00::1")) == [
        'endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address']
    assert check("endpointslices.discovery.k8s.io", endpoint_slice("IPv4")) == [
        "endpoints[0].addresses: Required value: must contain at least 1 address"]


def test_loopback_endpoints_are_allowed_because_this_cluster_runs_pods_on_them():
    assert check("endpointslices.discovery.k8s.io", endpoint_slice("IPv4", "127.244.1.3")) == []


def test_endpointslice_port_names_are_unique_labels_and_the_address_type_is_fixed():
    eps = endpoint_slice("IPv4", "127.244.0.5")
    eps["ports"] = [{"name": "http", "port": 80}, {"name": "http", "port": 81}, {"name": "Web", "port": 82}]
    lines = check("endpointslices.discovery.k8s.io", eps)
    assert lines[0] == 'ports[1].name: Duplicate value: "http"'
    assert lines[1].startswith('ports[2].name: Invalid value: "Web": a lowercase RFC 1123 label')
    old = endpoint_slice("IPv4", "127.244.0.5")
    assert check("endpointslices.discovery.k8s.io", endpoint_slice("IPv6", "fd00::5"), old) == [
        'addressType: Invalid value: "IPv6": field is immutable']


def test_validation_does_not_modify_what_it_checks():
    obj = apply_defaults("services", service(ports=[{"port": 0}]))
    before = copy.deepcopy(obj)
    validate("services", obj, None)
    assert obj == before
