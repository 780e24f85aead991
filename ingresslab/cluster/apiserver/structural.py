"""Structural schemas: what a CustomResourceDefinition's `openAPIV3Schema` does to the objects of its kind.

A real API server (apiextensions-apiserver) runs four things off a CRD's schema, and so does this module:

- `prune`: fields the schema does not declare are dropped (unless `x-kubernetes-preserve-unknown-fields`), and their
  paths returned, for the `fieldValidation` answer (Strict → 400 `strict decoding error: unknown field "spec.x"`,
  Warn → a `Warning` header, Ignore → silence);
- `apply_defaults`: `default` values filled in top-down, defaults inside defaults included;
- `validate`: types, required, enum, pattern, lengths, bounds, item and property counts, the common formats,
  `x-kubernetes-list-type` set/map uniqueness and `oneOf`/`anyOf`/`allOf`/`not`, worded as kube-openapi's validator
  words them (`spec.replicas in body must be of type integer: "string"`); CEL rules (`x-kubernetes-validations`) are
  handed to `cel.py`;
- `structural_problems`: the rules a schema must follow to be accepted in a `apiextensions.k8s.io/v1` CRD at all
  (a type everywhere, nothing but name/generateName constrained under `metadata`, no `$ref`, …).

Neighbours: `crds.py` (the CRDs and the write path of their objects) calls all four; `cel.py` evaluates rules.
"""
from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
import uuid
from datetime import datetime
from functools import lru_cache

from ingresslab.cluster.apimachinery.errors import Cause

TYPES = ("array", "boolean", "integer", "number", "object", "string")
ROOT_KEPT = ("apiVersion", "kind", "metadata")
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$")
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w))+$|^0$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind_of(value) -> str:
    """The JSON type name of a value, as Go's validator names it in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------------------- pruning
def prune(schema: dict, obj: dict) -> list[str]:
    """Drop from `obj` (in place) every field `schema` does not declare; the dropped fields' paths, in order.

    At the root `apiVersion`, `kind` and `metadata` always stay (metadata is ObjectMeta, not the schema's), and so
    do `apiVersion`/`kind`/`metadata` of an `x-kubernetes-embedded-resource`. Null values of fields that are not
    `nullable` go too (then their `default` applies), as the real server does before defaulting."""
    unknown: list[str] = []
    _prune(schema, obj, "", unknown, root=True)
    return unknown


def _prune(schema: dict, value, path: str, unknown: list[str], *, root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep_all = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        for key in list(value):
            if (root or embedded) and key in ROOT_KEPT:
                continue
            child = props.get(key)
            if child is None and isinstance(extra, dict):
                child = extra
            if child is None:
                if not keep_all and not (extra is True):
                    unknown.append(_join(path, key))
                    del value[key]
                continue
            if value[key] is None and not child.get("nullable"):
                del value[key]
                continue
            _prune(child, value[key], _join(path, key), unknown)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(schema["items"], item, f"{path}[{i}]", unknown)


# -------------------------------------------------------------------------------------------------------- defaults
def apply_defaults(schema: dict, value) -> None:
    """Fill in `default`s (in place), top-down: a defaulted object gets the defaults of its own fields too."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, child in props.items():
            if isinstance(child, dict) and "default" in child and value.get(key) is None \
                    and (key not in value or not child.get("nullable")):
                value[key] = copy.deepcopy(child["default"])
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = props.get(key) if key in props else (extra if isinstance(extra, dict) else None)
            if child is not None:
                apply_defaults(child, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item)


# ------------------------------------------------------------------------------------------------------ validation
def validate(schema: dict, obj: dict, *, old: dict | None = None, cel=None) -> list[Cause]:
    """Field errors of `obj` against `schema` (empty when valid). `cel(rules, value, old, path)` evaluates
    `x-kubernetes-validations` when given."""
    errs: list[Cause] = []
    _validate(schema, obj, old, "", errs, cel, root=True)
    return errs


def _invalid(path: str, value, text: str) -> Cause:
    return Cause.invalid(path, value, f"{path} in body {text}")


def _type_ok(schema: dict, value) -> bool:
    t = schema.get("type")
    if value is None:
        return bool(schema.get("nullable")) or not t
    if schema.get("x-kubernetes-int-or-string"):
        return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str) or \
            (isinstance(value, float) and value.is_integer())
    if not t:
        return True
    kind = _kind_of(value)
    return kind == t or (t == "number" and kind == "integer")


def _validate(schema: dict, value, old, path: str, errs: list[Cause], cel, *, root: bool = False) -> None:
    if not isinstance(schema, dict):
        return
    if not _type_ok(schema, value):
        kind = _kind_of(value)
        expected = "integer,string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        errs.append(Cause(path, f'Invalid value: "{kind}": {path} in body must be of type {expected}: "{kind}"',
                          "FieldValueTypeInvalid"))
        return
    if value is None:
        return
    blocking = _type_errors(errs)
    _value_rules(schema, value, path, errs)
    if isinstance(value, dict):
        _object(schema, value, old if isinstance(old, dict) else None, path, errs, cel, root)
    elif isinstance(value, list):
        _array(schema, value, old if isinstance(old, list) else None, path, errs, cel)
    shown = _kind_of(value) if isinstance(value, (dict, list)) else value
    for combinator in ("allOf", "anyOf", "oneOf"):
        subs = schema.get(combinator)
        if not subs:
            continue
        results = []
        for sub in subs:
            sub_errs: list[Cause] = []
            _validate({**sub, "type": sub.get("type") or schema.get("type")}, value, old, path, sub_errs, None)
            results.append(sub_errs)
        if combinator == "allOf":
            for sub_errs in results:
                errs.extend(sub_errs)
        elif combinator == "anyOf" and all(results):
            errs.append(_invalid(path, shown, "must validate at least one schema (anyOf)"))
            errs.extend(results[0])
        elif combinator == "oneOf" and sum(1 for r in results if not r) != 1:
            errs.append(_invalid(path, shown, "must validate one and only one schema (oneOf)"))
    if isinstance(schema.get("not"), dict):
        sub_errs = []
        _validate({**schema["not"], "type": schema["not"].get("type") or schema.get("type")}, value, old, path,
                  sub_errs, None)
        if not sub_errs:
            errs.append(_invalid(path, shown, "must not validate the schema (not)"))
    rules = schema.get("x-kubernetes-validations")
    if rules and cel is not None and _type_errors(errs) == blocking:   # CEL cannot run over a wrongly typed value
        errs.extend(cel(rules, value, old, path, schema))


def _type_errors(errs: list[Cause]) -> int:
    return sum(1 for e in errs if e.reason == "FieldValueTypeInvalid")


def _value_rules(schema: dict, value, path: str, errs: list[Cause]) -> None:
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        errs.append(Cause.not_supported(path, value, [e if isinstance(e, str) else json.dumps(e)
                                                      for e in schema["enum"]]))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(Cause.too_long(path, schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append(_invalid(path, value, f"should be at least {schema['minLength']} chars long"))
        pattern = schema.get("pattern")
        if pattern and _regex(pattern) is not None and not _regex(pattern).search(value):
            errs.append(_invalid(path, value, f"should match '{pattern}'"))
        fmt = schema.get("format")
        if fmt and not _format_ok(fmt, value):
            errs.append(_invalid(path, value, f'must be of type {fmt}: "{value}"'))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = int(value) if isinstance(value, float) and value.is_integer() else value
        if "maximum" in schema:
            if schema.get("exclusiveMaximum") and value >= schema["maximum"]:
                errs.append(_invalid(path, shown, f"should be less than {_num(schema['maximum'])}"))
            elif value > schema["maximum"]:
                errs.append(_invalid(path, shown, f"should be less than or equal to {_num(schema['maximum'])}"))
        if "minimum" in schema:
            if schema.get("exclusiveMinimum") and value <= schema["minimum"]:
                errs.append(_invalid(path, shown, f"should be greater than {_num(schema['minimum'])}"))
            elif value < schema["minimum"]:
                errs.append(_invalid(path, shown, f"should be greater than or equal to {_num(schema['minimum'])}"))
        if schema.get("multipleOf") and (value / schema["multipleOf"]) % 1:
            errs.append(_invalid(path, shown, f"should be a multiple of {_num(schema['multipleOf'])}"))
        fmt = schema.get("format")
        bounds = {"int32": _INT32, "int64": _INT64}.get(fmt or "")
        if bounds and not bounds[0] <= value <= bounds[1]:
            errs.append(_invalid(path, shown, f'must be of type {fmt}: "{shown}"'))


def _num(n) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _object(schema: dict, value: dict, old: dict | None, path: str, errs: list[Cause], cel, root: bool) -> None:
    for name in schema.get("required") or ():
        if name not in value or (value[name] is None and not (schema.get("properties") or {}).get(name, {})
                                 .get("nullable")):
            errs.append(Cause.required(_join(path, name)))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errs.append(Cause(path, f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
                          "FieldValueTooMany"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errs.append(_invalid(path, len(value), f"should have at least {schema['minProperties']} properties"))
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if root and key in ("apiVersion", "kind"):
            continue
        if root and key == "metadata":
            meta_schema = props.get("metadata") or {}
            name_schema = (meta_schema.get("properties") or {}).get("name")
            if name_schema and isinstance(item, dict) and "name" in item:
                _validate(name_schema, item["name"], None, "metadata.name", errs, cel)
            continue
        if key in props:
            child, child_path = props[key], _join(path, key)
        elif isinstance(extra, dict):
            child, child_path = extra, f"{path}[{key}]"
        else:
            continue
        _validate(child, item, (old or {}).get(key), child_path, errs, cel)


def _array(schema: dict, value: list, old: list | None, path: str, errs: list[Cause], cel) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errs.append(Cause(path, f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                          "FieldValueTooMany"))
        return   # as the real server: no point judging each of too many items
    if "minItems" in schema and len(value) < schema["minItems"]:
        errs.append(_invalid(path, len(value), f"should have at least {schema['minItems']} items"))
    list_type = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: dict = {}
    olds = _old_items_by_key(old, keys) if list_type == "map" else {}
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if list_type == "set":
            marker = json.dumps(item, sort_keys=True)
            if marker in seen:
                errs.append(Cause.duplicate(item_path, item))
            seen[marker] = i
        elif list_type == "map" and isinstance(item, dict):
            key = tuple(json.dumps(item.get(k), sort_keys=True) for k in keys)
            if key in seen:
                shown = ", ".join(f'"{k}":{json.dumps(item.get(k))}' for k in keys)
                errs.append(Cause(item_path, f"Duplicate value: map[string]interface {{}}{{{shown}}}",
                                  "FieldValueDuplicate"))
            seen[key] = i
        old_item = olds.get(tuple(json.dumps(item.get(k), sort_keys=True) for k in keys)) \
            if list_type == "map" and isinstance(item, dict) else None
        if isinstance(schema.get("items"), dict):
            _validate(schema["items"], item, old_item, item_path, errs, cel)


def _old_items_by_key(old: list | None, keys: list[str]) -> dict:
    out = {}
    for item in old or ():
        if isinstance(item, dict):
            out[tuple(json.dumps(item.get(k), sort_keys=True) for k in keys)] = item
    return out


@lru_cache(maxsize=512)
def _regex(pattern: str):
    """A schema's ECMA-262-ish pattern as a Python regex (None when Python cannot read it: then not enforced)."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "hostname":
            return len(value) <= 255 and bool(_HOSTNAME.match(value))
        if fmt == "ipv4":
            return isinstance(ipaddress.ip_address(value), ipaddress.IPv4Address)
        if fmt == "ipv6":
            return isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address)
        if fmt == "cidr":
            ipaddress.ip_network(value, strict=False)
            return "/" in value
        if fmt in ("uuid", "uuid3", "uuid4", "uuid5"):
            uuid.UUID(value)
            return True
        if fmt == "date":
            datetime.strptime(value, "%Y-%m-%d")
            return True
        if fmt == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return True
        if fmt == "duration":
            return bool(_DURATION.match(value))
        if fmt == "byte":
            base64.b64decode(value, validate=True)
            return True
        if fmt == "email":
            return bool(_EMAIL.match(value))
        if fmt == "uri":
            return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value))
    except (ValueError, binascii.Error):
        return False
    return True   # formats the lab does not know are not enforced (as kube-apiserver ignores unknown ones)


# ------------------------------------------------------------------------------------------- structural schemas
def structural_problems(schema, path: str) -> list[Cause]:
    """Why `schema` is not a structural schema, as apiextensions validation words it; empty when it is one."""
    errs: list[Cause] = []
    if not isinstance(schema, dict):
        return [Cause.required(path, "schemas are required")]
    if schema.get("type") != "object":
        if not schema.get("type"):
            errs.append(Cause.required(f"{path}.type", "must not be empty at the root"))
        else:
            errs.append(Cause.invalid(f"{path}.type", schema["type"], "must be object at the root"))
    meta = (schema.get("properties") or {}).get("metadata")
    if isinstance(meta, dict):
        extra = set(meta) - {"type", "properties", "description"}
        extra_props = set(meta.get("properties") or {}) - {"name", "generateName"}
        if extra or extra_props or meta.get("type") not in (None, "object"):
            errs.append(Cause.forbidden(f"{path}.properties[metadata]",
                                        "must not specify anything other than name and generateName, but metadata "
                                        "is implicitly specified"))
    _structural(schema, path, errs, root=True, value_only=False)
    return errs


def _structural(s: dict, path: str, errs: list[Cause], *, root: bool, value_only: bool) -> None:
    if "$ref" in s:
        errs.append(Cause.forbidden(f"{path}.$ref", "$ref is not supported"))
    t = s.get("type")
    if t and t not in TYPES:
        errs.append(Cause.not_supported(f"{path}.type", t, TYPES))
    if not value_only and not root and not t and not s.get("x-kubernetes-int-or-string") \
            and not s.get("x-kubernetes-preserve-unknown-fields"):
        errs.append(Cause.required(f"{path}.type", "must not be empty for specified object fields"
                                   if not path.endswith(".items") else "must not be empty for specified array items"))
    if s.get("uniqueItems") is True:
        errs.append(Cause.forbidden(f"{path}.uniqueItems", "uniqueItems cannot be set to true since the runtime "
                                    "complexity becomes quadratic"))
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(Cause.invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    if "properties" in s and isinstance(s.get("additionalProperties"), (dict, bool)) \
            and s.get("additionalProperties") is not False:
        errs.append(Cause.forbidden(f"{path}.additionalProperties", "additionalProperties and properties are mutual "
                                    "exclusive"))
    if t == "array" and not isinstance(s.get("items"), dict) and not value_only:
        errs.append(Cause.required(f"{path}.items", "must be specified"))
    lt = s.get("x-kubernetes-list-type")
    if lt is not None:
        if lt not in ("atomic", "set", "map"):
            errs.append(Cause.not_supported(f"{path}.x-kubernetes-list-type", lt, ("atomic", "set", "map")))
        elif lt == "map" and not s.get("x-kubernetes-list-map-keys"):
            errs.append(Cause.required(f"{path}.x-kubernetes-list-map-keys",
                                       'must not be empty if x-kubernetes-list-type is "map"'))
    for key, child in (s.get("properties") or {}).items():
        if isinstance(child, dict):
            _structural(child, f"{path}.properties[{key}]", errs, root=False, value_only=value_only)
    if isinstance(s.get("additionalProperties"), dict):
        _structural(s["additionalProperties"], f"{path}.additionalProperties", errs, root=False,
                    value_only=value_only)
    if isinstance(s.get("items"), dict):
        _structural(s["items"], f"{path}.items", errs, root=False, value_only=value_only)
    elif isinstance(s.get("items"), list):
        errs.append(Cause.forbidden(f"{path}.items", "items must be a schema object and not an array"))
    for combinator in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(combinator) or ()):
            if isinstance(sub, dict):
                _structural(sub, f"{path}.{combinator}[{i}]", errs, root=False, value_only=True)
    if "default" in s and not value_only:
        problems = _default_problems(s, path)
        errs.extend(problems)


def _default_problems(s: dict, path: str) -> list[Cause]:
    """A default must itself be valid against its schema (and survive pruning unchanged)."""
    value = copy.deepcopy(s["default"])
    holder = {"v": value}
    unknown: list[str] = []
    _prune({"type": "object", "properties": {"v": s}}, holder, "", unknown)
    if unknown:
        return [Cause.invalid(f"{path}.default", s["default"],
                              f"must not have unknown fields: {', '.join(u[2:] for u in unknown)}")]
    inner = validate({"type": "object", "properties": {"v": s}}, holder)
    return [Cause(f"{path}.default{c.field[1:]}", c.message.replace("v in body", "default in body", 1), c.reason)
            for c in inner]
