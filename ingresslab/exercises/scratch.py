"""A scratch namespace where an answer is tried for real, then thrown away.

`Scratch(lab, purpose=…, apps=…)` is a context manager: it creates its own namespace (`check-<purpose>-<token>`),
copies the exercise's apps into it (Deployments and Services from `manifests/`), waits until their endpoints are
ready, and on exit deletes the namespace — with everything in it, so a wrong answer leaves nothing behind.

Isolation. nginx is shared by the whole cluster, and hosts are global in it: an answer for `www.mysite.com` in a
scratch namespace would merge with a learner's own Ingress for that host (the older claim wins) and could mask a
wrong answer — or, for a moment, change what the learner's own Ingress serves. So every host of the answer, and
of the requests, gets the scratch namespace's token as a suffix (`www.mysite.com` → `www.mysite.com.<token>.test`).
That keeps wildcard semantics (`*.mysite.com.<token>.test` still matches exactly one more label) and everything
else the answer says; learners only ever see their own host names. Rules without a host and a rules-less
`defaultBackend` cannot be isolated that way — they are the cluster's catch-all — see `catch_all_claims`.

`wait_for_controller` is the readiness signal: the controller has synced after our change, and wrote
`status.loadBalancer` (kubectl's ADDRESS column) on every Ingress of its class. Neighbours: `routing.py` uses
all of this; `ingresslab.widgets` uses `wait_for_controller` after its Apply button.
"""
from __future__ import annotations

import copy
import secrets
import time
from datetime import datetime, timezone

import kubernetes
import yaml
from kubernetes.client.rest import ApiException

from ingresslab.i18n import _
from ingresslab.ingress.reference import is_selected
from ingresslab.lab import Lab, LabError, manifest_path

MANAGED_BY = "ingresslab-exercises"
LABEL = "app.kubernetes.io/managed-by"
STALE_AFTER = 600.0
"""Seconds after which a scratch namespace left by a crashed kernel is swept by the next check."""


def app_documents(names: tuple[str, ...]) -> list[dict]:
    docs: list[dict] = []
    for name in names:
        docs += [d for d in yaml.safe_load_all(manifest_path(name).read_text()) if d]
    return docs


def wait_for_controller(lab: Lab, namespace: str, ingresses: list[dict], *, since_syncs: int,
                        timeout: float = 15.0) -> dict:
    """Until the controller has synced past `since_syncs` and published an address on each of its Ingresses."""
    networking = kubernetes.client.NetworkingV1Api(lab.api)
    ours = [i["metadata"]["name"] for i in ingresses if is_selected(i)]
    deadline = time.monotonic() + timeout
    while True:
        status = lab.ingress.status()
        if int(status.get("syncs") or 0) > since_syncs:
            pending = []
            for name in ours:
                try:
                    obj = networking.read_namespaced_ingress(name, namespace)
                except ApiException as err:
                    if err.status != 404:
                        raise
                    continue
                if not (obj.status and obj.status.load_balancer and obj.status.load_balancer.ingress):
                    pending.append(name)
            if not pending:
                return status
        if time.monotonic() > deadline:
            raise LabError(_("the Ingress controller did not pick up the Ingress within {seconds} s (last error: "
                             "{error}); look at lab.ingress.status()").format(seconds=f"{timeout:.0f}",
                                                                              error=status.get("last_error")))
        time.sleep(0.03)


def catch_all_claims(lab: Lab, *, except_namespace: str = "") -> list[str]:
    """Ingresses (outside `except_namespace`) that already answer unknown hosts: rules without host, or a
    `defaultBackend` on an Ingress without rules. The oldest claim wins in ingress-nginx."""
    items = kubernetes.client.NetworkingV1Api(lab.api).list_ingress_for_all_namespaces().items
    claims = []
    for obj in lab.api.sanitize_for_serialization(items):
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        if meta.get("namespace") == except_namespace or not is_selected(obj):
            continue
        rules = spec.get("rules") or []
        if (not rules and spec.get("defaultBackend")) or any(not (r or {}).get("host") for r in rules):
            claims.append(f"{meta.get('namespace')}/{meta.get('name')}")
    return claims


class Scratch:
    """One throw-away namespace with the exercise's apps; see the module docstring."""

    def __init__(self, lab: Lab, *, purpose: str, apps: tuple[str, ...], timeout: float = 30.0):
        self.lab = lab
        self.token = secrets.token_hex(3)
        self.namespace = f"check-{purpose}-{self.token}"
        self.suffix = f".{self.token}.test"
        self.apps = apps
        self.timeout = timeout
        self.core = kubernetes.client.CoreV1Api(lab.api)
        self.applied: list[dict] = []

    # ---- life cycle ------------------------------------------------------------------------------------------------

    def __enter__(self) -> "Scratch":
        self._sweep_stale()
        self.core.create_namespace({"metadata": {"name": self.namespace, "labels": {LABEL: MANAGED_BY}}})
        try:
            self.lab.apply(app_documents(self.apps), namespace=self.namespace)
            self._wait_for_endpoints()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self, timeout: float = 10.0) -> None:
        """Delete the namespace and wait until it is gone (its Ingresses, pods and Services with it)."""
        try:
            self.core.delete_namespace(self.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.core.read_namespace(self.namespace)
            except ApiException as err:
                if err.status == 404:
                    return
                raise
            time.sleep(0.03)

    def _sweep_stale(self) -> None:
        """Scratch namespaces a crashed check left behind (ours only: found by label, older than STALE_AFTER)."""
        now = datetime.now(timezone.utc)
        for ns in self.core.list_namespace(label_selector=f"{LABEL}={MANAGED_BY}").items:
            born = ns.metadata.creation_timestamp
            if born and (now - born).total_seconds() > STALE_AFTER:
                try:
                    self.core.delete_namespace(ns.metadata.name)
                except ApiException:
                    pass

    def _wait_for_endpoints(self) -> None:
        """Every app Service has as many ready endpoints as its Deployment wants replicas."""
        wanted = {}
        for doc in app_documents(self.apps):
            if doc["kind"] == "Deployment":
                wanted[doc["spec"]["template"]["metadata"]["labels"]["app"]] = doc["spec"].get("replicas", 1)
        discovery = kubernetes.client.DiscoveryV1Api(self.lab.api)
        deadline = time.monotonic() + self.timeout
        while True:
            ready: dict[str, int] = {}
            for svc in self.services():
                app = svc["selector"].get("app")
                slices = discovery.list_namespaced_endpoint_slice(
                    self.namespace, label_selector=f"kubernetes.io/service-name={svc['name']}").items
                ready[app] = sum(1 for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready)
            if all(ready.get(app, 0) >= n for app, n in wanted.items()):
                return
            if time.monotonic() > deadline:
                raise LabError(_("the exercise's apps did not become ready within {seconds} s (ready endpoints: "
                                 "{ready}, wanted: {wanted})").format(seconds=f"{self.timeout:.0f}", ready=ready,
                                                                      wanted=wanted))
            time.sleep(0.03)

    # ---- hosts: the learner's names ↔ the isolated names ---------------------------------------------------------

    def isolated(self, host: str) -> str:
        return f"{host}{self.suffix}" if host else host

    def learners(self, host: str) -> str:
        return host[:-len(self.suffix)] if host.endswith(self.suffix) else host

    def prepare(self, ingresses: tuple[dict, ...] | list[dict]) -> list[dict]:
        """The learner's Ingresses as they go into the scratch namespace: unique names, isolated hosts."""
        out = []
        for index, ingress in enumerate(ingresses):
            obj = copy.deepcopy(ingress)
            meta = obj.setdefault("metadata", {})
            for key in ("namespace", "resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
                meta.pop(key, None)
            base = (meta.get("name") or "answer")[:40].rstrip("-.")
            meta["name"] = f"{base}-{index + 1}-{self.token}"
            spec = obj.get("spec") or {}
            for rule in spec.get("rules") or []:
                if rule.get("host"):
                    rule["host"] = self.isolated(rule["host"])
            for tls in spec.get("tls") or []:
                tls["hosts"] = [self.isolated(h) for h in tls.get("hosts") or []]
            obj.pop("status", None)
            out.append(obj)
        return out

    def apply(self, ingresses) -> list[dict]:
        """Apply the answer and wait until the controller serves it; returns what was applied."""
        prepared = self.prepare(ingresses)
        since = int(self.lab.ingress.status().get("syncs") or 0)
        self.lab.apply(prepared, namespace=self.namespace)
        self.applied = prepared
        wait_for_controller(self.lab, self.namespace, prepared, since_syncs=since, timeout=self.timeout)
        return prepared

    # ---- what is in the namespace --------------------------------------------------------------------------------

    def services(self) -> list[dict]:
        """`[{name, selector, ports: [{port, name, targetPort}]}]` of the namespace's Services."""
        out = []
        for svc in self.core.list_namespaced_service(self.namespace).items:
            out.append({"name": svc.metadata.name, "selector": svc.spec.selector or {},
                        "ports": [{"port": p.port, "name": p.name, "targetPort": p.target_port}
                                  for p in svc.spec.ports or []]})
        return out

    def pod_labels(self) -> dict[str, dict]:
        return {p.metadata.name: p.metadata.labels or {} for p in self.core.list_namespaced_pod(self.namespace).items}
