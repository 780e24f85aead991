"""The API server answers as kube-apiserver does, seen through the real kubectl 1.37 and the official Python client:
strict field validation, explain, server-side apply, admission, auth reviews, /version, chunked lists, Secrets."""
from __future__ import annotations

import json
import ssl
from pathlib import Path
import urllib.error
import urllib.request

import kubernetes
import pytest
from kubernetes.client.rest import ApiException
from polling import eventually

TYPO_CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: typo
dat:
  a: b
"""

SSA_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
  labels: {app: ssa, tier: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: ssa}}
  template:
    metadata: {labels: {app: ssa}}
    spec:
      containers:
      - name: web
        image: nginxdemos/nginx-hello:plain-text
"""


def raw(lab, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
    """One request with the lab's token: (status, headers, parsed JSON body)."""
    req = urllib.request.Request(lab.api.configuration.host + path, data=body, method=method, headers={
        "Authorization": lab.api.configuration.api_key["BearerToken"], "Content-Type": content_type})
    ctx = ssl.create_default_context(cafile=lab.api.configuration.ssl_ca_cert)
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read() or b"null")


# --- strict field validation ----------------------------------------------------------------------------------------

def test_kubectl_refuses_a_typo_as_a_real_server_does(lab, kubectl):
    out = kubectl("create", "-f", "-", input=TYPO_CONFIGMAP, check=False)
    assert out.returncode == 1
    assert ('Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be '
            'handled as a ConfigMap: strict decoding error: unknown field "dat"') in out.stderr
    assert kubectl("get", "configmap", "typo", check=False).returncode == 1


def test_kubectl_validate_warn_stores_the_object_without_the_unknown_field(lab, kubectl):
    out = kubectl("create", "-f", "-", "--validate=warn", input=TYPO_CONFIGMAP)
    assert 'Warning: unknown field "dat"' in out.stderr
    stored = json.loads(kubectl("get", "configmap", "typo", "-o", "json").stdout)
    assert "dat" not in stored
    kubectl("delete", "configmap", "typo")


def test_several_unknown_and_duplicate_fields_are_listed_in_document_order(lab):
    # The body of kubernetes' test/integration/apiserver/fieldvalidation_test.go (invalidBodyJSON), and its answer.
    body = b'''{"apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "dupename", "name": "fv", "labels": {"app": "nginx"}, "unknownMeta": "metaVal"},
      "spec": {"unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2", "paused": true,
        "paused": false, "selector": {"matchLabels": {"app": "nginx"}},
        "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "nginx",
          "image": "nginx:latest", "unknownNested": "val1", "imagePullPolicy": "Always",
          "imagePullPolicy": "Never"}]}}}}'''
    code, _, status = raw(lab, "POST", "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict", body)
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'duplicate field "metadata.name", unknown field "metadata.unknownMeta", unknown field "spec.unknown1", '
        'unknown field "spec.unknownDupe", duplicate field "spec.paused", '
        'unknown field "spec.template.spec.containers[0].unknownNested", '
        'duplicate field "spec.template.spec.containers[0].imagePullPolicy"')
    code, headers, created = raw(lab, "POST", "/apis/apps/v1/namespaces/default/deployments", body)
    assert code == 201 and created["spec"].get("paused") is False and "unknown1" not in created["spec"]
    assert 'unknown field \\"spec.unknown1\\"' in ",".join(headers.get_all("Warning"))
    code, headers, _ = raw(lab, "DELETE", "/apis/apps/v1/namespaces/default/deployments/fv")
    assert code == 200


def test_a_patch_with_a_typo_is_warned_about_or_refused_by_the_mode_asked(lab, kubectl):
    kubectl("create", "configmap", "patched", "--from-literal=a=b")
    # kubectl patch sends no fieldValidation: the server's default, Warn, drops the field and says so.
    out = kubectl("patch", "configmap", "patched", "-p", '{"dataa": {"c": "d"}}')
    assert out.stderr == 'Warning: unknown field "dataa"\n' and "(no change)" in out.stdout
    code, _, status = raw(lab, "PATCH", "/api/v1/namespaces/default/configmaps/patched?fieldValidation=Strict",
                          b'{"dataa": {"c": "d"}}', "application/strategic-merge-patch+json")
    assert (code, status["message"]) == (400, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict '
                                              'decoding error: unknown field "dataa"')
    kubectl("delete", "configmap", "patched")


def test_an_unknown_fieldvalidation_value_is_a_bad_request(lab):
    code, _, status = raw(lab, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Loud",
                          b'{"metadata": {"name": "x"}}')
    assert (code, status["message"]) == (400, 'fieldValidation "Loud" is not one of: Ignore, Warn, Strict')


# --- explain and OpenAPI --------------------------------------------------------------------------------------------

def test_kubectl_explain_reads_the_field_descriptions(lab, kubectl):
    out = kubectl("explain", "ingress.spec.rules.host").stdout
    assert "GROUP:      networking.k8s.io" in out and "FIELD: host <string>" in out
    assert "fully qualified domain name of a network host" in out
    recursive = kubectl("explain", "pod.spec.containers", "--recursive").stdout
    assert "FIELD: containers <[]Container>" in recursive
    assert "readinessProbe\t<Probe>" in recursive and "name\t<string> -required-" in recursive


def test_openapi_documents_carry_gvk_and_patch_strategies(lab):
    code, _, doc = raw(lab, "GET", "/openapi/v3/api/v1")
    assert code == 200
    schemas = doc["components"]["schemas"]
    assert schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-patch-merge-key"] == "name"


# --- server-side apply ----------------------------------------------------------------------------------------------

def test_server_side_apply_creates_updates_and_reports_conflicts(lab, kubectl):
    out = kubectl("apply", "--server-side", "-f", "-", input=SSA_DEPLOYMENT % 1)
    assert out.stdout.strip() == "deployment.apps/ssa serverside-applied"
    live = json.loads(kubectl("get", "deploy", "ssa", "-o", "json", "--show-managed-fields").stdout)
    (entry,) = live["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("kubectl", "Apply", "FieldsV1")
    assert entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']["f:image"] == {}
    kubectl("patch", "deploy", "ssa", "-p", '{"spec": {"replicas": 2}}')
    refused = kubectl("apply", "--server-side", "-f", "-", input=SSA_DEPLOYMENT % 3, check=False)
    assert refused.returncode == 1
    assert ('error: Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas'
            in refused.stderr)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=SSA_DEPLOYMENT % 3)
    assert kubectl("get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    # A label the applier stops applying goes away (nobody else owns it).
    kubectl("apply", "--server-side", "-f", "-", input=(SSA_DEPLOYMENT % 3).replace(", tier: web", ""))
    assert kubectl("get", "deploy", "ssa", "-o", "jsonpath={.metadata.labels}").stdout == '{"app":"ssa"}'
    kubectl("delete", "deploy", "ssa")


def test_client_side_apply_still_works_beside_managed_fields(lab, kubectl):
    assert kubectl("apply", "-f", "-", input=SSA_DEPLOYMENT % 1).stdout.strip() == "deployment.apps/ssa created"
    assert kubectl("apply", "-f", "-", input=SSA_DEPLOYMENT % 2).stdout.strip() == "deployment.apps/ssa configured"
    live = json.loads(kubectl("get", "deploy", "ssa", "-o", "json", "--show-managed-fields").stdout)
    assert {e["manager"] for e in live["metadata"]["managedFields"]} >= {"kubectl-client-side-apply"}
    assert live["spec"]["replicas"] == 2
    kubectl("delete", "deploy", "ssa")


# --- admission ------------------------------------------------------------------------------------------------------

def test_an_ingress_without_a_class_gets_the_default_one(lab, kubectl):
    kubectl("create", "ingress", "classless", "--rule=classless.example.com/=tea-svc:80")
    assert kubectl("get", "ingress", "classless", "-o", "jsonpath={.spec.ingressClassName}").stdout == "nginx"
    kubectl("delete", "ingress", "classless")


def test_every_namespace_gets_a_default_service_account_and_the_root_ca(lab, kubectl):
    kubectl("create", "namespace", "fresh")
    eventually(lambda: kubectl("get", "serviceaccount", "default", "-n", "fresh", check=False).returncode == 0)
    ca = eventually(lambda: kubectl("get", "configmap", "kube-root-ca.crt", "-n", "fresh", "-o",
                                    "jsonpath={.data.ca\\.crt}", check=False).stdout)
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    assert ca.strip() == Path(lab.api.configuration.ssl_ca_cert).read_text().strip()
    kubectl("delete", "namespace", "fresh")


def test_pods_get_the_service_account_and_its_token_volume(lab, kubectl):
    kubectl("run", "sa-pod", "--image=nginxdemos/nginx-hello:plain-text")
    pod = json.loads(kubectl("get", "pod", "sa-pod", "-o", "json").stdout)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    (volume,) = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    assert len(volume["name"]) == len("kube-api-access-") + 5
    assert [list(s)[0] for s in volume["projected"]["sources"]] == ["serviceAccountToken", "configMap", "downwardAPI"]
    assert {"name": volume["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"} \
        in spec["containers"][0]["volumeMounts"]
    kubectl("delete", "pod", "sa-pod", "--wait=false")


# --- who am I, what may I, which version -----------------------------------------------------------------------------

def test_auth_whoami_and_can_i_answer_as_the_labs_admin(lab, kubectl):
    whoami = kubectl("auth", "whoami").stdout
    assert "Username    learner" in whoami and "[system:masters system:authenticated]" in whoami
    assert kubectl("auth", "can-i", "create", "deployments").stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"


def test_version_is_within_kubectls_skew_and_the_python_client_reads_it(lab, kubectl):
    out = kubectl("version")
    assert "Server Version: v1.37" in out.stdout and "skew" not in out.stderr.lower()
    info = kubernetes.client.VersionApi(lab.api).get_code()
    assert (info.major, info.minor) == ("1", "37")


# --- chunked lists --------------------------------------------------------------------------------------------------

def test_limit_and_continue_page_through_a_list(lab):
    core = kubernetes.client.CoreV1Api(lab.api)
    core.create_namespace({"metadata": {"name": "pages"}})
    try:
        eventually(lambda: [c.metadata.name for c in core.list_namespaced_config_map("pages").items])
        for i in range(7):
            core.create_namespaced_config_map("pages", {"metadata": {"name": f"cm-{i}"}})
        seen, token, remaining = [], None, []
        while True:
            page = core.list_namespaced_config_map("pages", limit=3, _continue=token)
            seen += [c.metadata.name for c in page.items]
            remaining.append(page.metadata.remaining_item_count)
            token = page.metadata._continue
            if not token:
                break
        assert seen == [f"cm-{i}" for i in range(7)] + ["kube-root-ca.crt"]
        assert remaining == [5, 2, None]
        with pytest.raises(ApiException) as bad:
            core.list_namespaced_config_map("pages", limit=3, _continue="not-a-token")
        assert bad.value.status == 400 and "invalid continue token" in bad.value.body
    finally:
        core.delete_namespace("pages")


# --- Secrets --------------------------------------------------------------------------------------------------------

def test_a_tls_secret_needs_both_keys_but_its_content_is_not_checked(lab):
    core = kubernetes.client.CoreV1Api(lab.api)
    body = {"metadata": {"name": "not-pem"}, "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": "hello", "tls.key": "world"}}
    core.create_namespaced_secret("default", body)
    core.delete_namespaced_secret("not-pem", "default")
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_secret("default", {"metadata": {"name": "half"}, "type": "kubernetes.io/tls",
                                                  "stringData": {"tls.crt": "x"}})
    status = json.loads(missing.value.body)
    assert missing.value.status == 422
    assert status["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                            "field": "data[tls.key]"}]


def test_bad_base64_in_a_secret_is_a_bad_request(lab):
    code, _, status = raw(lab, "POST", "/api/v1/namespaces/default/secrets",
                          b'{"metadata": {"name": "b64"}, "data": {"k": "not base64!"}}')
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == ('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at '
                                 'input byte 3')
