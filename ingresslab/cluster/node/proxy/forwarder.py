"""The lab's data plane: a real userspace TCP (and UDP) forwarder standing in for kube-proxy's DNAT rules.

The kube-proxy controller turns Services + EndpointSlices into `ForwardRule`s (one per ClusterIP:port, per
NodeIP:nodePort) and calls `Forwarder.apply()` after every change; `iptables.py` renders the rules a real node would
hold for the same objects. Each rule is a listener on a loopback address; every accepted connection goes to one
backend picked at random (what `-m statistic --mode random` achieves), with the outgoing socket bound to
`source_ip` when given (the lab's stand-in for masquerade: the pod sees the node's address, not the client's).

Differences from the kernel path, said to the learner: we terminate TCP and open a second connection (two 4-tuples,
both recorded in a `ConnectionRecord`), where DNAT rewrites one. A rule whose backends are empty has no listener, so
clients get "connection refused" — what kube-proxy's filter REJECT (icmp-port-unreachable) gives. Removing or
changing a rule does not cut established connections, like conntrack keeps DNATed TCP flows.

UDP rules (a Service port with `protocol: UDP`, e.g. kube-dns 53/UDP) get a datagram listener instead: the first
datagram from a client picks a backend and opens a flow to it (conntrack's UDP entry), later datagrams of that
client follow the same flow, replies go back from the Service address, and a flow idle for `UDP_FLOW_SECONDS`
is forgotten (conntrack's UDP timeout).

Pure asyncio Protocols: bytes go from one transport to the other in the callbacks, with flow control (a full
write buffer on one side pauses reading on the other) and TCP half-close passed through with `write_eof()`.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Callable

Addr = tuple[str, int]
UDP_FLOW_SECONDS = 30.0


@dataclass(frozen=True)
class ForwardRule:
    listen_ip: str
    listen_port: int
    backends: tuple[Addr, ...]
    label: str                      # e.g. "default/tea-svc:http cluster IP"
    source_ip: str | None = None    # bind the upstream socket here (port 0) when set
    protocol: str = "TCP"           # or "UDP"


@dataclass(frozen=True)
class ConnectionRecord:
    """One forwarded connection: client → frontend is the first 4-tuple, upstream_local → backend the second."""

    time: float
    label: str
    client: Addr
    frontend: Addr
    upstream_local: Addr
    backend: Addr

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


PRESERVE_CLIENT = "client"   # ForwardRule.source_ip: keep the client's address as the source


class BindError(OSError):
    """Some listeners could not be opened; every other change of the `apply()` call was made."""

    def __init__(self, failures: dict[Addr, OSError]):
        self.failures = failures
        super().__init__("cannot listen on " + ", ".join(f"{ip}:{port} ({err.strerror or err})"
                                                         for (ip, port), err in failures.items()))


def check_rules(rules: list[ForwardRule], protocol: str = "TCP") -> dict[Addr, ForwardRule]:
    """The rules of `protocol` that need a listener (those with backends), by (ip, port); ValueError if two rules
    of one protocol share an address."""
    wanted: dict[Addr, ForwardRule] = {}
    seen: dict[tuple[str, int, str], ForwardRule] = {}
    for rule in rules:
        key = (rule.listen_ip, rule.listen_port, rule.protocol)
        if key in seen:
            raise ValueError(f"two rules for {key[0]}:{key[1]}/{key[2]}: {seen[key].label!r} and {rule.label!r}")
        seen[key] = rule
        if rule.backends and rule.protocol == protocol:
            wanted[key[:2]] = rule
    return wanted


class _UdpFlow(asyncio.DatagramProtocol):
    """One client's UDP flow to the backend picked for it (a conntrack entry)."""

    def __init__(self, listener: "_UdpListener", client: Addr):
        self.listener, self.client = listener, client
        self.rule = listener.rule
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.backend = random.choice(self.rule.backends)
        self._timer: asyncio.TimerHandle | None = None
        loop = asyncio.get_running_loop()
        source = None
        if self.rule.source_ip == PRESERVE_CLIENT:
            source = (client[0], 0) if str(client[0]).startswith("127.") else None
        elif self.rule.source_ip:
            source = (self.rule.source_ip, 0)
        self.task = loop.create_task(loop.create_datagram_endpoint(lambda: self, local_addr=source,
                                                                   remote_addr=self.backend))
        self.task.add_done_callback(self._opened)
        self._touch()

    def _opened(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is not None:
            self.close()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        local = transport.get_extra_info("sockname")
        self.listener.fwd._record(ConnectionRecord(time.time(), self.rule.label, self.client,
                                                   (self.rule.listen_ip, self.rule.listen_port),
                                                   _addr(local), self.backend))
        for data in self.pending:
            transport.sendto(data)
        self.pending.clear()

    def send(self, data: bytes) -> None:
        self._touch()
        if self.transport is not None:
            self.transport.sendto(data)
        else:
            self.pending.append(data)

    def datagram_received(self, data: bytes, addr) -> None:
        self._touch()
        if self.listener.transport is not None:
            self.listener.transport.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        pass        # an ICMP error from the backend: the client's resolver times out and retries, as in a cluster

    def _touch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(UDP_FLOW_SECONDS, self.close)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.task.done():
            self.task.cancel()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.listener.flows.get(self.client) is self:
            del self.listener.flows[self.client]


class _UdpListener(asyncio.DatagramProtocol):
    def __init__(self, fwd: "Forwarder", rule: ForwardRule):
        self.fwd, self.rule = fwd, rule
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[Addr, _UdpFlow] = {}

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        client = _addr(addr)
        flow = self.flows.get(client)
        if flow is None:
            flow = self.flows[client] = _UdpFlow(self, client)
        flow.send(data)

    def close(self) -> None:
        for flow in list(self.flows.values()):
            flow.close()
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class _Listener:
    def __init__(self, rule: ForwardRule):
        self.rule = rule                      # replaced in place when backends change
        self.server: asyncio.AbstractServer | None = None


class _Pair:
    """One client connection and its upstream connection."""

    def __init__(self, fwd: "Forwarder", listener: _Listener):
        self.fwd = fwd
        self.listener = listener
        self.client: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.client_eof = False
        self.upstream_eof = False
        self.task: asyncio.Task | None = None
        self.open_sides = 0
        self.rule = listener.rule       # the rule as it was when this connection arrived
        self.pending: list[bytes] = []  # client bytes that arrived before the upstream connection was made

    def client_made(self, transport: asyncio.Transport) -> None:
        self.client = transport
        self.open_sides += 1
        self.fwd._pairs.add(self)
        transport.pause_reading()   # nothing to send the bytes to yet
        self.task = asyncio.get_running_loop().create_task(self._connect(self.rule))
        self.task.add_done_callback(lambda _: self._maybe_done())

    async def _connect(self, rule: ForwardRule) -> None:
        loop = asyncio.get_running_loop()
        first = random.choice(rule.backends)
        others = [b for b in rule.backends if b != first]
        for backend in [first] + ([random.choice(others)] if others else []):   # one retry on another backend
            try:
                await asyncio.wait_for(loop.create_connection(
                    lambda: _UpstreamProtocol(self), backend[0], backend[1],
                    local_addr=self._source(rule)), self.fwd.connect_timeout)
            except (OSError, asyncio.TimeoutError):
                continue
            return
        if self.client is not None:
            self.client.abort()     # no backend answered: the client sees a reset

    def _source(self, rule: ForwardRule) -> tuple[str, int] | None:
        """Where the upstream connection comes from: the rule's address (the node's, for NodePorts: masquerade),
        or with PRESERVE_CLIENT the client's own loopback address, so the pod sees who really called (as
        ClusterIP traffic inside a real cluster keeps the calling pod's IP)."""
        if rule.source_ip == PRESERVE_CLIENT:
            peer = self.client.get_extra_info("peername") if self.client is not None else None
            return (peer[0], 0) if peer and str(peer[0]).startswith("127.") else None
        return (rule.source_ip, 0) if rule.source_ip else None

    def upstream_made(self, transport: asyncio.Transport) -> None:
        self.upstream = transport
        self.open_sides += 1
        client = self.client
        if client is None or client.is_closing():
            transport.abort()
            return
        self.fwd._record(ConnectionRecord(
            time.time(), self.rule.label, _addr(client.get_extra_info("peername")),
            _addr(client.get_extra_info("sockname")), _addr(transport.get_extra_info("sockname")),
            _addr(transport.get_extra_info("peername"))))
        for chunk in self.pending:
            transport.write(chunk)
        self.pending.clear()
        client.resume_reading()

    def eof_from(self, side: str) -> None:
        if side == "client":
            self.client_eof, other = True, self.upstream
        else:
            self.upstream_eof, other = True, self.client
        if self.client_eof and self.upstream_eof:
            for t in (self.client, self.upstream):
                if t is not None:
                    t.close()       # both directions done: flush what is buffered, then FIN/close
        elif other is not None and not other.is_closing() and other.can_write_eof():
            other.write_eof()       # pass the half-close on, keep the other direction flowing

    def lost(self, side: str, exc: Exception | None) -> None:
        self.open_sides -= 1
        other = self.upstream if side == "client" else self.client
        if side == "client" and self.upstream is None and self.task is not None:
            self.task.cancel()
        if other is not None and not other.is_closing():
            other.close() if exc is None else other.abort()
        self._maybe_done()

    def _maybe_done(self) -> None:
        """Forget the pair once both sockets are gone and no connect attempt can still make one."""
        if self.open_sides <= 0 and self.task is not None and self.task.done() and self in self.fwd._pairs:
            self.fwd._pairs.discard(self)
            if not self.fwd._pairs:
                self.fwd._idle.set()

    def abort(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for t in (self.client, self.upstream):
            if t is not None:
                t.abort()


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, pair: _Pair):
        self.pair = pair

    def connection_made(self, transport):  # type: ignore[override]
        self.pair.client_made(transport)

    def data_received(self, data: bytes) -> None:
        upstream = self.pair.upstream
        if upstream is None:
            # Some Python versions (3.11.2, Debian's) start reading even when connection_made paused the
            # transport: keep the bytes until the upstream connection exists.
            self.pair.pending.append(data)
            self.pair.client.pause_reading()
            return
        upstream.write(data)

    def eof_received(self) -> bool:
        self.pair.eof_from("client")
        return True     # keep our write side open: the answer may still be coming

    def pause_writing(self) -> None:
        if self.pair.upstream is not None:
            self.pair.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.pair.upstream is not None:
            self.pair.upstream.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pair.lost("client", exc)


class _UpstreamProtocol(asyncio.Protocol):
    def __init__(self, pair: _Pair):
        self.pair = pair

    def connection_made(self, transport):  # type: ignore[override]
        self.pair.upstream_made(transport)

    def data_received(self, data: bytes) -> None:
        self.pair.client.write(data)

    def eof_received(self) -> bool:
        self.pair.eof_from("upstream")
        return True

    def pause_writing(self) -> None:
        self.pair.client.pause_reading()

    def resume_writing(self) -> None:
        self.pair.client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pair.lost("upstream", exc)


def _addr(sockaddr) -> Addr:
    return (sockaddr[0], sockaddr[1])


class Forwarder:
    """Listeners and live connections on the current asyncio loop. Use from that loop only.

    `records` keeps the last `max_records` `ConnectionRecord`s; with `log_path` each is also appended to that file as
    one JSON line (flushed per line); `on_record` is called with each new record (e.g. to update a widget).
    """

    def __init__(self, log_path: str | None = None, *, max_records: int = 10_000, connect_timeout: float = 3.0,
                 on_record: Callable[[ConnectionRecord], None] | None = None):
        self.records: deque[ConnectionRecord] = deque(maxlen=max_records)
        self.connect_timeout = connect_timeout
        self.on_record = on_record
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        self._listeners: dict[Addr, _Listener] = {}
        self._udp: dict[Addr, _UdpListener] = {}
        self._pairs: set[_Pair] = set()
        self._idle = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def rules(self) -> dict[Addr, ForwardRule]:
        """The rules that currently have a listener, by (listen_ip, listen_port)."""
        return {key: lst.rule for key, lst in self._listeners.items()}

    @property
    def active_connections(self) -> int:
        return len(self._pairs)

    async def apply(self, rules: list[ForwardRule]) -> None:
        """Make the listeners match `rules`: open new ones, close vanished or backend-less ones, and switch the
        backends of kept ones for the next connections. Raises `BindError` after the rest is applied if some
        listener could not be opened; a duplicate (ip, port) raises ValueError before anything changes."""
        wanted = check_rules(rules)
        wanted_udp = check_rules(rules, "UDP")
        async with self._lock:
            if self._closed:
                raise RuntimeError("forwarder is closed")
            for key in [k for k in self._listeners if k not in wanted]:
                self._listeners.pop(key).server.close()   # stops accepting now; live connections carry on
            failures: dict[Addr, OSError] = {}
            loop = asyncio.get_running_loop()
            for key, rule in wanted.items():
                if key in self._listeners:
                    self._listeners[key].rule = rule
                    continue
                listener = _Listener(rule)
                try:
                    listener.server = await loop.create_server(
                        lambda lst=listener: _ClientProtocol(_Pair(self, lst)), key[0], key[1],
                        reuse_address=True, backlog=512)
                except OSError as err:
                    failures[key] = err
                    continue
                self._listeners[key] = listener
            for key in [k for k in self._udp if k not in wanted_udp]:
                self._udp.pop(key).close()
            for key, rule in wanted_udp.items():
                if key in self._udp:
                    self._udp[key].rule = rule       # new flows pick from the new backends
                    continue
                udp = _UdpListener(self, rule)
                try:
                    await loop.create_datagram_endpoint(lambda u=udp: u, local_addr=key, reuse_port=False)
                except OSError as err:
                    failures[key] = err
                    continue
                self._udp[key] = udp
            if failures:
                raise BindError(failures)

    def _record(self, record: ConnectionRecord) -> None:
        self.records.append(record)
        if self._log is not None:
            self._log.write(record.to_json() + "\n")
            self._log.flush()
        if self.on_record is not None:
            self.on_record(record)

    async def close(self) -> None:
        """Close every listener and connection, wait until their sockets are gone, close the log."""
        async with self._lock:
            self._closed = True
            servers = [lst.server for lst in self._listeners.values()]
            self._listeners.clear()
            for udp in self._udp.values():
                udp.close()
            self._udp.clear()
            for server in servers:
                server.close()
            tasks = [p.task for p in self._pairs if p.task is not None]
            for pair in list(self._pairs):
                pair.abort()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._pairs:
                self._idle.clear()
                try:
                    await asyncio.wait_for(self._idle.wait(), 5)
                except asyncio.TimeoutError:
                    pass
            for server in servers:
                await server.wait_closed()
            if self._log is not None:
                self._log.close()
                self._log = None
