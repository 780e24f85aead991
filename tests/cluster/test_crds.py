"""CustomResourceDefinitions served by the lab, through the real kubectl and the official `kubernetes` client.

A learner's own CRD (a CronTab, as the Kubernetes documentation's example) and the Gateway API CRDs the lab installs:
the CRD's validation and conditions, custom objects in every verb and version, the status and scale subresources,
schema defaults, pruning and strict field validation, 422 causes naming the field, CEL rules, printer columns,
discovery, `kubectl explain`, watches, deleting a CRD with its objects, and CRDs surviving a restart.
"""
from __future__ import annotations

import json
import re
import threading

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException
from polling import eventually

GROUP = "stable.example.com"
CRONTAB_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas,
              labelSelectorPath: .status.labelSelector}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Image, type: string, jsonPath: .spec.image, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the cron job runs, and when.
            required: [cronSpec]
            x-kubernetes-validations:
            - {rule: "!has(self.image) || !self.image.contains(' ')", message: image must not contain spaces}
            properties:
              cronSpec: {type: string, description: A cron schedule of five fields.,
                         pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'}
              image: {type: string, maxLength: 64}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              mode: {type: string, enum: [Allow, Forbid], default: Allow}
          status:
            type: object
            properties:
              replicas: {type: integer}
              labelSelector: {type: string}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""


def crontab(name: str, **spec) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": {"cronSpec": "*/5 * * * *", **spec}}


@pytest.fixture(scope="module")
def crd(lab, kubectl):
    kubectl("apply", "-f", "-", input=CRONTAB_CRD)
    yield "crontabs.stable.example.com"
    kubectl("delete", "crd", "crontabs.stable.example.com", "--ignore-not-found")


@pytest.fixture
def custom(lab):
    return kubernetes.client.CustomObjectsApi(lab.api)


@pytest.fixture
def ns(lab, request):
    core = kubernetes.client.CoreV1Api(lab.api)
    name = "crd-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def status_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


# ------------------------------------------------------------------------------------------------- the CRD itself
def test_an_applied_crd_is_established_with_its_names_accepted(crd, lab):
    ext = kubernetes.client.ApiextensionsV1Api(lab.api)
    got = ext.read_custom_resource_definition(crd)
    conditions = {c.type: (c.status, c.reason) for c in got.status.conditions}
    assert conditions == {"NamesAccepted": ("True", "NoConflicts"), "Established": ("True", "InitialNamesAccepted")}
    assert got.status.accepted_names.kind == "CronTab" and got.status.stored_versions == ["v1"]
    assert got.spec.names.list_kind == "CronTabList"   # defaulted


def test_kubectl_get_crd_prints_name_and_created_at(crd, kubectl):
    out = kubectl("get", "crd").stdout.splitlines()
    assert re.split(r"\s{2,}", out[0].strip()) == ["NAME", "CREATED AT"]
    assert any(re.match(r"crontabs\.stable\.example\.com\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", line) for line in out)


def test_a_crd_whose_name_is_not_plural_dot_group_is_invalid(lab):
    ext = kubernetes.client.ApiextensionsV1Api(lab.api)
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"]["name"] = "crontab.stable.example.com"
    with pytest.raises(ApiException) as err:
        ext.create_custom_resource_definition(body)
    assert err.value.status == 422
    causes = status_of(err.value)["details"]["causes"]
    assert {"reason": "FieldValueInvalid", "field": "metadata.name",
            "message": 'Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group'} \
        in causes


def test_a_crd_needs_exactly_one_storage_version_and_a_structural_schema(lab, kubectl):
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"]["name"] = "widgets.stable.example.com"
    body["spec"]["names"] = {"plural": "widgets", "kind": "Widget"}
    body["spec"]["versions"][1]["storage"] = True
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"] = \
        {"maxLength": 3}
    proc = kubectl("apply", "-f", "-", input=yaml.safe_dump(body), check=False)
    assert proc.returncode != 0
    assert "spec.versions: Invalid value" in proc.stderr and "must have exactly one version marked as storage " \
                                                              "version" in proc.stderr
    assert "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[image].type: Required value: " \
           "must not be empty for specified object fields" in proc.stderr


def test_a_cel_rule_the_lab_cannot_evaluate_is_said_plainly(lab, kubectl):
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"]["name"] = "links.stable.example.com"
    body["spec"]["names"] = {"plural": "links", "kind": "Link"}
    spec = body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["x-kubernetes-validations"] = [{"rule": "isURL(self.image)", "message": "image must be a URL"}]
    proc = kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    try:
        assert "Warning: version v1: x-kubernetes-validations rule at spec: isURL(self.image) is not evaluated by " \
               "this lab" in proc.stderr
    finally:
        kubectl("delete", "crd", "links.stable.example.com")


def test_a_group_without_a_dot_is_refused(lab):
    ext = kubernetes.client.ApiextensionsV1Api(lab.api)
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"]["name"] = "crontabs.example"
    body["spec"]["group"] = "example"
    with pytest.raises(ApiException) as err:
        ext.create_custom_resource_definition(body)
    fields = {c["field"]: c["message"] for c in status_of(err.value)["details"]["causes"]}
    assert fields["spec.group"] == 'Invalid value: "example": should be a domain with at least one dot'


# ------------------------------------------------------------------------------------------------ custom objects
def test_create_get_list_replace_patch_delete_with_the_official_client(crd, custom, ns):
    created = custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("a", image="busybox"))
    assert created["spec"]["replicas"] == 1 and created["spec"]["mode"] == "Allow"   # schema defaults
    assert created["metadata"]["generation"] == 1
    got = custom.get_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "a")
    got["spec"]["replicas"] = 3
    replaced = custom.replace_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "a", got)
    assert replaced["spec"]["replicas"] == 3 and replaced["metadata"]["generation"] == 2
    merged = custom.patch_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "a", {"spec": {"image": "nginx"}})
    assert merged["spec"]["image"] == "nginx"
    jsonpatched = custom.patch_namespaced_custom_object(
        GROUP, "v1", ns, "crontabs", "a", [{"op": "replace", "path": "/spec/replicas", "value": 4}],
        _content_type="application/json-patch+json")   # client 37 sends merge patches unless told
    assert jsonpatched["spec"]["replicas"] == 4
    listed = custom.list_namespaced_custom_object(GROUP, "v1", ns, "crontabs")
    assert listed["kind"] == "CronTabList" and [o["metadata"]["name"] for o in listed["items"]] == ["a"]
    custom.delete_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "a")
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "a")
    assert err.value.status == 404
    assert status_of(err.value)["message"] == 'crontabs.stable.example.com "a" not found'


def test_an_object_is_served_in_every_served_version(crd, custom, ns):
    custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("both"))
    old = custom.get_namespaced_custom_object(GROUP, "v1beta1", ns, "crontabs", "both")
    assert old["apiVersion"] == f"{GROUP}/v1beta1" and old["spec"]["cronSpec"] == "*/5 * * * *"
    listed = custom.list_namespaced_custom_object(GROUP, "v1beta1", ns, "crontabs")
    assert [o["apiVersion"] for o in listed["items"]] == [f"{GROUP}/v1beta1"]


def test_schema_violations_are_422_with_causes_naming_each_field(crd, custom, ns):
    bad = crontab("bad", replicas=20, mode="Sometimes")
    bad["spec"]["cronSpec"] = "every minute"
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", bad)
    assert err.value.status == 422
    body = status_of(err.value)
    assert body["reason"] == "Invalid" and body["message"].startswith('CronTab.stable.example.com "bad" is invalid: ')
    causes = {c["field"]: c for c in body["details"]["causes"]}
    assert causes["spec.replicas"]["message"] == \
        "Invalid value: 20: spec.replicas in body should be less than or equal to 10"
    assert causes["spec.mode"] == {"reason": "FieldValueNotSupported", "field": "spec.mode",
                                   "message": 'Unsupported value: "Sometimes": supported values: "Allow", "Forbid"'}
    assert causes["spec.cronSpec"]["message"].startswith('Invalid value: "every minute": spec.cronSpec in body '
                                                         "should match '")


def test_a_wrong_type_and_a_missing_required_field(crd, custom, ns):
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", {
            "apiVersion": f"{GROUP}/v1", "kind": "CronTab", "metadata": {"name": "typed"},
            "spec": {"replicas": "three"}})
    causes = {c["field"]: c for c in status_of(err.value)["details"]["causes"]}
    assert causes["spec.replicas"] == {"reason": "FieldValueTypeInvalid", "field": "spec.replicas", "message":
                                       'Invalid value: "string": spec.replicas in body must be of type integer: '
                                       '"string"'}
    assert causes["spec.cronSpec"] == {"reason": "FieldValueRequired", "field": "spec.cronSpec",
                                       "message": "Required value"}


def test_a_cel_rule_of_the_schema_is_evaluated(crd, custom, ns):
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("cel", image="my image"))
    causes = status_of(err.value)["details"]["causes"]
    assert causes == [{"reason": "FieldValueInvalid", "field": "spec",
                       "message": 'Invalid value: "object": image must not contain spaces'}]


def test_unknown_fields_are_pruned_with_a_warning_by_default(crd, custom, ns):
    # The official client sends no fieldValidation: the default is Warn, as a real API server's.
    data, code, headers = custom.create_namespaced_custom_object_with_http_info(GROUP, "v1", ns, "crontabs",
                                                                                crontab("pruned", colour="blue"))
    assert code == 201 and "colour" not in data["spec"]
    assert headers.get("Warning") == '299 - "unknown field \\"spec.colour\\""'   # quoted as kube-apiserver quotes
    stored = custom.get_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "pruned")
    assert "colour" not in stored["spec"]


def test_kubectl_with_validate_warn_prints_the_server_s_warning(crd, kubectl, ns):
    proc = kubectl("-n", ns, "create", "--validate=warn", "-f", "-", input=yaml.safe_dump(crontab("warned", x=1)))
    assert 'Warning: unknown field "spec.x"' in proc.stderr and "crontab.stable.example.com/warned created" in \
        proc.stdout


def test_strict_field_validation_refuses_unknown_fields_with_400(crd, kubectl, ns):
    manifest = yaml.safe_dump(crontab("strict", colour="blue"))
    proc = kubectl("-n", ns, "create", "-f", "-", input=manifest, check=False)   # kubectl's default is Strict
    assert proc.returncode != 0
    assert 'CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field ' \
           '"spec.colour"' in proc.stderr


def test_strategic_merge_patch_is_415_for_custom_objects(crd, custom, kubectl, ns):
    custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("smp"))
    proc = kubectl("-n", ns, "patch", "crontab", "smp", "-p", '{"spec":{"replicas":2}}', check=False)
    assert proc.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in proc.stderr
    assert "accepted media types include: application/json-patch+json, application/merge-patch+json" in proc.stderr
    kubectl("-n", ns, "patch", "crontab", "smp", "--type", "merge", "-p", '{"spec":{"replicas":2}}')
    assert kubectl("-n", ns, "get", "ct", "smp", "-o", "jsonpath={.spec.replicas}").stdout == "2"


def test_status_subresource_main_ignores_status_and_status_ignores_spec(crd, custom, ns):
    created = custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs",
                                                     {**crontab("st"), "status": {"replicas": 9}})
    assert "status" not in created
    after = custom.patch_namespaced_custom_object_status(GROUP, "v1", ns, "crontabs", "st", {
        "spec": {"replicas": 7}, "status": {"replicas": 2, "labelSelector": "app=cron"}})
    assert after["status"] == {"replicas": 2, "labelSelector": "app=cron"} and after["spec"]["replicas"] == 1
    again = custom.patch_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "st", {"status": {"replicas": 0}})
    assert again["status"]["replicas"] == 2


def test_scale_subresource_reads_and_writes_the_paths_the_crd_names(crd, custom, kubectl, ns):
    custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("sc"))
    custom.patch_namespaced_custom_object_status(GROUP, "v1", ns, "crontabs", "sc", {
        "status": {"replicas": 1, "labelSelector": "app=sc"}})
    kubectl("-n", ns, "scale", "crontab", "sc", "--replicas=4")
    scale = custom.get_namespaced_custom_object_scale(GROUP, "v1", ns, "crontabs", "sc")
    assert scale["spec"] == {"replicas": 4} and scale["status"] == {"replicas": 1, "selector": "app=sc"}
    proc = kubectl("-n", ns, "scale", "crontab", "sc", "--replicas=11", check=False)
    assert "spec.replicas: Invalid value: 11" in proc.stderr


def test_kubectl_get_prints_the_additional_printer_columns(crd, custom, kubectl, ns):
    custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("cols", image="busybox"))
    out = kubectl("-n", ns, "get", "crontabs").stdout.splitlines()
    assert re.split(r"\s{2,}", out[0].strip()) == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert re.match(r"cols\s+\*/5 \* \* \* \*\s+1\s+\d+s$", out[1])
    wide = kubectl("-n", ns, "get", "ct", "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", wide[0].strip()) == ["NAME", "SPEC", "REPLICAS", "IMAGE", "AGE"]
    assert kubectl("-n", ns, "get", "all").stdout.count("crontab.stable.example.com/cols") == 1


def test_discovery_and_explain_describe_the_custom_kind(crd, kubectl):
    resources = kubectl("api-resources", "--api-group", GROUP).stdout
    assert re.search(r"^crontabs\s+ct\s+stable\.example\.com/v1\s+true\s+CronTab$", resources, re.M)
    explained = kubectl("explain", "crontab.spec").stdout
    assert "KIND:       CronTab" in explained and "What the cron job runs, and when." in explained
    assert re.search(r"cronSpec\s+<string> -required-", explained)


def test_a_watch_sees_custom_objects_added_modified_and_deleted(crd, custom, lab, ns):
    custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("first"))
    events: list[tuple[str, str]] = []
    w = kubernetes.watch.Watch()

    def follow():
        for ev in w.stream(custom.list_namespaced_custom_object, GROUP, "v1", ns, "crontabs", timeout_seconds=20):
            events.append((ev["type"], ev["object"]["metadata"]["name"]))
            if ev["type"] == "DELETED":
                w.stop()
    t = threading.Thread(target=follow)
    t.start()
    try:
        eventually(lambda: ("ADDED", "first") in events, what="the watch's initial ADDED event")
        custom.create_namespaced_custom_object(GROUP, "v1", ns, "crontabs", crontab("w"))
        custom.patch_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "w", {"spec": {"replicas": 2}})
        custom.delete_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "w")
        t.join(25)
    finally:
        w.stop()
    assert [e for e in events if e[1] == "w"] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_deletecollection_and_namespace_deletion_take_custom_objects(crd, custom, lab):
    core = kubernetes.client.CoreV1Api(lab.api)
    core.create_namespace({"metadata": {"name": "crd-doomed"}})
    for name in ("a", "b", "c"):
        body = crontab(name)
        body["metadata"]["labels"] = {"batch": "yes" if name != "c" else "no"}
        custom.create_namespaced_custom_object(GROUP, "v1", "crd-doomed", "crontabs", body)
    custom.delete_collection_namespaced_custom_object(GROUP, "v1", "crd-doomed", "crontabs",
                                                      label_selector="batch=yes")
    left = custom.list_namespaced_custom_object(GROUP, "v1", "crd-doomed", "crontabs")["items"]
    assert [o["metadata"]["name"] for o in left] == ["c"]
    core.delete_namespace("crd-doomed")

    def gone():
        try:
            core.read_namespace("crd-doomed")
        except ApiException as exc:
            return exc.status == 404
        return False
    eventually(gone, what="the namespace and its CronTab deleted")
    assert custom.list_cluster_custom_object(GROUP, "v1", "crontabs", label_selector="batch=no")["items"] == []


def test_deleting_a_crd_deletes_its_objects(lab, kubectl, custom, ns):
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"]["name"] = "gadgets.stable.example.com"
    body["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget"}
    kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    custom.create_namespaced_custom_object(GROUP, "v1", ns, "gadgets", {**crontab("g1"), "kind": "Gadget"})
    kubectl("delete", "crd", "gadgets.stable.example.com")
    with pytest.raises(ApiException) as err:
        custom.list_namespaced_custom_object(GROUP, "v1", ns, "gadgets")
    assert err.value.status == 404
    kubectl("apply", "-f", "-", input=yaml.safe_dump(body))   # the kind again: none of the old objects came back
    assert eventually(lambda: custom.list_namespaced_custom_object(GROUP, "v1", ns, "gadgets")["items"] == [])
    kubectl("delete", "crd", "gadgets.stable.example.com")


def test_a_cluster_scoped_kind_and_conflicting_names(lab, kubectl):
    ext = kubernetes.client.ApiextensionsV1Api(lab.api)
    custom = kubernetes.client.CustomObjectsApi(lab.api)
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"]["name"] = "regions.stable.example.com"
    body["spec"].update(scope="Cluster", names={"plural": "regions", "kind": "Region", "shortNames": ["rg"]})
    kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    try:
        made = custom.create_cluster_custom_object(GROUP, "v1", "regions", {**crontab("eu"), "kind": "Region"})
        assert "namespace" not in made["metadata"]
        assert kubectl("get", "rg", "--no-headers").stdout.startswith("eu ")
        clash = yaml.safe_load(CRONTAB_CRD)
        clash["metadata"]["name"] = "zones.stable.example.com"
        clash["spec"]["names"] = {"plural": "zones", "singular": "zone", "kind": "Region"}
        ext.create_custom_resource_definition(clash)
        got = ext.read_custom_resource_definition("zones.stable.example.com")
        conditions = {c.type: (c.status, c.reason, c.message) for c in got.status.conditions}
        assert conditions["NamesAccepted"] == ("False", "KindConflict", '"Region" is already in use')
        assert conditions["Established"][0] == "False"
    finally:
        kubectl("delete", "crd", "regions.stable.example.com", "zones.stable.example.com", "--ignore-not-found")


def test_crds_and_their_objects_survive_a_restart_of_the_lab(tmp_path, kubectl_path):
    import os
    import subprocess

    from ingresslab import Lab

    home = tmp_path / "home"

    def run(lab, *args, check=True):
        env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path), HOME=str(lab.home))
        proc = subprocess.run([kubectl_path, *args], capture_output=True, text=True, env=env, timeout=60,
                              input=CRONTAB_CRD if args[-1] == "-" else None)
        assert proc.returncode == 0 or not check, proc.stderr
        return proc

    lab = Lab.up(home, progress=lambda message: None)
    try:
        run(lab, "apply", "-f", "-")
        kubernetes.client.CustomObjectsApi(lab.api).create_namespaced_custom_object(
            GROUP, "v1", "default", "crontabs", crontab("kept", image="busybox"))
        ext = kubernetes.client.ApiextensionsV1Api(lab.api)
        uid = ext.read_custom_resource_definition("httproutes.gateway.networking.k8s.io").metadata.uid
    finally:
        lab.down()
    lab = Lab.up(home, progress=lambda message: None)
    try:
        got = kubernetes.client.CustomObjectsApi(lab.api).get_namespaced_custom_object(
            GROUP, "v1", "default", "crontabs", "kept")
        assert got["spec"] == {"cronSpec": "*/5 * * * *", "image": "busybox", "replicas": 1, "mode": "Allow"}
        assert re.match(r"kept\s+\*/5 \* \* \* \*\s+1\s+\S+$", run(lab, "get", "ct", "--no-headers").stdout)
        ext = kubernetes.client.ApiextensionsV1Api(lab.api)
        assert ext.read_custom_resource_definition("httproutes.gateway.networking.k8s.io").metadata.uid == uid
    finally:
        lab.down()


def test_a_crd_in_a_built_in_group_version_joins_its_discovery_and_openapi(lab, kubectl):
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"] = {"name": "probes.networking.k8s.io",
                        "annotations": {"api-approved.kubernetes.io": "unapproved, a test of the lab"}}
    body["spec"].update(group="networking.k8s.io", names={"plural": "probes", "kind": "Probe"})
    kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    try:
        resources = kubectl("api-resources", "--api-group", "networking.k8s.io").stdout
        assert re.search(r"^ingresses\s", resources, re.M) and re.search(r"^probes\s.*Probe$", resources, re.M)
        assert "KIND:       Probe" in kubectl("explain", "probes.spec").stdout
        doc = json.loads(kubectl("get", "--raw", "/openapi/v3/apis/networking.k8s.io/v1").stdout)
        assert "/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses" in doc["paths"]   # the built-in kept
        assert "io.k8s.networking.v1.Probe" in doc["components"]["schemas"]
        kubectl("apply", "-f", "-", input=yaml.safe_dump({**crontab("p"), "apiVersion": "networking.k8s.io/v1",
                                                          "kind": "Probe"}))
        assert kubectl("get", "probes", "--no-headers").stdout.startswith("p ")
    finally:
        kubectl("delete", "crd", "probes.networking.k8s.io")


def test_a_crd_cannot_take_over_a_built_in_kind(lab, kubectl):
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"] = {"name": "ingresses.networking.k8s.io",
                        "annotations": {"api-approved.kubernetes.io": "unapproved, a test of the lab"}}
    body["spec"].update(group="networking.k8s.io", names={"plural": "ingresses", "kind": "Ingress"})
    survivor = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "survivor"},
                "spec": {"defaultBackend": {"service": {"name": "nowhere", "port": {"number": 80}}}}}
    kubectl("apply", "-f", "-", input=yaml.safe_dump(survivor))
    kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    try:
        ext = kubernetes.client.ApiextensionsV1Api(lab.api)
        conditions = {c.type: (c.status, c.reason) for c in
                      ext.read_custom_resource_definition("ingresses.networking.k8s.io").status.conditions}
        assert conditions["NamesAccepted"] == ("False", "PluralConflict")
        assert conditions["Established"][0] == "False"
    finally:
        kubectl("delete", "crd", "ingresses.networking.k8s.io")
    assert kubectl("get", "ingress", "survivor", "-o", "jsonpath={.kind}").stdout == "Ingress"   # untouched
    kubectl("delete", "ingress", "survivor")


def test_a_new_version_is_served_at_once_and_a_stored_one_cannot_be_dropped(lab, kubectl):
    custom = kubernetes.client.CustomObjectsApi(lab.api)
    ext = kubernetes.client.ApiextensionsV1Api(lab.api)
    body = yaml.safe_load(CRONTAB_CRD)
    body["metadata"]["name"] = "sprockets.stable.example.com"
    body["spec"]["names"] = {"plural": "sprockets", "kind": "Sprocket"}
    body["spec"]["versions"] = body["spec"]["versions"][:1]
    kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    try:
        with pytest.raises(ApiException):
            custom.list_namespaced_custom_object(GROUP, "v2", "default", "sprockets")
        v2 = {**body["spec"]["versions"][0], "name": "v2", "storage": False}
        body["spec"]["versions"].append(v2)
        kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
        assert custom.list_namespaced_custom_object(GROUP, "v2", "default", "sprockets")["items"] == []
        body["spec"]["versions"] = [{**v2, "storage": True}]
        proc = kubectl("apply", "-f", "-", input=yaml.safe_dump(body), check=False)
        assert 'status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions' in proc.stderr
        assert ext.read_custom_resource_definition("sprockets.stable.example.com").status.stored_versions == ["v1"]
    finally:
        kubectl("delete", "crd", "sprockets.stable.example.com")


def test_field_validation_ignore_drops_unknown_fields_silently(crd, lab, ns):
    custom = kubernetes.client.CustomObjectsApi(lab.api)
    data, code, headers = custom.create_namespaced_custom_object_with_http_info(
        GROUP, "v1", ns, "crontabs", crontab("quiet", extra=True), field_validation="Ignore")
    assert code == 201 and "extra" not in data["spec"] and "Warning" not in headers
    data, code, _ = custom.create_namespaced_custom_object_with_http_info(
        GROUP, "v1", ns, "crontabs", crontab("dry"), dry_run="All")
    assert code == 201 and data["spec"]["replicas"] == 1   # defaulted, validated, not stored
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(GROUP, "v1", ns, "crontabs", "dry")
    assert err.value.status == 404
