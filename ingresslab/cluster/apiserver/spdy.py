"""SPDY/3.1 as `kubectl port-forward` speaks it inside its WebSocket tunnel (KEP-4006), server side.

kubectl 1.37 opens `pods/<p>/portforward` as a WebSocket with subprotocol `SPDY/3.1+portforward.k8s.io`; the
binary messages then carry the bytes of a SPDY/3.1 connection (the client's Go `spdystream`). For every local
connection the client opens two streams with SYN_STREAM, whose header blocks (zlib, one context per direction for
the whole connection, preset with SPDY/3's dictionary) say `streamtype: error|data`, `port: <container port>` and
`requestid: <n>`. The server answers each with SYN_REPLY, connects the pair to the pod's port, and copies bytes both
ways in DATA frames; FIN half-closes, a failed connection is reported as text on the error stream, as the kubelet
does. PING is answered, SETTINGS and WINDOW_UPDATE are read and ignored (spdystream does no flow control either).

Frames (all integers big-endian):

    control: 1 | version:15 = 3 | type:16 | flags:8 | length:24 | payload
    data:    0 | stream id:31 | flags:8 | length:24 | data            (flag 0x01 = FIN)

Neighbours: `streaming.py` owns the WebSocket and hands this module the tunnel's bytes; the node's `connect`
callback opens the pod's socket.
"""
from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable

__all__ = ["DICTIONARY", "Session", "control_frame", "data_frame", "decode_headers", "encode_headers",
           "parse_frames"]

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
VERSION = 3
MAX_DATA = 32 * 1024          # bytes per DATA frame we send
MAX_FRAME = 1 << 24

# SPDY/3's header compression dictionary (draft 3, section 2.6.10.1): length-prefixed names, then common values.
_NAMES = ("options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
          "age allow authorization cache-control connection content-base content-encoding content-language "
          "content-length content-location content-md5 content-range content-type date etag expect expires from "
          "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
          "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
          "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status").split() \
    + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(n)) + n.encode() for n in _NAMES) + _TAIL.encode()


class ProtocolError(ValueError):
    pass


# ----------------------------------------------------------------------------------------------- pure framing
def control_frame(kind: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


def encode_headers(headers: dict[str, str], compressor) -> bytes:
    """A name/value block, compressed with the connection's compressor (one per direction, sync-flushed)."""
    block = struct.pack(">I", len(headers))
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        block += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
    return compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)


def decode_headers(compressed: bytes, decompressor) -> dict[str, str]:
    block = decompressor.decompress(compressed)
    try:
        (count,), pos, headers = struct.unpack_from(">I", block), 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", block, pos)
            headers[name] = block[pos + 4:pos + 4 + v].decode().split("\0")[0]
            pos += 4 + v
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad SPDY header block: {exc}") from None
    return headers


def new_compressor():
    return zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)


def new_decompressor():
    return zlib.decompressobj(15, zdict=DICTIONARY)


def parse_frames(buffer: bytearray):
    """Take every whole frame off the front of `buffer`: yields ("control", type, flags, payload) or
    ("data", stream id, flags, data)."""
    while len(buffer) >= 8:
        first, second = struct.unpack_from(">II", buffer)
        length = second & 0xFFFFFF
        if len(buffer) < 8 + length:
            return
        payload = bytes(buffer[8:8 + length])
        del buffer[:8 + length]
        flags = second >> 24
        if first & 0x80000000:
            version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
            if version != VERSION:
                raise ProtocolError(f"SPDY version {version} is not supported (only 3)")
            yield "control", kind, flags, payload
        else:
            yield "data", first & 0x7FFFFFFF, flags, payload


# ----------------------------------------------------------------------------------------------- the session
Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@dataclass
class _Forward:
    """One forwarded connection: the client's error and data streams for one request id."""

    port: int
    error_stream: int | None = None
    data_stream: int | None = None
    writer: asyncio.StreamWriter | None = None
    pending: list[bytes] = field(default_factory=list)     # client bytes that came before the pod connection
    client_fin: bool = False
    task: asyncio.Task | None = None


class Session:
    """The server side of one tunnelled SPDY connection. `feed()` the tunnel's bytes; frames go out by `send`."""

    def __init__(self, send: Callable[[bytes], None], connect: Connect, *, on_close: Callable[[], None]):
        self.send = send
        self.connect = connect
        self.on_close = on_close
        self.buffer = bytearray()
        self.compressor = new_compressor()
        self.decompressor = new_decompressor()
        self.forwards: dict[str, _Forward] = {}
        self.streams: dict[int, str] = {}            # stream id → request id
        self.closed = False

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        self.buffer += data
        try:
            for frame in parse_frames(self.buffer):
                self._frame(*frame)
        except (ProtocolError, zlib.error, struct.error) as exc:
            self.send(control_frame(GOAWAY, struct.pack(">II", 0, 1)))   # PROTOCOL_ERROR
            self.close()
            self.on_close()
            del exc

    def _frame(self, what: str, a: int, flags: int, payload: bytes) -> None:
        if what == "data":
            self._data(a, flags, payload)
        elif a == SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            headers = decode_headers(payload[10:], self.decompressor)
            self._syn_stream(stream_id, headers, flags)
        elif a == PING:
            self.send(control_frame(PING, payload[:4]))
        elif a == RST_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            self._end(self.streams.get(stream_id))
        elif a == GOAWAY:
            self.close()
            self.on_close()
        elif a == HEADERS:
            decode_headers(payload[4:], self.decompressor)    # keeps the shared zlib context in step
        # SETTINGS, WINDOW_UPDATE: nothing to do (no flow control in spdystream)

    def _syn_stream(self, stream_id: int, headers: dict[str, str], flags: int) -> None:
        self.send(control_frame(SYN_REPLY, struct.pack(">I", stream_id) + encode_headers({}, self.compressor)))
        request, kind = headers.get("requestid", ""), headers.get("streamtype", "")
        try:
            port = int(headers.get("port", ""))
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            self._error_text(stream_id, f'invalid port "{headers.get("port", "")}"')
            return
        forward = self.forwards.setdefault(request, _Forward(port))
        self.streams[stream_id] = request
        if kind == "error":
            forward.error_stream = stream_id
        elif kind == "data":
            forward.data_stream = stream_id
            if flags & FLAG_FIN:
                forward.client_fin = True
        else:
            self.send(control_frame(RST_STREAM, struct.pack(">II", stream_id, 1)))
            return
        if forward.error_stream is not None and forward.data_stream is not None and forward.task is None:
            forward.task = asyncio.ensure_future(self._forward(request, forward))

    def _error_text(self, stream_id: int, text: str) -> None:
        self.send(data_frame(stream_id, text.encode(), fin=True))

    def _data(self, stream_id: int, flags: int, data: bytes) -> None:
        forward = self.forwards.get(self.streams.get(stream_id, ""))
        if forward is None or stream_id != forward.data_stream:
            return      # bytes on the error stream, or after the end: nothing reads them
        if data:
            if forward.writer is None:
                forward.pending.append(data)
            else:
                forward.writer.write(data)
        if flags & FLAG_FIN:
            forward.client_fin = True
            if forward.writer is not None and forward.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    forward.writer.write_eof()

    async def _forward(self, request: str, forward: _Forward) -> None:
        try:
            reader, writer = await self.connect(forward.port)
        except (OSError, LookupError) as exc:
            why = "connect: connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
            self._error_text(forward.error_stream, f"error forwarding port {forward.port} to pod: failed to "
                             f"connect to localhost:{forward.port} inside the pod's network namespace: dial tcp4 "
                             f"127.0.0.1:{forward.port}: {why}")
            self.send(data_frame(forward.data_stream, b"", fin=True))
            self.forwards.pop(request, None)
            return
        forward.writer = writer
        for chunk in forward.pending:
            writer.write(chunk)
        forward.pending.clear()
        if forward.client_fin and writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()
        try:
            while not self.closed:
                chunk = await reader.read(MAX_DATA)
                if not chunk:
                    break
                self.send(data_frame(forward.data_stream, chunk))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if not self.closed:
                self.send(data_frame(forward.data_stream, b"", fin=True))
                self.send(data_frame(forward.error_stream, b"", fin=True))
            writer.close()
            self.forwards.pop(request, None)

    def _end(self, request: str | None) -> None:
        forward = self.forwards.pop(request or "", None)
        if forward is not None and forward.task is not None:
            forward.task.cancel()
        if forward is not None and forward.writer is not None:
            forward.writer.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for request in list(self.forwards):
            self._end(request)
