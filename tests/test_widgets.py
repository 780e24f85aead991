"""The widgets: their models alone (no browser, no kernel), then the ipywidgets GUIs built and driven in-process.

Models are plain classes, so the preview, the plain-word validation, the debounce and the cost arithmetic are
tested directly; the GUIs are built without a kernel (ipywidgets 8 allows it) and driven by setting their child
widgets' values, as a browser would. Apply, requests and scaling run against a real lab (module-scoped).
"""
from __future__ import annotations

import ast
import asyncio
import re
import shutil
import tempfile
from pathlib import Path

import ipywidgets
import kubernetes
import pytest
import yaml
from polling import eventually

from ingresslab.widgets import (ApplyReport, CostModel, CostWidget, Debouncer, IngressBuilder, IngressForm,
                                ManualClock, PathRow, ReplicasSlider, RequestForm, RequestWidget, ServiceChoice,
                                conf_changes)

PACKAGE = Path(__file__).resolve().parent.parent / "ingresslab" / "widgets"
SERVICES = [ServiceChoice("forums-svc", ("80", "http")), ServiceChoice("site-svc", ("80", "http"))]


def form(*rows, **kw) -> IngressForm:
    return IngressForm(name="mysite", rows=list(rows), services=SERVICES, **kw)


# --- models, alone ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["builder_model", "request_model", "replicas_model", "cost_model", "debounce"])
def test_model_modules_import_no_widget_library(module):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"ipywidgets", "IPython", "traitlets"}
    assert not any(isinstance(n, ast.ImportFrom) and n.level and n.module in ("builder", "request", "replicas",
                                                                               "cost", "_base") for n in ast.walk(tree))


def test_preview_groups_rows_by_host_and_writes_ports_by_number_or_name():
    preview = form(PathRow("www.mysite.com", "/", "Prefix", "site-svc", "80"),
                   PathRow("forums.mysite.com", "/", "Prefix", "forums-svc", "http"),
                   PathRow("www.mysite.com", "/forums", "Exact", "forums-svc", "80"),
                   PathRow("", "/", "Prefix", "site-svc", "80")).preview()
    assert preview.ok and not preview.warnings
    spec = yaml.safe_load(preview.yaml)["spec"]
    assert [r.get("host") for r in spec["rules"]] == ["www.mysite.com", "forums.mysite.com", None]
    assert [p["path"] for p in spec["rules"][0]["http"]["paths"]] == ["/", "/forums"]
    assert spec["rules"][1]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}
    assert spec["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"number": 80}


def test_tls_lists_the_hosts_and_names_the_secret():
    spec = yaml.safe_load(form(PathRow("www.mysite.com", "/", "Prefix", "site-svc", "80"),
                               tls=True, tls_secret="mysite-tls").preview().yaml)["spec"]
    assert spec["tls"] == [{"hosts": ["www.mysite.com"], "secretName": "mysite-tls"}]


@pytest.mark.parametrize("row, words", [
    (PathRow("10.0.0.1", "/", "Prefix", "site-svc", "80"), "the host may not be an IP address"),
    (PathRow("www.mysite.com", "about", "Prefix", "site-svc", "80"), "must start with `/`"),
    (PathRow("www.mysite.com", "/", "Prefix", "", "80"), "needs a `name`"),
    (PathRow("www.mysite.com", "/", "Prefix", "site-svc", ""), "needs a `port`"),
    (PathRow("www.mysite.com", "/a{b", "ImplementationSpecific", "site-svc", "80"), "nginx would read"),
])
def test_validation_errors_are_plain_words(row, words):
    preview = form(row).preview()
    assert not preview.ok and words in preview.errors[0].text


def test_no_rows_is_refused_in_plain_words():
    assert "neither `rules` nor a `defaultBackend`" in form().preview().errors[0].text


def test_warnings_name_what_would_get_503_but_is_accepted():
    preview = form(PathRow("www.mysite.com", "/", "Prefix", "site", "80"),
                   PathRow("www.mysite.com", "/x", "Prefix", "site-svc", "8080"), tls=True).preview()
    assert preview.ok
    assert any("no Service `site`" in w for w in preview.warnings)
    assert any("has no port `8080`" in w for w in preview.warnings)
    assert any("default self-signed certificate" in w for w in preview.warnings)


def test_a_preview_reports_how_long_it_took():
    """The preview measures itself (the widget shows it); how fast it is belongs to a benchmark, not a test."""
    model = form(*[PathRow(f"h{i}.mysite.com", f"/p{i}", "Prefix", "site-svc", "80") for i in range(20)])
    times = [model.preview().seconds for _ in range(3)]
    assert all(isinstance(t, float) and t > 0 for t in times)


def test_conf_changes_mark_added_and_removed_lines_and_fold_long_unchanged_runs():
    before = "\n".join(f"line {i}" for i in range(40))
    after = before.replace("line 20", "line twenty") + "\nline 40"
    changes = conf_changes(before, after, context=2)
    kinds = [c.kind for c in changes]
    assert ("removed", "line 20") in [(c.kind, c.text) for c in changes]
    assert ("added", "line twenty") in [(c.kind, c.text) for c in changes]
    assert ("added", "line 40") in [(c.kind, c.text) for c in changes]
    assert kinds[0] == "skipped" and "18 unchanged lines" in changes[0].text
    assert len(changes) < 15


def test_apply_report_says_whether_nginx_reloaded():
    changed = ApplyReport(True, "created", 1, 2, "a", "b", tuple(conf_changes("a", "b")))
    assert "reloads 1 → 2" in changed.text() and "background:#e6ffed" in changed.html()
    same = ApplyReport(True, "unchanged", 2, 2, "a", "a")
    assert "not reloaded" in same.text()


def test_debounce_calls_once_after_the_pause():
    clock, calls = ManualClock(), []
    debouncer = Debouncer(0.15, lambda: calls.append(clock.now), schedule=clock)
    for _ in range(5):
        debouncer.trigger()
        clock.advance(0.05)
    assert calls == [] and debouncer.pending
    clock.advance(0.1)
    assert calls == [pytest.approx(0.35)] and not debouncer.pending
    debouncer.trigger()
    debouncer.flush()
    assert len(calls) == 2 and debouncer.calls == 2


def test_debounce_without_an_event_loop_calls_at_once():
    calls = []
    Debouncer(0.15, lambda: calls.append(1)).trigger()
    assert calls == [1]


def test_debounce_on_a_running_loop_coalesces_a_burst():
    calls = []

    async def burst():
        debouncer = Debouncer(1.0, lambda: calls.append(1))
        for _ in range(10):
            debouncer.trigger()
            await asyncio.sleep(0)   # the loop runs between triggers, but no wall time has to pass
        assert debouncer.pending
        deadline = asyncio.get_running_loop().time() + 30
        while debouncer.pending and asyncio.get_running_loop().time() < deadline:   # wait for the call itself
            await asyncio.sleep(0.01)
    asyncio.run(burst())
    assert calls == [1]


def test_cost_arithmetic():
    model = CostModel(services=10, price_per_lb=18.0)
    assert (model.load_balancer_per_service, model.one_ingress, model.saving) == (180.0, 18.0, 162.0)
    model.controller_per_month = 12.5
    assert model.one_ingress == 30.5 and model.saving == 149.5
    assert CostModel(services=0).one_ingress == 0.0
    assert "Illustrative prices in USD" in model.html() and "Illustrative prices in USD" in model.text()
    assert "180.00 USD/month" in model.text() and "<b>180.00</b> USD / month" in model.html()
    with pytest.raises(ValueError):
        CostModel(services=-1).saving


def bar_pixels(markup: str) -> list[int]:
    return [int(px) for px in re.findall(r"height:14px;width:(\d+)px", markup)]


@pytest.mark.parametrize("services,price", [(10, 18.0), (2, 18.0), (100, 0.5), (1, 40.0)])
def test_cost_bars_are_proportional_to_the_costs(services, price):
    model = CostModel(services=services, price_per_lb=price, currency="EUR")
    per, one = bar_pixels(model.html())
    assert max(per, one) == 320
    assert abs(per / 320 - model.load_balancer_per_service / max(model.load_balancer_per_service,
                                                                  model.one_ingress)) < 0.01
    assert abs(one / 320 - model.one_ingress / max(model.load_balancer_per_service, model.one_ingress)) < 0.01
    assert "EUR / month" in model.html() and "in EUR" in model.text()
    assert bar_pixels(CostModel(services=0).html()) == [0, 0]


# --- the GUIs, built without a kernel -----------------------------------------------------------------------------

def test_cost_widget_follows_its_inputs_and_prints_as_text():
    widget = CostWidget()
    assert isinstance(widget, ipywidgets.VBox)
    widget._services.value = 4
    widget._price.value = 20.0
    assert (widget.model.load_balancer_per_service, widget.model.one_ingress) == (80.0, 20.0)
    assert "80.00" in widget._out.value
    assert repr(widget).startswith("CostWidget: 4 Services")
    assert widget._repr_mimebundle_()["text/plain"] == repr(widget)


def test_the_builder_debounces_typing_and_previews_without_a_lab():
    clock = ManualClock()
    builder = IngressBuilder(None, model=form(PathRow("www.mysite.com", "/", "Prefix", "site-svc", "80")),
                             schedule=clock)
    host = builder._rows.children[0].children[0]
    for text in ("1", "10.", "10.0.0.1"):
        host.value = text
    assert "www.mysite.com" in builder._yaml.value          # not yet: still typing
    clock.advance(0.2)
    assert "10.0.0.1" in builder._yaml.value and "IP address" in builder._problems.value
    assert builder._apply.disabled
    service = builder._rows.children[0].children[3]
    service.value = "forums-svc"                              # a dropdown refreshes at once
    assert builder.model.rows[0].service == "forums-svc" and builder.model.rows[0].port == "80"
    builder._add.click()
    assert len(builder._rows.children) == 2 and builder.model.rows[1].host == "10.0.0.1"
    assert "refused:" in repr(builder) and "kind: Ingress" in repr(builder)


# --- on a real lab ------------------------------------------------------------------------------------------------

NAMESPACE = "widgets"


@pytest.fixture(scope="module")
def lab():
    """A lab of this module's own, with a short home (the controller's unix socket path must stay < 108 bytes)."""
    from ingresslab import Lab
    home = Path(tempfile.mkdtemp(prefix="ilw-"))
    the_lab = Lab.up(home)
    kubernetes.client.CoreV1Api(the_lab.api).create_namespace({"metadata": {"name": NAMESPACE}})
    the_lab.apply(Path(__file__).resolve().parent.parent / "manifests" / "mysite.yaml", namespace=NAMESPACE)
    from ingresslab.widgets import ReplicasModel
    for deployment in ("site", "forums"):
        ReplicasModel(the_lab, deployment, namespace=NAMESPACE).wait_until_settled()
    yield the_lab
    the_lab.down()
    shutil.rmtree(home, ignore_errors=True)


def test_the_builder_offers_the_namespaces_services_and_applies_with_a_conf_diff(lab):
    builder = IngressBuilder(lab, namespace=NAMESPACE, name="mysite")
    assert [s.name for s in builder.model.services] == ["forums-svc", "site-svc"]
    assert builder._rows.children[0].children[3].options == ("forums-svc", "site-svc")
    row = builder._rows.children[0].children
    row[3].value = "site-svc"
    builder._add.click()
    second = builder._rows.children[1].children
    second[0].value = "forums.mysite.com"
    second[3].value = "forums-svc"
    second[4].value = "http"
    builder._apply.click()
    report = builder.last_report
    assert report.ok and "created" in report.message
    assert report.reloads_after == report.reloads_before + 1
    added = [c.text for c in report.changes if c.kind == "added"]
    assert any("server_name www.mysite.com;" in t for t in added)
    assert any(f'"{NAMESPACE}-forums-svc-http"' in t for t in added)
    assert "nginx reloaded" in builder._report.value
    builder._apply.click()                                    # the same again: nothing to reload
    assert "unchanged" in builder.last_report.message
    assert builder.last_report.reloads_after == report.reloads_after

    request = RequestWidget(lab, host="forums.mysite.com", path="/t/1")
    request._send.click()
    result = request.model.last
    assert result.response.status == 200 and result.pod.namespace == NAMESPACE and result.pod.app == "forums"
    assert "answered by pod widgets/forums-" in repr(request) and "URI: /t/1" in request._out.value
    request._hops.value = True
    request._send.click()
    hops = request.model.last.hops
    assert [h["component"] for h in hops] == ["kube-proxy", "nginx", "pod"], request.model.last.hops_error
    assert hops[-1]["where"].startswith(f"{NAMESPACE}/forums-") and "<th>component</th>" in request._out.value


def test_the_builder_refuses_to_apply_what_the_api_would_refuse(lab):
    model = IngressForm.from_lab(lab, namespace=NAMESPACE, name="bad",
                                 rows=[PathRow("10.0.0.1", "/", "Prefix", "site-svc", "80")])
    report = model.apply(lab)
    assert not report.ok and "IP address" in report.findings[0].text
    networking = kubernetes.client.NetworkingV1Api(lab.api)
    assert "bad" not in [i.metadata.name for i in networking.list_namespaced_ingress(NAMESPACE).items]


def test_requests_over_https_and_to_unknown_hosts(lab):
    result = RequestForm("nobody.example.org", "/", "https").send(lab)
    assert result.response.status == 404 and result.pod is None
    assert result.answered_by.startswith("nginx itself")


TWIN_AND_EMPTY = f"""
apiVersion: v1
kind: Service
metadata: {{name: twin-svc, namespace: {NAMESPACE}}}
spec:
  selector: {{app: site}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: empty-svc, namespace: {NAMESPACE}}}
spec:
  selector: {{app: nobody-runs-this}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
"""


def twin_ingress(name: str, host: str, *, service_upstream: bool) -> dict:
    annotations = {"nginx.ingress.kubernetes.io/service-upstream": "true"} if service_upstream else {}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": NAMESPACE, "annotations": annotations},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "twin-svc", "port": {"number": 80}}}}]}}]}}


def test_the_controllers_warnings_reach_the_learner_in_plain_words(lab):
    lab.apply(TWIN_AND_EMPTY, namespace=NAMESPACE)
    try:
        # An Ingress whose Service has no ready pod: Apply says why requests will get 503 …
        builder = IngressBuilder(lab, model=IngressForm.from_lab(lab, namespace=NAMESPACE, name="empty", rows=[
            {"host": "empty.mysite.com", "path": "/", "service": "empty-svc", "port": "80"}]))
        builder._apply.click()
        report = builder.last_report
        assert report.ok and [w.reason for w in report.warnings] == ["BackendUnavailable"], report.text()
        assert "no pod behind it is ready" in builder._report.value and "⚠ BackendUnavailable" in report.text()
        # … and so does the request widget, next to the 503
        request = RequestWidget(lab, host="empty.mysite.com")
        request._send.click()
        assert request.model.last.response.status == 503
        assert "no pod behind it is ready" in request._out.value and "⚠ BackendUnavailable" in repr(request)
        # A second Ingress asking for service-upstream on an upstream the first one shapes: the lab says so
        lab.apply(twin_ingress("twin-first", "twin1.mysite.com", service_upstream=False))
        lab.apply(twin_ingress("twin-second", "twin2.mysite.com", service_upstream=True))
        # (both were created in the same second: which one counts as first is the controller's tie-break)
        def shared():
            for name, other in (("twin-second", "twin-first"), ("twin-first", "twin-second")):
                found = [w for w in lab.warnings_for("Ingress", name, namespace=NAMESPACE)
                         if w.reason == "ServiceUpstreamShared"]
                if found:
                    return name, other, found[0]
            return None
        name, other, warning = eventually(shared, timeout=20, what="a ServiceUpstreamShared warning")
        assert ("annotation (true) has no effect" in warning.plain if name == "twin-second" else
                "does not ask for service-upstream, yet its requests go through" in warning.plain)
        assert f"Ingress {NAMESPACE}/{other} named it first" in warning.plain
        assert repr(lab.warnings_for("Ingress", other, namespace=NAMESPACE)) == \
            f"no warnings for Ingress {NAMESPACE}/{other}"
        # Events about an earlier object of the same name are not this one's
        lab.delete("Ingress", name, namespace=NAMESPACE)
        lab.apply(twin_ingress(name, "twin9.mysite.com", service_upstream=False))
        assert not lab.warnings_for("Ingress", name, namespace=NAMESPACE)
    finally:
        for kind, name in [("Ingress", "empty"), ("Ingress", "twin-first"), ("Ingress", "twin-second"),
                           ("Service", "twin-svc"), ("Service", "empty-svc")]:
            lab.delete(kind, name, namespace=NAMESPACE)


def test_the_replicas_slider_scales_and_the_endpoints_follow(lab):
    slider = ReplicasSlider(lab, "site", namespace=NAMESPACE)
    assert slider.last.desired == 2 and slider.last.settled
    slider._slider.value = 4
    assert slider.last.settled and slider.last.ready("site-svc") == 4
    assert len({e.pod for e in slider.last.endpoints}) == 4
    assert "4 ready endpoints" in repr(slider) and "settled" in slider._table.value
    slider._slider.value = 1
    assert slider.last.settled and slider.last.ready() == 1


def test_the_public_api_is_all():
    import ingresslab.widgets as package
    modules = {"builder", "builder_model", "cost", "cost_model", "debounce", "replicas", "replicas_model", "request",
               "request_model", "progress", "forms"}
    assert {name for name in vars(package) if not name.startswith("_")} - modules == set(package.__all__)


def test_plain_words_for_each_surprise_the_controller_reports():
    from ingresslab.events import plain_words
    shared = ("upstream default-coffee-svc-80 is shared with Ingress default/cafe-ingress, which names it first, so "
              "its service-upstream (false) applies here too, not this Ingress's (true), as in ingress-nginx. Use a "
              "second Service to keep them apart")
    words = plain_words("ServiceUpstreamShared", shared)
    assert words.startswith("this Ingress's service-upstream annotation (true) has no effect")
    assert "Ingress default/cafe-ingress named it first" in words and "Service of its own" in words
    assert "503" in plain_words("BackendUnavailable", "service default/x not found: requests for it get 503 until "
                                                      "that changes")
    assert "default self-signed certificate" in plain_words(
        "TLSDefaultCertificate", "secret default/cafe-secret not found: host cafe.example.com uses the default "
                                 "(self-signed) certificate")
    assert plain_words("Rejected", "the controller ignores this Ingress until it is fixed: spec.rules[0].host: bad") \
        == "the controller ignores this Ingress, so nginx does not serve it: spec.rules[0].host: bad."
    assert plain_words("SomethingNew", "as Kubernetes said it") == "as Kubernetes said it"
