"""The replicas slider's model: scale a Deployment and read the endpoints its Services follow with.

`ReplicasModel(lab, "site", namespace=…)` scales through the API (`spec.replicas`, as `kubectl scale` does) and
reads the EndpointSlices of every Service whose selector picks the Deployment's pods — the lists kube-proxy and
the Ingress controller route to. `snapshot()` is one reading; `wait_until_settled(n)` reads until the slices hold
`n` ready addresses, so a learner (or a test) sees the endpoints follow the replicas. No widget import.
Neighbours: `replicas.py` (the GUI).
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass

import kubernetes

from ingresslab.i18n import N_, _
from ingresslab.lab import Lab, LabError


@dataclass(frozen=True)
class Endpoint:
    service: str
    address: str
    port: int | None
    ready: bool
    pod: str | None
    node: str | None


_COLUMNS = (N_("Service"), N_("endpoint"), N_("state"), N_("pod"), N_("node"))


@dataclass(frozen=True)
class Snapshot:
    deployment: str
    desired: int
    endpoints: tuple[Endpoint, ...]
    services: tuple[str, ...]

    def ready(self, service: str | None = None) -> int:
        return sum(1 for e in self.endpoints if e.ready and service in (None, e.service))

    @property
    def settled(self) -> bool:
        """Every Service of the Deployment lists exactly `desired` ready endpoints."""
        return all(self.ready(s) == self.desired and
                   sum(1 for e in self.endpoints if e.service == s) == self.desired for s in self.services)

    def text(self) -> str:
        ready = ", ".join(_("{service}: {count} ready endpoints").format(service=s, count=self.ready(s))
                          for s in self.services) or _("no Service selects it")
        head = _("Deployment {deployment}: {desired} replicas wanted; {ready}").format(
            deployment=self.deployment, desired=self.desired, ready=ready)
        ready_word, not_ready_word = _("ready"), _("not ready")
        rows = [f"  {e.service}  {e.address}:{e.port}  {ready_word if e.ready else not_ready_word}  {e.pod or ''}"
                f"  {e.node or ''}" for e in self.endpoints]
        return "\n".join([head, *rows])

    def html(self) -> str:
        state = html.escape(_("settled") if self.settled else _("following…"))
        ready, not_ready = "✓ " + html.escape(_("ready")), "… " + html.escape(_("not ready"))
        rows = "".join(f"<tr><td>{html.escape(e.service)}</td><td><code>{html.escape(e.address)}:{e.port}</code></td>"
                       f"<td>{ready if e.ready else not_ready}</td><td>{html.escape(e.pod or '')}</td>"
                       f"<td>{html.escape(e.node or '')}</td></tr>" for e in self.endpoints)
        head = _("<b>{deployment}</b>: {desired} replicas wanted — EndpointSlices <i>{state}</i>").format(
            deployment=html.escape(self.deployment), desired=self.desired, state=state)
        columns = "".join(f"<th>{html.escape(_(c))}</th>" for c in _COLUMNS)
        return (f"<div>{head}</div><table style='font-size:0.9em'><tr>{columns}</tr>{rows}</table>")


class ReplicasModel:
    def __init__(self, lab: Lab, deployment: str, *, namespace: str = "default"):
        self.lab, self.deployment, self.namespace = lab, deployment, namespace
        self.apps = kubernetes.client.AppsV1Api(lab.api)
        self.core = kubernetes.client.CoreV1Api(lab.api)
        self.discovery = kubernetes.client.DiscoveryV1Api(lab.api)

    def _deployment(self):
        try:
            return self.apps.read_namespaced_deployment(self.deployment, self.namespace)
        except kubernetes.client.rest.ApiException as err:
            if err.status == 404:
                raise LabError(_("there is no Deployment {deployment} in namespace {namespace}").format(
                    deployment=self.deployment, namespace=self.namespace)) from None
            raise

    def replicas(self) -> int:
        return int(self._deployment().spec.replicas or 0)

    def scale(self, replicas: int) -> None:
        if not isinstance(replicas, int) or replicas < 0:
            raise ValueError("replicas is a whole number, 0 or more")
        self.apps.patch_namespaced_deployment(self.deployment, self.namespace, {"spec": {"replicas": replicas}})

    def services(self) -> list[str]:
        labels = self._deployment().spec.template.metadata.labels or {}
        return sorted(s.metadata.name for s in self.core.list_namespaced_service(self.namespace).items
                      if s.spec.selector and all(labels.get(k) == v for k, v in s.spec.selector.items()))

    def snapshot(self) -> Snapshot:
        desired = self.replicas()
        services = self.services()
        endpoints: list[Endpoint] = []
        for service in services:
            slices = self.discovery.list_namespaced_endpoint_slice(
                self.namespace, label_selector=f"kubernetes.io/service-name={service}").items
            for s in slices:
                port = (s.ports or [None])[0]
                for e in s.endpoints or []:
                    for address in e.addresses or []:
                        endpoints.append(Endpoint(service, address, port.port if port else None,
                                                  bool(e.conditions and e.conditions.ready),
                                                  e.target_ref.name if e.target_ref else None, e.node_name))
        endpoints.sort(key=lambda e: (e.service, e.pod or "", e.address))
        return Snapshot(self.deployment, desired, tuple(endpoints), tuple(services))

    def wait_until_settled(self, *, timeout: float = 20.0, every: float = 0.05, on_reading=None) -> Snapshot:
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if on_reading is not None:
                on_reading(snap)
            if snap.settled or time.monotonic() > deadline:
                return snap
            time.sleep(every)
