"""CoreDNS as kubeadm installs it: the image the kubelet can run, and the kube-system objects that run it.

The image `registry.k8s.io/coredns/coredns:v1.11.3` serves, on the pod's own address:

    53/UDP and 53/TCP   cluster DNS (`dns.answer`; at the lab's offset, 10053, when not root)
    8080 /health        liveness ("OK"), 8181 /ready readiness ("OK"), 9153 /metrics (request counters)

and logs what CoreDNS logs at start. It reads Services, EndpointSlices and Namespaces from the cluster's store
directly: the pod runs inside the cluster process, where real CoreDNS would watch the API with its service account.

`install(store, allocator, network)` creates, once, what `kubeadm init` creates: the `coredns` ConfigMap (the
Corefile), the `coredns` Deployment (2 replicas, probes, requests as kubeadm's) and the `kube-dns` Service on the
10th address of the Service range (10.96.0.10 in a kubeadm cluster; 127.96.<slot>.10 here) with ports dns 53/UDP,
dns-tcp 53/TCP and metrics 9153/TCP. `register_image(store)` must run before the kubelet starts (pods restored
from disk find their image).
"""
from __future__ import annotations

import asyncio
import copy
import itertools

from ingresslab.cluster.addons import dns as cluster_dns
from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.node import images
from ingresslab.cluster.node.network import Network, bind_port

IMAGE = "registry.k8s.io/coredns/coredns:v1.11.3"
NAMESPACE = "kube-system"
LABELS = {"k8s-app": "kube-dns"}
HEALTH_PORT, READY_PORT, METRICS_PORT = 8080, 8181, 9153
COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: "_CoreDNS"):
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        reply = self.server.answer(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class _CoreDNS:
    """One CoreDNS container: its DNS and HTTP listeners, closed together."""

    def __init__(self, store, pod: images.PodContext):
        self.store, self.pod = store, pod
        self.requests: dict[str, int] = {"udp": 0, "tcp": 0}
        self._udp: asyncio.DatagramTransport | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._conns: set[asyncio.StreamWriter] = set()

    def answer(self, wire: bytes, proto: str) -> bytes | None:
        self.requests[proto] += 1
        return cluster_dns.answer(self.store, wire)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ip = self.pod.ip
        try:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(ip, bind_port(53)))
            self._servers.append(await asyncio.start_server(self._tcp, ip, bind_port(53)))
            for port in (HEALTH_PORT, READY_PORT, METRICS_PORT):
                self._servers.append(await asyncio.start_server(self._http, ip, port))
        except BaseException:
            await self.close()
            raise
        for line in (".:53", "[INFO] plugin/reload: Running configuration SHA512 = "
                     "591cf328cccc12bc490481273e738df59329c62c0b729d94e8b61db9961c2fa5f046dd37f1cf888b953814040d180f52"
                     "594972691cd6ff41be96639138a43908", "CoreDNS-1.11.3", "linux/amd64, go1.21.11, a6338e9"):
            self.pod.log(line)

    async def _tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = self.answer(await reader.readexactly(size), "tcp")
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """/health, /ready and /metrics, one request a connection (what the kubelet's probes send)."""
        self._conns.add(writer)
        try:
            request = await reader.readline()
            while (await reader.readline()).strip():
                pass
            path = request.split()[1].decode("latin-1") if len(request.split()) > 1 else "/"
            port = writer.get_extra_info("sockname")[1]
            if port == METRICS_PORT and path == "/metrics":
                body = "".join(f'coredns_dns_requests_total{{proto="{p}",server="dns://:53",zone="."}} {n}\n'
                               for p, n in self.requests.items())
                status = "200 OK"
            elif (port, path) in ((HEALTH_PORT, "/health"), (READY_PORT, "/ready")):
                body, status = "OK", "200 OK"
            else:
                body, status = "404 page not found\n", "404 Not Found"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
                         f"{len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
            await writer.drain()
        except (ConnectionError, IndexError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for writer in list(self._conns):
            writer.close()
        for server in servers:
            await server.wait_closed()


def register_image(store) -> None:
    """Teach the kubelet the CoreDNS image, answering from `store` (the cluster this process runs)."""

    async def start(pod: images.PodContext, bound: dict[int, int], args: list[str]) -> _CoreDNS:
        server = _CoreDNS(store, pod)
        await server.start()
        return server

    images.register(images.Image(images.normalize_image(IMAGE), 53, None,
                                 "CoreDNS: cluster DNS for Services and pods (UDP and TCP 53)", start=start,
                                 extra_ports=(METRICS_PORT,)))


def dns_service_ip(network: Network) -> str:
    """The 10th address of the Service range, as kubeadm gives kube-dns."""
    return next(itertools.islice(network.service_ips(), 9, None))


def _objects(cluster_ip: str) -> tuple[dict, dict, dict]:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "coredns", "namespace": NAMESPACE}, "data": {"Corefile": COREFILE}}
    container = {
        "name": "coredns", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": HEALTH_PORT, "scheme": "HTTP"},
                          "initialDelaySeconds": 60, "timeoutSeconds": 5, "periodSeconds": 10,
                          "successThreshold": 1, "failureThreshold": 5},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": READY_PORT, "scheme": "HTTP"},
                           "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": NAMESPACE, "labels": dict(LABELS)},
        "spec": {"replicas": 2, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 "selector": {"matchLabels": dict(LABELS)},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
                 "template": {"metadata": {"labels": dict(LABELS)}, "spec": {
                     "priorityClassName": "system-cluster-critical", "serviceAccountName": "coredns",
                     "dnsPolicy": "Default", "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "nodeSelector": {"kubernetes.io/os": "linux"},
                     "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                     {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                     "containers": [container]}}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": NAMESPACE,
                     "labels": {**LABELS, "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
                     "annotations": {"prometheus.io/port": str(METRICS_PORT), "prometheus.io/scrape": "true"}},
        "spec": {"selector": dict(LABELS), "type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                 "internalTrafficPolicy": "Cluster",
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                           {"name": "metrics", "port": METRICS_PORT, "protocol": "TCP", "targetPort": METRICS_PORT}]},
    }
    return configmap, deployment, service


def install(store, allocator, network: Network) -> tuple[str, int]:
    """Create the CoreDNS objects that are missing (a learner who deleted one gets it back at the next start, as
    `kubeadm upgrade` would); returns the kube-dns Service's address (ClusterIP, bound port) and makes it
    `dns.resolve`'s default."""
    cluster_ip = dns_service_ip(network)
    configmap, deployment, service = _objects(cluster_ip)
    for key, obj in (("configmaps", configmap), ("deployments.apps", deployment)):
        if store.get(key, NAMESPACE, obj["metadata"]["name"]) is None:
            store.create(key, obj)
    current = store.get("services", NAMESPACE, "kube-dns")
    if current is None:
        try:
            current = store.create("services", allocator.allocate(copy.deepcopy(service)))
        except errors.ApiError:          # the 10th address is taken (a lab from before DNS): any free one
            for field in ("clusterIP", "clusterIPs"):
                service["spec"].pop(field)
            current = store.create("services", allocator.allocate(service))
    address = (current["spec"]["clusterIP"], bind_port(53))
    cluster_dns.set_default_nameserver(*address)
    return address


__all__ = ["IMAGE", "dns_service_ip", "install", "register_image"]
