"""The pods' own process and its HTTP: what curl, nginx, wrk and browsers send, over raw loopback sockets.

Each test starts real apps through `images.start_app`, which runs them in the pods' process (`containerd.py`), and
talks to them with plain sockets so every byte on the wire is the test's own.
"""
from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import struct

from ingresslab.cluster.node import cri
from ingresslab.cluster.node.images import start_app
from cluster_harness import run_async
from test_images import fresh_ip

GET = b"GET /%s HTTP/1.1\r\nHost: cafe.example.com\r\n\r\n"


async def hello(image: str = "nginxdemos/nginx-hello:plain-text", port: int = 8080):
    logs: list[str] = []
    app = await start_app(image, pod_ip=fresh_ip(), ports=[port], bind_ports={port: 0}, pod_name="hello-pod",
                          namespace="default", env={}, log=logs.append)
    return app, logs


def exchange(app, data: bytes, *, until: bytes | None = None, count: int = 1, timeout: float = 5) -> bytes:
    """Send `data` on one connection; read until `count` occurrences of `until` (or the peer closes)."""
    port = next(iter(app.ports.values()))
    with socket.create_connection((app.pod_ip, port), timeout=timeout) as sock:
        sock.sendall(data)
        got = b""
        while until is None or got.count(until) < count:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


async def call(fn, *args, **kwargs):
    return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kwargs))


@run_async
async def test_pipelined_requests_are_answered_in_order_on_one_connection():
    app, logs = await hello()
    try:
        got = await call(exchange, app, b"".join(GET % f"n{i}".encode() for i in range(50)),
                         until=b"Request ID:", count=50)
        uris = [line for line in got.decode().splitlines() if line.startswith("URI:")]
        assert uris == [f"URI: /n{i}" for i in range(50)]
        assert got.count(b"HTTP/1.1 200 OK\r\n") == 50 and b"Connection: close" not in got
        await cri.runtime().sync()
        assert [line.split('"')[1] for line in logs] == [f"GET /n{i} HTTP/1.1" for i in range(50)]
    finally:
        await app.close()


@run_async
async def test_http_1_0_closes_unless_asked_to_keep_alive_and_head_has_no_body():
    app, _ = await hello()
    try:
        got = await call(exchange, app, b"GET / HTTP/1.0\r\n\r\n")       # read until the server closes
        assert got.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close\r\n" in got
        got = await call(exchange, app, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2,
                         until=b"Request ID:", count=2)
        assert got.count(b"Connection: keep-alive\r\n") == 2
        got = await call(exchange, app, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = got.partition(b"\r\n\r\n")
        assert b"Content-Length: " in head and b"Content-Length: 0" not in head and body == b""
    finally:
        await app.close()


@run_async
async def test_bodies_by_length_and_chunked_are_consumed_and_100_continue_is_sent():
    app, _ = await hello()
    try:
        chunked = (b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        sized = b"PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        got = await call(exchange, app, chunked + sized + GET % b"c", until=b"Request ID:", count=3)
        assert [line for line in got.decode().splitlines() if line.startswith("URI:")] == ["URI: /a", "URI: /b",
                                                                                         "URI: /c"]
        port = next(iter(app.ports.values()))

        def expect_continue() -> tuple[bytes, bytes]:
            with socket.create_connection((app.pod_ip, port), timeout=5) as sock:
                sock.sendall(b"POST /d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
                first = sock.recv(1024)
                sock.sendall(b"data")
                rest = b""
                while b"Request ID:" not in rest:
                    rest += sock.recv(65536)
                return first, rest
        first, rest = await call(expect_continue)
        assert first == b"HTTP/1.1 100 Continue\r\n\r\n" and b"URI: /d" in rest
    finally:
        await app.close()


@run_async
async def test_bad_requests_get_one_answer_and_a_closed_connection_as_nginx_gives():
    app, _ = await hello()
    try:
        for data, status in [(b"NONSENSE\r\n\r\n", b"400"), (b"GET / HTTP/2.0\r\n\r\n", b"400"),
                             (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
                             (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
                             (b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", b"413"),
                             (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400")]:
            got = await call(exchange, app, data)        # until the server closes
            assert got.startswith(b"HTTP/1.1 " + status) and b"Connection: close" in got, (data[:30], got[:80])
        assert b"200 OK" in await call(exchange, app, GET % b"still-fine", until=b"Request ID:")
    finally:
        await app.close()


def _ws_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | len(payload)) + mask + masked


@run_async
async def test_websocket_fragments_ping_and_close_follow_rfc_6455():
    logs: list[str] = []
    app = await start_app("ingresslab/echo", pod_ip=fresh_ip(), ports=[8080], bind_ports={8080: 0},
                          pod_name="echo-pod", namespace="default", env={}, log=logs.append)
    try:
        key = base64.b64encode(os.urandom(16))
        upgrade = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n")
        frames = (_ws_frame(1, b"hel", fin=False) + _ws_frame(0, b"lo") + _ws_frame(9, b"are you there")
                  + _ws_frame(8, struct.pack("!H", 1000)))
        got = await call(exchange, app, upgrade + frames)
        head, _, rest = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols")
        assert rest[2:] .startswith(b"echo-pod: hello")             # one text frame, unmasked, as servers send
        assert rest[0] == 0x81 and rest[1] == len(b"echo-pod: hello")
        after = rest[2 + rest[1]:]
        assert after[0] == 0x8A and after[2:2 + after[1]] == b"are you there"     # the pong
        closing = after[2 + after[1]:]
        assert closing[0] == 0x88
        await cri.runtime().sync()
        assert any('"GET /ws HTTP/1.1" 101' in line for line in logs)
    finally:
        await app.close()


@run_async
async def test_a_killed_pods_process_is_started_again_with_every_pod_on_its_address():
    first, _ = await hello()
    second, logs = await hello("ingresslab/echo")
    try:
        runtime = cri.runtime()
        pid, restarts = runtime.pid, runtime.restarts
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            if runtime.restarts > restarts and runtime.pid not in (None, pid):
                break
            await asyncio.sleep(0.02)
        for _ in range(200):      # the apps are started again in the new process, on the same ports
            try:
                a = await call(exchange, first, GET % b"again", until=b"Request ID:")
                b = await call(exchange, second, GET % b"again", until=b"request_id")
                break
            except OSError:
                await asyncio.sleep(0.02)
        assert b"URI: /again" in a and b'"path": "/again"' in b
        await runtime.sync()
        assert any("/again" in line for line in logs)
    finally:
        await first.close()
        await second.close()
    assert cri.runtime().pid is None          # no app left: the process is gone


@run_async
async def test_the_answer_head_keeps_its_order_and_its_date_moves_with_the_clock():
    """The head is cached for the second it was made in: the next second's answers carry the next Date."""
    app, logs = await hello()
    try:
        heads = []
        for _ in range(2):
            got = await call(exchange, app, GET % b"h", until=b"Request ID:")
            head, _, body = got.partition(b"\r\n\r\n")
            heads.append(head.decode().split("\r\n"))
            fields = dict(line.split(": ", 1) for line in heads[-1][1:])
            assert heads[-1][0] == "HTTP/1.1 200 OK"
            assert [line.split(":")[0] for line in heads[-1][1:]] == [
                "Server", "Date", "Content-Type", "Content-Length", "Cache-Control"]
            assert fields["Server"].startswith("nginx/") and fields["Content-Type"] == "text/plain"
            assert fields["Cache-Control"] == "no-cache"
            await asyncio.sleep(1.1)
        assert heads[0][2] != heads[1][2]        # Date
        await cri.runtime().sync()
        assert len(logs) == 2 and all('"-" "-" rid=' in line for line in logs)     # no Referer, no User-Agent
    finally:
        await app.close()


@run_async
async def test_thousands_of_log_lines_arrive_whole_and_in_order():
    """The pods' process sends its log lines as blocks of text; none may be lost, split or reordered."""
    app, logs = await hello()
    try:
        agent = 'curl/8 "quoted" \\ back\tslash \xe9'.encode("latin-1")
        request = b"GET /n%d HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent + b"\r\n\r\n"
        got = await call(exchange, app, b"".join(request % i for i in range(3000)), until=b"Request ID:", count=3000)
        assert got.count(b"200 OK") == 3000
        await cri.runtime().sync()
        assert [line.split('"')[1] for line in logs] == [f"GET /n{i} HTTP/1.1" for i in range(3000)]
        assert logs[0].split('"', 5)[5].startswith(r'curl/8 \x22quoted\x22 \x5C back\x09slash \xE9" rid=')
    finally:
        await app.close()


@run_async
async def test_idle_connections_are_closed_and_busy_ones_kept():
    """In this process, with a short idle time: a silent connection is closed, one that keeps talking is not."""
    from ingresslab.cluster.node import podhttp, workloads
    saved, podhttp.IDLE_SECONDS = podhttp.IDLE_SECONDS, 0.4
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    pod = workloads.PodInfo("idle-pod", "default", "127.0.0.1", {}, lambda line: None)
    site = await podhttp.serve_http(workloads.Hello(pod, 8080), sock)
    try:
        silent = await asyncio.open_connection(*sock.getsockname())
        busy = await asyncio.open_connection(*sock.getsockname())
        for _ in range(12):          # 1.2 s: at least two idle periods and a sweep or two
            busy[1].write(GET % b"busy")
            assert b"200 OK" in await busy[0].readuntil(b"Request ID: ")
            await busy[0].readline()
            await asyncio.sleep(0.1)
        assert await asyncio.wait_for(silent[0].read(), 1) == b""       # closed by the server
        busy[1].write(GET % b"still")
        assert b"200 OK" in await busy[0].readuntil(b"Request ID: ")
        for _, writer in (silent, busy):
            writer.close()
    finally:
        podhttp.IDLE_SECONDS = saved
        await site.close()
