"""The kubelet's prober: startup, readiness and liveness probes, run as the kubelet runs them.

One worker per container and probe kind. It waits `initialDelaySeconds` after the container started, then probes
every `periodSeconds`, each attempt bounded by `timeoutSeconds`; `successThreshold` consecutive successes make the
result success, `failureThreshold` consecutive failures make it failure. Before its first result a readiness
worker counts as failure (the container is not ready yet) and a liveness worker as success. Every failed attempt
is reported (the kubelet records a Warning `Unhealthy` event: `Readiness probe failed: <output>`); every change of
result is handed to the kubelet, which flips the container's `ready` (and so the pod's Ready condition and the
endpoint's `ready`) or, for liveness, kills and restarts the container.

Handlers, as the kubelet's probers word their output:

    httpGet    GET from the node's address (User-Agent `kube-probe/<major.minor>`); 200–399 succeeds, else
               `HTTP probe failed with statuscode: 503`; `Get "http://ip:port/path": dial tcp ip:port: connect:
               connection refused`; a timeout is `context deadline exceeded (Client.Timeout exceeded while awaiting
               headers)`
    tcpSocket  connect only: `dial tcp ip:port: connect: connection refused` / `i/o timeout`
    exec       through the runner the kubelet was given (`ExecRunner`: argv → exit code and output); the built-in
               one knows only `true`, `false` and `sh -c "exit N"`, because pods have no shell yet

Ports are the container's (numbers, or names of its container ports); the prober connects to the port really
bound (`network.bind_port`). Neighbours: `kubelet.py` starts and stops workers and owns what the results do.
"""
from __future__ import annotations

import asyncio
import shlex
import ssl
from dataclasses import dataclass
from typing import Awaitable, Callable

from ingresslab.cluster.node.network import bind_port

KUBE_PROBE_AGENT = "kube-probe/1.37"
MAX_BODY_READ = 10 * 1024

# (namespace, pod, container, argv) → (exit code, combined output)
ExecRunner = Callable[[str, str, str, list[str]], Awaitable[tuple[int, str]]]
# (container, kind "Readiness"/"Liveness", succeeded) when the result changes
ResultFn = Callable[[str, str, bool], None]
# (container, message) for every failed attempt: "Readiness probe failed: …"
FailureFn = Callable[[str, str], None]


@dataclass(frozen=True)
class ProbeSpec:
    kind: str                 # "Startup", "Readiness" or "Liveness"
    handler: dict
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, kind: str, probe: dict) -> "ProbeSpec":
        def num(field: str, default: int) -> int:
            value = probe.get(field)
            return int(value) if isinstance(value, int) and value > 0 else default
        return cls(kind, probe, float(probe.get("initialDelaySeconds") or 0), float(num("periodSeconds", 10)),
                   float(num("timeoutSeconds", 1)),
                   num("successThreshold", 1) if kind == "Readiness" else 1, num("failureThreshold", 3))


async def builtin_exec(namespace: str, pod: str, container: str, argv: list[str]) -> tuple[int, str]:
    """The few commands an exec probe can run before pods have a shell of their own."""
    if argv[:2] in (["sh", "-c"], ["/bin/sh", "-c"]) and len(argv) == 3:
        argv = shlex.split(argv[2])
    if argv in (["true"], ["/bin/true"]):
        return 0, ""
    if argv in (["false"], ["/bin/false"]):
        return 1, ""
    if len(argv) == 2 and argv[0] == "exit" and argv[1].isdigit():
        return int(argv[1]), ""
    name = argv[0] if argv else ""
    return 126, (f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{name}": '
                 f"executable file not found in $PATH: unknown")


def _container_port(port, container: dict) -> int | None:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    return None


async def _http_get(handler: dict, ip: str, port: int, source_ip: str | None, timeout: float) -> tuple[bool, str]:
    scheme = (handler.get("scheme") or "HTTP").upper()
    host = handler.get("host") or ip
    path = handler.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f'{scheme.lower()}://{host}:{port}{path}'
    headers = {"Host": f"{host}:{port}", "User-Agent": KUBE_PROBE_AGENT, "Accept": "*/*", "Connection": "close"}
    for h in handler.get("httpHeaders") or []:
        if h.get("name"):
            headers[h["name"]] = str(h.get("value", ""))
    context = None
    if scheme == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE      # the kubelet does not verify probe certificates either
    opened: list[asyncio.StreamWriter] = []

    async def exchange() -> tuple[bool, str] | int:
        try:
            reader, writer = await asyncio.open_connection(
                host, bind_port(port), ssl=context, local_addr=(source_ip, 0) if source_ip else None)
        except ConnectionRefusedError:
            return False, f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
        except OSError as exc:
            return False, f'Get "{url}": dial tcp {host}:{port}: {exc.strerror or exc}'
        opened.append(writer)
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(request.encode("latin-1", "replace"))
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode("latin-1").split()
        if len(parts) < 2 or not parts[1].isdigit():
            return False, f'Get "{url}": malformed HTTP response {status_line[:40]!r}'
        await reader.read(MAX_BODY_READ)
        return int(parts[1])

    try:
        answer = await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        return False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    except (OSError, ssl.SSLError) as exc:
        return False, f'Get "{url}": {exc}'
    finally:
        for writer in opened:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass
    if isinstance(answer, tuple):
        return answer
    code = answer
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


async def _tcp(handler: dict, ip: str, port: int, timeout: float) -> tuple[bool, str]:
    host = handler.get("host") or ip
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, bind_port(port)), timeout)
    except asyncio.TimeoutError:
        return False, f"dial tcp {host}:{port}: i/o timeout"
    except ConnectionRefusedError:
        return False, f"dial tcp {host}:{port}: connect: connection refused"
    except OSError as exc:
        return False, f"dial tcp {host}:{port}: {exc.strerror or exc}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True, ""


async def probe_once(spec: ProbeSpec, container: dict, *, pod_ip: str, node_ip: str | None, namespace: str,
                     pod: str, runner: ExecRunner = builtin_exec) -> tuple[bool, str]:
    """One attempt: (succeeded, what the kubelet would print after "<Kind> probe failed: ")."""
    handler = spec.handler
    if "httpGet" in handler or "tcpSocket" in handler:
        action = handler.get("httpGet") or handler.get("tcpSocket") or {}
        port = _container_port(action.get("port"), container)
        if port is None:
            return False, f"unable to find port {action.get('port')!r} in container {container.get('name')}"
        if "httpGet" in handler:
            return await _http_get(action, pod_ip, port, node_ip, spec.timeout)
        return await _tcp(action, pod_ip, port, spec.timeout)
    if "exec" in handler:
        argv = [str(a) for a in (handler["exec"] or {}).get("command") or []]
        try:
            code, output = await asyncio.wait_for(runner(namespace, pod, container.get("name", ""), argv),
                                                  spec.timeout)
        except asyncio.TimeoutError:
            return False, f"command {shlex.join(argv)!r} timed out"
        return code == 0, output.rstrip("\n") if code else ""
    return False, "probe has no handler (httpGet, tcpSocket, exec or grpc)"


class ProbeWorker:
    """One probe of one container, running until `stop()` (or, for liveness, until it reports failure)."""

    def __init__(self, spec: ProbeSpec, container: dict, *, pod_ip: str, node_ip: str | None, namespace: str,
                 pod: str, on_result: ResultFn, on_failure: FailureFn, runner: ExecRunner = builtin_exec):
        self.spec, self.container = spec, container
        self._where = dict(pod_ip=pod_ip, node_ip=node_ip, namespace=namespace, pod=pod, runner=runner)
        self._on_result, self._on_failure = on_result, on_failure
        self.result = spec.kind == "Liveness"    # before any attempt: not started, not ready, alive
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        name = self.container.get("name", "")
        successes = failures = 0
        await asyncio.sleep(self.spec.initial_delay)
        while True:
            ok, output = await probe_once(self.spec, self.container, **self._where)
            if ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self._on_failure(name, f"{self.spec.kind} probe failed: {output}")
            if ok and not self.result and successes >= self.spec.success_threshold:
                self.result = True
                self._on_result(name, self.spec.kind, True)
                if self.spec.kind == "Startup":
                    return       # started: the readiness and liveness workers take over
            elif not ok and failures >= self.spec.failure_threshold and (self.result or self.spec.kind == "Startup"):
                self.result = False
                self._on_result(name, self.spec.kind, False)
                if self.spec.kind in ("Liveness", "Startup"):
                    return       # the container is restarted; its new instance gets a new worker
            await asyncio.sleep(self.spec.period)

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def workers_for(container: dict, *, started: bool = False, **kw) -> list[ProbeWorker]:
    """Start the workers a container's spec asks for: its startup probe alone until it has succeeded (`started`),
    then the readiness and liveness probes."""
    startup = container.get("startupProbe")
    if isinstance(startup, dict) and startup and not started:
        return [ProbeWorker(ProbeSpec.of("Startup", startup), container, **kw)]
    out = []
    for kind, field in (("Readiness", "readinessProbe"), ("Liveness", "livenessProbe")):
        probe = container.get(field)
        if isinstance(probe, dict) and probe:
            out.append(ProbeWorker(ProbeSpec.of(kind, probe), container, **kw))
    return out
