"""The pods' own process: the lab's container runtime, which runs every pod's servers off the API server's loop.

A real node's pods are not threads of kube-apiserver; here they were coroutines on its one event loop, so a pod
under load slowed the API for everyone and every measured path was bound by the loop. This process serves them
instead: the kubelet (`cri.py`) starts it, asks it to run a pod's app on the pod's address and ports, and to stop it.
It answers on stdout and sends the pods' log lines back in batches: one header and one block of text per pod and
batch, so a line costs the kubelet no JSON and no write of its own (a line costs this process a list append).

Protocol: one JSON object per line, both ways.

    → {"op": "start", "id": 7, "hid": "h3", "app": "hello", "ip": "127.244.0.5", "ports": {"8080": 8080},
       "pod": {"name": …, "namespace": …, "env": {…}}}
    ← {"id": 7, "ports": {"8080": 8080}}            or  {"id": 7, "error": "…", "kind": "OSError"}
    → {"op": "stop", "id": 8, "hid": "h3"}           ← {"id": 8}
    ← {"log": "h3", "bytes": 912}                   whenever lines were logged, at most every LOG_BATCH_SECONDS,
      <912 bytes: the lines, UTF-8, each ending "\n">  followed by exactly that many bytes of text
    → {"op": "sync", "id": 9}                        ← (the lines logged so far) {"id": 9}

It exits when its stdin closes (the kubelet stopped it, or the lab died: it also gets SIGTERM then, see
`children.die_with_parent`). Why one process for all pods and not one per pod: benchmarks/README.md ("Pods").
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

from ingresslab.cluster.node.children import run_loop
from ingresslab.cluster.node.workloads import FACTORIES, PodInfo

LOG_BATCH_SECONDS = 0.01    # `kubectl logs` asks for a sync first; `-f` sees lines this much later at most


class Runtime:
    def __init__(self, out: asyncio.BaseTransport):
        self.out = out
        self.apps: dict[str, list] = {}
        self.batch: list[tuple[str, list[str]]] = []     # (hid, its unsent lines) for each app that logged
        self.flush_scheduled = False

    def send(self, message: dict) -> None:
        self.out.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def log_for(self, hid: str):
        lines: list[str] = []

        def log(line: str) -> None:
            if not lines:
                self.batch.append((hid, lines))
                if not self.flush_scheduled:
                    self.flush_scheduled = True
                    asyncio.get_running_loop().call_later(LOG_BATCH_SECONDS, self.flush)
            lines.append(line)
        return log

    def flush(self) -> None:
        self.flush_scheduled = False
        for hid, lines in self.batch:
            text = ("\n".join(lines) + "\n").encode("utf-8", "replace")
            lines.clear()
            self.out.write(b'{"log":%s,"bytes":%d}\n%s' % (json.dumps(hid).encode(), len(text), text))
        self.batch.clear()

    async def start(self, msg: dict) -> dict:
        factory = FACTORIES[msg["app"]]
        pod = PodInfo(msg["pod"]["name"], msg["pod"]["namespace"], msg["ip"], dict(msg["pod"].get("env") or {}),
                      self.log_for(msg["hid"]))
        listeners, bound = [], {}
        try:
            for port, bind in msg["ports"].items():
                sock = _bind(msg["ip"], int(bind))
                bound[port] = sock.getsockname()[1]
                try:
                    listeners.append(await factory(pod, int(port), sock))
                except BaseException:
                    sock.close()
                    raise
        except BaseException:
            await asyncio.gather(*(listener.close() for listener in listeners), return_exceptions=True)
            raise
        self.apps[msg["hid"]] = listeners
        return {"ports": bound}

    async def stop(self, msg: dict) -> dict:
        listeners = self.apps.pop(msg["hid"], [])
        await asyncio.gather(*(listener.close() for listener in listeners), return_exceptions=True)
        self.flush()
        return {}

    async def handle(self, msg: dict) -> None:
        try:
            op = msg["op"]
            if op == "sync":
                self.flush()
                reply = {}
            else:
                reply = await (self.start(msg) if op == "start" else self.stop(msg))
        except (OSError, ValueError, LookupError) as exc:
            reply = {"error": str(exc), "kind": "OSError" if isinstance(exc, OSError) else "ValueError"}
        self.send({"id": msg["id"], **reply})


def _bind(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind((ip, port))
        sock.listen(511)
    except BaseException:
        sock.close()
        raise
    return sock


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(1, "wb", buffering=0))
    runtime = Runtime(out)
    tasks: set[asyncio.Task] = set()
    while line := await reader.readline():
        task = asyncio.ensure_future(runtime.handle(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for listeners in list(runtime.apps.values()):
        for listener in listeners:
            await listener.close()
    runtime.flush()


if __name__ == "__main__":
    sys.stdout = sys.stderr      # nothing but protocol messages on fd 1
    run_loop(main())
