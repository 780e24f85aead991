"""What clients see of the kinds CRDs add: discovery entries, OpenAPI v3 per group-version, `kubectl get` tables.

- Discovery: each established CRD's group in `/apis` (preferred version by Kubernetes' version priority), its
  versions' `APIResourceList` (short names, categories, `status`/`scale` subresources), so that `kubectl get crontab`,
  `kubectl api-resources` and `kubectl get all` (category `all`) find them.
- OpenAPI v3 (`/openapi/v3/apis/<group>/<version>`): the version's schema with `apiVersion`, `kind`, `metadata`
  (ObjectMeta) and the `x-kubernetes-group-version-kind` kubectl looks for, and the `fieldValidation` parameter on
  PATCH, which tells kubectl the server validates fields itself. `kubectl explain crontab.spec` reads it.
- Tables: the version's `additionalPrinterColumns` (JSONPath cells, `date` columns as ages, priority 1 for `-o
  wide`), or NAME and AGE when there are none; a CRD itself prints NAME and CREATED AT, as the real server does.

Neighbours: `crds.py` (which kinds are served), `server.py` (the "CRD hook" lines), `tables.py` (formatting helpers),
`discovery.py` (the built-in kinds' documents, which these are merged into).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import datetime

from ingresslab.cluster.apimachinery.resources import RESOURCES, Resource, custom_resources
from ingresslab.cluster.apiserver import crds
from ingresslab.cluster.apiserver import discovery
from ingresslab.cluster.apiserver import tables

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_OBJECT_META_SCHEMA = {
    "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users "
                   "must create.",
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Name must be unique within a namespace."},
        "generateName": {"type": "string", "description": "An optional prefix for a server-generated name."},
        "namespace": {"type": "string", "description": "The namespace the object belongs to."},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "default": ""},
                   "description": "Map of string keys and values that can be used to organize and categorize "
                                  "(scope and select) objects."},
        "annotations": {"type": "object", "additionalProperties": {"type": "string", "default": ""},
                        "description": "Annotations is an unstructured key value map stored with a resource."},
        "uid": {"type": "string", "description": "UID is the unique in time and space value for this object."},
        "resourceVersion": {"type": "string", "description": "An opaque value that represents the internal version "
                                                             "of this object."},
        "generation": {"type": "integer", "format": "int64",
                       "description": "A sequence number representing a specific generation of the desired state."},
        "creationTimestamp": {"type": "string", "format": "date-time",
                              "description": "The server time when this object was created."},
    },
}


# --------------------------------------------------------------------------------------------------- discovery
def _groups() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in custom_resources():
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return {g: sorted(vs, key=crds.version_order) for g, vs in out.items()}


def _group_doc(group: str, versions: list[str]) -> dict:
    return {"name": group, "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
            "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}}


def add_groups(group_list: dict) -> dict:
    """The built-in APIGroupList with the CRDs' groups appended (a CRD in a built-in group adds its versions)."""
    group_list = copy.deepcopy(group_list)   # never change a document discovery.py may keep
    known = {g["name"]: g for g in group_list.get("groups", [])}
    for group, versions in _groups().items():
        if group not in known:
            group_list["groups"].append(_group_doc(group, versions))
        else:
            _merge_versions(known[group], versions)
    return group_list


def _merge_versions(doc: dict, versions: list[str]) -> None:
    have = {v["version"] for v in doc["versions"]}
    doc["versions"] += [{"groupVersion": f"{doc['name']}/{v}", "version": v} for v in versions if v not in have]


def api_group(group: str, builtin: dict | None = None) -> dict | None:
    """The APIGroup document of `group`: the built-in one (`builtin`) with the CRDs' versions added, or the CRDs'."""
    versions = _groups().get(group)
    if not versions:
        return builtin
    if builtin is not None:
        builtin = copy.deepcopy(builtin)
        _merge_versions(builtin, versions)
        return builtin
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def api_resource_list(group: str, version: str, builtin: dict | None = None) -> dict | None:
    """The APIResourceList of a group-version: the built-in one (`builtin`) with the CRDs' kinds added, or theirs."""
    entries = []
    for r in custom_resources():
        if r.group != group or r.version != version:
            continue
        entry = {"name": r.plural, "singularName": (crds.kind_of(r).names.get("singular") or r.singular),
                 "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                 "storageVersionHash": hashlib.sha256(r.key.encode()).hexdigest()[:11]}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entries.append(entry)
        for sub in r.subresources:
            sub_entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                         "kind": r.kind if sub == "status" else "Scale", "verbs": ["get", "patch", "update"]}
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1")
            entries.append(sub_entry)
    if not entries:
        return builtin
    if builtin is not None:
        builtin = copy.deepcopy(builtin)
        builtin["resources"] += entries
        return builtin
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
            "resources": entries}


# ----------------------------------------------------------------------------------------------------- OpenAPI
def _definition_name(r: Resource) -> str:
    return ".".join(reversed(r.group.split("."))) + f".{r.version}.{r.kind}"


def _operation(r: Resource, action: str) -> dict:
    params = [{"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
              for name in ("dryRun", "fieldManager", "fieldValidation", "pretty")]
    return {"operationId": f"{action}{r.kind}", "parameters": params, "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind}}


def openapi_group_version(group: str, version: str) -> str | None:
    """The OpenAPI v3 document of one CRD group-version, as compact JSON; None when no CRD serves it."""
    paths, schemas = {}, {"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": _OBJECT_META_SCHEMA}
    for r in custom_resources():
        if r.group != group or r.version != version:
            continue
        kind = crds.kind_of(r)
        schema = json.loads(json.dumps(kind.schema(version)))
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema of this "
                                                                "representation of an object."}
        props["kind"] = {"type": "string", "description": "Kind is a string value representing the REST resource "
                                                          "this object represents."}
        props["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}],
                             "description": "Standard object's metadata."}
        schema["x-kubernetes-group-version-kind"] = [{"group": group, "version": version, "kind": r.kind}]
        schemas[_definition_name(r)] = schema
        prefix = f"/apis/{group}/{version}" + ("/namespaces/{namespace}" if r.namespaced else "")
        paths[f"{prefix}/{r.plural}"] = {"post": _operation(r, "post"), "get": _operation(r, "list")}
        paths[f"{prefix}/{r.plural}/{{name}}"] = {
            "get": _operation(r, "get"), "put": _operation(r, "put"), "patch": _operation(r, "patch"),
            "delete": _operation(r, "delete")}
        for sub in r.subresources:
            paths[f"{prefix}/{r.plural}/{{name}}/{sub}"] = {
                "get": _operation(r, "get"), "put": _operation(r, "put"), "patch": _operation(r, "patch")}
    if not paths:
        return None
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"}, "paths": paths,
           "components": {"schemas": schemas}}
    if any(r.group == group and r.version == version for r in RESOURCES):   # a CRD in a built-in group-version
        builtin = json.loads(discovery.openapi_v3_group_version(group, version))
        builtin.setdefault("paths", {}).update(paths)
        known = builtin.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in schemas.items():   # the built-in document's own definitions (ObjectMeta) win
            known.setdefault(name, definition)
        doc = builtin
    return json.dumps(doc, separators=(",", ":"))


def add_to_index(index: dict) -> dict:
    """The `/openapi/v3` index with each CRD group-version added."""
    for group, versions in _groups().items():
        for version in versions:
            body = openapi_group_version(group, version)
            digest = hashlib.sha256((body or "").encode()).hexdigest()[:32].upper()
            index.setdefault("paths", {})[f"apis/{group}/{version}"] = {
                "serverRelativeURL": f"/openapi/v3/apis/{group}/{version}?hash={digest}"}
    return index


# ------------------------------------------------------------------------------------------------------- tables
_STEP = re.compile(r"""\.(?P<field>[A-Za-z0-9_-]+)|\[(?P<index>-?\d+|\*)\]|\['(?P<quoted>[^']*)'\]"""
                   r"""|\[\?\(@\.(?P<fpath>[A-Za-z0-9_.-]+)\s*(?P<fop>==|!=)\s*(?P<fval>"[^"]*"|'[^']*'|-?\d+)\)\]""")


def _parse_jsonpath(path: str) -> list[re.Match] | None:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not text.startswith("."):
        return None
    steps, pos = [], 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            return None
        steps.append(m)
        pos = m.end()
    return steps


def jsonpath_problem(path: str) -> str | None:
    """Why a printer column's JSONPath cannot be used (the subset real CRDs use), or None."""
    if not isinstance(path, str) or _parse_jsonpath(path) is None:
        return "must be a simple json path starting with . (fields, [n], [*], [?(@.field==\"value\")])"
    return None


def jsonpath_values(obj, path: str) -> list:
    """Every value `path` reaches in `obj`, in order (client-go's JSONPath on the subset above)."""
    values = [obj]
    for step in _parse_jsonpath(path) or ():
        nxt = []
        for v in values:
            if step["field"] is not None or step["quoted"] is not None:
                key = step["field"] if step["field"] is not None else step["quoted"]
                if isinstance(v, dict) and key in v:
                    nxt.append(v[key])
            elif step["index"] is not None:
                if isinstance(v, list):
                    if step["index"] == "*":
                        nxt.extend(v)
                    elif -len(v) <= int(step["index"]) < len(v):
                        nxt.append(v[int(step["index"])])
                elif isinstance(v, dict) and step["index"] == "*":
                    nxt.extend(v.values())
            elif isinstance(v, list):
                want = json.loads(step["fval"]) if step["fval"][0] != "'" else step["fval"][1:-1]
                for item in v:
                    got = jsonpath_values(item, "." + step["fpath"])
                    hit = bool(got) and got[0] == want
                    if hit == (step["fop"] == "=="):
                        nxt.append(item)
        values = nxt
    return values


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _cell(column: dict, obj: dict, now: datetime):
    found = jsonpath_values(obj, column["jsonPath"])
    if not found or found[0] is None:
        return None
    value, kind = found[0], column.get("type")
    if kind == "string":
        return _text(value)
    if kind == "date":
        return tables._since(value, now) if isinstance(value, str) else None
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    return None


def to_table(r: Resource, objects: list[dict], *, now: datetime, include_object: str = "Metadata",
             resource_version: str = "") -> dict:
    """A `Table` of custom objects (or of CRDs) with the columns the real server prints for them."""
    if r.key == crds.CRD_KEY:
        columns = [{"name": "Created At", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                    "description": "The time the resource was created", "raw": True}]
    else:
        kind = crds.kind_of(r)
        columns = kind.columns(r.version) if kind is not None else []
        if not columns:
            columns = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                        "description": tables.AGE.description}]
    table = tables.to_table("", objects, now=now, include_object=include_object, resource_version=resource_version)
    table["columnDefinitions"] = [tables.NAME.to_dict()] + [
        {"name": c["name"], "type": c["type"], "format": c.get("format", ""), "description": c.get("description", ""),
         "priority": c.get("priority", 0)} for c in columns]
    for row, obj in zip(table["rows"], objects):
        name = (obj.get("metadata") or {}).get("name", "")
        cells = []
        for c in columns:
            if c.get("raw"):
                cells.append((obj.get("metadata") or {}).get("creationTimestamp"))
            else:
                cells.append(_cell(c, obj, now))
        row["cells"] = [name, *cells]
    return table
