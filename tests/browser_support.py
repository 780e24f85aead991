"""Helpers for `test_browser.py`: a JupyterLab server of the test's own, Debian's chromium through Playwright, and
the few page gestures the test makes (open a notebook, Run → Run All Cells, wait until every cell has run).

Everything the server and the browser write (root dir, runtime files, settings, workspaces, the browser profile)
lives under one temporary directory of pytest's, so the session's leak check sees any process left behind.
Nothing here reaches the network: news, update checks and the PyPI extension manager are turned off.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VENV_BIN = Path(sys.executable).parent

# User settings of the test's JupyterLab: every cell stays in the DOM (no windowing, so prompts and outputs of
# cells below the fold can be read), and no toast asks about news or updates.
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(repo: Path, to: Path) -> Path:
    """`to/notebooks` and `to/notebooks-zh` (the English and Chinese notebooks, outputs and saved widget state
    cleared, so whatever the page shows was made by this run) and `to/manifests` (the files themselves, symlinks
    resolved), so `../manifests/...` works from both. Returns `to`, the server's root."""
    for folder in ("notebooks", "notebooks-zh"):
        (to / folder).mkdir(parents=True)
        for nb in sorted((repo / folder).glob("*.ipynb")):
            doc = json.loads(nb.read_text())
            for cell in doc["cells"]:
                if cell["cell_type"] == "code":
                    cell["outputs"], cell["execution_count"] = [], None
                cell.get("metadata", {}).pop("execution", None)
            doc.get("metadata", {}).pop("widgets", None)
            (to / folder / nb.name).write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    (to / "manifests").mkdir()
    for f in sorted((repo / "manifests").iterdir()):
        shutil.copyfile(f.resolve(), to / "manifests" / f.name)
    return to


class JupyterLab:
    """`jupyter lab` on a free loopback port with a random token, in its own process group."""

    def __init__(self, root_dir: Path, work: Path, env: dict[str, str]):
        self.root_dir = root_dir
        self.work = work
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}"
        self.runtime_dir = work / "runtime"
        settings = work / "user-settings"
        for name, value in USER_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(value))
        (work / "workspaces").mkdir(parents=True, exist_ok=True)
        self.log_path = work / "jupyter.log"
        self.env = dict(env, JUPYTER_RUNTIME_DIR=str(self.runtime_dir), JUPYTER_CONFIG_DIR=str(work / "config"),
                        JUPYTER_PLATFORM_DIRS="1", IPYTHONDIR=str(work / "ipython"),
                        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
        self.args = [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
                     "--port-retries=0", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root_dir}",
                     "--ServerApp.disable_check_xsrf=False", "--LabApp.news_url=None",
                     "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                     "--LabApp.extension_manager=readonly", f"--LabApp.user_settings_dir={settings}",
                     f"--LabApp.workspaces_dir={work / 'workspaces'}", "--LabApp.expose_app_in_browser=True",
                     "--ServerApp.terminals_enabled=False"]
        if os.geteuid() == 0:   # CI and this machine run as root; jupyter refuses that without the flag
            self.args.append("--allow-root")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "JupyterLab":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args, cwd=self.root_dir, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if self.api("GET", "/api/status", timeout=2) is not None:
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}{'&' if '?' in path else '?'}token={self.token}"

    def api(self, method: str, path: str, timeout: float = 10.0):
        request = urllib.request.Request(self.base + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read()
        return json.loads(body) if body else {}

    def kernels(self) -> list[dict]:
        return self.api("GET", "/api/kernels")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the kernels down through the API, then the server; SIGTERM/SIGKILL the process groups left (the
        kernels run in sessions of their own, found by their connection files under our runtime dir)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                for kernel in self.kernels():
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=timeout)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                self.api("POST", "/api/shutdown", timeout=5)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _kill_group(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
        for pid in processes_naming(str(self.runtime_dir)):
            _kill_group(pid, signal.SIGKILL)
        self.proc = None


def processes_naming(marker: str) -> list[int]:
    out = subprocess.run(["ps", "-eww", "-o", "pid,stat,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    return [int(line.split()[0]) for line in out if marker in line and " Z" not in line[:12]]


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


# ---- page gestures -------------------------------------------------------------------------------------------------

def run_all_cells(page) -> None:
    """Run → Run All Cells, through the menu bar as a learner would."""
    page.locator(".lm-MenuBar-item", has=page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$"))) \
        .click()
    page.locator(".lm-Menu-item:visible",
                 has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).click()


def code_cell(page, source_fragment: str):
    """The code cell whose source contains `source_fragment`."""
    return page.locator(".jp-Notebook .jp-CodeCell",
                        has=page.locator(".jp-InputArea-editor", has_text=source_fragment))


# The current notebook's kernel is connected and idle (the toolbar's indicator says "idle" before a kernel has even
# started, so ask the session itself; `window.jupyterapp` is there with --LabApp.expose_app_in_browser).
KERNEL_IDLE = """() => {
    const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""

WAIT_ALL_RUN = """() => {
    const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle' &&
           prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
}"""


def wait_kernel_idle(page, timeout_s: float) -> None:
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_s * 1000, polling=100)


def wait_all_cells_run(page, timeout_s: float) -> None:
    """Every code cell has an execution count and the kernel is idle; on a timeout, say which cells had not run
    and what the outputs said (a traceback stops Run All)."""
    try:
        page.wait_for_function(WAIT_ALL_RUN, timeout=timeout_s * 1000, polling=200)
    except Exception as exc:  # playwright's TimeoutError: explain what the page shows
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        errors = [t for t in page.locator(".jp-OutputArea-output").all_inner_texts()
                  if "Error" in t or "Traceback" in t]
        raise AssertionError(f"not every cell ran within {timeout_s:.0f} s: prompts {prompts}; "
                             f"error outputs: {errors[:3]}") from exc
