"""structural.py and cel.py on their own: pruning, defaults, validation messages, structural rules, and the CEL subset."""
from __future__ import annotations

import pytest

from ingresslab.cluster.apiserver import cel, structural

SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {
        "name": {"type": "string", "default": "x"},
        "ports": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["port"],
                  "items": {"type": "object", "required": ["port"], "properties": {
                      "port": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535},
                      "protocol": {"type": "string", "default": "TCP", "enum": ["TCP", "UDP"]}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "either": {"x-kubernetes-int-or-string": True}}}}}


def test_pruning_drops_undeclared_fields_and_keeps_preserved_ones():
    obj = {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n", "x": 1},
           "spec": {"name": "a", "extra": 1, "ports": [{"port": 1, "bogus": 2}], "free": {"any": {"thing": 1}}},
           "top": True}
    assert structural.prune(SCHEMA, obj) == ["spec.extra", "spec.ports[0].bogus", "top"]
    assert obj == {"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n", "x": 1},
                   "spec": {"name": "a", "ports": [{"port": 1}], "free": {"any": {"thing": 1}}}}


def test_defaults_apply_top_down_and_null_gets_the_default_after_pruning():
    obj = {"spec": {"name": None, "ports": [{"port": 80}]}}
    structural.prune(SCHEMA, obj)
    structural.apply_defaults(SCHEMA, obj)
    assert obj == {"spec": {"name": "x", "ports": [{"port": 80, "protocol": "TCP"}]}}


def test_validation_messages_follow_kube_openapi():
    obj = {"spec": {"ports": [{"port": 0}, {"port": 0, "protocol": "SCTP"}], "labels": {"k": "long"},
                    "either": 1.5}}
    got = [(c.field, c.message) for c in structural.validate(SCHEMA, obj)]
    assert got == [
        ("spec.ports[0].port", "Invalid value: 0: spec.ports[0].port in body should be greater than or equal to 1"),
        ("spec.ports[1]", 'Duplicate value: map[string]interface {}{"port":0}'),
        ("spec.ports[1].port", "Invalid value: 0: spec.ports[1].port in body should be greater than or equal to 1"),
        ("spec.ports[1].protocol", 'Unsupported value: "SCTP": supported values: "TCP", "UDP"'),
        ("spec.labels[k]", "Too long: may not be more than 3 bytes"),
        ("spec.either", 'Invalid value: "number": spec.either in body must be of type integer,string: "number"')]


def test_too_many_items_is_one_cause_for_the_list():
    obj = {"spec": {"ports": [{"port": 1}, {"port": 2}, {"port": 3}]}}
    assert [(c.field, c.message, c.reason) for c in structural.validate(SCHEMA, obj)] == [
        ("spec.ports", "Too many: 3: must have at most 2 items", "FieldValueTooMany")]


@pytest.mark.parametrize("bad, field, message", [
    ({"type": "object", "properties": {"a": {"description": "no type"}}}, "s.properties[a].type",
     "Required value: must not be empty for specified object fields"),
    ({"properties": {}}, "s.type", "Required value: must not be empty at the root"),
    ({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True, "items": {"type": "string"}}}},
     "s.properties[a].uniqueItems", "Forbidden: uniqueItems cannot be set to true since the runtime complexity "
                                    "becomes quadratic"),
    ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}},
     "s.properties[metadata]", "Forbidden: must not specify anything other than name and generateName, but "
                               "metadata is implicitly specified"),
    ({"type": "object", "properties": {"a": {"type": "string", "default": 5}}}, "s.properties[a].default",
     'Invalid value: "integer": default in body must be of type string: "integer"'),
])
def test_non_structural_schemas_are_refused(bad, field, message):
    assert (field, message) in [(c.field, c.message) for c in structural.structural_problems(bad, "s")]


@pytest.mark.parametrize("rule, value, expected", [
    ("self.size() <= 2 && self.all(x, x > 0)", [1, 2], True),
    ("self.exists_one(x, x == 'a')", ["a", "a"], False),
    ("self.filter(x, x % 2 == 0).size() == 2", [1, 2, 4], True),
    ("self.map(x, x * 2)[1] == 4", [1, 2], True),
    ("has(self.a) ? self.a.startsWith('/') : true", {"a": "x"}, False),
    ("!has(self.a) || self.a == ''", {}, True),
    ("self.__namespace__ == 'ns'", {"namespace": "ns"}, True),
    ("self.v.matches(r\"\"\"^[a-z]+$\"\"\")", {"v": "abc"}, True),
    ("'x' in self && size(self) > 1", ["x", "y"], True),
    ("duration(self.a) > duration('1m30s')", {"a": "2m"}, True),
    ("self.missing == 1 || true", {}, True),       # error absorbed by ||, as CEL does
    ("false && self.missing == 1", {}, False),
    ("7 / 2 == 3 && -7 % 3 == -1", None, True),
    ("self.a == 1 ? 'one' : 'other'", {"a": 1}, "one"),
    ("self.map(p, p.port).sum() <= 100 && self.map(p, p.port).isSorted()", [{"port": 10}, {"port": 80}], True),
    ("self.split('/')[0].size() < 253 && self.substring(4) == 'x/y'", "ab.c/x/y", False),
    ("self.find('[0-9]+') == '42' && self.replace('-', '') == 'v42'", "v-42", True),
])
def test_cel_subset(rule, value, expected):
    assert cel.evaluate(rule, value) == expected


def test_cel_errors_and_unsupported_rules():
    with pytest.raises(cel.CelError, match="no such key: missing"):
        cel.evaluate("self.missing == 1", {})
    with pytest.raises(SyntaxError):
        cel.compile_rule("self.all(x,")
    s = {"type": "object", "x-kubernetes-validations": [{"rule": "isURL(self.u)"}, {"rule": "self.size() > 0"}]}
    assert cel.unsupported_rules(s) == ["<root>: isURL(self.u)"]
    assert cel.check(s["x-kubernetes-validations"], {}, None, "spec", s)[0].message == \
        'Invalid value: "object": failed rule: self.size() > 0'


def test_transition_rules_run_only_on_update():
    rules = [{"rule": "self == oldSelf", "message": "Value is immutable"}]
    assert cel.check(rules, "a", None, "spec.x", {"type": "string"}) == []
    assert [c.message for c in cel.check(rules, "a", "b", "spec.x", {"type": "string"})] == [
        'Invalid value: "string": Value is immutable']
