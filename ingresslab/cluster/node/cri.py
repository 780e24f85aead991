"""The kubelet's side of the container runtime: start and stop pod apps in the pods' own process (`containerd.py`).

`runtime()` gives the one `ContainerRuntime` of the running event loop. `run(...)` starts the process when the first
pod needs it, asks it to serve an app and returns the ports it bound; `stop(hid)` closes that app's sockets and
connections; when no app is left the process exits. Log lines come back in batches, a block of text per app, and go
whole to the `log_block` function the kubelet gave for that app (its `PodLog.extend_text`), or line by line to its
`log` function when it gave none, so `kubectl logs` and `trace` read them as before.

If the process dies (killed, crashed), every app it ran is started again in a new one on the same addresses and
ports, as a node's runtime restarts its containers; `restarts` counts how often.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import weakref
from collections.abc import Callable

from ingresslab.cluster.node.children import die_with_parent, end_child, python_module

log = logging.getLogger("ingresslab.cri")
MODULE = "ingresslab.cluster.node.containerd"

_RUNTIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def runtime() -> ContainerRuntime:
    loop = asyncio.get_running_loop()
    found = _RUNTIMES.get(loop)
    if found is None:
        found = _RUNTIMES[loop] = ContainerRuntime()
    return found


class RuntimeError_(OSError):
    """The runtime process refused or failed a request (the message says why, as containerd's would)."""


class ContainerRuntime:
    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.reader_task: asyncio.Task | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.apps: dict[str, dict] = {}              # hid → the start message (kept to replay after a crash)
        self.logs: dict[str, tuple[Callable[[str], None], Callable[[str], None] | None]] = {}   # hid → log, block
        self.next_id = 0
        self.restarts = 0
        self.lock = asyncio.Lock()
        self.closing = False

    # --------------------------------------------------------------------------------------------- process
    async def _ensure(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            return
        self.closing = False
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = await asyncio.create_subprocess_exec(
            *python_module(MODULE), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            limit=1 << 24, start_new_session=True, preexec_fn=die_with_parent(os.getpid()))
        self.reader_task = asyncio.ensure_future(self._read(self.proc))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        try:
            while line := await proc.stdout.readline():
                msg = json.loads(line)
                if "log" in msg:
                    text = (await proc.stdout.readexactly(msg["bytes"])).decode("utf-8", "replace")
                    fns = self.logs.get(msg["log"])
                    if fns is not None:
                        if fns[1] is not None:
                            fns[1](text)
                        else:
                            for one in text.split("\n")[:-1]:
                                fns[0](one)
                    continue
                future = self.pending.pop(msg.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(msg)
        except (ValueError, ConnectionError, asyncio.IncompleteReadError) as exc:
            log.warning("the pods' runtime sent something unreadable: %s", exc)
        await proc.wait()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(RuntimeError_("the pods' runtime process exited"))
        self.pending.clear()
        if not self.closing and self.apps and self.proc is proc:
            self.restarts += 1
            log.warning("the pods' runtime process exited (%s); starting its %d apps again", proc.returncode,
                        len(self.apps))
            asyncio.ensure_future(self._replay())

    async def _replay(self) -> None:
        async with self.lock:
            await self._ensure()
            for hid, msg in list(self.apps.items()):
                try:
                    await self._call(dict(msg, ports={p: b for p, b in msg["bound"].items()}))
                except OSError as exc:
                    log.warning("could not start %s again: %s", hid, exc)

    async def _call(self, msg: dict) -> dict:
        self.next_id += 1
        msg = dict(msg, id=self.next_id)
        msg.pop("bound", None)
        future = asyncio.get_running_loop().create_future()
        self.pending[msg["id"]] = future
        self.proc.stdin.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        reply = await future
        if "error" in reply:
            raise (RuntimeError_ if reply.get("kind") == "OSError" else ValueError)(reply["error"])
        return reply

    # --------------------------------------------------------------------------------------------- API
    async def run(self, hid: str, app: str, *, ip: str, ports: dict[int, int], name: str, namespace: str,
                  env: dict[str, str], log: Callable[[str], None],
                  log_block: Callable[[str], None] | None = None) -> dict[int, int]:
        """Serve `app` for one pod on `ip` at each container port (bound to the port it maps to); the bound ports.
        Its log lines go to `log` one by one, or to `log_block` as they come (text, each line ending in a newline)."""
        msg = {"op": "start", "hid": hid, "app": app, "ip": ip, "ports": {str(p): b for p, b in ports.items()},
               "pod": {"name": name, "namespace": namespace, "env": env}}
        async with self.lock:
            await self._ensure()
            self.logs[hid] = (log, log_block)
            try:
                reply = await self._call(msg)
            except BaseException:
                self.logs.pop(hid, None)
                raise
            self.apps[hid] = dict(msg, bound=reply["ports"])
        return {int(p): b for p, b in reply["ports"].items()}

    async def stop(self, hid: str) -> None:
        async with self.lock:
            if self.apps.pop(hid, None) is None:
                return
            if self.proc is not None and self.proc.returncode is None:
                try:
                    await self._call({"op": "stop", "hid": hid})
                except OSError:
                    pass
            self.logs.pop(hid, None)
            if not self.apps:
                await self._close()

    async def sync(self) -> None:
        """Until every line the apps logged so far has reached its `log` function (before `kubectl logs`)."""
        if self.proc is not None and self.proc.returncode is None and self.apps:
            try:
                await self._call({"op": "sync"})
            except OSError:
                pass

    async def _close(self) -> None:
        self.closing = True
        proc, self.proc = self.proc, None
        if proc is None:
            return
        await end_child(proc)
        if self.reader_task is not None:
            await self.reader_task

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None
