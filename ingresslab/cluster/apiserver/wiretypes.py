"""Decode-time checks on a request body: field types, nesting depth and YAML alias expansion — each a 400, as
kube-apiserver's decoder answers, before defaults, validation, the store or any controller sees the object.

A real API server decodes a body into Go structs: `"replicas": "two"` fails there with "json: cannot unmarshal string
into Go struct field DeploymentSpec.spec.replicas of type int32" and never reaches validation. The lab keeps objects
as JSON, so without this check a wrong type would crash validation code (a 500) or be stored and break a controller.
The field types come from the official client's models (`kubernetes.client.V1Deployment.openapi_types`), which are
generated from Kubernetes' OpenAPI: one schema, not a hand-written copy. `scripts/wiretypes.py` walks them into
`wiretypes.json` (checked against the installed client by the tests), so the lab process never imports the models:
that import costs about 0.3 s of CPU, and the first write of `ingresslab up` used to pay it. Unknown fields are not
checked (the API keeps or drops them); `object` fields (IntOrString, raw extensions) take any JSON value.

Neighbours: `api.py` calls `decode` when it decodes a write and `too_complex` on every parsed body.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

MAX_DEPTH = 100
"""Deeper documents are refused: no Kubernetes object nests this deep, and Python's own recursion (copying,
encoding) would fail on them."""

_LIST = re.compile(r"(?:List\[|list\[)(.+)\]")
_DICT = re.compile(r"(?:Dict\[str, ?|dict\(str, ?)(.+)[\])]")
_GO_TYPES = {"int": "int64", "str": "string", "bool": "bool", "float": "float64", "datetime": "Time", "date": "Time"}
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64_FIELDS = frozenset({
    "generation", "observedGeneration", "deletionGracePeriodSeconds", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups", "tolerationSeconds",
    "expirationSeconds", "gracePeriodSeconds"})
"""The integer fields Go declares int64 in the kinds served; every other integer is an int32 there (the client's
models say only `int`, so Go's error message needs this list to name the type right)."""


def _int_type(path: str) -> tuple[str, tuple[int, int]]:
    return ("int64", _INT64) if path.rsplit(".", 1)[-1] in INT64_FIELDS else ("int32", _INT32)


TABLE_PATH = Path(__file__).with_name("wiretypes.json")


@lru_cache(maxsize=None)
def _table() -> dict:
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))


def element_type(type_name: str) -> str:
    """`list[V1Container]` → `V1Container`, `Dict[str, V1Foo]` → `V1Foo`, a plain name → itself."""
    while (m := _LIST.fullmatch(type_name) or _DICT.fullmatch(type_name)) is not None:
        type_name = m.group(1)
    return type_name


def _model(kind: str, version: str) -> str | None:
    """The client's type name for a served kind (`V1Deployment`, `CoreV1Event`), None for kinds the client lacks
    (extensions/v1beta1 Ingress: those bodies are checked after conversion, by validation)."""
    return _table()["kinds"].get(f"{version}/{kind}")


def _json_type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


def _go(type_name: str) -> str:
    """The Go name of a client type: `V1DeploymentSpec` → `DeploymentSpec`, `str` → `string`."""
    return _GO_TYPES.get(type_name) or re.sub(r"^(?:Core|Apps|Networking|Discovery)?V\d+(?:(?:alpha|beta)\d+)?", "",
                                              type_name)


def decode(kind: str, version: str, obj: dict) -> str | None:
    """Go's decode error for the first field of `obj` whose JSON type its kind does not allow, else None.

    As Go's decoder does, a `null` inside a list or map of structs or strings becomes that type's zero value (`{}`,
    `""`, `0`, `false`) — in place — so later code never meets a None where an object or string belongs; a null
    `metadata` becomes `{}`.
    """
    model = _model(kind, version)
    if model is None:
        return None
    if "metadata" in obj and obj["metadata"] is None:
        obj["metadata"] = {}
    return _check(obj, model, "", kind)


_ZERO = {"str": "", "int": 0, "float": 0.0, "bool": False, "datetime": None, "date": None, "object": None}


def _zero(type_name: str):
    if type_name in _ZERO:
        return _ZERO[type_name]
    return [] if _LIST.fullmatch(type_name) else {}


def _fill_nulls(container, type_name: str) -> None:
    keys = range(len(container)) if isinstance(container, list) else list(container)
    for key in keys:
        if container[key] is None:
            container[key] = _zero(type_name)


def _check(value, type_name: str, path: str, struct: str) -> str | None:
    if value is None:   # JSON null decodes to the zero value
        return None
    where = f"Go struct field {struct}.{path.lstrip('.')}" if path else f"Go value of type {struct}"

    def fail(go_type: str) -> str:
        return f"json: cannot unmarshal {_json_type(value)} into {where} of type {go_type}"

    if (m := _LIST.fullmatch(type_name)) is not None:
        if not isinstance(value, list):
            return fail("[]" + (_int_type(path)[0] if m.group(1) == "int" else _go(m.group(1))))
        _fill_nulls(value, m.group(1))
        return next(filter(None, (_check(v, m.group(1), path, struct) for v in value)), None)
    if (m := _DICT.fullmatch(type_name)) is not None:
        if not isinstance(value, dict):
            return fail("map[string]" + _go(m.group(1)))
        _fill_nulls(value, m.group(1))
        return next(filter(None, (_check(v, m.group(1), path, struct) for v in value.values())), None)
    if type_name == "object":
        return None
    if type_name == "int":
        go_type, (low, high) = _int_type(path)
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else fail(go_type)
    if type_name == "float":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else fail("float64")
    if type_name == "bool":
        return None if isinstance(value, bool) else fail("bool")
    if type_name in ("str", "datetime", "date"):
        return None if isinstance(value, str) else fail(_GO_TYPES[type_name])
    fields = _table()["types"].get(type_name)
    if fields is None:
        return None
    go_name = _go(type_name)
    if not isinstance(value, dict):
        return fail(go_name)
    for key, sub_type in fields.items():
        if key in value:
            problem = _check(value[key], sub_type, f"{path}.{key}", go_name)
            if problem:
                return problem
    return None


def too_complex(doc, budget: int) -> str | None:
    """Why a parsed body is refused: nested deeper than MAX_DEPTH, or more than `budget` values once YAML aliases
    are expanded (a "billion laughs" document is a few hundred bytes that expand to gigabytes)."""
    stack, seen = [(doc, 1)], 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH:
            return f"the document nests deeper than {MAX_DEPTH} levels"
        if seen > budget:
            return "the document contains excessive aliasing"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return None
