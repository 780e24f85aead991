"""Helpers for the shared-machine proofs: act as another local user (`nobody`, through runuser), and a lab whose
home sits under a directory every user may enter, so that the home's own mode is all that protects it.

Only root can become another user; run as anyone else, the tests that need a second user are skipped (the suite
as `nobody` still checks every mode and refusal that does not need one).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import processes_under

SYSTEM_PYTHON = "/usr/bin/python3"

needs_another_user = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser"), reason="only root can act as another local user (runuser)")


def as_nobody(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", *argv], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


ATTEMPT = """
import json, os, socket, sys
what, path = sys.argv[1], sys.argv[2]
try:
    if what == "read":
        open(path, "rb").read(1)
    elif what == "list":
        os.listdir(path)
    elif what == "connect":
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b"GET /configuration/backends HTTP/1.0\\r\\n\\r\\n")
        print(json.dumps({"ok": True, "answer": s.recv(100).decode(errors="replace")}))
        sys.exit()
    elif what == "symlink":
        os.symlink(sys.argv[3], path)
    elif what == "mkdir":
        os.mkdir(path, 0o777)
        os.chmod(path, 0o777)
    print(json.dumps({"ok": True}))
except OSError as exc:
    print(json.dumps({"ok": False, "errno": exc.errno, "error": str(exc)}))
"""


def nobody_tries(what: str, path: Path | str, *extra: str) -> dict:
    """As `nobody`, try to read a file, list a directory, connect to a unix socket, plant a symlink or a directory;
    {"ok": bool, "errno": …}."""
    result = as_nobody(SYSTEM_PYTHON, "-c", ATTEMPT, what, str(path), *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@contextmanager
def lab_in_open_parent(name: str):
    """A lab whose home's parent is 0755 (as a home under /home/<user> often is): nothing but the home's own
    protection stands between it and another user. Stopped and removed afterwards, nothing left running."""
    from ingresslab import Lab
    parent = Path(tempfile.mkdtemp(prefix=f"ingresslab-{name}-"))
    parent.chmod(0o755)
    home = parent / "home"
    lab = Lab.up(home)
    try:
        yield lab
    finally:
        lab.down()
        deadline = time.monotonic() + 10
        while processes_under(home) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = processes_under(home)
        shutil.rmtree(parent, ignore_errors=True)
        assert left == [], f"processes left by the lab in {home}"
