"""The Gateway API controller: watch GatewayClasses, Gateways, HTTPRoutes, ReferenceGrants (CustomObjectsApi) and
the Services, EndpointSlices, Secrets and Namespaces they name; keep one nginx per Gateway serving it.

Like the Ingress controller next door, it reads the cluster only through the official `kubernetes` client
(`ingresslab.ingress.informer.Store`: one list+watch cache per kind), so it runs against the lab once the API
server serves the Gateway API CRDs, and against kind or a real cluster with the standard-channel CRDs installed.
A change marks it dirty; a debounced sync then, for every Gateway whose GatewayClass names our controller:

    translate.py (objects → GatewayConfiguration + statuses)
      → NginxProcess.apply (render.py → nginx -t → swap → reload, or only the Lua feed: endpoints and weights)
      → status: GatewayClass Accepted; Gateway Accepted/Programmed (Programmed=False when nginx refused),
        addresses, listeners; HTTPRoute `status.parents` entries of our controllerName (others' kept)
      → the Gateway's Service `<gateway>-nginx` (NodePort, label gateway.networking.k8s.io/gateway-name, one port
        per listener port) and its EndpointSlice pointing at the nginx address, so kube-proxy reaches it.

`plan(objects)` is the whole decision as data (what nginx runs, what to write) and is what the tests drive with
plain dicts and the real nginx; `GatewayController` adds the watches, the nginx processes and the writes.
nginx files live in `<home>/gateway-<sha256 of ns/name>/` — never a name taken from an object.
"""
from __future__ import annotations

import copy
import hashlib
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import kubernetes
from kubernetes.client.rest import ApiException

from ..ingress.informer import Store
from ..ingress.model import Endpoint
from ..ingress.nginx import NginxProcess
from . import objects as o
from .render import render_gateway_conf
from .translate import Translation, is_ours, translate

log = logging.getLogger("ingresslab.gateway.controller")
MANAGED_BY = "ingresslab-gateway-controller"   # label value on the Services and EndpointSlices it makes

CUSTOM = {"gateway_classes": ("GatewayClass", "v1", "gatewayclasses"), "gateways": ("Gateway", "v1", "gateways"),
          "httproutes": ("HTTPRoute", "v1", "httproutes"),
          "reference_grants": ("ReferenceGrant", "v1beta1", "referencegrants")}
"""What the API must serve (group gateway.networking.k8s.io): kind, version, plural; list and watch across
namespaces, and the `status` subresource of GatewayClass, Gateway and HTTPRoute."""


@dataclass(frozen=True, kw_only=True)
class Options:
    controller_name: str = o.CONTROLLER_NAME
    home: Path = Path("~/.ingresslab/gateway")
    gateway_network: str = "127.0.3.0/24"     # each Gateway's nginx gets its own loopback address from here
    privileged_port_offset: int = 0           # not root: listener port P < 1024 is bound at P + offset
    debounce: float = 0.01
    manage_service: bool = True

    def __post_init__(self):
        net = ipaddress.ip_network(self.gateway_network)
        if not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):
            raise ValueError(f"gateway_network {self.gateway_network!r}: the lab's nginx listens only on loopback")


def sources(api: kubernetes.client.ApiClient) -> dict:
    custom, core = kubernetes.client.CustomObjectsApi(api), kubernetes.client.CoreV1Api(api)
    found = {role: (kind, custom.list_cluster_custom_object, {"group": o.GROUP, "version": v, "plural": plural})
             for role, (kind, v, plural) in CUSTOM.items()}
    found.update({"services": ("Service", core.list_service_for_all_namespaces, {}),
                  "endpoint_slices": ("EndpointSlice",
                                      kubernetes.client.DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces, {}),
                  "secrets": ("Secret", core.list_secret_for_all_namespaces, {}),
                  "namespaces": ("Namespace", core.list_namespace, {})})
    return found


@dataclass
class Plan:
    """One sync's decisions: a Translation per Gateway (by `ns/name`) and the statuses to write."""

    translations: dict[str, Translation] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    class_statuses: dict[str, dict] = field(default_factory=dict)
    route_statuses: dict[str, dict] = field(default_factory=dict)


def bound_port(port: int, offset: int) -> int:
    return port + offset if offset and port < 1024 else port


def plan(objects: dict[str, list[dict]], options: Options, addresses: dict[str, str], *,
         now: str | None = None) -> Plan:
    """The store's contents → what every Gateway of ours serves and the status of each object involved.
    `addresses` (Gateway `ns/name` → loopback address) is kept between syncs; new Gateways get the lowest free one."""
    out = Plan()
    classes = {o.meta(c).get("name"): c for c in objects.get("gateway_classes") or []}
    for name, gc in classes.items():
        status = o.gateway_class_status(gc, controller_name=options.controller_name, now=now)
        if status is not None:
            out.class_statuses[name] = status
    ours = [g for g in objects.get("gateways") or []
            if is_ours(g, classes.get((g.get("spec") or {}).get("gatewayClassName")), options.controller_name)
            and out.class_statuses.get((g.get("spec") or {}).get("gatewayClassName"), {}).get(
                "conditions", [{}])[0].get("status") == "True"]
    keys = {o.key(g) for g in ours}
    for gone in [k for k in addresses if k not in keys]:
        del addresses[gone]
    free = (str(a) for a in ipaddress.ip_network(options.gateway_network).hosts() if str(a) not in
            addresses.values())
    routes = objects.get("httproutes") or []
    parents: dict[str, list[dict]] = {}
    for gw in sorted(ours, key=o.age_key):
        key = o.key(gw)
        addresses.setdefault(key, next(free))
        t = translate(gw, gateway_class=classes[(gw.get("spec") or {}).get("gatewayClassName")], routes=routes,
                      reference_grants=objects.get("reference_grants") or [], services=objects.get("services") or [],
                      endpoint_slices=objects.get("endpoint_slices") or [], secrets=objects.get("secrets") or [],
                      namespaces=objects.get("namespaces") or [], controller_name=options.controller_name,
                      listen_address=addresses[key], now=now,
                      port_map=lambda p: bound_port(p, options.privileged_port_offset))
        if t.config is not None:
            t.config = _shift_endpoints(t.config, options.privileged_port_offset)
        out.translations[key] = t
        for route_key, entries in t.route_parents.items():
            parents.setdefault(route_key, []).extend(entries)
    out.addresses = dict(addresses)
    for route in routes:
        key = o.key(route)
        status = route.get("status") or {}
        others = [p for p in status.get("parents") or [] if p.get("controllerName") != options.controller_name]
        mine = parents.get(key, [])
        had_mine = len(others) != len(status.get("parents") or [])
        if mine or had_mine:
            out.route_statuses[key] = {**status, "parents": others + mine}
    return out


def _shift_endpoints(config, offset: int):
    """Pods bind ports below 1024 at `port + offset` in a lab without root: aim there (as the Ingress side does)."""
    if not offset:
        return config
    shift = lambda e: Endpoint(e.ip, e.port + offset) if e.port < 1024 else e  # noqa: E731
    return replace(config, backends=tuple(replace(b, endpoints=tuple(shift(e) for e in b.endpoints))
                                          for b in config.backends))


def programmed(status: dict, ok: bool, error: str, generation: int, now: str | None = None) -> dict:
    """The Gateway status after nginx answered: Programmed=False (Invalid) with nginx's words when it refused."""
    if ok:
        return status
    conditions = [c for c in status["conditions"] if c["type"] != "Programmed"]
    conditions.append(o.condition("Programmed", False, "Invalid", f"nginx refused the configuration: {error[:300]}",
                                  generation, previous=status["conditions"], now=now))
    return {**status, "conditions": conditions}


def gateway_service(gw: dict, translation: Translation, address: str, offset: int) -> tuple[dict, dict]:
    """The Service (NodePort, labelled with the Gateway's name) and EndpointSlice that lead to its nginx."""
    ns, name = o.namespace_of(gw), o.meta(gw).get("name")
    service_name = f"{name}-nginx"[:63].rstrip("-")
    labels = {o.GATEWAY_NAME_LABEL: name, "app.kubernetes.io/managed-by": MANAGED_BY}
    ports = sorted({(p.spec_port, p.protocol) for p in translation.config.ports})
    owner = [{"apiVersion": f"{o.GROUP}/v1", "kind": "Gateway", "name": name, "uid": o.meta(gw).get("uid"),
              "controller": True}] if o.meta(gw).get("uid") else []
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": service_name, "namespace": ns, "labels": labels, "ownerReferences": owner},
               "spec": {"type": "NodePort", "ports": [
                   {"name": f"{proto.lower()}-{port}", "port": port, "targetPort": bound_port(port, offset),
                    "protocol": "TCP"} for port, proto in ports]}}
    endpoint_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": f"{service_name}-gateway"[:63], "namespace": ns, "ownerReferences": owner,
                                   "labels": {**labels, "kubernetes.io/service-name": service_name,
                                              "endpointslice.kubernetes.io/managed-by":
                                                  "gateway-controller.ingresslab.dev"}},
                      "addressType": "IPv4", "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
                      "ports": [{"name": f"{proto.lower()}-{port}", "port": bound_port(port, offset), "protocol": "TCP"}
                                for port, proto in ports]}
    return service, endpoint_slice


class GatewayController:
    """Watch, plan, apply, write. `start()`, `stop()`, `sync_now()`; one `NginxProcess` per Gateway."""

    def __init__(self, api_client: kubernetes.client.ApiClient, options: Options | None = None):
        self.options = options or Options()
        configuration = copy.deepcopy(api_client.configuration)
        configuration.connection_pool_maxsize = 32
        self.api = kubernetes.client.ApiClient(configuration)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self.core = kubernetes.client.CoreV1Api(self.api)
        self.discovery = kubernetes.client.DiscoveryV1Api(self.api)
        self.store = Store(sources(self.api), self._on_change)
        self.nginx: dict[str, NginxProcess] = {}
        self.addresses: dict[str, str] = {}
        self.last_plan: Plan | None = None
        self.syncs, self.last_error = 0, None
        self._dirty, self._stopping = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "GatewayController":
        self.store.start()
        self._thread = threading.Thread(target=self._loop, name="gateway-controller-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join()
        self.store.stop()
        for process in self.nginx.values():
            process.stop()
        self.api.close()

    def sync_now(self, timeout: float = 30.0) -> Plan:
        if not self.store.wait_synced(timeout):
            raise TimeoutError("the store did not list every kind (are the Gateway API CRDs served?)")
        return self._sync()

    def _on_change(self, kind, event_type, obj, old) -> None:
        if event_type == "MODIFIED" and old is not None and _essence(old) == _essence(obj):
            return   # our own status write, or only the resourceVersion
        self._dirty.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self._dirty.wait(0.5):
                continue
            if self._stopping.is_set() or not self.store.synced:
                self._dirty.clear()
                continue
            time.sleep(self.options.debounce)
            self._dirty.clear()
            try:
                self._sync()
                self.last_error = None
            except Exception as error:   # keep serving; a later change (or this retry) syncs again
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("gateway sync failed")
                self._stopping.wait(1.0)
                self._dirty.set()

    def status(self) -> dict:
        """What `ingresslab status --json` can show: each served Gateway's address, its listeners' ports (as the
        Gateway says and as nginx binds them) and nginx's counters."""
        out = {}
        for key, t in (self.last_plan.translations if self.last_plan else {}).items():
            process = self.nginx.get(key)
            out[key] = {"address": self.last_plan.addresses.get(key),
                        "ports": [{"port": p.spec_port, "bound": p.port, "protocol": p.protocol}
                                  for p in t.config.ports],
                        "reloads": process.reloads if process else 0,
                        "endpoint_updates": process.endpoint_updates if process else 0,
                        "checksum": process.checksum if process else None}
        return out

    def conf(self, key: str) -> str:
        """The nginx.conf the Gateway `ns/name` runs now (`ingresslab conf --gateway NS/NAME`)."""
        process = self.nginx.get(key)
        return process.conf() if process else ""

    def nginx_for(self, key: str) -> NginxProcess:
        if key not in self.nginx:
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            self.nginx[key] = NginxProcess(Path(self.options.home).expanduser(), renderer=render_gateway_conf,
                                           subdir=f"gateway-{digest}")
        return self.nginx[key]

    def _sync(self) -> Plan:
        with self._lock:
            objects = self.store.lists()
            result = plan(objects, self.options, self.addresses)
            gateways = {o.key(g): g for g in objects.get("gateways") or []}
            for key in [k for k in self.nginx if k not in result.translations]:
                self.nginx.pop(key).stop()
            if self.options.manage_service:
                self._remove_services(objects.get("services") or [], objects.get("gateways") or [])
            for name, status in result.class_statuses.items():
                gc = next(c for c in objects["gateway_classes"] if o.meta(c).get("name") == name)
                if _conditions_differ(gc.get("status"), status):
                    self._write_status("gatewayclasses", None, name, status)
            for key, t in result.translations.items():
                outcome = self.nginx_for(key).apply(t.config, reason=f"Gateway {key} changed")
                gw = gateways[key]
                status = programmed(t.gateway_status, outcome.ok, outcome.error, o.generation(gw))
                if _conditions_differ(gw.get("status"), status):
                    self._write_status("gateways", o.namespace_of(gw), o.meta(gw).get("name"), status)
                if self.options.manage_service:
                    self._ensure_service(gw, t, result.addresses[key])
            for key, status in result.route_statuses.items():
                route = next(r for r in objects["httproutes"] if o.key(r) == key)
                if _conditions_differ(route.get("status"), status):
                    self._write_status("httproutes", o.namespace_of(route), o.meta(route).get("name"), status)
            self.syncs += 1
            self.last_plan = result
            return result

    def _write_status(self, plural: str, namespace: str | None, name: str, status: dict) -> None:
        version = "v1"
        try:
            if namespace is None:
                self.custom.patch_cluster_custom_object_status(o.GROUP, version, plural, name, {"status": status})
            else:
                self.custom.patch_namespaced_custom_object_status(o.GROUP, version, namespace, plural, name,
                                                                  {"status": status})
        except ApiException as error:
            if error.status != 404:   # deleted meanwhile: nothing to say
                raise

    def _remove_services(self, services: list[dict], gateways: list[dict]) -> None:
        """[lab, notebook 09] The lab has no garbage collector: the Service and EndpointSlice this controller made
        for a Gateway go when that Gateway does, as their ownerReferences say (ours only: label and owner uid)."""
        live = {o.meta(g).get("uid") for g in gateways}
        for svc in services:
            meta = o.meta(svc)
            owners = [r.get("uid") for r in meta.get("ownerReferences") or [] if r.get("kind") == "Gateway"]
            if (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") != MANAGED_BY or not owners \
                    or any(uid in live for uid in owners):
                continue
            ns = meta.get("namespace")
            for delete, name in ((self.discovery.delete_namespaced_endpoint_slice, f"{meta['name']}-gateway"[:63]),
                                 (self.core.delete_namespaced_service, meta["name"])):
                try:
                    delete(name, ns)
                except ApiException as error:
                    if error.status != 404:
                        raise

    def _ensure_service(self, gw: dict, t: Translation, address: str) -> None:
        service, endpoint_slice = gateway_service(gw, t, address, self.options.privileged_port_offset)
        ns = service["metadata"]["namespace"]
        for read, create, patch, body in (
                (self.core.read_namespaced_service, self.core.create_namespaced_service,
                 self.core.patch_namespaced_service, service),
                (self.discovery.read_namespaced_endpoint_slice, self.discovery.create_namespaced_endpoint_slice,
                 self.discovery.patch_namespaced_endpoint_slice, endpoint_slice)):
            name = body["metadata"]["name"]
            try:
                current = self.api.sanitize_for_serialization(read(name, ns))
            except ApiException as error:
                if error.status != 404:
                    raise
                create(ns, body)
                continue
            if _shape(current) != _shape(body):   # patch only a real difference: no write → event → sync loop
                patch(name, ns, {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")}
                      | {"metadata": {"labels": body["metadata"]["labels"]}})


def _shape(obj: dict) -> tuple:
    """What decides where traffic goes: ports (name, port, target) and endpoint addresses."""
    ports = (obj.get("spec") or {}).get("ports") if "spec" in obj else obj.get("ports")
    addresses = sorted(a for e in obj.get("endpoints") or [] for a in e.get("addresses") or [])
    labels = sorted(((obj.get("metadata") or {}).get("labels") or {}).items())
    return (sorted((p.get("name"), p.get("port"), p.get("targetPort")) for p in ports or []), addresses, labels,
            (obj.get("spec") or {}).get("type"))


def _essence(obj: dict) -> dict:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def _conditions_differ(current: dict | None, wanted: dict) -> bool:
    """Write only when something but the transition times differs (they are kept from `current` anyway)."""
    return (current or {}) != wanted
