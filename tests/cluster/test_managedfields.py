"""Field ownership and server-side apply: FieldsV1 as kube-apiserver writes it, ownership moving with writes,
conflicts worded as kubectl expects them, and what an applier stops applying going away."""
from __future__ import annotations

import pytest

from ingresslab.cluster.apimachinery.errors import ApiError
from ingresslab.cluster.apiserver import managedfields as mf


def deployment(replicas=1, image="web:1", labels=None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "default", "labels": labels or {"app": "d"}, "uid": "u",
                         "resourceVersion": "7"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}},
            "status": {"replicas": 1}}


def owners(obj: dict) -> dict[str, set[str]]:
    return {f'{e["manager"]}/{e["operation"]}': {mf.path_string(p) for p in mf.from_fields_v1(e["fieldsV1"])}
            for e in obj["metadata"].get("managedFields", [])}


def test_fields_v1_is_written_as_the_real_server_writes_it():
    made = mf.record("apps", "v1", "Deployment", None, deployment(), "kubectl-create")
    (entry,) = made["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("kubectl-create", "Update", "apps/v1")
    v1 = entry["fieldsV1"]
    assert v1["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}          # name, uid, … are never owned
    assert v1["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}
    assert "f:status" not in v1
    assert mf.from_fields_v1(mf.to_fields_v1(mf.from_fields_v1(v1))) == mf.from_fields_v1(v1)


def test_an_update_takes_the_fields_it_changed_from_their_owner():
    made = mf.record("apps", "v1", "Deployment", None, deployment(), "kubectl-create")
    scaled = mf.record("apps", "v1", "Deployment", made, {**deployment(replicas=3),
                       "metadata": made["metadata"]}, "kubectl", subresource="scale")
    assert ".spec.replicas" in owners(scaled)["kubectl/Update"]
    assert ".spec.replicas" not in owners(scaled)["kubectl-create/Update"]


def test_apply_conflicts_name_the_owner_and_the_field_and_force_takes_it_over():
    live = mf.record("apps", "v1", "Deployment", None, deployment(), "kubectl-create")
    applied = deployment(replicas=5, image="web:2")
    for gone in ("uid", "resourceVersion"):
        applied["metadata"].pop(gone)
    with pytest.raises(ApiError) as refused:
        mf.apply("apps", "v1", "Deployment", live, applied, "kubectl", force=False, name="d")
    err = refused.value
    assert (err.code, err.reason) == (409, "Conflict")
    assert err.message == ('Apply failed with 2 conflicts: conflicts with "kubectl-create" using apps/v1:\n'
                           '- .spec.replicas\n- .spec.template.spec.containers[name="web"].image')
    assert err.details["causes"][0] == {"reason": "FieldManagerConflict",
                                        "message": 'conflict with "kubectl-create" using apps/v1',
                                        "field": ".spec.replicas"}
    forced = mf.apply("apps", "v1", "Deployment", live, applied, "kubectl", force=True, name="d")
    assert forced["spec"]["replicas"] == 5
    assert ".spec.replicas" in owners(forced)["kubectl/Apply"]
    assert ".spec.replicas" not in owners(forced)["kubectl-create/Update"]


def test_applying_the_same_value_is_no_conflict_and_shares_the_field():
    live = mf.record("apps", "v1", "Deployment", None, deployment(), "kubectl-create")
    shared = mf.apply("apps", "v1", "Deployment", live, deployment(), "kubectl", force=False, name="d")
    assert ".spec.replicas" in owners(shared)["kubectl/Apply"] & owners(shared)["kubectl-create/Update"]


def test_what_an_applier_stops_applying_is_removed_unless_someone_else_owns_it():
    first = mf.apply("apps", "v1", "Deployment", None, deployment(labels={"app": "d", "tier": "web"}), "kubectl",
                     force=False, name="d")
    second = mf.apply("apps", "v1", "Deployment", first, deployment(labels={"app": "d"}), "kubectl",
                      force=False, name="d")
    assert second["metadata"]["labels"] == {"app": "d"}
    other = mf.record("apps", "v1", "Deployment", first, {**first, "metadata": {
        **first["metadata"], "labels": {"app": "d", "tier": "web", "team": "x"}}}, "kubectl-label")
    third = mf.apply("apps", "v1", "Deployment", other, deployment(labels={"app": "d"}), "kubectl", force=False,
                     name="d")
    assert third["metadata"]["labels"] == {"app": "d", "team": "x"}


def test_the_manager_comes_from_field_manager_or_the_user_agent():
    assert mf.manager_from("kubectl-edit", "kubectl/v1.37.1") == "kubectl-edit"
    assert mf.manager_from(None, "OpenAPI-Generator/37.0.3/python") == "OpenAPI-Generator"
    with pytest.raises(ApiError):
        mf.manager_from("x" * 129, "")
