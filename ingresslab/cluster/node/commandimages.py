"""Images whose container runs a command and may end: `busybox`, `curlimages/curl`, and `nginx` given a command.

`kubectl run curl --image=curlimages/curl --restart=Never -- curl -s http://tea-svc/` makes a pod whose container
runs `curl` in the pod's shell (`shell/`), from the pod's address; its output is the pod's log and what an attached
kubectl sees; its exit code becomes the container's `terminated` state, and the pod's phase Succeeded or Failed
when the restart policy is Never (OnFailure and Always restart it with the kubelet's back-off, CrashLoopBackOff in
between). `busybox -- sleep 3600` keeps running. A container with `stdin: true` reads what `kubectl attach` / `run
-i` sends (closed after the first attach with `stdinOnce`), and one with `tty: true` sits behind a terminal
(`shell/tty.py`), so `kubectl run -it --rm x --image=busybox -- sh` is an interactive shell. An attach sees output
from the moment it joins: kubectl 1.37 reads the log first (what a quick command already printed), then attaches.

The images' own entrypoints are honoured as the real ones behave: BusyBox runs its argv (`sh` by default);
curlimages/curl's entrypoint runs `curl` with the arguments when the first one is an option, else the arguments
as a command (`curl` alone by default); nginx runs its welcome page on port 80 unless given a command.

Neighbours: `images.py` holds the table these images join; the kubelet gives each container a view of itself
(`PodContext.view`, built by `streams.py`) and a way to report its state (`PodContext.report`, `completion.py`).
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Callable

from ingresslab.cluster.node import images
from ingresslab.cluster.node.shell import ExecNotFound, Shell, Terminal

__all__ = ["CommandProcess", "entrypoint"]

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0


def entrypoint(image: str, command: list[str], args: list[str]) -> list[str] | None:
    """The argv the image runs for a container's command/args (None: the image's own server)."""
    repo = images.normalize_image(image).rpartition(":")[0]
    if command:
        return [*command, *args]
    if repo == "curlimages/curl":
        if not args:
            return ["curl"]
        return ["curl", *args] if args[0].startswith("-") else list(args)
    if repo == "busybox":
        return list(args) or ["sh"]
    if repo == "nginx":
        if not args or args[:1] == ["nginx"]:
            return None
        return list(args)
    return None


class CommandProcess:
    """One container's main process: the command, its output (log and attached clients) and stdin."""

    def __init__(self, pod: images.PodContext, argv: list[str]):
        spec = pod.container or {}
        self.pod = pod
        self.container_name = spec.get("name", "")
        self.argv = argv
        self.wants_stdin = bool(spec.get("stdin"))
        self.stdin_once = bool(spec.get("stdinOnce"))
        self.tty = bool(spec.get("tty"))
        self.restart_policy = pod.restart_policy
        self.exited = False
        self.exit_code: int | None = None
        self.restarts = 0
        self.attached: list[tuple[Callable[[bytes], None], Callable[[bytes], None]]] = []
        self.attaches = 0
        self._partial = {1: b"", 2: b""}
        self._task: asyncio.Task | None = None
        self._closing = False
        self._ended_event = asyncio.Event()        # set while the process is not running
        self.done = asyncio.get_running_loop().create_future()

    # ------------------------------------------------------------------------------------------------ running
    def start(self) -> None:
        self._task = asyncio.ensure_future(self._supervise())

    async def _supervise(self) -> None:
        delay = BACKOFF_START
        while True:
            code = await self._run_once()
            self.exited, self.exit_code = True, code
            self._ended_event.set()
            if self._closing:
                break
            restart = self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)
            self.pod.report(self.container_name, "terminated", code, restart)
            if not restart:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
            if self._closing:
                break
            self.restarts += 1
            self.exited, self.exit_code = False, None
            self._ended_event.clear()
            self.pod.report(self.container_name, "running", None, False)
        if not self.done.done():
            self.done.set_result(self.exit_code)

    async def _run_once(self) -> int:
        view = self.pod.view()
        view.processes.main = ((view.rootfs.user.name, " ".join(self.argv)),)
        self.raw = asyncio.StreamReader()
        if not self.wants_stdin:
            self.raw.feed_eof()
        terminal = None
        if self.tty:
            terminal = Terminal(self.raw, lambda data: self._emit(1, data))
            stdin, out, err = terminal.stdin, terminal.output, terminal.output
        else:
            stdin, out, err = self.raw, (lambda data: self._emit(1, data)), (lambda data: self._emit(2, data))
        try:
            return await Shell(view).execute(self.argv, stdin, out, err, main=True)
        except ExecNotFound:
            err(f'exec: "{self.argv[0]}": executable file not found in $PATH\n'.encode())
            return 127
        except asyncio.CancelledError:
            return 137
        finally:
            self._flush()
            if terminal is not None:
                terminal.close()

    def _emit(self, stream: int, data: bytes) -> None:
        if not data:
            return
        for out, err in list(self.attached):
            (out if stream == 1 else err)(data)
        text = self._partial[stream] + data
        *lines, self._partial[stream] = text.split(b"\n")
        for line in lines:
            self.pod.log(line.decode(errors="replace").rstrip("\r"))

    def _flush(self) -> None:
        for stream in (1, 2):
            if self._partial[stream]:
                self.pod.log(self._partial[stream].decode(errors="replace"))
                self._partial[stream] = b""

    # ------------------------------------------------------------------------------------------------ attach
    async def attach(self, stdin, stdout, stderr, *, tty: bool) -> int:
        """Join the process until it ends (its exit code) or the client leaves."""
        self.attaches += 1
        out = stdout or (lambda _: None)
        err = (stderr or out) if not self.tty else out
        sinks = (out, err)
        self.attached.append(sinks)
        pump = asyncio.ensure_future(self._pump(stdin)) if stdin is not None and self.wants_stdin else None
        try:
            await self._ended_event.wait()
            return self.exit_code or 0
        finally:
            self.attached.remove(sinks)
            if pump is not None:
                pump.cancel()
            if self.stdin_once and not self.raw.at_eof():
                self.raw.feed_eof()

    async def _pump(self, stdin) -> None:
        while True:
            data = await stdin.read(4096)
            if not data:
                if self.stdin_once or not self.tty:
                    self.raw.feed_eof()
                return
            if not self.raw.at_eof():
                self.raw.feed_data(data)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


async def _start_command(pod: images.PodContext, bound: dict[int, int], args: list[str]) -> images.Listener:
    spec = pod.container or {}
    argv = entrypoint(spec.get("image", ""), list(spec.get("command") or []), list(spec.get("args") or []))
    expanded = list(args)   # the kubelet's $(VAR) expansion of command + args, in the same order
    if argv is not None and len(expanded) == len([*(spec.get("command") or []), *(spec.get("args") or [])]):
        head = len(argv) - len(expanded)
        argv = argv[:head] + expanded
    if argv is None:
        return await _start_welcome(pod, bound)
    process = CommandProcess(pod, argv)
    process.start()
    return process


# ---------------------------------------------------------------------------------------------- nginx

async def _start_welcome(pod: images.PodContext, bound: dict[int, int]) -> images.Listener:
    """nginx without a command: its welcome page, served in the pods' own process like the other server images."""
    return await images.serve_in_pods_process("nginx-welcome", pod, bound)


for _image in (
    images.Image("busybox:latest", 0, None, "BusyBox: a shell and the small Unix tools; runs its command "
                 "(`sh` by default), e.g. `sleep 3600`, `wget -qO- http://tea-svc`, `nslookup tea-svc`.",
                 start=_start_command),
    images.Image("curlimages/curl:latest", 0, None, "curl on Alpine: runs `curl` with the container's "
                 "arguments, from the pod's own address.", start=_start_command),
    images.Image("nginx:latest", 80, None, "The official nginx image: its welcome page on port 80 (or the "
                 "container's command).", start=_start_command),
):
    images.register(_image)
for _tag in ("1.37", "1.36", "stable"):
    images.register(images.Image(f"busybox:{_tag}", 0, None, "BusyBox (see busybox:latest).", start=_start_command))
for _tag in ("alpine", "stable", "mainline", "1.27", "1.29"):
    images.register(images.Image(f"nginx:{_tag}", 80, None, "nginx (see nginx:latest).", start=_start_command))
