"""The course in any order: every notebook, in reverse order and then forward, on ONE lab, under nbval.

Each notebook sets up the state it needs and removes what other notebooks (or a learner) left behind that would
change its outputs, and cleans up after itself. This test proves it the way a learner would break it: the lab is
shared by both passes and never reset, so whatever one notebook leaks shows up as a changed output in another
(03's Ingress for cafe.example.com in 05, 06's extra coffee pods, 04's `AlreadyExists` on its second run).

nbval runs in a child pytest (the project's options and sanitize file, from pyproject), once per pass: pytest
would collapse the same notebook named twice on one command line. Both children get INGRESSLAB_NOTEBOOK_HOME, so
the root conftest.py hands their kernels this module's lab and leaves it running between the passes; this test
stops it at the end.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.timeout(1500)


def run_nbval(notebooks: list[Path], *, home: Path, basetemp: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("INGRESSLAB_HOME", "KUBECONFIG")}
    env.update(INGRESSLAB_NOTEBOOK_HOME=str(home), PYTHONIOENCODING="utf-8")
    # -p no:randomly and friends are not installed; the order on the command line is the order of the run
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", "--basetemp", str(basetemp),
            *(str(p.relative_to(ROOT)) for p in notebooks)]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


def test_every_notebook_backwards_then_forwards_on_one_lab(tmp_path):
    from ingresslab.lab import stop
    assert len(NOTEBOOKS) >= 10, NOTEBOOKS
    home = tmp_path / "ingresslab-notebooks"   # the name the sanitize file masks in paths, as for the suite's lab
    try:
        for name, order in (("reverse", NOTEBOOKS[::-1]), ("forward", NOTEBOOKS)):
            proc = run_nbval(order, home=home, basetemp=tmp_path / f"pytest-{name}")
            summary = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
            assert proc.returncode == 0, (f"the {name} pass failed ({' → '.join(p.stem for p in order)}):\n"
                                          + proc.stdout[-12000:] + proc.stderr[-3000:])
            assert summary and " passed" in summary[0] and "failed" not in summary[0], summary
    finally:
        stop(home)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_every_notebook_with_widgets_stores_their_state():
    """JupyterLab and static viewers draw a widget output before anything runs only from the state stored in the
    notebook's metadata: every view an output shows, and every model it refers to, must be there."""
    import json
    import re
    with_widgets = 0
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        views = [out["data"][WIDGET_VIEW]["model_id"] for cell in nb["cells"] for out in cell.get("outputs", [])
                 if WIDGET_VIEW in out.get("data", {})]
        if not views:
            continue
        with_widgets += 1
        state = ((nb["metadata"].get("widgets") or {}).get(WIDGET_STATE) or {}).get("state") or {}
        assert set(views) <= set(state), f"{path.name}: widget outputs without stored state: {set(views) - set(state)}"
        referred = set(re.findall(r"IPY_MODEL_([0-9a-f]{32})", json.dumps(state)))
        assert referred <= set(state), f"{path.name}: stored widgets refer to missing models: {referred - set(state)}"
    assert with_widgets >= 5, "the course's widgets (start, replicas, cost, builder, request, trace, check) are gone"


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium (/usr/bin/chromium) is not "
                    "installed: `apt-get install chromium` to run the browser checks")
@pytest.mark.timeout(300)
def test_stored_widgets_render_in_jupyterlab_before_anything_runs(tmp_path):
    """What a learner sees on opening 05 and 07 (trusted, as `./lab start` makes them): the widgets drawn from the
    stored state, not their text stand-in (`VBox(children=…`), and no cell run. The kernel is not even needed."""
    import glob
    import shutil
    from playwright.sync_api import sync_playwright
    from browser_support import CHROMIUM, CHROMIUM_ARGS, JupyterLab
    course = tmp_path / "course" / "notebooks"
    shutil.copytree(ROOT / "notebooks", course)
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"), JUPYTER_PLATFORM_DIRS="1",
               INGRESSLAB_HOME=str(tmp_path / "no-lab"))
    # JupyterLab draws widget views (an "unsafe" output type) only in trusted notebooks
    subprocess.run([str(Path(sys.executable).parent / "jupyter"), "trust", *glob.glob(str(course / "*.ipynb"))],
                   env=env, check=True, capture_output=True)
    server = JupyterLab(course, tmp_path / "server", env).start()
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        for name in ("05_three_hops", "07_exercise_multi_host"):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url(f"lab/workspaces/{name}/tree/{name}.ipynb?reset"))
            outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
            outputs.first.wait_for(timeout=45_000)
            page.locator(".jp-OutputArea-output .jupyter-widgets").first.wait_for(timeout=30_000)
            assert outputs.filter(has_text="VBox(children").count() == 0, f"{name}: a widget shown as text"
            assert outputs.filter(has_text="Error displaying widget").count() == 0, name
            assert page.locator(".jp-OutputArea-output .widget-button").count() >= 1, f"{name}: no button drawn"
            page.close()
        browser.close()
    finally:
        playwright.stop()
        server.stop()
