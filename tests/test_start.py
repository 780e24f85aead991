"""The README's first command, end to end: `./lab start` as root and as an unprivileged user; and `scripts/setup`
telling a user without root exactly what to install.

`./lab start --no-browser` (the README's command, with the flag a machine without a display needs) runs the setup,
starts the lab, and JupyterLab on 127.0.0.1; the test reads the URL the command prints, waits until JupyterLab
answers, shuts it down through its own API (File > Shut Down does the same), and checks that the lab the command
started is stopped and that no process is left — neither in the command's session nor one naming the lab's home.
"""
from __future__ import annotations

import json
import os
import pwd
import pty
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from polling import eventually

ROOT = Path(__file__).resolve().parent.parent
INGRESSLAB = ROOT / ".venv" / "bin" / "ingresslab"


def _user_prefix(who: str) -> list[str]:
    if who == "root":
        if os.geteuid() != 0:
            pytest.skip("starting as root needs the suite to run as root")
        return []
    if os.geteuid() != 0:
        return []                      # the suite itself is unprivileged
    if shutil.which("runuser") is None:
        pytest.skip("runuser is needed to drop to an unprivileged user")
    return ["runuser", "-u", "nobody", "--"]


@pytest.fixture(params=["root", "nobody"])
def as_user(request, traversable_checkout):
    prefix = _user_prefix(request.param)
    home = Path(tempfile.mkdtemp(prefix="pytest-start-"))
    os.chmod(home, 0o755)
    if prefix:
        nobody = pwd.getpwnam("nobody")
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        prefix = [*prefix, "env", f"HOME={home}"]      # runuser sets nobody's own HOME, /nonexistent
    env = dict(os.environ, HOME=str(home), INGRESSLAB_HOME=str(home / "lab"),
               KUBECONFIG=str(home / "lab" / "kubeconfig"))
    env.pop("JUPYTER_RUNTIME_DIR", None)
    env.pop("JUPYTER_CONFIG_DIR", None)
    yield request.param, prefix, home, env
    while _STARTED:                      # a test that failed half-way leaves its `./lab start` running: stop it
        proc = _STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    subprocess.run([*prefix, str(INGRESSLAB), "down"], env=env, capture_output=True, timeout=60)
    shutil.rmtree(home, ignore_errors=True)


def _lab(prefix, env, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, str(INGRESSLAB), *argv], env=env, capture_output=True, text=True, timeout=60)


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float, *, stream=None) -> tuple[re.Match, str]:
    """Read the command's stdout (or `stream`) until a line matches; fail with all it printed otherwise."""
    stream = proc.stdout if stream is None else stream
    seen, sel = [], selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.5):
            if proc.poll() is not None:
                break
            continue
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m, "".join(seen)
    raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s; stdout:\n{''.join(seen)}\nstderr:\n"
                         f"{proc.stderr.read() if proc.poll() is not None else '(still running)'}")


def _get(url: str, *, token: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


def _left_behind(session: int, home: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eww", "-o", "pid,sid,stat,args"], capture_output=True, text=True).stdout
    out = []
    for line in ps.splitlines()[1:]:
        pid, sid, stat, *_ = line.split(None, 3)
        if stat.startswith("Z"):
            continue
        if int(sid) == session or str(home) in line:
            out.append(line)
    return out


_STARTED: list[subprocess.Popen] = []
"""Every `./lab start` a test began; the `as_user` fixture stops what is still running and closes its pipes."""


def _start(prefix, env, home, *extra, stdin=None) -> subprocess.Popen:
    proc = subprocess.Popen([*prefix, str(ROOT / "lab"), "start", "--no-browser", *extra], env=env, cwd=str(home),
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    _STARTED.append(proc)
    return proc


def _serve(proc: subprocess.Popen) -> tuple[str, str, str]:
    """Wait for the URL line and for JupyterLab to answer there: (what it printed, the token, the base URL)."""
    try:
        m, printed = _read_until(proc, r"^lab.*JupyterLab.* (http://127\.0\.0\.1:(\d+)/lab\?token=(\w+))", timeout=240)
        url, port, token = m.group(1), m.group(2), m.group(3)
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _get(f"{base}/api/status", token=token)[0] == 200, timeout=90,
                   what=f"JupyterLab to answer on {base}")
        status, page = _get(url, token=token)
        assert status == 200 and "JupyterLab" in page
        assert _get(f"{base}/api/status", token="wrong")[0] == 403          # the token is the lock
        return printed, token, base
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        raise


NOTEBOOKS = [str(p) for folder in ("notebooks", "notebooks-zh") for p in sorted((ROOT / folder).glob("*.ipynb"))]
TRUSTED = """import sys, nbformat
from nbformat.sign import NotebookNotary
notary = NotebookNotary()
for path in sys.argv[1:]:
    if not notary.check_signature(nbformat.read(path, 4)):
        print(path)
"""
"""Prints the notebooks this user's Jupyter does not trust."""


def test_lab_start_serves_jupyterlab_and_stops_the_lab_it_started(as_user):
    who, prefix, home, env = as_user
    proc = _start(prefix, env, home)
    printed, token, base = _serve(proc)
    # the lab is up, as this user, with the home we gave it
    status = _lab(prefix, env, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout)["nodes"]
    # the notebooks are trusted for this user, so JupyterLab draws their stored widgets before anything runs
    untrusted = subprocess.run([*prefix, str(ROOT / ".venv" / "bin" / "python"), "-c", TRUSTED, *NOTEBOOKS], env=env,
                               capture_output=True, text=True, timeout=60)
    assert untrusted.returncode == 0 and untrusted.stdout.split() == [], untrusted.stdout + untrusted.stderr
    _get(f"{base}/api/shutdown", token=token, method="POST")
    rest, errors = proc.communicate(timeout=120)
    assert proc.returncode == 0, printed + rest + errors
    assert "stopping the lab it started (ingresslab down)" in errors
    assert f"Serving notebooks from local directory: {ROOT / 'notebooks'}\n" in errors, errors
    assert _lab(prefix, env, "status").returncode == 3                      # the lab is down
    eventually(lambda: not _left_behind(proc.pid, home), timeout=20, what="no process left behind")
    if who == "root":
        assert "--allow-root" not in printed                                 # said to Jupyter, not to the user


def test_lab_start_leaves_a_lab_that_was_already_running_and_says_so(as_user):
    who, prefix, home, env = as_user
    if who != "root" and os.geteuid() == 0:
        pytest.skip("once is enough: the unprivileged start is covered by the test above")
    assert _lab(prefix, env, "up").returncode == 0
    proc = _start(prefix, dict(env, INGRESSLAB_LANG="zh"), home)   # a Chinese learner: the Chinese course opens
    printed, token, base = _serve(proc)
    _get(f"{base}/api/shutdown", token=token, method="POST")
    rest, errors = proc.communicate(timeout=120)
    assert proc.returncode == 0, printed + rest + errors
    assert f"Serving notebooks from local directory: {ROOT / 'notebooks-zh'}" in errors, errors
    assert "lab：JupyterLab 已停止；实验环境在 ./lab start 之前就在运行，所以继续运行（要停止它：" in errors   # in Chinese
    assert _lab(prefix, env, "status").returncode == 0
    assert _lab(prefix, env, "down").returncode == 0


# --- scripts/setup without root ---------------------------------------------------------------------------------

FAKE_DPKG_QUERY = """#!/bin/sh
# what dpkg-query would say if these packages had never been installed; every other package is asked for real
for last; do :; done
for p in $MISSING; do [ "$p" = "$last" ] && exit 1; done
exec /usr/bin/dpkg-query "$@"
"""


FAKE_APT_CACHE = """#!/bin/sh
# what `apt-cache policy` says on a system that does not package these (Ubuntu 22.04 and nginx's Lua module)
for last; do :; done
for p in $UNAVAILABLE; do
  [ "$1" = policy ] && [ "$p" = "$last" ] && printf '%s:\\n  Installed: (none)\\n  Candidate: (none)\\n' "$p" && exit 0
done
exec /usr/bin/apt-cache "$@"
"""


@pytest.fixture
def unprivileged(traversable_checkout):
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("runuser is needed to drop to an unprivileged user")
        prefix = ["runuser", "-u", "nobody", "--"]
    else:
        if subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0 if shutil.which("sudo") \
                else False:
            pytest.skip("this user has password-less sudo: setup would really install")
        prefix = []
    shim = Path(tempfile.mkdtemp(prefix="pytest-setup-"))
    os.chmod(shim, 0o755)
    (shim / "dpkg-query").write_text(FAKE_DPKG_QUERY)
    (shim / "apt-cache").write_text(FAKE_APT_CACHE)
    for tool in ("dpkg-query", "apt-cache"):
        os.chmod(shim / tool, 0o755)
    yield prefix, shim
    shutil.rmtree(shim, ignore_errors=True)


def _setup(prefix, shim, missing: str, *argv, unavailable: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, MISSING=missing, UNAVAILABLE=unavailable, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([*prefix, str(ROOT / "scripts" / "setup"), *argv], env=env, capture_output=True,
                          text=True, timeout=120, cwd="/")


def test_setup_without_root_lists_only_what_is_missing_and_the_exact_command(unprivileged):
    prefix, shim = unprivileged
    proc = _setup(prefix, shim, "wrk chromium", "--test")
    assert proc.returncode == 1
    assert proc.stdout.strip() == ("apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                                   "--no-install-recommends chromium wrk")
    listed = re.findall(r"^setup:   (\S+)$", proc.stderr, re.M)
    assert listed == ["chromium", "wrk"] and "Nothing was installed" in proc.stderr
    # `start` does not need the test packages: the same system is good enough for it
    assert _setup(prefix, shim, "wrk chromium", "--start").returncode == 0
    runtime = _setup(prefix, shim, "libnginx-mod-stream", "--start")
    assert runtime.returncode == 1
    assert runtime.stdout.strip().endswith("--no-install-recommends libnginx-mod-stream")


def test_setup_on_a_system_without_nginx_lua_says_so_and_uses_the_static_mode(unprivileged):
    prefix, shim = unprivileged
    lua = "libnginx-mod-http-lua"
    proc = _setup(prefix, shim, lua, "--start", unavailable=lua)
    assert proc.returncode == 0, proc.stderr
    assert f"nginx's Lua module ({lua}) is not packaged for" in proc.stderr and "static mode" in proc.stderr
    assert "use Debian 12+ or Ubuntu 24.04+" in proc.stderr and proc.stdout == ""
    # a package the lab cannot do without, not packaged: a clear stop
    proc = _setup(prefix, shim, "graphviz", "--start", unavailable="graphviz")
    assert proc.returncode == 1 and "graphviz is not packaged for" in proc.stderr
    assert "made for Debian 12+ and Ubuntu 24.04+" in proc.stderr
    # a test package not packaged: said, and the rest goes on
    proc = _setup(prefix, shim, "wrk", "--test", unavailable="wrk")
    assert proc.returncode == 0 and "wrk is not packaged for" in proc.stderr and "skip" in proc.stderr


def test_start_and_test_ask_setup_for_their_own_packages():
    lab = (ROOT / "lab").read_text()
    assert "scripts/setup --start" in lab and "scripts/setup --test" in lab
    setup = (ROOT / "scripts" / "setup").read_text()
    runtime = set(re.search(r"RUNTIME_PACKAGES=\(([^)]*)\)", setup).group(1).split())
    tests = set(re.search(r"TEST_PACKAGES=\(([^)]*)\)", setup).group(1).split())
    assert {"chromium", "wrk", "python3-cryptography", "gettext"} == tests and not runtime & tests
    assert {"nginx", "libnginx-mod-http-lua", "graphviz"} <= runtime


def test_ctrl_c_twice_stops_jupyterlab_and_then_the_lab(as_user):
    who, prefix, home, env = as_user
    if who != "root" and os.geteuid() == 0:
        pytest.skip("once is enough: Ctrl-C reaches Jupyter the same way for every user")
    # A learner's terminal: Jupyter installs its Ctrl-C handler (ask, or stop on a second Ctrl-C) only when its
    # stdin is a terminal. Without one, Python's KeyboardInterrupt can land in a weakref callback and be swallowed.
    terminal, learner_side = pty.openpty()
    try:
        proc = _start(prefix, env, home, stdin=learner_side)
    finally:
        os.close(learner_side)
    try:
        _serve(proc)
        os.killpg(proc.pid, signal.SIGINT)       # what a terminal sends the foreground group on Ctrl-C
        _read_until(proc, r"\binterrupted\b", timeout=60, stream=proc.stderr)   # Jupyter asks to confirm, for 5 s …
        os.killpg(proc.pid, signal.SIGINT)       # … and a second Ctrl-C skips the question
        _, errors = proc.communicate(timeout=120)
    finally:
        os.close(terminal)
    assert "stopping the lab it started (ingresslab down)" in errors
    assert _lab(prefix, env, "status").returncode == 3
    eventually(lambda: not _left_behind(proc.pid, home), timeout=20, what="no process left behind")
