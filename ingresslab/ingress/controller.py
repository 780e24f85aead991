"""The watch-based Ingress controller: ingress-nginx's internal/ingress/controller, for one lab nginx.

It reads the cluster only through the official `kubernetes` client — `informer.Store`, one list+watch cache per
kind — so it runs unchanged against the embedded lab, kind or a real cluster. Any change marks the controller
dirty; a debounced sync (10 ms, so a burst of EndpointSlice updates is one sync) runs ingress-nginx's pipeline:

    model (translate.py)  →  equal to the running one? done
                          →  only endpoints differ? push them to the Lua balancer (no reload)
                          →  render → nginx -t → swap → reload   (`NginxProcess.apply`; a candidate nginx refuses
                                                                 leaves the last good config serving: Warning RELOAD)

At start, before the caches have listed, nginx resumes this home's last good config and endpoints (or a running
nginx left by a killed controller process is adopted), so after `down`/`up` traffic flows within seconds.
A sync that fails (nginx slow to load a huge config, a port still taken, the API away) is retried with a growing
delay (0.5 s doubling to 30 s) until one succeeds, whether it was the first sync or not. Between syncs a watchdog
(every 0.5 s) compares what nginx reports with what the controller believes: the config checksum its workers
answer with, and the md5 of the endpoint lists its Lua balancer holds. A difference (nginx restarted, reloaded by
hand, its balancer fed by someone else) is repaired: endpoints pushed again, a config reloaded.

then acts on the cluster as ingress-nginx does: `status.loadBalancer.ingress` on its own Ingresses (the nodes'
InternalIPs, or the `--publish-service` Service's addresses; written only when it differs), Normal `Sync`
"Scheduled for sync" when one of them changed, and translate's events — deduplicated like client-go's recorder.

Neighbours: `informer.py` (the store), `translate.py` (builds the model), `nginx.py` (`NginxProcess` applies it),
`render.py` (for `--render-only`). The lab runs this module as the `nginx-ingress-controller` pod in namespace
`ingress-nginx`: `python -m ingresslab.ingress.controller --kubeconfig FILE …` or in-cluster (see `main`).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import hashlib
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import kubernetes
from kubernetes.client.rest import ApiException

from .informer import Store, list_once, sources
from .model import Configuration, Endpoint
from .nginx import NginxProcess, lua_available
from .render import RenderPaths, render_nginx_conf
from .translate import EventRecord, TranslateResult, translate
from . import writeback
from .writeback import EventRecorder, WriteQueue, call

log = logging.getLogger("ingresslab.ingress.controller")

COMPONENT = writeback.COMPONENT
ANNOTATIONS_PREFIX = "nginx.ingress.kubernetes.io"
LUA_MODE = "dynamic endpoints (Lua balancer): endpoint changes need no reload"
STATIC_MODE = "static upstreams (no Lua module): endpoint changes reload nginx"


@dataclass(frozen=True, kw_only=True)
class Options:
    """The controller's flags (see `main`), checked on creation. `lua=None`: use the Lua balancer if installed."""

    ingress_class: str = "nginx"
    controller_class: str = "k8s.io/ingress-nginx"
    watch_ingress_without_class: bool = False
    configmap: str | None = None
    tcp_services_configmap: str | None = None
    default_backend_service: str | None = None
    publish_service: str | None = None
    annotations_prefix: str = ANNOTATIONS_PREFIX
    listen_address: str = "127.0.0.1"
    http_port: int = 80
    https_port: int = 443
    home: Path | None = None
    status_file: Path | None = None
    lua: bool | None = None
    debounce: float = 0.01
    watchdog_interval: float = 0.5
    privileged_port_offset: int = 0
    # The controller pod: nginx outlives a controller killed by SIGKILL and the next one adopts it (0 requests
    # lost); a clean stop still stops nginx. Off for in-process controllers (tests), so nothing outlives them.
    nginx_outlives_controller: bool = False
    retry_delay: float = 0.5
    max_retry_delay: float = 30.0

    def __post_init__(self):
        if self.annotations_prefix != ANNOTATIONS_PREFIX:
            raise ValueError(f"--annotations-prefix: ingresslab reads only {ANNOTATIONS_PREFIX}/ annotations "
                             f"(got {self.annotations_prefix!r})")
        try:
            loopback = ipaddress.ip_address(self.listen_address) in ipaddress.ip_network("127.0.0.0/8")
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"--listen-address {self.listen_address!r}: the lab's nginx listens only on a "
                             "loopback address (127.0.0.0/8), the pod's IP")
        for flag in ("configmap", "tcp_services_configmap", "default_backend_service", "publish_service"):
            value = getattr(self, flag)
            if value is not None and (value.count("/") != 1 or not all(value.split("/"))):
                raise ValueError(f"--{flag.replace('_', '-')} {value!r} must be namespace/name")

    @property
    def nginx_home(self) -> Path:
        """`--home`, else `$INGRESSLAB_HOME/controller` (default ~/.ingresslab/controller)."""
        return Path(self.home or Path(os.environ.get("INGRESSLAB_HOME") or "~/.ingresslab") / "controller"
                    ).expanduser()

    def sources(self, api: kubernetes.client.ApiClient) -> dict:
        return sources(api, configmap=self.configmap, tcp_services=self.tcp_services_configmap)


def status_addresses(objects: dict[str, list[dict]], options: Options) -> list[str]:
    """What `status.loadBalancer.ingress` says: the nodes' InternalIPs, or the `--publish-service`'s addresses
    (its load balancer or external IPs; for a NodePort Service the node IPs; else its ClusterIP)."""
    nodes = sorted(objects.get("nodes") or [], key=lambda n: n["metadata"]["name"])
    node_ips = [a["address"] for n in nodes for a in (n.get("status") or {}).get("addresses") or []
                if a.get("type") == "InternalIP"]
    if not options.publish_service:
        return node_ips
    namespace, name = options.publish_service.split("/")
    service = next((s for s in objects.get("services") or [] if s["metadata"].get("namespace") == namespace
                    and s["metadata"]["name"] == name), None)
    spec = (service or {}).get("spec") or {}
    balancer = [i.get("ip") or i.get("hostname") for i in
                (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
    if service is None or balancer or spec.get("externalIPs"):
        return [a for a in balancer if a] + list(spec.get("externalIPs") or [])
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        return node_ips
    return [spec["clusterIP"]] if spec.get("clusterIP") not in (None, "", "None") else []


def offset_low_ports(result: TranslateResult, offset: int) -> TranslateResult:
    """In a lab running without root, pods and ClusterIPs bind ports below 1024 at `port + offset`: aim there. The
    same goes for nginx's own TCP-service listeners (a `tcp-services` key below 1024): nginx could not bind them, and
    kube-proxy sends the controller Service's port P to the pod's port P + offset."""
    if not offset:
        return result

    def shift(e: Endpoint) -> Endpoint:
        return Endpoint(e.ip, e.port + offset) if e.port < 1024 else e
    backends = tuple(dataclasses.replace(b, endpoints=tuple(shift(e) for e in b.endpoints))
                     for b in result.config.backends)
    tcp = tuple(dataclasses.replace(t, port=t.port + offset) if t.port < 1024 else t
                for t in result.config.tcp_services)
    return dataclasses.replace(result, config=dataclasses.replace(result.config, backends=backends,
                                                                  tcp_services=tcp))


def build_model(objects: dict[str, list[dict]], options: Options, *, lua: bool) -> TranslateResult:
    """The store's contents → `translate` (a pure function of what the caches hold)."""
    return offset_low_ports(_translate(objects, options, lua=lua), options.privileged_port_offset)


def _translate(objects: dict[str, list[dict]], options: Options, *, lua: bool) -> TranslateResult:
    base = Configuration(listen_address=options.listen_address, http_port=options.http_port,
                         https_port=options.https_port, lua=lua)
    return translate(ingresses=objects["ingresses"], services=objects["services"],
                     endpoint_slices=objects["endpoint_slices"], secrets=objects["secrets"],
                     configmap=(objects.get("configmap") or [None])[0],
                     tcp_services=(objects.get("tcp_services") or [None])[0],
                     ingress_classes=objects["ingress_classes"], controller_name=options.controller_class,
                     ingress_class=options.ingress_class, watch_without_class=options.watch_ingress_without_class,
                     default_backend_service=options.default_backend_service,
                     status_addresses=status_addresses(objects, options), base=base)


def render_only(api: kubernetes.client.ApiClient, options: Options) -> str:
    """List every source once and return the nginx.conf this controller would serve; nothing is started."""
    lua = lua_available() if options.lua is None else options.lua
    return render_nginx_conf(build_model(list_once(options.sources(api)), options, lua=lua).config,
                             paths=RenderPaths.under(options.nginx_home / "nginx"))


class IngressController:
    """Watch the cluster, keep nginx serving its Ingresses. `start()`, `stop()`, `sync_now()`, `status()`."""

    def __init__(self, api_client: kubernetes.client.ApiClient, options: Options | None = None):
        self.options = options or Options()
        self.lua = lua_available() if self.options.lua is None else self.options.lua
        configuration = copy.deepcopy(api_client.configuration)
        configuration.connection_pool_maxsize = 32   # eight long watches plus the writes
        self.api = kubernetes.client.ApiClient(configuration)   # our own connections, closed by stop()
        self.networking = kubernetes.client.NetworkingV1Api(self.api)
        self.store = Store(self.options.sources(self.api), self._on_change)
        self.nginx = NginxProcess(self.options.nginx_home, outlive_owner=self.options.nginx_outlives_controller)
        self.writes = WriteQueue()   # Events and statuses, off the sync thread (writeback.py)
        self.recorder = EventRecorder(kubernetes.client.CoreV1Api(self.api),
                                      os.environ.get("POD_NAME") or os.uname().nodename)
        self.running_config: Configuration | None = None
        self.syncs, self.last_sync, self.last_error = 0, {}, None
        self.failed_syncs, self.repairs, self._retry_at = 0, [], None
        self._rejected: str | None = None   # the checksum of the candidate nginx -t refused
        self._changes: list[str] = []
        self._posted: set[EventRecord] = set()
        self._synced_specs: dict[str, str] = {}
        self._dirty, self._stopping = threading.Event(), threading.Event()
        self._lock, self._sync_lock = threading.Lock(), threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> "IngressController":
        self.writes.start()
        self.store.start()
        self._thread = threading.Thread(target=self._loop, name="ingress-controller-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop syncing and watching, stop nginx, close our connections: nothing keeps running."""
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.store.stop()
        self.nginx.stop()          # first: the pod's grace period must not run out with nginx still up
        self.writes.stop(timeout=2.0)
        self.api.close()
        self._write_status_file()

    def __enter__(self) -> "IngressController":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def sync_now(self, timeout: float = 30.0) -> str:
        """One sync in the caller's thread, once every cache has listed; returns what it did."""
        if not self.store.wait_synced(timeout):
            raise TimeoutError("the store did not list every kind: " + "; ".join(
                f"{i.kind}: {i.last_error}" for i in self.store.informers.values() if not i.synced.is_set()))
        action = self._sync()
        self.writes.flush(timeout)
        return action

    # ---- the loop: dirty → debounce → sync; a watchdog tick in between ------------------------------------------

    def _on_change(self, kind: str, event_type: str, obj: dict, old: dict | None) -> None:
        if event_type == "MODIFIED" and old is not None and _essence(kind, old) == _essence(kind, obj):
            return   # only the status we wrote, or only the resourceVersion: nothing for nginx
        meta = obj.get("metadata") or {}
        what = "/".join(filter(None, (meta.get("namespace"), meta.get("name"))))
        with self._lock:
            self._changes.append(f"{kind} listed" if event_type == "LISTED" else f"{kind} {what} {event_type.lower()}")
        self._dirty.set()

    def _loop(self) -> None:
        self._resume()
        tick = time.monotonic() + self.options.watchdog_interval
        while not self._stopping.is_set():
            wake_at = min(tick, self._retry_at if self._retry_at is not None else tick)
            changed = self._dirty.wait(max(0.0, wake_at - time.monotonic()))
            if self._stopping.is_set():
                break
            retry_due = self._retry_at is not None and time.monotonic() >= self._retry_at
            if (changed or retry_due) and self.store.synced:
                if changed:
                    time.sleep(self.options.debounce)   # coalesce a burst of changes into one sync
                self._dirty.clear()
                self._attempt()
            elif changed and not self.store.synced:
                self._dirty.clear()   # the informers mark us dirty again when they have listed
            if time.monotonic() >= tick:
                tick = time.monotonic() + self.options.watchdog_interval
                with self._sync_lock:
                    self._watchdog()

    def _resume(self) -> None:
        """Before the caches have listed (10,000 Ingresses take seconds): nginx on this home's last good config and
        endpoints, so traffic flows again at once after `down`/`up`. Adopting a running nginx comes first."""
        o = self.options
        try:
            with self._sync_lock:
                if self.nginx.resume(listen=(o.listen_address, o.http_port, o.https_port)):
                    log.info("nginx resumed with the last good configuration before the first sync")
                    self._write_status_file()
        except Exception:   # the first sync starts nginx anyway
            log.exception("could not resume nginx")

    def _attempt(self) -> None:
        """One sync; if it fails, schedule the next attempt with a doubling delay (a change comes sooner)."""
        try:
            action = self._sync()
            failure = self.last_error if action == "failed" else None
        except Exception as error:   # keep serving the last good config; try again after a while
            failure = self.last_error = f"{type(error).__name__}: {error}"
            log.exception("sync failed")
        if failure is None:
            self.failed_syncs, self._retry_at = 0, None
            return
        self.failed_syncs += 1
        delay = min(self.options.retry_delay * 2 ** (self.failed_syncs - 1), self.options.max_retry_delay)
        self._retry_at = time.monotonic() + delay
        log.warning("sync failed (%d in a row): %s; retrying in %.1fs", self.failed_syncs, failure, delay)

    def _watchdog(self) -> None:
        """nginx died? Start it with the last good config, then give it the current endpoints. nginx alive but
        running another config, or its balancer holding other endpoints than ours? Repair that."""
        try:
            if self.nginx.watchdog():
                log.warning("nginx had died; started again with the last good configuration")
                if self.lua and self.running_config is not None:
                    self.nginx.push_endpoints(self.running_config.backends)
                self._write_status_file()
            if not self.nginx.running or self.running_config is None:
                return
            if self.nginx.reported_checksum() != self.nginx.checksum:
                self._repaired("nginx answered with another configuration than the controller's; reloading")
                self.nginx.checksum = None   # the next sync reloads ours
                self._dirty.set()
            elif self.lua and not self.nginx.balancer_in_sync():
                self.nginx.repush()
                self._repaired("the balancer's endpoints differed from the controller's; pushed them again")
        except Exception as error:
            self.last_error = f"watchdog: {type(error).__name__}: {error}"
            log.exception("watchdog failed")

    def _repaired(self, what: str) -> None:
        log.warning("watchdog: %s", what)
        self.repairs = [*self.repairs[-19:], {"at": time.time(), "what": what}]
        self._write_status_file()

    # ---- one sync -------------------------------------------------------------------------------------------------

    def _sync(self) -> str:
        with self._sync_lock:
            started = time.monotonic()
            with self._lock:
                changes, self._changes = self._changes, []
            result = build_model(self.store.lists(), self.options, lua=self.lua)
            config, reason = result.config, _reason(changes, first=self.running_config is None)
            if config == self.running_config and self.nginx.running and config.checksum() == self.nginx.checksum:
                action = "unchanged"
            elif self.lua and self.nginx.running and config.checksum() == self.nginx.checksum \
                    and self.running_config is not None:   # a resumed/adopted nginx gets `apply`'s check first
                self.nginx.push_endpoints(config.backends)   # only endpoints changed (or nginx adopted): no reload
                self.nginx.config = config
                self.running_config, action = config, "endpoints pushed"
            elif config.checksum() == self._rejected and self.nginx.running:
                if self.lua:   # nginx -t refused this config already; endpoints still flow to the old one
                    self.nginx.push_endpoints(config.backends)
                action = "rejected before"
            else:
                outcome = self.nginx.apply(config, reason=reason)   # render → nginx -t → swap → reload
                action = outcome.action
                if outcome.ok:
                    self.running_config, self._rejected, self.last_error = config, None, None
                else:
                    if outcome.action == "rejected":   # nginx -t said no: only a change can help
                        self._rejected = outcome.checksum
                    else:                              # nginx failed to load it: retried with back-off
                        self.last_error = outcome.error
                        with self._lock:
                            self._changes = changes + self._changes
                    self._reload_failed(result, changes, outcome.error)
            log.info("sync: %s (%s)", action, reason)
            self._post_events(result)
            self._write_statuses(result)
            self.syncs += 1
            self.last_sync = {"at": time.time(), "seconds": round(time.monotonic() - started, 4), "action": action}
            self._write_status_file()
            return action

    def _reload_failed(self, result: TranslateResult, changes: list[str], error: str) -> None:
        """Warning RELOAD on the Ingresses that changed (on all of ours when a ConfigMap or Secret did)."""
        changed = {c.split()[1] for c in changes if c.startswith("Ingress ")} & set(result.statuses)
        for key in sorted(changed or result.statuses):
            namespace, name = key.split("/", 1)
            self.writes.submit(functools.partial(
                self.recorder.record, "Ingress", self.store.get("ingresses", namespace, name), namespace, name,
                "Warning", "RELOAD", f"Error reloading NGINX: {error}"))

    def _post_events(self, result: TranslateResult) -> None:
        synced = {}
        for key in result.statuses:   # ingress-nginx: Normal Sync "Scheduled for sync" when an Ingress changed
            namespace, name = key.split("/", 1)
            ingress = self.store.get("ingresses", namespace, name) or {}
            meta = ingress.get("metadata") or {}
            synced[key] = hashlib.sha256(json.dumps([meta.get("uid"), meta.get("annotations"), ingress.get("spec")],
                                                    sort_keys=True).encode()).hexdigest()
            if self._synced_specs.get(key) != synced[key]:
                self.writes.submit(functools.partial(self.recorder.record, "Ingress", ingress, namespace, name,
                                                     "Normal", "Sync", "Scheduled for sync"))
        self._synced_specs = synced
        roles = {"Ingress": ("ingresses",), "Service": ("services",), "ConfigMap": ("configmap", "tcp_services")}
        for event in result.events:   # translate's events: written when they (re)appear, not on every sync
            if event not in self._posted:
                obj = next(filter(None, (self.store.get(r, event.namespace, event.name)
                                         for r in roles.get(event.kind, ()))), None)
                self.writes.submit(functools.partial(self.recorder.record, event.kind, obj, event.namespace,
                                                     event.name, event.type, event.reason, event.message))
        self._posted = set(result.events)

    def _write_statuses(self, result: TranslateResult) -> None:
        """`status.loadBalancer` on our Ingresses through the status subresource, only where it differs."""
        for key, status in result.statuses.items():
            namespace, name = key.split("/", 1)
            ingress = self.store.get("ingresses", namespace, name)
            wanted = status["loadBalancer"].get("ingress") or []
            current = (((ingress or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if ingress is None or [{k: a[k] for k in ("ip", "hostname") if k in a} for a in current] == wanted:
                continue
            self.writes.submit(functools.partial(self._write_status, key, wanted), key=("status", key))

    def _write_status(self, key: str, wanted: list) -> None:
        namespace, name = key.split("/", 1)
        try:
            call(self.networking.patch_namespaced_ingress_status, name, namespace,
                 {"status": {"loadBalancer": {"ingress": wanted or None}}})
        except ApiException as error:
            if error.status != 404:
                log.warning("cannot write the status of Ingress %s: %s", key, error.reason)

    # ---- what learners and tests read ----------------------------------------------------------------------------

    def status(self) -> dict:
        """The status file's content: nginx's counters and history, the mode, the last sync, the backends."""
        nginx, config = self.nginx, self.running_config
        return {
            "reloads": nginx.reloads, "last_reload_reason": nginx.last_reload_reason, "checksum": nginx.checksum,
            "endpoint_updates": nginx.endpoint_updates, "restarts": nginx.restarts, "lua": self.lua,
            "mode": LUA_MODE if self.lua else STATIC_MODE, "history": [asdict(e) for e in nginx.history[-50:]],
            "nginx_pid": nginx.pid, "conf_path": str(nginx.conf_path),
            "listen": {"address": self.options.listen_address, "http_port": self.options.http_port,
                       "https_port": self.options.https_port},
            "syncs": self.syncs, "last_sync": self.last_sync, "last_error": self.last_error,
            "failed_syncs": self.failed_syncs, "repairs": self.repairs,
            "events_written": self.recorder.written,
            "informers": {role: {"kind": i.kind, "synced": i.synced.is_set(), "relists": i.relists,
                                 "resource_version": i.resource_version, "last_error": i.last_error}
                          for role, i in self.store.informers.items()},
            "backends": [{"name": b.name, "service": f"{b.namespace}/{b.service}:{b.port}",
                          "endpoints": [str(e) for e in b.endpoints]} for b in (config.backends if config else ())],
        }

    def _write_status_file(self) -> None:
        if self.options.status_file is None:
            return
        path = Path(self.options.status_file)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.status(), indent=2, default=str))
        os.replace(temporary, path)   # readers never see half a file


def _essence(kind: str, obj: dict) -> dict:
    """An object without what changes when nothing that matters to nginx does: versions, managed fields, and an
    Ingress's status (which this controller writes itself)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")}
    return {**obj, "metadata": meta, **({"status": None} if kind == "Ingress" else {})}


def _reason(changes: list[str], *, first: bool) -> str:
    """Why nginx reloads, for `last_reload_reason`: the first three changes, or "initial sync"."""
    if first:
        return "initial sync"
    unique = [c for c in dict.fromkeys(changes) if not c.endswith(" listed")] or list(dict.fromkeys(changes))
    return ("; ".join(unique[:3]) + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")) or "resync"


# ---- the process: `python -m ingresslab.ingress.controller`, flags as the real controller's ---------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nginx-ingress-controller", description="ingresslab's Ingress controller: "
                                "watches the cluster and runs nginx (flags as ingress-nginx's controller).")
    add = p.add_argument
    add("--kubeconfig", help="kubeconfig file; without it, in-cluster: $KUBERNETES_SERVICE_HOST/_PORT and a token")
    add("--token-file", help="in-cluster token (default $INGRESSLAB_SA_DIR/token, else the service account's)")
    add("--ca-file", help="in-cluster CA (default $INGRESSLAB_SA_DIR/ca.crt, else the service account's)")
    add("--configmap", help="namespace/name of the controller's ConfigMap")
    add("--tcp-services-configmap", help="namespace/name of the ConfigMap mapping ports to ns/svc:port")
    add("--default-backend-service", help="namespace/name of the Service for unmatched requests")
    add("--publish-service", help="namespace/name of the Service whose addresses go into Ingress status")
    add("--annotations-prefix", default=ANNOTATIONS_PREFIX, help="only the default is supported")
    add("--ingress-class", default="nginx", help="legacy kubernetes.io/ingress.class value to claim")
    add("--controller-class", default="k8s.io/ingress-nginx", help="IngressClass spec.controller to claim")
    add("--watch-ingress-without-class", action="store_true", help="also serve Ingresses that name no class")
    add("--http-port", type=int, default=80)
    add("--https-port", type=int, default=443)
    add("--listen-address", default="127.0.0.1", help="the pod IP (a loopback address in the lab)")
    add("--home", type=Path, help="directory for nginx's files (default $INGRESSLAB_HOME/controller)")
    add("--status-file", type=Path, help="JSON file rewritten after every sync")
    add("--render-only", action="store_true", help="print the nginx.conf for the cluster's Ingresses and exit")
    add("--no-lua", action="store_true", help="static upstreams even when the Lua module is installed")
    add("--privileged-port-offset", type=int, default=0,
        help="the lab without root binds backend ports below 1024 at port+N (default 0: real ports)")
    return p


def api_client_from(args) -> kubernetes.client.ApiClient:
    """`--kubeconfig`, else in-cluster (token and CA from the flags, `$INGRESSLAB_SA_DIR` or the usual files)."""
    configuration = kubernetes.client.Configuration()
    if args.kubeconfig:
        kubernetes.config.load_kube_config(config_file=args.kubeconfig, client_configuration=configuration)
    else:
        from kubernetes.config import incluster_config as incluster
        sa_dir = os.environ.get("INGRESSLAB_SA_DIR")
        token = args.token_file or (f"{sa_dir}/token" if sa_dir else incluster.SERVICE_TOKEN_FILENAME)
        ca = args.ca_file or (f"{sa_dir}/ca.crt" if sa_dir else incluster.SERVICE_CERT_FILENAME)
        incluster.InClusterConfigLoader(token_filename=token, cert_filename=ca).load_and_set(configuration)
    return kubernetes.client.ApiClient(configuration)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = Options(**{k: v for k, v in vars(args).items() if k in Options.__dataclass_fields__},
                          lua=False if args.no_lua else None, nginx_outlives_controller=True)
        api = api_client_from(args)
    except (ValueError, kubernetes.config.ConfigException, OSError) as error:
        print(f"nginx-ingress-controller: {error}", file=sys.stderr)
        return 2
    if args.render_only:
        try:
            print(render_only(api, options), end="")
        finally:
            api.close()
        return 0
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    controller = IngressController(api, options).start()
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        controller.stop()
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
