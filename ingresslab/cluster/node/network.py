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
import socket
import stat
import sys
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

    def __init__(self, slot: int, *handles):
        self.slot = slot
        self._handles = [h for h in handles if h is not None]

    def release(self) -> None:
        for handle in self._handles:
            if isinstance(handle, socket.socket):
                handle.close()
            else:
                os.close(handle)
        self._handles = []


# Slots are machine-wide (every user's labs share 127.0.0.0/8), so their locks must be seen by every user; and any
# user can be an adversary. On Linux a slot's lock is an abstract unix socket name: no file, nothing to plant a
# symlink at or chmod, released when the process dies. Labs of earlier versions locked files in
# `$TMPDIR/ingresslab-slots`; that lock is taken too (for them to see this lab), but only when the directory is
# one nobody else can tamper with, only with O_NOFOLLOW, and nothing is chmodded but a file this process just
# created. Without abstract sockets (not Linux) the file lock is the only one, and a tampered directory is refused.
ABSTRACT = sys.platform.startswith("linux")


def _abstract_lock(slot: int) -> socket.socket | None:
    """The slot's abstract-socket lock, or None if another process holds it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(f"\0ingresslab-slot-{slot}")
    except OSError:
        sock.close()
        return None
    return sock


def _lock_dir() -> Path | None:
    """The shared directory of slot lock files, if it is safe: a real directory (not a symlink), sticky and owned
    by root or by us. Created (1777, like /tmp) when missing."""
    d = Path(tempfile.gettempdir()) / "ingresslab-slots"
    try:
        d.mkdir()
        os.chmod(d, 0o1777)      # we just created it: everyone's labs lock their slots here
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(d)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (0, os.geteuid()):
        return None
    if stat.S_IMODE(st.st_mode) & 0o022 and not st.st_mode & stat.S_ISVTX:
        return None              # writable by others without the sticky bit: anyone could swap the files
    return d


def _file_lock(directory: Path, slot: int) -> int | None:
    """flock on `<dir>/slot-N.lock`, opened without following symlinks; -1 if the slot is busy, None if the
    file cannot be used (a symlink or other non-file planted there, or no permission)."""
    path = directory / f"slot-{slot}.lock"
    created = True
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        created = False
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:          # ELOOP: a symlink; EACCES: not readable
            return None
    except OSError:
        return None
    if created:
        os.fchmod(fd, 0o644)     # the file this call created, by descriptor (umask may have narrowed it)
    elif not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return -1
    return fd


def _claim(slot: int, directory: Path | None) -> SlotLock | None:
    sock = _abstract_lock(slot) if ABSTRACT else None
    if ABSTRACT and sock is None:
        return None
    fd = _file_lock(directory, slot) if directory is not None else None
    if fd == -1 or (fd is None and not ABSTRACT):
        if sock is not None:
            sock.close()
        return None
    return SlotLock(slot, sock, fd)


def acquire_slot(preferred: int | None = None) -> SlotLock:
    """Lock the preferred slot if free, else the lowest free one."""
    order = list(range(MAX_SLOTS))
    if preferred is not None and 0 <= preferred < MAX_SLOTS:
        order.remove(preferred)
        order.insert(0, preferred)
    directory = _lock_dir()
    if directory is None and not ABSTRACT:
        raise RuntimeError(f"{Path(tempfile.gettempdir()) / 'ingresslab-slots'} is not safe to lock slots in "
                           f"(a symlink, or owned by another user): remove it and start again")
    for slot in order:
        lock = _claim(slot, directory)
        if lock is not None:
            return lock
    raise RuntimeError(f"all {MAX_SLOTS} lab slots are in use: stop a lab with `ingresslab down`")
