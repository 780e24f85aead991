"""The widgets and diagrams in Chinese: built from the real lab, clicked, and read back — and English when no
language is chosen (the stored English notebook outputs depend on it)."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import kubernetes
import pytest
from polling import eventually

from ingresslab import i18n, trace, viz
from ingresslab.lab import Lab, LabError, Progress
from ingresslab.widgets import CostWidget, IngressBuilder, IngressForm, ReplicasModel, ReplicasSlider, RequestWidget
from ingresslab.widgets.builder_model import ServiceChoice
from ingresslab.widgets.progress import StartProgress

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "i18n-widgets"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def lab():
    """A lab of this module's own, with a short home (the controller's unix socket path must stay < 108 bytes)."""
    home = Path(tempfile.mkdtemp(prefix="ilz-"))
    the_lab = Lab.up(home)
    kubernetes.client.CoreV1Api(the_lab.api).create_namespace({"metadata": {"name": NAMESPACE}})
    the_lab.apply(ROOT / "manifests" / "mysite.yaml", namespace=NAMESPACE)
    for deployment in ("site", "forums"):
        ReplicasModel(the_lab, deployment, namespace=NAMESPACE).wait_until_settled()
    yield the_lab
    the_lab.down()
    shutil.rmtree(home, ignore_errors=True)


def routed_host(lab: Lab, host: str, name: str) -> None:
    """An Ingress sending every path of `host` to site-svc, and nginx serving it."""
    lab.apply({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
               "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                   {"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "site-svc", "port": {"number": 80}}}}]}}]}},
              namespace=NAMESPACE)
    lab.ingress.wait_synced()
    eventually(lambda: trace.send(lab, host, "/").status == 200, what=f"nginx routing {host} to site-svc")
    lab.ingress.wait_synced()


# --- the builder --------------------------------------------------------------------------------------------------

def test_the_builder_from_the_real_lab_speaks_chinese_and_its_apply_report_too(lab, zh):
    builder = IngressBuilder(lab, namespace=NAMESPACE, name="zh-builder")
    assert [s.name for s in builder.model.services] == ["forums-svc", "site-svc"]
    assert (builder._name.description, builder._add.description, builder._secret.description,
            builder._apply.description) == ("名称", "+ 路径", "Secret", "应用")
    assert builder._add.tooltip == "添加一行"
    header = builder.children[1].value
    assert "下方的 YAML 随你的输入实时更新" in header and "点击“应用”之前" in header
    host, _path, _type, service, port, remove = builder._rows.children[0].children
    assert host.placeholder == "主机名（留空：任意）" and remove.tooltip == "删除这一行"
    assert "✓ Kubernetes 会接受这个 Ingress。" in builder._problems.value

    host.value = "zh.mysite.com"
    service.value = "site-svc"
    port.options = ("80", "8080")
    port.value = "8080"                                            # site-svc has no port 8080
    assert "会被接受，但是：" in builder._problems.value
    assert "`zh.mysite.com/`：Service `site-svc` 没有端口 `8080`（它有 80, http）—— 请求会得到 503" in \
        builder.last_preview.warnings
    assert "警告：`zh.mysite.com/`" in repr(builder) and repr(builder).startswith("IngressBuilder（i18n-widgets/")
    port.value = "80"
    builder._name.value = ""
    assert "Kubernetes 会拒绝它：" in builder._problems.value and builder._apply.disabled
    assert "拒绝：Ingress 需要一个名称" in repr(builder)
    builder._name.value = "zh-builder"

    builder._apply.click()
    report = builder.last_report
    assert report.ok, report.text()
    assert report.message == f"已在命名空间 `{NAMESPACE}` 中创建 Ingress `zh-builder`"
    assert report.reloads_after == report.reloads_before + 1
    assert f"nginx 已重载：重载次数 {report.reloads_before} → {report.reloads_after}" in builder._report.value
    assert "行变化（绿色：新增，红色：删除）" in builder._report.value
    assert any("server_name zh.mysite.com;" in c.text for c in report.changes if c.kind == "added")
    assert any(re.fullmatch(r"… \d+ 行未变 …", c.text) for c in report.changes if c.kind == "skipped")

    builder._apply.click()                                         # the same again: nothing to reload
    again = builder.last_report
    assert again.message == f"命名空间 `{NAMESPACE}` 中的 Ingress `zh-builder` 没有变化"
    assert again.note == "已存储的 Ingress 内容与此相同：没有任何变化，无需重载"
    assert f"nginx 没有重载（重载次数仍为 {again.reloads_before}）" in again.text()


def test_a_builder_without_a_lab_says_so_in_chinese(zh):
    builder = IngressBuilder(None, model=IngressForm(rows=[{"host": "a.example", "service": "s", "port": "80"}],
                                                     services=[ServiceChoice("s", ("80",))], tls=True))
    builder._apply.click()
    assert builder._report.value == "<i>没有实验环境：这个构建器只能预览</i>"
    assert "启用了 TLS 却没有 Secret：nginx 会使用它默认的自签名证书" in builder.last_preview.warnings


# --- requests, replicas, cost ---------------------------------------------------------------------------------

def test_the_request_widget_answers_and_traces_in_chinese(lab, zh):
    routed_host(lab, "zh-request.mysite.com", "zh-request")
    widget = RequestWidget(lab, host="zh-request.mysite.com", path="/x")
    assert (widget._host.description, widget._path.description, widget._send.description,
            widget._hops.description) == ("主机名", "路径", "发送", "追踪每一跳")
    assert repr(widget) == "RequestWidget：GET http://zh-request.mysite.com/x（尚未发送）"
    assert "https 使用实验环境的自签名证书" in widget._out.value
    widget._hops.value = True
    widget._send.click()
    result = widget.model.last
    assert result.response.status == 200 and result.pod.namespace == NAMESPACE, result.text()
    assert not result.hops_error, result.hops_error
    page = widget._out.value
    assert f"应答者：<b>Pod {NAMESPACE}/{result.pod.name}（{result.pod.ip}，位于 {result.pod.node}）</b>" in page
    assert "（节点:NodePort）" in page
    assert "<th>跳</th><th>组件</th><th>位置</th><th>连接</th><th>本跳</th><th>自发送起</th>" in page
    assert "<b>总计</b>（发送 → 读完响应）" in page
    text = repr(widget)
    assert text.startswith("RequestWidget：\nGET http://zh-request.mysite.com/x 经由 ")
    assert "  第 1 跳：kube-proxy " in text and "  第 3 跳：pod " in text and "总计 " in text

    widget._host.value = "nobody.mysite.com"                      # no rule: nginx answers by itself
    widget._hops.value = False
    widget._send.click()
    assert widget.model.last.response.status == 404
    assert "应答者：<b>nginx 自己（没有规则把它转发给 Pod）</b>" in widget._out.value


def test_the_replicas_slider_follows_the_endpoints_in_chinese(lab, zh):
    slider = ReplicasSlider(lab, "site", namespace=NAMESPACE)
    assert slider._slider.description == "副本数"
    slider._slider.value = 3
    assert slider.last.settled and slider.last.ready("site-svc") == 3
    table = slider._table.value
    assert "<b>site</b>：期望 3 个副本 —— EndpointSlice <i>已稳定</i>" in table
    assert "<th>Service</th><th>端点</th><th>状态</th><th>Pod</th><th>节点</th>" in table
    assert table.count("✓ 就绪") == 3
    assert repr(slider).startswith("ReplicasSlider：Deployment site：期望 3 个副本；site-svc：3 个就绪端点\n")
    slider._slider.value = 2
    assert slider.last.settled and slider.last.ready("site-svc") == 2
    with pytest.raises(LabError, match=f"^命名空间 {NAMESPACE} 中没有 Deployment nope$"):
        ReplicasModel(lab, "nope", namespace=NAMESPACE).replicas()


def test_the_cost_widget_in_chinese(zh):
    widget = CostWidget(services=4, price_per_lb=20.0)
    assert (widget._services.description, widget._price.description) == ("Service 数", "负载均衡器 USD/月")
    assert "<b>80.00</b> USD / 月" in widget._out.value and "1 个 Ingress 控制器（1 个 LoadBalancer）" in widget._out.value
    widget._services.value = 10
    assert "相差：每月 <b>180.00 USD</b>，每年 2,160.00 USD" in widget._out.value
    assert repr(widget).startswith("CostWidget：10 个 Service：每个一个 LoadBalancer = 200.00 USD/月；")
    assert "以 USD 计的示意价格，并非报价" in repr(widget)


# --- the start-up progress bar --------------------------------------------------------------------------------

def test_the_progress_bar_follows_a_real_start_in_chinese(zh):
    """A lab started in a fresh home: the label shows Chinese, the bar still moves by the messages' keys."""
    home = Path(tempfile.mkdtemp(prefix="ilp-"))
    progress = StartProgress()
    values, labels = [], []
    progress.bar.observe(lambda change: values.append(change["new"]), "value")
    progress.label.observe(lambda change: labels.append(change["new"]), "value")
    assert (progress.bar.description, progress.label.value) == ("实验环境", "正在查找运行中的实验环境…")
    started = None
    try:
        started = Lab.up(home, progress=progress)
        progress.done()
        assert values[0] == 1 and values[-1] == 4 and values == sorted(values), values
        assert labels[0] == "正在启动集群进程" and "实验进程已就绪" in labels and labels[-1] == "就绪", labels
        assert set(labels) <= {"正在启动集群进程", "实验进程正在启动", "实验进程已就绪", "就绪"}, labels
        again = StartProgress()
        Lab.up(home, progress=again)
        assert re.fullmatch(r"实验环境已在运行（pid \d+）", again.label.value) and again.bar.value == 0
    finally:
        if started is not None:
            started.down()
        shutil.rmtree(home, ignore_errors=True)


def test_progress_messages_keep_their_english_key_in_any_language(zh):
    message = Progress("lab process ready")
    assert message == "实验进程已就绪" and message.key == "lab process ready"
    message = Progress("lab already running (pid {pid})", pid=42)
    assert message == "实验环境已在运行（pid 42）" and message.key == "lab already running (pid 42)"


# --- diagrams -----------------------------------------------------------------------------------------------------

def test_the_three_hop_picture_of_a_real_request_has_chinese_labels(lab, zh):
    routed_host(lab, "zh-trace.mysite.com", "zh-trace")
    traced = trace.trace(lab, trace.send(lab, "zh-trace.mysite.com", "/"))
    assert traced.summary.startswith("GET zh-trace.mysite.com/ → 200，由 site-")
    svg = viz.svg(viz.request_path(traced, highlight=True)).replace("&#45;", "-")
    words = re.findall(r"<text[^>]*>([^<]*)</text>", svg)              # what the picture shows, not node ids
    assert {"客户端", "kube-proxy", "nginx", "Pod", f"来自 {traced.hops[0].from_addr}"} <= set(words), words
    assert any(w.startswith("箭头上的 ms：仅这一跳的耗时") and "（客户端发送 → 读完响应）" in w for w in words)
    assert "client" not in words and not any(w.startswith("from ") for w in words)

    topology = viz.svg(viz.topology_of(lab, NAMESPACE)).replace("&#45;", "-")
    assert "zh-trace.mysite.com/ → :80" in topology and "site-svc" in topology     # object names stay
    chains = viz.svg(viz.iptables_chains(
        lab.api.sanitize_for_serialization(kubernetes.client.CoreV1Api(lab.api).list_namespaced_service(
            NAMESPACE).items),
        lab.api.sanitize_for_serialization(kubernetes.client.DiscoveryV1Api(lab.api).list_namespaced_endpoint_slice(
            NAMESPACE).items), "site-svc")).replace("&#45;", "-")
    assert "nat 表（与 iptables-save 的输出一致）" in chains and "来自 PREROUTING 和 OUTPUT" in chains
    assert "DNAT 到 " in chains and "最后一条规则" in chains


def test_the_lab_introduces_itself_in_the_learners_language(lab, zh):
    assert re.fullmatch(r"<内置实验环境: API 服务器 https://127\.0\.0\.1:\d+; kubeconfig \S+; 节点 node-1 \S+; "
                        r"节点 node-2 \S+; Ingress 控制器 http NodePort \d+，https NodePort \d+>", repr(lab)), repr(lab)
    card = lab._repr_markdown_()
    assert card.startswith("**内置实验环境正在运行。**") and "| 节点 node-1 | `127.0." in card
    i18n.use(None)
    assert repr(lab).startswith("<embedded lab: API server https://127.0.0.1:")
    assert lab._repr_markdown_().startswith("**The embedded lab is running.**")


# --- English stays English ----------------------------------------------------------------------------------------

def test_with_no_language_the_widgets_stay_english(no_language):
    assert i18n.current() == "en"
    builder = IngressBuilder(None, model=IngressForm(rows=[{"host": "a.example", "service": "s", "port": "80"}],
                                                     services=[ServiceChoice("s", ("80",))]))
    assert (builder._name.description, builder._add.description, builder._apply.description) == \
        ("name", "+ path", "Apply")
    assert builder.children[1].value == ("<small>host · path · pathType · Service · port — the YAML below follows as "
                                         "you type; nothing reaches the cluster until Apply.</small>")
    assert '<div style="color:#2e7d32">✓ Kubernetes would accept this Ingress.</div>' == builder._problems.value
    assert repr(builder).startswith("IngressBuilder (default/my-ingress) — preview:\n")
    cost = CostWidget(services=4, price_per_lb=20.0)
    assert cost._price.description == "LB USD/month" and "<b>80.00</b> USD / month" in cost._out.value
    assert repr(cost).startswith("CostWidget: 4 Services: one LoadBalancer each = 80.00 USD/month; ")
    progress = StartProgress()
    assert (progress.bar.description, progress.label.value) == ("lab", "looking for a running lab…")
    message = Progress("lab process ready")
    assert message == message.key == "lab process ready"
    everything = " ".join([repr(builder), builder.children[1].value, repr(cost), cost._out.value])
    assert not CJK.search(everything)


def test_every_widget_string_has_a_chinese_translation_with_the_same_placeholders():
    from babel.messages.pofile import read_po
    with open(ROOT / "ingresslab" / "locale" / "zh" / "LC_MESSAGES" / "widgets.po", "rb") as f:
        catalogue = [m for m in read_po(f, locale="zh") if m.id]
    assert len(catalogue) >= 80
    for message in catalogue:
        assert message.string and not message.fuzzy, message.id
        english, chinese = (message.id, message.string) if isinstance(message.id, str) else \
            (message.id[0], message.string[0])                               # a plural: Chinese has one form
        assert set(re.findall(r"\{\w+\}", english)) == set(re.findall(r"\{\w+\}", chinese)), english


# --- the two small forms of notebooks 05 and 07 ---------------------------------------------------------------------

def test_the_trace_form_sends_a_real_request_and_draws_its_hops_with_chinese_labels(lab, zh):
    from ingresslab.widgets import TraceForm
    routed_host(lab, "zh-trace.mysite.com", "zh-trace")
    form = TraceForm(lab, hosts=["zh-trace.mysite.com", "nowhere.mysite.com"], paths=["/", "/about"], scheme="http")
    assert (form.host.description, form.path.description, form.go.description) == ("主机名", "路径", "发送并追踪")
    assert repr(form) == "TraceForm：http://zh-trace.mysite.com/，尚未发送"
    form.go.click()
    assert form.last is not None and form.last.status == 200 and form.last.pod.startswith("site-")
    picture = viz.svg(viz.request_path(form.last, highlight=True)).replace("&#45;", "-")
    assert "客户端" in picture and "kube-proxy" in picture and "nginx" in picture
    assert repr(form) == "TraceForm：http://zh-trace.mysite.com/，已发送；图中画出了它经过的每一跳"


def test_the_trace_form_is_english_without_a_language(lab, no_language):
    from ingresslab.widgets import TraceForm
    form = TraceForm(lab, hosts=["cafe.example.com"], paths=["/coffee"])
    assert (form.host.description, form.path.description, form.go.description) == ("host", "path", "send and trace")
    assert repr(form) == "TraceForm: https://cafe.example.com/coffee, not sent yet"


def test_the_answer_form_checks_the_box_with_the_real_exercise_in_chinese(lab, zh):
    from ingresslab.exercises import MultiHost
    from ingresslab.widgets import AnswerForm
    answer = "rules:\n- host: 127.0.3.1\n  http:\n    paths: []\n"
    form = AnswerForm(MultiHost(lab), answer)
    assert form.button.description == "检查" and form.box.value == answer
    assert repr(form) == "AnswerForm：4 行 YAML，尚未检查"
    form.button.click()
    assert form.outcome is not None and not form.outcome.passed
    assert CJK.search(form.outcome.title) and any("127.0.3.1" in f.text and CJK.search(f.text)
                                                   for f in form.outcome.findings)
    assert repr(form) == "AnswerForm：4 行 YAML，已检查"


def test_the_answer_form_is_english_without_a_language(no_language):
    from ingresslab.exercises import MultiHost
    from ingresslab.widgets import AnswerForm
    form = AnswerForm(MultiHost(lab=None), "rules: []\n")
    assert form.button.description == "check" and repr(form) == "AnswerForm: 1 line of YAML, not checked yet"


def test_the_whole_nginx_conf_is_captioned_in_chinese_with_the_file_itself_untouched(zh):
    conf = "http {\n    server {\n        server_name cafe.example.com;\n    }\n}\n"
    view = viz.nginx_conf(conf, highlight_host="cafe.example.com")
    assert "5 行，1 个 server 块" in repr(view) and "cafe.example.com 的 server 块已展开并标出" in repr(view)
    markup = view._repr_html_()
    assert "◀ 就是这个" in markup and "server_name cafe.example.com;" in markup       # nginx's own words stay
    assert "没有 milk.example.com 的 server 块" in viz.nginx_conf(conf, highlight_host="milk.example.com").caption()
    assert not re.search(r"\b(lines|server blocks|this one|click)\b", view.caption() + markup)
