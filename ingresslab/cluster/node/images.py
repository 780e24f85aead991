"""The container images the lab can run: each is a small server living in the cluster process's asyncio loop.

A real kubelet pulls an image and starts a process; the lab's pod runtime calls `start_app` when a pod is scheduled
and `AppHandle.close()` when it is deleted. Each app listens on the pod's own loopback IP (e.g. 127.244.0.5) at
each container port, so kube-proxy, Services and the ingress controller reach it exactly as they would reach a
container. `IMAGES` is the table of what the lab understands; an image missing from it raises `UnknownImage`
(the runtime shows it where a real cluster shows ErrImagePull).

Log lines (handed to the `log` callback, which the pod runtime keeps as the pod's `kubectl logs`):

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
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler
from tornado.websocket import WebSocketHandler

__all__ = ["IMAGES", "AppHandle", "Image", "UnknownImage", "normalize_image", "register", "start_app"]

LogFn = Callable[[str], None]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REQUEST_ID = re.compile(r"[0-9a-fA-F]{32}")
NGINX_VERSION = "1.29.3"    # the nginx of the nginx-based images (the shell's image files say the same)


@dataclass(frozen=True)
class PodContext:
    """What an app may know about the pod it runs in."""

    name: str
    namespace: str
    ip: str
    env: Mapping[str, str]
    log: LogFn
    # For images that run a command (`commandimages.py`): the container's spec, its view of itself (the shell's
    # `Container`, built by the kubelet), a way to report its state (running/terminated), the restart policy.
    container: Mapping | None = None
    view: Callable[[], object] | None = None
    report: Callable[[str, str, int | None, bool], None] | None = None
    restart_policy: str = "Always"
    event: Callable[[str, str], None] | None = None     # (reason, message): a Warning event on the pod


class Listener(Protocol):
    async def close(self) -> None: ...


# An app factory serves one container port: given the pod, the container port and a bound, listening socket.
AppFactory = Callable[[PodContext, int, socket.socket], Awaitable[Listener]]


# A whole-pod starter (process images, `processes.py`): given the pod, the bound ports and the container's args.
PodStarter = Callable[[PodContext, dict[int, int], list[str]], Awaitable[Listener]]


@dataclass(frozen=True)
class Image:
    name: str                # normalized: repository:tag
    port: int                # the port the real image listens on
    factory: AppFactory | None
    description: str
    start: PodStarter | None = None       # instead of a factory per port: the pod binds its ports itself
    extra_ports: tuple[int, ...] = ()     # further ports the real image listens on (e.g. 443 besides 80)
    nginx: Callable[[str, str], object | None] | None = None   # (namespace, pod) → the real nginx it runs, if any


def register(image: Image) -> None:
    """Add an image to the table (the layers above register their own, e.g. the Ingress controller's)."""
    IMAGES[image.name] = image


class UnknownImage(LookupError):
    def __init__(self, image: str):
        self.image = image
        repo = normalize_image(image).rpartition(":")[0]
        tags = [i.name.rpartition(":")[2] for i in IMAGES.values() if i.name.rpartition(":")[0] == repo]
        hint = f" (known tags of {repo}: {', '.join(tags)})" if tags else ""
        known = ", ".join(IMAGES)
        super().__init__(f'unknown image "{image}"{hint}: the lab runs pods inside its own process and knows only '
                         f"these images: {known}")


def normalize_image(image: str) -> str:
    """`nginxdemos/hello` → `nginxdemos/hello:latest`; `docker.io/x/y:t` → `x/y:t` (Docker Hub is the default)."""
    name = image.strip()
    for hub in ("docker.io/", "index.docker.io/"):
        if name.startswith(hub):
            name = name[len(hub):]
    if ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


@dataclass
class AppHandle:
    """A running app. `ports` maps each container port to the port actually bound on the pod IP."""

    image: str
    pod_ip: str
    ports: dict[int, int]
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    async def close(self) -> None:
        """Close listening sockets and open connections (like a killed container: clients see a reset/EOF)."""
        listeners, self._listeners = self._listeners, []
        await asyncio.gather(*(listener.close() for listener in listeners))


async def start_app(image: str, *, pod_ip: str, ports: list[int], bind_ports: dict[int, int] | None = None,
                    pod_name: str, namespace: str, env: dict[str, str], log: LogFn,
                    args: list[str] | None = None, **context) -> AppHandle:
    """Start `image` listening on `pod_ip` at each container port (the image's own port if none are declared).

    `bind_ports` maps a container port to the port really bound (the lab's offset for ports < 1024 when not
    root; 0 lets the OS choose); the app still reports the container port, as the container would.
    """
    spec = IMAGES.get(normalize_image(image))
    if spec is None:
        raise UnknownImage(image)
    pod = PodContext(pod_name, namespace, pod_ip, dict(env), log, **context)
    handle = AppHandle(spec.name, pod_ip, {})
    if spec.start is not None:
        wanted = ports or [spec.port, *spec.extra_ports]
        handle.ports = {p: (bind_ports or {}).get(p, p) for p in wanted}
        listener = await spec.start(pod, dict(handle.ports), list(args or []))
        handle._listeners.append(listener)
        handle.ports.update(getattr(listener, "bound_ports", {}))   # what "0" became, for starters that bind
        return handle
    if args and pod.event is not None:
        shown = json.dumps(list(args))
        pod.event("CommandNotRun", f'image "{image}" runs in the lab as its own server; the container\'s command/args '
                  f"{shown} are not run (the lab runs a container's command in busybox, curlimages/curl and nginx)")
    try:
        for port in ports or [spec.port]:
            sock = _bind(pod_ip, (bind_ports or {}).get(port, port))
            handle.ports[port] = sock.getsockname()[1]
            try:
                handle._listeners.append(await spec.factory(pod, port, sock))
            except BaseException:
                sock.close()
                raise
    except BaseException:
        await handle.close()
        raise
    return handle


def _bind(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind((ip, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


# ---------------------------------------------------------------------------------------------- HTTP apps

def _nginx_time() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now.day:02d}/{_MONTHS[now.month - 1]}/{now.year}:{now:%H:%M:%S} +0000"


def _escape(text: str) -> str:
    """nginx's log escaping. tornado decodes the request head as latin-1, so each char below 256 is one raw byte."""
    raw = text.encode("latin-1", "backslashreplace")
    return "".join(chr(b) if 0x20 <= b <= 0x7E and b not in b'"\\' else f"\\x{b:02X}" for b in raw)


@dataclass
class _Site:
    """One container port of one pod: its server, shared by its request handlers."""

    pod: PodContext
    port: int
    server: HTTPServer | None = None
    websockets: set[EchoSocket] = field(default_factory=set)

    async def close(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()
        sockets = list(self.websockets)
        for ws in sockets:     # close_all_connections leaves upgraded connections alone
            if ws.ws_connection is not None and ws.ws_connection.stream is not None:
                ws.ws_connection.stream.close()
        if sockets:
            await asyncio.wait([ws.closed for ws in sockets], timeout=1)


class _PodRequest:
    """Mixin for every handler: the request id, the peer, and the body size for the access log."""

    site: _Site
    request_id: str
    body_bytes = 0

    def initialize(self, site: _Site, **fixed) -> None:
        self.site, self.fixed = site, fixed
        # Deliberate difference from the real image, which always makes its own $request_id: we reuse a valid
        # X-Request-ID from the caller (the ingress controller sends one) so a learner sees the same id in the
        # controller's access log, in the pod's log and in the answer.
        given = self.request.headers.get("X-Request-ID", "")
        self.request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(16)

    def compute_etag(self) -> None:
        return None     # like nginx's `return 200`: no ETag, so no 304 hides a fresh answer

    def write(self, chunk) -> None:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if isinstance(chunk, bytes):
            self.body_bytes += len(chunk)
        super().write(chunk)

    def peer(self) -> str:
        address = getattr(self.request.connection.context, "address", None)
        return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(self.request.remote_ip)

    def reply(self, status: int, body: str | bytes, content_type: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body)


class _AnyMethod(_PodRequest, RequestHandler):
    answer: Callable[[], None]

    def get(self, *_) -> None:
        self.answer()

    head = post = put = delete = patch = options = get


def _log_request(handler: RequestHandler) -> None:
    site = getattr(handler, "site", None)
    if site is None:
        return
    req = handler.request
    headers = req.headers
    sent = 0 if req.method == "HEAD" else handler.body_bytes
    site.pod.log(f'{req.remote_ip} - - [{_nginx_time()}] "{_escape(f"{req.method} {req.uri} {req.version}")}" '
                 f'{handler.get_status()} {sent} "{_escape(headers.get("Referer", "-"))}" '
                 f'"{_escape(headers.get("User-Agent", "-"))}" rid={handler.request_id} peer={handler.peer()}')


class HelloHandler(_AnyMethod):
    """nginxdemos/nginx-hello:plain-text: five lines about who answered."""

    def set_default_headers(self) -> None:
        self.set_header("Server", f"nginx/{NGINX_VERSION}")     # the image is nginx: `curl -I` shows it, not tornado

    def answer(self) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.reply(200, f"Server address: {self.site.pod.ip}:{self.site.port}\n"
                        f"Server name: {self.site.pod.name}\n"
                        f"Date: {_nginx_time()}\n"
                        f"URI: {self.request.uri}\n"
                        f"Request ID: {self.request_id}\n", "text/plain")


class EchoHandler(_AnyMethod):
    """ingresslab/echo: the request as the pod saw it, after every proxy on the way."""

    def answer(self) -> None:
        req, pod = self.request, self.site.pod
        headers = {name: ", ".join(req.headers.get_list(name)) for name in req.headers}
        body = {"pod": pod.name, "namespace": pod.namespace, "pod_ip": pod.ip, "host": req.host, "path": req.path,
                "query": req.query, "method": req.method, "protocol": req.version, "scheme": req.protocol,
                "headers": headers, "client": self.peer(), "request_id": self.request_id}
        self.reply(200, json.dumps(body, indent=2) + "\n", "application/json")


class EchoSocket(_PodRequest, WebSocketHandler):
    """ingresslab/echo at /ws: every message comes back as `<pod>: <message>`."""

    def check_origin(self, origin: str) -> bool:
        return True     # the lab's pages and proxies come from many origins; nothing here is secret

    def open(self, *_) -> None:
        self.site.websockets.add(self)
        self.closed = asyncio.get_running_loop().create_future()

    def on_message(self, message: str | bytes) -> None:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        self.write_message(f"{self.site.pod.name}: {text}")

    def on_close(self) -> None:
        self.site.websockets.discard(self)
        if not self.closed.done():
            self.closed.set_result(None)


class FixedHandler(_AnyMethod):
    """The same answer for every request (default backends, custom error pages)."""

    def answer(self) -> None:
        self.reply(self.fixed["status"], self.fixed["body"], self.fixed["content_type"])


def _http(routes: Callable[[_Site], list[tuple]], *, tls: bool = False) -> AppFactory:
    async def factory(pod: PodContext, port: int, sock: socket.socket) -> Listener:
        site = _Site(pod, port)
        app = Application(routes(site), log_function=_log_request)
        site.server = HTTPServer(app, ssl_options=_tls_context() if tls else None, idle_connection_timeout=60)
        site.server.add_sockets([sock])
        return site
    return factory


def _hello(site: _Site) -> list[tuple]:
    return [(r".*", HelloHandler, {"site": site})]


def _echo(site: _Site) -> list[tuple]:
    return [(r"/ws", EchoSocket, {"site": site}), (r".*", EchoHandler, {"site": site})]


DEFAULT_PAGE = """<!doctype html>
<html><head><title>404 - no Ingress rule matched</title></head>
<body><h1>404 - no Ingress rule matched</h1>
<p>This answer comes from the ingress controller's <em>default backend</em>: the request reached the controller,
but no Ingress rule matched its host and path.</p>
<p>Compare the <code>Host</code> header and the path you sent with <code>kubectl get ingress -A</code>.</p>
</body></html>
"""


def _static_page(site: _Site) -> list[tuple]:
    env = site.pod.env
    raw = env.get("STATUS", "404")
    if not raw.isdigit() or not 100 <= int(raw) <= 599:
        raise ValueError(f'ingresslab/static-page: env STATUS must be an HTTP status from 100 to 599, not "{raw}"')
    page = {"status": int(raw), "body": env.get("PAGE", DEFAULT_PAGE), "content_type": "text/html; charset=utf-8"}
    return [(r".*", FixedHandler, {"site": site, **page})]


def _default_backend(site: _Site) -> list[tuple]:
    text = "text/plain; charset=utf-8"
    return [(r"/healthz", FixedHandler, {"site": site, "status": 200, "body": "ok", "content_type": text}),
            (r".*", FixedHandler, {"site": site, "status": 404, "body": "default backend - 404", "content_type": text})]


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
        with open(path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        context.load_cert_chain(path)
    return context


# ---------------------------------------------------------------------------------------------- TCP echo

class _TcpEcho:
    def __init__(self, pod: PodContext):
        self.pod = pod
        self.connections: dict[asyncio.StreamWriter, asyncio.Task] = {}
        self.server: asyncio.AbstractServer | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections[writer] = asyncio.current_task()
        ip, port = writer.get_extra_info("peername")[:2]
        started, sent, received = asyncio.get_running_loop().time(), 0, 0
        self.pod.log(f"{ip} [{_nginx_time()}] TCP connect peer={ip}:{port}")
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
            self.pod.log(f"{ip} [{_nginx_time()}] TCP close {sent} {received} {seconds:.3f} peer={ip}:{port}")
            del self.connections[writer]

    async def close(self) -> None:
        self.server.close()
        tasks = list(self.connections.values())
        for writer in list(self.connections):
            writer.close()
        if tasks:
            await asyncio.wait(tasks, timeout=1)
        await self.server.wait_closed()


async def _tcp_echo(pod: PodContext, port: int, sock: socket.socket) -> Listener:
    app = _TcpEcho(pod)
    app.server = await asyncio.start_server(app.serve, sock=sock)
    return app


# ---------------------------------------------------------------------------------------------- the table

IMAGES: dict[str, Image] = {image.name: image for image in (
    Image("nginxdemos/nginx-hello:plain-text", 8080, _http(_hello),
          "The cafe example's demo app: five text lines naming the pod address, pod name, date, URI and request id."),
    Image("nginxdemos/hello:plain-text", 80, _http(_hello),
          "The older name of the same demo app, listening on port 80."),
    Image("ingresslab/echo:latest", 8080, _http(_echo),
          "Answers with the request as the pod saw it, in JSON (host, path, headers, client, request id); "
          "a websocket at /ws echoes each message prefixed with the pod name."),
    Image("ingresslab/https-echo:latest", 8443, _http(_echo, tls=True),
          "The same JSON echo over TLS with a self-signed certificate, for `backend-protocol: HTTPS`."),
    Image("ingresslab/tcp-echo:latest", 9000, _tcp_echo,
          "Raw TCP: greets with `hello from <pod>` and echoes every line back."),
    Image("ingresslab/static-page:latest", 8080, _http(_static_page),
          "Serves env PAGE (default: a friendly 'no Ingress rule matched' page) with status env STATUS "
          "(default 404) for every path: a custom default backend."),
    Image("registry.k8s.io/defaultbackend-amd64:1.5", 8080, _http(_default_backend),
          "The classic default backend: /healthz answers 200 `ok`, everything else 404 `default backend - 404`."),
)}
