"""Send one real request through the Ingress controller, as `curl --resolve host:port:node` would.

The request goes to a node's address and the controller Service's NodePort (the course's `IC_IP` and
`IC_HTTP_PORT` / `IC_HTTPS_PORT`) with the learner's host in the `Host` header — and, for https, in SNI — so it
crosses every hop the diagrams show: kube-proxy's NodePort forwarder, the controller's nginx, the pod. The demo
apps answer `Server name: <pod>`, which `Reply.pod` reads back.

This is deliberately small and independent of `ingresslab.trace` (a sibling module in the same layer, which
follows requests hop by hop): exercises only need the answer. Neighbours: `routing.py` (the checks) and
`ingresslab.widgets` (the request widget) call `send`; `Entry.of(lab)` asks the lab where the controller listens.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field

from ingresslab.i18n import _
from ingresslab.lab import Lab, LabError

_SERVER_NAME = re.compile(r"^Server name: (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Entry:
    """Where requests enter the cluster: one node's address and the controller Service's two NodePorts."""

    node_ip: str
    http_port: int
    https_port: int | None

    @classmethod
    def of(cls, lab: Lab, *, node: str | None = None) -> "Entry":
        nodes = lab.status().get("nodes") or []
        chosen = next((n for n in nodes if node in (None, n.get("name"), n.get("ip"))), None)
        ports = lab.ingress_node_ports()
        if not chosen or not ports.get("http_nodeport"):
            raise LabError(_("the Ingress controller's NodePort Service (ingress-nginx/ingress-nginx) is not there; "
                             "is the lab fully started?"))
        return cls(chosen["ip"], int(ports["http_nodeport"]), ports.get("https_nodeport"))


@dataclass(frozen=True)
class Reply:
    """What came back: status, headers, body, and which pod answered (None when nginx itself answered)."""

    scheme: str
    host: str
    path: str
    status: int
    reason: str
    body: str
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0
    entry: str = ""

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def pod(self) -> str | None:
        """The pod that answered, from the hello app's `Server name:` line or the echo app's JSON."""
        found = _SERVER_NAME.search(self.body)
        if found:
            return found.group(1)
        if self.body.lstrip().startswith("{"):
            try:
                return json.loads(self.body).get("pod")
            except (ValueError, AttributeError):
                return None
        return None

    @property
    def status_line(self) -> str:
        return f"{self.status} {self.reason}"


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to a node's IP while naming the host in SNI (curl --resolve does the same)."""

    def __init__(self, address: str, port: int, server_name: str, *, timeout: float):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE        # the lab's certificates are self-signed (curl --insecure)
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def send(lab: Lab | None, host: str, path: str = "/", *, scheme: str = "http", entry: Entry | None = None,
         method: str = "GET", timeout: float = 5.0, follow_https_redirect: bool = False) -> Reply:
    """One request through the controller; `follow_https_redirect` follows an ssl-redirect (308) once."""
    if scheme not in ("http", "https"):
        raise ValueError("scheme is http or https")
    if not path.startswith("/"):
        path = "/" + path
    entry = entry or Entry.of(lab)
    port = entry.http_port if scheme == "http" else entry.https_port
    if port is None:
        raise LabError(_("the controller's Service has no https NodePort"))
    started = time.monotonic()
    if scheme == "https":
        conn: http.client.HTTPConnection = _SNIConnection(entry.node_ip, port, host, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(entry.node_ip, port, timeout=timeout)
    try:
        conn.request(method, path, headers={"Host": host, "User-Agent": "ingresslab-exercises",
                                            "Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        reply = Reply(scheme, host, path, response.status, response.reason, body,
                      {k.lower(): v for k, v in response.getheaders()}, round(time.monotonic() - started, 4),
                      f"{entry.node_ip}:{port}")
    except (OSError, http.client.HTTPException, socket.timeout) as err:
        reply = Reply(scheme, host, path, 0, _("no answer ({error})").format(error=f"{type(err).__name__}: {err}"), "",
                      seconds=round(time.monotonic() - started, 4), entry=f"{entry.node_ip}:{port}")
    finally:
        conn.close()
    location = reply.headers.get("location", "")
    if follow_https_redirect and scheme == "http" and reply.status in (301, 302, 307, 308) \
            and location.startswith("https://"):
        return send(lab, host, path, scheme="https", entry=entry, method=method, timeout=timeout)
    return reply
