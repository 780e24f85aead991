"""The kubelet: run the pods bound to the lab's nodes as real servers, probe them, restart and stop them.

For a pod the scheduler bound (`spec.nodeName`), the kubelet reports it ContainerCreating at once, gives it the
lowest free address of that node's pod CIDR (an address goes back to the pool when its pod is gone), starts each
container's image with `images.start_app` on that address at each container port (ports below 1024 at the lab's
offset when not root, `network.bind_port`), and posts the status a real kubelet posts: phase Running, podIP,
hostIP, conditions, containerStatuses, events Pulled/Created/Started. Pods already in the store when the kubelet
starts (a restarted lab) are started again on their recorded addresses.

Lifecycle, as the kubelet words it (the functions under "lifecycle" below):
* probes (`probes.py`): a startup probe holds the others back until it succeeds; readiness sets `containerStatuses[].ready` and the Ready condition (so the endpoint's
  `ready`); liveness failure kills the container (event Killing, `lastState.terminated`, the log rotated for
  `logs --previous`) and starts it again (a failed startup probe too), after the first time through the crash back-off (CrashLoopBackOff);
* an image the lab does not know: ErrImagePull, then ImagePullBackOff, pulled again after 10 s, 20 s … 300 s;
  any other start failure is retried with a growing back-off;
* deletion: a pod marked with `deletionTimestamp` (graceful deletion, `apiserver/graceful.py`) has its containers
  stopped at once (event Killing) and is deleted for good after the next relist.

Logs are `podlogs.PodLog`s; `logs()` and `follow()` serve the API's `/log` subresource. Neighbours: the scheduler
binds the pods; the replicaset controller creates them; the endpointslice controller reads the IPs and readiness
written here.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import re
import secrets
from pathlib import Path

from ingresslab.cluster.node import commandimages  # noqa: F401 — registers busybox, curlimages/curl, nginx
from ingresslab.cluster.node import cri, images, probes
from ingresslab.cluster.node.completion import reporter
from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.client.controller import Controller, meta
from ingresslab.cluster.client.record import EventRecorder
from ingresslab.cluster.node.network import Network, Node, bind_port
from ingresslab.cluster.node.podlogs import LogFollower, PodLog  # noqa: F401 (re-exported)
from ingresslab.cluster.node.streams import PodStreams
from ingresslab.cluster.storage.store import Event, Store, now_rfc3339

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0     # the kubelet's CrashLoopBackOff and image pull back-off steps
ERR_IMAGE_PULL_SECONDS = 1.0                 # ErrImagePull shows until the next sync finds the image in back-off
PLEG_RELIST_SECONDS = 1.0                    # the kubelet notices stopped containers at its next relist


class _Container:
    """One container of a held pod: its running app, probe workers and what its containerStatuses entry says."""

    def __init__(self, spec: dict, before: dict | None):
        before = before or {}
        self.name: str = spec["name"]
        self.spec = spec
        self.handle: images.AppHandle | None = None
        self.workers: list[probes.ProbeWorker] = []
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.container_id: str | None = None
        self.previous_id: str | None = before.get("containerID")   # ran before this kubelet started (lab restart)
        self.restart_count = int(before.get("restartCount") or 0)
        self.last_state: dict = before.get("lastState") or {}
        self.probe_ready: bool | None = False if spec.get("readinessProbe") else None
        self.probe_started = not spec.get("startupProbe")   # a startup probe must succeed first

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def started(self) -> bool:
        return self.running and self.probe_started

    @property
    def ready(self) -> bool:
        return self.started and self.probe_ready is not False

    async def stop(self) -> None:
        workers, self.workers = self.workers, []
        for worker in workers:
            await worker.stop()
        handle, self.handle = self.handle, None
        if handle is not None:
            await handle.close()


class _Pod:
    """What the kubelet holds for one pod (one uid): its node and address, its containers and logs."""

    def __init__(self, pod: dict, node: Node, ip: str):
        self.uid = meta(pod)["uid"]
        self.node, self.ip = node, ip
        self.containers: dict[str, _Container] = {}
        self.logs: dict[str, PodLog] = {}
        self.waiting: str | None = "ContainerCreating"     # why containers are not running, if they are not
        self.retry_at: float | None = None
        self.attempts = 0
        self.restart_wanted: dict[str, str] = {}            # container → the probe that failed ("liveness")
        self.stopped_at: float | None = None                # when its containers were stopped for deletion
        self.status_dirty = False                           # a readiness result changed since the last post

    @property
    def handles(self) -> list[images.AppHandle]:
        return [c.handle for c in self.containers.values() if c.handle is not None]

    async def close_apps(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.containers.values()))


def _file_safe(name: str) -> str:
    """API names are DNS names already; objects written straight to the store are not checked, so be sure."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", name).lstrip(".") or "-"


def _qualified(image: str) -> str:
    """The image as containerStatuses show it: `docker.io/nginxdemos/nginx-hello:plain-text`."""
    name = images.normalize_image(image)
    first = name.split("/")[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    return name if "." in first or ":" in first else f"docker.io/{name}"


def _condition(type_: str, ok: bool, previous: list[dict], now: str, reason: str = "", message: str = "") -> dict:
    state = "True" if ok else "False"
    before = next((c for c in previous if c.get("type") == type_), None)
    cond = {"type": type_, "status": state, "lastProbeTime": None,
            "lastTransitionTime": before["lastTransitionTime"] if before and before.get("status") == state
            and before.get("lastTransitionTime") else now}
    if reason:
        cond.update(reason=reason, message=message)
    return cond


class Kubelet(Controller):
    name = "kubelet"
    kinds = ("pods",)

    def __init__(self, store: Store, network: Network, recorder: EventRecorder, *, home: Path,
                 exec_runner: probes.ExecRunner = probes.builtin_exec):
        super().__init__(store)
        self.network = network
        self.recorder = recorder
        self.log_dir = Path(home) / "logs" / "pods"
        self.exec_runner = exec_runner      # how exec probes run a command in a container
        self._pods: dict[tuple[str, str], _Pod] = {}
        self.streams = PodStreams(self, home=home)      # exec, attach, port-forward (the API server calls it)

    def initial_keys(self):
        return [(meta(p).get("namespace", ""), meta(p)["name"]) for p in self.store.iter_raw("pods")]

    def keys_for(self, event: Event):
        yield (meta(event.object).get("namespace", ""), meta(event.object)["name"])

    # ------------------------------------------------------------------------------------------- reconcile
    async def reconcile(self, key) -> None:
        pod = self.store.get("pods", *key)
        held = self._pods.get(key)
        if held is not None and (pod is None or meta(pod)["uid"] != held.uid):
            await self._forget(key)
            held = None
        if pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return      # the scheduler binds it to a node first
        node = next((n for n in self.network.nodes if n.name == node_name), None)
        if node is None:
            return      # bound to a node this lab does not have: stays Pending, as with a real missing node
        if meta(pod).get("deletionTimestamp"):
            await self._terminate(key, held)
            return
        if held is not None:
            if held.restart_wanted:
                await self._restart_unhealthy(key, pod, node, held)
                return
            if held.status_dirty:
                held.status_dirty = False
                self._post_status(key, held, node)
            if held.retry_at is None or asyncio.get_running_loop().time() < held.retry_at:
                return
            held.retry_at = None
            if held.waiting == "ErrImagePull":
                self._image_pull_backoff(key, pod, node, held)
                return
        await self._run(pod, node, held)

    def _allocate_ip(self, pod: dict, node: Node) -> str:
        uid = meta(pod)["uid"]
        used = {held.ip for held in self._pods.values()}
        used |= {p["status"]["podIP"] for p in self.store.iter_raw("pods")
                 if meta(p)["uid"] != uid and (p.get("status") or {}).get("podIP")
                 and (p.get("spec") or {}).get("nodeName") == node.name}
        recorded = (pod.get("status") or {}).get("podIP")
        candidates = list(self.network.pod_ips(node))
        if recorded in candidates and recorded not in used:
            return recorded
        for ip in candidates:
            if ip not in used:
                return ip
        raise errors.ApiError(500, "InternalError", f"node {node.name}: no free address left in {node.pod_cidr}")

    def _hold(self, pod: dict, node: Node) -> _Pod:
        """Take a new pod in: its address, its containers (counting restarts recorded by an earlier run), its logs;
        and say so at once (ContainerCreating), as the kubelet does while it sets up the sandbox and pulls."""
        key = (meta(pod).get("namespace", ""), meta(pod)["name"])
        held = _Pod(pod, node, self._allocate_ip(pod, node))
        self._pods[key] = held
        before = {cs.get("name"): cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        resume = any(cs.get("containerID") for cs in before.values())
        for i, container in enumerate(pod["spec"].get("containers") or []):
            held.containers[container["name"]] = _Container(container, before.get(container["name"]))
            parts = [*key, container["name"]] if i else list(key)
            held.logs[container["name"]] = PodLog(self.log_dir / f"{'_'.join(map(_file_safe, parts))}.log",
                                                  resume=resume)
        self._post_status(key, held, node, creating=True)
        return held

    async def _run(self, pod: dict, node: Node, held: _Pod | None) -> None:
        key = (meta(pod).get("namespace", ""), meta(pod)["name"])
        if held is None:
            held = self._hold(pod, node)
        host = {"component": "kubelet", "host": node.name}
        failure: tuple[str, str] | None = None
        for container in pod["spec"].get("containers") or []:
            cname, image = container["name"], container.get("image", "")
            c = held.containers[cname]
            if c.running:
                continue
            if failure is not None:
                c.state = {"waiting": {"reason": "PodInitializing"}}
                continue
            try:
                env = self._env(pod, container, node, held.ip)
                ports = [int(p["containerPort"]) for p in container.get("ports") or []
                         if (p.get("protocol") or "TCP") == "TCP" and p.get("containerPort")]
                default = images.IMAGES.get(images.normalize_image(image))
                bound = ports or ([default.port, *default.extra_ports] if default else [])
                if default is not None:
                    self.recorder.normal(pod, "Pulled", f'Container image "{image}" already present on machine',
                                         **host)
                handle = await images.start_app(image, pod_ip=held.ip, ports=ports,
                                              bind_ports={p: bind_port(p) for p in bound}, pod_name=key[1],
                                              namespace=key[0], env=env, log=held.logs[cname].append,
                                              log_block=held.logs[cname].extend_text,
                                              args=expand_args(container, env), **self._command_context(
                                                  pod, container, host))
            except images.UnknownImage as exc:
                self.recorder.normal(pod, "Pulling", f'Pulling image "{image}"', **host)
                self.recorder.warning(pod, "Failed", f'Failed to pull image "{image}": {exc}', **host)
                self.recorder.warning(pod, "Failed", "Error: ErrImagePull", **host)
                failure = ("ErrImagePull", str(exc))
                c.state = {"waiting": {"reason": "ErrImagePull", "message": str(exc)}}
                continue
            except (OSError, ValueError, LookupError, errors.ApiError) as exc:
                reason = "CreateContainerConfigError" if isinstance(exc, (LookupError, errors.ApiError)) \
                    else "RunContainerError"
                message = getattr(exc, "message", None) or str(exc)
                self.recorder.warning(pod, "Failed", f"Error: {message}", **host)
                failure = (reason, message)
                c.state = {"waiting": {"reason": reason, "message": message}}
                continue
            c.handle = handle
            self._container_started(key, held, node, c)
            self.recorder.normal(pod, "Created", f"Created container {cname}", **host)
            self.recorder.normal(pod, "Started", f"Started container {cname}", **host)
        if failure is not None:
            await held.close_apps()
            for c in held.containers.values():
                if c.running:
                    c.state = {"waiting": {"reason": failure[0], "message": failure[1]}}
            held.waiting = failure[0]
            held.attempts += 1
            if failure[0] == "ErrImagePull":
                # The kubelet's next sync finds the image in back-off: ImagePullBackOff shortly after.
                delay = ERR_IMAGE_PULL_SECONDS
            else:
                delay = min(BACKOFF_START * 2 ** (held.attempts - 1), BACKOFF_MAX)
            held.retry_at = asyncio.get_running_loop().time() + delay
            self.enqueue_after(key, delay)
        else:
            held.waiting = None
            held.attempts = 0
        self._post_status(key, held, node)

    def _command_context(self, pod: dict, container: dict, host: dict) -> dict:
        """What an image that runs a command needs (`commandimages.py`): its spec, its view, its status reports."""
        ns, name = meta(pod).get("namespace", ""), meta(pod)["name"]
        return {"container": container, "restart_policy": pod["spec"].get("restartPolicy") or "Always",
                "view": lambda: self.streams.container(ns, name, container["name"]),
                "report": reporter(self.store, self.recorder, pod, host),
                "event": lambda reason, message: self.recorder.warning(pod, reason, message, **host)}

    def _env(self, pod: dict, container: dict, node: Node, ip: str) -> dict[str, str]:  # noqa: C901
        fields = {"metadata.name": meta(pod)["name"], "metadata.namespace": meta(pod).get("namespace", ""),
                  "metadata.uid": meta(pod)["uid"], "spec.nodeName": node.name, "status.podIP": ip,
                  "status.hostIP": node.ip, "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "")}
        env = {}
        for var in container.get("env") or []:
            source = var.get("valueFrom") or {}
            if "fieldRef" in source:
                path = source["fieldRef"].get("fieldPath", "")
                if path.startswith("metadata.labels['"):
                    env[var["name"]] = (meta(pod).get("labels") or {}).get(path[17:-2], "")
                else:
                    env[var["name"]] = fields.get(path, "")
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                ref = source.get("configMapKeyRef") or source.get("secretKeyRef")
                kind = "configmaps" if "configMapKeyRef" in source else "secrets"
                obj = self.store.get(kind, meta(pod).get("namespace", ""), ref.get("name", ""))
                data = (obj or {}).get("data") or {}
                if ref.get("key") not in data:
                    if ref.get("optional"):
                        continue
                    what = "configmap" if kind == "configmaps" else "secret"
                    raise LookupError(f'{what} "{ref.get("name")}" not found' if obj is None
                                      else f"couldn't find key {ref.get('key')} in {what.title()} "
                                           f"{meta(pod).get('namespace')}/{ref.get('name')}")
                value = data[ref["key"]]
                env[var["name"]] = base64.b64decode(value).decode("utf-8", "replace") if kind == "secrets" else value
            else:
                env[var["name"]] = str(var.get("value", ""))
        return env

    # ------------------------------------------------------------------------------------------- lifecycle
    def _container_started(self, key, held: _Pod, node: Node, c: _Container) -> None:
        """A new instance of the container runs: a new ID, a restart counted if one ran before, probes started."""
        now = now_rfc3339()
        if c.previous_id:
            c.restart_count += 1
            if not (c.last_state.get("terminated") or {}).get("containerID") == c.previous_id:
                c.last_state = {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": now,
                                               "containerID": c.previous_id}}
        c.previous_id = None
        c.container_id = f"containerd://{secrets.token_hex(32)}"
        c.state = {"running": {"startedAt": now}}
        c.probe_ready = False if c.spec.get("readinessProbe") else None
        c.probe_started = not c.spec.get("startupProbe")
        self._start_probes(key, held, node, c)

    def _start_probes(self, key, held: _Pod, node: Node, c: _Container) -> None:
        c.workers += probes.workers_for(
            c.spec, started=c.probe_started, pod_ip=held.ip, node_ip=node.ip, namespace=key[0], pod=key[1],
            runner=self.exec_runner, on_result=functools.partial(self._probe_result, key, held.uid),
            on_failure=functools.partial(self._probe_failed, key, held.uid))

    def _container_stopped(self, c: _Container, *, exit_code: int = 0, reason: str = "Completed") -> None:
        started = (c.state.get("running") or {}).get("startedAt")
        c.last_state = {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": started,
                                       "finishedAt": now_rfc3339(), "containerID": c.container_id}}
        c.previous_id, c.container_id = c.container_id, None
        c.state = {"waiting": {"reason": "ContainerCreating"}}

    def _probe_result(self, key, uid: str, cname: str, kind: str, ok: bool) -> None:
        held = self._pods.get(key)
        if held is None or held.uid != uid or cname not in held.containers:
            return
        c = held.containers[cname]
        if kind == "Readiness":
            c.probe_ready = ok
            held.status_dirty = True
        elif kind == "Startup" and ok:
            c.probe_started = True
            held.status_dirty = True
            self._start_probes(key, held, held.node, c)
        elif not ok:
            held.restart_wanted[cname] = kind.lower()
        self.enqueue(key)

    def _probe_failed(self, key, uid: str, cname: str, message: str) -> None:
        held, pod = self._pods.get(key), self.store.get("pods", *key)
        if held is None or held.uid != uid or pod is None or meta(pod)["uid"] != uid:
            return
        self.recorder.warning(pod, "Unhealthy", message, component="kubelet", host=held.node.name)

    async def _restart_unhealthy(self, key, pod: dict, node: Node, held: _Pod) -> None:
        """Liveness failed: kill the container (its log becomes the previous instance's) and start it again — at
        once the first time, then after the kubelet's crash back-off (10 s, 20 s … 300 s: CrashLoopBackOff)."""
        host = {"component": "kubelet", "host": node.name}
        delay = 0.0
        for cname, probe in sorted(held.restart_wanted.items()):
            c = held.containers[cname]
            self.recorder.normal(pod, "Killing", f"Container {cname} failed {probe} probe, will be restarted",
                                 **host)
            await c.stop()
            self._container_stopped(c)
            held.logs[cname].rotate()
            if c.restart_count >= 1:
                wait = min(BACKOFF_START * 2 ** (c.restart_count - 1), BACKOFF_MAX)
                ns, name, uid = key[0], key[1], held.uid
                c.state = {"waiting": {"reason": "CrashLoopBackOff", "message": (
                    f"back-off {wait:g}s restarting failed container={cname} pod={name}_{ns}({uid})")}}
                self.recorder.warning(pod, "BackOff", f"Back-off restarting failed container {cname} in pod "
                                      f"{name}_{ns}({uid})", **host)
                delay = max(delay, wait)
        held.restart_wanted.clear()
        if delay:
            held.waiting = "CrashLoopBackOff"
            held.retry_at = asyncio.get_running_loop().time() + delay
            self.enqueue_after(key, delay)
            self._post_status(key, held, node)
            return
        self._post_status(key, held, node)
        await self._run(pod, node, held)

    def _image_pull_backoff(self, key, pod: dict, node: Node, held: _Pod) -> None:
        """After ErrImagePull the image is in back-off: ImagePullBackOff until the next pull, 10 s, 20 s … 300 s
        later (the kubelet's image back-off)."""
        host = {"component": "kubelet", "host": node.name}
        for c in held.containers.values():
            waiting = c.state.get("waiting") or {}
            if waiting.get("reason") != "ErrImagePull":
                continue
            image = c.spec.get("image", "")
            c.state = {"waiting": {"reason": "ImagePullBackOff",
                                   "message": f'Back-off pulling image "{image}": ErrImagePull: '
                                              f'{waiting.get("message", "")}'}}
            self.recorder.normal(pod, "BackOff", f'Back-off pulling image "{image}"', **host)
            self.recorder.warning(pod, "Failed", "Error: ImagePullBackOff", **host)
        held.waiting = "ImagePullBackOff"
        delay = min(BACKOFF_START * 2 ** (held.attempts - 1), BACKOFF_MAX)
        held.retry_at = asyncio.get_running_loop().time() + delay
        self.enqueue_after(key, delay)
        self._post_status(key, held, node)

    async def _terminate(self, key, held: _Pod | None) -> None:
        """A pod being deleted gracefully: stop its containers at once (event Killing; its endpoints went when
        deletionTimestamp was set), report them terminated, and delete the pod for good once the kubelet's next
        relist has seen them gone (PLEG relists every second), as the status manager does."""
        loop = asyncio.get_running_loop()
        if held is not None and held.stopped_at is None:
            pod = self.store.get("pods", *key)
            for c in held.containers.values():
                if c.running and pod is not None:
                    self.recorder.normal(pod, "Killing", f"Stopping container {c.name}", component="kubelet",
                                         host=held.node.name)
            await held.close_apps()
            for c in held.containers.values():
                if c.running:
                    started = c.state["running"].get("startedAt")
                    c.state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                              "finishedAt": now_rfc3339(), "containerID": c.container_id}}
            held.stopped_at = loop.time()
            self._post_status(key, held, held.node, terminating=True)
            self.enqueue_after(key, PLEG_RELIST_SECONDS)
            return
        if held is not None and loop.time() < held.stopped_at + PLEG_RELIST_SECONDS:
            return
        if held is not None:
            await self._forget(key)
        pod = self.store.get("pods", *key)
        if pod is not None and (held is None or meta(pod)["uid"] == held.uid):
            self.store.delete("pods", *key)

    # ------------------------------------------------------------------------------------------- status
    def _post_status(self, key, held: _Pod, node: Node, *, creating: bool = False, terminating: bool = False) -> None:
        pod = self.store.get("pods", *key)
        if pod is None or meta(pod)["uid"] != held.uid or (meta(pod).get("deletionTimestamp") and not terminating):
            return
        now = now_rfc3339()
        old = pod.get("status") or {}
        statuses = []
        for container in pod["spec"].get("containers") or []:
            c = held.containers.get(container["name"])
            if c is None:
                continue
            image = _qualified(container.get("image", ""))
            cs = {"name": c.name, "state": c.state, "lastState": c.last_state, "ready": c.ready,
                  "restartCount": c.restart_count, "image": image, "imageID": "", "started": c.started}
            if c.container_id:
                digest = hashlib.sha256(image.encode()).hexdigest()   # stands for the image's content digest
                cs["imageID"] = f"{image.rsplit(':', 1)[0]}@sha256:{digest}"
                cs["containerID"] = c.container_id
            statuses.append(cs)
        unready = [cs["name"] for cs in statuses if not cs["ready"]]
        ok = not unready
        why = ("ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]") if unready else ("", "")
        conds = old.get("conditions") or []
        # Running once every container runs, or ran and waits to restart (CrashLoopBackOff keeps the pod Running).
        running = bool(statuses) and all("running" in cs["state"] or "terminated" in cs["lastState"]
                                         for cs in statuses)
        status = {
            "phase": "Running" if running or terminating else "Pending",
            "conditions": [_condition("PodReadyToStartContainers", not creating, conds, now),
                           _condition("Initialized", True, conds, now),
                           _condition("Ready", ok, conds, now, *why),
                           _condition("ContainersReady", ok, conds, now, *why),
                           _condition("PodScheduled", True, conds, now)],
            "hostIP": node.ip, "hostIPs": [{"ip": node.ip}],
            "startTime": old.get("startTime") or now,
            "containerStatuses": statuses,
            "qosClass": old.get("qosClass", "BestEffort"),
        }
        if not creating:
            status.update(podIP=held.ip, podIPs=[{"ip": held.ip}])
        pod["status"] = status
        self.store.update("pods", pod, check_version=False)

    async def _forget(self, key) -> None:
        held = self._pods.pop(key, None)
        if held is None:
            return
        await held.close_apps()
        for log in held.logs.values():
            log.close()

    async def close(self) -> None:
        for key in list(self._pods):
            await self._forget(key)

    # ------------------------------------------------------------------------------------------- logs
    def _log_for(self, namespace: str, pod: str, container: str | None, *, previous: bool = False) -> PodLog:
        obj = self.store.require("pods", namespace, pod)
        held = self._pods.get((namespace, pod))
        names = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
        cname = container or (names[0] if names else "")
        if container and container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {pod}")
        if previous:
            if held is None or cname not in held.logs or held.logs[cname].previous is None:
                raise errors.bad_request(f'previous terminated container "{cname}" in pod "{pod}" not found')
            return held.logs[cname]
        if held is not None and held.waiting == "CrashLoopBackOff" and cname in held.logs \
                and held.logs[cname].previous is not None:
            return held.logs[cname]      # waiting to restart: the last instance's log, as the kubelet serves it
        if held is None or cname not in held.logs or (held.waiting and not held.logs[cname].lines):
            waiting = held.waiting if held else None
            reason = {"ErrImagePull": "image can't be pulled",
                      "ImagePullBackOff": "trying and failing to pull image"}.get(waiting or "",
                                                                                 waiting or "ContainerCreating")
            raise errors.bad_request(f'container "{cname}" in pod "{pod}" is waiting to start: {reason}')
        return held.logs[cname]

    async def sync_logs(self) -> None:
        """Until the lines the pods logged so far are here (they come from the pods' process in batches)."""
        await cri.runtime().sync()

    def logs(self, namespace: str, pod: str, *, container: str | None = None, tail: int | None = None,
             since_seconds: int | None = None, timestamps: bool = False, previous: bool = False) -> list[str]:
        """The container's log lines (the first container's unless named), oldest first, without newlines; with
        `previous`, those of the instance that ran before the last restart (400 when there was none)."""
        log = self._log_for(namespace, pod, container, previous=previous)
        held = self._pods.get((namespace, pod))
        crashed = held is not None and held.waiting == "CrashLoopBackOff" and not log.lines
        return log.select(tail=tail, since_seconds=since_seconds, timestamps=timestamps,
                          previous=previous or crashed)

    def follow(self, namespace: str, pod: str, *, container: str | None = None) -> LogFollower:
        """Lines logged from now on, until the pod is deleted or the kubelet stops (`kubectl logs -f`)."""
        return LogFollower(self._log_for(namespace, pod, container))


_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand_args(container: dict, env: dict[str, str]) -> list[str]:
    """command + args with `$(VAR)` replaced from the container's environment, as the kubelet does
    (`$$(VAR)` stays literal; an unknown variable is left as written)."""
    def expand(text: str) -> str:
        out = _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), text.replace("$$(", "\0"))
        return out.replace("\0", "$(")
    return [expand(str(a)) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
