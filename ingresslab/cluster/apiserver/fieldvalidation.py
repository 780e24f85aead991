"""Server-side field validation: unknown and duplicate fields in a write, by the `fieldValidation` query parameter.

kube-apiserver decodes a body strictly and collects every unknown field (`unknown field "spec.bogus"`) and every
field given twice (`duplicate field "spec.replicas"`), in document order; then `fieldValidation` decides:

    Strict   400 BadRequest "<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: …"
             (kubectl sends it by default)
    Warn     the object is stored without the unknown fields, and each problem comes back in a `Warning` header
             (the default when the parameter is absent, as the Python client sends)
    Ignore   stored without the unknown fields, nothing said

A field that is both unknown and duplicated is reported once, as unknown. For YAML bodies the real server reports
unknown fields in sorted order (the YAML is turned into JSON through a map first); so does this module.

Neighbours: `schemas.py` (the schema of each kind), `server.py` (decodes the body with `parse_json`, then calls
`check` before defaults and validation run).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apiserver.schemas import SchemaRegistry, registry

MODES = ("Strict", "Warn", "Ignore")


@dataclass
class Duplicates:
    """Object key order with repeats, for the JSON objects that repeated a key (by `id` of the parsed dict)."""

    order: dict[int, list[tuple[str, bool]]] = field(default_factory=dict)


def parse_json(body: bytes | str, **loads_options) -> tuple[object, Duplicates]:
    """`json.loads`, also remembering which objects held a key twice (Python keeps only the last value)."""
    dups = Duplicates()

    def pairs_hook(pairs: list[tuple[str, object]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            order = []
            for key, _ in pairs:
                order.append((key, key in seen))
                seen.add(key)
            dups.order[id(obj)] = order
        return obj

    return json.loads(body, object_pairs_hook=pairs_hook, **loads_options), dups


def mode_of(value: str | None) -> str:
    if value in (None, ""):
        return "Warn"
    if value not in MODES:
        raise errors.bad_request(f'fieldValidation "{value}" is not one of: Ignore, Warn, Strict')
    return value


def problems(group: str, version: str, kind: str, obj: dict, dups: Duplicates | None = None, *,
             prune: bool = False, sort_unknown: bool = False, reg: SchemaRegistry | None = None) -> list[str]:
    """Every unknown and duplicate field of `obj` as the real decoder words them; with `prune`, unknown fields are
    removed from `obj` (what decoding into typed structs does to them). Kinds without a schema have no problems."""
    reg = reg or registry()
    root = reg.root(group, version, kind)
    if root is None:
        return []
    walker = _Walker(reg, dups or Duplicates(), prune)
    walker.walk(obj, root, "")
    if sort_unknown:
        unknown = sorted(p for p in walker.found if p.startswith("unknown field"))
        return [p for p in walker.found if not p.startswith("unknown field")] + unknown
    return walker.found


def check(group: str, version: str, kind: str, obj: dict, dups: Duplicates | None, mode: str, *,
          yaml_body: bool = False) -> list[str]:
    """Apply `mode` to `obj` (pruned in place): raise the Strict error, or return the warnings to send."""
    found = problems(group, version, kind, obj, dups, prune=True, sort_unknown=yaml_body)
    if not found or mode == "Ignore":
        return []
    if mode == "Strict":
        raise errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding '
                                 f'error: {", ".join(found)}')
    return found


class _Walker:
    def __init__(self, reg: SchemaRegistry, dups: Duplicates, prune: bool):
        self.reg, self.dups, self.prune = reg, dups, prune
        self.found: list[str] = []

    def walk(self, value, schema: dict, path: str) -> None:
        schema = self.reg.resolve(schema)
        if schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-int-or-string"):
            if isinstance(value, dict) and schema.get("properties"):
                self._object(value, schema, path, keep_unknown=True)
            return
        if isinstance(value, dict):
            if "properties" in schema:
                self._object(value, schema, path, keep_unknown=False)
            elif isinstance(schema.get("additionalProperties"), dict):
                self._map(value, schema["additionalProperties"], path)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                self.walk(item, schema["items"], f"{path}[{i}]")

    def _keys(self, value: dict) -> list[tuple[str, bool]]:
        return self.dups.order.get(id(value)) or [(k, False) for k in value]

    def _object(self, value: dict, schema: dict, path: str, *, keep_unknown: bool) -> None:
        props = schema["properties"]
        unknown = []
        for key, repeated in self._keys(value):
            where = f"{path}.{key}" if path else key
            if key not in props:
                if not keep_unknown and not repeated:
                    self.found.append(f'unknown field "{where}"')
                    unknown.append(key)
                continue
            if repeated:
                self.found.append(f'duplicate field "{where}"')
                continue
            self.walk(value[key], props[key], where)
        if self.prune:
            for key in unknown:
                value.pop(key, None)

    def _map(self, value: dict, inner: dict, path: str) -> None:
        for key, repeated in self._keys(value):
            where = f"{path}.{key}" if path else key
            if repeated:
                self.found.append(f'duplicate field "{where}"')
                continue
            self.walk(value[key], inner, where)
