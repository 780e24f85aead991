"""The lab's address plan: which loopback addresses play the nodes, the pods and the Services.

Linux routes all of 127.0.0.0/8 to the loopback interface, so the lab can give every node, pod and ClusterIP its own
address without leaving the machine, as a real cluster gives them their own IPs:

    nodes        127.0.<1+slot>.1, 127.0.<1+slot>.2          (kind-node-1, kind-node-2)
    pod CIDRs    127.244.<2*slot + n>.0/24 for node n          (like 10.244.n.0/24 with flannel)
    ClusterIPs   127.96.<slot>.0/24                            (like 10.96.0.0/12)

`slot` keeps two labs with different homes apart: each running lab holds a lock on its slot.
Ports below 1024 cannot be bound without root; when not root the lab binds such a port at `port + PORT_OFFSET`
and says so wherever a learner would type the port.
"""
from __future__ import annotations

import fcntl
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

PORT_OFFSET = 10000
NODE_PORT_RANGE = (30000, 32767)
MAX_SLOTS = 32
NODE_NAMES = ("node-1", "node-2")


def privileged() -> bool:
    return os.geteuid() == 0


def bind_port(port: int) -> int:
    """The port actually bound for a container or Service port (offset when unprivileged and < 1024)."""
    if port < 1024 and not privileged():
        return port + PORT_OFFSET
    return port


@dataclass(frozen=True)
class Node:
    name: str
    ip: str
    pod_cidr: str


@dataclass(frozen=True)
class Network:
    slot: int

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(
            Node(name, f"127.0.{1 + self.slot}.{i + 1}", f"127.244.{2 * self.slot + i}.0/24")
            for i, name in enumerate(NODE_NAMES))

    @property
    def service_cidr(self) -> str:
        return f"127.96.{self.slot}.0/24"

    def service_ips(self):
        """ClusterIPs in allocation order (.1 is the `kubernetes` Service's, as in real clusters)."""
        net = ipaddress.ip_network(self.service_cidr)
        return (str(h) for h in net.hosts())

    def pod_ips(self, node: Node):
        net = ipaddress.ip_network(node.pod_cidr)
        return (str(h) for h in list(net.hosts())[1:])   # .1 is the node's bridge on real nodes


class SlotLock:
    """Holds the lock on a slot for the life of the cluster process (released by the kernel when it dies)."""

    def __init__(self, slot: int, fd: int):
        self.slot = slot
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _lock_dir() -> Path:
    # Shared by every user of the machine: addresses are machine-wide, so slots must be too.
    d = Path(tempfile.gettempdir()) / "ingresslab-slots"
    try:
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o1777)
    except PermissionError:
        pass
    return d


def acquire_slot(preferred: int | None = None) -> SlotLock:
    """Lock the preferred slot if free, else the lowest free one."""
    order = list(range(MAX_SLOTS))
    if preferred is not None and 0 <= preferred < MAX_SLOTS:
        order.remove(preferred)
        order.insert(0, preferred)
    for slot in order:
        path = _lock_dir() / f"slot-{slot}.lock"
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        except PermissionError:
            continue
        try:
            os.fchmod(fd, 0o666)
        except PermissionError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return SlotLock(slot, fd)
    raise RuntimeError(f"all {MAX_SLOTS} lab slots are in use: stop a lab with `ingresslab down`")
