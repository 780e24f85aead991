"""The README's terminal steps, run as written: a new user who copies them gets coffee from a pod.

The block under "The lab from a terminal" is run line by line in bash (comments and all), in a home of its own,
up to its `curl`; the `curl` line is then repeated until the controller has synced the cafe's Ingress (a person
typing is slower than the controller; a script is not), and must answer from a coffee pod.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from polling import eventually

ROOT = Path(__file__).resolve().parent.parent


def terminal_block() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The lab from a terminal"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_readme_names_no_binder_repository_that_does_not_exist():
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/v2/gh/ingresslab/ingresslab" not in readme
    assert "https://mybinder.org/v2/gh/<owner>/<repository>/<branch>?urlpath=lab/tree/notebooks/00_start_here.ipynb" \
        in readme


def test_the_readmes_terminal_steps_reach_a_pod():
    lines = terminal_block()
    curl = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    assert "127.0.0.1:" not in lines[curl]          # NodePorts answer on node addresses only
    home = Path(tempfile.mkdtemp(prefix="pytest-readme-"))
    env = dict(os.environ, INGRESSLAB_HOME=str(home))
    env.pop("KUBECONFIG", None)
    setup = "set -euo pipefail\n" + "\n".join(lines[:curl]) + "\n"

    def run(script: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    try:
        first = run(setup + "echo NODE=$NODE HTTPS=$HTTPS")
        assert first.returncode == 0, first.stdout + first.stderr
        node, https = re.search(r"NODE=(\S+) HTTPS=(\d+)", first.stdout).groups()
        assert node.startswith("127.0.") and not node.startswith("127.0.0.")
        again = (f"NODE={node} HTTPS={https}\nexport KUBECONFIG=$(.venv/bin/ingresslab kubeconfig)\n"
                 + lines[curl] + " -sS")
        answer = eventually(lambda: "Server name: coffee-" in (out := run(again).stdout) and out, timeout=30,
                            what="the README's curl to answer from a coffee pod")
        assert "Server name: coffee-" in answer
    finally:
        subprocess.run([str(ROOT / ".venv" / "bin" / "ingresslab"), "down"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
