"""Admission: Kubernetes' own Ingress rules (exact messages and field paths), then ingress-nginx's, then ours."""
from __future__ import annotations

import copy
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingresslab.cluster.apimachinery.errors import ApiError
from ingresslab.ingress import validate as v
from ingresslab.ingress.validate import (admit_ingress, catastrophic_repeat, nginx_unsafe, validate_ingress,
                                         validate_ingress_api)

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
                "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
                "(e.g. '*.example.com', regex used for validation is "
                "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name' or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


def cafe(**spec_overrides) -> dict:
    obj = {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "cafe-ingress", "namespace": "default"},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["cafe.example.com"], "secretName": "cafe-secret"}],
            "rules": [{"host": "cafe.example.com", "http": {"paths": [
                {"path": "/tea", "pathType": "Prefix",
                 "backend": {"service": {"name": "tea-svc", "port": {"number": 80}}}},
                {"path": "/coffee", "pathType": "Prefix",
                 "backend": {"service": {"name": "coffee-svc", "port": {"name": "http"}}}},
            ]}}],
        },
    }
    obj["spec"].update(spec_overrides)
    return obj


def with_path(path, path_type="Prefix", **backend) -> dict:
    obj = cafe()
    entry = obj["spec"]["rules"][0]["http"]["paths"][0]
    entry["path"] = path
    if path_type is None:
        del entry["pathType"]
    else:
        entry["pathType"] = path_type
    if backend:
        entry["backend"] = backend
    return obj


def messages(obj, old=None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cause in validate_ingress(obj, old):
        out.setdefault(cause.field, []).append(cause.message)
    return out


P0 = "spec.rules[0].http.paths[0]"


# --- the Kubernetes API -----------------------------------------------------------------------------------------

def test_the_cafe_ingress_is_admitted():
    assert validate_ingress(cafe()) == []
    admit_ingress(cafe())


def test_an_ingress_needs_rules_or_a_default_backend():
    obj = cafe()
    del obj["spec"]["rules"]
    del obj["spec"]["tls"]
    assert messages(obj) == {"spec": ["Invalid value: []networking.IngressRule(nil): either `defaultBackend` or "
                                      "`rules` must be specified"]}


def test_a_default_backend_alone_is_enough():
    obj = {"metadata": {"name": "x"}, "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}}
    assert validate_ingress(obj) == []


def test_a_host_must_be_a_dns_name_not_an_ip_address():
    obj = cafe()
    obj["spec"]["rules"][0]["host"] = "1.2.3.4"
    assert messages(obj) == {"spec.rules[0].host": ['Invalid value: "1.2.3.4": must be a DNS name, not an IP address']}


def test_a_host_with_a_port_is_not_a_dns_subdomain():
    obj = cafe()
    obj["spec"]["rules"][0]["host"] = "cafe.example.com:80"
    assert messages(obj) == {"spec.rules[0].host": [f'Invalid value: "cafe.example.com:80": {SUBDOMAIN_MSG}']}


@pytest.mark.parametrize("host", ["Cafe.example.com", "cafe_example.com", "-cafe.com", "cafe.com."])
def test_a_host_must_be_a_lowercase_rfc_1123_subdomain(host):
    obj = cafe()
    obj["spec"]["rules"][0]["host"] = host
    assert messages(obj) == {"spec.rules[0].host": [f'Invalid value: "{host}": {SUBDOMAIN_MSG}']}


def test_a_wildcard_is_allowed_only_as_the_whole_first_label():
    obj = cafe()
    obj["spec"]["rules"][0]["host"] = "*.example.com"
    obj["spec"]["tls"][0]["hosts"] = ["*.example.com"]
    assert validate_ingress(obj) == []
    for host in ("*", "*example.com", "cafe.*.com", "*.*.example.com"):
        obj["spec"]["rules"][0]["host"] = host
        assert messages(obj) == {"spec.rules[0].host": [f'Invalid value: "{host}": {WILDCARD_MSG}']}, host


def test_a_host_longer_than_253_characters_is_refused():
    host = ".".join(["a" * 60] * 5)
    obj = cafe()
    obj["spec"]["rules"][0]["host"] = host
    assert messages(obj)["spec.rules[0].host"] == [f'Invalid value: "{host}": must be no more than 253 characters']


def test_path_type_must_be_specified():
    assert messages(with_path("/tea", None)) == {f"{P0}.pathType": ["Required value: pathType must be specified"]}


def test_path_type_must_be_one_of_the_three():
    assert messages(with_path("/tea", "Regex")) == {f"{P0}.pathType": [
        'Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"']}


@pytest.mark.parametrize("path_type", ["Exact", "Prefix"])
@pytest.mark.parametrize("path,detail", [
    ("tea", "must be an absolute path"),
    ("/tea//cup", "must not contain '//'"),
    ("/tea/./cup", "must not contain '/./'"),
    ("/tea/../cup", "must not contain '/../'"),
    ("/tea%2fcup", "must not contain '%2f'"),
    ("/tea%2Fcup", "must not contain '%2F'"),
    ("/tea/..", "cannot end with '/..'"),
    ("/tea/.", "cannot end with '/.'"),
])
def test_exact_and_prefix_paths_are_absolute_and_clean(path, detail, path_type):
    assert messages(with_path(path, path_type)) == {f"{P0}.path": [f'Invalid value: "{path}": {detail}']}


def test_an_empty_exact_path_is_not_absolute():
    assert messages(with_path("", "Exact")) == {f"{P0}.path": ['Invalid value: "": must be an absolute path']}


def test_implementation_specific_paths_may_be_empty_but_not_relative():
    assert validate_ingress(with_path("", "ImplementationSpecific")) == []
    assert messages(with_path("tea", "ImplementationSpecific")) == {
        f"{P0}.path": ['Invalid value: "tea": must be an absolute path']}


def test_a_backend_has_a_service_or_a_resource_not_both():
    both = {"service": {"name": "tea-svc", "port": {"number": 80}},
            "resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}}
    assert messages(with_path("/tea", "Prefix", **both)) == {
        f"{P0}.backend": ['Invalid value: "": cannot set both resource and service backends']}


def test_a_backend_needs_one_of_them():
    obj = with_path("/tea")
    obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {}
    assert messages(obj) == {f"{P0}.backend": ['Invalid value: "": resource or service backend is required']}


def test_a_resource_backend_is_valid_api_wise():
    resource = {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}
    assert validate_ingress(with_path("/tea", "Prefix", resource=resource)) == []
    bad = {"kind": "", "name": "a/b"}
    assert messages(with_path("/tea", "Prefix", resource=bad)) == {
        f"{P0}.backend.resource.kind": ["Required value"],
        f"{P0}.backend.resource.name": ["Invalid value: \"a/b\": may not contain '/'"]}


@pytest.mark.parametrize("name", ["1tea", "Tea", "tea.svc", "tea-"])
def test_a_service_name_must_be_a_dns_1035_label(name):
    obj = with_path("/tea", "Prefix", service={"name": name, "port": {"number": 80}})
    msgs = messages(obj)[f"{P0}.backend.service.name"]
    assert msgs == [f'Invalid value: "{name}": {DNS1035_MSG}']


def test_a_service_name_is_required():
    obj = with_path("/tea", "Prefix", service={"name": "", "port": {"number": 80}})
    assert messages(obj) == {f"{P0}.backend.service.name": ["Required value"]}


def test_a_service_port_has_exactly_one_of_name_and_number():
    both = with_path("/tea", "Prefix", service={"name": "tea-svc", "port": {"name": "http", "number": 80}})
    assert messages(both) == {f"{P0}.backend": ['Invalid value: "": cannot set both port name & port number']}
    neither = with_path("/tea", "Prefix", service={"name": "tea-svc", "port": {}})
    assert messages(neither) == {f"{P0}.backend": ["Required value: port name or number is required"]}


@pytest.mark.parametrize("number", [65536, -1, 100000])
def test_a_port_number_is_between_1_and_65535(number):
    obj = with_path("/tea", "Prefix", service={"name": "tea-svc", "port": {"number": number}})
    assert messages(obj) == {f"{P0}.backend.service.port.number": [
        f"Invalid value: {number}: must be between 1 and 65535, inclusive"]}


def test_a_port_name_follows_the_iana_service_name_rules():
    obj = with_path("/tea", "Prefix", service={"name": "tea-svc", "port": {"name": "HTTP--80"}})
    assert messages(obj) == {f"{P0}.backend.service.port.name": [
        'Invalid value: "HTTP--80": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        'Invalid value: "HTTP--80": must contain at least one letter (a-z)',
        'Invalid value: "HTTP--80": must not contain consecutive hyphens']}


def test_tls_hosts_are_dns_subdomains_and_may_be_wildcards():
    obj = cafe(tls=[{"hosts": ["*.example.com", "CAFE.example.com"], "secretName": "cafe_secret"}])
    assert messages(obj) == {
        "spec.tls[0].hosts[1]": [f'Invalid value: "CAFE.example.com": {SUBDOMAIN_MSG}'],
        "spec.tls[0].secretName": [f'Invalid value: "cafe_secret": {SUBDOMAIN_MSG}']}


def test_an_ingress_class_name_is_a_dns_subdomain():
    assert messages(cafe(ingressClassName="NGINX")) == {
        "spec.ingressClassName": [f'Invalid value: "NGINX": {SUBDOMAIN_MSG}']}


def test_the_legacy_class_annotation_must_match_the_class_name_on_create():
    obj = cafe()
    obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "traefik"}
    assert messages(obj) == {"annotations.kubernetes.io/ingress.class": [
        'Invalid value: "traefik": must match `ingressClassName` when both are specified']}
    assert validate_ingress(obj, old=cafe()) == []


def test_the_ingress_name_is_a_dns_subdomain():
    obj = cafe()
    obj["metadata"]["name"] = "Cafe_Ingress"
    assert messages(obj) == {"metadata.name": [f'Invalid value: "Cafe_Ingress": {SUBDOMAIN_MSG}']}


def test_an_update_may_keep_service_names_that_only_relaxed_validation_allows():
    old = with_path("/tea", "Prefix", service={"name": "1tea", "port": {"number": 80}})
    new = copy.deepcopy(old)
    assert validate_ingress_api(new) != []
    assert validate_ingress_api(new, old) == []


def test_http_with_no_paths_requires_paths():
    obj = cafe()
    obj["spec"]["rules"][0]["http"] = {"paths": []}
    assert messages(obj) == {"spec.rules[0].http.paths": ["Required value"]}


def test_admit_raises_the_apis_422_in_kubernetes_words():
    obj = cafe()
    obj["spec"]["rules"][0]["host"] = "1.2.3.4"
    with pytest.raises(ApiError) as info:
        admit_ingress(obj)
    err = info.value
    assert err.code == 422 and err.reason == "Invalid"
    assert err.message == ('Ingress.networking.k8s.io "cafe-ingress" is invalid: spec.rules[0].host: '
                           'Invalid value: "1.2.3.4": must be a DNS name, not an IP address')
    status = err.status()
    assert status["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.rules[0].host",
        "message": 'Invalid value: "1.2.3.4": must be a DNS name, not an IP address'}]
    assert status["details"]["group"] == "networking.k8s.io" and status["details"]["kind"] == "Ingress"


def test_several_causes_are_listed_in_brackets_as_the_api_does():
    obj = with_path("tea//", "Prefix")
    with pytest.raises(ApiError) as info:
        admit_ingress(obj)
    assert info.value.message.count(f"{P0}.path") == 2 and "is invalid: [" in info.value.message


# --- ingress-nginx's admission and the injection rule --------------------------------------------------------------

@pytest.mark.parametrize("path_type", ["Exact", "Prefix"])
@pytest.mark.parametrize("path", ["/tea(/|.*)", "/tea*", "/tea+x", "/tea~1", "/tea:cup", "/tea%20cup", "/(.*)"])
def test_exact_and_prefix_paths_must_pass_ingress_nginxs_strict_path_check(path, path_type):
    msgs = messages(with_path(path, path_type))[f"{P0}.path"]
    assert len(msgs) == 1
    assert f"path {path} cannot be used with pathType {path_type}" in msgs[0]
    assert "use ImplementationSpecific for a regular expression" in msgs[0]


@pytest.mark.parametrize("path", ["/", "/tea", "/Tea/Cup_1.2-3/", "/a/b/c"])
def test_plain_paths_pass_the_strict_check(path):
    assert validate_ingress(with_path(path, "Exact")) == []
    assert validate_ingress(with_path(path, "Prefix")) == []


def test_a_regex_path_is_fine_as_implementation_specific():
    assert validate_ingress(with_path("/tea(/.*)?", "ImplementationSpecific")) == []
    assert validate_ingress(with_path("/tea/?(.*)", "ImplementationSpecific")) == []


@pytest.mark.parametrize("path", ["/(a+)+b", "/(a*)*", "/(x|(y+))+z", "/((ab)*c)+", "/([a-z]+/)*end"])
def test_a_regex_with_a_quantifier_nested_in_a_quantifier_is_refused_at_admission(path):
    """`(a+)+` backtracks exponentially: one such Ingress slowed every host of the lab's nginx (issue 13)."""
    msgs = messages(with_path(path, "ImplementationSpecific"))[f"{P0}.path"]
    assert len(msgs) == 1 and "a quantifier inside a quantified group" in msgs[0], msgs


@pytest.mark.parametrize("path", ["/api(/|.*)(.*)", "/tea(/.*)?", "/[a-z]+/(.*)", "/(a|b)+", "/(ab)+x",
                                  "/[[:alpha:]]+"])
def test_ordinary_regex_paths_are_not_taken_for_nested_quantifiers(path):
    assert validate_ingress(with_path(path, "ImplementationSpecific")) == []


def test_small_bounded_nesting_passes_and_large_bounded_nesting_does_not():
    # Braces never reach here through admission (injection rule), but the rule itself counts repetitions.
    assert catastrophic_repeat("/(a{1,10}){1,10}") is None
    assert catastrophic_repeat("/(a{1,100}){1,100}") is not None


def test_an_implementation_specific_path_must_at_least_be_a_regular_expression():
    msgs = messages(with_path("/tea(", "ImplementationSpecific"))[f"{P0}.path"]
    assert msgs[0].startswith('Invalid value: "/tea(": is not a valid regular expression: ')


@pytest.mark.parametrize("path,rule", [
    ("/tea\nlocation /x", "a line break"),
    ("/tea\r", "a line break"),
    ("/tea;return", "';', which ends an nginx directive"),
    ("/tea{", "a brace"),
    ("/tea}", "a brace"),
    ('/tea"', "a quote"),
    ("/tea'", "a quote"),
    ("/tea\\", "a backslash"),
    ("/tea(/|$)(.*)", "'$', which nginx expands as a variable"),
    ("/tea#x", "'#', which starts an nginx comment"),
    ("/tea\x00", "a control character"),
    ("/tea\x7f", "a control character"),
    ("/tea cup", "whitespace"),
    ("/tеa", "a non-ASCII character"),   # Cyrillic е
])
@pytest.mark.parametrize("path_type", ["ImplementationSpecific", "Prefix"])
def test_every_path_that_reaches_nginx_conf_obeys_the_injection_rule(path, rule, path_type):
    msgs = messages(with_path(path, path_type))
    assert list(msgs) == [f"{P0}.path"]
    assert "refused by the lab's nginx.conf injection rule: contains " + rule in msgs[f"{P0}.path"][0]


def test_the_injection_rule_says_where_the_character_is():
    assert nginx_unsafe("/ok") is None
    assert nginx_unsafe("/a;b").endswith("(found at position 2)")


def test_the_dollar_rule_suggests_a_regex_without_dollar():
    assert "'/foo(/.*)?'" in nginx_unsafe("/foo(/|$)(.*)")


def test_annotation_causes_are_part_of_admission():
    obj = cafe()
    obj["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;",
                                      "nginx.ingress.kubernetes.io/proxy-body-size": "1 m"}
    fields = messages(obj)
    assert set(fields) == {"metadata.annotations[nginx.ingress.kubernetes.io/configuration-snippet]",
                           "metadata.annotations[nginx.ingress.kubernetes.io/proxy-body-size]"}


def test_kubernetes_messages_come_first_and_the_controllers_only_once_they_are_fixed():
    obj = with_path("/tea;x", "Prefix")
    obj["spec"]["rules"][0]["host"] = "1.2.3.4"
    assert list(messages(obj)) == ["spec.rules[0].host"]
    obj["spec"]["rules"][0]["host"] = "cafe.example.com"
    assert list(messages(obj)) == [f"{P0}.path"]


def test_a_path_another_ingress_already_serves_is_refused_when_others_are_given():
    first = cafe()
    first["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    second = cafe()
    second["metadata"]["name"] = "cafe-two"
    causes = validate_ingress(second, others=[first])
    assert [c.message for c in causes] == [
        'Invalid value: "/tea": host "cafe.example.com" and path "/tea" is already defined in ingress '
        'default/cafe-ingress',
        'Invalid value: "/coffee": host "cafe.example.com" and path "/coffee" is already defined in ingress '
        'default/cafe-ingress']
    assert validate_ingress(first, others=[first]) == []


def test_an_older_ingress_being_updated_keeps_its_paths():
    older = cafe()
    older["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    newer = cafe()
    newer["metadata"].update(name="cafe-two", creationTimestamp="2024-06-01T00:00:00Z")
    assert validate_ingress(older, older, others=[newer]) == []
    assert len(validate_ingress(newer, newer, others=[older])) == 2


def test_same_path_with_another_path_type_is_no_overlap():
    first = cafe()
    second = with_path("/tea", "Exact")
    second["metadata"]["name"] = "cafe-two"
    second["spec"]["rules"][0]["http"]["paths"].pop()
    assert validate_ingress(second, others=[first]) == []


def test_admission_never_runs_nginx_or_any_other_program(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("admission must not start a process")
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(subprocess, "run", forbidden)
    for obj in (cafe(), with_path("/tea\n}", "ImplementationSpecific"), with_path("(", "ImplementationSpecific")):
        validate_ingress(obj)
    assert "subprocess" not in vars(v)


NGINX_SYNTAX = set(";{}\"'\\$# \t\r\n")


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=30), st.sampled_from(["Exact", "Prefix", "ImplementationSpecific"]))
def test_no_admitted_path_carries_a_character_nginx_would_parse(text, path_type):
    path = "/" + text
    if validate_ingress(with_path(path, path_type)) == []:
        assert not NGINX_SYNTAX & set(path)
        assert path.isascii() and path.isprintable()
        if path_type != "ImplementationSpecific":
            assert v.STRICT_PATH.fullmatch(path)


def test_a_path_that_is_not_a_string_is_refused_rather_than_crashing():
    assert messages(with_path(42, "Prefix")) == {f"{P0}.path": ["Invalid value: 42: must be a string"]}
