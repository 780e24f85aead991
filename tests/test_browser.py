"""The course in a real browser: JupyterLab served from a copy of the notebooks, Debian's chromium driven by
Playwright, the notebooks run from the menu as a learner would run them.

* 03: Run → Run All Cells; the IngressBuilder widget renders with its live YAML; typing a new host into the form
  updates the YAML; Apply shows the nginx.conf lines the controller wrote (`server_name` of that host), and the
  lab's nginx.conf really has them.
* 05: with the cafe Ingress in place, Run All renders the `request_path` pictures (graphviz SVG: JupyterLab shows
  an `image/svg+xml` output as an <img> with a data: URL, so the test decodes the SVG the browser drew and reads
  its text), and the "send and trace" widget draws one more into its Output.

The lab is one of this module's own, in a home under pytest's basetemp, stopped at the end: running 03 and 05
changes the cluster (apps, Ingresses, annotations), which must not leak into the lab the nbval notebooks share.
Screenshots go to test-artifacts/ (gitignored). Skipped only where /usr/bin/chromium is missing.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from browser_support import (CHROMIUM, CHROMIUM_ARGS, JupyterLab, code_cell, copy_course, run_all_cells,
                             wait_all_cells_run, wait_kernel_idle)

ROOT = Path(__file__).resolve().parent.parent
# In the checkout; in the system's temporary directory when the checkout is read-only (the suite run by an
# unprivileged user), or wherever $INGRESSLAB_ARTIFACTS says.
ARTIFACTS = Path(os.environ.get("INGRESSLAB_ARTIFACTS") or (
    ROOT / "test-artifacts" if os.access(ROOT, os.W_OK) else Path(tempfile.gettempdir()) / "ingresslab-test-artifacts"))
NEW_HOST = "browser.example.com"

pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not "
                                 "installed: `apt-get install chromium` to run the browser test"),
              pytest.mark.timeout(240)]

# Decode each SVG output the page shows (an <img> whose src is a data:image/svg+xml URL), parse it as the browser
# would, and say whether it was drawn (the image loaded and has a size) and what text it carries.
SVG_PICTURES = """imgs => imgs.map(img => {
    const src = img.getAttribute('src') || '';
    const prefix = 'data:image/svg+xml,';
    if (!src.startsWith(prefix)) return {svg: false};
    const doc = new DOMParser().parseFromString(decodeURIComponent(src.slice(prefix.length)), 'image/svg+xml');
    const root = doc.documentElement;
    return {svg: root.localName === 'svg' && !doc.querySelector('parsererror'), text: root.textContent,
            drawn: img.complete && img.naturalWidth > 0 && img.naturalHeight > 0,
            shown: img.getBoundingClientRect().width > 0};
})"""


@pytest.fixture(scope="module")
def browser_lab(tmp_path_factory):
    from ingresslab import Lab
    lab = Lab.up(tmp_path_factory.mktemp("browser-lab"), progress=lambda message: None)
    yield lab
    lab.down()


@pytest.fixture(scope="module")
def jupyter(browser_lab, tmp_path_factory):
    work = tmp_path_factory.mktemp("browser-jupyter")
    root = copy_course(ROOT, work / "course")
    env = dict(os.environ, INGRESSLAB_HOME=str(browser_lab.home), KUBECONFIG=str(browser_lab.kubeconfig_path))
    server = JupyterLab(root, work / "server", env)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright
    profile = tmp_path_factory.mktemp("chromium-profile")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, request):
    """A fresh tab; if the test failed, a screenshot of what it showed goes to test-artifacts/<test>-failure.png."""
    failed_before = request.session.testsfailed
    page = browser.new_page()
    page.set_default_timeout(20_000)
    yield page
    if request.session.testsfailed > failed_before:
        screenshot(page, f"{request.node.name}-failure.png")
    page.close()


def open_notebook(page, jupyter, name: str) -> None:
    # a workspace of its own, so that JupyterLab does not restore the other test's notebook beside this one
    workspace = name.replace("/", "-").removesuffix(".ipynb")
    page.goto(jupyter.url(f"lab/workspaces/{workspace}/tree/{name}?reset"))
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=45_000)
    wait_kernel_idle(page, 45)   # the kernel has started and is idle before Run All is asked for
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def run_builder(page, jupyter, notebook: str):
    """Run `notebook` (03, in either edition) from the menu; its IngressBuilder, in view, and the YAML preview."""
    from playwright.sync_api import expect
    open_notebook(page, jupyter, notebook)
    run_all_cells(page)
    wait_all_cells_run(page, 90)
    builder = code_cell(page, "IngressBuilder(lab").locator(".jp-OutputArea-output > .widget-vbox")
    expect(builder).to_have_count(1, timeout=15_000)
    builder.scroll_into_view_if_needed()
    return builder, builder.locator(".widget-html-content pre").filter(has_text="kind: Ingress")


def test_ingress_builder_previews_as_you_type_and_applies(page, jupyter, browser_lab):
    from playwright.sync_api import expect
    started = time.monotonic()
    builder, preview = run_builder(page, jupyter, "notebooks/03_build_an_ingress.ipynb")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("host: cafe.example.com")
    expect(preview).to_contain_text("name: tea-svc")
    expect(builder).to_contain_text("Kubernetes would accept this Ingress")

    host = builder.locator('input[placeholder="host (empty: any)"]')
    expect(host).to_have_value("cafe.example.com")
    host.click()
    host.press("Control+a")
    host.press_sequentially(NEW_HOST, delay=15)
    expect(host).to_have_value(NEW_HOST)
    expect(preview).to_contain_text(f"host: {NEW_HOST}", timeout=10_000)
    expect(preview).not_to_contain_text("cafe.example.com")

    apply = builder.get_by_role("button", name="Apply")
    expect(apply).to_be_enabled()
    apply.click()
    report = builder.locator(".widget-html-content").filter(has_text="changed lines in nginx.conf")
    expect(report).to_be_visible(timeout=30_000)
    expect(report).to_contain_text(f"server_name {NEW_HOST}")
    expect(apply).to_be_enabled()
    assert f"server_name {NEW_HOST}" in browser_lab.ingress.conf(), "the report shows a line nginx.conf lacks"

    report.scroll_into_view_if_needed()
    builder.evaluate("e => e.scrollIntoView({block: 'start'})")
    shot = screenshot(page, "browser-03.png")
    assert shot.stat().st_size > 10_000
    print(f"\nnotebook 03 in the browser: {time.monotonic() - started:.1f} s")


def run_three_hops(page, jupyter, browser_lab, notebook: str):
    """Set up what notebooks 01-04 leave in place for 05 (the cafe's apps, its TLS secret and Ingress), run
    `notebook` (05, in either edition) from the menu, and return its first request_path picture, in view."""
    from playwright.sync_api import expect
    manifests = ROOT / "manifests"
    for name in ("cafe.yaml", "cafe-secret.yaml", "cafe-ingress-v1.yaml"):
        browser_lab.apply(manifests / name)
    browser_lab.wait_rollout("coffee", "tea")
    browser_lab.ingress.wait_ready()
    open_notebook(page, jupyter, notebook)
    run_all_cells(page)
    wait_all_cells_run(page, 90)
    first = code_cell(page, "viz.request_path(t, highlight=True)").locator(".jp-RenderedSVG img")
    expect(first).to_have_count(1, timeout=15_000)
    first.scroll_into_view_if_needed()
    return first


def test_three_hops_pictures_render(page, jupyter, browser_lab):
    from playwright.sync_api import expect
    started = time.monotonic()
    first = run_three_hops(page, jupyter, browser_lab, "notebooks/05_three_hops.ipynb")
    expect(first).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
    pictures = page.locator(".jp-Notebook .jp-RenderedSVG img").evaluate_all(SVG_PICTURES)
    paths = [p for p in pictures if p["svg"] and "kube-proxy" in p["text"] and "nginx" in p["text"]]
    assert len(paths) >= 2, f"expected the request_path pictures (default and service-upstream): {pictures}"
    assert all(p["drawn"] and p["shown"] for p in paths), pictures
    # the default path has kube-proxy once (client → kube-proxy → nginx → pod); with service-upstream, twice
    assert [p["text"].count("kube-proxy") for p in paths[:2]] == [1, 2], [p["text"] for p in paths[:2]]

    # Your turn: the widget draws the path of a request it sends into its Output
    turn = code_cell(page, "TraceForm(lab")
    turn.get_by_role("button", name="send and trace").click()
    drawn = turn.locator(".jp-RenderedSVG img")
    expect(drawn).to_have_count(1, timeout=30_000)
    [picture] = drawn.evaluate_all(SVG_PICTURES)
    assert picture["svg"] and "kube-proxy" in picture["text"] and "nginx" in picture["text"], picture
    assert "200 from coffee-" in picture["text"], picture["text"]   # the form's first choices: cafe, /coffee

    first.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(200)
    shot = screenshot(page, "browser-05.png")
    assert shot.stat().st_size > 10_000
    print(f"\nnotebook 05 in the browser: {time.monotonic() - started:.1f} s")


# Whether the browser has glyphs for Chinese in a font family: two different characters drawn on a canvas give
# different pixels; where no font has them, both are drawn as the same empty box ("tofu"), and the pixels are equal.
NO_TOFU = """([family, text]) => {
    const chars = [...new Set([...text].filter(c => /[\\u4e00-\\u9fff]/.test(c)))].slice(0, 6);
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 48;
    const g = canvas.getContext('2d');
    const draw = c => {
        g.clearRect(0, 0, 48, 48);
        g.font = `32px ${family}`;
        g.fillStyle = '#000';
        g.fillText(c, 4, 38);
        return g.getImageData(0, 0, 48, 48).data.join(',');
    };
    const drawn = chars.map(draw);
    return {chars: chars.join(''), distinct: new Set(drawn).size, inked: drawn.filter(d => /[1-9]/.test(d)).length};
}"""

CJK = "[\u4e00-\u9fff]"


def assert_chinese_glyphs(page, family: str, text: str) -> None:
    import re
    assert re.search(CJK, text), f"no Chinese in {text[:200]!r}"
    found = page.evaluate(NO_TOFU, [family, text])
    assert found["inked"] == len(found["chars"]) and found["distinct"] == len(found["chars"]) >= 2, \
        f"Chinese drawn as boxes in {family}: {found} (install fonts-noto-cjk)"


def test_a_chinese_notebook_speaks_chinese_in_its_widgets(page, jupyter, browser_lab):
    """notebooks-zh/03: the IngressBuilder's labels and its plain-word findings are Chinese, drawn with real glyphs;
    the YAML and Kubernetes' own words stay as they are."""
    import re
    from playwright.sync_api import expect
    started = time.monotonic()
    builder, preview = run_builder(page, jupyter, "notebooks-zh/03_build_an_ingress.ipynb")
    expect(preview).to_contain_text("host: cafe.example.com")
    buttons = builder.locator("button").all_inner_texts()
    assert any(re.search(CJK, b) for b in buttons), f"no Chinese button label: {buttons}"
    labels = " ".join(builder.locator(".widget-label, .widget-html-content small").all_inner_texts())
    assert re.search(CJK, labels), labels

    host = builder.locator(".widget-text input").nth(1)
    expect(host).to_have_value("cafe.example.com")
    host.click()
    host.press("Control+a")
    host.press_sequentially("1.2.3.4", delay=15)
    finding = builder.locator(".widget-html-content").filter(has_text="1.2.3.4").filter(
        has_text=re.compile(CJK)).first
    expect(finding).to_be_visible(timeout=10_000)
    text = finding.inner_text()
    assert re.search(CJK + ".*IP|IP.*" + CJK, text, re.S), text      # the IP host explained in Chinese
    family = builder.evaluate("e => getComputedStyle(e).fontFamily")
    assert_chinese_glyphs(page, family, text)
    builder.evaluate("e => e.scrollIntoView({block: 'start'})")
    shot = screenshot(page, "browser-zh-03.png")
    assert shot.stat().st_size > 10_000
    print(f"\nChinese notebook 03 in the browser: {time.monotonic() - started:.1f} s")


def test_a_chinese_notebooks_pictures_have_chinese_labels_drawn(page, jupyter, browser_lab):
    """notebooks-zh/05: the three-hop pictures carry Chinese labels, and the browser draws them with real glyphs
    in the font the SVG asks for."""
    import re
    from playwright.sync_api import expect
    started = time.monotonic()
    first = run_three_hops(page, jupyter, browser_lab, "notebooks-zh/05_three_hops.ipynb")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=first.element_handle())
    [picture] = first.evaluate_all(SVG_PICTURES)
    assert picture["svg"] and picture["drawn"] and "kube-proxy" in picture["text"], picture
    fonts = first.evaluate("""img => {
        const doc = new DOMParser().parseFromString(decodeURIComponent(img.src.slice(19)), 'image/svg+xml');
        return [...doc.querySelectorAll('text')].map(t => t.getAttribute('font-family')).filter(Boolean);
    }""")
    assert fonts, "the SVG names no font"
    assert re.search(CJK, picture["text"]), picture["text"]
    assert_chinese_glyphs(page, fonts[0], picture["text"])
    first.evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(200)
    shot = screenshot(page, "browser-zh-05.png")
    assert shot.stat().st_size > 10_000
    print(f"\nChinese notebook 05 in the browser: {time.monotonic() - started:.1f} s")
