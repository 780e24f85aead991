"""The wire protocols of the streaming subresources, against hand-built frames: the channel protocol of exec
(v5/v4.channel.k8s.io) over a real WebSocket to the API server, the kubelet's exit Status, and SPDY/3.1 as the
port-forward tunnel carries it."""
from __future__ import annotations

import asyncio
import json
import socket
import struct
import zlib

import pytest
import tornado.httpserver
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from ingresslab.cluster.apiserver import spdy
from ingresslab.cluster.apiserver.server import ApiServer
from ingresslab.cluster.apiserver.streaming import exit_status
from cluster_harness import run_async, running_controllers

TOKEN = "test-token"


def test_a_non_zero_exit_is_the_status_the_kubelet_writes():
    assert exit_status(0) == {"metadata": {}, "status": "Success"}
    assert exit_status(3, ["sh", "-c", "exit 3"]) == {
        "metadata": {}, "status": "Failure",
        "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
        "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}


async def _api(store, controllers):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    api = ApiServer(store, token=TOKEN)
    api.pod_streams = controllers.kubelet.streams
    server = tornado.httpserver.HTTPServer(api.app())
    server.add_sockets([sock])
    return server, sock.getsockname()[1]


async def _box(store, controllers):
    store.create("pods", {"metadata": {"name": "box", "namespace": "default"},
                          "spec": {"containers": [{"name": "box", "image": "busybox", "command": ["sleep", "60"]}]}})
    for _ in range(500):
        await controllers.wait_idle()
        if (store.get("pods", "default", "box").get("status") or {}).get("phase") == "Running":
            return
        await asyncio.sleep(0.01)


async def _read(ws):
    return await asyncio.wait_for(ws.read_message(), 10)


def _request(port: int, query: str, *, protocol: str, token: str = TOKEN) -> HTTPRequest:
    return HTTPRequest(f"ws://127.0.0.1:{port}/api/v1/namespaces/default/pods/box/exec?{query}",
                       headers={"Authorization": f"Bearer {token}", "Sec-WebSocket-Protocol": protocol})


@run_async
async def test_exec_speaks_the_channel_protocol_byte_by_byte(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await _box(store, controllers)
        server, port = await _api(store, controllers)
        try:
            query = "command=sh&command=-c&command=cat%3B+echo+bye+%3E%262%3B+exit+2&stdin=true&stdout=true&stderr=true"
            for protocol in ("v5.channel.k8s.io", "v4.channel.k8s.io"):
                ws = await websocket_connect(_request(port, query, protocol=protocol))
                assert ws.selected_subprotocol == protocol
                assert await _read(ws) == b"\x01"              # "established", on stdout
                await ws.write_message(b"\x00tea\n", binary=True)
                if protocol.startswith("v5"):
                    await ws.write_message(b"\xff\x00", binary=True)    # close stdin
                    assert await _read(ws) == b"\x01tea\n"
                    assert await _read(ws) == b"\x02bye\n"
                    error = await _read(ws)
                    assert error[:1] == b"\x03"
                    status = json.loads(error[1:])
                    assert status["reason"] == "NonZeroExitCode"
                    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "2"}]
                    assert await _read(ws) is None                # the server closes
                else:
                    assert await _read(ws) == b"\x01tea\n"       # v4 cannot half-close: the client leaves
                ws.close()
        finally:
            server.stop()
            await server.close_all_connections()


@run_async
async def test_exec_without_the_token_is_refused_before_the_upgrade(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await _box(store, controllers)
        server, port = await _api(store, controllers)
        try:
            with pytest.raises(HTTPClientError) as refused:
                await websocket_connect(_request(port, "command=env&stdout=true", protocol="v5.channel.k8s.io",
                                                 token="wrong"))
            assert refused.value.code == 401
            with pytest.raises(HTTPClientError) as no_command:
                await websocket_connect(_request(port, "stdout=true", protocol="v5.channel.k8s.io"))
            assert no_command.value.code == 400
        finally:
            server.stop()
            await server.close_all_connections()


# ---------------------------------------------------------------------------------------------- SPDY
def test_the_dictionary_is_spdy3s():
    assert len(spdy.DICTIONARY) == 1423 and zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def _syn_stream(stream_id: int, headers: dict[str, str], compressor) -> bytes:
    block = spdy.encode_headers(headers, compressor)
    return spdy.control_frame(spdy.SYN_STREAM, struct.pack(">IIH", stream_id, 0, 0) + block)


@run_async
async def test_a_forwarded_connection_is_an_error_and_a_data_stream(tmp_path):
    async def echo(reader, writer):
        writer.write((await reader.read(100)).upper())
        await writer.drain()
        writer.close()
    backend = await asyncio.start_server(echo, "127.0.0.1", 0)
    backend_port = backend.sockets[0].getsockname()[1]
    sent = bytearray()
    closed = []

    async def connect(port: int):
        assert port == 80
        return await asyncio.open_connection("127.0.0.1", backend_port)
    session = spdy.Session(sent.extend, connect, on_close=lambda: closed.append(True))
    client = spdy.new_compressor()
    session.feed(_syn_stream(1, {"streamType": "error", "port": "80", "requestID": "0"}, client))
    wire = _syn_stream(3, {"streamType": "data", "port": "80", "requestID": "0"}, client) \
        + spdy.data_frame(3, b"hello", fin=True) + spdy.control_frame(spdy.PING, struct.pack(">I", 7))
    for i in range(0, len(wire), 5):          # frames may arrive cut anywhere
        session.feed(wire[i:i + 5])
    for _ in range(200):
        if spdy.data_frame(3, b"", fin=True) in sent:
            break
        await asyncio.sleep(0.01)
    frames = list(spdy.parse_frames(bytearray(sent)))
    decompressor = spdy.new_decompressor()
    replies = [(struct.unpack(">I", f[3][:4])[0], spdy.decode_headers(f[3][4:], decompressor))
               for f in frames if f[:2] == ("control", spdy.SYN_REPLY)]
    assert replies == [(1, {}), (3, {})]
    assert ("control", spdy.PING, 0, struct.pack(">I", 7)) in frames
    data = b"".join(f[3] for f in frames if f[0] == "data" and f[1] == 3)
    assert data == b"HELLO"
    assert ("data", 3, spdy.FLAG_FIN, b"") in frames and ("data", 1, spdy.FLAG_FIN, b"") in frames
    session.close()
    backend.close()
    await backend.wait_closed()
    assert not closed


@run_async
async def test_a_refused_port_is_reported_on_the_error_stream(tmp_path):
    async def connect(port: int):
        raise ConnectionRefusedError(111, "Connection refused")
    sent = bytearray()
    session = spdy.Session(sent.extend, connect, on_close=lambda: None)
    client = spdy.new_compressor()
    session.feed(_syn_stream(1, {"streamType": "error", "port": "9999", "requestID": "4"}, client)
                 + _syn_stream(3, {"streamType": "data", "port": "9999", "requestID": "4"}, client))
    for _ in range(100):
        if b"connection refused" in sent:
            break
        await asyncio.sleep(0.01)
    errors = [f for f in spdy.parse_frames(bytearray(sent)) if f[0] == "data" and f[1] == 1]
    assert errors[0][3].startswith(b"error forwarding port 9999 to pod") and errors[0][2] == spdy.FLAG_FIN


def test_another_spdy_version_ends_the_session_with_goaway():
    sent, closed = bytearray(), []
    session = spdy.Session(sent.extend, None, on_close=lambda: closed.append(True))
    session.feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")
    assert list(spdy.parse_frames(bytearray(sent))) == [("control", spdy.GOAWAY, 0, struct.pack(">II", 0, 1))]
    assert closed == [True]
