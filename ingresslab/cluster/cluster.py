"""One embedded cluster: the store, the API server, the built-in controllers, the kubelet and kube-proxy, together.

`Cluster.start()` opens the state directory's database, locks a network slot, seeds the namespaces a fresh
cluster has, starts the controllers (which bring back pods persisted by an earlier run) and serves the API on a free
loopback port. The add-ons a cluster installer deploys follow (cluster DNS: `addons/coredns.py`). The layers above (the lab process) add admission hooks and deploy the Ingress controller through the
API like any client would. `await cluster.stop()` closes every socket the cluster opened.
"""
from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import tornado.httpserver

from ingresslab.cluster.addons import coredns
from ingresslab.cluster.apiserver.server import Admission, ApiServer, http_server_options, new_token
from ingresslab.cluster.components import start_controllers
from ingresslab.cluster.node.network import Network, acquire_slot
from ingresslab.cluster.apiserver.pki import ensure_serving_files
from ingresslab.cluster.storage.store import Store

SEED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "ingress-nginx")


@dataclass
class ClusterInfo:
    api_url: str
    token: str
    ca_cert: Path
    slot: int
    network: Network


class Cluster:
    def __init__(self, home: Path, *, token: str | None = None, preferred_slot: int | None = None,
                 api_port: int = 0):
        self.home = Path(home)
        self.token = token or new_token()
        self.preferred_slot = preferred_slot
        self.api_port = api_port
        self.admission = Admission()
        self.store: Store | None = None
        self.controllers = None
        self._http: tornado.httpserver.HTTPServer | None = None
        self._slot_lock = None
        self.info: ClusterInfo | None = None
        self.api_url: str | None = None
        self.dns_address: tuple[str, int] | None = None     # kube-dns: ClusterIP and the port bound for 53
        self.service_account_dir: Path | None = None

    async def start(self) -> ClusterInfo:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self._slot_lock = acquire_slot(self.preferred_slot)
        network = Network(self._slot_lock.slot)
        self.store = Store(self.home / "cluster.db")
        for ns in SEED_NAMESPACES:
            if self.store.get("namespaces", "", ns) is None:
                self.store.create("namespaces", {"metadata": {"name": ns, "labels": {
                    "kubernetes.io/metadata.name": ns}}, "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"}})
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.api_port))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        self.api_url = f"https://127.0.0.1:{port}"
        pki = ensure_serving_files(self.home / "pki")
        self.service_account_dir = self._write_service_account(pki.ca_cert)
        api = ApiServer(self.store, token=self.token, admission=self.admission, pod_logs=None,
                        server_address=f"127.0.0.1:{port}")
        self.api = api
        self._http = tornado.httpserver.HTTPServer(api.app(), ssl_options=pki.ssl_context(),
                                                   **http_server_options())
        self._http.add_sockets([sock])
        # Controllers start after the API serves: pods brought back from an earlier run may be API clients.
        coredns.register_image(self.store)
        self.controllers = await start_controllers(self.store, network, home=self.home, admission=self.admission,
                                                   api_port=port, ca_pem=pki.ca_cert.read_text())
        self.dns_address = coredns.install(self.store, self.controllers.allocator, network)
        api.pod_logs = self.controllers.kubelet
        api.pod_streams = self.controllers.kubelet.streams
        self.info = ClusterInfo(self.api_url, self.token, pki.ca_cert, network.slot, network)
        return self.info

    def _write_service_account(self, ca_cert: Path) -> Path:
        """What a pod's service account volume holds (token, ca.crt), for pods that are API clients."""
        sa = self.home / "serviceaccount"
        sa.mkdir(mode=0o700, exist_ok=True)
        for name, data in (("token", self.token.encode()), ("ca.crt", ca_cert.read_bytes())):
            fd = os.open(sa / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return sa

    async def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            try:
                await asyncio.wait_for(self._http.close_all_connections(), 2)
            except asyncio.TimeoutError:
                pass
            self._http = None
        if self.controllers is not None:
            await self.controllers.stop()
            self.controllers = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._slot_lock is not None:
            self._slot_lock.release()
            self._slot_lock = None
