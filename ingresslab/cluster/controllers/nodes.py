"""The lab's two nodes, registered as a kubelet registers its Node object.

`node-1` and `node-2` carry the addresses and pod CIDRs of `network.py` (InternalIP 127.0.<1+slot>.1/.2), a Ready
condition and the usual node info, so `kubectl get nodes -o wide` and `kubectl describe node` read like a real
cluster's. A deleted Node is registered again, as a running kubelet would; a Node restored from an older run with
another address plan is brought up to date. The kubelet (`kubelet.py`) schedules pods onto these names.
"""
from __future__ import annotations

import platform
import uuid

from ingresslab.cluster.node.network import Network, Node
from ingresslab.cluster.storage.store import Event, Store, now_rfc3339
from ingresslab.cluster.client.controller import Controller
from ingresslab.cluster.client.record import EventRecorder

KUBELET_VERSION = "v1.30.0-ingresslab"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())


def node_object(node: Node, *, now: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": _ARCH, "beta.kubernetes.io/os": "linux",
                       "beta.kubernetes.io/arch": _ARCH},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node.ip}, {"type": "Hostname", "address": node.name}],
            "conditions": [
                _condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                           "kubelet has sufficient memory available", now),
                _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
                _condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available",
                           now),
                _condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
            ],
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "20Gi"},
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "20Gi"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, node.name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, node.name + ".system")),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": platform.release(),
                "osImage": "ingresslab (pods run inside the lab's own process)",
                "containerRuntimeVersion": "ingresslab://0.1.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": _ARCH,
            },
        },
    }


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> dict:
    return {"type": type_, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


class NodeController(Controller):
    name = "node-controller"
    kinds = ("nodes",)

    def __init__(self, store: Store, network: Network, recorder: EventRecorder):
        super().__init__(store)
        self.network = network
        self.recorder = recorder
        self._started: set[str] = set()

    def initial_keys(self):
        return [n.name for n in self.network.nodes]

    def keys_for(self, event: Event):
        name = event.object["metadata"]["name"]
        if any(n.name == name for n in self.network.nodes):
            yield name

    async def reconcile(self, key) -> None:
        node = next(n for n in self.network.nodes if n.name == key)
        current = self.store.get("nodes", "", node.name)
        if current is None:
            wanted = node_object(node, now=now_rfc3339())
            stored = self.store.create("nodes", wanted)
            self._announce(stored, node, registered=True)
            return
        if node.name not in self._started:
            # Restored from disk: a kubelet starting again posts fresh status (new boot, new heartbeat).
            wanted = node_object(node, now=now_rfc3339())
            current["spec"] = {**(current.get("spec") or {}), **wanted["spec"]}
            current["status"] = wanted["status"]
            for k, v in wanted["metadata"]["labels"].items():
                current["metadata"].setdefault("labels", {})[k] = v
            stored = self.store.update("nodes", current, check_version=False)
            self._announce(stored, node, registered=False)
            return
        addresses = (current.get("status") or {}).get("addresses") or []
        if {"type": "InternalIP", "address": node.ip} not in addresses:
            current.setdefault("status", {})["addresses"] = node_object(node, now="")["status"]["addresses"]
            self.store.update("nodes", current, check_version=False)

    def _announce(self, node_obj: dict, node: Node, *, registered: bool) -> None:
        self._started.add(node.name)
        kw = {"component": "kubelet", "host": node.name}
        self.recorder.normal(node_obj, "Starting", "Starting kubelet.", **kw)
        if registered:
            self.recorder.normal(node_obj, "RegisteredNode", f"Node {node.name} event: Registered Node {node.name} "
                                 "in Controller", component="node-controller")
        self.recorder.normal(node_obj, "NodeReady", f"Node {node.name} status is now: NodeReady", **kw)
