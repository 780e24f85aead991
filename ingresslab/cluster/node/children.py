"""Child processes of a node (the data plane, warm interpreters, process pods): how they are started so that none
outlives the lab process that started it."""
from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Callable

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(parent: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: SIGTERM it when the lab process dies, even by SIGKILL — a container
    does not outlive a crashed lab (its own session keeps it out of the lab's process group otherwise)."""
    def preexec() -> None:
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:   # the lab died before prctl took effect
            os._exit(1)
    return preexec



def python_module(module: str, *args: str) -> list[str]:
    """argv running a module of this installation with the same interpreter."""
    return [sys.executable, "-m", module, *args]


def run_loop(main) -> None:
    """Run `main()` on uvloop where it is installed (the pods' process and kube-proxy's data plane: per request,
    uvloop's C event loop costs about half of asyncio's, figures in benchmarks/README.md), else on asyncio's."""
    try:
        import uvloop
    except ImportError:
        import asyncio
        asyncio.run(main)
    else:
        uvloop.run(main)


async def end_child(proc, grace: float = 5.0) -> None:
    """Close a child's stdin (our children exit when it closes), wait `grace` seconds, then SIGKILL it."""
    import asyncio
    if proc.returncode is not None:
        return
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
