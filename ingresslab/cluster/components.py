"""Every running part of one cluster beside the API server: kube-controller-manager's controllers, the scheduler
and kubelet of each node, and kube-proxy, as one `Controllers` value.

All run on the cluster process's asyncio loop, beside the store they follow (`client.controller.Controller`); the pods
themselves run in a process of their own (`node/containerd.py`):

    nodes            node-1, node-2 registered with their addresses       (controllers/nodes.py)
    deployments  →   ReplicaSets per pod template, rollouts, status       (controllers/deployments.py)
    replicasets  →   Pods                                                  (controllers/replicasets.py)
    scheduler    →   pods bound to a node that fits, or FailedScheduling  (scheduler/)
    kubelet      →   bound pods given an IP, run as real servers, probed  (node/kubelet.py, node/probes.py)
    services         ClusterIP and nodePort allocation (at admission)      (controllers/services.py)
    endpointslices → EndpointSlices and Endpoints from ready pods          (controllers/endpointslices.py)
    kube-proxy   →   ClusterIP and NodePort forwarding, iptables view      (node/proxy/kubeproxy.py)
    events           what each of them did, for `kubectl describe`         (client/record.py)
    namespace        empties a Terminating namespace, then deletes it      (controllers/namespaces.py)
    serviceaccount,  the `default` ServiceAccount and the `kube-root-ca.crt`
    root-ca-cert-publisher  ConfigMap in every namespace                  (controllers/serviceaccounts.py)
    taint-eviction   deletes pods from nodes with a NoExecute taint        (controllers/tainteviction.py)

`await start_controllers(store, network, home=…)` starts them all; `await controllers.stop()` stops them and
closes every pod server and forwarder listener. The API server calls `controllers.allocator` (a `ServiceAllocator`)
on Service writes, and `controllers.kubelet` for pod logs.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from ingresslab.cluster.client.controller import Controller
from ingresslab.cluster.client.record import EventRecorder
from ingresslab.cluster.controllers.deployments import DeploymentController
from ingresslab.cluster.controllers.endpointslices import EndpointSliceController
from ingresslab.cluster.controllers.namespaces import NamespaceController
from ingresslab.cluster.controllers.nodes import NodeController
from ingresslab.cluster.controllers.replicasets import ReplicaSetController
from ingresslab.cluster.controllers.serviceaccounts import RootCACertPublisher, ServiceAccountController
from ingresslab.cluster.controllers.services import ServiceAllocator, ServiceController
from ingresslab.cluster.controllers.tainteviction import TaintEvictionController
from ingresslab.cluster.node.kubelet import Kubelet
from ingresslab.cluster.node.network import Network
from ingresslab.cluster.node.proxy.kubeproxy import KubeProxy
from ingresslab.cluster.scheduler import Scheduler
from ingresslab.cluster.storage.store import Store

__all__ = ["Controllers", "start_controllers"]


@dataclass
class Controllers:
    store: Store
    network: Network
    recorder: EventRecorder
    allocator: ServiceAllocator
    nodes: NodeController
    services: ServiceController
    deployments: DeploymentController
    replicasets: ReplicaSetController
    scheduler: Scheduler
    endpointslices: EndpointSliceController
    kubelet: Kubelet
    kubeproxy: KubeProxy
    namespaces: NamespaceController
    serviceaccounts: ServiceAccountController
    root_ca: RootCACertPublisher
    tainteviction: TaintEvictionController

    @property
    def all(self) -> list[Controller]:
        # The per-namespace keepers start first and stop last: stopping follows this list backwards, and the
        # order the others stop in (kube-proxy and the kubelet last) is theirs.
        return [self.serviceaccounts, self.root_ca, self.nodes, self.services, self.deployments, self.replicasets,
                self.scheduler, self.kubelet, self.endpointslices, self.kubeproxy, self.namespaces,
                self.tainteviction]

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no controller has work queued or running (retries scheduled for later do not count)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:      # idle over several loop turns: one controller's write may wake another
            await asyncio.sleep(0.001 if quiet else 0)
            quiet = quiet + 1 if all(c.idle for c in self.all) else 0
            if loop.time() > deadline:
                raise TimeoutError(f"controllers still busy after {timeout}s: "
                                   + ", ".join(c.name for c in self.all if not c.idle))

    async def stop(self) -> None:
        """Stop every controller (kube-proxy and kubelet last, so traffic flows while the rest stop)."""
        for controller in reversed(self.all):
            await controller.stop()


async def start_controllers(store: Store, network: Network, *, home: Path, admission=None,
                            api_port: int | None = None, api_host: str = "127.0.0.1",
                            ca_pem: str = "") -> Controllers:
    """Start every controller on the running loop and wait until pods restored from the store run again.

    `admission` (the API server's `Admission`) gets the Service allocator's validator and mutator; `api_port` puts
    the API server's address behind the `kubernetes` Service; `ca_pem` is the CA that `kube-root-ca.crt` publishes."""

    home = Path(home)
    recorder = EventRecorder(store)
    allocator = ServiceAllocator(store, network)
    if admission is not None:
        allocator.register(admission)
    controllers = Controllers(
        store=store, network=network, recorder=recorder, allocator=allocator,
        nodes=NodeController(store, network, recorder),
        services=ServiceController(store, allocator, api_endpoint=(api_host, api_port) if api_port else None),
        deployments=DeploymentController(store, recorder),
        replicasets=ReplicaSetController(store, recorder),
        scheduler=Scheduler(store, recorder),
        endpointslices=EndpointSliceController(store),
        kubelet=Kubelet(store, network, recorder, home=home),
        kubeproxy=KubeProxy(store, network, home=home),
        namespaces=NamespaceController(store),
        serviceaccounts=ServiceAccountController(store),
        root_ca=RootCACertPublisher(store, ca_pem),
        tainteviction=TaintEvictionController(store, recorder),
    )
    try:
        for controller in controllers.all:
            controller.start()
        await controllers.wait_idle(timeout=30)
    except BaseException:
        await controllers.stop()
        raise
    return controllers
