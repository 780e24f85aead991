"""forwarder.py over real loopback sockets: bytes, spread, live updates, refusal, half-close, records, cleanup."""
from __future__ import annotations

import asyncio
import json
import os
import random

import pytest

from ingresslab.cluster.node.proxy.forwarder import BindError, ConnectionRecord, Forwarder, ForwardRule

PORT = 18080


def fresh_ip() -> str:
    """A loopback address no other test (or lab) uses, so fixed listen ports never collide."""
    return f"127.201.{random.randint(1, 254)}.{random.randint(1, 254)}"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


async def until(check, what: str, timeout: float = 30.0) -> None:
    """The asyncio form of `polling.eventually`: poll `check()` (the loop runs meanwhile) until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"{what} not true within {timeout} s"
        await asyncio.sleep(0.01)


class Backend:
    """A tiny asyncio echo server that remembers (peer, local) of every connection it accepted."""

    def __init__(self, handler=None):
        self.seen: list[tuple[tuple, tuple]] = []
        self.handler = handler or self.echo
        self.server: asyncio.AbstractServer | None = None

    async def start(self, ip: str) -> "Backend":
        self.server = await asyncio.start_server(self._handle, ip, 0)
        return self

    @property
    def addr(self) -> tuple[str, int]:
        return self.server.sockets[0].getsockname()[:2]

    async def _handle(self, reader, writer):
        self.seen.append((writer.get_extra_info("peername")[:2], writer.get_extra_info("sockname")[:2]))
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    @staticmethod
    async def echo(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()


async def request(ip, port, payload: bytes) -> bytes:
    """Connect, send, half-close, read until the server closes."""
    reader, writer = await asyncio.open_connection(ip, port)
    try:
        writer.write(payload)
        writer.write_eof()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_bytes_round_trip_and_large_payload_with_flow_control():
    async def main():
        ip = fresh_ip()
        backend = await Backend().start(fresh_ip())
        fwd = Forwarder()
        await fwd.apply([ForwardRule(ip, PORT, (backend.addr,), "default/echo:http cluster IP")])
        assert await request(ip, PORT, b"hello\n") == b"hello\n"
        big = os.urandom(8 * 1024 * 1024)
        assert await request(ip, PORT, big) == big
        await fwd.close()
        await backend.stop()
    run(main())


def test_random_spread_over_three_backends():
    async def main():
        ip, backend_ip = fresh_ip(), fresh_ip()
        backends = [await Backend().start(backend_ip) for _ in range(3)]
        fwd = Forwarder()
        await fwd.apply([ForwardRule(ip, PORT, tuple(b.addr for b in backends), "spread")])
        for i in range(60):
            assert await request(ip, PORT, b"%d" % i) == b"%d" % i
        counts = [len(b.seen) for b in backends]
        assert sum(counts) == 60 and all(c > 0 for c in counts), counts
        assert sorted({r.backend for r in fwd.records}) == sorted(b.addr for b in backends)
        await fwd.close()
        for b in backends:
            await b.stop()
    run(main())


def test_live_backend_update_removal_refuses_and_established_connections_survive():
    async def main():
        ip, backend_ip = fresh_ip(), fresh_ip()
        a, b = await Backend().start(backend_ip), await Backend().start(backend_ip)
        fwd = Forwarder()
        await fwd.apply([ForwardRule(ip, PORT, (a.addr,), "v1")])
        assert await request(ip, PORT, b"x") == b"x" and len(a.seen) == 1
        # keep one connection open across the changes
        reader, writer = await asyncio.open_connection(ip, PORT)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        await fwd.apply([ForwardRule(ip, PORT, (b.addr,), "v2")])          # same listener, new backends
        assert await request(ip, PORT, b"y") == b"y" and len(b.seen) == 1
        assert fwd.rules[(ip, PORT)].label == "v2"
        await fwd.apply([ForwardRule(ip, PORT, (), "v3")])                 # no ready endpoint → no listener
        assert fwd.rules == {}
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(ip, PORT)
        writer.write(b"pong")                                              # the old flow still works
        assert await reader.readexactly(4) == b"pong"
        writer.close()
        await writer.wait_closed()
        await fwd.apply([ForwardRule(ip, PORT, (a.addr,), "v4")])          # back again on the same address
        assert await request(ip, PORT, b"z") == b"z"
        await fwd.apply([])
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(ip, PORT)
        await fwd.close()
        await a.stop()
        await b.stop()
    run(main())


def test_half_close_both_directions():
    got_from_client = []

    async def reply_after_eof(reader, writer):          # client closes its side first, answer still arrives
        data = await reader.read()
        writer.write(b"got:" + data)
        await writer.drain()

    async def banner_first(reader, writer):              # server closes its side first, client can still talk
        writer.write(b"banner")
        writer.write_eof()
        got_from_client.append(await reader.read())

    async def main():
        ip1, ip2, backend_ip = fresh_ip(), fresh_ip(), fresh_ip()
        b1 = await Backend(reply_after_eof).start(backend_ip)
        b2 = await Backend(banner_first).start(backend_ip)
        fwd = Forwarder()
        await fwd.apply([ForwardRule(ip1, PORT, (b1.addr,), "one"), ForwardRule(ip2, PORT, (b2.addr,), "two")])
        assert await request(ip1, PORT, b"question") == b"got:question"

        reader, writer = await asyncio.open_connection(ip2, PORT)
        assert await reader.read() == b"banner"          # EOF from the server came through
        writer.write(b"late words")
        writer.write_eof()
        await until(lambda: got_from_client, "the client's late words reached the backend")
        assert got_from_client == [b"late words"]
        writer.close()
        await writer.wait_closed()
        await fwd.close()
        await b1.stop()
        await b2.stop()
    run(main())


def test_refused_backend_is_retried_once_on_another():
    async def main():
        ip, backend_ip = fresh_ip(), fresh_ip()
        alive = await Backend().start(backend_ip)
        dead = (fresh_ip(), 1)                             # nothing listens there: connection refused
        fwd = Forwarder()
        await fwd.apply([ForwardRule(ip, PORT, (dead, alive.addr), "retry")])
        for _ in range(20):
            assert await request(ip, PORT, b"ok") == b"ok"
        assert {r.backend for r in fwd.records} == {alive.addr}

        await fwd.apply([ForwardRule(ip, PORT, (dead,), "all dead")])
        reader, writer = await asyncio.open_connection(ip, PORT)
        try:
            assert await reader.read() == b""
        except ConnectionResetError:
            pass
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
        assert len(fwd.records) == 20
        await fwd.close()
        await alive.stop()
    run(main())


def test_records_match_both_four_tuples_and_log_file(tmp_path):
    log = tmp_path / "connections.jsonl"
    seen_callback = []

    async def main():
        ip, backend_ip, source_ip = fresh_ip(), fresh_ip(), fresh_ip()
        backend = await Backend().start(backend_ip)
        fwd = Forwarder(str(log), on_record=seen_callback.append)
        await fwd.apply([ForwardRule(ip, PORT, (backend.addr,), "default/tea-svc:http cluster IP", source_ip)])
        client_views = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection(ip, PORT)
            client_views.append((writer.get_extra_info("sockname")[:2], writer.get_extra_info("peername")[:2]))
            writer.write(b"hi")
            writer.write_eof()
            assert await reader.read() == b"hi"
            writer.close()
            await writer.wait_closed()
        records = list(fwd.records)
        assert len(records) == 3
        for rec, (client_local, client_peer), (server_peer, server_local) in zip(records, client_views, backend.seen):
            assert isinstance(rec, ConnectionRecord) and rec.label == "default/tea-svc:http cluster IP"
            assert rec.client == client_local and rec.frontend == client_peer == (ip, PORT)
            assert rec.upstream_local == server_peer and rec.upstream_local[0] == source_ip
            assert rec.backend == server_local == backend.addr
            assert rec.time > 0
        await fwd.close()
        await backend.stop()
        return records

    records = run(main())
    lines = log.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"time": r.time, "label": r.label, "client": list(r.client), "frontend": list(r.frontend),
         "upstream_local": list(r.upstream_local), "backend": list(r.backend)} for r in records]
    assert seen_callback == records


def test_record_ring_keeps_the_last_n():
    async def main():
        ip = fresh_ip()
        backend = await Backend().start(fresh_ip())
        fwd = Forwarder(max_records=5)
        await fwd.apply([ForwardRule(ip, PORT, (backend.addr,), "ring")])
        for _ in range(8):
            await request(ip, PORT, b".")
        assert len(fwd.records) == 5
        assert [r.upstream_local for r in fwd.records] == [peer for peer, _ in backend.seen[-5:]]
        await fwd.close()
        await backend.stop()
    run(main())


def test_close_leaves_no_listener_socket_or_task():
    async def main():
        before = fd_count()
        ip1, ip2 = fresh_ip(), fresh_ip()
        backend = await Backend().start(fresh_ip())
        fwd = Forwarder()
        await fwd.apply([ForwardRule(ip1, PORT, (backend.addr,), "a"), ForwardRule(ip2, PORT, (backend.addr,), "b")])
        assert await request(ip1, PORT, b"1") == b"1"
        held = [await asyncio.open_connection(ip2, PORT) for _ in range(3)]   # still open when we close
        for reader, writer in held:
            writer.write(b"x")
            assert await reader.readexactly(1) == b"x"
        assert fwd.active_connections == 3
        await fwd.close()
        assert fwd.active_connections == 0 and fwd.rules == {}
        for ip in (ip1, ip2):
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(ip, PORT)
        for reader, writer in held:
            try:
                assert await reader.read() == b""
            except ConnectionResetError:
                pass
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
        await backend.stop()
        await until(lambda: fd_count() == before, f"file descriptors back to {before}")
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        assert {t.get_coro().__name__ for t in others} <= {"wait_for"}     # only run()'s timeout wrapper
        with pytest.raises(RuntimeError):
            await fwd.apply([])
    run(main())


def test_duplicate_rules_and_bind_errors():
    async def main():
        ip = fresh_ip()
        backend = await Backend().start(fresh_ip())
        fwd = Forwarder()
        rule = ForwardRule(ip, PORT, (backend.addr,), "one")
        with pytest.raises(ValueError):
            await fwd.apply([rule, ForwardRule(ip, PORT, (backend.addr,), "two")])
        assert fwd.rules == {}
        with pytest.raises(BindError) as err:
            await fwd.apply([rule, ForwardRule("192.0.2.1", PORT, (backend.addr,), "not local")])
        assert list(err.value.failures) == [("192.0.2.1", PORT)]
        assert await request(ip, PORT, b"still applied") == b"still applied"
        await fwd.close()
        await backend.stop()
    run(main())


def test_cluster_ip_rules_keep_the_callers_address_as_the_source():
    """ClusterIP traffic keeps the calling pod's IP in a real cluster (no masquerade); on loopback the forwarder
    can do the same by binding its upstream socket to the client's own address."""
    import socket

    from ingresslab.cluster.node.proxy.forwarder import PRESERVE_CLIENT

    async def main():
        seen = []

        async def backend(reader, writer):
            seen.append(writer.get_extra_info("peername")[0])
            writer.close()

        server = await asyncio.start_server(backend, "127.0.77.10", 0)
        bport = server.sockets[0].getsockname()[1]
        fwd = Forwarder()
        await fwd.apply([ForwardRule("127.0.77.20", 18777, (("127.0.77.10", bport),), "ns/svc:p", PRESERVE_CLIENT)])
        caller = socket.socket()
        caller.bind(("127.0.77.30", 0))
        caller.setblocking(False)
        await asyncio.get_running_loop().sock_connect(caller, ("127.0.77.20", 18777))
        await until(lambda: seen, "the backend saw the forwarded connection")
        caller.close()
        await fwd.close()
        server.close()
        await server.wait_closed()
        return seen

    assert asyncio.run(main()) == ["127.0.77.30"]
