"""The annotation table: each supported annotation parses strictly, snippets are refused, the rest is ignored."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ingresslab.ingress.annotations import (ANNOTATIONS, BY_KEY, PREFIX, ParsedAnnotations, Risk, Scope,
                                            documentation, parse_annotations, parse_settings)
from ingresslab.ingress.model import Settings

NO_DEADLINE = hypothesis_settings(deadline=None)
"""Hypothesis's 200 ms per example is a timing assertion; on a loaded machine one example can take longer."""

P = PREFIX


def parse(**values: str):
    return parse_annotations({P + k.replace("_", "-"): v for k, v in values.items()})


def only_cause(annotations: dict):
    parsed, causes = parse_annotations(annotations)
    assert len(causes) == 1, causes
    return parsed, causes[0]


def test_every_declaration_names_its_scope_risk_default_and_documentation():
    assert {a.name for a in ANNOTATIONS} == {"rewrite-target", "use-regex", "ssl-redirect", "force-ssl-redirect",
                                             "backend-protocol", "service-upstream", "proxy-body-size"}
    for a in ANNOTATIONS:
        assert a.key == P + a.name
        assert isinstance(a.scope, Scope) and isinstance(a.risk, Risk)
        assert len(a.documentation) > 40
        assert hasattr(ParsedAnnotations(), a.attribute)
    assert BY_KEY[P + "rewrite-target"].scope is Scope.INGRESS
    assert BY_KEY[P + "ssl-redirect"].default is True


def test_documentation_rows_list_every_annotation_for_a_notebook_table():
    rows = documentation()
    assert [r["annotation"] for r in rows] == [a.key for a in ANNOTATIONS]
    assert {"scope", "risk", "default", "documentation"} <= set(rows[0])


def test_no_annotations_give_the_defaults_and_no_causes():
    assert parse_annotations({}) == (ParsedAnnotations(), [])
    assert parse_annotations(None) == (ParsedAnnotations(), [])


def test_unset_ssl_redirect_and_body_size_leave_the_choice_to_the_configmap():
    parsed, _ = parse_annotations({})
    assert parsed.ssl_redirect is None and parsed.proxy_body_size is None


def test_supported_values_are_parsed_into_typed_fields():
    parsed, causes = parse(rewrite_target="/$2", use_regex="true", ssl_redirect="false", force_ssl_redirect="1",
                           backend_protocol="HTTPS", service_upstream="True", proxy_body_size="8m")
    assert causes == []
    assert parsed.rewrite_target == "/$2" and parsed.use_regex is True and parsed.ssl_redirect is False
    assert parsed.force_ssl_redirect is True and parsed.backend_protocol == "HTTPS"
    assert parsed.service_upstream is True and parsed.proxy_body_size == "8m"
    assert parsed.explicit == {"rewrite-target", "use-regex", "ssl-redirect", "force-ssl-redirect",
                               "backend-protocol", "service-upstream", "proxy-body-size"}


@pytest.mark.parametrize("text,value", [("true", True), ("True", True), ("TRUE", True), ("t", True), ("1", True),
                                        ("false", False), ("F", False), ("0", False)])
def test_booleans_read_as_gos_strconv_parse_bool_reads_them(text, value):
    parsed, causes = parse(use_regex=text)
    assert causes == [] and parsed.use_regex is value


@pytest.mark.parametrize("text", ["yes", "on", "tru", " true"])
def test_other_boolean_spellings_are_refused_with_the_annotation_named(text):
    parsed, cause = only_cause({P + "ssl-redirect": text})
    assert cause.field == "metadata.annotations[nginx.ingress.kubernetes.io/ssl-redirect]"
    assert cause.reason == "FieldValueInvalid"
    assert 'annotation nginx.ingress.kubernetes.io/ssl-redirect must be "true" or "false"' in cause.message
    assert parsed.ssl_redirect is None


@pytest.mark.parametrize("text,value", [("https", "HTTPS"), ("grpc", "GRPC"), (" GrPcS ", "GRPCS"), ("HTTP", "HTTP")])
def test_backend_protocol_is_case_insensitive_as_in_ingress_nginx(text, value):
    parsed, causes = parse(backend_protocol=text)
    assert causes == [] and parsed.backend_protocol == value


@pytest.mark.parametrize("text", ["AJP", "FCGI", "h2", "HTTP;"])
def test_backend_protocols_the_lab_does_not_proxy_are_refused(text):
    parsed, cause = only_cause({P + "backend-protocol": text})
    assert "must be one of HTTP, HTTPS, GRPC, GRPCS" in cause.message
    assert parsed.backend_protocol == "HTTP"


@pytest.mark.parametrize("text", ["0", "1m", "100", "512k", "8M", "1g", "10G"])
def test_proxy_body_size_accepts_nginx_sizes(text):
    parsed, causes = parse(proxy_body_size=text)
    assert causes == [] and parsed.proxy_body_size == text


@pytest.mark.parametrize("text", ["1mb", "1.5m", "-1", "m", "1m;", "1m ", "1 m", "10t", "1234567890"])
def test_proxy_body_size_refuses_anything_else(text):
    _, cause = only_cause({P + "proxy-body-size": text})
    assert cause.field == "metadata.annotations[nginx.ingress.kubernetes.io/proxy-body-size]"
    assert "annotation nginx.ingress.kubernetes.io/proxy-body-size must be an nginx size" in cause.message


@pytest.mark.parametrize("text", ["/", "/$1", "/api/$2", "/a-b_c.d~e/$1/$2", "/v1:beta/$0"])
def test_rewrite_target_allows_url_characters_and_capture_references(text):
    parsed, causes = parse(rewrite_target=text)
    assert causes == [] and parsed.rewrite_target == text


@pytest.mark.parametrize("text,found", [
    ("/$1 return", "a space"),
    ("/$1; return 200", "';'"),
    ("/a;b", "';'"),
    ('/a"b', "'\"'"),
    ("/a'b", "'''"),
    ("/a{b}", "'{'"),
    ("/a#b", "'#'"),
    ("/a\\b", "'\\'"),
    ("/a\nb", "a line break"),
    ("/a\tb", "a tab"),
    ("/a?b=1", "'?'"),
    ("/ａ", "U+FF41"),
])
def test_rewrite_target_refuses_what_nginx_would_parse_and_says_which_character(text, found):
    _, cause = only_cause({P + "rewrite-target": text})
    assert cause.message.startswith("Invalid value: ")
    assert "annotation nginx.ingress.kubernetes.io/rewrite-target may contain only" in cause.message
    assert f"found {found}" in cause.message


def test_rewrite_target_refuses_nginx_variables_but_explains_captures():
    _, cause = only_cause({P + "rewrite-target": "/$host/$1"})
    assert "may use '$' only for capture references $0 to $9" in cause.message


def test_rewrite_target_must_be_an_absolute_path_so_it_never_becomes_a_redirect():
    _, cause = only_cause({P + "rewrite-target": "https://evil.example/$1"})
    assert "must be an absolute path starting with '/'" in cause.message


@pytest.mark.parametrize("name", ["configuration-snippet", "server-snippet", "stream-snippet", "auth-snippet",
                                  "modsecurity-snippet", "anything-snippet"])
def test_snippet_annotations_are_forbidden_because_they_are_raw_nginx_configuration(name):
    _, cause = only_cause({P + name: "return 200 'hi';"})
    assert cause.reason == "FieldValueForbidden"
    assert cause.field == f"metadata.annotations[{P}{name}]"
    assert cause.message == (f"Forbidden: annotation {P}{name} is forbidden: snippet annotations are disabled in "
                             "this lab because they are raw nginx configuration")


def test_a_snippet_is_refused_even_when_empty():
    _, causes = parse_annotations({P + "server-snippet": ""})
    assert len(causes) == 1


def test_annotations_the_lab_does_not_implement_are_listed_as_ignored_not_applied():
    parsed, causes = parse_annotations({P + "auth-url": "http://x/;evil", P + "canary": "true"})
    assert causes == []
    assert parsed.ignored == (P + "auth-url", P + "canary")


def test_annotations_of_other_prefixes_are_none_of_our_business():
    parsed, causes = parse_annotations({"kubernetes.io/ingress.class": "nginx", "example.com/x": "a;b",
                                        "nginx.org/server-snippets": "x"})
    assert causes == [] and parsed == ParsedAnnotations()


def test_empty_values_count_as_unset_as_in_ingress_nginx():
    parsed, causes = parse(rewrite_target="", proxy_body_size="")
    assert causes == [] and parsed.rewrite_target is None and parsed.explicit == frozenset()


def test_an_invalid_value_keeps_the_default_while_valid_neighbours_still_apply():
    parsed, causes = parse(use_regex="maybe", proxy_body_size="2m")
    assert len(causes) == 1 and parsed.use_regex is False and parsed.proxy_body_size == "2m"


def test_causes_come_in_a_stable_order_sorted_by_annotation_key():
    _, causes = parse_annotations({P + "use-regex": "x", P + "backend-protocol": "x", P + "server-snippet": "x"})
    assert [c.field for c in causes] == [f"metadata.annotations[{P}{n}]"
                                         for n in ("backend-protocol", "server-snippet", "use-regex")]


def test_a_non_string_value_is_refused():
    _, cause = only_cause({P + "use-regex": True})
    assert "must be a string" in cause.message


# --- the controller ConfigMap ------------------------------------------------------------------------------------

def test_configmap_keys_override_ingress_nginx_defaults():
    settings, invalid, ignored = parse_settings({"proxy-body-size": "16m", "ssl-redirect": "false",
                                                 "proxy-read-timeout": "120", "log-format-upstream": "$status $uri"})
    assert (invalid, ignored) == ([], [])
    assert settings == Settings(proxy_body_size="16m", ssl_redirect=False, proxy_read_timeout=120,
                                log_format_upstream="$status $uri")


def test_bad_configmap_values_keep_the_default_and_say_why():
    settings, invalid, ignored = parse_settings({"keep-alive": "-1", "worker-processes": "auto",
                                                 "log-format-upstream": "$status\n}", "http-snippet": "x"})
    assert settings == Settings()
    assert [key for key, _ in invalid] == ["keep-alive", "log-format-upstream", "worker-processes"]
    assert "printable ASCII" in dict(invalid)["log-format-upstream"]
    assert ignored == ["http-snippet"]


def test_access_log_params_and_upstream_keepalive_keys_take_only_what_nginx_reads_there():
    settings, invalid, _ = parse_settings({"access-log-params": " buffer=16k   flush=1s ",
                                           "upstream-keepalive-requests": "100", "upstream-keepalive-time": "30s",
                                           "upstream-keepalive-timeout": "5"})
    assert invalid == []
    assert (settings.access_log_params, settings.upstream_keepalive_requests, settings.upstream_keepalive_time,
            settings.upstream_keepalive_timeout) == ("buffer=16k flush=1s", 100, "30s", 5)
    for bad in ("buffer=16k if=$loggable", "flush=1s", "buffer=16k; error_log /tmp/x", "buffer=1g"):
        settings, invalid, _ = parse_settings({"access-log-params": bad})
        assert settings.access_log_params == "" and [key for key, _ in invalid] == ["access-log-params"], bad


@NO_DEADLINE
@given(st.text(max_size=20))
def test_an_accepted_rewrite_target_is_always_a_safe_path_with_captures(text):
    parsed, causes = parse_annotations({P + "rewrite-target": "/" + text})
    if not causes:
        assert re.fullmatch(r"/(?:[A-Za-z0-9\-._~/:]|\$[0-9])*", parsed.rewrite_target)
