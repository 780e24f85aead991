"""CustomResourceDefinitions (`apiextensions.k8s.io/v1`): new kinds served generically, as apiextensions-apiserver does.

A CRD is an object like any other, with its own defaults and validation (`default_crd`, `validate_crd`: names
`<plural>.<group>`, exactly one storage version, a structural schema per version). Once stored, `establish` checks
its names against the other CRDs (condition `NamesAccepted`), registers its kind in `resources.py` in every served
version (condition `Established`), and from then on the API server routes, stores, lists and watches its objects as it
does Pods. Deleting a CRD deletes its objects first. A cluster restarted on its database serves its CRDs again
(`sync`, called when the API server is made).

What a CRD's schema does to the objects of its kind on the write path (`decode`, `admit_defaults`, `validate`):
unknown fields pruned (`fieldValidation`: Strict → 400, Warn → a warning, Ignore), `status` dropped on create when
the status subresource is on, schema defaults, then schema validation and CEL rules (`structural.py`, `cel.py`). Objects are
stored in the storage version and served in the version asked for (conversion strategy `None`: only `apiVersion`
changes). The `scale` subresource reads and writes the paths the CRD names.

Neighbours: `server.py` calls the hooks marked "CRD hook"; `crdviews.py` gives discovery, OpenAPI and tables.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery import resources
from ingresslab.cluster.apimachinery.errors import ApiError, Cause
from ingresslab.cluster.apimachinery.resources import Resource
from ingresslab.cluster.apiserver import cel
from ingresslab.cluster.apiserver import structural

CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
                "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
                "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                  "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                  "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
APPROVAL = "api-approved.kubernetes.io"
_APPROVAL_MISSING = (f'protected groups must have approval annotation "{APPROVAL}", see '
                     f'https://github.com/kubernetes/enhancements/pull/1111')
COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")
COLUMN_FORMATS = ("int32", "int64", "float", "double", "byte", "date", "date-time", "password", "name")


@dataclass(frozen=True)
class CustomKind:
    """One established CRD, as the write path and the views need it."""

    crd: dict

    @property
    def spec(self) -> dict:
        return self.crd.get("spec") or {}

    @property
    def names(self) -> dict:
        return self.spec.get("names") or {}

    def version(self, name: str) -> dict:
        for v in self.spec.get("versions") or ():
            if v.get("name") == name:
                return v
        return {}

    def schema(self, version: str) -> dict:
        return ((self.version(version).get("schema") or {}).get("openAPIV3Schema")) or {}

    def subresources(self, version: str) -> dict:
        return self.version(version).get("subresources") or {}

    def columns(self, version: str) -> list[dict]:
        return list(self.version(version).get("additionalPrinterColumns") or ())


_KINDS: dict[str, CustomKind] = {}   # store key (`crontabs.stable.example.com`) → its CRD


def kind_of(r: Resource) -> CustomKind | None:
    return _KINDS.get(r.key) if r.custom else None


def version_order(name: str) -> tuple:
    """Kubernetes' version priority: GA before beta before alpha, higher numbers first, then other names A→Z."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", name)
    if not m:
        return (3, 0, 0, name)
    rank = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (rank, -int(m.group(1)), -int(m.group(3) or 0), name)


# ------------------------------------------------------------------------------------------------ the CRD itself
def default_crd(crd: dict) -> dict:
    """apiextensions v1 defaults: singular and listKind from the kind, conversion strategy None."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return crd
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})
    return crd


def _names_errors(names: dict, path: str) -> list[Cause]:
    errs = []
    for field in ("plural", "singular"):
        value = names.get(field) or ""
        if not value and field == "plural":
            errs.append(Cause.required(f"{path}.plural"))
        elif value and not _DNS1035.match(value):
            errs.append(Cause.invalid(f"{path}.{field}", value, _DNS1035_MSG))
    kind = names.get("kind") or ""
    if not kind:
        errs.append(Cause.required(f"{path}.kind"))
    elif not _DNS1035.match(kind.lower()):
        errs.append(Cause.invalid(f"{path}.kind", kind, _DNS1035_MSG))
    list_kind = names.get("listKind") or ""
    if list_kind and not _DNS1035.match(list_kind.lower()):
        errs.append(Cause.invalid(f"{path}.listKind", list_kind, _DNS1035_MSG))
    if kind and list_kind and kind == list_kind:
        errs.append(Cause.invalid(f"{path}.listKind", list_kind, "kind and listKind may not be the same"))
    for field in ("shortNames", "categories"):
        for i, value in enumerate(names.get(field) or ()):
            if not isinstance(value, str) or not _DNS1035.match(value):
                errs.append(Cause.invalid(f"{path}.{field}[{i}]", value, _DNS1035_MSG))
    return errs


def _version_errors(spec: dict) -> list[Cause]:
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        return [Cause.required("spec.versions", "must have exactly one version marked as storage version")]
    errs: list[Cause] = []
    seen = set()
    for i, v in enumerate(versions):
        path = f"spec.versions[{i}]"
        name = v.get("name") or ""
        if not name:
            errs.append(Cause.required(f"{path}.name"))
        elif not _DNS1035.match(name):
            errs.append(Cause.invalid(f"{path}.name", name, _DNS1035_MSG))
        elif name in seen:
            errs.append(Cause.duplicate(f"{path}.name", name))
        seen.add(name)
        for flag in ("served", "storage"):
            if not isinstance(v.get(flag), bool):
                errs.append(Cause.required(f"{path}.{flag}"))
        top = (v.get("schema") or {}).get("openAPIV3Schema")
        if top is None:
            errs.append(Cause.required(f"{path}.schema.openAPIV3Schema", "schemas are required"))
        else:
            errs.extend(structural.structural_problems(top, f"{path}.schema.openAPIV3Schema"))
            errs.extend(cel.rule_problems(top, f"{path}.schema.openAPIV3Schema"))
        errs.extend(_subresource_errors(v.get("subresources") or {}, f"{path}.subresources"))
        errs.extend(_column_errors(v.get("additionalPrinterColumns") or [], f"{path}.additionalPrinterColumns"))
    storage = [v.get("name") for v in versions if v.get("storage") is True]
    names = [v.get("name") for v in versions]
    if len(storage) != 1:
        errs.append(Cause.invalid("spec.versions", names, "must have exactly one version marked as storage version"))
    if not any(v.get("served") is True for v in versions):
        errs.append(Cause.invalid("spec.versions", names, "must have at least one served version"))
    return errs


def _subresource_errors(sub: dict, path: str) -> list[Cause]:
    errs = []
    scale = sub.get("scale")
    if isinstance(scale, dict):
        for field, unders in (("specReplicasPath", (".spec",)), ("statusReplicasPath", (".status",)),
                              ("labelSelectorPath", (".spec", ".status"))):
            value = scale.get(field)
            if not value:
                if field != "labelSelectorPath":
                    errs.append(Cause.required(f"{path}.scale.{field}"))
                continue
            if not re.fullmatch(r"(\.[A-Za-z0-9_-]+){2,}", value) or not value.startswith(
                    tuple(u + "." for u in unders)):
                errs.append(Cause.invalid(f"{path}.scale.{field}", value,
                                          f"should be a json path under {' or '.join(unders)}"))
    return errs


def _column_errors(columns: list, path: str) -> list[Cause]:
    errs = []
    for i, c in enumerate(columns):
        p = f"{path}[{i}]"
        if not isinstance(c, dict):
            errs.append(Cause.invalid(p, c, "must be an object"))
            continue
        if not c.get("name"):
            errs.append(Cause.required(f"{p}.name"))
        if not c.get("type"):
            errs.append(Cause.required(f"{p}.type"))
        elif c["type"] not in COLUMN_TYPES:
            errs.append(Cause.not_supported(f"{p}.type", c["type"], COLUMN_TYPES))
        if c.get("format") and c["format"] not in COLUMN_FORMATS:
            errs.append(Cause.not_supported(f"{p}.format", c["format"], COLUMN_FORMATS))
        if isinstance(c.get("priority"), int) and c["priority"] < 0:
            errs.append(Cause.invalid(f"{p}.priority", c["priority"], "must be greater than or equal to 0"))
        jp = c.get("jsonPath")
        if not jp:
            errs.append(Cause.required(f"{p}.jsonPath"))
        else:
            from ingresslab.cluster.apiserver import crdviews
            problem = crdviews.jsonpath_problem(jp)
            if problem:
                errs.append(Cause.invalid(f"{p}.jsonPath", jp, problem))
    return errs


def validate_crd(crd: dict, old: dict | None) -> list[Cause]:
    """The field errors apiextensions validation answers a bad CRD with (after the generic metadata checks)."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [Cause.required("spec")]
    errs: list[Cause] = []
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    group = spec.get("group") or ""
    name = (crd.get("metadata") or {}).get("name") or ""
    if names.get("plural") and group and name != f"{names['plural']}.{group}":
        errs.append(Cause.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errs.append(Cause.required("spec.group"))
    elif not _DNS1123_SUBDOMAIN.match(group):
        errs.append(Cause.invalid("spec.group", group, _SUBDOMAIN_MSG))
    elif "." not in group:
        errs.append(Cause.invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        errs.append(Cause.required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(Cause.not_supported("spec.scope", scope, ("Cluster", "Namespaced")))
    errs.extend(_names_errors(names, "spec.names"))
    errs.extend(_version_errors(spec))
    strategy = (spec.get("conversion") or {}).get("strategy")
    if strategy not in ("None", "Webhook"):
        errs.append(Cause.not_supported("spec.conversion.strategy", strategy, ("None", "Webhook")))
    elif strategy == "Webhook":
        errs.append(Cause.forbidden("spec.conversion.strategy", "conversion webhooks are not available in this lab: "
                                    "use strategy None (versions whose schemas differ only in what they accept)"))
    if old is None and _protected(group):
        errs.extend(_approval_errors(crd))
    if old is not None:
        old_spec = old.get("spec") or {}
        for field in ("group", "scope"):
            if spec.get(field) != old_spec.get(field):
                errs.append(Cause.invalid(f"spec.{field}", spec.get(field), "field is immutable"))
        stored = ((old.get("status") or {}).get("storedVersions")) or []
        served_names = [v.get("name") for v in spec.get("versions") or () if isinstance(v, dict)]
        for i, v in enumerate(stored):
            if v not in served_names:
                errs.append(Cause.invalid(f"status.storedVersions[{i}]", v, "must appear in spec.versions"))
    return errs


def crd_warnings(crd: dict) -> list[str]:
    """Said plainly when a CRD is written: the CEL rules this lab will not evaluate (they use functions it lacks)."""
    out = []
    for v in (crd.get("spec") or {}).get("versions") or ():
        top = (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v, dict) else None
        for where in cel.unsupported_rules(top or {}):
            out.append(f"version {v.get('name')}: x-kubernetes-validations rule at {where} is not evaluated by "
                       f"this lab (it uses CEL functions the lab does not implement)")
    return out


def _protected(group: str) -> bool:
    """Groups of the Kubernetes community (`*.k8s.io`, `*.kubernetes.io`): a CRD there needs the approval mark."""
    return group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))


def _approval(crd: dict) -> tuple[str, str]:
    """(state, message) of the API approval annotation, as apiextensions' GetAPIApprovalState words it."""
    value = ((crd.get("metadata") or {}).get("annotations") or {}).get(APPROVAL)
    if value is None:
        return "missing", _APPROVAL_MISSING
    if value.startswith("unapproved"):
        return "bypassed", f'not approved: "{value}"'
    if re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        return "approved", f"approved in {value}"
    return "invalid", f'invalid approval annotation value "{value}", must be a URL or start with "unapproved"'


def _approval_errors(crd: dict) -> list[Cause]:
    state, message = _approval(crd)
    field = f"metadata.annotations[{APPROVAL}]"
    if state == "missing":
        return [Cause.required(field, message)]
    if state == "invalid":
        return [Cause.invalid(field, crd["metadata"]["annotations"][APPROVAL], message)]
    return []


# --------------------------------------------------------------------------------------------- establishing
def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, ok: bool, reason: str, message: str, old: list[dict]) -> dict:
    status = "True" if ok else "False"
    previous = next((c for c in old if c.get("type") == kind), None)
    since = previous["lastTransitionTime"] if previous and previous.get("status") == status else _now()
    return {"type": kind, "status": status, "lastTransitionTime": since, "reason": reason, "message": message}


def _name_conflict(crd: dict, store) -> tuple[str, str] | None:
    """(reason, message) when another CRD of the group already serves one of these names, else None."""
    spec = crd["spec"]
    names = spec.get("names") or {}
    for builtin in resources.RESOURCES:   # a built-in kind always wins; its objects are never a CRD's to delete
        if builtin.group == spec.get("group") and builtin.plural == names.get("plural"):
            return "PluralConflict", f'"{builtin.plural}" is already in use'
        if builtin.group == spec.get("group") and builtin.kind == names.get("kind"):
            return "KindConflict", f'"{builtin.kind}" is already in use'
    for other in store.iter_raw(CRD_KEY):
        if other["metadata"]["name"] == crd["metadata"]["name"]:
            continue
        ospec = other.get("spec") or {}
        if ospec.get("group") != spec.get("group"):
            continue
        taken = (other.get("status") or {}).get("acceptedNames") or {}
        if not taken:
            continue
        if names.get("plural") == taken.get("plural"):
            return "PluralConflict", f'"{names["plural"]}" is already in use'
        if names.get("singular") in (taken.get("singular"), taken.get("plural")):
            return "SingularConflict", f'"{names["singular"]}" is already in use'
        clash = set(names.get("shortNames") or ()) & set(taken.get("shortNames") or ())
        if clash:
            return "ShortNamesConflict", f'"{sorted(clash)[0]}" is already in use'
        if names.get("kind") == taken.get("kind"):
            return "KindConflict", f'"{names["kind"]}" is already in use'
        if names.get("listKind") == taken.get("listKind"):
            return "ListKindConflict", f'"{names["listKind"]}" is already in use'
    return None


def establish(store, crd: dict) -> dict:
    """Accept a stored CRD's names, serve its kind, and record both in its status (NamesAccepted, Established)."""
    status = copy.deepcopy(crd.get("status") or {})
    old_conditions = status.get("conditions") or []
    conflict = _name_conflict(crd, store)
    spec = crd["spec"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    if conflict is None:
        names = {k: v for k, v in (spec.get("names") or {}).items()}
        status["acceptedNames"] = names
        conditions = [_condition("NamesAccepted", True, "NoConflicts", "no conflicts found", old_conditions),
                      _condition("Established", True, "InitialNamesAccepted", "the initial names have been accepted",
                                 old_conditions)]
        _register(crd)
    else:
        status.setdefault("acceptedNames", {"plural": "", "kind": ""})
        conditions = [_condition("NamesAccepted", False, *conflict, old_conditions),
                      _condition("Established", False, "NotAccepted", "not all names are accepted", old_conditions)]
    if _protected(spec.get("group") or ""):
        state, message = _approval(crd)
        reason = {"approved": "ApprovedAnnotation", "bypassed": "UnapprovedAnnotation",
                  "missing": "MissingAnnotation"}.get(state, "InvalidAnnotation")
        conditions.append(_condition("KubernetesAPIApprovalPolicyConformant", state == "approved", reason, message,
                                     old_conditions))
    status["conditions"] = conditions
    stored = list(status.get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored
    if status == crd.get("status"):
        return crd
    updated = copy.deepcopy(crd)
    updated["status"] = status
    return store.update(CRD_KEY, updated, check_version=False)


def _register(crd: dict) -> None:
    spec = crd["spec"]
    names = spec["names"]
    served = sorted((v for v in spec["versions"] if v.get("served")), key=lambda v: version_order(v["name"]))
    storage_version = next(v for v in spec["versions"] if v.get("storage"))

    def resource(v: dict) -> Resource:
        subs = tuple(s for s in ("status", "scale") if s in (v.get("subresources") or {}))
        return Resource(spec["group"], v["name"], names["plural"], names["kind"],
                        namespaced=spec.get("scope") == "Namespaced", short_names=tuple(names.get("shortNames") or ()),
                        subresources=subs, custom=True, categories=tuple(names.get("categories") or ()))

    resources.register_custom(tuple(resource(v) for v in served), resource(storage_version))
    _KINDS[f"{names['plural']}.{spec['group']}"] = CustomKind(copy.deepcopy(crd))


def sync(store) -> None:
    """Serve the kinds of every established CRD in `store` (and nothing else): at API server start."""
    for key in list(_KINDS):
        resources.unregister_custom(key)
        del _KINDS[key]
    for crd in store.list(CRD_KEY):
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            _register(crd)


def remove(store, name: str) -> None:
    """Before a CRD goes: delete every object of its kind (in one transaction), then stop serving it."""
    crd = store.get(CRD_KEY, "", name)
    if crd is None:
        return
    key = f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"
    if key not in _KINDS:
        return
    with store.batch():
        for obj in store.list(key):
            meta = obj["metadata"]
            if store.get(key, meta.get("namespace") or "", meta["name"]) is not None:
                store.delete(key, meta.get("namespace") or "", meta["name"])
    resources.unregister_custom(key)
    del _KINDS[key]


# --------------------------------------------------------------------------------------- the kind's objects
def decode(r: Resource, obj: dict, field_validation: str) -> list[str]:
    """Prune what the version's schema does not declare; Strict → 400, Warn (the default) → warnings."""
    kind = kind_of(r)
    if kind is None:
        return []
    unknown = structural.prune(kind.schema(r.version), obj)
    if not unknown:
        return []
    texts = [f'unknown field "{path}"' for path in unknown]
    if field_validation == "Strict":
        raise errors.bad_request(f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: strict '
                                 f'decoding error: {", ".join(texts)}')
    if field_validation == "Ignore":
        return []
    return texts


def admit_defaults(r: Resource, op: str, obj: dict) -> dict:
    """Schema defaults, and on create no `status` when the status subresource owns it."""
    kind = kind_of(r)
    if kind is None:
        return obj
    if op == "CREATE" and "status" in r.subresources:
        obj.pop("status", None)
    structural.apply_defaults(kind.schema(r.version), obj)
    return obj


def validate(r: Resource, obj: dict, old: dict | None) -> list[Cause]:
    kind = kind_of(r)
    if kind is None:
        return []
    return structural.validate(kind.schema(r.version), obj, old=old, cel=cel.check)


def present(r: Resource, obj: dict) -> dict:
    """A stored object as the version `r` serves it (conversion strategy None: only apiVersion changes)."""
    if obj.get("apiVersion") != r.api_version:
        obj = dict(obj)
        obj["apiVersion"] = r.api_version
    return obj


def strategic_merge_refused(r: Resource) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                    "types include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml")


# ---------------------------------------------------------------------------------------------------- scale
def _at(obj: dict, path: str):
    value = obj
    for part in path.strip(".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def scale_of(r: Resource, obj: dict) -> dict:
    scale = kind_of(r).subresources(r.version).get("scale") or {}
    meta = obj["metadata"]
    replicas = _at(obj, scale.get("specReplicasPath", ".spec.replicas"))
    status = {"replicas": _at(obj, scale.get("statusReplicasPath", ".status.replicas")) or 0}
    selector = _at(obj, scale["labelSelectorPath"]) if scale.get("labelSelectorPath") else None
    if isinstance(selector, str):
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
            "spec": {"replicas": replicas if isinstance(replicas, int) else 0}, "status": status}


def set_replicas(r: Resource, obj: dict, replicas: int) -> dict:
    path = ((kind_of(r).subresources(r.version).get("scale") or {}).get("specReplicasPath") or ".spec.replicas")
    parts = path.strip(".").split(".")
    target = obj
    for part in parts[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[parts[-1]] = replicas
    return obj
