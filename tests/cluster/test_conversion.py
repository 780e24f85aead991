"""Legacy Ingress versions in and out: the seed article's extensions/v1beta1 manifest stored as networking.k8s.io/v1."""
from __future__ import annotations

import copy

import pytest

from ingresslab.cluster.apiserver.conversion import deprecation_warning, ingress_v1_to_v1beta1, ingress_v1beta1_to_v1

EXTENSIONS_WARNING = ("extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; "
                      "use networking.k8s.io/v1 Ingress")


def legacy_cafe(api_version: str = "extensions/v1beta1") -> dict:
    """The cafe Ingress as older articles write it: serviceName/servicePort, no pathType, class annotation."""
    return {
        "apiVersion": api_version, "kind": "Ingress",
        "metadata": {"name": "cafe-ingress", "namespace": "default",
                     "annotations": {"kubernetes.io/ingress.class": "nginx"}},
        "spec": {
            "tls": [{"hosts": ["cafe.example.com"], "secretName": "cafe-secret"}],
            "rules": [{"host": "cafe.example.com", "http": {"paths": [
                {"path": "/tea", "backend": {"serviceName": "tea-svc", "servicePort": 80}},
                {"path": "/coffee", "backend": {"serviceName": "coffee-svc", "servicePort": "http"}},
            ]}}],
        },
    }


def test_the_legacy_cafe_becomes_a_v1_ingress():
    v1, _ = ingress_v1beta1_to_v1(legacy_cafe())
    assert v1["apiVersion"] == "networking.k8s.io/v1" and v1["kind"] == "Ingress"
    paths = v1["spec"]["rules"][0]["http"]["paths"]
    assert paths[0] == {"path": "/tea", "pathType": "ImplementationSpecific",
                        "backend": {"service": {"name": "tea-svc", "port": {"number": 80}}}}
    assert paths[1]["backend"] == {"service": {"name": "coffee-svc", "port": {"name": "http"}}}


def test_metadata_tls_and_the_class_annotation_are_kept():
    v1, _ = ingress_v1beta1_to_v1(legacy_cafe())
    assert v1["metadata"]["annotations"] == {"kubernetes.io/ingress.class": "nginx"}
    assert v1["spec"]["tls"] == legacy_cafe()["spec"]["tls"]


def test_creating_through_extensions_warns_as_the_real_api_server_does_and_shows_the_v1_form():
    _, warnings = ingress_v1beta1_to_v1(legacy_cafe())
    assert warnings == [
        EXTENSIONS_WARNING,
        "ingresslab: stored as networking.k8s.io/v1: backend {serviceName: tea-svc, servicePort: 80} became "
        "service: {name: tea-svc, port: {number: 80}}, pathType: ImplementationSpecific",
    ]


def test_networking_v1beta1_has_its_own_deprecation_text():
    _, warnings = ingress_v1beta1_to_v1(legacy_cafe("networking.k8s.io/v1beta1"))
    assert warnings[0] == ("networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, unavailable in v1.22+; "
                           "use networking.k8s.io/v1 Ingress")
    assert deprecation_warning("networking.k8s.io/v1") is None


def test_a_given_path_type_is_kept_and_not_mentioned_as_a_default():
    obj = legacy_cafe()
    obj["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Prefix"
    v1, warnings = ingress_v1beta1_to_v1(obj)
    assert v1["spec"]["rules"][0]["http"]["paths"][0]["pathType"] == "Prefix"
    assert warnings[1].endswith("became service: {name: tea-svc, port: {number: 80}}")


def test_spec_backend_becomes_default_backend():
    obj = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "web"},
           "spec": {"backend": {"serviceName": "web", "servicePort": 8080}}}
    v1, warnings = ingress_v1beta1_to_v1(obj)
    assert v1["spec"] == {"defaultBackend": {"service": {"name": "web", "port": {"number": 8080}}}}
    assert warnings[1] == ("ingresslab: stored as networking.k8s.io/v1: spec.backend {serviceName: web, "
                           "servicePort: 8080} became spec.defaultBackend: "
                           "{service: {name: web, port: {number: 8080}}}")


def test_a_string_of_digits_becomes_a_port_name_as_in_kubernetes():
    obj = legacy_cafe()
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["servicePort"] = "80"
    v1, _ = ingress_v1beta1_to_v1(obj)
    assert v1["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "80"}


def test_resource_backends_pass_through():
    resource = {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}
    obj = legacy_cafe()
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {"resource": resource}
    v1, _ = ingress_v1beta1_to_v1(obj)
    assert v1["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {"resource": resource}


def test_the_input_is_not_modified():
    obj = legacy_cafe()
    before = copy.deepcopy(obj)
    ingress_v1beta1_to_v1(obj)
    assert obj == before


def test_a_v1_ingress_passes_unchanged_and_without_warnings():
    v1, _ = ingress_v1beta1_to_v1(legacy_cafe())
    again, warnings = ingress_v1beta1_to_v1(v1)
    assert again == v1 and warnings == []


def test_other_kinds_and_versions_are_refused():
    with pytest.raises(ValueError):
        ingress_v1beta1_to_v1({"apiVersion": "v1", "kind": "Service"})
    with pytest.raises(ValueError):
        ingress_v1_to_v1beta1({"apiVersion": "networking.k8s.io/v1"}, "networking.k8s.io/v2")


def test_a_stored_v1_ingress_reads_back_in_the_old_shape():
    v1, _ = ingress_v1beta1_to_v1(legacy_cafe())
    old = ingress_v1_to_v1beta1(v1)
    assert old["apiVersion"] == "extensions/v1beta1"
    paths = old["spec"]["rules"][0]["http"]["paths"]
    assert paths[0] == {"path": "/tea", "pathType": "ImplementationSpecific",
                        "backend": {"serviceName": "tea-svc", "servicePort": 80}}
    assert paths[1]["backend"] == {"serviceName": "coffee-svc", "servicePort": "http"}


def test_default_backend_reads_back_as_backend_for_networking_v1beta1_too():
    v1 = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
          "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 8080}}}}}
    old = ingress_v1_to_v1beta1(v1, "networking.k8s.io/v1beta1")
    assert old["apiVersion"] == "networking.k8s.io/v1beta1"
    assert old["spec"] == {"backend": {"serviceName": "web", "servicePort": 8080}}


def test_a_round_trip_returns_the_legacy_object_with_path_types_filled_in():
    original = legacy_cafe()
    back = ingress_v1_to_v1beta1(ingress_v1beta1_to_v1(original)[0])
    for path in original["spec"]["rules"][0]["http"]["paths"]:
        path["pathType"] = "ImplementationSpecific"
    assert back == original
