"""The container images the lab can run: the table of what it understands, and how a pod's image is started.

A real kubelet pulls an image and asks the container runtime to start it; the lab's kubelet calls `start_app` when a
pod is scheduled and `AppHandle.close()` when it is deleted. Most images are servers that the pods' own process
runs (`cri.py` → `containerd.py`, apps in `workloads.py`), each listening on the pod's own loopback IP (e.g.
127.244.0.5) at each container port, so kube-proxy, Services and the ingress controller reach it exactly as they
would reach a container. Process images (`runtime.py`: the Ingress controller) start a program of their own.
`IMAGES` is the table of what the lab understands; an image missing from it raises `UnknownImage` (the kubelet
shows it where a real cluster shows ErrImagePull). The apps' log lines are described in `workloads.py`.
"""
from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ingresslab.cluster.node import cri
from ingresslab.cluster.node.workloads import NGINX_VERSION  # noqa: F401 (the nginx-based images' version)

__all__ = ["IMAGES", "AppHandle", "Image", "UnknownImage", "normalize_image", "register", "start_app"]

LogFn = Callable[[str], None]
_HANDLES = itertools.count(1)


@dataclass(frozen=True)
class PodContext:
    """What an app may know about the pod it runs in."""

    name: str
    namespace: str
    ip: str
    env: Mapping[str, str]
    log: LogFn
    # For images that run a command (`commandimages.py`): the container's spec, its view of itself (the shell's
    # `Container`, built by the kubelet), a way to report its state (running/terminated), the restart policy.
    container: Mapping | None = None
    view: Callable[[], object] | None = None
    report: Callable[[str, str, int | None, bool], None] | None = None
    restart_policy: str = "Always"
    event: Callable[[str, str], None] | None = None     # (reason, message): a Warning event on the pod


class Listener(Protocol):
    async def close(self) -> None: ...


# A whole-pod starter (process images, `processes.py`): given the pod, the bound ports and the container's args.
PodStarter = Callable[[PodContext, dict[int, int], list[str]], Awaitable[Listener]]


@dataclass(frozen=True)
class Image:
    name: str                # normalized: repository:tag
    port: int                # the port the real image listens on
    app: str | None          # the app the pods' process runs (`workloads.FACTORIES`), or None for `start`
    description: str
    start: PodStarter | None = None       # instead of a factory per port: the pod binds its ports itself
    extra_ports: tuple[int, ...] = ()     # further ports the real image listens on (e.g. 443 besides 80)
    nginx: Callable[[str, str], object | None] | None = None   # (namespace, pod) → the real nginx it runs, if any


def register(image: Image) -> None:
    """Add an image to the table (the layers above register their own, e.g. the Ingress controller's)."""
    IMAGES[image.name] = image


class UnknownImage(LookupError):
    def __init__(self, image: str):
        self.image = image
        repo = normalize_image(image).rpartition(":")[0]
        tags = [i.name.rpartition(":")[2] for i in IMAGES.values() if i.name.rpartition(":")[0] == repo]
        hint = f" (known tags of {repo}: {', '.join(tags)})" if tags else ""
        known = ", ".join(IMAGES)
        super().__init__(f'unknown image "{image}"{hint}: the lab runs its pods as small servers of its own and knows only '
                         f"these images: {known}")


def normalize_image(image: str) -> str:
    """`nginxdemos/hello` → `nginxdemos/hello:latest`; `docker.io/x/y:t` → `x/y:t` (Docker Hub is the default)."""
    name = image.strip()
    for hub in ("docker.io/", "index.docker.io/"):
        if name.startswith(hub):
            name = name[len(hub):]
    if ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


@dataclass
class AppHandle:
    """A running app. `ports` maps each container port to the port actually bound on the pod IP."""

    image: str
    pod_ip: str
    ports: dict[int, int]
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    async def close(self) -> None:
        """Close listening sockets and open connections (like a killed container: clients see a reset/EOF)."""
        listeners, self._listeners = self._listeners, []
        await asyncio.gather(*(listener.close() for listener in listeners))


async def start_app(image: str, *, pod_ip: str, ports: list[int], bind_ports: dict[int, int] | None = None,
                    pod_name: str, namespace: str, env: dict[str, str], log: LogFn,
                    log_block: Callable[[str], None] | None = None, args: list[str] | None = None,
                    **context) -> AppHandle:
    """Start `image` listening on `pod_ip` at each container port (the image's own port if none are declared).

    `bind_ports` maps a container port to the port really bound (the lab's offset for ports < 1024 when not
    root; 0 lets the OS choose); the app still reports the container port, as the container would. `log` is given
    each line the app logs; `log_block`, when given, takes the lines of the pods' process in blocks instead (text,
    each line ending in a newline), so a busy pod costs the kubelet no Python per line.
    """
    spec = IMAGES.get(normalize_image(image))
    if spec is None:
        raise UnknownImage(image)
    handle = AppHandle(spec.name, pod_ip, {})
    pod = PodContext(pod_name, namespace, pod_ip, dict(env), log, **context)
    if spec.start is not None:
        wanted = ports or [spec.port, *spec.extra_ports]
        handle.ports = {p: (bind_ports or {}).get(p, p) for p in wanted}
        listener = await spec.start(pod, dict(handle.ports), list(args or []))
        handle._listeners.append(listener)
        handle.ports.update(getattr(listener, "bound_ports", {}))   # what "0" became, for starters that bind
        return handle
    if args and pod.event is not None:
        shown = json.dumps(list(args))
        pod.event("CommandNotRun", f'image "{image}" runs in the lab as its own server; the container\'s command/args '
                  f"{shown} are not run (the lab runs a container's command in busybox, curlimages/curl and nginx)")
    wanted = {p: (bind_ports or {}).get(p, p) for p in ports or [spec.port]}
    listener = await serve_in_pods_process(spec.app, pod, wanted, log_block=log_block)
    handle.ports = dict(listener.bound_ports)
    handle._listeners.append(listener)
    return handle


async def serve_in_pods_process(app: str, pod: PodContext, ports: dict[int, int], *,
                                log_block: Callable[[str], None] | None = None) -> _RuntimeApp:
    """Run `app` (`workloads.FACTORIES`) for `pod` in the pods' own process, on each container port → bind port;
    the listener's `bound_ports` says what each became (0 lets the OS choose)."""
    runtime = cri.runtime()
    hid = f"h{next(_HANDLES)}"
    bound = await runtime.run(hid, app, ip=pod.ip, ports=ports, name=pod.name, namespace=pod.namespace,
                              env=dict(pod.env), log=pod.log, log_block=log_block)
    return _RuntimeApp(runtime, hid, bound)


@dataclass
class _RuntimeApp:
    runtime: cri.ContainerRuntime
    hid: str
    bound_ports: dict[int, int]

    async def close(self) -> None:
        await self.runtime.stop(self.hid)


# ---------------------------------------------------------------------------------------------- the table

IMAGES: dict[str, Image] = {image.name: image for image in (
    Image("nginxdemos/nginx-hello:plain-text", 8080, "hello",
          "The cafe example's demo app: five text lines naming the pod address, pod name, date, URI and request id."),
    Image("nginxdemos/hello:plain-text", 80, "hello",
          "The older name of the same demo app, listening on port 80."),
    Image("ingresslab/echo:latest", 8080, "echo",
          "Answers with the request as the pod saw it, in JSON (host, path, headers, client, request id); "
          "a websocket at /ws echoes each message prefixed with the pod name."),
    Image("ingresslab/https-echo:latest", 8443, "https-echo",
          "The same JSON echo over TLS with a self-signed certificate, for `backend-protocol: HTTPS`."),
    Image("ingresslab/tcp-echo:latest", 9000, "tcp-echo",
          "Raw TCP: greets with `hello from <pod>` and echoes every line back."),
    Image("ingresslab/static-page:latest", 8080, "static-page",
          "Serves env PAGE (default: a friendly 'no Ingress rule matched' page) with status env STATUS "
          "(default 404) for every path: a custom default backend."),
    Image("registry.k8s.io/defaultbackend-amd64:1.5", 8080, "default-backend",
          "The classic default backend: /healthz answers 200 `ok`, everything else 404 `default backend - 404`."),
)}
