"""The lab's two nodes, registered as a kubelet registers its Node object, with their heartbeat Leases.

`node-1` and `node-2` carry the addresses and pod CIDRs of `network.py` (InternalIP 127.0.<1+slot>.1/.2), a Ready
condition, the capacity and allocatable of a small 2-CPU, 4 GiB machine (allocatable is capacity less what the
kubelet reserves for the system) and the usual node info, so `kubectl get nodes -o wide` and `kubectl describe node`
read like a real cluster's. A deleted Node is registered again, as a running kubelet would; a Node restored from an
older run with another address plan is brought up to date.

Each node's kubelet also holds a `coordination.k8s.io/v1` Lease `kube-node-lease/<node>` (owned by the Node,
`leaseDurationSeconds: 40`) and renews it every `LEASE_RENEW_SECONDS`, which `kubectl describe node` reads.
A cordoned node (`spec.unschedulable`, kubectl cordon/drain) gets the `node.kubernetes.io/unschedulable:NoSchedule`
taint and loses it on uncordon, as the node lifecycle controller does. The scheduler (`scheduler/`) reads all this.
"""
from __future__ import annotations

import platform
import uuid
from datetime import datetime, timezone

from ingresslab.cluster.node.network import Network, Node
from ingresslab.cluster.storage.store import Event, Store, now_rfc3339
from ingresslab.cluster.client.controller import Controller
from ingresslab.cluster.client.record import EventRecorder

KUBELET_VERSION = "v1.37.0-ingresslab"   # the API server's version (apiserver/discovery.py)
LEASES = "leases.coordination.k8s.io"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 10.0      # a quarter of the duration, as the kubelet renews
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
# A 2-CPU, 4 GiB machine; allocatable keeps back kube-reserved and system-reserved CPU and memory, and the
# eviction threshold (memory.available<100Mi), as a managed cluster's kubelet configuration does.
CAPACITY = {"cpu": "2", "ephemeral-storage": "20470152Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
            "memory": "4015852Ki", "pods": "110"}
ALLOCATABLE = {"cpu": "1930m", "ephemeral-storage": "18865267424", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
               "memory": "3499756Ki", "pods": "110"}
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
            "capacity": dict(CAPACITY),
            "allocatable": dict(ALLOCATABLE),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, node.name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, node.name + ".system")),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": platform.release(),
                "osImage": "ingresslab (pods run in the lab's own processes)",
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


def _micro_time() -> str:
    """MicroTime, as a Lease's renewTime is written: RFC 3339 with microseconds."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeController(Controller):
    name = "node-controller"
    kinds = ("nodes", LEASES)

    def __init__(self, store: Store, network: Network, recorder: EventRecorder):
        super().__init__(store)
        self.network = network
        self.recorder = recorder
        self._started: set[str] = set()

    def initial_keys(self):
        return [n.name for n in self.network.nodes]

    def keys_for(self, event: Event):
        name = event.object["metadata"]["name"]
        if not any(n.name == name for n in self.network.nodes):
            return
        if event.key == LEASES:
            if event.type == "DELETED" and event.object["metadata"].get("namespace") == LEASE_NAMESPACE:
                yield ("lease", name)      # a kubelet whose Lease is gone takes it again at once
            return
        yield name

    async def reconcile(self, key) -> None:
        if isinstance(key, tuple):
            self._renew_lease(key[1])
            return
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
        changed = False
        if {"type": "InternalIP", "address": node.ip} not in addresses:
            current.setdefault("status", {})["addresses"] = node_object(node, now="")["status"]["addresses"]
            changed = True
        changed |= self._sync_unschedulable_taint(current, node)
        if changed:
            self.store.update("nodes", current, check_version=False)

    def _sync_unschedulable_taint(self, current: dict, node: Node) -> bool:
        """Cordoned ⇔ tainted node.kubernetes.io/unschedulable:NoSchedule; the kubelet reports the change."""
        spec = current.setdefault("spec", {})
        taints = spec.get("taints") or []
        has = any(t.get("key") == UNSCHEDULABLE_TAINT for t in taints)
        wanted = bool(spec.get("unschedulable"))
        if has == wanted:
            return False
        if wanted:
            spec["taints"] = [*taints, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule",
                                        "timeAdded": now_rfc3339()}]
        else:
            spec["taints"] = [t for t in taints if t.get("key") != UNSCHEDULABLE_TAINT]
            if not spec["taints"]:
                del spec["taints"]
        state = "NodeNotSchedulable" if wanted else "NodeSchedulable"
        self.recorder.normal(current, state, f"Node {node.name} status is now: {state}", component="kubelet",
                             host=node.name)
        return True

    def _renew_lease(self, name: str) -> None:
        """The kubelet's heartbeat: create or renew `kube-node-lease/<node>`, then again in LEASE_RENEW_SECONDS."""
        node_obj = self.store.get("nodes", "", name)
        if node_obj is not None:
            lease = self.store.get(LEASES, LEASE_NAMESPACE, name)
            owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_obj["metadata"]["uid"]}
            if lease is None:
                self.store.create(LEASES, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "ownerReferences": [owner]},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                             "renewTime": _micro_time()}})
            else:
                lease.setdefault("spec", {}).update(holderIdentity=name, leaseDurationSeconds=LEASE_DURATION_SECONDS,
                                                    renewTime=_micro_time())
                lease["metadata"]["ownerReferences"] = [owner]
                self.store.update(LEASES, lease, check_version=False)
        self.enqueue_after(("lease", name), LEASE_RENEW_SECONDS)

    def _announce(self, node_obj: dict, node: Node, *, registered: bool) -> None:
        self._started.add(node.name)
        self.enqueue(("lease", node.name))
        kw = {"component": "kubelet", "host": node.name}
        self.recorder.normal(node_obj, "Starting", "Starting kubelet.", **kw)
        if registered:
            self.recorder.normal(node_obj, "RegisteredNode", f"Node {node.name} event: Registered Node {node.name} "
                                 "in Controller", component="node-controller")
        self.recorder.normal(node_obj, "NodeReady", f"Node {node.name} status is now: NodeReady", **kw)
