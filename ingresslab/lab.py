"""The facade notebooks and the CLI use: start or find the lab, talk to it, stop it.

`Lab.up()` starts the lab process for a home (or reuses the one already running there) and waits until its API
answers; `Lab.connect(kubeconfig=…)` gives the same facade over any cluster, real ones included, starting nothing.
Everything goes through the official `kubernetes` client, so what the notebooks teach is what works elsewhere.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import yaml

from . import home as homes
from . import i18n
from .i18n import N_, _
from .shutdown import stop

if TYPE_CHECKING:
    from .gatewaylab import GatewayView
    import kubernetes

    from .events import Warnings

START_TIMEOUT = 30.0
LABD_BUSY = 3   # `python -m ingresslab.labd` exit code: another lab process holds the home
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Applied(list):
    """The objects `Lab.apply` created or updated; shown like kubectl's output (`service/tea-svc created`)."""

    def __init__(self):
        super().__init__()
        self.verbs: list[str] = []

    def append(self, obj: dict, verb: str = "applied") -> None:  # type: ignore[override]
        super().append(obj)
        self.verbs.append(verb)

    def __repr__(self) -> str:
        lines = []
        for obj, verb in zip(self, self.verbs):
            group = obj.get("apiVersion", "").rpartition("/")[0]
            kind = obj.get("kind", "").lower() + (f".{group}" if group and group != "v1" else "")
            lines.append(f"{kind}/{obj.get('metadata', {}).get('name')} {verb}")
        return "\n".join(lines)


def _kubernetes():
    """The official client, imported on first use: the import costs about 0.2 s, and `ingresslab up`, `down` and
    `status` never need it."""
    import kubernetes
    import kubernetes.client.rest
    return kubernetes


class LabError(RuntimeError):
    """Something a learner can act on, said in plain words."""


class Progress(str):
    """A progress message of `Lab.up`, in the learner's language; `key` is its English words, the same in every
    language, for code that follows the steps (the notebook's progress bar)."""

    key: str

    def __new__(cls, message: str, **values) -> "Progress":
        """`message` is the English msgid (marked with `N_`), `values` fill its placeholders."""
        text = super().__new__(cls, _(message).format(**values))
        text.key = message.format(**values)
        return text


# the lab process's phases (state.json), as Lab.up says them
_PHASE_WORDS = {"starting": N_("lab process starting"), "ready": N_("lab process ready"),
                "failed": N_("lab process failed")}


def _default_progress(message: str) -> None:
    pass


class Lab:
    def __init__(self, *, kubeconfig: Path, home: Path | None = None, embedded: bool = False):
        self.kubeconfig_path = Path(kubeconfig)
        self.home = home
        self.embedded = embedded
        self._api: kubernetes.client.ApiClient | None = None
        self._dynamic = None

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def up(cls, home: str | os.PathLike | None = None, *, progress: Callable[[str], None] | None = None,
           timeout: float = START_TIMEOUT, language: str | None = None) -> "Lab":
        """Start the lab for this home (or reuse the running one) and wait until it is ready.

        One lab per home: the lab process holds the home's lock for its life. When two `up` race, one starts the
        lab and the other finds the lock held and waits for that same lab, so both return it.

        `language="zh"` makes everything the lab says to the learner from here on Chinese (widgets, exercises,
        the `!ingresslab` commands this kernel runs); see `ingresslab.i18n`."""
        if language is not None:
            i18n.use(language)
        progress = progress or _default_progress
        where = homes.resolve_home(home)
        try:
            homes.ensure_home(where)
        except homes.HomeError as exc:
            raise LabError(str(exc)) from None
        running = homes.lab_process(where)
        if running is not None:
            state = homes.read_state(where) or {}
            if state.get("pid") == running.pid and state.get("phase") == "ready":
                progress(Progress(N_("lab already running (pid {pid})"), pid=running.pid))
                return cls._embedded(where, state)
            progress(Progress(N_("a lab is already starting in this home (pid {pid}); waiting for it"),
                              pid=running.pid))
            return cls._wait(where, running.pid, progress, timeout)
        homes.private_dir(where / "logs")
        progress(Progress(N_("starting the cluster process")))
        with homes.open_private(where / "logs" / "lab.log") as log:
            # --detach: the lab process forks away, so it is nobody's child and outlives a notebook kernel. It
            # returns once the lab holds the home's lock and has written its state, or says another one holds it.
            started = subprocess.run([sys.executable, "-m", "ingresslab.labd", "--home", str(where), "--detach"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, timeout=30)
        if started.returncode == LABD_BUSY:
            progress(Progress(N_("another `ingresslab up` started this home's lab first; waiting for that lab")))
            return cls._wait(where, None, progress, timeout)
        if started.returncode != 0:
            raise LabError(_("the lab process could not start (exit {code}); its log is {log}:").format(
                code=started.returncode, log=where / "logs" / "lab.log") + "\n" + _tail(where / "logs" / "lab.log"))
        return cls._wait(where, (homes.read_state(where) or {}).get("pid"), progress, timeout)

    @classmethod
    def _embedded(cls, where: Path, state: dict) -> "Lab":
        """The facade for a running lab. `KUBECONFIG` of this process now names the lab's kubeconfig, so that
        `!kubectl` in a notebook (and programs started from here) talk to the lab, not to another cluster."""
        os.environ["KUBECONFIG"] = str(state["kubeconfig"])
        return cls(kubeconfig=Path(state["kubeconfig"]), home=where, embedded=True)

    @classmethod
    def _wait(cls, where: Path, pid: int | None, progress, timeout: float) -> "Lab":
        """Until the lab process `pid` (None: whichever holds the home) says ready, failed, or dies."""
        deadline = time.monotonic() + timeout
        said = set()
        while time.monotonic() < deadline:
            state = homes.read_state(where) or {}
            if pid is None:
                holder = homes.lab_process(where)
                pid = holder.pid if holder is not None else None
                if pid is None and state.get("phase") == "failed":
                    raise LabError(_("the lab could not start: {error} (see {log})").format(
                        error=state.get("error"), log=where / "logs" / "lab.log"))
            phase = state.get("phase") if pid and state.get("pid") == pid else None
            if phase and phase not in said:
                said.add(phase)
                progress(Progress(_PHASE_WORDS.get(phase, N_("lab process {phase}")), phase=phase))
            if phase == "ready":
                return cls._embedded(where, state)
            if phase == "failed":
                _await_exit(pid, timeout=5)   # it is stopping what it started: let it finish before we report
                raise LabError(_("the lab could not start: {error} (see {log})").format(
                    error=state.get("error"), log=where / "logs" / "lab.log"))
            if pid and not homes.pid_alive(pid):
                raise LabError(_("the lab process exited while starting; its log is {log}:").format(
                    log=where / "logs" / "lab.log") + "\n" + _tail(where / "logs" / "lab.log"))
            time.sleep(0.02)
        raise LabError(_("the lab did not become ready within {seconds} s; see {log}").format(
            seconds=f"{timeout:.0f}", log=where / "logs" / "lab.log"))

    @classmethod
    def connect(cls, kubeconfig: str | os.PathLike | None = None, *, language: str | None = None) -> "Lab":
        """The same facade over an existing cluster (kind, minikube, a real one): nothing embedded is started."""
        if language is not None:
            i18n.use(language)
        path = Path(kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config")).expanduser()
        if not path.exists():
            raise LabError(_("no kubeconfig at {path}").format(path=path))
        return cls(kubeconfig=path, embedded=False)

    def down(self) -> None:
        if self.home is not None:
            stop(self.home)
        if self._api is not None:
            self._api.close()
            self._api = None

    # ------------------------------------------------------------------ clients
    @property
    def api(self) -> kubernetes.client.ApiClient:
        if self._api is None:
            k8s = _kubernetes()
            config = k8s.client.Configuration()
            k8s.config.load_kube_config(config_file=str(self.kubeconfig_path), client_configuration=config)
            self._api = k8s.client.ApiClient(config)
        return self._api

    @property
    def dynamic(self):
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient
            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    def summary(self) -> list[tuple[str, str]]:
        """What a learner needs to know about the running lab, as (what, where) pairs."""
        st = self.status()
        rows = [(_("API server"), st.get("api", "?")), ("kubeconfig", str(self.kubeconfig_path))]
        rows += [(_("node {name}").format(name=n["name"]), n["ip"]) for n in st.get("nodes", [])]
        try:
            ports = self.ingress_node_ports()
        except Exception:  # noqa: BLE001 - a summary shows what it can
            ports = {}
        if ports.get("http_nodeport"):
            rows.append((_("Ingress controller"), _("http NodePort {http}, https NodePort {https}").format(
                http=ports["http_nodeport"], https=ports["https_nodeport"])))
        return rows

    def __repr__(self) -> str:
        kind = _("embedded lab") if self.embedded else _("cluster")
        return f"<{kind}: " + "; ".join(f"{k} {v}" for k, v in self.summary()) + ">"

    def _repr_markdown_(self) -> str:
        kind = _("The embedded lab is running.") if self.embedded else _("Connected to a cluster.")
        lines = [f"**{kind}**", "", "| | |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in self.summary()]
        return "\n".join(lines)

    def warnings_for(self, kind: str, name: str, *, namespace: str = "default") -> "Warnings":
        """The controller's Warning Events on one object as it exists now, each with a plain-words sentence
        (`ingresslab.events`): e.g. `lab.warnings_for("Ingress", "coffee-via-service")`."""
        from .events import warnings_for
        return warnings_for(self.api, kind, name, namespace=namespace)

    def clear_host(self, host: str, *, keep: str | Iterable[str] = ()) -> list[str]:
        """Delete every Ingress, in any namespace, with a rule or a TLS entry for `host`, except those named in
        `keep` (names in the default namespace, or "namespace/name"). A notebook's first cell calls it so that what
        an earlier notebook or the learner left for its host cannot change its outputs. Returns the removed ones
        as sorted "namespace/name" ([] when there were none)."""
        keep = {keep} if isinstance(keep, str) else set(keep)
        keep = {k if "/" in k else f"default/{k}" for k in keep}
        wanted = host.strip().lower()
        if not wanted:
            raise ValueError("clear_host needs a host name, e.g. 'cafe.example.com'")
        networking = _kubernetes().client.NetworkingV1Api(self.api)
        removed = []
        for ing in networking.list_ingress_for_all_namespaces().items:
            key = f"{ing.metadata.namespace}/{ing.metadata.name}"
            hosts = {(r.host or "").lower() for r in ing.spec.rules or []}
            hosts |= {(h or "").lower() for t in ing.spec.tls or [] for h in t.hosts or []}
            if wanted in hosts and key not in keep:
                try:
                    networking.delete_namespaced_ingress(ing.metadata.name, ing.metadata.namespace)
                except _kubernetes().client.rest.ApiException as exc:
                    if exc.status != 404:
                        raise
                removed.append(key)
        return sorted(removed)

    @property
    def ingress(self) -> "IngressView":
        """The Ingress controller's counters, live nginx.conf and backends (like ingress-nginx's kubectl plugin)."""
        return IngressView(self)

    @property
    def gateway(self) -> "GatewayView":
        """The lab's Gateways: status, NodePorts, nginx.conf, route conditions, waits (`gatewaylab.py`)."""
        from .gatewaylab import GatewayView
        return GatewayView(self.api, Path(self.home) if self.home else None)

    def gateway_status(self, name: str, namespace: str = "default") -> dict:
        """A Gateway in plain fields (class, address, Programmed, listeners with their NodePorts)."""
        return self.gateway.status(name, namespace)

    def ingress_node_ports(self) -> dict:
        """The NodePorts of the controller's Service (`IC_HTTP_PORT`/`IC_HTTPS_PORT` in the course)."""
        core = _kubernetes().client.CoreV1Api(self.api)
        try:
            svc = core.read_namespaced_service("ingress-nginx", "ingress-nginx")
        except _kubernetes().client.rest.ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        ports = {p.name or str(p.port): p.node_port for p in svc.spec.ports or []}
        return {"http_nodeport": ports.get("http"), "https_nodeport": ports.get("https")}

    def status(self) -> dict:
        state = homes.read_state(self.home) if self.home else None
        out = {"kubeconfig": str(self.kubeconfig_path), "embedded": self.embedded}
        if state:
            out.update({k: state[k] for k in ("api", "pid", "slot", "nodes", "phase") if k in state})
        else:
            out["api"] = self.api.configuration.host
            nodes = _kubernetes().client.CoreV1Api(self.api).list_node().items
            out["nodes"] = [{"name": n.metadata.name,
                             "ip": next((a.address for a in n.status.addresses or [] if a.type == "InternalIP"), None)}
                            for n in nodes]
        return out

    def bound_port(self, port: int) -> int:
        """The port to dial for a Service or pod port: the same, except in an embedded lab running without root,
        which opens ports below 1024 at port + 10000 (80 → 10080). A real cluster has no such offset."""
        if not self.embedded:
            return port
        from .cluster.node.network import bind_port
        return bind_port(port)

    def wait_rollout(self, *deployments: str, namespace: str = "default", timeout: float = 60.0) -> str:
        """Wait until each Deployment has all its replicas updated and ready (like `kubectl rollout status`), and
        the pods it let go (scaled down, replaced) have finished terminating, which kubectl does not wait for: so
        the next cell sees the settled Deployment."""
        apps = _kubernetes().client.AppsV1Api(self.api)
        deadline = time.monotonic() + timeout
        lines = []
        for name in deployments:
            while True:
                d = apps.read_namespaced_deployment(name, namespace)
                want, st = d.spec.replicas or 0, d.status
                done = (st.observed_generation or 0) >= (d.metadata.generation or 0) and \
                    (st.updated_replicas or 0) == want and (st.ready_replicas or 0) == want and \
                    (st.replicas or 0) == want and \
                    not self._terminating_pods(namespace, _labels_text(d.spec.selector.match_labels))
                if done:
                    lines.append(f"{name}: {want}/{want} ready")
                    break
                if time.monotonic() > deadline:
                    raise LabError(_("deployment {name} did not finish its rollout within {seconds} s").format(
                        name=name, seconds=f"{timeout:.0f}"))
                time.sleep(0.05)
        return ", ".join(lines)

    def _terminating_pods(self, namespace: str, labels: str) -> list[str]:
        """The pods a label selector (`app=tea`) picks that are Terminating (deletionTimestamp set, not yet gone);
        none for an empty selector."""
        if not labels:
            return []
        pods = _kubernetes().client.CoreV1Api(self.api).list_namespaced_pod(namespace, label_selector=labels).items
        return [p.metadata.name for p in pods if p.metadata.deletion_timestamp]

    def iptables(self, *, node: str | None = None) -> str:
        """The iptables-save text kube-proxy's iptables mode would program on a node, for the current Services."""
        from .cluster.node.proxy.iptables import render_iptables_save
        core = _kubernetes().client.CoreV1Api(self.api)
        services = self.api.sanitize_for_serialization(core.list_service_for_all_namespaces().items)
        slices = self.api.sanitize_for_serialization(
            _kubernetes().client.DiscoveryV1Api(self.api).list_endpoint_slice_for_all_namespaces().items)
        node_ip = None
        for n in core.list_node().items:
            if node in (None, n.metadata.name):
                node_ip = next((a.address for a in n.status.addresses or [] if a.type == "InternalIP"), None)
                break
        return render_iptables_save(services, slices, node_ip=node_ip)

    # ------------------------------------------------------------------ objects
    def _resource(self, doc: dict):
        try:
            return self.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        except Exception as exc:  # ResourceNotFoundError and friends
            raise LabError(_('this cluster does not serve kind "{kind}" in apiVersion "{api_version}"').format(
                kind=doc.get("kind"), api_version=doc.get("apiVersion"))) from exc

    def apply(self, source: str | os.PathLike | dict | Iterable[dict], *, namespace: str = "default") -> "Applied":
        """Create or update every object in `source` (YAML text, a file path, a dict or dicts), like kubectl apply.

        Like kubectl, it records what was applied in the `kubectl.kubernetes.io/last-applied-configuration`
        annotation, so a later `kubectl apply` of the same file finds nothing to change."""
        results = Applied()
        for doc in load_documents(source):
            res = self._resource(doc)
            meta = doc.setdefault("metadata", {})
            ns = meta.get("namespace", namespace) if res.namespaced else None
            name = meta.get("name")
            annotations = dict(meta.get("annotations") or {})
            annotations.pop(LAST_APPLIED, None)
            if res.namespaced:
                meta["namespace"] = ns
            # The annotation holds the manifest as kubectl writes it (sorted keys, namespace, annotations {}).
            record = json.loads(json.dumps(doc))
            record["metadata"]["annotations"] = annotations
            annotations[LAST_APPLIED] = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
            meta["annotations"] = annotations
            try:
                current = res.get(name=name, namespace=ns)
            except _kubernetes().client.rest.ApiException as exc:
                if exc.status != 404:
                    raise
                current = None
            if current is None:
                results.append(res.create(body=doc, namespace=ns).to_dict(), "created")
                continue
            before = current.to_dict()
            patch = _apply_patch(before, doc)
            after = res.patch(body=patch, namespace=ns, name=name,
                              content_type="application/merge-patch+json").to_dict()
            same = after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
            results.append(after, "unchanged" if same else "configured")
        return results

    def delete(self, source_or_kind: str | os.PathLike | dict, name: str | None = None, *,
               namespace: str = "default", api_version: str = "v1", missing_ok: bool = True) -> int:
        """Delete the objects in a manifest, or one object: `lab.delete("Service", "tea-svc")`. Like `kubectl delete`,
        it returns once a deleted pod is gone; it also waits for the pods of a deleted Deployment or ReplicaSet to
        finish terminating, so the next cell starts from a settled lab."""
        if name is not None:
            docs = [{"apiVersion": api_version, "kind": source_or_kind, "metadata": {"name": name}}]
            if source_or_kind in ("Deployment", "ReplicaSet"):
                docs[0]["apiVersion"] = "apps/v1"
            elif source_or_kind in ("Ingress", "IngressClass"):
                docs[0]["apiVersion"] = "networking.k8s.io/v1"
        else:
            docs = load_documents(source_or_kind)
        count, leaving = 0, []
        for doc in docs:
            res = self._resource(doc)
            ns = doc.get("metadata", {}).get("namespace", namespace) if res.namespaced else None
            try:
                if doc.get("kind") in ("Deployment", "ReplicaSet"):
                    found = res.get(name=doc["metadata"]["name"], namespace=ns).to_dict()
                    leaving.append((ns, _labels_text(((found.get("spec") or {}).get("selector") or {})
                                                     .get("matchLabels")), None))
                res.delete(name=doc["metadata"]["name"], namespace=ns)
                count += 1
                if doc.get("kind") == "Pod":
                    leaving.append((ns, None, doc["metadata"]["name"]))
            except _kubernetes().client.rest.ApiException as exc:
                if exc.status != 404 or not missing_ok:
                    raise
        for ns, labels, pod in leaving:
            self._wait_terminated(ns, labels, pod)
        return count

    def _wait_terminated(self, namespace: str, labels: str | None, pod: str | None, timeout: float = 60.0) -> None:
        """Until no pod `labels` picks is Terminating (or, with `pod`, until that pod is gone)."""
        core = _kubernetes().client.CoreV1Api(self.api)
        deadline = time.monotonic() + timeout
        while True:
            left = [p.metadata.name for p in core.list_namespaced_pod(namespace).items if p.metadata.name == pod] \
                if pod else self._terminating_pods(namespace, labels or "")
            if not left:
                return
            if time.monotonic() > deadline:
                raise LabError(_("still terminating after {seconds} s: {pods}").format(
                    seconds=f"{timeout:.0f}", pods=", ".join(sorted(left))))
            time.sleep(0.05)


def _labels_text(match_labels: dict | None) -> str:
    """A selector's matchLabels as a label selector string: {"app": "tea"} → "app=tea"."""
    return ",".join(f"{k}={v}" for k, v in sorted((match_labels or {}).items()))


class IngressView:
    """What the embedded controller pod reports in its status file (reloads, checksum, endpoint updates, …)."""

    def __init__(self, lab: Lab):
        self._lab = lab

    def _status_path(self) -> Path:
        state = homes.read_state(self._lab.home) if self._lab.home else None
        if not state:
            raise LabError(_("the Ingress controller's status is only readable for the embedded lab "
                             "(on a real cluster: kubectl ingress-nginx conf / backends)"))
        core = _kubernetes().client.CoreV1Api(self._lab.api)
        pods = core.list_namespaced_pod("ingress-nginx", label_selector="app.kubernetes.io/name=ingress-nginx").items
        running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
        if not running:
            raise LabError(_("no Ingress controller pod is running in namespace ingress-nginx"))
        return Path(self._lab.home) / "nginx" / f"ingress-nginx_{running[0].metadata.name}" / "status.json"

    def status(self, timeout: float = 5.0) -> dict:
        path = self._status_path()
        deadline = time.monotonic() + timeout
        while True:
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise LabError(_("the Ingress controller has not reported yet ({path})").format(path=path)) \
                        from None
                time.sleep(0.05)

    def wait_ready(self, timeout: float = 15.0) -> str:
        """Until the controller pod's nginx serves its first configuration (e.g. after a rollout of the
        controller). Returns what it is serving as a short sentence."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.status(timeout=0)
                if status.get("nginx_pid") and status.get("last_sync"):
                    return _("the Ingress controller is serving ({mode})").format(mode=status.get("mode", "ready"))
            except LabError:
                pass
            if time.monotonic() > deadline:
                raise LabError(_("the Ingress controller did not become ready within {seconds} s").format(
                    seconds=f"{timeout:.0f}"))
            time.sleep(0.05)

    def wait_synced(self, timeout: float = 15.0, *, quiet: float = 0.3) -> str:
        """Until the controller has passed the changes made before this call on to nginx; returns what its last
        sync did ("reloaded", "endpoints pushed", "unchanged", …).

        The controller syncs about 10 ms after any change it watches and reports each finished sync (a counter
        and the time it ended). So this waits until no sync has finished for `quiet` seconds after the call — a
        sync the change started has then ended. It is a wait for quiet, not a proof: when you know what the change
        must produce, `wait_until` on that effect is exact."""
        started = time.monotonic()
        deadline = started + timeout
        last = self.status(timeout=timeout)
        calm_since = started
        while True:
            now = time.monotonic()
            current = self.status(timeout=max(0.0, deadline - now))
            if (current.get("syncs"), (current.get("last_sync") or {}).get("at")) != \
                    (last.get("syncs"), (last.get("last_sync") or {}).get("at")):
                last, calm_since = current, now
            elif now - calm_since >= quiet:
                return str((current.get("last_sync") or {}).get("action") or "nothing to sync")
            if now > deadline:
                raise LabError(_("the Ingress controller kept syncing for {seconds} s without a pause of {quiet} s "
                                 "(last error: {error})").format(seconds=f"{timeout:.0f}", quiet=f"{quiet:.1f}",
                                                                 error=current.get("last_error")))
            time.sleep(0.02)

    def wait_until(self, check: Callable[["IngressView"], object], *, timeout: float = 15.0, what: str = ""):
        """Call `check(lab.ingress)` until it returns something truthy, and return that: the way to wait for a
        change to reach nginx, e.g. `lab.ingress.wait_until(lambda i: "client_max_body_size 1k;" in i.conf())`.
        Raises LabError after `timeout` seconds, naming `what` was awaited."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = check(self)
            except LabError:
                value = None          # the controller is restarting: its status is back in a moment
            if value:
                return value
            if time.monotonic() > deadline:
                values = {"seconds": f"{timeout:.0f}", "what": what, "error": self._last_error()}
                if what:
                    raise LabError(_("the Ingress controller did not get there within {seconds} s: {what} (last "
                                     "error: {error})").format(**values))
                raise LabError(_("the Ingress controller did not get there within {seconds} s (last error: "
                                 "{error})").format(**values))
            time.sleep(0.05)

    def _last_error(self) -> str | None:
        try:
            return self.status(timeout=0).get("last_error")
        except LabError as err:
            return str(err)

    def conf(self) -> str:
        """The nginx.conf nginx is running now."""
        return Path(self.status()["conf_path"]).read_text()

    def backends(self) -> list[dict]:
        return self.status().get("backends", [])

    @property
    def reloads(self) -> int:
        return int(self.status().get("reloads", 0))

    @property
    def endpoint_updates(self) -> int:
        return int(self.status().get("endpoint_updates", 0))

    @property
    def checksum(self) -> str | None:
        return self.status().get("checksum")


def _removed(old: dict | None, new: dict) -> dict:
    """A merge patch's nulls: keys the previous manifest set and the new one dropped (maps only, as JSON merge
    patch works; lists are replaced whole)."""
    out = {}
    for key, value in (old or {}).items():
        if key not in new:
            out[key] = None
        elif isinstance(value, dict) and isinstance(new[key], dict):
            nested = _removed(value, new[key])
            if nested:
                out[key] = nested
    return out


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _apply_patch(current: dict, desired: dict) -> dict:
    """The merge patch that takes the live object to `desired` the way kubectl apply would: fields the last apply
    set and this one dropped are removed; what the server or controllers own (status, allocated IPs and NodePorts,
    their annotations) is left alone.

    `current` is the object as the API sent it (camelCase JSON)."""
    try:
        previous = json.loads((current["metadata"].get("annotations") or {}).get(LAST_APPLIED) or "null")
    except ValueError:
        previous = None
    patch = _merge(_removed(previous, desired), json.loads(json.dumps(desired)))
    if desired.get("kind") == "Service":
        spec, cur = patch.setdefault("spec", {}), current.get("spec") or {}
        allocated = {p["port"]: p.get("nodePort") for p in cur.get("ports") or []}
        if (spec.get("type") or cur.get("type")) in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                if "nodePort" not in port and allocated.get(port.get("port")):
                    port["nodePort"] = allocated[port["port"]]
    return patch


MANIFESTS = Path(__file__).resolve().parent / "manifests"


def manifest_path(name: str) -> Path:
    """One of the course's manifests (`cafe.yaml`, `cafe-ingress.yaml`, …), shipped inside the package."""
    path = MANIFESTS / name
    if not path.exists():
        known = ", ".join(sorted(p.name for p in MANIFESTS.iterdir()))
        raise LabError(_("no course manifest named {name} (there are: {known})").format(name=name, known=known))
    return path


def load_documents(source) -> list[dict]:
    if isinstance(source, dict):
        return [source]
    if isinstance(source, (list, tuple)):
        return [dict(d) for d in source]
    text = str(source)
    if isinstance(source, Path) or ("\n" not in text and text.endswith((".yaml", ".yml", ".json"))):
        path = Path(text).expanduser()
        if not path.exists():
            raise LabError(_("no such manifest file: {path}").format(path=path))
        text = path.read_text()
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        raise LabError(_("the manifest is not valid YAML: {error}").format(error=exc)) from None
    out = []
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
            raise LabError(_("every document in a manifest needs `apiVersion` and `kind`"))
        if d["kind"].endswith("List") and "items" in d:
            out.extend(d["items"])
        else:
            out.append(d)
    return out


def _await_exit(pid: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while homes.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
