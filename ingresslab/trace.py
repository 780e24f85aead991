"""Follow one request across its hops, from the components' own logs — nothing is guessed, everything is joined.

`send()` sends ONE real request the way `curl --resolve cafe.example.com:<port>:<node ip>` does: a TCP connection
to a node's address at the Ingress controller's NodePort, the Host header (and, for HTTPS, the SNI name) set to the
host, and a fresh 32-hex `X-Request-ID`. `trace()` then finds that request in the logs each component keeps:

    client ─▶ kube-proxy (node:NodePort) ─▶ nginx (controller pod) ─▶ [kube-proxy (ClusterIP)] ─▶ app pod
              logs/kube-proxy.log            nginx's access.log         logs/kube-proxy.log        the pod's log

Each arrow is a TCP connection, and each log names both ends of the connection it saw, so one hop is joined to
the next by an *equal address*, not by timing:

1. kube-proxy logs every forwarded connection as a pair of 4-tuples: `client → frontend`, then
   `upstream_local → backend`. The record whose `client` is our socket's own local address (and `frontend` the
   node:NodePort we dialled) is our connection.
2. kube-proxy opened a second connection from `upstream_local` to the controller pod (`backend`). nginx logs the
   peer of each request as `$remote_addr:$remote_port`: the access-log line whose peer equals `upstream_local`,
   and whose `req_id` is our X-Request-ID, is our request in nginx.
3. nginx logs where it sent the request (`upstream_addr`) and forwards our id as `X-Request-ID`. The app pod logs
   `rid=<id>` and the TCP `peer=` it saw: that line, in the log of the pod at `upstream_addr`, is the last hop.
4. With the annotation `nginx.ingress.kubernetes.io/service-upstream: "true"`, `upstream_addr` is the Service's
   ClusterIP, not a pod, so kube-proxy sits between nginx and the pod. The pod line with our `rid` names its
   `peer`, which is that kube-proxy record's `upstream_local`; the record's `frontend` is nginx's `upstream_addr`.
   (nginx keeps upstream connections alive, so this record may be older than the request: it is the connection
   the request travelled on, opened for an earlier one, and that hop's time is then unknown.)

Logs are written by other processes a few milliseconds after the answer reaches us, so every lookup polls
briefly. Times: kube-proxy records carry milliseconds; nginx's access log carries them when its format has `$msec`
(otherwise the nginx hop takes the moment kube-proxy saw nginx accept the connection); pod log lines carry them
when the API serves `kubectl logs --timestamps` (otherwise that hop's time is unknown, `None`).

Neighbours: `lab.Lab` (addresses, the API, the home whose logs are read), `cluster.node.proxy.forwarder.ConnectionRecord` (the
kube-proxy log format), `ingress.render.LOG_FORMAT` (the access-log format, parsed from its own definition);
`viz.request_path` draws a `Trace`; widgets and notebooks above show `hop_table()`.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import re
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, TypeVar

import kubernetes

from .cluster.node.proxy.forwarder import ConnectionRecord
from .ingress.render import LOG_FORMAT
from .i18n import _
from .lab import Lab, LabError

__all__ = ["Hop", "HopTiming", "Response", "Trace", "TraceError", "forwarded_from", "hop_table", "send", "trace"]

POLL_SECONDS = 3.0
_RID = re.compile(r"[0-9a-f]{32}")
_T = TypeVar("_T")


class TraceError(LabError):
    """A hop could not be found in its log; the message says which log and what was looked for."""


@dataclass(frozen=True)
class Response:
    """What `send()` got back, and the two addresses of the connection it used."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: str
    request_id: str           # the X-Request-ID we sent
    host: str
    path: str
    scheme: str
    node: str                 # the node whose address we dialled
    client_addr: str          # our socket's local ip:port — what kube-proxy logs as `client`
    server_addr: str          # node ip:NodePort — what kube-proxy logs as `frontend`
    started: float            # time.time() before connecting
    finished: float           # time.time() when the body was read

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def pod(self) -> str | None:
        """`Server name:` in the hello app's answer: the pod that answered."""
        found = re.search(r"^Server name: (\S+)", self.body, re.M)
        return found.group(1) if found else None

    @property
    def server_address(self) -> str | None:
        found = re.search(r"^Server address: (\S+)", self.body, re.M)
        return found.group(1) if found else None


@dataclass(frozen=True)
class Hop:
    """One connection arriving at one component: who it came `from_addr`, the address it reached (`to_addr`).

    `name` is where the component ran (a node, a Service port, a pod as `namespace/name`); `at` is when the component
    logged it (seconds since the epoch), None when its log does not say to the millisecond."""

    component: str            # "kube-proxy", "nginx" or "pod"
    name: str
    from_addr: str
    to_addr: str
    at: float | None
    detail: str


@dataclass(frozen=True)
class HopTiming:
    """When hop `hop` saw the request (`at_ms` after the client started) and its own share (`own_ms`: since hop
    `since_hop` saw it, 0 = the client); None where a log does not say to the millisecond."""

    hop: int
    at_ms: float | None
    own_ms: float | None
    since_hop: int


@dataclass(frozen=True)
class Trace:
    request_id: str
    hops: tuple[Hop, ...]
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str
    pod: str | None           # the pod that answered (its name), None when nginx answered itself
    started: float | None     # when the client began (None when traced from a request id alone)
    request: str              # the request line as nginx logged it
    host: str
    finished: float | None = None   # when the client had read the answer (None when traced from an id alone)

    @property
    def total_ms(self) -> float | None:
        """Client started → answer read, in ms (None when traced from a request id alone)."""
        if self.started is None or self.finished is None:
            return None
        return round((self.finished - self.started) * 1000, 1)

    def hop_timings(self) -> tuple["HopTiming", ...]:
        """Each hop's own time (previous component → this one) and its time since the client started.

        The logs say when each component saw the request; a hop's own time is the difference to the previous
        component that says so (the client's start for the first). When a log has no time, that hop's own time is
        unknown, and the next known one spans both (`since_hop` says from which hop it counts; 0 = the client)."""
        start = self.started if self.started is not None else next((h.at for h in self.hops if h.at), None)
        # traced from an id alone, the client's start is unknown: so is the first hop's own time
        out, previous, previous_hop = [], self.started, 0
        for number, hop in enumerate(self.hops, 1):
            if hop.at is None or start is None:
                out.append(HopTiming(number, None, None, previous_hop))
                continue
            # Logs keep milliseconds: a hop may seem to see the request before the previous one did. It cannot,
            # so it saw it at the same moment (0 ms), and the own times still add up to the time since the start.
            at = hop.at if previous is None else max(hop.at, previous)
            own = None if previous is None else round((at - previous) * 1000, 1)
            out.append(HopTiming(number, round((at - start) * 1000, 1), own, previous_hop))
            previous, previous_hop = at, number
        return tuple(out)

    @property
    def service_upstream(self) -> bool:
        """True when the request crossed kube-proxy a second time, to a ClusterIP (`service-upstream`)."""
        return sum(h.component == "kube-proxy" for h in self.hops) > 1

    @property
    def summary(self) -> str:
        method, rest = self.request.partition(" ")[::2]
        uri = rest.rpartition(" ")[0] or rest
        values = {"request": f"{method} {self.host}{uri}", "status": self.status, "pod": self.pod,
                  "request_id": self.request_id}
        if self.pod:
            return _("{request} → {status} from {pod}  (X-Request-ID {request_id})").format(**values)
        return _("{request} → {status} from nginx itself  (X-Request-ID {request_id})").format(**values)


def _addr(pair) -> str:
    return f"{pair[0]}:{pair[1]}"


# --- sending ----------------------------------------------------------------------------------------------------

def send(lab: Lab, host: str, path: str = "/", *, scheme: str = "http", node: str | None = None,
         insecure: bool = True, ca_file: str | None = None, method: str = "GET", timeout: float = 10.0,
         gateway: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """One real request through `node` (a name or IP; the first node by default) at the controller's NodePort —
    or, with `gateway="ns/name"` (or a name in default), at that Gateway's NodePort for listener port 80 (http) or
    443 (https): its own nginx is then the middle hop. `headers` are sent as well (e.g. for header matches).

    Like `curl --resolve host:port:node_ip scheme://host:port/path` (with `--insecure` unless `insecure=False` or a
    `ca_file` is given): the `Host` header is `host:port`, HTTPS sends `host` as SNI. A new connection each time,
    closed after the answer, so kube-proxy logs exactly one record for it."""
    if scheme not in ("http", "https"):
        raise ValueError('scheme must be "http" or "https"')
    if not path.startswith("/"):
        raise ValueError(f"the path must start with '/': {path!r}")
    nodes = lab.status().get("nodes") or []
    chosen = next((n for n in nodes if node in (None, n.get("name"), n.get("ip"))), None)
    if chosen is None:
        raise LabError(_("no node called {node}; the nodes are {nodes}").format(
            node=repr(node), nodes=", ".join(n["name"] for n in nodes) or _("none")))
    if gateway is not None:   # [gateway] the Gateway's own Service (label gateway.networking.k8s.io/gateway-name)
        port = lab.gateway.node_ports(gateway).get(443 if scheme == "https" else 80)
        refused = _("nothing listens on {node} {address}: Gateway {gateway}'s Service has no ready endpoint (is the "
                    "controller pod running and ready?)")
        if not port:
            raise LabError(_("Gateway {gateway} has no NodePort for listener port {port} (is it Programmed? kubectl "
                             "get gateway)").format(gateway=gateway, port=443 if scheme == "https" else 80))
    else:
        port = (lab.ingress_node_ports() or {}).get(f"{scheme}_nodeport")
        refused = _("nothing listens on {node} {address}: the ingress-nginx Service has no ready endpoint (is the "
                    "controller pod running and ready?)")
        if not port:
            raise LabError(_("the Ingress controller's Service ingress-nginx/ingress-nginx has no NodePort for "
                             "{scheme}").format(scheme=scheme))
    request_id = secrets.token_hex(16)
    started = time.time()
    with contextlib.ExitStack() as stack:
        try:
            sock = stack.enter_context(socket.create_connection((chosen["ip"], port), timeout=timeout))
        except ConnectionRefusedError:
            raise LabError(refused.format(node=chosen["name"], address=f"{chosen['ip']}:{port}",
                                          gateway=gateway)) from None
        client = _addr(sock.getsockname())
        if scheme == "https":
            context = ssl.create_default_context(cafile=ca_file)
            if insecure and not ca_file:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = stack.enter_context(context.wrap_socket(sock, server_hostname=host))
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.sock = sock          # our socket: http.client sends `Host: host:port` over it, like curl --resolve
        stack.callback(conn.close)
        conn.request(method, path, headers={**(headers or {}), "X-Request-ID": request_id,
                                            "User-Agent": "ingresslab-trace", "Connection": "close"})
        answer = conn.getresponse()
        body = answer.read().decode("utf-8", errors="replace")
        return Response(answer.status, answer.reason, tuple(answer.getheaders()), body, request_id, host, path,
                        scheme, chosen["name"], client, f"{chosen['ip']}:{port}", started, time.time())


# --- reading the logs -------------------------------------------------------------------------------------------

def _access_log_pattern(fmt: str) -> re.Pattern:
    """The nginx `log_format` turned into a regex with one named group per `$variable`."""
    shapes = {"remote_addr": r"\S+", "remote_port": r"\d+", "status": r"\d{3}", "req_id": r"[0-9a-fA-F]+",
              "msec": r"\d+\.\d+", "time_local": r"[^\]]*", "request_time": r"[\d.]+"}
    parts, pos, seen = [], 0, set()
    for m in re.finditer(r"\$([A-Za-z0-9_]+)", fmt):
        parts.append(re.escape(fmt[pos:m.start()]))
        name = m.group(1)
        shape = shapes.get(name, ".*?")
        parts.append(f"({shape})" if name in seen else f"(?P<{name}>{shape})")
        seen.add(name)
        pos = m.end()
    return re.compile("^" + "".join(parts) + re.escape(fmt[pos:]) + "$")


ACCESS_LINE = _access_log_pattern(LOG_FORMAT)


def _read_tail(path: Path, limit: int = 4 << 20) -> list[str]:
    """The file's last complete lines (at most `limit` bytes): a line still being written is left for the next poll."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").split("\n")
    return lines[1:-1] if size > limit else lines[:-1]


def _connections(home: Path) -> list[ConnectionRecord]:
    out = []
    for line in _read_tail(home / "logs" / "kube-proxy.log"):
        try:
            d = json.loads(line)
            out.append(ConnectionRecord(d["time"], d["label"], tuple(d["client"]), tuple(d["frontend"]),
                                        tuple(d["upstream_local"]), tuple(d["backend"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def forwarded_from(lab: Lab, client_ip: str, *, timeout: float = POLL_SECONDS) -> ConnectionRecord:
    """The newest connection kube-proxy forwarded for `client_ip` (e.g. a pod that called a Service by name): who
    connected, to which Service address, and which pod got it. Waits up to `timeout` for the record."""
    if lab.home is None:
        raise TraceError(_("forwarded_from() reads the embedded lab's kube-proxy log"))
    def newest() -> ConnectionRecord | None:
        found = [r for r in _connections(lab.home) if r.client[0] == client_ip]
        return found[-1] if found else None
    return _poll(newest, timeout, _("kube-proxy forwarded no connection from {client}").format(client=client_ip))


def _access_lines(home: Path) -> list[tuple[str, dict]]:
    """(controller pod dir, fields) of every line of every controller's access log that has our format."""
    out = []
    for log in sorted((home / "nginx").glob("*/**/access.log")):
        pod_dir = log.relative_to(home / "nginx").parts[0]      # <namespace>_<controller pod>
        for line in _read_tail(log):
            m = ACCESS_LINE.match(line)
            if m:
                out.append((pod_dir, m.groupdict()))
    return out


def _nginx_time(fields: dict) -> float | None:
    """When nginx began reading the request: `$msec` (log time, ms) minus `$request_time`, if the format has it."""
    if fields.get("msec"):
        return float(fields["msec"]) - float(fields.get("request_time") or 0)
    return None


def _last_address(upstream_addr: str) -> str | None:
    """`$upstream_addr` lists every try (`a, b`, or `a : b` across internal redirects); the last one answered."""
    tries = [a for a in re.split(r",\s*|\s+:\s+", upstream_addr or "") if a and a != "-"]
    return tries[-1] if tries else None


def _timestamped(line: str) -> tuple[float | None, str]:
    """`kubectl logs --timestamps` puts an RFC 3339 time before each line; without it the time is unknown."""
    head, _, rest = line.partition(" ")
    if head[:4].isdigit() and "T" in head:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(head.replace("Z", "+00:00")).timestamp(), rest
    return None, line


def _poll(find: Callable[[], _T | None], timeout: float, missing: str) -> _T:
    """Call `find` until it returns something: the line we want may reach its file a few ms after our answer did."""
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TraceError(_("{missing} (looked for {seconds} s)").format(missing=missing, seconds=f"{timeout:.1f}"))
        time.sleep(0.02)


def _peer(fields: dict) -> str:
    return f"{fields['remote_addr']}:{fields['remote_port']}"


class _Logs:
    """The lab's logs and the API's view of pods and Services, each lookup polled until found or `timeout`."""

    def __init__(self, lab: Lab, timeout: float):
        self.home, self.timeout = Path(lab.home), timeout
        self.kube_proxy_log = self.home / "logs" / "kube-proxy.log"
        self.core = kubernetes.client.CoreV1Api(lab.api)
        self.pods = {p.status.pod_ip: p for p in self.core.list_pod_for_all_namespaces().items if p.status.pod_ip}
        self.cluster_ips = {s.spec.cluster_ip for s in self.core.list_service_for_all_namespaces().items}
        self.nodes = {n.get("ip"): n.get("name") for n in lab.status().get("nodes") or []}
        self.gateways = lab.gateway.nginx_addresses()   # [gateway] a Gateway's nginx is no pod: name it

    def connection(self, matches: Callable[[ConnectionRecord], bool], missing: str, **values) -> ConnectionRecord:
        """The newest kube-proxy record that `matches` (ephemeral ports are reused, the newest is ours); else a
        TraceError of `missing` (a sentence with `{log}` and `values`)."""
        return _poll(lambda: next((r for r in reversed(_connections(self.home)) if matches(r)), None), self.timeout,
                     missing.format(log=self.kube_proxy_log, **values))

    def access_line(self, matches: Callable[[dict], bool], missing: str, **values) -> tuple[str, dict]:
        """(controller pod dir, fields) of the newest nginx access-log line that `matches`; else a TraceError of
        `missing` (a sentence with `{logs}` and `values`)."""
        return _poll(lambda: next(((d, f) for d, f in reversed(_access_lines(self.home)) if matches(f)), None),
                     self.timeout, missing.format(logs=f"{self.home / 'nginx'}/*/…/access.log", **values))

    def pod_name(self, address: str) -> str:
        if address.rpartition(":")[0] in self.gateways:
            return f"Gateway {self.gateways[address.rpartition(':')[0]]}"
        pod = self.pods.get(address.rpartition(":")[0])
        return f"{pod.metadata.namespace}/{pod.metadata.name}" if pod else address

    def pod_line(self, address: str, request_id: str) -> tuple[float | None, str, dict] | None:
        """(time, line, {rid, peer}) of the line with `rid=<request_id>` in the log of the pod at `address`, read
        as `kubectl logs --timestamps` reads it; None if that pod has not logged it (yet)."""
        pod = self.pods.get(address.rpartition(":")[0])
        if pod is None:
            return None
        text = self.core.read_namespaced_pod_log(pod.metadata.name, pod.metadata.namespace, timestamps=True,
                                                 tail_lines=2000)
        for raw in reversed(text.splitlines()):
            if f"rid={request_id}" in raw:
                at, line = _timestamped(raw)
                return at, line, dict(re.findall(r"\b(rid|peer)=(\S+)", line))
        return None


# --- joining ----------------------------------------------------------------------------------------------------

def trace(lab: Lab, response_or_request_id: Response | str, *, timeout: float = POLL_SECONDS) -> Trace:
    """Join the hops of one request (a `Response` from `send()`, or just its X-Request-ID) from the logs.

    Each join is an equality of addresses (the module docstring says why each holds); with only the id, the
    first two joins run the other way round: nginx's line by `req_id`, then the kube-proxy record ending at its peer.
    """
    if lab.home is None:
        raise TraceError(_("trace() reads the embedded lab's own logs; on another cluster, read the controller's "
                           "and the pods' logs with kubectl logs"))
    response = response_or_request_id if isinstance(response_or_request_id, Response) else None
    request_id = response.request_id if response else str(response_or_request_id).strip().lower()
    if not _RID.fullmatch(request_id):
        raise ValueError(_("a request id is 32 hex digits, not {request_id}").format(request_id=repr(request_id)))
    logs = _Logs(lab, timeout)
    if response is not None:
        # Join 1: our socket's local address is kube-proxy's `client`, the node:NodePort we dialled its `frontend`.
        entry = logs.connection(lambda r: _addr(r.client) == response.client_addr
                                and _addr(r.frontend) == response.server_addr,
                                _("kube-proxy logged no connection from {source} to {target} in {log}"),
                                source=response.client_addr, target=response.server_addr)
        # Join 2: kube-proxy's `upstream_local` is the peer nginx logs; the line must also carry our id.
        pod_dir, nginx = logs.access_line(lambda f: _peer(f) == _addr(entry.upstream_local)
                                          and f["req_id"] == request_id,
                                          _("no nginx access-log line from {source} with req_id={request_id} in "
                                            "{logs}"), source=_addr(entry.upstream_local), request_id=request_id)
    else:
        pod_dir, nginx = logs.access_line(lambda f: f["req_id"] == request_id,
                                          _("no nginx access-log line with req_id={request_id} in {logs}"),
                                          request_id=request_id)
        entry = logs.connection(lambda r: _addr(r.upstream_local) == _peer(nginx),
                                _("kube-proxy logged no connection from {source} in {log}"), source=_peer(nginx))
    hops = [Hop("kube-proxy", logs.nodes.get(entry.frontend[0], entry.frontend[0]), _addr(entry.client),
                _addr(entry.frontend), entry.time, f"NodePort {entry.frontend[1]} of {entry.label}; forwarded from "
                f"{_addr(entry.upstream_local)} to {_addr(entry.backend)}"),
            Hop("nginx", logs.pod_name(_addr(entry.backend)), _addr(entry.upstream_local), _addr(entry.backend),
                _nginx_time(nginx) or entry.time,
                f"host={nginx['host']} uri={nginx['uri']} upstream={nginx['proxy_upstream_name']} "
                f"upstream_addr={nginx['upstream_addr']} status={nginx['status']} "
                f"request_time={nginx['request_time']}s (access log of {pod_dir})")]
    upstream = _last_address(nginx["upstream_addr"])
    if upstream is None:
        pass        # nginx answered by itself (no rule matched, a redirect, …): the path ends there
    elif upstream.rpartition(":")[0] in logs.cluster_ips:
        hops += _via_cluster_ip(logs, upstream, request_id, entry, nginx)
    else:
        # Join 3: nginx sent the request straight to an endpoint; that pod's log has our rid and nginx's address.
        at, line, fields = _poll(lambda: logs.pod_line(upstream, request_id), timeout,
                                 _("the pod at {address} ({pod}) logged no rid={request_id}").format(
                                     address=upstream, pod=logs.pod_name(upstream), request_id=request_id))
        hops.append(Hop("pod", logs.pod_name(upstream), fields.get("peer", "?"), upstream,
                        _pod_time(at, nginx), line))
    answered = hops[-1].name.rpartition("/")[2] if hops[-1].component == "pod" else None
    return Trace(request_id, tuple(hops), response.status if response else int(nginx["status"]),
                 response.headers if response else (), response.body if response else "", answered,
                 response.started if response else None, nginx["request"], nginx["host"],
                 response.finished if response else None)


def _pod_time(at: float | None, nginx: dict) -> float | None:
    """A pod logs a request after answering it, sometimes after the answer has reached the client; nginx logged
    the answer at `$msec`, so the pod had the request by then: the earlier of the two is when it had it."""
    if at is None or not nginx.get("msec"):
        return at
    return min(at, float(nginx["msec"]))


def _via_cluster_ip(logs: _Logs, upstream: str, request_id: str, entry: ConnectionRecord,
                    nginx: dict) -> list[Hop]:
    """Join 4 (service-upstream): nginx's `upstream_addr` is a ClusterIP, and only the pod side says which pod
    kube-proxy chose. Look for our rid in the pods kube-proxy has sent this ClusterIP's connections to; the line's
    `peer` is the `upstream_local` of the record that carried it."""
    def find():
        records = [r for r in reversed(_connections(logs.home)) if _addr(r.frontend) == upstream]
        for backend in dict.fromkeys(_addr(r.backend) for r in records):
            found = logs.pod_line(backend, request_id)
            record = found and next((r for r in records if _addr(r.upstream_local) == found[2].get("peer")
                                     and _addr(r.backend) == backend), None)
            if record:
                return record, found
        return None
    missing = _("no pod behind {address} logged rid={request_id} on a connection kube-proxy forwarded from "
                "{address} ({log})").format(address=upstream, request_id=request_id, log=logs.kube_proxy_log)
    record, (at, line, fields) = _poll(find, logs.timeout, missing)
    # A kept-alive connection was logged when it opened, for an earlier request: this request's time there is unknown.
    reused = (f" (a kept-alive connection, opened {entry.time - record.time:.1f} s before this request)"
              if record.time < entry.time else "")
    return [Hop("kube-proxy", record.label, _addr(record.client), _addr(record.frontend),
                None if reused else record.time, f"ClusterIP of {record.label}; forwarded from "
                f"{_addr(record.upstream_local)} to {_addr(record.backend)}{reused}"),
            Hop("pod", logs.pod_name(_addr(record.backend)), fields["peer"], _addr(record.backend),
                _pod_time(at, nginx), line)]


def hop_table(trace: Trace) -> list[dict]:
    """One row per hop, for a plain table (a notebook shows a list of dicts without pandas).

    `hop_ms` is that hop's own time (from the previous component seeing the request to this one seeing it; see
    `Trace.hop_timings`), `at_ms` the time since the client started (cumulative); None where a log has no time."""
    timings = trace.hop_timings()
    return [{"hop": number, "component": hop.component, "where": hop.name, "from": hop.from_addr,
             "to": hop.to_addr, "hop_ms": t.own_ms, "at_ms": t.at_ms, "detail": hop.detail}
            for (number, hop), t in zip(enumerate(trace.hops, 1), timings)]
