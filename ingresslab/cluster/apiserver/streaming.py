"""The streaming subresources `pods/exec`, `pods/attach` and `pods/portforward`, over the WebSocket protocols that
kubectl 1.37 speaks first.

exec/attach use the channel protocol (`v5.channel.k8s.io`, also `v4.channel.k8s.io`): every binary message starts
with one byte naming its channel — 0 stdin, 1 stdout, 2 stderr, 3 error (the final Status as JSON; a non-zero exit
is `reason: NonZeroExitCode` with a cause `ExitCode` carrying the number, as the kubelet writes it), 4 resize
(`{"Width":…,"Height":…}`), and in v5 255 "close": `[255, 0]` from the client half-closes stdin. Right after the
upgrade the server sends an empty message on the lowest writable channel, as the kubelet does.

portforward uses KEP-4006's tunnel (`SPDY/3.1+portforward.k8s.io`): the WebSocket's binary messages carry the
bytes of a SPDY/3.1 connection, spoken by `spdy.py`; each forwarded connection is a pair of SPDY streams (error and
data) whose headers name the `port` and the `requestID`.

When kubectl cannot upgrade to WebSocket it retries over SPDY (a POST with `Upgrade: SPDY/3.1`); the lab does not
speak raw SPDY, but a request that a real API server would refuse (no such container, pod not running) is refused
here with the same answer on either path, so kubectl prints the same error. Requests carry the lab's token like
every other request. What runs on the other end is the node's business: the `PodStreams` hook (set by the cluster
from the kubelet) checks the target, runs commands and opens connections to pods.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from typing import Callable, Protocol

import tornado.web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.errors import ApiError, StreamRefused
from ingresslab.cluster.apiserver import spdy

__all__ = ["CHANNEL_PROTOCOLS", "PORTFORWARD_PROTOCOL", "PodStreams", "StreamRefused", "exit_status", "routes"]

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
CHANNEL_PROTOCOLS = (V5, V4)
PORTFORWARD_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
PATH = r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/(exec|attach|portforward)"


Write = Callable[[bytes], None]


class PodStreams(Protocol):
    """What the node offers the API server for the streaming subresources (implemented by `node/streams.py`)."""

    def check(self, verb: str, namespace: str, pod: str, container: str | None) -> str:
        """The container a request reaches (the first one if none is named); raises ApiError or StreamRefused."""

    async def exec(self, namespace: str, pod: str, container: str, command: list[str], *,
                   stdin: asyncio.StreamReader | None, stdout: Write | None, stderr: Write | None, tty: bool,
                   resize: asyncio.Queue | None) -> int: ...

    async def attach(self, namespace: str, pod: str, container: str, *, stdin: asyncio.StreamReader | None,
                     stdout: Write | None, stderr: Write | None, tty: bool, resize: asyncio.Queue | None) -> int: ...

    async def connect(self, namespace: str, pod: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to the pod's own socket at container port `port`; raises OSError (or LookupError)."""


def exit_status(code: int, command: list[str] | None = None) -> dict:
    """The Status the kubelet writes on the error channel when the command ended with `code`."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    what = f"error executing command {_go_list(command)}, exit code {code}" if command is not None \
        else f"exit code {code}"
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: {what}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _go_list(items: list[str]) -> str:
    """A []string as Go's %v prints it: `[sh -c exit 3]`."""
    return "[" + " ".join(items) + "]"


def routes(server) -> list[tuple]:
    """The URL rules to put before the API's catch-all handler."""
    return [(PATH, StreamHandler, {"server": server})]


@tornado.web.stream_request_body
class StreamHandler(WebSocketHandler):
    """One exec, attach or port-forward session of one client. A request body (none is expected) is never kept:
    the answer is decided from the headers, before a byte of body is read."""

    def data_received(self, chunk: bytes) -> None:
        pass

    def initialize(self, server) -> None:
        self.server = server
        self.protocol: str | None = None
        self.task: asyncio.Task | None = None
        self.stdin: asyncio.StreamReader | None = None
        self.resize: asyncio.Queue | None = None
        self.tunnel: spdy.Session | None = None
        self.target: tuple[str, str, str, str] | None = None

    # ------------------------------------------------------------------------------------ before the upgrade
    def _authorized(self) -> bool:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.server.token.encode())

    def _refuse(self, code: int, body: dict | str) -> None:
        self.set_status(code)
        if isinstance(body, dict):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(body, separators=(",", ":")))
        else:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(body)

    def prepare(self):
        self.server.requests += 1
        if not self._authorized():
            return self._refuse(401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        namespace, pod, verb = self.path_args
        streams = self.server.pod_streams
        try:
            if streams is None:
                raise StreamRefused(503, "no kubelet serves streams in this cluster")
            if verb == "exec" and not self.get_query_arguments("command"):
                raise errors.bad_request("you must specify at least 1 command")
            container = self.get_query_argument("container", None) or None
            container = streams.check(verb, namespace, pod, None if verb == "portforward" else container)
            if verb != "portforward" and not any(self._flag(n) for n in ("stdin", "stdout", "stderr")):
                raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        except ApiError as exc:
            return self._refuse(exc.code, exc.status())
        except StreamRefused as exc:
            return self._refuse(exc.code, exc.text)
        self.target = (namespace, pod, verb, container)
        if self.request.method != "GET" or self.request.headers.get("Upgrade", "").lower() != "websocket":
            # kubectl's SPDY fallback: the lab answers WebSocket only.
            return self._refuse(400, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": "upgrade to SPDY/3.1 is not supported by this lab's API server; "
                                                 "use a client that speaks WebSocket (kubectl 1.31 or later)",
                                      "reason": "BadRequest", "code": 400})

    async def post(self, *args) -> None:     # reached only when prepare() did not answer
        self._refuse(400, "unexpected request")

    def check_origin(self, origin: str) -> bool:
        return True     # authorization is the bearer token, not the origin; browsers cannot send it

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        wanted = (PORTFORWARD_PROTOCOL,) if self.path_args[2] == "portforward" else CHANNEL_PROTOCOLS
        for offered in subprotocols:
            if offered.strip() in wanted:
                self.protocol = offered.strip()
                return self.protocol
        return None

    def _flag(self, name: str) -> bool:
        return (self.get_query_argument(name, "") or "").lower() in ("true", "1")

    # ------------------------------------------------------------------------------------ after the upgrade
    def open(self, *args) -> None:
        if self.protocol is None:
            wanted = PORTFORWARD_PROTOCOL if self.target[2] == "portforward" else ", ".join(CHANNEL_PROTOCOLS)
            self.close(1002, f"no supported subprotocol offered; this server speaks {wanted}")
            return
        if self.target[2] == "portforward":
            namespace, pod = self.target[:2]
            self.tunnel = spdy.Session(self._send_binary, lambda port: self.server.pod_streams.connect(
                namespace, pod, port), on_close=lambda: self.close())
            return
        self.stdin = asyncio.StreamReader() if self._flag("stdin") else None
        self.resize = asyncio.Queue() if self._flag("tty") else None
        self.task = asyncio.ensure_future(self._run())

    def _send_binary(self, data: bytes) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(data, binary=True)

    def _writer(self, channel: int) -> Write:
        def write(data: bytes) -> None:
            if data:
                self._send_binary(bytes([channel]) + data)
        return write

    async def _run(self) -> None:
        namespace, pod, verb, container = self.target
        tty = self._flag("tty")
        stdout = self._writer(STDOUT) if self._flag("stdout") else None
        stderr = self._writer(STDERR) if self._flag("stderr") and not tty else None
        first = STDOUT if stdout else STDERR if stderr else ERROR
        self._send_binary(bytes([first]))       # "connection established", as the kubelet sends it
        streams = self.server.pod_streams
        command = self.get_query_arguments("command") if verb == "exec" else None
        try:
            if verb == "exec":
                code = await streams.exec(namespace, pod, container, command, stdin=self.stdin, stdout=stdout,
                                          stderr=stderr, tty=tty, resize=self.resize)
            else:
                # The kubelet ends an attach with Success whatever the process did: the exit code is the pod's.
                await streams.attach(namespace, pod, container, stdin=self.stdin, stdout=stdout, stderr=stderr,
                                     tty=tty, resize=self.resize)
                code = 0
            status = exit_status(code, command)
        except ApiError as exc:
            status = exc.status()
        except StreamRefused as exc:
            status = ApiError(500, "InternalError", exc.text).status()
        except asyncio.CancelledError:
            return
        except Exception as exc:  # noqa: BLE001 — the client must hear why its command failed
            status = ApiError(500, "InternalError", f"error executing command in container: {exc}").status()
        if self.protocol == V4 or self.protocol == V5:
            self._send_binary(bytes([ERROR]) + json.dumps(status, separators=(",", ":")).encode())
        self.close(1000)

    def on_message(self, message: str | bytes) -> None:
        if self.tunnel is not None:
            if isinstance(message, bytes):
                self.tunnel.feed(message)
            return
        if not isinstance(message, bytes) or not message:
            return
        channel, data = message[0], message[1:]
        if channel == STDIN and self.stdin is not None:
            if data:
                self.stdin.feed_data(data)
        elif channel == RESIZE and self.resize is not None:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                size = json.loads(data)
                self.resize.put_nowait((int(size.get("Width", 0)), int(size.get("Height", 0))))
        elif channel == CLOSE and self.protocol == V5 and data[:1] == bytes([STDIN]) and self.stdin is not None:
            self.stdin.feed_eof()

    def on_close(self) -> None:
        if self.stdin is not None and not self.stdin.at_eof():
            self.stdin.feed_eof()
        if self.tunnel is not None:
            self.tunnel.close()
        if self.task is not None and not self.task.done():
            # The client went away: what it started stops, as a real exec session's process gets SIGHUP/EOF.
            self.task.cancel()

