"""Scale from zero: the lab starts its Gateway controller when the first Gateway it would serve appears.

The Gateway controller is a process of about 80 MB (the `kubernetes` client, most of it), and most of the course
never uses it. So manifests/nginx-gateway.yaml ships its Deployment at `replicas: 0`, with the annotation
`ingresslab.dev/replicas-on-first-gateway: "1"`. This controller, in the lab process beside the built-in ones,
watches Gateways and GatewayClasses. As soon as a Gateway names a GatewayClass whose `controllerName` is the one
the Deployment's container serves (its `--gateway-ctlr-name` flag), it patches the Deployment through the API, as
any client would: `spec.replicas` to the annotation's value, and the annotation removed. It does that once; from
then on the replicas are the operator's, as on any Deployment (`kubectl scale` up or down, and nothing scales it
back). An Event `ScaledFromZero` on the Deployment says which Gateway woke it.

On a real cluster the same job is done by an event-driven autoscaler (KEDA, Knative's activator) or by installing
the controller when it is needed; until a controller runs, a GatewayClass keeps the status its CRD defaults to:
`Accepted: Unknown`, reason `Pending`, "Waiting for controller" — what `kubectl get gatewayclass` shows then.

Neighbours: `ingresslab.labd` starts it; `process.py` is what the Deployment's pod runs.
"""
from __future__ import annotations

import json
from collections.abc import Hashable, Iterable

from ingresslab.cluster.apimachinery.resources import by_kind
from ingresslab.cluster.client.controller import Controller, meta
from ingresslab.cluster.client.record import EventRecorder
from ingresslab.cluster.storage.store import Event, Store

from . import objects as o

ANNOTATION = "ingresslab.dev/replicas-on-first-gateway"
MANAGER = "ingresslab-gateway-activator"
COMPONENT = "gateway-activator"
GATEWAYS, CLASSES, DEPLOYMENTS = (f"gateways.{o.GROUP}", f"gatewayclasses.{o.GROUP}", "deployments.apps")


def served_controller(deployment: dict) -> str | None:
    """The controllerName the Deployment's controller serves: its `--gateway-ctlr-name` flag."""
    for container in ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        for arg in container.get("args") or []:
            if isinstance(arg, str) and arg.startswith("--gateway-ctlr-name="):
                return arg.partition("=")[2]
    return None


def first_gateway(gateways: Iterable[dict], classes: Iterable[dict], controller_name: str) -> dict | None:
    """The oldest Gateway whose GatewayClass names `controller_name`, or None."""
    ours = {meta(c).get("name") for c in classes if (c.get("spec") or {}).get("controllerName") == controller_name}
    wanting = [g for g in gateways if (g.get("spec") or {}).get("gatewayClassName") in ours
               and not meta(g).get("deletionTimestamp")]
    return min(wanting, key=o.age_key, default=None)


class GatewayActivator(Controller):
    """Scales one Deployment (`namespace/name`) from zero when a Gateway of the class it serves appears."""

    name = "gateway-activator"
    kinds = (GATEWAYS, CLASSES, DEPLOYMENTS)

    def __init__(self, store: Store, api, recorder: EventRecorder, *, namespace: str, deployment: str):
        super().__init__(store)
        self.api, self.recorder = api, recorder
        self.namespace, self.deployment = namespace, deployment
        self.activations = 0

    def initial_keys(self) -> Iterable[Hashable]:
        return ("activate",)

    def keys_for(self, event: Event) -> Iterable[Hashable]:
        if event.key == DEPLOYMENTS and (meta(event.object).get("namespace"), meta(event.object).get("name")) != (
                self.namespace, self.deployment):
            return ()
        return ("activate",)

    async def reconcile(self, key: Hashable) -> None:
        d = self.store.get(DEPLOYMENTS, self.namespace, self.deployment)
        wanted = ((meta(d).get("annotations") or {}).get(ANNOTATION) if d else None)
        controller_name = served_controller(d) if d else None
        if wanted is None or controller_name is None or (d.get("spec") or {}).get("replicas", 1) != 0:
            return
        gateway = first_gateway(self.store.list(GATEWAYS), self.store.list(CLASSES), controller_name)
        if gateway is None:
            return
        replicas = int(wanted) if wanted.isdigit() and int(wanted) > 0 else 1
        body = {"metadata": {"annotations": {ANNOTATION: None}}, "spec": {"replicas": replicas}}
        stored, _ = self.api.patch(by_kind("apps/v1", "Deployment"), self.namespace, self.deployment,
                                   json.dumps(body).encode(), "application/merge-patch+json", manager=MANAGER)
        self.activations += 1
        self.recorder.normal(stored, "ScaledFromZero",
                             f"Gateway {o.key(gateway)} (class {gateway['spec']['gatewayClassName']}) needs its "
                             f"controller: scaled from 0 to {replicas}", component=COMPONENT)
