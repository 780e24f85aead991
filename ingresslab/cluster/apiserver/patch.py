"""The three PATCH bodies Kubernetes accepts, applied to plain JSON dicts: merge, JSON and strategic merge patch.

The API's PATCH handler (`api.py`) picks one by Content-Type (`application/merge-patch+json`,
`application/json-patch+json`, `application/strategic-merge-patch+json`), calls it on the stored object and hands the
result to validation and the store. Everything here is pure: inputs are never mutated, a new dict is returned,
failures raise `ApiError` (errors.py).

Strategic merge patch follows apimachinery's `strategicpatch` as the server applies it (with the parallel-list
directives merged): which lists merge by which key is the declarative `MERGE_KEYS` table below, keyed by resource
(resources.py `Resource.key`) and by dotted field path, list levels left out (`spec.containers.ports`).
"""
from __future__ import annotations

import copy
import re

from ingresslab.cluster.apimachinery.errors import ApiError, bad_request

# ---------------------------------------------------------------------------------------------------- merge-key table
SCALARS = None  # a `patchStrategy: merge` list of primitives: union on patch, `$deleteFromPrimitiveList` removes.
# A path absent from the table is an atomic list: the patch's list replaces the live one wholesale.


def _under(prefix: str, table: dict[str, str | None]) -> dict[str, str | None]:
    return {f"{prefix}.{path}": key for path, key in table.items()}


_CONTAINER = {"ports": "containerPort", "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath"}
_POD_SPEC = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    **_under("containers", _CONTAINER), **_under("initContainers", _CONTAINER),
    **_under("ephemeralContainers", _CONTAINER),
    "volumes": "name", "imagePullSecrets": "name", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
    "schedulingGates": "name", "resourceClaims": "name",
}
_METADATA = {"ownerReferences": "uid", "finalizers": SCALARS}
_CONDITIONS = {"status.conditions": "type"}
_POD_TEMPLATE = {**_under("spec.template.metadata", _METADATA), **_under("spec.template.spec", _POD_SPEC)}

COMMON_MERGE_KEYS: dict[str, str | None] = _under("metadata", _METADATA)
MERGE_KEYS: dict[str, dict[str, str | None]] = {
    "pods": {**_under("spec", _POD_SPEC), **_CONDITIONS, "status.podIPs": "ip", "status.hostIPs": "ip",
             "status.resourceClaimStatuses": "name"},
    "deployments.apps": {**_POD_TEMPLATE, **_CONDITIONS},
    "replicasets.apps": {**_POD_TEMPLATE, **_CONDITIONS},
    "services": {"spec.ports": "port", **_CONDITIONS},
    "namespaces": {**_CONDITIONS},
    "nodes": {"spec.podCIDRs": SCALARS, "status.addresses": "type", **_CONDITIONS},
    # ingresses (rules, paths, tls, status), endpointslices, endpoints, configmaps, secrets, events, ingressclasses:
    # every list is atomic, so they need no entry.
}


def merge_keys_for(resource_key: str) -> dict[str, str | None]:
    return {**COMMON_MERGE_KEYS, **MERGE_KEYS.get(resource_key, {})}


# -------------------------------------------------------------------------------------------------------- merge patch
def apply_merge_patch(obj: dict, patch: dict) -> dict:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        raise bad_request("a merge patch body must be a JSON object")
    return _merge(obj, patch)


def _merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


# --------------------------------------------------------------------------------------------------------- JSON patch
_MISSING = object()


def apply_json_patch(obj: dict, ops: list) -> dict:
    """RFC 6902 (add, remove, replace, move, copy, test); all or nothing: a failing op leaves `obj` as it was.

    A malformed document or op is 400 BadRequest; an op that cannot apply (failed test, missing path) is 422 Invalid.
    """
    if not isinstance(ops, list):
        raise bad_request("a JSON patch body must be a JSON array of operations")
    doc = copy.deepcopy(obj)
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise bad_request(f"JSON patch operation {n} has no \"op\" string: {op!r}")
        name = op["op"]
        if name not in ("add", "remove", "replace", "move", "copy", "test"):
            raise bad_request(f"unknown JSON patch operation {name!r}")
        path = _pointer(op.get("path", _MISSING), "path", name)
        if name in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"JSON patch operation {name!r} on {op['path']!r} needs a \"value\"")
        source = _pointer(op.get("from", _MISSING), "from", name) if name in ("move", "copy") else []
        value = copy.deepcopy(op.get("value"))
        if name == "add":
            doc = _add(doc, path, value, op["path"])
        elif name == "remove":
            doc, _ = _remove(doc, path, op["path"])
        elif name == "replace":
            _get(doc, path, op["path"], "replace")
            doc = _replace(doc, path, value, op["path"])
        elif name == "move":
            if len(path) > len(source) and path[:len(source)] == source:
                raise _unprocessable(f"cannot move {op['from']!r} into its own child {op['path']!r}")
            doc, moved = _remove(doc, source, op["from"])
            doc = _add(doc, path, moved, op["path"])
        elif name == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, source, op["from"], "copy")), op["path"])
        elif not json_equal(_get(doc, path, op["path"], "test"), value):
            raise _unprocessable(f"test operation failed: the value at {op['path']!r} is not {value!r}")
    return doc


def _unprocessable(detail: str) -> ApiError:
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {detail}")


def _pointer(text, member: str, op: str) -> list[str]:
    if text is _MISSING or not isinstance(text, str):
        raise bad_request(f"JSON patch operation {op!r} needs a {member!r} string")
    if text == "":
        return []
    if not text.startswith("/") or re.search(r"~([^01]|$)", text):
        raise bad_request(f"{text!r} is not a valid JSON pointer")
    return [t.replace("~1", "/").replace("~0", "~") for t in text[1:].split("/")]


def _index(token: str, size: int, path: str) -> int:
    if not re.fullmatch(r"0|[1-9][0-9]*", token) or int(token) >= size:
        raise _unprocessable(f"{path!r} does not exist: no array index {token!r}")
    return int(token)


def _get(doc, tokens: list[str], path: str, op: str = ""):
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(token, len(doc), path)]
        else:
            raise _unprocessable(f"{op} operation does not apply: {path!r} does not exist")
    return doc


def _add(doc, tokens: list[str], value, path: str):
    if not tokens:
        return value
    parent, last = _get(doc, tokens[:-1], path, "add"), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(len(parent) if last == "-" else _index(last, len(parent) + 1, path), value)
    else:
        raise _unprocessable(f"add operation does not apply: the parent of {path!r} is not an object or array")
    return doc


def _replace(doc, tokens: list[str], value, path: str):
    if not tokens:
        return value
    parent, last = _get(doc, tokens[:-1], path, "replace"), tokens[-1]
    parent[_index(last, len(parent), path) if isinstance(parent, list) else last] = value
    return doc


def _remove(doc, tokens: list[str], path: str):
    if not tokens:
        raise _unprocessable("cannot remove the whole document")
    parent, last = _get(doc, tokens[:-1], path, "remove"), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), path))
    raise _unprocessable(f"remove operation does not apply: {path!r} does not exist")


def json_equal(a, b) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 (Python's == says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# ------------------------------------------------------------------------------------------- strategic merge patch
_PATCH, _ORDER, _DELETE_FROM, _RETAIN = "$patch", "$setElementOrder/", "$deleteFromPrimitiveList/", "$retainKeys"


def apply_strategic_merge_patch(obj: dict, patch: dict, resource_key: str) -> dict:
    """Kubernetes strategic merge patch for the kind stored under `resource_key` (`pods`, `deployments.apps`, ...)."""
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch body must be a JSON object")
    return _Strategic(merge_keys_for(resource_key)).merge_map(copy.deepcopy(obj), copy.deepcopy(patch), "")


class _Strategic:
    def __init__(self, keys: dict[str, str | None]):
        self.keys = keys

    def merge_map(self, live, patch: dict, path: str) -> dict:
        live = live if isinstance(live, dict) else {}
        if _PATCH in patch:
            directive = patch.pop(_PATCH)
            if directive == "replace":
                return self.merge_map({}, patch, path)
            if directive == "delete":
                return {}
            if directive != "merge":  # apimachinery rejects an explicit "merge"; here it just means the default
                raise bad_request(f"unknown patch type: {directive!r} in map: {patch}")
        if _RETAIN in patch:
            retain = patch.pop(_RETAIN)
            if not isinstance(retain, list) or any(
                    v is not None and not k.startswith("$") and k not in retain for k, v in patch.items()):
                raise bad_request(f"invalid patch format of retainKeys at {path or '.'}: "
                                  f"$retainKeys must list every field the patch sets")
            live = {k: v for k, v in live.items() if k in retain}
        for directive in [k for k in patch if k.startswith(_ORDER)]:
            self._set_order(live, patch, directive[len(_ORDER):], patch.pop(directive), path)
        deletions = []
        for key, value in patch.items():
            if key.startswith(_DELETE_FROM):
                deletions.append((key[len(_DELETE_FROM):], value))
            elif key.startswith("$"):
                raise bad_request(f"unknown strategic merge patch directive {key!r}")
            elif value is None:
                live.pop(key, None)
            elif isinstance(value, dict):
                live[key] = self.merge_map(live.get(key), value, _join(path, key))
            elif isinstance(value, list):
                live[key] = self.merge_list(live.get(key), value, _join(path, key))
            else:
                live[key] = value
        for field, values in deletions:
            if not field or not isinstance(values, list):
                raise bad_request(f"invalid patch format of primitive list {_DELETE_FROM}{field}")
            if isinstance(live.get(field), list):
                live[field] = [x for x in live[field] if not any(json_equal(x, v) for v in values)]
        return live

    def merge_list(self, live, patch: list, path: str) -> list:
        live = live if isinstance(live, list) else []
        if path not in self.keys:  # atomic list: the patch's list is the new list (directive items dropped)
            return [self._clean(x, path) for x in patch if not (isinstance(x, dict) and _PATCH in x)]
        key, kinds = self.keys[path], {isinstance(x, dict) for x in live + patch}
        if len(kinds) > 1:
            raise bad_request(f"the items of {path} must be all objects or all primitives")
        if key is None or kinds == {False}:  # primitives: union, patch items first (apimachinery's order)
            both = live + patch
            merged = [x for i, x in enumerate(both) if not _contains(both[:i], x, None)]
            return _normalize(merged, patch, live, None)
        plain = []
        for item in patch:
            directive = item.get(_PATCH, "merge")
            if directive == "delete":
                if key not in item:
                    raise bad_request(f"map: {item} does not contain declared merge key: {key}")
                live = [x for x in live if not json_equal(x.get(key), item[key])]
            elif directive == "replace":  # a `{"$patch": "replace"}` marker: the other items are the whole list
                return [self._clean(x, path) for x in patch if _PATCH not in x]
            elif directive != "merge":
                raise bad_request(f"unknown patch type: {directive!r} in map: {item}")
            elif set(item) - {_PATCH}:
                plain.append({k: v for k, v in item.items() if k != _PATCH})
        merged = list(live)
        for item in plain:
            if key not in item:
                raise bad_request(f"map: {item} does not contain declared merge key: {key}")
            at = next((i for i, x in enumerate(merged) if json_equal(x.get(key), item[key])), None)
            if at is None:
                merged.append(self.merge_map({}, item, path))
            else:
                merged[at] = self.merge_map(merged[at], item, path)
        return _normalize(merged, plain, live, key)

    def _set_order(self, live: dict, patch: dict, field: str, order, path: str) -> None:
        """`$setElementOrder/<field>`: merge `field`, then order it as listed (unlisted live items: see _normalize)."""
        sub = _join(path, field)
        if not field or not isinstance(order, list):
            raise bad_request(f"invalid patch format of setElementOrder list {_ORDER}{field}")
        if sub not in self.keys:  # atomic list: nothing to order, the list in the patch (if any) replaces
            return
        key = self.keys[sub]
        if key is not None and not all(isinstance(x, dict) and key in x for x in order):
            raise bad_request(f"every item of {_ORDER}{field} needs the merge key {key!r}")
        before = live.get(field) if isinstance(live.get(field), list) else []
        if field in patch:
            changes = patch.pop(field)
            if not isinstance(changes, list):
                raise bad_request(f"{sub} must be a list")
            rest = iter(order)  # patch items (directives aside) must be a subsequence of the order list
            if order and not all(any(_same(x, o, key) for o in rest)
                                 for x in changes if not isinstance(x, dict) or _PATCH not in x):
                raise bad_request(f"invalid patch format of setElementOrder list: the items of {sub} are not "
                                  f"all in {_ORDER}{field}, in that order")
            merged = self.merge_list(before, changes, sub)
        elif isinstance(live.get(field), list):
            merged = before
        else:
            return
        live[field] = _normalize(merged, order, before, key)

    def _clean(self, value, path: str):
        return self.merge_map({}, value, path) if isinstance(value, dict) else value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _same(a, b, key: str | None) -> bool:
    if key is None:
        return json_equal(a, b)
    return isinstance(a, dict) and isinstance(b, dict) and key in a and json_equal(a[key], b.get(key))


def _contains(items: list, x, key: str | None) -> bool:
    return any(_same(x, y, key) for y in items)


def _rank(items: list, key: str | None):
    """Sort key: position in `items`; items not found go last, in the order they came."""
    return lambda x: next((i for i, y in enumerate(items) if _same(x, y, key)), len(items))


def _normalize(merged: list, wanted: list, live: list, key: str | None) -> list:
    """Order a merged list as apimachinery does: items named in `wanted` in that order, the others in `live` order,
    each other item slotted in just before the first named item that came after it in `live`."""
    named = sorted((x for x in merged if _contains(wanted, x, key)), key=_rank(wanted, key))
    others = sorted((x for x in merged if not _contains(wanted, x, key)), key=_rank(live, key))
    in_live, result, i = _rank(live, key), [], 0
    for item in named:
        while i < len(others) and in_live(others[i]) < in_live(item) < len(live):
            result.append(others[i])
            i += 1
        result.append(item)
    return result + others[i:]
