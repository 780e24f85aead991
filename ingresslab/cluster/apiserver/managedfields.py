"""Field ownership (`metadata.managedFields`) and server-side apply, as kube-apiserver's field manager keeps them.

Every write through the API records which manager set which fields, as FieldsV1 (`{"f:spec":{"f:replicas":{}}}`,
list items by merge key `k:{"name":"web"}`, set members `v:"x"`, a `"."` when a map or item is itself owned):

    create / update / patch   the manager (the `fieldManager` parameter, else the User-Agent up to its first `/`)
                              takes the fields its write added or changed (operation Update); others lose them
    apply (server-side)       the manager owns exactly the fields of its applied configuration (operation Apply);
                              fields it applied before and no longer applies are removed unless someone else owns
                              them; changing a field another manager owns is a conflict (409, one cause per field,
                              worded as kubectl expects) unless `force=true`, which takes the field over

Which dicts are structs and which are maps, and which lists merge by which key, comes from the kind's schema
(`schemas.py`, whose list keys are `patch.MERGE_KEYS`). Identity fields (apiVersion, kind, name, namespace, uid, …)
are never owned; the main resource never owns status, the status subresource owns only status.

Neighbours: `server.py` (calls `record` on every write, `apply` for `application/apply-patch+yaml`), `schemas.py`.
"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.errors import ApiError, Cause
from ingresslab.cluster.apiserver.schemas import registry

Path = tuple[str, ...]
_STRIPPED_META = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                  "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}
MAX_MANAGER = 128


def manager_from(field_manager: str | None, user_agent: str) -> str:
    if field_manager:
        if len(field_manager) > MAX_MANAGER:
            raise errors.invalid("PatchOptions", "", [Cause.invalid("fieldManager", field_manager,
                                 f"must be less than or equal to {MAX_MANAGER} characters")], "meta.k8s.io")
        return field_manager
    return (user_agent or "unknown").split("/", 1)[0] or "unknown"


# ------------------------------------------------------------------------------------------------ field sets
def fieldset(group: str, version: str, kind: str, obj: dict, *, subresource: str | None = None) -> dict[Path, bool]:
    """Every owned path of `obj` → whether it is a leaf (a value compared for conflicts) or a container member."""
    root = registry().root(group, version, kind)
    out: dict[Path, bool] = {}
    if root is None or not isinstance(obj, dict):
        return out
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or value is None:
            continue
        if _status_side(subresource) != (key == "status"):
            continue
        schema = (registry().resolve(root).get("properties") or {}).get(key, {})
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _STRIPPED_META}
            if not value:
                continue
        _walk(value, schema, (f"f:{key}",), out)
    return out


def _walk(value, schema: dict, path: Path, out: dict[Path, bool]) -> None:
    s = registry().resolve(schema)
    if isinstance(value, dict):
        props, extra = s.get("properties"), s.get("additionalProperties")
        if props is not None and value:
            for k, v in value.items():
                if v is not None:
                    _walk(v, props.get(k, {}), path + (f"f:{k}",), out)
        elif isinstance(extra, dict) and value:
            out[path] = False
            for k, v in value.items():
                if v is not None:
                    _walk(v, extra, path + (f"f:{k}",), out)
        else:
            out[path] = True
    elif isinstance(value, list) and s.get("x-kubernetes-list-type") == "map" and s.get("x-kubernetes-patch-merge-key"):
        key = s["x-kubernetes-patch-merge-key"]
        for item in value:
            if isinstance(item, dict) and key in item:
                item_path = path + ("k:" + json.dumps({key: item[key]}, separators=(",", ":")),)
                out[item_path] = False
                _walk(item, s.get("items") or {}, item_path, out)
    elif isinstance(value, list) and s.get("x-kubernetes-list-type") == "set":
        out[path] = False
        for item in value:
            out[path + ("v:" + json.dumps(item, separators=(",", ":")),)] = True
    else:
        out[path] = True


def to_fields_v1(paths) -> dict:
    tree: dict = {}
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:       # a member that also has children is marked with "."
        node = tree
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return tree


def from_fields_v1(tree: dict, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for element, child in (tree or {}).items():
        if element == ".":
            out.add(prefix)
            continue
        if not child:
            out.add(prefix + (element,))
        else:
            out |= from_fields_v1(child, prefix + (element,))
    return out


def path_string(path: Path) -> str:
    """`.spec.template.spec.containers[name="web"].image`, as structured-merge-diff prints a path."""
    parts = []
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            parts.append("." + rest)
        elif kind == "k":
            keys = json.loads(rest)
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        else:
            parts.append(f"[={rest}]")
    return "".join(parts)


_MISSING = object()


def _step(container, element: str):
    kind, _, rest = element.partition(":")
    if kind == "f":
        return container.get(rest, _MISSING) if isinstance(container, dict) else _MISSING
    if not isinstance(container, list):
        return _MISSING
    if kind == "k":
        (key, wanted), = json.loads(rest).items()
        return next((i for i in container if isinstance(i, dict) and i.get(key) == wanted), _MISSING)
    wanted = json.loads(rest)
    return next((i for i in container if i == wanted), _MISSING)


def value_at(obj, path: Path):
    for element in path:
        obj = _step(obj, element)
        if obj is _MISSING:
            return _MISSING
    return obj


def remove_at(obj, path: Path) -> None:
    parent = value_at(obj, path[:-1])
    if parent is _MISSING:
        return
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif isinstance(parent, list):
        item = _step(parent, path[-1])
        if item is not _MISSING:
            parent.remove(item)


# ------------------------------------------------------------------------------------------------ entries
def _identity(entry: dict) -> tuple:
    api_version = "" if entry.get("operation") == "Apply" else entry.get("apiVersion", "")
    return entry.get("manager", ""), entry.get("operation", ""), api_version, entry.get("subresource", "")


def _status_side(subresource: str | None) -> bool:
    """Status writes own status fields; writes to the object or its scale subresource own the rest."""
    return subresource == "status"


def _describe(entry: dict) -> str:
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f' with subresource {json.dumps(entry["subresource"])}'
    if entry.get("operation") == "Update":
        text += f' using {entry.get("apiVersion", "")}'
    return text


def _entries(obj: dict | None) -> list[dict]:
    found = ((obj or {}).get("metadata") or {}).get("managedFields")
    return [copy.deepcopy(e) for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _store_entries(obj: dict, entries: list[tuple[dict, set[Path]]]) -> None:
    kept = []
    for entry, paths in entries:
        if not paths:
            continue
        entry = {k: v for k, v in entry.items() if k not in ("fieldsV1", "fieldsType")}
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = to_fields_v1(paths)
        kept.append(entry)
    if kept:
        obj.setdefault("metadata", {})["managedFields"] = kept
    else:
        obj.setdefault("metadata", {}).pop("managedFields", None)


def record(group: str, version: str, kind: str, old: dict | None, new: dict, manager: str, *,
           subresource: str | None = None) -> dict:
    """`new` with managedFields updated for a non-apply write by `manager` (a copy)."""
    new = copy.deepcopy(new)
    before = fieldset(group, version, kind, old or {}, subresource=subresource)
    after = fieldset(group, version, kind, new, subresource=subresource)
    changed = {p for p, leaf in after.items()
               if p not in before or (leaf and value_at(old, p) != value_at(new, p))}
    removed = set(before) - set(after)
    me = {"manager": manager, "operation": "Update", "apiVersion": f"{group}/{version}" if group else version}
    if subresource:
        me["subresource"] = subresource
    entries, mine = [], False
    for entry in _entries(old):     # the order is kept: a write that changes nothing leaves managedFields alone
        paths = from_fields_v1(entry.get("fieldsV1") or {}) - removed
        if _identity(entry) == _identity(me):
            mine = True
            if changed:
                entry = dict(entry, time=_now())
            paths |= changed
        elif _status_side(entry.get("subresource")) == _status_side(subresource):
            paths -= changed
        entries.append((entry, paths))
    if changed and not mine:
        entries.append((dict(me, time=_now()), changed))
    _store_entries(new, entries)
    return new


# ------------------------------------------------------------------------------------------------ apply
def conflict_error(conflicts: list[tuple[dict, Path]], kind: str, name: str, group: str) -> ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {_describe(e)}",
               "field": path_string(p)} for e, p in conflicts]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_describe(entry)}: {path_string(path)}"
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(_describe(entry), []).append(path_string(path))
        lines = []
        for who in sorted(by_manager):
            lines.append(f"conflicts with {who}:")
            lines.extend(f"- {p}" for p in by_manager[who])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    details = {"name": name, "kind": kind, "causes": causes}
    if group:
        details["group"] = group
    return ApiError(409, "Conflict", message, details)


def _merge(live, applied, schema: dict):
    s = registry().resolve(schema)
    if isinstance(live, dict) and isinstance(applied, dict) and (s.get("properties") is not None
                                                                  or isinstance(s.get("additionalProperties"), dict)):
        out = copy.deepcopy(live)
        props, extra = s.get("properties") or {}, s.get("additionalProperties")
        for k, v in applied.items():
            inner = props.get(k) if k in props else (extra if isinstance(extra, dict) else {})
            out[k] = _merge(live.get(k), v, inner or {}) if k in live else copy.deepcopy(v)
        return out
    key = s.get("x-kubernetes-patch-merge-key")
    if isinstance(live, list) and isinstance(applied, list) and s.get("x-kubernetes-list-type") == "map" and key:
        out = copy.deepcopy(live)
        for item in applied:
            if not isinstance(item, dict):
                continue
            at = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item.get(key)), None)
            if at is None:
                out.append(copy.deepcopy(item))
            else:
                out[at] = _merge(out[at], item, s.get("items") or {})
        return out
    if isinstance(live, list) and isinstance(applied, list) and s.get("x-kubernetes-list-type") == "set":
        return copy.deepcopy(live) + [copy.deepcopy(x) for x in applied if x not in live]
    return copy.deepcopy(applied)


def apply(group: str, version: str, kind: str, live: dict | None, applied: dict, manager: str, *,
          force: bool, name: str) -> dict:
    """The object server-side apply makes of `applied` on `live` (None: it does not exist yet), managedFields
    included. Raises the 409 a real server answers when another manager owns a field the applier changes."""
    root = registry().root(group, version, kind) or {}
    mine_now = fieldset(group, version, kind, applied)
    me = {"manager": manager, "operation": "Apply", "apiVersion": f"{group}/{version}" if group else version}
    others, previous = [], set()
    for entry in _entries(live):
        paths = from_fields_v1(entry.get("fieldsV1") or {})
        if _identity(entry) == _identity(me):
            previous = paths
        else:
            others.append((entry, paths))
    base = live or {}
    conflicts = [(entry, p) for p, leaf in mine_now.items() if leaf and value_at(base, p) is not _MISSING
                 and value_at(base, p) != value_at(applied, p)
                 for entry, paths in others if p in paths and not _status_side(entry.get("subresource"))]
    if conflicts and not force:
        raise conflict_error(conflicts, kind, name, group)
    taken = {p for _, p in conflicts}
    result = _merge(copy.deepcopy(base), applied, root) if base else copy.deepcopy(applied)
    owned_by_others = set().union(*(paths for _, paths in others)) if others else set()
    for path in sorted(previous - set(mine_now) - owned_by_others, key=len, reverse=True):
        remove_at(result, path)
    entries = [(entry, paths - taken) for entry, paths in others]
    entry = dict(me, time=_now())
    entries.append((entry, set(mine_now)))
    _store_entries(result, entries)
    return result
