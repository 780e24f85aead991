"""The exercises and the plain-word validation messages speak Chinese when the lab does (`i18n.use("zh")`), and
English, word for word as before, when it does not.

Like tests/test_exercises.py, the checks run against a real lab of this module's own: answers applied in a scratch
namespace, real requests through the controller's NodePort (and, for notebook 09, through a Gateway of the
check's own). Kubernetes' own words — the API's 422 message kept as a finding's small print, kubectl commands,
HTTP status lines, YAML — stay English in both languages.
"""
from __future__ import annotations

import re
import shutil
import string
import sys
import tempfile
from pathlib import Path

import kubernetes
import pytest
import yaml
from kubernetes.client.rest import ApiException

from ingresslab import i18n
from ingresslab.exercises import EXERCISES, MultiHost, MultiHostRoutes, PathPrecedence, explain_causes
from ingresslab.exercises.plainwords import api_error_findings

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "ingresslab" / "locale" / "zh" / "LC_MESSAGES" / "exercises.po"
CJK = re.compile(r"[\u4e00-\u9fff]")
ALL_EXERCISES = (*EXERCISES, MultiHostRoutes)


def backend(name: str, port) -> dict:
    return {"service": {"name": name, "port": {"number": port}}}


def rule(host: str, *paths) -> dict:
    return {"host": host, "http": {"paths": [{"path": p, "pathType": t, "backend": backend(s, port)}
                                             for p, t, s, port in paths]}}


def ingress(*rules, name: str = "mysite") -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {"rules": list(rules)}}


WWW = rule("www.mysite.com", ("/", "Prefix", "site-svc", 80))
FORUMS = rule("forums.mysite.com", ("/", "Prefix", "forums-svc", 80))
SWAPPED = [rule("www.mysite.com", ("/", "Prefix", "forums-svc", 80)),
           rule("forums.mysite.com", ("/", "Prefix", "site-svc", 80))]
IP_HOST = [rule("127.0.3.1", ("/", "Prefix", "site-svc", 80)), FORUMS]


def chinese(text: str) -> bool:
    return bool(CJK.search(text))


@pytest.fixture(scope="module")
def lab():
    """A lab of this module's own, in a short home (the controller's unix socket lives under it; see
    tests/test_exercises.py)."""
    from ingresslab import Lab
    home = Path(tempfile.mkdtemp(prefix="ilz-"))
    the_lab = Lab.up(home)
    yield the_lab
    the_lab.down()
    shutil.rmtree(home, ignore_errors=True)


# --- the catalogue ------------------------------------------------------------------------------------------------

def test_every_exercise_string_has_a_current_chinese_translation_with_the_same_placeholders():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from i18n import read_catalogue
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    messages = [m for m in read_catalogue(CATALOGUE) if m.id]
    assert len(messages) > 150
    for m in messages:
        english = m.id if isinstance(m.id, tuple) else (m.id,)
        translated = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(translated) and not m.fuzzy, f"untranslated or stale: {m.id!r}"
        for en, text in zip(english, translated):
            assert text != en, f"not translated: {m.id!r}"
            if "python-brace-format" in m.flags:
                fields = {f for _, f, _, _ in string.Formatter().parse(english[0]) if f}
                assert {f for _, f, _, _ in string.Formatter().parse(text) if f} == fields, (m.id, text)


# --- the cards, hints and solutions (no lab needed to show them) -------------------------------------------------

@pytest.mark.parametrize("kind", ALL_EXERCISES, ids=lambda k: k.__name__)
def test_every_exercise_shows_its_card_hint_and_solution_in_chinese(kind, zh):
    ex = kind(lab=None)
    card = ex._repr_markdown_()
    assert card.startswith(f"### {ex.shown_title}\n") and chinese(ex.shown_title) and ex.shown_title != kind.title
    assert "| 请求 | 必须到达 |" in card and "发送下面这些请求：" in card
    assert f"`{ex.variable}.check(answer)` · `{ex.variable}.hint()` · `{ex.variable}.solution()`" in card
    assert f"<{kind.__name__}: {ex.shown_title} — {ex.variable}.check(answer)" in repr(ex)
    hint = ex.hint()
    assert chinese(hint.text) and str(hint).startswith("提示：") and "💡 **提示：**" in hint._repr_markdown_()
    assert "<b style=\"color:#1565c0\">提示：</b>" in hint._repr_html_()
    solution = ex.solution()
    assert solution.yaml == kind._solution                      # the YAML itself is the same in every language
    assert chinese(solution.explanation) and str(solution).startswith("参考答案：\n")
    assert solution._repr_markdown_().startswith("**参考答案：**\n\n```yaml\n")


def test_the_language_is_chosen_when_shown_not_when_the_exercise_was_made():
    ex = PathPrecedence(lab=None)
    i18n.use("zh")
    try:
        assert "一个主机名，按路径分给两个 Service" in ex._repr_markdown_()
        assert "最长的匹配路径胜出" in ex.solution().explanation
    finally:
        i18n.use("en")
    try:
        assert "### One host, two Services by path\n" in ex._repr_markdown_()
        assert ex.solution().explanation.startswith("The longest matching path wins")
    finally:
        i18n.use(None)


# --- notebook 07 in Chinese, against the real lab ----------------------------------------------------------------

def test_the_chinese_07_exercise_explains_wrong_routes_in_chinese(lab, zh):
    outcome = MultiHost(lab).check(SWAPPED)
    assert not outcome.passed and outcome.kind == "incorrect"
    assert outcome.title == "5 个请求中有 4 个没有由应有的后端响应。"
    assert "`GET http://forums.mysite.com/` 和 `GET http://forums.mysite.com/t/42` 由 site 的 Pod 响应：你为主机名 " \
           "`forums.mysite.com` 写的规则把 `/`（Prefix）发往 `site-svc`" in outcome.messages
    assert all(chinese(f.text) for f in outcome.findings)
    text = str(outcome)
    assert text.startswith("✗ 还不对：5 个请求中有 4 个") and "  发送的请求（经由 Ingress 控制器）：" in text
    assert "✗ GET http://www.mysite.com/ → forums-svc" in text and "（应为 site-svc）" in text
    markdown = outcome._repr_markdown_()
    assert markdown.startswith("❌ **还不对：** ") and "| | 请求 | 响应方 | 应为 |" in markdown
    assert "| ✓ | `GET http://blog.mysite.com/` | 404 Not Found | 404（无规则） |" in markdown   # nginx's own words
    assert "<b style=\"color:#c62828\">还不对：</b>" in outcome._repr_html_()


def test_the_chinese_07_exercise_explains_an_exact_path_in_chinese(lab, zh):
    outcome = MultiHost(lab).check([rule("www.mysite.com", ("/", "Exact", "site-svc", 80)), FORUMS])
    assert not outcome.passed
    assert "`GET http://www.mysite.com/about` 得到 404 Not Found：你为主机名 `www.mysite.com` 写的规则里没有匹配 " \
           "`/about` 的路径（它的路径：`/`（Exact））；`Exact` 只匹配那一个路径" in outcome.findings[0].text


def test_the_chinese_07_exercise_says_what_kubernetes_would_refuse_in_chinese_with_the_apis_words_as_small_print(
        lab, zh):
    outcome = MultiHost(lab).check(IP_HOST)
    assert outcome.kind == "invalid" and not outcome.requests
    assert outcome.title == "Kubernetes 会拒绝这个 Ingress（没有发送任何请求）。"
    finding = outcome.findings[0]
    assert finding.text.startswith("主机名为 `127.0.3.1` 的规则：主机名不能是 IP 地址（`127.0.3.1`）。")
    assert finding.detail == 'spec.rules[0].host: Invalid value: "127.0.3.1": must be a DNS name, not an IP address'
    assert "⚠️ **还不对：** Kubernetes 会拒绝" in outcome._repr_markdown_()


def test_the_chinese_07_exercise_praises_a_right_answer_in_chinese(lab, zh):
    ex = MultiHost(lab)
    outcome = ex.check(ex.solution().yaml)
    assert outcome.passed, str(outcome)
    assert outcome.title == "全部 5 个请求都到达了应去的地方。"
    assert outcome.notes == ("没有任何规则提到的主机名（blog.mysite.com）得到了 nginx 的 404，这正是应有的结果。",)
    assert str(outcome).startswith("✓ 正确：全部 5 个请求") and "  备注：没有任何规则" in str(outcome)


def test_the_chinese_07_exercise_reads_unreadable_answers_in_chinese(zh):
    outcome = MultiHost(lab=None).check("rules:\n\t- host: www.mysite.com")
    assert outcome.kind == "invalid" and outcome.title == "还无法把它读成 Ingress（没有发送任何请求）。"
    assert outcome.findings[0].text == "第 2 行用了 Tab 缩进；YAML 只能用空格缩进"


# --- notebook 09's HTTPRoute exercise in Chinese, against the real lab -------------------------------------------

def test_the_chinese_09_exercise_explains_a_missing_backend_in_chinese_and_keeps_the_controllers_words(lab, zh):
    ex = MultiHostRoutes(lab)
    wrong = ex.check(ex.solution().yaml.replace("name: forums-svc", "name: forum-svc"))
    assert not wrong.passed and wrong.title == "5 个请求中有 2 个没有由应有的后端响应。"
    status = next(f for f in wrong.findings if "BackendNotFound" in f.text)
    assert status.text.startswith("HTTPRoute `forums`：ResolvedRefs 为 False（BackendNotFound）：")
    assert "forum-svc" in status.text and status.detail == "kubectl describe httproute forums"
    assert "发送的请求（经由 Gateway `mysite`）：" in str(wrong)
    unreadable = ex.check("kind: Gateway\nmetadata: {name: x}\n")
    assert unreadable.findings[0].text == ("第 1 个文档是 Gateway，不是 HTTPRoute（Gateway `mysite` 已经存在；"
                                           "答案里只写 route）")


# --- notebook 03's builder: an IP address as a host, explained in Chinese ----------------------------------------

def test_the_03_builder_explains_an_ip_host_in_chinese(lab, zh):
    """The IngressBuilder's preview and Apply button explain refusals with `plainwords` — in Chinese."""
    from ingresslab.widgets.builder_model import IngressForm, PathRow
    form = IngressForm.from_lab(lab, name="by-ip", rows=[PathRow("10.0.0.1", "/", "Prefix", "kubernetes", "443")])
    errors = form.preview().errors
    assert [e.text for e in errors] == [
        "主机名为 `10.0.0.1` 的规则：主机名不能是 IP 地址（`10.0.0.1`）。Ingress 按客户端放在 Host 请求头里的名字来路由，"
        "所以规则的主机名必须是 DNS 名称"]
    assert errors[0].detail.endswith("must be a DNS name, not an IP address")
    report = form.apply(lab)
    assert not report.ok and [f.text for f in report.findings] == [e.text for e in errors]


def test_the_real_apis_refusal_of_an_ip_host_is_explained_in_chinese(lab, zh):
    """What the builder shows when the API server itself answers 422: its causes, explained in Chinese."""
    manifest = ingress(rule("10.0.0.1", ("/", "Prefix", "kubernetes", 443)), name="by-ip")
    with pytest.raises(ApiException) as refused:
        kubernetes.client.NetworkingV1Api(lab.api).create_namespaced_ingress("default", manifest)
    assert refused.value.status == 422
    findings = api_error_findings(refused.value, manifest)
    assert findings[0].text.startswith("主机名为 `10.0.0.1` 的规则：主机名不能是 IP 地址（`10.0.0.1`）")
    assert "not an IP address" in findings[0].detail and not chinese(findings[0].detail)


@pytest.mark.parametrize("host, words", [
    ("WWW.mysite.com", "主机名 `WWW.mysite.com` 被拒绝 —— 主机名要用小写"),
    ("www.mysite.com:80", "主机名 `www.mysite.com:80` 被拒绝 —— 主机名不带端口（端口归 Ingress 控制器管）"),
    ("http://www.mysite.com/", "主机名不带协议（scheme）：名字是 `www.mysite.com`"),
])
def test_other_refused_hosts_are_explained_in_chinese(host, words, zh):
    findings = explain_causes(ingress(rule(host, ("/", "Prefix", "site-svc", 80))))
    assert words in findings[0].text and not chinese(findings[0].detail)


# --- English stays as it was -------------------------------------------------------------------------------------

def test_in_english_the_07_exercise_says_exactly_what_it_said_before(lab, en):
    outcome = MultiHost(lab).check(SWAPPED)
    assert outcome.title == "4 of 5 requests were not answered where they should be."
    assert outcome.messages[1] == (
        "`GET http://www.mysite.com/` and `GET http://www.mysite.com/about` were answered by a forums pod: your rule "
        "for host `www.mysite.com` sends `/` (Prefix) to `forums-svc`")
    assert str(outcome).startswith("✗ Not yet: 4 of 5") and "  Requests sent through the Ingress controller:" in \
        str(outcome) and " (expected site-svc)" in str(outcome)
    assert "| | request | answered by | expected |" in outcome._repr_markdown_()
    assert "| `http://blog.mysite.com/` | 404 (no rule) |" in MultiHost(lab)._repr_markdown_()


def test_in_english_hints_solutions_and_plain_words_are_the_declared_english(en):
    for kind in ALL_EXERCISES:
        ex = kind(lab=None)
        assert ex.shown_title == kind.title and ex.hint().text == kind._hint
        assert ex.solution().explanation == kind._solution_note
        assert str(ex.hint()) == f"Hint: {kind._hint}" and str(ex.solution()).startswith("Solution:\n")
        assert not chinese(ex._repr_markdown_() + repr(ex))
    finding = explain_causes(ingress(IP_HOST[0]))[0]
    assert finding.text == ("the rule for host `127.0.3.1`: the host may not be an IP address (`127.0.3.1`). An "
                            "Ingress routes by the name the client puts in the Host header, so a rule's host must be "
                            "a DNS name")
