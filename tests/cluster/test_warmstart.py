"""warmstart.py: an interpreter that imported a module's dependencies before its pod existed, then runs it as
`python -m` would — real child processes, real pipes."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingresslab.cluster.node import warmstart

PROBE = '''
import json, os, sys

IMPORTS_SEEN = sorted(m for m in sys.modules if m == "colorsys")   # the preload ran before this module did

if __name__ == "__main__":
    print(json.dumps({"argv": sys.argv[1:], "probe": os.environ.get("PROBE"), "cwd": os.getcwd(), "name": __name__,
                      "stdin": sys.stdin.read(), "preloaded": IMPORTS_SEEN == ["colorsys"]}))
    sys.exit(3)
'''


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """A module `warmprobe` that reports how it was run, importable by the lab's children through PYTHONPATH."""
    (tmp_path / "warmprobe.py").write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_the_waiting_child_runs_the_module_with_the_pods_argv_env_and_cwd_and_its_exit_code(probe_module, tmp_path):
    async def main():
        await warmstart.prepare("warmprobe", ("colorsys",), str(tmp_path))
        work = tmp_path / "work"
        work.mkdir()
        argv = [sys.executable, "-m", "warmprobe", "--flag", "two words"]
        proc = warmstart.take(argv, {**os.environ, "PROBE": "from the pod spec"}, cwd=str(work))
        assert proc is not None
        report = json.loads(await proc.stdout.read())
        assert await proc.wait() == 3
        assert report == {"argv": ["--flag", "two words"], "probe": "from the pod spec", "cwd": str(work),
                          "name": "__main__", "stdin": "", "preloaded": True}
        assert warmstart.take(argv, dict(os.environ)) is None          # a warm child serves once
    run(main())


def test_what_a_warm_child_cannot_honour_falls_back_to_a_fresh_interpreter(probe_module, tmp_path):
    async def main():
        await warmstart.prepare("warmprobe", (), str(tmp_path))
        try:
            other_module = [sys.executable, "-m", "json.tool"]
            assert warmstart.take(other_module, dict(os.environ)) is None
            startup_var = {**os.environ, "PYTHONHASHSEED": "7"}       # read at interpreter start: too late here
            assert warmstart.take([sys.executable, "-m", "warmprobe"], startup_var) is None
            other_python = ["/usr/bin/env", "-m", "warmprobe"]
            assert warmstart.take(other_python, dict(os.environ)) is None
        finally:
            await warmstart.discard_all()
    run(main())


def test_an_untaken_child_exits_when_discarded_and_its_command_line_says_what_it_is_for(probe_module, tmp_path):
    async def main():
        warm = await warmstart.prepare("warmprobe", ("colorsys",), f"{tmp_path}/home")
        proc = warm.proc
        args = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"warmprobe" in args and f"{tmp_path}/home".encode() in args
        await warmstart.discard_all()
        assert proc.returncode == 0
        assert warmstart.take([sys.executable, "-m", "warmprobe"], dict(os.environ)) is None
    run(main())


def test_the_lab_runs_its_ingress_controller_in_the_warm_interpreter(lab):
    """The controller pod's process is the one the lab started before it (its command line names the lab's home),
    and it runs nginx: the warm start was taken, not wasted."""
    ps = subprocess.run(["ps", "-eww", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in ps.splitlines()]
    warm = [int(pid) for pid, _, args in rows
            if "ingresslab.cluster.node.warmstart ingresslab.ingress.controller" in args and str(lab.home) in args]
    assert len(warm) == 1
    masters = [int(ppid) for _, ppid, args in rows if args.startswith("nginx: master") and str(lab.home) in args]
    assert masters == warm
