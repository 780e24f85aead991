"""48 course-relevant creates, each answered by the lab and checked against what a real kube-apiserver answers.

No kube-apiserver binary can be had on this machine (no PyPI wheel ships one, Debian has only etcd-server), so each
case records the real server's answer with its source: REFERENCE.md's facts measured against kube-apiserver v1.36,
the Kubernetes source (pkg/apis/*/validation, the admission plugins, apimachinery's decoder), or Kubernetes' own
integration tests. Every body is POSTed as kubectl sends it (JSON, `fieldValidation=Strict`).

Two cases differ on purpose, and say why: the lab still serves the article's `extensions/v1beta1` Ingress (removed
from real servers in 1.22) so its manifest can be shown converted, and the lab's API carries ingress-nginx's
admission webhook, as a cluster with ingress-nginx installed does. The test asserts the lab's answer for those, and
that every other case matches — at least 45 of 48.
"""
from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

NS = "cases"
REF = "REFERENCE.md (measured against kube-apiserver v1.36)"
ING_VAL = "kubernetes pkg/apis/networking/validation/validation.go"
CORE_VAL = "kubernetes pkg/apis/core/validation/validation.go"
APPS_VAL = "kubernetes pkg/apis/apps/validation/validation.go"
DNS1123 = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
           "start and end with an alphanumeric character")
CRT = Path(__file__).resolve().parent.parent / "manifests"


@dataclass
class Case:
    name: str
    manifest: dict
    code: int
    source: str
    message: str | None = None                 # the whole Status message
    contains: tuple[str, ...] = ()             # fragments of it
    fields: tuple[str, ...] = ()               # details.causes[].field, in order
    stored: dict = field(default_factory=dict)  # dotted path → value in the created object
    lab_differs: str = ""                      # why the lab answers otherwise, on purpose
    lab_code: int | None = None


def ingress(name: str, spec: dict | None = None, **meta) -> dict:
    rule = {"host": "cafe.example.com", "http": {"paths": [
        {"path": "/tea", "pathType": "Prefix", "backend": {"service": {"name": "tea-svc", "port": {"number": 80}}}}]}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, **meta},
            "spec": spec if spec is not None else {"rules": [rule]}}


def path_rule(path: str, path_type: str | None = "Prefix", backend: dict | None = None, host="cafe.example.com"):
    p = {"path": path, "backend": backend or {"service": {"name": "tea-svc", "port": {"number": 80}}}}
    if path_type is not None:
        p["pathType"] = path_type
    rule = {"http": {"paths": [p]}}
    if host is not None:
        rule["host"] = host
    return {"rules": [rule]}


def service(name: str, **spec) -> dict:
    body = {"selector": {"app": "tea"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def deployment(name: str, *, replicas=2, labels=None, container=None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels or {"app": name}},
                                  "spec": {"containers": [container or {
                                      "name": name, "image": "nginxdemos/nginx-hello:plain-text",
                                      "ports": [{"containerPort": 8080}]}]}}}}


def secret(name: str, data: dict, kind="kubernetes.io/tls") -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": kind, "data": data}


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def cafe_secret_data() -> dict:
    docs = [d for d in yaml.safe_load_all((CRT / "cafe-secret.yaml").read_text()) if d and d.get("kind") == "Secret"]
    return docs[0]["data"]


def cases() -> list[Case]:
    tls = cafe_secret_data()
    svc = {"service": {"name": "tea-svc", "port": {"number": 80}}}
    return [
        # --- Ingress ------------------------------------------------------------------------------------------------
        Case("cafe ingress without a class gets the default class", ingress("cafe", {
            "tls": [{"hosts": ["cafe.example.com"], "secretName": "cafe-secret"}],
            **path_rule("/tea")}), 201, REF + ", DefaultIngressClass", stored={"spec.ingressClassName": "nginx"}),
        Case("an explicit class is kept", ingress("explicit", {"ingressClassName": "nginx", **path_rule("/tea")}),
             201, "plugin/pkg/admission/network/defaultingressclass", stored={"spec.ingressClassName": "nginx"}),
        Case("the legacy class annotation keeps the class unset",
             ingress("legacy", None, annotations={"kubernetes.io/ingress.class": "nginx"}), 201,
             "plugin/pkg/admission/network/defaultingressclass (skips AnnotationIngressClass)",
             stored={"spec.ingressClassName": None}),
        Case("spec.bogus is a strict decoding error", ingress("bogus", {"bogus": True, **path_rule("/tea")}), 400,
             REF + "; issue 10", message='Ingress in version "v1" cannot be handled as a Ingress: strict decoding '
                                         'error: unknown field "spec.bogus"'),
        Case("neither rules nor defaultBackend", ingress("empty", {}), 422, ING_VAL,
             contains=("either `defaultBackend` or `rules` must be specified",), fields=("spec",)),
        Case("a host that is an IP", ingress("ip", path_rule("/", host="1.2.3.4")), 422, REF + "; " + ING_VAL,
             contains=('spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address',),
             fields=("spec.rules[0].host",)),
        Case("a host with a port", ingress("port", path_rule("/", host="cafe.example.com:80")), 422, ING_VAL,
             contains=(DNS1123,), fields=("spec.rules[0].host",)),
        Case("a wildcard host", ingress("wild", path_rule("/", host="*.example.com")), 201, REF),
        Case("a wildcard not in the first label", ingress("midwild", path_rule("/", host="foo.*.com")), 422,
             ING_VAL, fields=("spec.rules[0].host",)),
        Case("a path without pathType", ingress("notype", path_rule("/tea", None)), 422, REF + "; " + ING_VAL,
             contains=("spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",),
             fields=("spec.rules[0].http.paths[0].pathType",)),
        Case("an unknown pathType", ingress("badtype", path_rule("/tea", "Bogus")), 422, ING_VAL,
             contains=('Unsupported value: "Bogus": supported values: "Exact", "ImplementationSpecific", '
                       '"Prefix"',), fields=("spec.rules[0].http.paths[0].pathType",)),
        Case("a relative Prefix path", ingress("relative", path_rule("tea")), 422, REF + "; " + ING_VAL,
             contains=('spec.rules[0].http.paths[0].path: Invalid value: "tea": must be an absolute path',),
             fields=("spec.rules[0].http.paths[0].path",)),
        Case("a path with //", ingress("double", path_rule("/tea//cup")), 422, REF + "; " + ING_VAL,
             contains=("must not contain '//'",), fields=("spec.rules[0].http.paths[0].path",)),
        Case("a regex in an Exact path", ingress("regex", path_rule("/a(.*)", "Exact")), 201, REF,
             lab_differs="the lab's API carries ingress-nginx's admission webhook (strict-validate-path-type), as a "
                         "cluster with ingress-nginx installed does", lab_code=422),
        Case("a backend with service and resource", ingress("both", {"defaultBackend": {
            **svc, "resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "b"}}}), 422,
             REF + "; " + ING_VAL, contains=("cannot set both resource and service backends",),
             fields=("spec.defaultBackend",)),
        Case("a service port with name and number", ingress("twoports", {"defaultBackend": {"service": {
            "name": "tea-svc", "port": {"name": "http", "number": 80}}}}), 422, REF + "; " + ING_VAL,
             contains=("cannot set both port name & port number",), fields=("spec.defaultBackend",)),
        Case("a service port with neither", ingress("noport", {"defaultBackend": {"service": {
            "name": "tea-svc", "port": {}}}}), 422, REF + "; " + ING_VAL,
             contains=("port name or number is required",), fields=("spec.defaultBackend",)),
        Case("an invalid TLS host", ingress("tlshost", {"tls": [{"hosts": ["Cafe_Example"]}],
                                                         **path_rule("/tea")}), 422, ING_VAL,
             contains=(DNS1123,), fields=("spec.tls[0].hosts[0]",)),
        Case("the article's extensions/v1beta1 Ingress", {
            "apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "article"},
            "spec": {"rules": [{"host": "cafe.example.com", "http": {"paths": [
                {"path": "/tea", "backend": {"serviceName": "tea-svc", "servicePort": 80}}]}}]}}, 404,
             "Kubernetes 1.22 removed extensions/v1beta1 Ingress (REFERENCE.md)",
             lab_differs="the lab serves the article's manifest and stores it as networking.k8s.io/v1, with a "
                         "warning, so the lesson's old form can be shown converted", lab_code=201),
        # --- IngressClass -------------------------------------------------------------------------------------------
        Case("an IngressClass", {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                 "metadata": {"name": "other"}, "spec": {"controller": "example.com/other"}},
             201, ING_VAL),
        Case("an IngressClass without a controller", {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                                      "metadata": {"name": "nocontroller"}, "spec": {}}, 422,
             ING_VAL, contains=("spec.controller: Required value",), fields=("spec.controller",)),
        # --- Service ------------------------------------------------------------------------------------------------
        Case("a ClusterIP Service", service("tea-svc"), 201, CORE_VAL, stored={"spec.type": "ClusterIP"}),
        Case("a NodePort Service", service("tea-np", type="NodePort"), 201, CORE_VAL,
             stored={"spec.externalTrafficPolicy": "Cluster"}),
        Case("a NodePort Service with its port chosen", service("fixed", type="NodePort", ports=[
            {"port": 80, "targetPort": 8080, "nodePort": 30080}]), 201, CORE_VAL,
             stored={"spec.ports.0.nodePort": 30080}),
        Case("a node port outside the range", service("lowport", type="NodePort", ports=[
            {"port": 80, "nodePort": 80}]), 422, "kubernetes pkg/registry/core/service/portallocator",
             contains=("spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The "
                       "range of valid ports is 30000-32767",), fields=("spec.ports[0].nodePort",)),
        Case("targetport in lower case", {**service("typo"), "spec": {"selector": {"app": "tea"}, "ports": [
            {"port": 80, "targetport": 8080}]}}, 400, "issue 10; " + REF,
             message='Service in version "v1" cannot be handled as a Service: strict decoding error: unknown '
                     'field "spec.ports[0].targetport"'),
        Case("port 0", service("zero", ports=[{"port": 0}]), 422, CORE_VAL,
             contains=("spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",),
             fields=("spec.ports[0].port",)),
        Case("the same port twice", service("twice", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
             422, CORE_VAL, contains=("Duplicate value",), fields=("spec.ports[1]",)),
        Case("a node port on a ClusterIP Service", service("cipnp", ports=[{"port": 80, "nodePort": 30081}]), 422,
             CORE_VAL, contains=("may not be used when `type` is 'ClusterIP'",), fields=("spec.ports[0].nodePort",)),
        Case("a Service name that is no DNS-1035 label", service("Tea_Svc"), 422, CORE_VAL,
             contains=("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                       "alphabetic character, and end with an alphanumeric character",), fields=("metadata.name",)),
        Case("a LoadBalancer Service", service("lb", type="LoadBalancer"), 201, CORE_VAL,
             stored={"spec.type": "LoadBalancer"}),
        # --- Deployment ---------------------------------------------------------------------------------------------
        Case("the coffee Deployment", deployment("coffee"), 201, REF + " (resources: {} defaulted)",
             stored={"spec.template.spec.containers.0.resources": {}, "spec.strategy.type": "RollingUpdate",
                     "spec.template.spec.containers.0.imagePullPolicy": "IfNotPresent"}),
        Case("a selector that misses the template labels", deployment("mismatch", labels={"app": "other"}), 422,
             APPS_VAL, contains=("`selector` does not match template `labels`",),
             fields=("spec.template.metadata.labels",)),
        Case("negative replicas", deployment("negative", replicas=-1), 422, APPS_VAL,
             contains=("spec.replicas: Invalid value: -1: must be greater than or equal to 0",),
             fields=("spec.replicas",)),
        Case("replicas as a word", deployment("word", replicas="two"), 400, "apimachinery's JSON decoder",
             message='Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string '
                     'into Go struct field DeploymentSpec.spec.replicas of type int32'),
        Case("a container without image", deployment("noimage", container={"name": "web"}), 422, CORE_VAL,
             contains=("spec.template.spec.containers[0].image: Required value",),
             fields=("spec.template.spec.containers[0].image",)),
        Case("a typo in a container field", deployment("imagetypo", container={
            "name": "web", "image": "nginx", "imagePullPolicyy": "Always"}), 400,
             "test/integration/apiserver/fieldvalidation_test.go",
             message='Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown '
                     'field "spec.template.spec.containers[0].imagePullPolicyy"'),
        Case("an unknown imagePullPolicy", deployment("policy", container={
            "name": "web", "image": "nginx", "imagePullPolicy": "Sometimes"}), 422, CORE_VAL,
             contains=('Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',),
             fields=("spec.template.spec.containers[0].imagePullPolicy",)),
        # --- Pod ----------------------------------------------------------------------------------------------------
        Case("a Pod gets its ServiceAccount", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
                                               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, 201,
             "plugin/pkg/admission/serviceaccount", stored={"spec.serviceAccountName": "default"}),
        Case("a container port beyond 65535", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bigport"},
                                               "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [
                                                   {"containerPort": 70000}]}]}}, 422, CORE_VAL,
             contains=("must be between 1 and 65535, inclusive",),
             fields=("spec.containers[0].ports[0].containerPort",)),
        Case("a Pod in a namespace that does not exist", {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "lost", "namespace": "nowhere"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
             404, "NamespaceLifecycle admission", message='namespaces "nowhere" not found'),
        # --- Secret -------------------------------------------------------------------------------------------------
        Case("the cafe TLS secret", secret("cafe-secret", tls), 201, REF),
        Case("a TLS secret whose content is not PEM", secret("notpem", {"tls.crt": b64("x"), "tls.key": b64("y")}),
             201, REF),
        Case("a TLS secret without tls.key", secret("halftls", {"tls.crt": tls["tls.crt"]}), 422, REF,
             contains=("data[tls.key]: Required value",), fields=("data[tls.key]",)),
        Case("bad base64 in a Secret", secret("badb64", {"k": "not base64!"}, "Opaque"), 400, REF,
             message='Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'),
        # --- ConfigMap ----------------------------------------------------------------------------------------------
        Case("dat: instead of data:", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo"},
                                       "dat": {"a": "b"}}, 400, REF,
             message='ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown '
                     'field "dat"'),
        Case("a ConfigMap key with a space", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "key"},
                                              "data": {"bad key": "v"}}, 422, CORE_VAL,
             contains=("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",),
             fields=("data[bad key]",)),
        Case("a ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nginx-settings"},
                             "data": {"proxy-body-size": "8m"}}, 201, CORE_VAL),
    ]


def _url(r_api_version: str, kind: str, namespace: str) -> str:
    plural = {"Ingress": "ingresses", "IngressClass": "ingressclasses", "Service": "services",
              "Deployment": "deployments", "Pod": "pods", "Secret": "secrets", "ConfigMap": "configmaps"}[kind]
    base = f"/apis/{r_api_version}" if "/" in r_api_version else f"/api/{r_api_version}"
    scope = "" if kind == "IngressClass" else f"/namespaces/{namespace}"
    return f"{base}{scope}/{plural}?fieldValidation=Strict"


def _post(lab, case: Case) -> tuple[int, dict]:
    namespace = case.manifest["metadata"].get("namespace", NS)
    req = urllib.request.Request(
        lab.api.configuration.host + _url(case.manifest["apiVersion"], case.manifest["kind"], namespace),
        data=json.dumps(case.manifest).encode(), method="POST",
        headers={"Authorization": lab.api.configuration.api_key["BearerToken"], "Content-Type": "application/json",
                 "User-Agent": "kubectl/v1.37.1 (linux/amd64) kubernetes/create-cases"})
    ctx = ssl.create_default_context(cafile=lab.api.configuration.ssl_ca_cert)
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _dig(obj, dotted: str):
    for part in dotted.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)] if int(part) < len(obj) else None
        else:
            obj = (obj or {}).get(part)
    return obj


def _matches(case: Case, code: int, body: dict) -> list[str]:
    """What differs between the lab's answer and the real server's (empty: the same)."""
    wrong = []
    if code != case.code:
        wrong.append(f"code {code} (real: {case.code}): {body.get('message', '')[:200]}")
        return wrong
    message = body.get("message", "")
    if case.message is not None and message != case.message:
        wrong.append(f"message {message!r}")
    wrong += [f"message lacks {c!r}: {message!r}" for c in case.contains if c not in message]
    if case.fields:
        got = tuple(c.get("field") for c in (body.get("details") or {}).get("causes", []))
        if got[:len(case.fields)] != case.fields:
            wrong.append(f"cause fields {got} (real: {case.fields})")
    wrong += [f"{path} = {_dig(body, path)!r} (real: {want!r})" for path, want in case.stored.items()
              if _dig(body, path) != want]
    return wrong


@pytest.fixture(scope="module")
def answers(lab, kubectl):
    kubectl("create", "namespace", NS)
    try:
        yield {c.name: (c, *_post(lab, c)) for c in cases()}
    finally:
        kubectl("delete", "ingressclass", "other", "--ignore-not-found")
        kubectl("delete", "namespace", NS, "--wait=false")


def test_there_are_48_cases_each_citing_its_source():
    all_cases = cases()
    assert len(all_cases) == 48 and len({c.name for c in all_cases}) == 48
    assert all(c.source for c in all_cases)


@pytest.mark.parametrize("name", [c.name for c in cases() if not c.lab_differs])
def test_the_lab_answers_as_the_real_server(answers, name):
    case, code, body = answers[name]
    assert _matches(case, code, body) == [], case.source


@pytest.mark.parametrize("name", [c.name for c in cases() if c.lab_differs])
def test_the_intended_differences_are_the_labs_documented_answer(answers, name):
    case, code, body = answers[name]
    assert code == case.lab_code, (case.lab_differs, body)


def test_at_least_45_of_48_match(answers):
    same = [name for name, (case, code, body) in answers.items() if not _matches(case, code, body)]
    print(f"\n{len(same)}/48 create cases answered as a real kube-apiserver answers")
    assert len(same) >= 45
