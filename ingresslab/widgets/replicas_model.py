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

from ingresslab.lab import Lab, LabError


@dataclass(frozen=True)
class Endpoint:
    service: str
    address: str
    port: int | None
    ready: bool
    pod: str | None
    node: str | None


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
        head = (f"Deployment {self.deployment}: {self.desired} replicas wanted; "
                + (", ".join(f"{s}: {self.ready(s)} ready endpoints" for s in self.services) or "no Service selects it"))
        rows = [f"  {e.service}  {e.address}:{e.port}  {'ready' if e.ready else 'not ready'}  {e.pod or ''}"
                f"  {e.node or ''}" for e in self.endpoints]
        return "\n".join([head, *rows])

    def html(self) -> str:
        state = "settled" if self.settled else "following…"
        rows = "".join(f"<tr><td>{html.escape(e.service)}</td><td><code>{html.escape(e.address)}:{e.port}</code></td>"
                       f"<td>{'✓ ready' if e.ready else '… not ready'}</td><td>{html.escape(e.pod or '')}</td>"
                       f"<td>{html.escape(e.node or '')}</td></tr>" for e in self.endpoints)
        return (f"<div><b>{html.escape(self.deployment)}</b>: {self.desired} replicas wanted — EndpointSlices "
                f"<i>{state}</i></div><table style='font-size:0.9em'><tr><th>Service</th><th>endpoint</th>"
                f"<th>state</th><th>pod</th><th>node</th></tr>{rows}</table>")


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
                raise LabError(f"there is no Deployment {self.deployment} in namespace {self.namespace}") from None
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
