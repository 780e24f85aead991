"""Session-wide set-up for the whole suite (tests/ and the notebooks that nbval runs).

The notebooks share one lab of their own, in a home under pytest's temporary directory; their kernels inherit
this environment. When the session ends that lab is stopped, and the suite fails if any process it started
(labs, controllers, nginx masters and workers) is still running.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent

# The notebooks (run by nbval in kernels that inherit this environment) share one lab of their own, in a home
# under pytest's temporary directory, stopped when the session ends.
NOTEBOOK_HOME = None


def _hypothesis_without_a_writable_checkout() -> None:
    """Hypothesis keeps examples in .hypothesis/ beside the tests; a read-only checkout (the suite run by an
    unprivileged user) keeps them in memory instead of warning (warnings are errors here)."""
    if not os.access(Path(__file__).resolve().parent, os.W_OK):
        from hypothesis import settings
        settings.register_profile("read-only-checkout", database=None)
        settings.load_profile("read-only-checkout")


_hypothesis_without_a_writable_checkout()


def missing_requirements() -> list[str]:
    """What the suite needs from the machine and would otherwise skip for: each missing piece, in words."""
    import shutil

    from ingresslab.ingress.nginx import CJSON_PATHS, LUA_PATHS, MODULES_DIR, stream_available
    missing = [f"nginx module {MODULES_DIR}/{m} (apt: {package})"
               for m, package in (("ndk_http_module.so", "libnginx-mod-http-ndk"),
                                  ("ngx_http_lua_module.so", "libnginx-mod-http-lua"))
               if not (Path(MODULES_DIR) / m).is_file()]
    if not any((Path(p) / "resty" / "core.lua").is_file() for p in LUA_PATHS):
        missing.append(f"lua-resty-core (resty/core.lua under {', '.join(LUA_PATHS)}; apt: lua-resty-core)")
    if not any(Path(p).is_file() for p in CJSON_PATHS):
        missing.append("lua-cjson (cjson.so; apt: lua-cjson)")
    if not stream_available(MODULES_DIR):
        missing.append(f"nginx stream module {MODULES_DIR}/ngx_stream_module.so (apt: libnginx-mod-stream)")
    if not Path("/usr/bin/chromium").exists():
        missing.append("/usr/bin/chromium for the browser test (apt: chromium)")
    if shutil.which("msgfmt") is None:
        missing.append("msgfmt, GNU gettext's check of the translation catalogues (apt: gettext)")
    if shutil.which("runuser") is None:
        missing.append("runuser, to run tests as an unprivileged user (apt: util-linux)")
    python = Path("/usr/bin/python3")
    if not python.exists() or subprocess.run([str(python), "-c", "import cryptography"],
                                             capture_output=True).returncode != 0:
        missing.append("cryptography for the system python /usr/bin/python3 (apt: python3-cryptography)")
    return missing


def pytest_sessionstart(session):
    """In CI (`CI` set) nothing may be skipped for want of a package: a missing one fails the run, saying which.
    Elsewhere those tests skip with the reason, so a learner's laptop without chromium still runs the rest."""
    if os.environ.get("CI"):
        missing = missing_requirements()
        if missing:
            pytest.exit("CI is set, and these tests would be skipped silently — install what is missing:\n  "
                        + "\n  ".join(missing), returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.hookimpl(trylast=True)   # after pytest's tmp_path plugin has made its factory
def pytest_configure(config):
    global NOTEBOOK_HOME
    if os.environ.get("INGRESSLAB_NOTEBOOK_HOME"):
        NOTEBOOK_HOME = Path(os.environ["INGRESSLAB_NOTEBOOK_HOME"])
    else:
        NOTEBOOK_HOME = Path(config._tmp_path_factory.getbasetemp()) / "ingresslab-notebooks"
    os.environ["INGRESSLAB_HOME"] = str(NOTEBOOK_HOME)
    # The tests and the English notebooks expect English whatever the machine's locale (LANG=zh_CN.UTF-8 would
    # make the lab speak Chinese); the Chinese notebooks choose Chinese themselves (`Lab.up(language="zh")`).
    os.environ["INGRESSLAB_LANG"] = "en"
    os.environ["KUBECONFIG"] = str(NOTEBOOK_HOME / "kubeconfig")
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def _ancestors() -> set[int]:
    """This process and its parents (their command lines may name the temporary directory too)."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def our_processes(marker: str) -> list[str]:
    """Processes whose command line names `marker` (this session's temporary directory): labs, nginx, children."""
    out = subprocess.run(["ps", "-eww", "-o", "pid,stat,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    mine = _ancestors()
    return [line.strip() for line in out if marker in line and " Z" not in line[:12]
            and int(line.split()[0]) not in mine]


def pytest_sessionfinish(session, exitstatus):
    """After the whole suite: no process of ours is left (labs, nginx masters and workers, controllers)."""
    if NOTEBOOK_HOME is not None and not os.environ.get("INGRESSLAB_NOTEBOOK_HOME"):
        from ingresslab.lab import stop
        stop(NOTEBOOK_HOME)
    try:
        base = str(session.config._tmp_path_factory.getbasetemp())
    except (AttributeError, ValueError):
        return
    import time
    deadline = time.monotonic() + 5
    leftovers = our_processes(base)
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.1)
        leftovers = our_processes(base)
    if leftovers:
        print("\nLEFTOVER PROCESSES after the test session:\n  " + "\n  ".join(leftovers), file=sys.stderr)
        session.exitstatus = 1


