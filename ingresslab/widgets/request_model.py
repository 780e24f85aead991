"""The request widget's model: one real request through the Ingress controller, who answered it, and its hops.

`RequestForm(host, path, scheme).send(lab)` calls `ingresslab.trace.send` — a node's address at the controller's
NodePort, the host in the Host header (and SNI for https), exactly as `curl --resolve` does in the article — and
returns a `RequestResult`: status, body, and the pod that answered, found by name in the cluster (namespace, node,
IP). With `hops=True` it also follows the request through the components' logs (`trace.trace`) and keeps the hop
table: each hop's own time and the time since the request was sent, in two columns named so, and the total. The
controller's Warnings on the Ingresses that name the host (`Lab.warnings_for`: no endpoints, a missing Secret, an
overruled annotation…) come with the result, in plain words, so a surprising answer explains itself.
No widget import. Neighbours: `request.py` (the GUI), `ingresslab.trace` (sending and tracing).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import kubernetes

from ingresslab import trace as tracing
from ingresslab.events import LabWarning, Warnings
from ingresslab.i18n import N_, _
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
    total_ms: float | None = None                 # of the traced request, client sent → answer read
    warnings: tuple[LabWarning, ...] = ()         # the controller's, on the Ingresses that name this host

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
            if self.pod.node:
                return _("pod {namespace}/{name} ({ip} on {node})").format(
                    namespace=self.pod.namespace, name=self.pod.name, ip=self.pod.ip, node=self.pod.node)
            return _("pod {namespace}/{name} ({ip})").format(namespace=self.pod.namespace, name=self.pod.name,
                                                            ip=self.pod.ip)
        if self.response.pod:
            return _("pod {name}").format(name=self.response.pod)
        return _("nginx itself (no rule sent it to a pod)")

    def text(self) -> str:
        r = self.response
        lines = [_("GET {url} via {node} {address} → {status} in {ms} ms").format(
                     url=self.url, node=r.node, address=r.server_addr, status=self.status_line,
                     ms=f"{self.milliseconds:.0f}"),
                 _("answered by {who}").format(who=self.answered_by), r.body.rstrip()]
        lines += ["  " + _("hop {hop}: {component} {where} {source} → {target}  this hop {hop_ms}, since sent "
                           "{at_ms}").format(hop=h["hop"], component=h["component"], where=h["where"],
                                             source=h["from"], target=h["to"], hop_ms=_ms(h["hop_ms"]),
                                             at_ms=_ms(h["at_ms"])) for h in self.hops]
        if self.hops:
            lines.append("  " + _("total {ms} (sent → answer read)").format(ms=_ms(self.total_ms)))
        if self.hops_error:
            lines.append("  " + _("(hops not traced: {error})").format(error=self.hops_error))
        lines += [f"⚠ {w.reason}: {w.plain}" for w in self.warnings]
        return "\n".join(lines)

    def html(self) -> str:
        r = self.response
        colour = "#2e7d32" if 200 <= r.status < 300 else ("#b26a00" if 300 <= r.status < 500 else "#c62828")
        via = _("via {node} {address} (node:NodePort), {ms} ms").format(
            node=html.escape(r.node), address=html.escape(r.server_addr), ms=f"{self.milliseconds:.0f}")
        answered = _("answered by <b>{who}</b>").format(who=html.escape(self.answered_by))
        out = (f'<div><b style="color:{colour}">{html.escape(self.status_line)}</b> '
               f"<code>GET {html.escape(self.url)}</code> <small>{via}</small></div>"
               f"<div>{answered}</div>"
               f'<pre style="background:#f7f7f7;padding:6px;max-height:16em;overflow:auto">'
               f"{html.escape(r.body.rstrip())}</pre>")
        out += Warnings(self.warnings).html()
        if self.hops:
            rows = "".join(f"<tr><td>{h['hop']}</td><td>{html.escape(h['component'])}</td>"
                           f"<td>{html.escape(str(h['where']))}</td><td><code>{html.escape(h['from'])}</code> → "
                           f"<code>{html.escape(h['to'])}</code></td><td style='text-align:right'>{_ms(h['hop_ms'])}"
                           f"</td><td style='text-align:right;color:#666'>{_ms(h['at_ms'])}</td></tr>"
                           for h in self.hops)
            columns = "".join(f"<th>{html.escape(_(c))}</th>" for c in _HOP_COLUMNS)
            total = _("<b>total</b> (sent → answer read)")
            out += (f"<table style='font-size:0.9em'><tr>{columns}</tr>"
                    f"{rows}<tr><td></td><td colspan='3'>{total}</td>"
                    f"<td style='text-align:right'><b>{_ms(self.total_ms)}</b></td><td></td></tr></table>"
                    "<small style='color:#666'>"
                    + html.escape(_("this hop: from the previous component seeing the request to this one; since "
                                    "sent: from the moment the request left (these add up, the first column does "
                                    "not need to)."))
                    + "</small>")
        if self.hops_error:
            not_traced = html.escape(_("hops not traced: {error}").format(error=self.hops_error))
            out += f'<div style="color:#b26a00"><small>{not_traced}</small></div>'
        return out


_HOP_COLUMNS = (N_("hop"), N_("component"), N_("where"), N_("connection"), N_("this hop"), N_("since sent"))


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} ms"


def host_warnings(lab: Lab, host: str) -> tuple[LabWarning, ...]:
    """The controller's Warnings on every Ingress with a rule for `host` (exactly, or by a `*.` wildcard)."""
    host = host.lower().rstrip(".")
    out: list[LabWarning] = []
    for ing in kubernetes.client.NetworkingV1Api(lab.api).list_ingress_for_all_namespaces().items:
        hosts = {(r.host or "").lower() for r in (ing.spec.rules or [])}
        if host in hosts or any(h.startswith("*.") and host.partition(".")[2] == h[2:] for h in hosts):
            out += lab.warnings_for("Ingress", ing.metadata.name, namespace=ing.metadata.namespace)
    return tuple(out)


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
        error, total = "", None
        if hops:
            try:
                traced = tracing.trace(lab, response)
                table, total = tuple(tracing.hop_table(traced)), traced.total_ms
            except tracing.TraceError as err:
                error = str(err)
        self.last = RequestResult(response, find_pod(lab, response.pod) if response.pod else None, table, error,
                                  total, host_warnings(lab, response.host))
        return self.last
