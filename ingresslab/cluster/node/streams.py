"""The kubelet's streaming side: `kubectl exec`, `attach` and `port-forward` reach a pod's containers through here.

The API server's streaming handlers (`apiserver/streaming.py`) call `PodStreams`: `check` refuses what a real
cluster refuses (no such pod or container, a pod with no node, a container not running), `exec` runs a command in
the container with the pod's shell (`shell/`), `attach` joins the container's own process (a command container's
stdin and output, or a server's log), `connect` opens a TCP connection to the pod's own socket for a port-forward.

Each container gets a `Container` view built from the pod as the kubelet would set it up: the environment
(container env, Downward API values, Service variables of the pod's namespace as `<SVC>_SERVICE_HOST`…, the image's
ENV, HOSTNAME, HOME), the files (image files, /etc/hosts, /etc/resolv.conf with the namespace's search path, the
ServiceAccount mount, Secret/ConfigMap/emptyDir volumes), its processes, and its resolver. The view, with its
writable layer, lives as long as the container.
"""
from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Callable

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.errors import ApiError, StreamRefused
from ingresslab.cluster.node import images
from ingresslab.cluster.node.names import CLUSTER_DOMAIN, store_lookup
from ingresslab.cluster.node.network import bind_port
from ingresslab.cluster.node.shell import Container, ExecNotFound, ProcessTable, Shell, Terminal, eof_reader
from ingresslab.cluster.node.shell.resolver import Resolver
from ingresslab.cluster.node.shell.rootfs import PodFiles, build_fs, profile_for

__all__ = ["PodStreams", "StreamRefused", "service_env"]

Write = Callable[[bytes], None]


def _env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def service_env(services: list[dict]) -> dict[str, str]:
    """The variables the kubelet injects for each Service (docker links style), in its order."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec") or {}
        ip, ports = spec.get("clusterIP"), spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        name = _env_name(svc["metadata"]["name"])
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{name}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port["port"])
        first = ports[0]
        env[f"{name}_PORT"] = f"{(first.get('protocol') or 'TCP').lower()}://{ip}:{first['port']}"
        for port in ports:
            proto = (port.get("protocol") or "TCP")
            prefix = f"{name}_PORT_{port['port']}_{proto.upper()}"
            env[prefix] = f"{proto.lower()}://{ip}:{port['port']}"
            env[f"{prefix}_PROTO"] = proto.lower()
            env[f"{prefix}_PORT"] = str(port["port"])
            env[f"{prefix}_ADDR"] = ip
    return env


class PodStreams:
    def __init__(self, kubelet, *, home: Path, nginx_of: Callable[[str, str], object | None] | None = None):
        self.kubelet = kubelet
        self.store = kubelet.store
        self.network = kubelet.network
        self.home = Path(home)
        self._views: dict[tuple[str, str], Container] = {}

    # ------------------------------------------------------------------------------------------------ checks
    def check(self, verb: str, namespace: str, pod: str, container: str | None) -> str:
        obj = self.store.get("pods", namespace, pod)
        if obj is None:
            raise errors.not_found("pods", "", pod)
        names = [c["name"] for c in (obj.get("spec") or {}).get("containers") or []]
        cname = container or (names[0] if names else "")
        if container and container not in names:
            raise errors.bad_request(f"container {container} is not valid for pod {pod}")
        if not (obj.get("spec") or {}).get("nodeName"):
            raise errors.bad_request(f"pod {pod} does not have a host assigned")
        phase = (obj.get("status") or {}).get("phase")
        process = self.command_process(namespace, pod, cname)
        if verb == "attach" and process is not None and process.stdin_once and not process.attaches:
            return cname        # kubectl run -i of a quick command: it read the log, the attach just ends
        if phase in ("Succeeded", "Failed") and verb != "portforward":
            what = "exec into" if verb == "exec" else "attach to"
            raise errors.bad_request(f"cannot {what} a container in a completed pod; current phase is {phase}")
        if verb == "portforward":
            if self._held(namespace, pod) is None:
                raise StreamRefused(404, "pod does not exist")
            return cname
        if not self._running(namespace, pod, cname):
            raise StreamRefused(404, f'container not found ("{cname}")')
        return cname

    def _held(self, namespace: str, pod: str):
        held = self.kubelet._pods.get((namespace, pod))
        return held if held is not None and held.waiting is None else None

    def _running(self, namespace: str, pod: str, cname: str) -> bool:
        held = self._held(namespace, pod)
        if held is None:
            return False
        process = self.command_process(namespace, pod, cname)
        return process is None or not process.exited

    def command_process(self, namespace: str, pod: str, cname: str):
        """The container's own command process (`commandimages.py`), when it is a command container."""
        held = self.kubelet._pods.get((namespace, pod))
        for handle in (held.handles if held else ()):
            for listener in handle._listeners:
                if getattr(listener, "container_name", None) == cname:
                    return listener
        return None

    # ------------------------------------------------------------------------------------------------ views
    def container(self, namespace: str, pod: str, cname: str) -> Container:
        obj = self.store.require("pods", namespace, pod)
        uid = obj["metadata"]["uid"]
        key = (uid, cname)
        held = {h.uid for h in self.kubelet._pods.values()} | {uid}
        for stale in [k for k in self._views if k[0] not in held]:     # containers gone with their pods
            del self._views[stale]
        if key not in self._views:
            self._views[key] = self._build(obj, cname)
        return self._views[key]

    def _build(self, pod: dict, cname: str) -> Container:
        namespace, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        spec = pod.get("spec") or {}
        container = next(c for c in spec.get("containers") or [] if c["name"] == cname)
        held = self.kubelet._pods.get((namespace, name))
        node = held.node if held else next(n for n in self.network.nodes if n.name == spec.get("nodeName"))
        ip = held.ip if held else (pod.get("status") or {}).get("podIP", "")
        image = images.normalize_image(container.get("image", ""))
        rootfs = profile_for(image)
        process = self.command_process(namespace, name, cname)
        own = " ".join([*(container.get("command") or []), *(container.get("args") or [])])
        main = ((rootfs.user.name, " ".join(process.argv)),) if process is not None else tuple(
            (user, cmd.replace("{command}", own)) for user, cmd in rootfs.main)
        env = {"PATH": dict(rootfs.env).get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
               "HOSTNAME": spec.get("hostname") or name}
        env.update({k: v for k, v in rootfs.env if k != "PATH"})       # the image's ENV, as containerd lists it
        env.update(self.kubelet._env(pod, container, node, ip))          # then the kubelet's: the container's env
        env.update(self._service_env(namespace, spec))                   # and the Services'
        env.setdefault("HOME", rootfs.user.home)
        hostname = spec.get("hostname") or name
        search = (f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN)
        nameserver = self._nameserver()
        files = PodFiles(
            hostname=hostname,
            hosts=("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                   "ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
                   f"fe00::2\tip6-allrouters\n{ip}\t{hostname}\n"),
            resolv_conf=f"search {' '.join(search)}\nnameserver {nameserver}\noptions ndots:5\n",
            service_account=self._service_account(namespace, spec),
            volumes={}, empty_dirs=[])
        self._volumes(pod, container, files)
        nginx = self.kubelet_nginx(namespace, name, image)
        if nginx is not None:
            files.extra["/etc/nginx/nginx.conf"] = nginx.conf
        fs = build_fs(rootfs, files)
        resolver = Resolver(search, store_lookup(self.store), hosts={hostname.lower(): [ip], "localhost": [ip]})
        return Container(pod=name, namespace=namespace, name=cname, image=image, ip=ip, node_ip=node.ip,
                         rootfs=rootfs, fs=fs, env=env, processes=ProcessTable(main), resolver=resolver,
                         dial_port=bind_port, nginx=nginx, nameserver=nameserver)

    def kubelet_nginx(self, namespace: str, pod: str, image: str):
        spec = images.IMAGES.get(image)
        finder = getattr(spec, "nginx", None)
        return finder(namespace, pod) if finder is not None else None

    def _service_env(self, namespace: str, spec: dict) -> dict[str, str]:
        services = []
        if spec.get("enableServiceLinks", True) is not False:
            services = [s for s in self.store.list("services", namespace)
                        if not (namespace == "default" and s["metadata"]["name"] == "kubernetes")]
        master = self.store.get("services", "default", "kubernetes")
        env = service_env(services)
        if master is not None:
            env.update(service_env([master]))
        return env

    def _nameserver(self) -> str:
        dns = self.store.get("services", "kube-system", "kube-dns")
        ip = ((dns or {}).get("spec") or {}).get("clusterIP")
        if ip and ip != "None":
            return ip
        return str(list(self.network.service_ips())[9])

    def _service_account(self, namespace: str, spec: dict) -> dict:
        if spec.get("automountServiceAccountToken") is False:
            return {}
        sa = self.home / "serviceaccount"
        files: dict = {"namespace": namespace.encode()}
        for name in ("token", "ca.crt"):
            if (sa / name).is_file():
                files[name] = sa / name
        return files

    def _volumes(self, pod: dict, container: dict, files: PodFiles) -> None:
        namespace = pod["metadata"].get("namespace", "")
        volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            volume, path = volumes.get(mount.get("name")), mount.get("mountPath", "")
            if volume is None or not path.startswith("/"):
                continue
            if "secret" in volume or "configMap" in volume:
                source = volume.get("secret") or volume.get("configMap") or {}
                kind = "secrets" if "secret" in volume else "configmaps"
                obj = self.store.get(kind, namespace, source.get("secretName") or source.get("name") or "")
                data = {}
                for key, value in ((obj or {}).get("data") or {}).items():
                    data[key] = base64.b64decode(value) if kind == "secrets" else str(value).encode()
                items = source.get("items")
                if items:
                    data = {i["path"]: data[i["key"]] for i in items if i.get("key") in data}
                files.volumes[path] = (data, True)
            else:
                files.empty_dirs.append(path)

    # ------------------------------------------------------------------------------------------------ exec
    def _streams(self, stdin, stdout: Write | None, stderr: Write | None, tty: bool):
        out = stdout or (lambda _: None)
        if tty:
            terminal = Terminal(stdin or eof_reader(), out)
            return terminal, terminal.stdin, terminal.output, terminal.output
        return None, stdin or eof_reader(), out, stderr or (lambda _: None)

    async def exec(self, namespace: str, pod: str, container: str, command: list[str], *, stdin, stdout, stderr,
                   tty: bool, resize) -> int:
        view = self.container(namespace, pod, container)
        terminal, cin, cout, cerr = self._streams(stdin, stdout, stderr, tty)
        try:
            return await Shell(view).execute(command, cin, cout, cerr)
        except ExecNotFound:
            raise ApiError(500, "InternalError", "Internal error occurred: error executing command in container: "
                           "failed to exec in "
                           "container: failed to start exec: OCI runtime exec failed: exec failed: unable to start "
                           f'container process: exec: "{command[0]}": executable file not found in $PATH: '
                           "unknown") from None
        finally:
            if terminal is not None:
                terminal.close()

    async def attach(self, namespace: str, pod: str, container: str, *, stdin, stdout, stderr, tty: bool,
                     resize) -> int:
        process = self.command_process(namespace, pod, container)
        if process is not None:     # its terminal, if it has one, is the container's own: bytes go as they are
            return await process.attach(stdin, stdout, stderr, tty=tty)
        # A server's own process: attaching shows what it writes (its log), until the client leaves.
        follower = self.kubelet.follow(namespace, pod, container=container)
        try:
            async for line in follower:
                if stdout is not None:
                    stdout((line + "\n").encode())
        finally:
            await follower.aclose()
        return 0

    async def connect(self, namespace: str, pod: str, port: int):
        held = self._held(namespace, pod)
        if held is None:
            raise LookupError(f"pod {namespace}/{pod} is not running")
        for handle in held.handles:
            if port in handle.ports:
                return await asyncio.open_connection(held.ip, handle.ports[port])
        return await asyncio.open_connection(held.ip, bind_port(port))
