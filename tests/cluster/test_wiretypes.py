"""wiretypes.py: the decoder's type check (Go's words), and its table kept in step with the official client."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ingresslab.cluster.apiserver import wiretypes

ROOT = Path(__file__).resolve().parents[2]


def deployment(**spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "hello", "ports": [{"containerPort": 8080}]}]}},
                **spec}}


def test_a_string_where_an_integer_belongs_is_go_s_unmarshal_error():
    assert wiretypes.decode("Deployment", "v1", deployment(replicas="two")) == (
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32")


def test_nested_lists_and_maps_are_checked_with_their_path():
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    assert wiretypes.decode("Deployment", "v1", bad) == (
        "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports"
        ".containerPort of type int32")
    labels = deployment()
    labels["metadata"]["labels"] = {"app": 5}
    assert "of type string" in wiretypes.decode("Deployment", "v1", labels)
    assert wiretypes.decode("Service", "v1", {"spec": {"ports": {"port": 80}}}) == (
        "json: cannot unmarshal object into Go struct field ServiceSpec.spec.ports of type []ServicePort")


def test_a_well_typed_object_passes_and_unknown_fields_are_not_judged_here():
    assert wiretypes.decode("Deployment", "v1", deployment(replicas=3, surprise={"x": [1, "y"]})) is None
    port = {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}}   # IntOrString takes either
    assert wiretypes.decode("Service", "v1", port) is None
    port["spec"]["ports"][0]["targetPort"] = 8080
    assert wiretypes.decode("Service", "v1", port) is None


def test_null_becomes_the_zero_value_as_go_decodes_it():
    obj = {"metadata": None, "spec": {"rules": [None], "tls": [{"hosts": [None, "a.example"]}]}}
    assert wiretypes.decode("Ingress", "v1", obj) is None
    assert obj["metadata"] == {} and obj["spec"]["rules"] == [{}]
    assert obj["spec"]["tls"][0]["hosts"] == ["", "a.example"]


def test_a_kind_the_client_does_not_know_is_left_to_validation():
    assert wiretypes.decode("Ingress", "v1beta1", {"spec": "anything"}) is None


def test_the_table_matches_the_installed_official_client():
    """wiretypes.json is generated from kubernetes.client's models; a client upgrade that changes them shows here."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "wiretypes.py"), "--check"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_lab_side_never_imports_the_client_models():
    code = ("import sys; from ingresslab.cluster.apiserver import wiretypes; "
            "wiretypes.decode('Deployment', 'v1', {'spec': {'replicas': 1}}); "
            "print(any(m.startswith('kubernetes') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_integers_are_int32_unless_go_declares_them_int64():
    bad = deployment()
    bad["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "soon"
    assert wiretypes.decode("Deployment", "v1", bad) == (
        "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.terminationGracePeriodSeconds"
        " of type int64")
    assert wiretypes.decode("Deployment", "v1", deployment(replicas=2 ** 31)) == (
        "json: cannot unmarshal number into Go struct field DeploymentSpec.spec.replicas of type int32")
