"""The request widget's model: one real request through the Ingress controller, who answered it, and its hops.

`RequestForm(host, path, scheme).send(lab)` calls `ingresslab.trace.send` — a node's address at the controller's
NodePort, the host in the Host header (and SNI for https), exactly as `curl --resolve` does in the article — and
returns a `RequestResult`: status, body, and the pod that answered, found by name in the cluster (namespace, node,
IP). With `hops=True` it also follows the request through the components' logs (`trace.trace`) and keeps the hop
table. No widget import. Neighbours: `request.py` (the GUI), `ingresslab.trace` (sending and tracing).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import kubernetes

from ingresslab import trace as tracing
from ingresslab.lab import Lab


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    node: str | None
    ip: str | None
    app: str | None


@dataclass(frozen=True)
class RequestResult:
    response: tracing.Response
    pod: PodInfo | None
    hops: tuple[dict, ...] = ()
    hops_error: str = ""

    @property
    def url(self) -> str:
        r = self.response
        return f"{r.scheme}://{r.host}{r.path}"

    @property
    def status_line(self) -> str:
        return f"{self.response.status} {self.response.reason}"

    @property
    def milliseconds(self) -> float:
        return (self.response.finished - self.response.started) * 1000

    @property
    def answered_by(self) -> str:
        if self.pod is not None:
            where = f" on {self.pod.node}" if self.pod.node else ""
            return f"pod {self.pod.namespace}/{self.pod.name} ({self.pod.ip}{where})"
        if self.response.pod:
            return f"pod {self.response.pod}"
        return "nginx itself (no rule sent it to a pod)"

    def text(self) -> str:
        r = self.response
        lines = [f"GET {self.url} via {r.node} {r.server_addr} → {self.status_line} in {self.milliseconds:.0f} ms",
                 f"answered by {self.answered_by}", r.body.rstrip()]
        lines += [f"  hop {h['hop']}: {h['component']} {h['where']} {h['from']} → {h['to']}" for h in self.hops]
        if self.hops_error:
            lines.append(f"  (hops not traced: {self.hops_error})")
        return "\n".join(lines)

    def html(self) -> str:
        r = self.response
        colour = "#2e7d32" if 200 <= r.status < 300 else ("#b26a00" if 300 <= r.status < 500 else "#c62828")
        out = (f'<div><b style="color:{colour}">{html.escape(self.status_line)}</b> '
               f"<code>GET {html.escape(self.url)}</code> <small>via {html.escape(r.node)} "
               f"{html.escape(r.server_addr)} (node:NodePort), {self.milliseconds:.0f} ms</small></div>"
               f"<div>answered by <b>{html.escape(self.answered_by)}</b></div>"
               f'<pre style="background:#f7f7f7;padding:6px;max-height:16em;overflow:auto">'
               f"{html.escape(r.body.rstrip())}</pre>")
        if self.hops:
            rows = "".join(f"<tr><td>{h['hop']}</td><td>{html.escape(h['component'])}</td>"
                           f"<td>{html.escape(str(h['where']))}</td><td><code>{html.escape(h['from'])}</code> → "
                           f"<code>{html.escape(h['to'])}</code></td><td>{'' if h['ms'] is None else h['ms']}</td>"
                           f"</tr>" for h in self.hops)
            out += ("<table style='font-size:0.9em'><tr><th>hop</th><th>component</th><th>where</th>"
                    f"<th>connection</th><th>ms</th></tr>{rows}</table>")
        if self.hops_error:
            out += f'<div style="color:#b26a00"><small>hops not traced: {html.escape(self.hops_error)}</small></div>'
        return out


def find_pod(lab: Lab, name: str) -> PodInfo | None:
    core = kubernetes.client.CoreV1Api(lab.api)
    for pod in core.list_pod_for_all_namespaces().items:
        if pod.metadata.name == name:
            return PodInfo(name, pod.metadata.namespace, pod.spec.node_name, pod.status.pod_ip,
                           (pod.metadata.labels or {}).get("app"))
    return None


class RequestForm:
    """Host, path and scheme of the next request; `send(lab)` sends it."""

    def __init__(self, host: str = "www.mysite.com", path: str = "/", scheme: str = "http"):
        self.host, self.path, self.scheme = host, path, scheme
        self.last: RequestResult | None = None

    def send(self, lab: Lab, *, hops: bool = False, timeout: float = 5.0) -> RequestResult:
        if self.scheme not in ("http", "https"):
            raise ValueError("scheme is http or https")
        path = self.path.strip() or "/"
        response = tracing.send(lab, self.host.strip(), path if path.startswith("/") else "/" + path,
                                scheme=self.scheme, timeout=timeout)
        table: tuple[dict, ...] = ()
        error = ""
        if hops:
            try:
                table = tuple(tracing.hop_table(tracing.trace(lab, response)))
            except tracing.TraceError as err:
                error = str(err)
        self.last = RequestResult(response, find_pod(lab, response.pod) if response.pod else None, table, error)
        return self.last
