"""The kubelet (and the scheduler's one decision): place pods on the two nodes and run them as real servers.

An unscheduled pod goes to the node with the fewest pods (`spec.nodeName`, event Scheduled). The kubelet then gives
it the lowest free address of that node's pod CIDR (an address goes back to the pool when its pod is gone), starts
each container's image with `images.start_app` on that address at each container port (ports below 1024 at the lab's
offset when not root, `network.bind_port`), and posts the status a real kubelet posts: phase Running, podIP,
hostIP, conditions, containerStatuses, events Pulled/Created/Started. An image the lab does not know leaves the pod
Pending in ErrImagePull with a Warning event; any other start failure is retried with a growing back-off. A deleted
pod's sockets are closed. Pods already in the store when the kubelet starts (a restarted lab) are started again on
their recorded addresses.

Each container's log lines (the apps' access logs) go to `home/logs/pods/<ns>_<pod>.log` (`<ns>_<pod>_<container>.log`
for a pod's further containers) and to an in-memory ring that `logs()` and `follow()` serve to the API's `/log`
subresource. Neighbours: the replicaset controller creates the pods; the endpointslice controller reads the IPs
and readiness written here.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from ingresslab.cluster.node import commandimages  # noqa: F401 — registers busybox, curlimages/curl, nginx
from ingresslab.cluster.node import images
from ingresslab.cluster.node.completion import reporter
from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.client.controller import Controller, meta
from ingresslab.cluster.client.record import EventRecorder
from ingresslab.cluster.node.network import Network, Node, bind_port
from ingresslab.cluster.node.streams import PodStreams
from ingresslab.cluster.storage.store import Event, Store, now_rfc3339

RING_LINES = 10_000
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0     # the kubelet's CrashLoopBackOff steps


class PodLog:
    """One container's log: the file on disk, the recent lines in memory, and the followers waiting for more."""

    def __init__(self, path: Path, *, resume: bool):
        self.path = path
        self.lines: deque[tuple[float, str]] = deque(maxlen=RING_LINES)
        if resume and path.exists():
            with open(path, encoding="utf-8", errors="replace") as f:
                self.lines.extend((0.0, line.rstrip("\n")) for line in f)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a" if resume else "w", encoding="utf-8")
        self._followers: set[asyncio.Queue] = set()
        self._flush_pending = False

    def append(self, line: str) -> None:
        self.lines.append((time.time(), line))
        if self._file is not None:
            self._file.write(line + "\n")
            self._schedule_flush()
        for queue in self._followers:
            queue.put_nowait(line)

    def _schedule_flush(self) -> None:
        """Flush at the end of this turn of the event loop: the lines of every request served in the same turn go
        to disk in one write instead of one each (the file is still current before anything else runs)."""
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        self._flush_pending = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self._file is not None:
            self._file.flush()

    def select(self, *, tail: int | None, since_seconds: int | None, timestamps: bool) -> list[str]:
        lines = list(self.lines)
        if since_seconds is not None:
            cutoff = time.time() - since_seconds
            lines = [entry for entry in lines if entry[0] >= cutoff]
        if tail is not None and tail >= 0:
            lines = lines[len(lines) - tail:] if tail else []
        if timestamps:
            return [f"{datetime.fromtimestamp(t, timezone.utc).isoformat().replace('+00:00', 'Z')} {line}"
                    for t, line in lines]
        return [line for _, line in lines]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for queue in self._followers:
            queue.put_nowait(None)


class LogFollower:
    """`async for line in kubelet.follow(ns, pod)`: lines logged from the moment of the call until the pod goes."""

    def __init__(self, log: PodLog | None):
        self._log = log
        self._queue: asyncio.Queue = asyncio.Queue()
        if log is not None and log._file is not None:
            log._followers.add(self._queue)
        else:
            self._queue.put_nowait(None)

    def __aiter__(self) -> "LogFollower":
        return self

    async def __anext__(self) -> str:
        line = await self._queue.get()
        if line is None:
            await self.aclose()
            raise StopAsyncIteration
        return line

    async def aclose(self) -> None:
        if self._log is not None:
            self._log._followers.discard(self._queue)
            self._log = None


class _Pod:
    """What the kubelet holds for one pod (one uid): its node and address, its running apps and logs."""

    def __init__(self, pod: dict, node: Node, ip: str):
        self.uid = meta(pod)["uid"]
        self.node, self.ip = node, ip
        self.handles: list[images.AppHandle] = []
        self.logs: dict[str, PodLog] = {}
        self.waiting: str | None = "ContainerCreating"     # why containers are not running, if they are not
        self.retry_at: float | None = None
        self.attempts = 0

    async def close_apps(self) -> None:
        handles, self.handles = self.handles, []
        await asyncio.gather(*(h.close() for h in handles))


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
            "lastTransitionTime": before["lastTransitionTime"] if before and before.get("status") == state else now}
    if reason:
        cond.update(reason=reason, message=message)
    return cond


class Kubelet(Controller):
    name = "kubelet"
    kinds = ("pods",)

    def __init__(self, store: Store, network: Network, recorder: EventRecorder, *, home: Path):
        super().__init__(store)
        self.network = network
        self.recorder = recorder
        self.log_dir = Path(home) / "logs" / "pods"
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
        if not (pod.get("spec") or {}).get("nodeName"):
            pod = self._schedule(pod)
        node = next((n for n in self.network.nodes if n.name == pod["spec"]["nodeName"]), None)
        if node is None:
            return      # bound to a node this lab does not have: stays Pending, as with a real missing node
        if held is not None:
            if held.retry_at is None or asyncio.get_running_loop().time() < held.retry_at:
                return
            held.retry_at = None
        await self._run(pod, node, held)

    def _schedule(self, pod: dict) -> dict:
        load = {n.name: 0 for n in self.network.nodes}
        for other in self.store.iter_raw("pods"):
            name = (other.get("spec") or {}).get("nodeName")
            if name in load:
                load[name] += 1
        node = min(self.network.nodes, key=lambda n: load[n.name])
        pod["spec"]["nodeName"] = node.name
        status = pod.setdefault("status", {"phase": "Pending"})
        status["conditions"] = [_condition("PodScheduled", True, status.get("conditions") or [], now_rfc3339())]
        pod = self.store.update("pods", pod, check_version=False)
        ns, name = meta(pod).get("namespace", ""), meta(pod)["name"]
        self.recorder.normal(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node.name}",
                             component="default-scheduler")
        return pod

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

    async def _run(self, pod: dict, node: Node, held: _Pod | None) -> None:
        key = (meta(pod).get("namespace", ""), meta(pod)["name"])
        if held is None:
            held = _Pod(pod, node, self._allocate_ip(pod, node))
            self._pods[key] = held
            resume = any(cs.get("containerID") for cs in (pod.get("status") or {}).get("containerStatuses") or [])
            for i, container in enumerate(pod["spec"].get("containers") or []):
                parts = [*key, container["name"]] if i else list(key)
                held.logs[container["name"]] = PodLog(self.log_dir / f"{'_'.join(map(_file_safe, parts))}.log",
                                                      resume=resume)
        host = {"component": "kubelet", "host": node.name}
        states: dict[str, dict] = {}
        failure: tuple[str, str] | None = None
        for container in pod["spec"].get("containers") or []:
            cname, image = container["name"], container.get("image", "")
            if failure is not None:
                states[cname] = {"waiting": {"reason": "PodInitializing"}}
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
                                              args=expand_args(container, env), **self._command_context(
                                                  pod, container, host))
            except images.UnknownImage as exc:
                self.recorder.normal(pod, "Pulling", f'Pulling image "{image}"', **host)
                self.recorder.warning(pod, "Failed", f'Failed to pull image "{image}": {exc}', **host)
                self.recorder.warning(pod, "Failed", "Error: ErrImagePull", **host)
                failure = ("ErrImagePull", str(exc))
                states[cname] = {"waiting": {"reason": "ErrImagePull", "message": str(exc)}}
                continue
            except (OSError, ValueError, LookupError, errors.ApiError) as exc:
                reason = "CreateContainerConfigError" if isinstance(exc, (LookupError, errors.ApiError)) \
                    else "RunContainerError"
                message = getattr(exc, "message", None) or str(exc)
                self.recorder.warning(pod, "Failed", f"Error: {message}", **host)
                failure = (reason, message)
                states[cname] = {"waiting": {"reason": reason, "message": message}}
                continue
            held.handles.append(handle)
            states[cname] = {"running": {"startedAt": now_rfc3339()}}
            self.recorder.normal(pod, "Created", f"Created container {cname}", **host)
            self.recorder.normal(pod, "Started", f"Started container {cname}", **host)
        if failure is not None:
            await held.close_apps()
            held.waiting = failure[0]
            if failure[0] != "ErrImagePull":    # the lab's image table cannot change: no point pulling again
                held.attempts += 1
                delay = min(BACKOFF_START * 2 ** (held.attempts - 1), BACKOFF_MAX)
                held.retry_at = asyncio.get_running_loop().time() + delay
                self.enqueue_after(key, delay)
        else:
            held.waiting = None
        self._post_status(key, held, node, states)

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

    def _post_status(self, key, held: _Pod, node: Node, states: dict[str, dict]) -> None:
        pod = self.store.get("pods", *key)
        if pod is None or meta(pod)["uid"] != held.uid:
            return
        now = now_rfc3339()
        old = pod.get("status") or {}
        previous = {cs["name"]: cs for cs in old.get("containerStatuses") or []}
        statuses = []
        for container in pod["spec"].get("containers") or []:
            cname, state = container["name"], states.get(container["name"], {"waiting": {}})
            before = previous.get(cname) or {}
            running = "running" in state
            restarts = int(before.get("restartCount") or 0) + (1 if running and before.get("containerID") else 0)
            cs = {"name": cname, "state": state, "lastState": {}, "ready": running, "restartCount": restarts,
                  "image": _qualified(container.get("image", "")), "imageID": "", "started": running}
            if running:
                image = _qualified(container.get("image", ""))
                digest = hashlib.sha256(image.encode()).hexdigest()   # stands for the image's content digest
                cs["imageID"] = f"{image.rsplit(':', 1)[0]}@sha256:{digest}"
                cs["containerID"] = f"containerd://{secrets.token_hex(32)}"
                if before.get("containerID"):
                    cs["lastState"] = {"terminated": {"exitCode": 0, "reason": "Completed",
                                                      "finishedAt": now, "containerID": before["containerID"]}}
            statuses.append(cs)
        unready = [cs["name"] for cs in statuses if not cs["ready"]]
        ok = not unready
        why = ("ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]") if unready else ("", "")
        conds = old.get("conditions") or []
        status = {
            "phase": "Running" if ok else "Pending",
            "conditions": [_condition("PodReadyToStartContainers", True, conds, now),
                           _condition("Initialized", True, conds, now),
                           _condition("Ready", ok, conds, now, *why),
                           _condition("ContainersReady", ok, conds, now, *why),
                           _condition("PodScheduled", True, conds, now)],
            "hostIP": node.ip, "hostIPs": [{"ip": node.ip}],
            "podIP": held.ip, "podIPs": [{"ip": held.ip}],
            "startTime": old.get("startTime") or now,
            "containerStatuses": statuses,
            "qosClass": old.get("qosClass", "BestEffort"),
        }
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
    def _log_for(self, namespace: str, pod: str, container: str | None) -> PodLog:
        obj = self.store.require("pods", namespace, pod)
        held = self._pods.get((namespace, pod))
        names = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
        cname = container or (names[0] if names else "")
        if container and container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {pod}")
        if held is None or cname not in held.logs or (held.waiting and not held.logs[cname].lines):
            reason = {"ErrImagePull": "trying and failing to pull image"}.get(
                held.waiting if held else "", (held.waiting if held else None) or "ContainerCreating")
            raise errors.bad_request(f'container "{cname}" in pod "{pod}" is waiting to start: {reason}')
        return held.logs[cname]

    def logs(self, namespace: str, pod: str, *, container: str | None = None, tail: int | None = None,
             since_seconds: int | None = None, timestamps: bool = False) -> list[str]:
        """The container's log lines (the first container's unless named), oldest first, without newlines."""
        return self._log_for(namespace, pod, container).select(tail=tail, since_seconds=since_seconds,
                                                               timestamps=timestamps)

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
