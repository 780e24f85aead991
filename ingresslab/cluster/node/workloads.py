"""What the lab's images do once started: the servers inside the pods, run by the pods' own process (`containerd.py`).

Each factory serves one container port of one pod on a bound, listening socket and returns something to `close()`.
`FACTORIES` maps the names the image table uses (`images.Image.app`) to them.

Log lines (handed to the pod's `log` function, which the runtime batches back to the kubelet for `kubectl logs`):

* HTTP apps, one line per request, nginx's "combined" format plus two fields the trace joins hops on::

      <client ip> - - [dd/Mon/yyyy:HH:MM:SS +0000] "<request line>" <status> <body bytes> "<referer>" "<user agent>" rid=<32 hex> peer=<client ip>:<client port>

  `rid` is the request id the app answered with (the caller's X-Request-ID when it sent a valid one); `peer` is the
  TCP peer, i.e. the proxy's or kube-proxy's outgoing address. Quoted fields escape `"`, `\\` and non-printable
  bytes as `\\xHH`, like nginx, so a line can never be split or forged by a request.
* tcp-echo, one line per connection event::

      <client ip> [dd/Mon/yyyy:HH:MM:SS +0000] TCP connect peer=<ip>:<port>
      <client ip> [dd/Mon/yyyy:HH:MM:SS +0000] TCP close <bytes sent> <bytes received> <seconds> peer=<ip>:<port>
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import json
import os
import re
import secrets
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ingresslab.cluster.node.podhttp import App, Request, Response, WebSocket, serve_http

__all__ = ["FACTORIES", "DEFAULT_PAGE", "PodInfo"]

LogFn = Callable[[str], None]
NGINX_VERSION = "1.29.3"    # the nginx of the nginx-based images (the shell's image files say the same)
NGINX_WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REQUEST_ID = re.compile(r"[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class PodInfo:
    """What an app may know about the pod it runs in."""

    name: str
    namespace: str
    ip: str
    env: Mapping[str, str]
    log: LogFn


class Listener(Protocol):
    async def close(self) -> None: ...


Factory = Callable[[PodInfo, int, object], Awaitable[Listener]]


class _NginxTime:
    """`06/Dec/2026:09:41:23 +0000`, formatted once a second."""

    def __init__(self) -> None:
        self.second, self.value = -1, ""

    def get(self) -> str:
        now = int(time.time())
        if now != self.second:
            t = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
            self.second = now
            self.value = f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0000"
        return self.value


nginx_time = _NginxTime().get


def _escape(text: str) -> str:
    """nginx's log escaping. Requests are decoded as latin-1, so each char below 256 is one raw byte."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    raw = text.encode("latin-1", "backslashreplace")
    return "".join(chr(b) if 0x20 <= b <= 0x7E and b not in b'"\\' else f"\\x{b:02X}" for b in raw)


def _header_name(name: str) -> str:
    """`x-request-id` → `X-Request-Id`, the spelling the echo has always shown."""
    return "-".join(part.capitalize() for part in name.split("-"))


class _PodApp(App):
    """An HTTP app of one pod port: the request id and the access log line every image shares."""

    def __init__(self, pod: PodInfo, port: int):
        self.pod, self.port = pod, port

    def request_id(self, request: Request) -> str:
        # Deliberate difference from the real image, which always makes its own $request_id: we reuse a valid
        # X-Request-ID from the caller (the ingress controller sends one) so a learner sees the same id in the
        # controller's access log, in the pod's log and in the answer.
        given = request.headers.get("x-request-id", "")
        request.rid = given if len(given) == 32 and _REQUEST_ID.fullmatch(given) else secrets.token_hex(16)
        return request.rid

    def log(self, request: Request, status: int, sent: int) -> None:
        rid = request.rid or self.request_id(request)
        h = request.headers
        referer, agent = h.get("referer"), h.get("user-agent")     # nginx logs "-" for an absent header
        ip, port = request.peer
        self.pod.log(f'{ip} - - [{nginx_time()}] "{_escape(f"{request.method} {request.uri} {request.version}")}" '
                     f'{status} {sent} "{"-" if referer is None else _escape(referer)}" '
                     f'"{"-" if agent is None else _escape(agent)}" rid={rid} peer={ip}:{port}')


class Hello(_PodApp):
    """nginxdemos/nginx-hello:plain-text: five lines about who answered."""

    server_header = f"nginx/{NGINX_VERSION}"     # the image is nginx: `curl -I` shows it

    def answer(self, request: Request) -> Response:
        pod = self.pod
        body = (f"Server address: {pod.ip}:{self.port}\nServer name: {pod.name}\nDate: {nginx_time()}\n"
                f"URI: {request.uri}\nRequest ID: {self.request_id(request)}\n")
        return Response(200, body.encode("latin-1", "replace"), "text/plain",
                        (("Cache-Control", "no-cache"),))


class _EchoSocket(WebSocket):
    """ingresslab/echo at /ws: every message comes back as `<pod>: <message>`."""

    def __init__(self, pod: PodInfo, sockets: set):
        super().__init__()
        self.pod, self.sockets = pod, sockets

    def on_open(self) -> None:
        self.sockets.add(self)

    def on_message(self, message: str | bytes) -> None:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        self.send(f"{self.pod.name}: {text}")

    def on_close(self) -> None:
        super().on_close()
        self.sockets.discard(self)


class Echo(_PodApp):
    """ingresslab/echo: the request as the pod saw it, after every proxy on the way."""

    def __init__(self, pod: PodInfo, port: int):
        super().__init__(pod, port)
        self.sockets: set[_EchoSocket] = set()

    def websocket(self, request: Request) -> WebSocket | None:
        if request.path != "/ws":
            return None
        self.request_id(request)
        return _EchoSocket(self.pod, self.sockets)

    def answer(self, request: Request) -> Response:
        pod = self.pod
        host = request.host
        body = {"pod": pod.name, "namespace": pod.namespace, "pod_ip": pod.ip, "host": host, "path": request.path,
                "query": request.query, "method": request.method, "protocol": request.version,
                "scheme": request.scheme, "headers": {_header_name(k): v for k, v in request.headers.items()},
                "client": f"{request.peer[0]}:{request.peer[1]}", "request_id": self.request_id(request)}
        return Response(200, (json.dumps(body, indent=2) + "\n").encode(), "application/json")


class Fixed(_PodApp):
    """The same answer for every request (default backends, custom error pages); `routes` by exact path first."""

    def __init__(self, pod: PodInfo, port: int, routes: dict[str, tuple[int, str, str]], default: tuple[int, str, str]):
        super().__init__(pod, port)
        self.routes = {path: Response(s, b.encode(), t) for path, (s, b, t) in routes.items()}
        self.default = Response(default[0], default[1].encode(), default[2])

    def answer(self, request: Request) -> Response:
        self.request_id(request)
        return self.routes.get(request.path, self.default)


DEFAULT_PAGE = """<!doctype html>
<html><head><title>404 - no Ingress rule matched</title></head>
<body><h1>404 - no Ingress rule matched</h1>
<p>This answer comes from the ingress controller's <em>default backend</em>: the request reached the controller,
but no Ingress rule matched its host and path.</p>
<p>Compare the <code>Host</code> header and the path you sent with <code>kubectl get ingress -A</code>.</p>
</body></html>
"""


def _static_page(pod: PodInfo, port: int) -> App:
    raw = pod.env.get("STATUS", "404")
    if not raw.isdigit() or not 100 <= int(raw) <= 599:
        raise ValueError(f'ingresslab/static-page: env STATUS must be an HTTP status from 100 to 599, not "{raw}"')
    return Fixed(pod, port, {}, (int(raw), pod.env.get("PAGE", DEFAULT_PAGE), "text/html; charset=utf-8"))


def _default_backend(pod: PodInfo, port: int) -> App:
    text = "text/plain; charset=utf-8"
    return Fixed(pod, port, {"/healthz": (200, "ok", text)}, (404, "default backend - 404", text))


def _nginx_welcome(pod: PodInfo, port: int) -> App:
    """The official nginx image's default site: its welcome page at / and /index.html, nginx's 404 elsewhere."""
    page = (200, NGINX_WELCOME, "text/html")
    not_found = (404, "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not "
                      f"Found</h1></center>\r\n<hr><center>nginx/{NGINX_VERSION}</center>\r\n</body>\r\n"
                      "</html>\r\n", "text/html")
    app = Fixed(pod, port, {"/": page, "/index.html": page}, not_found)
    app.server_header = f"nginx/{NGINX_VERSION}"
    return app


def _http(make: Callable[[PodInfo, int], App], *, tls: bool = False) -> Factory:
    async def factory(pod: PodInfo, port: int, sock) -> Listener:
        return await serve_http(make(pod, port), sock, tls=_tls_context() if tls else None)
    return factory


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """A self-signed certificate made once per process (EC P-256: a millisecond, where RSA takes ~50 ms)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ingresslab-https-echo")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingresslab-https-echo")]), critical=False)
            .sign(key, hashes.SHA256()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:     # ssl can only load a chain from files
        path = os.path.join(tmp, "tls.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        context.load_cert_chain(path)
    return context


# ---------------------------------------------------------------------------------------------- TCP echo

class _TcpEcho:
    def __init__(self, pod: PodInfo):
        self.pod = pod
        self.connections: dict[asyncio.StreamWriter, asyncio.Task] = {}
        self.server: asyncio.AbstractServer | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections[writer] = asyncio.current_task()
        ip, port = writer.get_extra_info("peername")[:2]
        started, sent, received = asyncio.get_running_loop().time(), 0, 0
        self.pod.log(f"{ip} [{nginx_time()}] TCP connect peer={ip}:{port}")
        try:
            line = f"hello from {self.pod.name}\n".encode()
            while line:
                writer.write(line)
                sent += len(line)
                await writer.drain()
                line = await reader.readline()
                received += len(line)
        except (ConnectionError, ValueError):   # reset by the peer, or a line longer than the 64 KiB limit
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            seconds = asyncio.get_running_loop().time() - started
            self.pod.log(f"{ip} [{nginx_time()}] TCP close {sent} {received} {seconds:.3f} peer={ip}:{port}")
            del self.connections[writer]

    async def close(self) -> None:
        self.server.close()
        tasks = list(self.connections.values())
        for writer in list(self.connections):
            writer.close()
        if tasks:
            await asyncio.wait(tasks, timeout=1)
        await self.server.wait_closed()


async def _tcp_echo(pod: PodInfo, port: int, sock) -> Listener:
    app = _TcpEcho(pod)
    app.server = await asyncio.start_server(app.serve, sock=sock)
    return app


FACTORIES: dict[str, Factory] = {
    "hello": _http(Hello),
    "echo": _http(Echo),
    "https-echo": _http(Echo, tls=True),
    "tcp-echo": _tcp_echo,
    "static-page": _http(_static_page),
    "default-backend": _http(_default_backend),
    "nginx-welcome": _http(_nginx_welcome),
}
