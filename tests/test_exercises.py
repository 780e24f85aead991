"""The exercises as a learner meets them: right answers of every shape pass, wrong ones are explained, on a real lab.

Reading and plain-word validation are tested alone; everything else goes through a real lab (module-scoped, in a
temporary home): the answer applied in a scratch namespace, real requests through the controller's NodePort.
"""
from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException

from ingresslab.exercises import (EXERCISES, DefaultBackend, Incorrect, MultiHost, NotAnAnswer, PathPrecedence,
                                  WildcardHost, explain_causes, read_answer)
from ingresslab.ingress import reference


def backend(name: str, port) -> dict:
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": name, "port": {key: port}}}


def rule(host: str, *paths) -> dict:
    return {"host": host, "http": {"paths": [{"path": p, "pathType": t, "backend": backend(s, port)}
                                             for p, t, s, port in paths]}}


def ingress(*rules, name: str = "mysite", **spec) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {**spec, "rules": list(rules)} if rules else spec}


WWW = rule("www.mysite.com", ("/", "Prefix", "site-svc", 80))
FORUMS = rule("forums.mysite.com", ("/", "Prefix", "forums-svc", 80))


@pytest.fixture(scope="module")
def lab():
    """A lab of this module's own. Its home is short on purpose: the controller's unix socket lives under it, and
    a socket path may not pass 107 bytes (pytest's own temporary directories are too deep for that)."""
    from ingresslab import Lab
    home = Path(tempfile.mkdtemp(prefix="ilx-"))
    the_lab = Lab.up(home)
    yield the_lab
    the_lab.down()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def multihost(lab):
    return MultiHost(lab)


# --- reading answers (no lab) -----------------------------------------------------------------------------------

def test_a_rules_list_becomes_one_v1_ingress():
    answer = read_answer([WWW, FORUMS])
    assert len(answer.ingresses) == 1
    assert answer.ingresses[0]["apiVersion"] == "networking.k8s.io/v1"
    assert [r["host"] for r in answer.ingresses[0]["spec"]["rules"]] == ["www.mysite.com", "forums.mysite.com"]


def test_yaml_with_several_documents_gives_several_ingresses_and_skips_app_documents():
    text = yaml.safe_dump_all([ingress(WWW, name="a"), {"apiVersion": "v1", "kind": "Service",
                                                       "metadata": {"name": "x"}}, ingress(FORUMS, name="b")])
    answer = read_answer(text)
    assert [i["metadata"]["name"] for i in answer.ingresses] == ["a", "b"]
    assert any("left out your Service x" in n for n in answer.notes)


def test_the_articles_legacy_rules_are_converted_with_a_note():
    text = """
- host: www.mysite.com
  http:
    paths:
    - backend:
        serviceName: site-svc
        servicePort: 80
"""
    answer = read_answer(text)
    path = answer.ingresses[0]["spec"]["rules"][0]["http"]["paths"][0]
    assert path["backend"] == backend("site-svc", 80) and path["pathType"] == "ImplementationSpecific"
    assert "removed it in 1.22" in answer.notes[0]


def test_a_path_to_a_manifest_file_is_read(tmp_path):
    answer = tmp_path / "answer.yaml"
    answer.write_text(MultiHost._solution)
    assert read_answer(answer).ingresses[0]["metadata"]["name"] == "mysite"
    assert read_answer(str(answer)).ingresses == read_answer(answer).ingresses
    with pytest.raises(NotAnAnswer, match="there is no file `missing.yaml`"):
        read_answer("missing.yaml")


@pytest.mark.parametrize("text, words", [
    ("rules:\n\t- host: a", "indented with a tab"),
    ("rules:\n  - host: a\n   http: x", "not valid YAML at line 3"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}", "the exercise asks for an Ingress"),
    ("spec:\n  rules:\n    host: www.mysite.com", "`rules:` should be a list"),
    ("", "empty"),
])
def test_what_cannot_be_read_is_said_in_plain_words(text, words):
    with pytest.raises(NotAnAnswer) as caught:
        read_answer(text)
    assert words in str(caught.value)


@pytest.mark.parametrize("change, words", [
    (lambda r: r.update(host="10.0.0.1"), "the host may not be an IP address"),
    (lambda r: r.update(host="WWW.mysite.com"), "host names are written in lower case"),
    (lambda r: r.update(host="www.mysite.com:80"), "written without a port"),
    (lambda r: r["http"]["paths"][0].pop("pathType"), "`pathType` is required in networking.k8s.io/v1"),
    (lambda r: r["http"]["paths"][0].update(pathType="prefix"), "must be written exactly `Prefix`"),
    (lambda r: r["http"]["paths"][0].update(path="about"), "must start with `/`"),
    (lambda r: r["http"]["paths"][0].update(backend={"serviceName": "site-svc", "servicePort": 80}),
     "`serviceName` and `servicePort` are the old extensions/v1beta1 fields"),
    (lambda r: r["http"]["paths"][0]["backend"]["service"].update(port={}), "needs a `port`"),
    (lambda r: r["http"]["paths"][0]["backend"]["service"].update(port={"name": "80"}),
     "was given as a port *name*"),
    (lambda r: r["http"]["paths"][0]["backend"]["service"].update(name="Site_Svc"), "cannot be a Service name"),
])
def test_validation_messages_are_plain_words_with_the_apis_own_message_as_detail(change, words):
    www = copy.deepcopy(WWW)
    change(www)
    findings = explain_causes(ingress(www))
    assert findings and words in findings[0].text
    assert findings[0].detail.startswith("spec.rules[0]")


def test_a_bare_port_is_an_indentation_problem_not_a_crash():
    www = copy.deepcopy(WWW)
    www["http"]["paths"][0]["backend"]["service"]["port"] = 80
    assert "not the bare value `80`" in explain_causes(ingress(www))[0].text


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_each_solution_routes_as_its_table_says_by_the_reference_matcher(exercise):
    ingresses = list(read_answer(exercise._solution).ingresses)
    for expect in exercise._expected:
        got = reference.route(ingresses, expect.host, expect.path)
        assert (got.service if got else None) == expect.service, expect


def test_outcomes_show_colour_escape_names_and_read_as_text():
    from ingresslab.exercises import Finding, Outcome
    outcome = Outcome(False, "incorrect", "1 of 2 <requests>", (Finding("host `a.b` & co", "detail"),))
    html = outcome._repr_html_()
    assert "#c62828" in html and "<code>a.b</code>" in html and "&lt;requests&gt;" in html and "&amp; co" in html
    assert outcome._repr_markdown_().startswith("❌ **Not yet:**")
    assert "✗ Not yet: 1 of 2 <requests>" in repr(outcome)


def test_hint_and_solution_are_rich_text_without_a_lab():
    ex = MultiHost(lab=None)
    assert "Host header" in ex.hint()._repr_markdown_()
    assert yaml.safe_load(ex.solution().yaml)["kind"] == "Ingress"
    assert "```yaml" in ex.solution()._repr_markdown_() and "| `http://www.mysite.com/about` | site-svc |" in \
        ex._repr_markdown_()


@pytest.mark.parametrize("kind,default", [(MultiHost, "ex"), (WildcardHost, "wildcard"),
                                          (PathPrecedence, "precedence"), (DefaultBackend, "catch_all")])
def test_every_card_names_the_variable_to_call_check_on(kind, default):
    card = kind(lab=None)._repr_markdown_()
    assert f"`{default}.check(answer)` · `{default}.hint()` · `{default}.solution()`" in card
    other = "ex" if default != "ex" else "first"
    assert f"{other}.check(answer)" not in card
    mine = kind(lab=None, variable="my_try")
    assert "`my_try.check(answer)`" in mine._repr_markdown_() and "my_try.check(answer)" in repr(mine)
    with pytest.raises(ValueError, match="variable must be a Python name"):
        kind(lab=None, variable="not a name")


def test_the_follow_ups_have_distinct_default_names():
    assert len({kind.variable for kind in EXERCISES}) == len(EXERCISES)


@pytest.mark.parametrize("kind", EXERCISES)
def test_hints_and_solutions_stay_inside_the_offline_course(kind):
    ex = kind(lab=None)
    words = " ".join([ex.hint()._repr_markdown_(), ex.solution()._repr_markdown_(), ex._repr_markdown_()]).lower()
    for outside in ("http://kubernetes.io", "https://", "docs", "documentation", "online", "google"):
        assert outside not in words, f"{kind.__name__} sends the learner outside the course: {outside!r}"


# --- right answers of every shape, on the real lab --------------------------------------------------------------

LEGACY_RULES = """
- host: www.mysite.com
  http:
    paths:
    - backend:
        serviceName: site-svc
        servicePort: 80
- host: forums.mysite.com
  http:
    paths:
    - backend:
        serviceName: forums-svc
        servicePort: http
"""

RIGHT = {
    "the solution's YAML": MultiHost._solution,
    "a rules list, port by name, ImplementationSpecific": [
        rule("www.mysite.com", ("/", "ImplementationSpecific", "site-svc", "http")),
        rule("forums.mysite.com", ("/", "ImplementationSpecific", "forums-svc", "http"))],
    "a dict with ingressClassName and extra harmless paths": ingress(
        rule("www.mysite.com", ("/static", "Prefix", "site-svc", 80), ("/", "Prefix", "site-svc", "http"),
             ("/healthz", "Exact", "site-svc", 80)),
        rule("forums.mysite.com", ("/", "Prefix", "forums-svc", 80)), ingressClassName="nginx"),
    "two Ingresses, one per host": yaml.safe_dump_all([ingress(FORUMS, name="forums"), ingress(WWW, name="www")]),
    "the article's legacy form": LEGACY_RULES,
    "a spec with tls (redirected to https, default certificate)": {
        "tls": [{"hosts": ["www.mysite.com", "forums.mysite.com"], "secretName": "mysite-tls"}],
        "rules": [WWW, FORUMS]},
}


@pytest.mark.parametrize("answer", RIGHT.values(), ids=RIGHT.keys())
def test_every_correct_shape_is_accepted(multihost, answer):
    outcome = multihost.check(answer)
    assert outcome.passed, str(outcome)
    assert outcome.kind == "correct" and all(r.ok for r in outcome.requests)
    assert "#2e7d32" in outcome._repr_html_()


def test_the_legacy_answer_passes_with_a_note_about_networking_v1(multihost):
    outcome = multihost.check(LEGACY_RULES)
    assert outcome.passed and any("networking.k8s.io/v1" in n for n in outcome.notes)


# --- wrong answers, each with its explanation -------------------------------------------------------------------

WRONG = {
    "hosts swapped": (
        [rule("www.mysite.com", ("/", "Prefix", "forums-svc", 80)),
         rule("forums.mysite.com", ("/", "Prefix", "site-svc", 80))],
        "`GET http://forums.mysite.com/` and `GET http://forums.mysite.com/t/42` were answered by a site pod: "
        "your rule for host `forums.mysite.com` sends `/` (Prefix) to `site-svc`"),
    "host as an IP": ([rule("127.0.3.1", ("/", "Prefix", "site-svc", 80)), FORUMS],
                      "the host may not be an IP address (`127.0.3.1`)"),
    "missing pathType": (ingress({"host": "www.mysite.com", "http": {"paths": [
        {"path": "/", "backend": backend("site-svc", 80)}]}}, FORUMS),
        "the rule for host `www.mysite.com`, path `/`: `pathType` is required in networking.k8s.io/v1"),
    "the Deployment's name instead of the Service's": (
        [rule("www.mysite.com", ("/", "Prefix", "site", 80)), FORUMS],
        "got 503 Service Temporarily Unavailable: your rule for host `www.mysite.com` sends `/` (Prefix) to "
        "`site` port `80`, and there is no Service named `site`"),
    "only one host": ([WWW], "none of your rules names host `forums.mysite.com`, so nginx's default server "
                             "answered 404"),
    "Exact / misses /about": (
        [rule("www.mysite.com", ("/", "Exact", "site-svc", 80)), FORUMS],
        "`GET http://www.mysite.com/about` got 404 Not Found: your rule for host `www.mysite.com` has no path that "
        "matches `/about` (its paths: `/` (Exact)); `Exact` matches that one path only"),
    "the container port instead of the Service port": (
        [rule("www.mysite.com", ("/", "Prefix", "site-svc", 8080)), FORUMS],
        "8080 is the pods' port (the Service's `targetPort`), while an Ingress names the Service's own port"),
    "a typo in a host": ([WWW, rule("forum.mysite.com", ("/", "Prefix", "forums-svc", 80))],
                         "(there is a rule for `forum.mysite.com` — a typo?)"),
    "a rule without host": (
        [{"http": WWW["http"]}, FORUMS],
        "`GET http://blog.mysite.com/` should match no rule and get 404, but was answered by a site pod: your rule "
        "without a host (it matches every host that no rule names)"),
    "another controller's class": (ingress(WWW, FORUMS, ingressClassName="traefik"),
                                   "the controller ignored your Ingress: it asks for `ingressClassName: traefik`"),
}


@pytest.mark.parametrize("answer, words", WRONG.values(), ids=WRONG.keys())
def test_wrong_answers_are_rejected_with_the_reason(multihost, answer, words):
    outcome = multihost.check(answer)
    assert not outcome.passed
    assert any(words in m for m in outcome.messages), str(outcome)


def test_verify_raises_incorrect_carrying_the_outcome(multihost):
    with pytest.raises(Incorrect) as caught:
        multihost.verify([WWW])
    assert caught.value.outcome.kind == "incorrect"
    assert "forums.mysite.com" in str(caught.value)


def test_refused_answers_send_no_request_and_create_no_namespace(lab, multihost):
    before = {n.metadata.name for n in kubernetes.client.CoreV1Api(lab.api).list_namespace().items}
    outcome = multihost.check([rule("10.1.2.3", ("/", "Prefix", "site-svc", 80))])
    assert outcome.kind == "invalid" and not outcome.requests
    assert {n.metadata.name for n in kubernetes.client.CoreV1Api(lab.api).list_namespace().items} == before


def test_the_scratch_namespace_is_gone_after_a_check_and_nothing_else_changed(lab, multihost):
    core = kubernetes.client.CoreV1Api(lab.api)
    networking = kubernetes.client.NetworkingV1Api(lab.api)
    before = {n.metadata.name for n in core.list_namespace().items}
    multihost.check([WWW])                      # wrong: the cleanup must not depend on the answer
    namespace = multihost.last_namespace
    assert namespace and namespace.startswith("check-multihost-")
    with pytest.raises(ApiException) as gone:
        core.read_namespace(namespace)
    assert gone.value.status == 404
    assert {n.metadata.name for n in core.list_namespace().items} == before
    assert not [i for i in networking.list_ingress_for_all_namespaces().items if i.metadata.namespace == namespace]
    assert not core.list_namespaced_pod(namespace).items


def test_a_learners_own_ingress_neither_masks_a_wrong_answer_nor_is_touched(lab, multihost):
    """The learner already applied the right Ingress in `default`: the check still sees only the answer."""
    own = ingress(WWW, FORUMS, name="learners-own")
    lab.apply(own, namespace="default")
    networking = kubernetes.client.NetworkingV1Api(lab.api)
    try:
        spec = networking.read_namespaced_ingress("learners-own", "default").spec
        assert not multihost.check([WWW]).passed
        assert multihost.check([WWW, FORUMS]).passed
        assert networking.read_namespaced_ingress("learners-own", "default").spec == spec
    finally:
        lab.delete("Ingress", "learners-own", namespace="default")


# --- the follow-ups: right and wrong once each ------------------------------------------------------------------

def test_wildcard_right_and_wrong(lab):
    ex = WildcardHost(lab)
    assert ex.check(ex.solution().yaml).passed
    outcome = ex.check([rule("*.mysite.com", ("/", "Prefix", "site-svc", 80))])
    assert not outcome.passed
    assert any("were answered by a site pod: your rule for host `*.mysite.com` (a wildcard: any one label in "
               "front of `mysite.com`) sends `/` (Prefix) to `site-svc`" in m for m in outcome.messages), outcome


def test_path_precedence_right_and_wrong(lab):
    ex = PathPrecedence(lab)
    assert ex.check([rule("www.mysite.com", ("/forums", "Prefix", "forums-svc", "http"),
                          ("/", "ImplementationSpecific", "site-svc", 80))]).passed
    outcome = ex.check([rule("www.mysite.com", ("/", "Prefix", "site-svc", 80),
                             ("/forums", "Exact", "forums-svc", 80))])
    assert not outcome.passed
    assert any("`GET http://www.mysite.com/forums/new` was answered by a site pod: your rule for host "
               "`www.mysite.com` sends `/` (Prefix) to `site-svc`; your path `/forums` (Exact) for `forums-svc` "
               "does not match `/forums/new`" in m for m in outcome.messages), outcome


def test_default_backend_right_and_wrong(lab):
    ex = DefaultBackend(lab)
    assert ex.check(ex.solution().yaml).passed
    assert ex.check([WWW, FORUMS, rule("", ("/", "Prefix", "notfound-svc", 80))]).passed   # a rule without host
    wrong = ex.check(ingress(WWW, FORUMS, defaultBackend=backend("notfound-svc", 80)))
    assert not wrong.passed
    assert any("`GET http://blog.mysite.com/` and `GET http://unknown.example.org/anything` got 404 Not Found: none "
               "of your rules names these hosts" in m and "a `defaultBackend` catches unknown hosts only on an "
               "Ingress that has no rules" in m for m in wrong.messages), wrong


def test_default_backend_says_so_when_another_ingress_holds_the_catch_all(lab):
    lab.apply(ingress(name="someone-elses", defaultBackend=backend("whatever", 80)), namespace="default")
    try:
        outcome = DefaultBackend(lab).check(DefaultBackend._solution)
        assert outcome.kind == "error" and "default/someone-elses" in outcome.messages[1]
    finally:
        lab.delete("Ingress", "someone-elses", namespace="default")


def test_the_public_api_is_all():
    import ingresslab.exercises as package
    public = {name for name in vars(package) if not name.startswith("_")} - {
        "answers", "gateway_routes", "mysite", "outcome", "plainwords", "probe", "routing", "scratch"}
    assert public == set(package.__all__)
