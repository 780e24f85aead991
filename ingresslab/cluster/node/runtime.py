"""Pods whose container is a real process: the lab's way to run a program (the Ingress controller) as a pod.

Most images run in the pods' own process (`images.py`, `containerd.py`). A process image instead starts a child
program with the container's arguments and environment, as a container runtime would: the child's stdout and stderr become the
pod's log (`kubectl logs`), it is restarted with a growing back-off when it exits on its own (the pod's restart
count), and closing the pod sends SIGTERM, then SIGKILL after a grace period. The layer above registers such
images (`register_process_image`) with a function that turns the pod into an argv and an environment, so this
module knows nothing of what the program is. A pod may start in an interpreter that was started ahead of it
(`warmstart.py`), as a node may pull an image before the pod that needs it.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from typing import Callable, Mapping

from ingresslab.cluster.node import images
from ingresslab.cluster.node import warmstart
from ingresslab.cluster.node.children import die_with_parent, python_module  # noqa: F401 (re-exported)

GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class ProcessSpec:
    argv: list[str]
    env: Mapping[str, str]


# (pod, bound ports {containerPort: bound port}, container args) → what to run
Launcher = Callable[[images.PodContext, dict[int, int], list[str]], ProcessSpec]


class ProcessApp:
    def __init__(self, pod: images.PodContext, spec: ProcessSpec, on_restart: Callable[[], None] | None = None):
        self.pod = pod
        self.spec = spec
        self.on_restart = on_restart
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._closing = False
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._spawn()
        self._task = asyncio.ensure_future(self._supervise())

    async def _spawn(self) -> None:
        env = dict(os.environ)
        env.update(self.spec.env)
        self.proc = warmstart.take(self.spec.argv, env)   # an interpreter that imported the image's modules already
        if self.proc is not None:
            return
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()))

    async def _pump(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            self.pod.log(line.decode(errors="replace").rstrip("\n"))
        return await self.proc.wait()

    async def _supervise(self) -> None:
        delay = 0.5
        while not self._closing:
            code = await self._pump()
            if self._closing:
                return
            self.pod.log(f"container exited with code {code}; restarting in {delay:.1f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            if self._closing:
                return
            self.restarts += 1
            if self.on_restart is not None:
                self.on_restart()
            await self._spawn()

    async def close(self) -> None:
        self._closing = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            try:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), GRACE_SECONDS)
            except ProcessLookupError:
                pass
            except asyncio.TimeoutError:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except asyncio.TimeoutError:
                self._task.cancel()


def register_process_image(name: str, port: int, launcher: Launcher, description: str, *,
                           ports: tuple[int, ...] = (), nginx: Callable[[str, str], object | None] | None = None
                           ) -> None:
    """Make `name` an image the lab understands, run as a child process (see the module docstring)."""

    async def start(pod: images.PodContext, bound: dict[int, int], args: list[str]) -> ProcessApp:
        app = ProcessApp(pod, launcher(pod, bound, args))
        await app.start()
        return app

    images.register(images.Image(images.normalize_image(name), port, None, description, start=start,
                             extra_ports=tuple(ports), nginx=nginx))
