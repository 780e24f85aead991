"""Field validation and the schema registry behind it: unknown and duplicate fields named as kube-apiserver names
them, kinds registered at runtime (CRDs) validated like built-in ones, the data file in step with the client."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ingresslab.cluster.apimachinery.errors import ApiError
from ingresslab.cluster.apiserver import discovery
from ingresslab.cluster.apiserver.fieldvalidation import check, parse_json, problems
from ingresslab.cluster.apiserver.schemas import SchemaRegistry

ROOT = Path(__file__).resolve().parents[2]


def test_a_typo_in_a_configmap_is_the_real_servers_strict_decoding_error():
    doc, dups = parse_json('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dat": {"a": "b"}}')
    with pytest.raises(ApiError) as refused:
        check("", "v1", "ConfigMap", doc, dups, "Strict")
    assert (refused.value.code, refused.value.reason) == (400, "BadRequest")
    assert refused.value.message == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding '
                                     'error: unknown field "dat"')


def test_warn_and_ignore_drop_the_unknown_field_and_only_warn_says_so():
    for mode, said in (("Warn", ['unknown field "spec.bogus"']), ("Ignore", [])):
        doc, dups = parse_json('{"spec": {"bogus": 1, "rules": [{"host": "a.example.com"}]}}')
        assert check("networking.k8s.io", "v1", "Ingress", doc, dups, mode) == said
        assert doc == {"spec": {"rules": [{"host": "a.example.com"}]}}


def test_paths_name_list_indexes_and_map_keys_and_leave_open_fields_alone():
    doc, dups = parse_json('''{"metadata": {"labels": {"a": "1", "a": "2"}, "lables": {}},
        "spec": {"ports": [{"port": 80, "targetport": 8080}, {"port": 81, "targetPort": "http"}]}}''')
    assert problems("", "v1", "Service", doc, dups) == [
        'duplicate field "metadata.labels.a"', 'unknown field "metadata.lables"',
        'unknown field "spec.ports[0].targetport"']


def test_yaml_bodies_report_unknown_fields_sorted_as_the_real_server_does():
    doc = {"spec": {"zeta": 1, "alpha": 2, "replicas": 1}}
    assert problems("apps", "v1", "Deployment", doc, sort_unknown=True) == [
        'unknown field "spec.alpha"', 'unknown field "spec.zeta"']


def test_a_kind_registered_at_runtime_is_validated_and_documented():
    reg = SchemaRegistry()
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer"}, "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
    name = reg.register_kind("example.com", "v1", "Widget", schema)
    assert name == "com.example.v1.Widget"
    doc = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "lables": {}},
           "spec": {"size": 1, "colour": "red", "extra": {"anything": {"goes": True}}}}
    assert problems("example.com", "v1", "Widget", doc, reg=reg) == [
        'unknown field "metadata.lables"', 'unknown field "spec.colour"']
    components = reg.components_for("example.com", "v1")
    assert components[name]["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in components
    before = reg.generation
    reg.unregister_kind("example.com", "v1", "Widget")
    assert reg.generation == before + 1 and reg.root("example.com", "v1", "Widget") is None


def test_every_served_kind_has_a_schema_with_descriptions():
    from ingresslab.cluster.apimachinery.resources import RESOURCES
    reg = SchemaRegistry()
    for r in RESOURCES:
        if r.served_only:
            continue
        root = reg.root(r.group, r.version, r.kind)
        assert root is not None, r.key
        assert root["description"] and "metadata" in root["properties"], r.key


def test_the_openapi_document_follows_kinds_registered_at_runtime():
    from ingresslab.cluster.apiserver.schemas import registry
    first = discovery.openapi_v3_group_version("networking.k8s.io", "v1")
    assert '"io.k8s.api.networking.v1.IngressRule"' in first
    assert discovery.openapi_v3_group_version("networking.k8s.io", "v1") is first    # cached
    assert "Gadget" not in discovery.openapi_v3_group_version("test.example.com", "v1")
    registry().register_kind("test.example.com", "v1", "Gadget", {"type": "object"})
    try:
        assert '"com.example.test.v1.Gadget"' in discovery.openapi_v3_group_version("test.example.com", "v1")
    finally:
        registry().unregister_kind("test.example.com", "v1", "Gadget")
    assert "Gadget" not in discovery.openapi_v3_group_version("test.example.com", "v1")


def test_the_schema_data_matches_the_installed_client():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "apischemas.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
