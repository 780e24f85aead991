"""kube-proxy's data plane in its own process, as on a real node, where kube-proxy is a daemon of its own.

The lab process decides the rules (`kubeproxy.KubeProxy`, from Services and EndpointSlices); this module carries
the traffic. `ForwarderProcess` (lab side) starts `python -m ingresslab.cluster.node.proxy.dataplane` and gives it the whole
rule table after each change; the child runs a `forwarder.Forwarder` on its own event loop and appends every
connection record to the kube-proxy log itself.

Why a process and not the lab's event loop: the lab's loop also serves every in-process pod. Under load that loop
is the busiest thing on the machine, and each forwarded request cost it about 35 µs of CPU; with 16 connections in
flight the NodePort hop then added 16 × 35 µs ≈ 0.55 ms to the median (benchmarks/hop_cost.py). In its own process
the hop uses the other core, and adds next to nothing to the median.

The pipe speaks JSON lines. Lab → child: `{"id": n, "rules": [[listen_ip, listen_port, [[ip, port], …], label,
source_ip], …]}`. Child → lab: `{"id": n, "failures": [[ip, port, errno, message], …]}` (empty when every
listener is open) or `{"id": n, "error": "…"}`. The child exits when its stdin closes (the lab stopped or died)
and, through PR_SET_PDEATHSIG, when the lab is killed. If the child dies on its own, the lab starts it again and
gives it the last table: a crashed kube-proxy comes back, as its DaemonSet pod would. One difference remains: on a
real node the kernel keeps forwarding by the rules kube-proxy left while kube-proxy restarts; here connections are
refused until the child is back (about 0.1 s, measured by tests/proof/test_faults.py).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys

from ingresslab.cluster.node.proxy.forwarder import BindError, ForwardRule, Forwarder, check_rules

log = logging.getLogger("ingresslab.kubeproxy")

MODULE = "ingresslab.cluster.node.proxy.dataplane"
REPLY_TIMEOUT = 15.0
LINE_LIMIT = 64 * 1024 * 1024   # one JSON line holds a whole rule table (or every bind failure of one)


def _encode(rule: ForwardRule) -> list:
    return [rule.listen_ip, rule.listen_port, [list(b) for b in rule.backends], rule.label, rule.source_ip,
            rule.protocol]


def _decode(item: list) -> ForwardRule:
    ip, port, backends, label, source, *protocol = item
    return ForwardRule(str(ip), int(port), tuple((str(b[0]), int(b[1])) for b in backends), str(label),
                       None if source is None else str(source), str(protocol[0]) if protocol else "TCP")


class DataPlaneError(RuntimeError):
    """The data-plane process did not answer (it died, or stopped reading)."""


class ForwarderProcess:
    """`Forwarder`'s `apply()` / `rules` / `close()`, carried out by a child process (see the module docstring)."""

    RESTART_DELAYS = (0.0, 0.2, 0.5, 1.0, 2.0)   # the first restart at once; a crash loop backs off

    def __init__(self, log_path: str | None = None):
        self.log_path = log_path
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._rules: dict[tuple[str, int], ForwardRule] = {}
        self._table: list[ForwardRule] = []      # the last table asked for, given again to a restarted child
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._closed = False
        self._watch: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def rules(self) -> dict[tuple[str, int], ForwardRule]:
        """The rules that currently have a listener, by (listen_ip, listen_port)."""
        return dict(self._rules)

    async def apply(self, rules: list[ForwardRule]) -> None:
        """As `Forwarder.apply`: ValueError on a duplicate before anything changes, BindError after the rest."""
        check_rules(rules)
        async with self._lock:
            if self._closed:
                raise RuntimeError("forwarder is closed")
            self._table = list(rules)
            await self._apply_locked()

    async def _apply_locked(self) -> None:
        if self._proc is None or self._proc.returncode is not None:
            await self._spawn()
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        self._next_id += 1
        message = {"id": self._next_id, "rules": [_encode(r) for r in self._table]}
        try:
            self._proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            await self._proc.stdin.drain()
            line = await asyncio.wait_for(self._proc.stdout.readline(), REPLY_TIMEOUT)
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            raise DataPlaneError(f"kube-proxy's data plane (pid {self._proc.pid}) did not answer: {exc!r}") from exc
        if not line:
            raise DataPlaneError(f"kube-proxy's data plane (pid {self._proc.pid}) exited")
        reply = json.loads(line)
        if "error" in reply:
            raise DataPlaneError(f"kube-proxy's data plane refused the rules: {reply['error']}")
        failed = {(ip, int(port)): OSError(errno, message) for ip, port, errno, message in reply["failures"]}
        self._rules = {(r.listen_ip, r.listen_port): r for r in self._table      # TCP listeners, as `rules` says
                       if r.backends and r.protocol == "TCP" and (r.listen_ip, r.listen_port) not in failed}
        if failed:
            raise BindError(failed)

    async def _spawn(self) -> None:
        from ingresslab.cluster.node.children import die_with_parent, python_module
        argv = python_module(MODULE) + (["--log", self.log_path] if self.log_path else [])
        self._proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()), limit=LINE_LIMIT)
        self._rules = {}
        if self._watch is None or self._watch.done():
            self._watch = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        """Start the child again, with the last table, whenever it exits while we still want it."""
        failures = 0
        while not self._closed:
            proc = self._proc
            if proc is None:
                return
            code = await proc.wait()
            if self._closed:
                return
            delay = self.RESTART_DELAYS[min(failures, len(self.RESTART_DELAYS) - 1)]
            log.warning("kube-proxy's data plane (pid %d) exited with code %s; starting it again in %.2fs",
                        proc.pid, code, delay)
            await asyncio.sleep(delay)
            async with self._lock:
                if self._closed or self._proc is not proc:
                    continue
                self.restarts += 1
                try:
                    await self._apply_locked()     # starts a new child first
                    failures = 0
                except BindError as exc:
                    log.warning("kube-proxy's data plane restarted: %s", exc)
                    failures = 0
                except (DataPlaneError, OSError) as exc:
                    log.warning("kube-proxy's data plane did not come back: %s", exc)
                    failures += 1

    async def close(self) -> None:
        """Close the child's stdin, so it closes every listener and connection and exits; kill it after 5 s."""
        async with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
            self._rules = {}
        if self._watch is not None:
            self._watch.cancel()
        if proc is None or proc.returncode is not None:
            return
        from ingresslab.cluster.node.children import end_child
        await end_child(proc)


async def _serve(log_path: str | None) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    forwarder = Forwarder(log_path=log_path)
    try:
        while True:
            line = await reader.readline()
            if not line:
                return          # the lab closed the pipe, or died
            message = json.loads(line)
            reply: dict = {"id": message.get("id")}
            try:
                await forwarder.apply([_decode(item) for item in message["rules"]])
                reply["failures"] = []
            except BindError as exc:
                reply["failures"] = [[ip, port, err.errno, err.strerror or str(err)]
                                     for (ip, port), err in exc.failures.items()]
            except (ValueError, KeyError, TypeError) as exc:
                reply["error"] = str(exc)
            out.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            out.flush()
    finally:
        await forwarder.close()


def _name_process(name: bytes) -> None:
    """The name `ps -e`, `top` and /proc/PID/comm show (at most 15 bytes); the command line stays as it is."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(15, ctypes.c_char_p(name), 0, 0, 0)   # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def _raise_open_files_limit() -> None:
    """Each listener and each forwarded connection (two sockets) holds a file descriptor: take the soft limit up to
    the hard one, as Go programs such as kube-proxy do at start (an ordinary user's soft limit is often 1,024)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))
        except (ValueError, OSError):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--log", help="append one JSON line per forwarded connection to this file")
    args = parser.parse_args(argv)
    _name_process(b"kube-proxy")
    _raise_open_files_limit()
    logging.basicConfig(level=logging.WARNING, format="kube-proxy data plane: %(message)s")
    try:
        from ingresslab.cluster.node.children import run_loop
        run_loop(_serve(args.log))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
