"""HTTP/1.1 (and WebSocket) for the pods' images, at asyncio's protocol level: what a container's web server does.

The lab's images (`workloads.py`) answer small requests very often: a hello pod behind nginx behind kube-proxy is
the hot path of every benchmark and every notebook that counts answers. A general framework spent ~200 µs of CPU per
request there (tornado's request objects, handlers and header classes); this module parses a request head with one
`find` and one `split`, answers with one `transport.write`, and leaves everything else to the app: about as much
work per request as nginx's `return 200` does in C, in Python. Figures in benchmarks/README.md.

What it speaks: HTTP/1.1 and 1.0 with keep-alive (1.1 by default, 1.0 when asked), pipelining, request bodies by
Content-Length or chunked, `Expect: 100-continue`, HEAD, and a WebSocket upgrade (RFC 6455: text/binary messages,
fragments, ping/pong, close) for the apps that take one. Bad requests get 400, heads over 64 KiB get 431, bodies over
1 MiB get 413, each answered once and the connection closed, as nginx does. Idle connections close after 60 s.

Neighbours: `workloads.py` builds the apps on `serve_http`; `containerd.py` runs them in the pods' own process.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

__all__ = ["App", "HttpSite", "Request", "Response", "WebSocket", "serve_http"]

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
IDLE_SECONDS = 60.0
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 204: "No Content",
            301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
            426: "Upgrade Required", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(slots=True)
class Request:
    method: str
    uri: str                  # the request target as sent (path and query)
    version: str              # "HTTP/1.1"
    headers: dict[str, str]   # lower-case names; repeated headers joined with ", "
    peer: tuple[str, int]     # the TCP peer (a proxy's outgoing address, when there is one)
    scheme: str               # "http" or "https"
    body: bytes = b""
    rid: str = ""             # the request id an app answered with, for its log line

    @property
    def path(self) -> str:
        return self.uri.partition("?")[0]

    @property
    def query(self) -> str:
        return self.uri.partition("?")[2]

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


class App:
    """What an image implements. `answer` must not block; `log` is told about every answered request."""

    server_header = "nginx"

    def answer(self, request: Request) -> Response:
        raise NotImplementedError

    def websocket(self, request: Request) -> WebSocket | None:
        """A handler for an upgrade to WebSocket at this request, or None (then the request is answered normally)."""
        return None

    def log(self, request: Request, status: int, sent: int) -> None:
        pass


class _DateCache:
    """The Date header changes once a second; formatting it per request would cost more than the rest."""

    def __init__(self) -> None:
        self.second = -1
        self.value = ""

    def get(self) -> str:
        now = int(time.time())
        if now != self.second:
            self.second, self.value = now, formatdate(now, usegmt=True)
        return self.value


_DATE = _DateCache()


@dataclass
class HttpSite:
    """One listening socket of one pod, and the connections it accepted."""

    app: App
    server: asyncio.AbstractServer | None = None
    connections: set[_Connection] = field(default_factory=set)
    heads: dict[tuple, tuple[str, bytes, bytes]] = field(default_factory=dict)   # this second's response heads
    _sweeper: asyncio.TimerHandle | None = None

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            if conn.active:      # something arrived since the last sweep
                conn.active, conn.idle_since = False, now
            elif now - conn.idle_since > IDLE_SECONDS and conn.websocket is None:
                conn.transport.close()
        self._sweeper = asyncio.get_running_loop().call_later(IDLE_SECONDS / 4, self._sweep)

    async def close(self) -> None:
        """Stop listening and reset every open connection, as a killed container's clients see it."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.transport.abort()
        if self.server is not None:
            await self.server.wait_closed()


async def serve_http(app: App, sock, *, tls: ssl.SSLContext | None = None) -> HttpSite:
    """Serve `app` on an already bound, listening socket."""
    site = HttpSite(app)
    scheme = "https" if tls is not None else "http"
    loop = asyncio.get_running_loop()
    site.server = await loop.create_server(lambda: _Connection(site, scheme), sock=sock, ssl=tls)
    site._sweeper = loop.call_later(IDLE_SECONDS / 4, site._sweep)
    return site


class _Bad(Exception):
    def __init__(self, status: int):
        self.status = status


class _Connection(asyncio.Protocol):
    __slots__ = ("site", "scheme", "transport", "buf", "peer", "active", "idle_since", "websocket", "closing")

    def __init__(self, site: HttpSite, scheme: str):
        self.site, self.scheme = site, scheme
        self.buf = bytearray()
        self.websocket: WebSocket | None = None
        self.closing = False
        self.active, self.idle_since = False, time.monotonic()     # the sweeper reads these (no clock per request)

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (peer[0], peer[1])
        self.site.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.site.connections.discard(self)
        if self.websocket is not None:
            self.websocket.on_close()

    def data_received(self, data: bytes) -> None:
        self.active = True
        if self.websocket is not None:
            self.websocket._feed(data)
            return
        if self.closing:
            return
        buf = self.buf
        buf += data
        try:
            while buf and not self.closing and self.websocket is None:
                if not self._one(buf):
                    break
        except _Bad as bad:
            self._fail(bad.status)

    def _one(self, buf: bytearray) -> bool:
        """Answer one complete request from the buffer; False when more bytes are needed."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise _Bad(431)
            return False
        if end > MAX_HEAD:
            raise _Bad(431)
        lines = buf[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1] or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            raise _Bad(400)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or " " in name:
                raise _Bad(400)
            name = name.lower()
            value = value.strip(" \t")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        body_start = end + 4
        body = b""
        if "transfer-encoding" in headers and "chunked" in headers["transfer-encoding"].lower():
            parsed = _dechunk(buf, body_start)
            if parsed is None:
                if headers.get("expect", "").lower() == "100-continue" and len(buf) == body_start:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return False
            body, consumed = parsed
        elif "content-length" in headers:
            raw = headers["content-length"]
            if not raw.isdigit():
                raise _Bad(400)
            length = int(raw)
            if length > MAX_BODY:
                raise _Bad(413)
            if len(buf) - body_start < length:
                if headers.get("expect", "").lower() == "100-continue" and len(buf) == body_start:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return False
            body = bytes(buf[body_start:body_start + length])
            consumed = body_start + length
        else:
            consumed = body_start
        del buf[:consumed]
        request = Request(parts[0], parts[1], parts[2], headers, self.peer, self.scheme, body)
        app = self.site.app
        if "connection" in headers:
            connection = headers["connection"].lower()
            keep = "close" not in connection if parts[2] == "HTTP/1.1" else "keep-alive" in connection
            if "upgrade" in connection and headers.get("upgrade", "").lower() == "websocket":
                handler = app.websocket(request)
                if handler is not None:
                    self._upgrade(request, handler)
                    return False
        else:
            keep = parts[2] == "HTTP/1.1"
        response = app.answer(request)
        self._send(request, response, keep)
        return True

    def _send(self, request: Request, response: Response, keep: bool) -> None:
        body = response.body
        status = response.status
        site = self.site
        date = _DATE.get()
        key = (status, response.content_type, response.headers)
        cached = site.heads.get(key)
        if cached is None or cached[0] is not date:
            if len(site.heads) > 64:
                site.heads.clear()
            first = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\nServer: {site.app.server_header}\r\n"
                     f"Date: {date}\r\nContent-Type: {response.content_type}\r\nContent-Length: ")
            rest = "".join(f"\r\n{name}: {value}" for name, value in response.headers)
            cached = site.heads[key] = (date, first.encode("latin-1"), rest.encode("latin-1"))
        if not keep:
            tail = b"\r\nConnection: close\r\n\r\n"
        elif request.version == "HTTP/1.0":
            tail = b"\r\nConnection: keep-alive\r\n\r\n"
        else:
            tail = b"\r\n\r\n"
        sent = 0 if request.method == "HEAD" else len(body)
        self.transport.write(b"%s%d%s%s%s" % (cached[1], len(body), cached[2], tail, body if sent else b""))
        site.app.log(request, status, sent)
        if not keep:
            self.closing = True
            self.transport.close()

    def _fail(self, status: int) -> None:
        body = f"{status} {_REASONS.get(status, '')}\n".encode()
        self.transport.write(f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nServer: {self.site.app.server_header}"
                             f"\r\nDate: {_DATE.get()}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}"
                             f"\r\nConnection: close\r\n\r\n".encode("latin-1") + body)
        self.closing = True
        self.buf.clear()
        self.transport.close()

    def _upgrade(self, request: Request, handler: WebSocket) -> None:
        key = request.headers.get("sec-websocket-key", "")
        if request.headers.get("sec-websocket-version", "") != "13" or len(base64.b64decode(key + "==")[:16]) != 16:
            raise _Bad(400)
        accept = base64.b64encode(hashlib.sha1(key.encode("latin-1") + _WS_GUID).digest()).decode()
        self.transport.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.site.app.log(request, 101, 0)
        self.websocket = handler
        handler._attach(self.transport)
        rest = bytes(self.buf)
        self.buf.clear()
        if rest:
            handler._feed(rest)


def _dechunk(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    """A whole chunked body from `start`, and where it ends; None when it has not all arrived."""
    out = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _Bad(400) from None
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)   # no trailers are expected; skip any
            if end < 0:
                return None if len(buf) - eol < MAX_HEAD else _raise(400)
            return bytes(out), end + 4
        if len(out) + size > MAX_BODY:
            raise _Bad(413)
        if len(buf) < eol + 2 + size + 2:
            return None
        out += buf[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


def _raise(status: int):
    raise _Bad(status)


class WebSocket:
    """One upgraded connection (RFC 6455, server side). Subclasses implement `on_message`."""

    max_message = MAX_BODY

    def __init__(self) -> None:
        self.transport = None
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._opcode = 0
        self._closed = False

    def _attach(self, transport) -> None:
        self.transport = transport
        self.on_open()

    def on_open(self) -> None:
        pass

    def on_message(self, message: str | bytes) -> None:
        raise NotImplementedError

    def on_close(self) -> None:
        self._closed = True

    def send(self, message: str | bytes) -> None:
        if self._closed or self.transport is None or self.transport.is_closing():
            return
        opcode, data = (1, message.encode()) if isinstance(message, str) else (2, message)
        self.transport.write(_frame(opcode, data))

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(8, struct.pack("!H", code)))
            self.transport.close()

    def _feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            if len(buf) < 2:
                return
            b0, b1 = buf[0], buf[1]
            fin, opcode, masked, length = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            pos = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            if not masked or length > self.max_message:     # clients must mask (RFC 6455 5.1)
                self.close(1002 if not masked else 1009)
                return
            if len(buf) < pos + 4 + length:
                return
            mask = buf[pos:pos + 4]
            payload = _unmask(bytes(buf[pos + 4:pos + 4 + length]), bytes(mask))
            del buf[:pos + 4 + length]
            if opcode == 8:
                self.close(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000)
                return
            if opcode == 9:
                self.transport.write(_frame(10, payload))
                continue
            if opcode == 10:
                continue
            if opcode in (1, 2):
                self._opcode, self._parts = opcode, [payload]
            elif opcode == 0 and self._parts:
                self._parts.append(payload)
            else:
                self.close(1002)
                return
            if sum(map(len, self._parts)) > self.max_message:
                self.close(1009)
                return
            if fin:
                whole = b"".join(self._parts)
                self._parts = []
                self.on_message(whole.decode("utf-8", "replace") if self._opcode == 1 else whole)


def _frame(opcode: int, data: bytes) -> bytes:
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + data


def _unmask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return payload
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def reason(status: int) -> str:
    return _REASONS.get(status, "")


Answer = Callable[[Request], Response]
