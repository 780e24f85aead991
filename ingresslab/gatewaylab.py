"""The lab's view of its Gateways: what `Lab.gateway` answers for notebooks, the CLI and trace.

A Gateway in the lab is three things a learner can look at: the object (its `status`: addresses, conditions,
listeners), the NodePort Service the Gateway controller made for it (label `gateway.networking.k8s.io/gateway-name`)
and the nginx that serves it (its nginx.conf, named in the controller pod's status file). `GatewayView` reads all
three through the official client and the lab's home, and waits for a route to be programmed by reading the
route's own status — the controller writes it after nginx took the change — never by sleeping.

Neighbours: `lab.Lab.gateway` builds a `GatewayView`; `ingresslab.gateway.process` writes the status file read
here; `trace.send(..., gateway=...)` and `cli` (`status --json`, `conf --gateway`) use it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from .i18n import _

GROUP, VERSION = "gateway.networking.k8s.io", "v1"
NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
NAMESPACE = "nginx-gateway"
APP_LABEL = "app.kubernetes.io/name=nginx-gateway"


class GatewayError(RuntimeError):
    """A Gateway question the lab could not answer, in plain words (what is missing, where to look)."""


def _split(name: str, namespace: str) -> tuple[str, str]:
    """`ns/name` or `name` (in `namespace`)."""
    if "/" in name:
        namespace, name = name.partition("/")[::2]
    return namespace, name


def conditions(obj: dict | None) -> dict[str, dict]:
    """{type: condition} of an object's (or a status entry's) `conditions`."""
    return {c.get("type"): c for c in ((obj or {}).get("conditions") or [])}


class GatewayView:
    """Gateways, their Services, their nginx and their routes' statuses, for one lab (`Lab.gateway`)."""

    def __init__(self, api, home: Path | None, controller_name: str = "ingresslab.dev/gateway-controller"):
        import kubernetes
        self._k8s = kubernetes
        self.api, self.home, self.controller_name = api, home, controller_name
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.core = kubernetes.client.CoreV1Api(api)

    # ------------------------------------------------------------------ objects
    def _get(self, plural: str, namespace: str, name: str) -> dict:
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except self._k8s.client.rest.ApiException as exc:
            if exc.status == 404:
                raise GatewayError(_("there is no {kind} {namespace}/{name} (kubectl get {plural} -A lists "
                                     "them)").format(kind=plural[:-1], namespace=namespace, name=name,
                                                     plural=plural)) from None
            raise

    def gateways(self) -> list[dict]:
        return self.custom.list_cluster_custom_object(GROUP, VERSION, "gateways").get("items") or []

    def node_ports(self, name: str, namespace: str = "default") -> dict[int, int]:
        """{listener port: NodePort} of the Service the controller made for the Gateway ({} before it exists)."""
        namespace, name = _split(name, namespace)
        services = self.core.list_namespaced_service(namespace, label_selector=f"{NAME_LABEL}={name}").items
        return {p.port: p.node_port for s in services for p in s.spec.ports or [] if p.node_port}

    def status(self, name: str, namespace: str = "default") -> dict:
        """The Gateway in a few plain fields: class, address, Accepted/Programmed, each listener (port, protocol,
        hostname, attached routes, NodePort, its conditions that are not as they should be)."""
        namespace, name = _split(name, namespace)
        gw = self._get("gateways", namespace, name)
        st = gw.get("status") or {}
        cond = conditions(st)
        ports = self.node_ports(name, namespace)
        seen = {entry.get("name"): entry for entry in st.get("listeners") or []}
        listeners = []
        for spec in (gw.get("spec") or {}).get("listeners") or []:
            entry = seen.get(spec.get("name")) or {}
            lc = conditions(entry)
            problems = [f"{t}={c.get('status')} ({c.get('reason')})" for t, c in lc.items()
                        if (c.get("status") == "True") == (t == "Conflicted")]
            listeners.append({"name": spec.get("name"), "port": spec.get("port"), "protocol": spec.get("protocol"),
                              "hostname": spec.get("hostname"), "attached_routes": entry.get("attachedRoutes", 0),
                              "node_port": ports.get(spec.get("port")), "problems": problems})
        return {"name": f"{namespace}/{name}", "class": (gw.get("spec") or {}).get("gatewayClassName"),
                "address": next((a.get("value") for a in st.get("addresses") or []), None),
                "accepted": (cond.get("Accepted") or {}).get("status", "Unknown"),
                "programmed": (cond.get("Programmed") or {}).get("status", "Unknown"),
                "listeners": listeners}

    def summary(self) -> list[dict]:
        """Every Gateway's `status()`: what `ingresslab status --json` lists."""
        out = []
        for gw in self.gateways():
            meta = gw.get("metadata") or {}
            try:
                out.append(self.status(meta.get("name"), meta.get("namespace") or "default"))
            except GatewayError:
                continue   # deleted meanwhile
        return out

    # ------------------------------------------------------------------ routes
    def route_status(self, name: str, namespace: str = "default") -> list[dict]:
        """One row per parent our controller reports on: the parent and each condition (type, status, reason,
        message) — what `kubectl describe httproute` shows under Status."""
        namespace, name = _split(name, namespace)
        route = self._get("httproutes", namespace, name)
        rows = []
        for parent in (route.get("status") or {}).get("parents") or []:
            if parent.get("controllerName") != self.controller_name:
                continue
            ref = parent.get("parentRef") or {}
            where = ref.get("name", "") + (f" ({ref['sectionName']})" if ref.get("sectionName") else "")
            for c in parent.get("conditions") or []:
                rows.append({"parent": where, "type": c.get("type"), "status": c.get("status"),
                             "reason": c.get("reason"), "message": c.get("message")})
        return rows

    def wait_route(self, name: str, namespace: str = "default", *, timeout: float = 15.0) -> list[dict]:
        """Until the controller has reported on the route's current generation (it writes the status after its
        nginx took the change), then `route_status()`. Raises GatewayError after `timeout` seconds."""
        namespace, name = _split(name, namespace)

        def done():
            route = self._get("httproutes", namespace, name)
            generation = (route.get("metadata") or {}).get("generation")
            mine = [p for p in (route.get("status") or {}).get("parents") or []
                    if p.get("controllerName") == self.controller_name]
            return bool(mine) and all(c.get("observedGeneration") == generation
                                      for p in mine for c in p.get("conditions") or [])
        self._wait(done, timeout, _("waited {seconds} s for the Gateway controller to report on HTTPRoute "
                                    "{route} (is its parentRef a Gateway of class nginx?)"),
                   route=f"{namespace}/{name}")
        return self.route_status(name, namespace)

    def wait_programmed(self, name: str, namespace: str = "default", *, timeout: float = 15.0) -> dict:
        """Until the Gateway is Programmed for its current generation and its Service has NodePorts."""
        namespace, name = _split(name, namespace)

        def done():
            gw = self._get("gateways", namespace, name)
            c = conditions(gw.get("status")).get("Programmed") or {}
            return c.get("status") == "True" and c.get("observedGeneration") == gw["metadata"].get("generation") \
                and self.node_ports(name, namespace)
        self._wait(done, timeout, _("waited {seconds} s for Gateway {gateway} to be programmed"),
                   gateway=f"{namespace}/{name}")
        return self.status(name, namespace)

    @staticmethod
    def _wait(check: Callable[[], object], timeout: float, message: str, **values) -> None:
        """Until `check()` is truthy; then a GatewayError of `message` (a sentence with `{seconds}` and `values`)."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise GatewayError(message.format(seconds=f"{timeout:.0f}", **values))
            time.sleep(0.05)

    # ------------------------------------------------------------------ nginx
    def controller_status(self) -> dict:
        """The Gateway controller pod's status file (embedded lab only)."""
        if self.home is None:
            raise GatewayError(_("the Gateway controller's files are only readable in the embedded lab"))
        pods = [p for p in self.core.list_namespaced_pod(NAMESPACE, label_selector=APP_LABEL).items
                if p.status.phase == "Running" and not p.metadata.deletion_timestamp]     # not a leaving one
        if not pods:
            raise GatewayError(_("no Gateway controller pod is running in namespace {namespace} (the lab ships its "
                                 "Deployment at 0 replicas and scales it up with the first Gateway; `kubectl scale "
                                 "deployment nginx-gateway -n {namespace} --replicas=1` starts it)").format(
                namespace=NAMESPACE))
        path = Path(self.home) / "nginx" / f"{NAMESPACE}_{pods[0].metadata.name}" / "status.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            raise GatewayError(_("the Gateway controller has not reported yet ({path})").format(path=path)) from None

    def conf(self, name: str, namespace: str = "default") -> str:
        """The nginx.conf the Gateway's nginx runs now."""
        namespace, name = _split(name, namespace)
        served = self.controller_status().get("gateways") or {}
        entry = served.get(f"{namespace}/{name}")
        if entry is None:
            raise GatewayError(_("the Gateway controller runs no nginx for {gateway}; it serves: {served}").format(
                gateway=f"{namespace}/{name}", served=", ".join(served) or _("no Gateway")))
        return Path(entry["conf_path"]).read_text()

    def nginx_addresses(self) -> dict[str, str]:
        """{`address`: `ns/name`} of every Gateway's nginx (what kube-proxy forwards to): trace names hops with it."""
        try:
            served = self.controller_status().get("gateways") or {}
        except GatewayError:
            return {}
        return {entry["address"]: key for key, entry in served.items() if entry.get("address")}
