"""The lab's images answer over real loopback sockets, log like nginx, and leave nothing behind when closed."""
from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import re
import socket
import ssl
import time

import pytest
from tornado.websocket import websocket_connect

from ingresslab.cluster.node.images import IMAGES, UnknownImage, normalize_image, start_app
from cluster_harness import run_async

POD = "coffee-7dbb5795f6-vglbv"
_addresses = itertools.count(10)
LOG_LINE = re.compile(
    r'(?P<client>[\d.]+) - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" rid=(?P<rid>[0-9a-f]{32}) peer=(?P<peer>[\d.]+:\d+)')


def fresh_ip() -> str:
    return f"127.244.{200 + next(_addresses) // 250}.{next(_addresses) % 250 + 1}"




async def start(image: str, *, ports: list[int] | None = None, env: dict | None = None, fixed_port: bool = False,
                pod_ip: str | None = None):
    logs: list[str] = []
    ports = ports if ports is not None else [IMAGES[normalize_image(image)].port]
    bind = None if fixed_port else {p: 0 for p in ports}
    app = await start_app(image, pod_ip=pod_ip or fresh_ip(), ports=ports, bind_ports=bind, pod_name=POD,
                          namespace="cafe", env=env or {}, log=logs.append)
    return app, logs


def _fetch(ip: str, port: int, path: str, headers: dict, method: str, tls: bool):
    if tls:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(ip, port, context=context, timeout=5)
    else:
        conn = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        conn.request(method, path, headers=headers)
        local = "%s:%d" % conn.sock.getsockname()
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read().decode(), local
    finally:
        conn.close()


async def fetch(app, path: str = "/", *, headers: dict | None = None, method: str = "GET", port: int | None = None,
                tls: bool = False):
    """A real HTTP request from a thread: (status, headers, body, the client's own ip:port)."""
    bound = app.ports[port] if port else next(iter(app.ports.values()))
    return await asyncio.to_thread(_fetch, app.pod_ip, bound, path, headers or {}, method, tls)


# ------------------------------------------------------------------------------------------------ hello

HELLO = [r"Server address: (?P<address>[\d.]+:\d+)", r"Server name: (?P<name>\S+)",
         r"Date: \d\d/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d\d:\d\d:\d\d \+0000",
         r"URI: (?P<uri>\S+)", r"Request ID: (?P<rid>[0-9a-f]{32})"]


@pytest.mark.parametrize("image, port", [("nginxdemos/nginx-hello:plain-text", 8080), ("nginxdemos/hello:plain-text", 80)])
@run_async
async def test_hello_answers_exactly_five_lines_naming_the_container_port(image, port):
    app, _ = await start(image)
    try:
        status, headers, body, _ = await fetch(app, "/coffee?size=large")
    finally:
        await app.close()
    assert status == 200 and headers["Content-Type"] == "text/plain"
    assert body.endswith("\n")
    lines = body[:-1].split("\n")
    assert len(lines) == 5
    found = {}
    for pattern, line in zip(HELLO, lines):
        match = re.fullmatch(pattern, line)
        assert match, (pattern, line)
        found.update(match.groupdict())
    assert app.ports[port] != port     # bound elsewhere, yet the answer names the container port, as the pod would
    assert found["address"] == f"{app.pod_ip}:{port}"
    assert found["name"] == POD and found["uri"] == "/coffee?size=large"


@run_async
async def test_hello_reuses_a_valid_request_id_and_makes_its_own_otherwise():
    app, logs = await start("nginxdemos/nginx-hello:plain-text")
    given = "0123456789abcdef0123456789abcdef"
    try:
        _, _, passed, _ = await fetch(app, headers={"X-Request-ID": given})
        _, _, bogus1, _ = await fetch(app, headers={"X-Request-ID": "not-an-id"})
        _, _, bogus2, _ = await fetch(app)
    finally:
        await app.close()
    assert passed.splitlines()[4] == f"Request ID: {given}"
    ids = {bogus1.splitlines()[4], bogus2.splitlines()[4]}
    assert len(ids) == 2 and all(re.fullmatch(HELLO[4], i) for i in ids)
    assert f"rid={given}" in logs[0]


@run_async
async def test_each_request_logs_one_combined_line_with_request_id_and_peer():
    app, logs = await start("nginxdemos/nginx-hello:plain-text")
    try:
        _, _, body, local = await fetch(app, "/tea?x=1", headers={"User-Agent": 'curl/8.1 "x"\t\xe9', "Referer": "r"})
        await fetch(app, "/tea", method="HEAD")
    finally:
        await app.close()
    assert len(logs) == 2
    first, head = (LOG_LINE.fullmatch(line) for line in logs)
    assert first and head, logs
    assert first["request"] == "GET /tea?x=1 HTTP/1.1" and first["status"] == "200"
    assert int(first["bytes"]) == len(body.encode())
    assert first["referer"] == "r" and first["agent"] == r"curl/8.1 \x22x\x22\x09\xE9"   # escaped like nginx
    assert first["peer"] == local and first["client"] == local.split(":")[0]
    assert first["rid"] == body.splitlines()[4].split()[-1]
    assert head["request"] == "HEAD /tea HTTP/1.1" and head["bytes"] == "0"


# ------------------------------------------------------------------------------------------------ echo

@run_async
async def test_echo_answers_the_request_as_the_pod_saw_it():
    app, logs = await start("ingresslab/echo")
    try:
        status, headers, body, local = await fetch(app, "/api/v1?a=1&b=2", method="POST",
                                                   headers={"Host": "cafe.example.com", "X-Forwarded-For": "1.2.3.4"})
    finally:
        await app.close()
    assert status == 200 and headers["Content-Type"] == "application/json"
    echo = json.loads(body)
    assert echo == {**echo, "pod": POD, "namespace": "cafe", "pod_ip": app.pod_ip, "host": "cafe.example.com",
                    "path": "/api/v1", "query": "a=1&b=2", "method": "POST", "protocol": "HTTP/1.1",
                    "scheme": "http", "client": local}
    assert echo["headers"]["X-Forwarded-For"] == "1.2.3.4"
    assert re.fullmatch(r"[0-9a-f]{32}", echo["request_id"]) and f"rid={echo['request_id']}" in logs[0]


@run_async
async def test_echo_websocket_prefixes_each_message_with_the_pod_name_and_drops_when_the_pod_goes():
    app, logs = await start("ingresslab/echo")
    client = await websocket_connect(f"ws://{app.pod_ip}:{app.ports[8080]}/ws")
    try:
        await client.write_message("hello")
        assert await client.read_message() == f"{POD}: hello"
        await client.write_message("again")
        assert await client.read_message() == f"{POD}: again"
        await app.close()
        # The client never leaves: only the app ending the connection (as a killed container does) returns None.
        assert await asyncio.wait_for(client.read_message(), 30) is None
    finally:
        client.close()
        await app.close()
    assert LOG_LINE.fullmatch(logs[0])["status"] == "101"


@run_async
async def test_https_echo_speaks_tls_with_a_self_signed_certificate():
    app, _ = await start("ingresslab/https-echo")
    try:
        status, _, body, local = await fetch(app, "/secure", tls=True)
        with pytest.raises(ssl.SSLCertVerificationError):     # self-signed: only verify-off clients get through
            await asyncio.to_thread(http.client.HTTPSConnection(app.pod_ip, app.ports[8443], timeout=5).connect)
    finally:
        await app.close()
    echo = json.loads(body)
    assert status == 200 and echo["scheme"] == "https" and echo["path"] == "/secure" and echo["client"] == local


# ------------------------------------------------------------------------------------------------ tcp echo

@run_async
async def test_tcp_echo_greets_then_echoes_lines_and_logs_connect_and_close():
    app, logs = await start("ingresslab/tcp-echo")
    reader, writer = await asyncio.open_connection(app.pod_ip, app.ports[9000])
    local = "%s:%d" % writer.get_extra_info("sockname")
    try:
        assert await reader.readline() == f"hello from {POD}\n".encode()
        writer.write(b"one\ntwo\n")
        assert [await reader.readline(), await reader.readline()] == [b"one\n", b"two\n"]
    finally:
        writer.close()
        await writer.wait_closed()
    deadline = time.monotonic() + 30
    while len(logs) < 2 and time.monotonic() < deadline:   # the close line follows the client's close
        await asyncio.sleep(0.01)
    await app.close()
    assert logs[0].endswith(f"TCP connect peer={local}")
    greeting = len(f"hello from {POD}\n")
    assert re.search(rf"TCP close {greeting + 8} 8 [\d.]+ peer={local}$", logs[1])   # bytes sent, received


@run_async
async def test_closing_tcp_echo_ends_open_connections_promptly():
    app, _ = await start("ingresslab/tcp-echo")
    reader, writer = await asyncio.open_connection(app.pod_ip, app.ports[9000])
    try:
        await reader.readline()
        await app.close()
        # The client never leaves: only the app ending the connection (as a killed container does) gives EOF.
        assert await asyncio.wait_for(reader.read(), 30) == b""
    finally:
        writer.close()
        await writer.wait_closed()


# ------------------------------------------------------------------------------------------------ fixed pages

@run_async
async def test_static_page_defaults_to_a_friendly_404_and_obeys_page_and_status():
    default, _ = await start("ingresslab/static-page")
    custom, _ = await start("ingresslab/static-page", env={"PAGE": "<p>maintenance</p>", "STATUS": "503"})
    try:
        status, headers, body, _ = await fetch(default, "/any/where")
        custom_status, _, custom_body, _ = await fetch(custom, "/x")
    finally:
        await default.close()
        await custom.close()
    assert status == 404 and headers["Content-Type"].startswith("text/html") and "no Ingress rule matched" in body
    assert (custom_status, custom_body) == (503, "<p>maintenance</p>")


@run_async
async def test_static_page_with_a_bad_status_fails_to_start_and_binds_nothing():
    ip = fresh_ip()
    with pytest.raises(ValueError, match='STATUS must be an HTTP status from 100 to 599, not "teapot"'):
        await start("ingresslab/static-page", env={"STATUS": "teapot"}, fixed_port=True, pod_ip=ip)
    app, _ = await start("ingresslab/static-page", fixed_port=True, pod_ip=ip)
    await app.close()


@run_async
async def test_default_backend_answers_healthz_and_404_like_the_real_one():
    app, _ = await start("registry.k8s.io/defaultbackend-amd64:1.5")
    try:
        health = await fetch(app, "/healthz")
        other = await fetch(app, "/coffee")
    finally:
        await app.close()
    assert (health[0], health[2]) == (200, "ok")
    assert (other[0], other[2]) == (404, "default backend - 404")


# ------------------------------------------------------------------------------------------------ lifecycle

def test_unknown_image_names_the_images_the_lab_knows():
    with pytest.raises(UnknownImage) as error:
        asyncio.run(start("nginx:1.25", ports=[80]))
    message = str(error.value)
    assert message.startswith('unknown image "nginx:1.25"') and error.value.image == "nginx:1.25"
    assert all(name in message for name in IMAGES)
    with pytest.raises(UnknownImage, match=r"known tags of nginxdemos/hello: plain-text"):
        asyncio.run(start("nginxdemos/hello", ports=[80]))


def test_image_names_default_to_latest_and_docker_hub():
    assert normalize_image("ingresslab/echo") == "ingresslab/echo:latest"
    assert normalize_image("docker.io/nginxdemos/hello:plain-text") == "nginxdemos/hello:plain-text"
    assert normalize_image("localhost:5000/app") == "localhost:5000/app:latest"


@run_async
async def test_close_frees_every_port_so_the_same_address_binds_again():
    ip = fresh_ip()
    app, _ = await start("ingresslab/echo", ports=[8080, 8081], fixed_port=True, pod_ip=ip)
    await fetch(app, port=8081)
    await app.close()
    await app.close()     # idempotent
    for port in (8080, 8081):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))
            sock.listen()


@pytest.mark.parametrize("image", sorted(name for name, spec in IMAGES.items() if spec.port))
@run_async
async def test_every_image_is_ready_as_soon_as_start_returns(image):
    started = time.perf_counter()
    app, _ = await start(image)
    elapsed = time.perf_counter() - started
    try:
        port = next(iter(app.ports.values()))
        reader, writer = await asyncio.open_connection(app.pod_ip, port)
        writer.close()
        await writer.wait_closed()
    finally:
        await app.close()
    print(f"{image}: started in {elapsed * 1000:.1f} ms")
