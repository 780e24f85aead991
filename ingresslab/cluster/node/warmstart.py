"""Warm starts: a Python interpreter that imports a process image's modules before its pod exists.

A node pulls an image before it can start a container, and can pull it ahead of time. The lab's equivalent is
importing: the Ingress controller's process spends about 0.75 s importing the `kubernetes` client and its API
classes before it can list anything, and that used to sit on the critical path of `ingresslab up`. So the lab
process starts `python -m ingresslab.cluster.node.warmstart MODULE --preload M1,M2 --for HOME` as the first thing it
does, while it still starts itself; the child imports those modules and then waits. When the kubelet starts a
pod whose command is `python -m MODULE ARGS…` (`processes.ProcessApp`), it takes the waiting child instead of a
new interpreter and sends it one JSON line on stdin: `{"argv": [ARGS…], "env": {…}, "cwd": "…"}`. The child
takes that environment, argv and directory and runs MODULE as `__main__`, exactly as `python -m` would have.
Its stdout and stderr were the pod log's pipe from the start; its exit code is the program's.

A warm child serves once. It exits when its stdin closes without a launch line (the lab stopped, or discarded it),
and through PR_SET_PDEATHSIG when the lab dies. Its command line names MODULE and the lab's home, so `ps` still
says what it is for. A launch whose environment sets Python's own start-up variables (PYTHON*) differently from
the child's falls back to a fresh interpreter, since those act before any import.
"""
from __future__ import annotations

import json
import os
import sys

MODULE = "ingresslab.cluster.node.warmstart"
UNBUFFERED = {"PYTHONUNBUFFERED": "1"}   # pods' stdout is a pipe: line by line into the pod log, as they expect


def python_startup_env(env) -> dict[str, str]:
    """The variables an interpreter reads when it starts (a warm child cannot take them later)."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


class WarmStart:
    """The lab's side of one warm child (see the module docstring). Use from the lab's event loop."""

    def __init__(self, module: str, preload: tuple[str, ...], tag: str):
        self.module, self.preload, self.tag = module, preload, tag
        self.proc = None            # asyncio.subprocess.Process, while it waits to be taken
        self.startup_env: dict[str, str] = {}

    async def start(self) -> "WarmStart":
        import asyncio

        from ingresslab.cluster.node.children import die_with_parent
        env = {**os.environ, **UNBUFFERED}
        self.startup_env = python_startup_env(env)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", MODULE, self.module, "--preload", ",".join(self.preload), "--for", self.tag,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=env, start_new_session=True, preexec_fn=die_with_parent(os.getpid()))
        return self

    def take(self, argv: list[str], env: dict[str, str], cwd: str | None = None):
        """The waiting child, told to run `argv` (`python -m MODULE ARGS…`) with `env`; None if it cannot."""
        proc = self.proc
        if proc is None or proc.returncode is not None or argv[:3] != [sys.executable, "-m", self.module]:
            return None
        if python_startup_env(env) != self.startup_env:
            return None
        self.proc = None
        launch = {"argv": list(argv[3:]), "env": dict(env), "cwd": cwd or os.getcwd()}
        proc.stdin.write(json.dumps(launch).encode() + b"\n")
        proc.stdin.close()          # the program's stdin is then at end of file, as with /dev/null
        return proc

    async def discard(self) -> None:
        """Let an untaken child go: its stdin closes, it exits."""
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        from ingresslab.cluster.node.children import end_child
        await end_child(proc)


_WAITING: dict[str, WarmStart] = {}


async def prepare(module: str, preload: tuple[str, ...], tag: str) -> WarmStart:
    """Start a warm child for `python -m module` pods; the next such pod takes it (`take`)."""
    warm = await WarmStart(module, preload, tag).start()
    _WAITING[module] = warm
    return warm


def take(argv: list[str], env: dict[str, str], cwd: str | None = None):
    """A waiting warm child running `argv` with `env` (in `cwd`, else ours), or None: then start a fresh
    interpreter."""
    warm = _WAITING.get(argv[2]) if len(argv) >= 3 and argv[1] == "-m" else None
    proc = warm.take(argv, env, cwd) if warm is not None else None
    if proc is not None:
        del _WAITING[argv[2]]
    return proc


async def discard_all() -> None:
    for module in list(_WAITING):
        await _WAITING.pop(module).discard()


# ---------------------------------------------------------------------------------------------- the child

def _child(argv: list[str]) -> int:
    module, preload = argv[0], []
    if "--preload" in argv:
        preload = [m for m in argv[argv.index("--preload") + 1].split(",") if m]
    import importlib
    for name in [*preload, module]:   # the module last: its own imports are then the rest of the work
        try:
            importlib.import_module(name)
        except Exception as error:   # noqa: BLE001 - a failed preload only loses its head start
            print(f"warm start: could not preload {name}: {error}", file=sys.stderr)
    line = sys.stdin.buffer.readline()
    if not line:
        return 0                     # discarded: nobody wants this interpreter
    launch = json.loads(line)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.environ.clear()
    os.environ.update(launch["env"])
    os.chdir(launch["cwd"])
    sys.argv = [module, *launch["argv"]]
    sys.modules.pop(module, None)   # run it afresh as __main__, as `python -m` does (and runpy would warn)
    import runpy
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
