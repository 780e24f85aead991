"""The Gateway API standard channel, installed by the lab as CRDs (manifests/gateway-api-crds.yaml), with the real
kubectl and the official client: served kinds, the spec's defaults, its bounds and CEL rules as 422s naming the field.
"""
from __future__ import annotations

import json
import re

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException

GROUP = "gateway.networking.k8s.io"
KINDS = {"gatewayclasses": ("GatewayClass", "v1"), "gateways": ("Gateway", "v1"), "httproutes": ("HTTPRoute", "v1"),
         "grpcroutes": ("GRPCRoute", "v1"), "referencegrants": ("ReferenceGrant", "v1beta1")}


@pytest.fixture
def custom(lab):
    return kubernetes.client.CustomObjectsApi(lab.api)


@pytest.fixture
def ns(lab, request):
    core = kubernetes.client.CoreV1Api(lab.api)
    name = "gw-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def route(name: str, **spec) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": "HTTPRoute", "metadata": {"name": name},
            "spec": {"parentRefs": [{"name": "gw"}], **spec}}


def causes(exc: ApiException) -> list[tuple[str, str]]:
    assert exc.status == 422, exc.body
    return [(c["field"], c["message"]) for c in json.loads(exc.body)["details"]["causes"]]


def test_the_lab_installs_the_five_standard_channel_crds_established(lab):
    ext = kubernetes.client.ApiextensionsV1Api(lab.api)
    for plural, (kind, storage) in KINDS.items():
        crd = ext.read_custom_resource_definition(f"{plural}.{GROUP}")
        assert crd.spec.names.kind == kind and crd.metadata.annotations[
            "gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
        assert [v.name for v in crd.spec.versions if v.storage] == [storage]
        assert {c.type: c.status for c in crd.status.conditions} == {
            "NamesAccepted": "True", "Established": "True", "KubernetesAPIApprovalPolicyConformant": "True"}


def test_api_resources_lists_the_gateway_kinds_with_their_short_names(kubectl):
    lines = [line for line in kubectl("api-resources").stdout.splitlines() if "gateway" in line]
    table = {re.split(r"\s+", line)[0]: line for line in lines}
    assert set(table) == set(KINDS)
    assert re.match(r"gateways\s+gtw\s+gateway\.networking\.k8s\.io/v1\s+true\s+Gateway$", table["gateways"])
    assert re.match(r"gatewayclasses\s+gc\s+gateway\.networking\.k8s\.io/v1\s+false\s+GatewayClass$",
                    table["gatewayclasses"])
    assert "refgrant" in table["referencegrants"]


MANIFEST = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: NS-class}
spec: {controllerName: example.net/gateway-controller, description: a class for tests}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: NS-class
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: https, port: 443, protocol: HTTPS, hostname: cafe.example.com, tls: {certificateRefs: [{name: cafe-secret}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cafe}
spec:
  parentRefs: [{name: gw}]
  hostnames: [cafe.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /tea}, headers: [{name: x-canary, value: "yes"}]}]
    backendRefs: [{name: tea-svc, port: 80, weight: 3}, {name: tea-v2, port: 80}]
  - backendRefs: [{name: coffee-svc, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: routes-to-here}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: other}]
  to: [{group: "", kind: Service}]
"""


def test_a_gateway_api_round_trip_with_kubectl_gets_the_spec_s_defaults(kubectl, custom, ns):
    text = MANIFEST.replace("NS-class", f"{ns}-class")
    out = kubectl("-n", ns, "apply", "-f", "-", input=text).stdout
    assert "httproute.gateway.networking.k8s.io/cafe created" in out
    try:
        got = custom.get_namespaced_custom_object(GROUP, "v1", ns, "httproutes", "cafe")
        assert got["spec"]["parentRefs"] == [{"group": GROUP, "kind": "Gateway", "name": "gw"}]
        first, second = got["spec"]["rules"]
        assert first["backendRefs"][1] == {"group": "", "kind": "Service", "name": "tea-v2", "port": 80, "weight": 1}
        assert first["matches"][0]["headers"] == [{"name": "x-canary", "type": "Exact", "value": "yes"}]
        assert second["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
        gw = custom.get_namespaced_custom_object(GROUP, "v1", ns, "gateways", "gw")
        http, https = gw["spec"]["listeners"]
        assert http["allowedRoutes"] == {"namespaces": {"from": "Same"}}
        assert https["tls"]["mode"] == "Terminate" and https["tls"]["certificateRefs"][0]["kind"] == "Secret"
        assert {c["type"]: c["reason"] for c in gw["status"]["conditions"]} == {"Accepted": "Pending",
                                                                                "Programmed": "Pending"}
        table = kubectl("-n", ns, "get", "gateway,httproute").stdout
        assert re.search(r"^gateway\.gateway\.networking\.k8s\.io/gw\s+\S+-class\s+Unknown\s+\d+s$", table, re.M)
        assert re.search(r'^httproute\.gateway\.networking\.k8s\.io/cafe\s+\["cafe\.example\.com"\]\s+\d+s$', table,
                         re.M)
        described = kubectl("-n", ns, "describe", "httproute", "cafe").stdout
        assert "Kind:         HTTPRoute" in described and "Weight:  3" in described
        old = custom.get_namespaced_custom_object(GROUP, "v1beta1", ns, "httproutes", "cafe")
        assert old["apiVersion"] == f"{GROUP}/v1beta1"
    finally:
        kubectl("-n", ns, "delete", "-f", "-", "--ignore-not-found", input=text)


def test_explain_httproute_spec_rules(kubectl):
    out = kubectl("explain", "httproute.spec.rules").stdout
    assert "KIND:       HTTPRoute" in out and "FIELD: rules <[]Object>" in out
    for field in ("backendRefs", "filters", "matches"):
        assert re.search(rf"^  {field}\s+<\[\]Object>", out, re.M)


def test_a_bad_hostname_and_seventeen_rules_are_refused_naming_the_fields(kubectl, ns):
    bad = route("bad", hostnames=["Cafe.Example.com", "1.2.3.4:80"],
                rules=[{"backendRefs": [{"name": "svc", "port": 80}]}] * 17)
    proc = kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert proc.returncode != 0 and 'The HTTPRoute "bad" is invalid' in proc.stderr
    assert 'spec.hostnames[0]: Invalid value: "Cafe.Example.com": spec.hostnames[0] in body should match ' \
           "'^(\\*\\.)?[a-z0-9]" in proc.stderr
    assert "spec.hostnames[1]: Invalid value" in proc.stderr
    assert "spec.rules: Too many: 17: must have at most 16 items" in proc.stderr


def test_path_header_weight_and_filter_rules_of_the_spec(custom, ns):
    bad = route("rules", rules=[{
        "matches": [{"path": {"type": "Exact", "value": "tea/../x"},
                     "headers": [{"name": "bad header", "value": "1"}, {"name": "a", "value": "1"},
                                 {"name": "a", "value": "2"}]}],
        "filters": [{"type": "RequestRedirect"}],
        "backendRefs": [{"name": "svc", "weight": 1000001}]}])
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "httproutes", bad)
    found = causes(err.value)
    rule = "spec.rules[0]"
    assert (f"{rule}.backendRefs[0].weight", f"Invalid value: 1000001: {rule}.backendRefs[0].weight in body should "
                                             f"be less than or equal to 1000000") in found
    assert (f"{rule}.backendRefs[0]", 'Invalid value: "object": Must have port for Service reference') in found
    assert (f"{rule}.matches[0].headers[2]", 'Duplicate value: map[string]interface {}{"name":"a"}') in found
    assert any(f == f"{rule}.matches[0].headers[0].name" and "should match" in m for f, m in found)
    assert (f"{rule}.matches[0].path", 'Invalid value: "object": value must be an absolute path and start with '
                                       "'/' when type one of ['Exact', 'PathPrefix']") in found
    assert (f"{rule}.matches[0].path", 'Invalid value: "object": must not contain \'/../\' when type one of '
                                       "['Exact', 'PathPrefix']") in found
    assert any(f == f"{rule}.filters[0]" and m.startswith('Invalid value: "object": filter.requestRedirect must be '
                                                           'specified') for f, m in found)


def test_listener_names_and_tls_on_http_listeners(custom, ns):
    gw = {"apiVersion": f"{GROUP}/v1", "kind": "Gateway", "metadata": {"name": "dup"}, "spec": {
        "gatewayClassName": "x", "listeners": [
            {"name": "web", "port": 80, "protocol": "HTTP"},
            {"name": "web", "port": 8080, "protocol": "HTTP", "tls": {"certificateRefs": [{"name": "s"}]}}]}}
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "gateways", gw)
    found = causes(err.value)
    assert ("spec.listeners[1]", 'Duplicate value: map[string]interface {}{"name":"web"}') in found
    assert ("spec.listeners", 'Invalid value: "array": tls must not be specified for protocols '
                              "['HTTP', 'TCP', 'UDP']") in found
    assert ("spec.listeners", 'Invalid value: "array": Listener name must be unique within the Gateway') in found


def test_a_gatewayclass_controller_name_is_immutable(custom, kubectl):
    gc = {"apiVersion": f"{GROUP}/v1", "kind": "GatewayClass", "metadata": {"name": "immutable-test"},
          "spec": {"controllerName": "example.net/one"}}
    custom.create_cluster_custom_object(GROUP, "v1", "gatewayclasses", gc)
    try:
        with pytest.raises(ApiException) as err:
            custom.patch_cluster_custom_object(GROUP, "v1", "gatewayclasses", "immutable-test",
                                               {"spec": {"controllerName": "example.net/two"}})
        assert causes(err.value) == [("spec.controllerName", 'Invalid value: "string": Value is immutable')]
        out = kubectl("get", "gc", "immutable-test", "-o", "wide").stdout
        assert re.split(r"\s{2,}", out.splitlines()[0].strip()) == ["NAME", "CONTROLLER", "ACCEPTED", "AGE",
                                                                    "DESCRIPTION"]
    finally:
        custom.delete_cluster_custom_object(GROUP, "v1", "gatewayclasses", "immutable-test")


def test_a_crd_in_a_kubernetes_group_needs_the_api_approval_annotation(lab):
    ext = kubernetes.client.ApiextensionsV1Api(lab.api)
    body = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "meshes.mesh.k8s.io"},
            "spec": {"group": "mesh.k8s.io", "scope": "Namespaced", "names": {"plural": "meshes", "kind": "Mesh"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    with pytest.raises(ApiException) as err:
        ext.create_custom_resource_definition(body)
    assert causes(err.value) == [("metadata.annotations[api-approved.kubernetes.io]",
                                  'Required value: protected groups must have approval annotation '
                                  '"api-approved.kubernetes.io", see '
                                  'https://github.com/kubernetes/enhancements/pull/1111')]
    body["metadata"]["annotations"] = {"api-approved.kubernetes.io": "unapproved, experimental"}
    ext.create_custom_resource_definition(body)
    try:
        got = ext.read_custom_resource_definition("meshes.mesh.k8s.io")
        approval = next(c for c in got.status.conditions if c.type == "KubernetesAPIApprovalPolicyConformant")
        assert (approval.status, approval.reason) == ("False", "UnapprovedAnnotation")
    finally:
        ext.delete_custom_resource_definition("meshes.mesh.k8s.io")


def test_addresses_timeouts_and_the_128_matches_bound(custom, ns):
    gw = {"apiVersion": f"{GROUP}/v1", "kind": "Gateway", "metadata": {"name": "addr"}, "spec": {
        "gatewayClassName": "x", "listeners": [{"name": "web", "port": 80, "protocol": "HTTP"}],
        "addresses": [{"value": "not-an-ip"}, {"type": "Hostname", "value": "Bad_Name"}]}}
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "gateways", gw)
    found = causes(err.value)
    assert ("spec.addresses[0]", 'Invalid value: "object": spec.addresses[0] in body must validate one and only one '
                                 "schema (oneOf)") in found
    assert any(f == "spec.addresses[1]" and "Hostname value must be empty or contain only valid characters" in m
               for f, m in found)
    many = route("many", rules=[{"matches": [{"path": {"value": f"/{i}"}} for i in range(40)],
                                 "timeouts": {"request": "1s", "backendRequest": "2s"}}] * 4)
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "httproutes", many)
    found = causes(err.value)
    assert ("spec.rules[0].timeouts", 'Invalid value: "object": backendRequest timeout cannot be longer than request '
                                      "timeout") in found
    assert ("spec.rules", 'Invalid value: "array": While 16 rules and 64 matches per rule are allowed, the total '
                          "number of matches across all rules in a route must be less than 128") in found
