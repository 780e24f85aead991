"""The controller's store: one small list+watch cache per kind, as client-go's informers are ingress-nginx's.

An `Informer` lists its kind once (the cache is then complete: `synced`), then watches from the list's
resourceVersion with `kubernetes.watch.Watch().stream(...)` and applies every ADDED / MODIFIED / DELETED to the
cache, calling `on_change(kind, event_type, obj, old)` after each. A watch that simply times out is resumed from the last
resourceVersion seen; an ERROR event (410 Gone: that version is too old) or a broken connection means a fresh list,
after a backoff that grows from 0.1 s to 5 s while failures repeat. Objects are kept as the plain JSON dicts the API
sent (`raw_object`), which is what `translate.py` reads.

`sources()` names what the Ingress controller needs (Ingresses, IngressClasses, Services, EndpointSlices, Secrets,
Nodes, and its own ConfigMaps) and `Store` keeps one `Informer` for each — ingress-nginx's
internal/ingress/controller/store. It reads the cluster only through the official `kubernetes` client, so it works
the same against the embedded lab and a real cluster. Neighbours: `controller.py` syncs when the store changes.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable

import kubernetes
from kubernetes import watch
from kubernetes.client.rest import ApiException

log = logging.getLogger("ingresslab.ingress.informer")

OnChange = Callable[[str, str, dict, "dict | None"], None]
"""on_change(kind, event type — ADDED, MODIFIED, DELETED or LISTED —, object ({} after a list), the cached object
it replaces or None)."""

API_VERSIONS = {"Ingress": "networking.k8s.io/v1", "IngressClass": "networking.k8s.io/v1",
                "EndpointSlice": "discovery.k8s.io/v1"}   # every other kind here is core/v1
WATCH_TIMEOUT = 300          # seconds the API server keeps one watch open before we resume it
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0


def object_key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


def list_objects(list_fn: Callable, *, kind: str = "", api_version: str = "", **kwargs) -> tuple[list[dict], str]:
    """One list call, read as raw JSON (no model classes): (items, the list's resourceVersion).

    A real API server leaves `kind` and `apiVersion` out of list items; they are filled in, so every cached object
    looks like one a watch delivered (translate.py tells a ConfigMap object from its bare `data` by its kind)."""
    response = list_fn(_preload_content=False, _request_timeout=30, **kwargs)
    try:
        body = json.loads(response.data)
    finally:
        response.release_conn()
    items = body.get("items") or []
    for item in items:
        item.setdefault("kind", kind)
        item.setdefault("apiVersion", api_version)
    return items, (body.get("metadata") or {}).get("resourceVersion") or ""


class Informer:
    """List, then watch, one kind; keep the objects by (namespace, name); tell `on_change` about every change."""

    def __init__(self, kind: str, list_fn: Callable, *, api_version: str = "v1", on_change: OnChange | None = None,
                 **list_kwargs):
        self.kind, self.api_version = kind, api_version
        self._list_fn, self._kwargs = list_fn, list_kwargs
        self._on_change = on_change or (lambda *_: None)
        self._objects: dict[tuple[str, str], dict] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.synced = threading.Event()
        self._watch = watch.Watch()   # reused: each stream() is one watch request
        self._thread: threading.Thread | None = None
        self.relists = 0
        self.resource_version = ""
        self.last_error: str | None = None

    # ---- reading the cache ----------------------------------------------------------------------------------------

    def list(self) -> list[dict]:
        with self._lock:
            return list(self._objects.values())

    def get(self, namespace: str, name: str) -> dict | None:
        with self._lock:
            return self._objects.get((namespace or "", name))

    # ---- life cycle -----------------------------------------------------------------------------------------------

    def start(self) -> "Informer":
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and join the thread. `Watch.stop()` shuts the socket down, which wakes a blocked read;
        it is repeated because a new watch may open between our flag and its check."""
        self._stopping.set()
        thread, waited = self._thread, 0.0
        while thread is not None and thread.is_alive() and waited < timeout:
            self._watch.stop()
            thread.join(0.05)
            waited += 0.05
        self._thread = None

    # ---- the loop -------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                self._relist()
                while not self._stopping.is_set():
                    self._watch_once()   # returns when the server ends the watch: resume from our version
                    backoff = BACKOFF_FIRST
            except _Expired as expired:
                log.info("%s watch: %s; listing again", self.kind, expired)
            except Exception as error:  # the API is down, the connection broke, a bad answer: list again later
                if self._stopping.is_set():
                    break
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("%s informer: %s; listing again in %.1f s", self.kind, self.last_error, backoff)
                if self._stopping.wait(backoff):
                    break
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _relist(self) -> None:
        items, version = list_objects(self._list_fn, kind=self.kind, api_version=self.api_version, **self._kwargs)
        with self._lock:
            self._objects = {object_key(o): o for o in items}
            self.resource_version = version
        self.relists += 1
        self.last_error = None
        self.synced.set()
        self._on_change(self.kind, "LISTED", {}, None)

    def _watch_once(self) -> None:
        stream = self._watch.stream(self._list_fn, resource_version=self.resource_version,
                                    timeout_seconds=WATCH_TIMEOUT, _request_timeout=WATCH_TIMEOUT + 30,
                                    **self._kwargs)
        try:
            for event in stream:
                if self._stopping.is_set():
                    break
                self._apply(event["type"], event["raw_object"])
        except ApiException as error:
            if error.status == 410:
                raise _Expired(f"{error.status} {error.reason}") from None
            raise
        finally:
            stream.close()   # closes the response now, not when the generator is collected

    def _apply(self, kind: str, obj: dict) -> None:
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            self.resource_version = version or self.resource_version
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return
        with self._lock:
            if kind == "DELETED":
                old = self._objects.pop(object_key(obj), None)
            else:
                old, self._objects[object_key(obj)] = self._objects.get(object_key(obj)), obj
            self.resource_version = version or self.resource_version
        self._on_change(self.kind, kind, obj, old)


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): the cache must be listed again."""


Source = tuple[str, Callable, dict]
"""(kind, list function of the official client, its arguments)."""


def sources(api: kubernetes.client.ApiClient, *, configmap: str | None = None,
            tcp_services: str | None = None) -> dict[str, Source]:
    """What the Ingress controller lists and watches, by role; the two ConfigMaps (`ns/name`) only when named."""
    core, networking = kubernetes.client.CoreV1Api(api), kubernetes.client.NetworkingV1Api(api)
    found = {"ingresses": ("Ingress", networking.list_ingress_for_all_namespaces, {}),
             "ingress_classes": ("IngressClass", networking.list_ingress_class, {}),
             "services": ("Service", core.list_service_for_all_namespaces, {}),
             "endpoint_slices": ("EndpointSlice",
                                 kubernetes.client.DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces, {}),
             "secrets": ("Secret", core.list_secret_for_all_namespaces, {}),
             "nodes": ("Node", core.list_node, {})}
    for role, ref in (("configmap", configmap), ("tcp_services", tcp_services)):
        if ref:
            namespace, _, name = ref.partition("/")
            found[role] = ("ConfigMap", core.list_namespaced_config_map,
                           {"namespace": namespace, "field_selector": f"metadata.name={name}"})
    return found


def list_once(found: dict[str, Source]) -> dict[str, list[dict]]:
    """Every source listed once, no watch: what `--render-only` renders."""
    return {role: list_objects(fn, kind=kind, api_version=API_VERSIONS.get(kind, "v1"), **kw)[0]
            for role, (kind, fn, kw) in found.items()}


class Store:
    """One `Informer` per source, by role: `lists()` is a snapshot of every cache, `get()` one object."""

    def __init__(self, found: dict[str, Source], on_change: OnChange):
        self.informers = {role: Informer(kind, fn, api_version=API_VERSIONS.get(kind, "v1"), on_change=on_change,
                                         **kw) for role, (kind, fn, kw) in found.items()}

    def start(self) -> None:
        for informer in self.informers.values():
            informer.start()

    def stop(self) -> None:
        for informer in self.informers.values():
            informer.stop()

    @property
    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers.values())

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(i.synced.wait(max(0.0, deadline - time.monotonic())) for i in self.informers.values())

    def lists(self) -> dict[str, list[dict]]:
        return {role: informer.list() for role, informer in self.informers.items()}

    def get(self, role: str, namespace: str, name: str) -> dict | None:
        informer = self.informers.get(role)
        return informer.get(namespace, name) if informer else None
