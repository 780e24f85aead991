"""One container as the shell sees it: its pod, image profile, filesystem, environment, processes and network.

`streams.py` (the node's exec/attach side) builds a `Container` from the pod in the store and the kubelet's view
of it; the shell's commands read everything they tell from here, so what `env`, `hostname`, `ps`, `cat` and `curl`
answer is the pod's own truth.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ingresslab.cluster.node.shell.fs import FileSystem
from ingresslab.cluster.node.shell.resolver import Resolver
from ingresslab.cluster.node.shell.rootfs import RootFs

__all__ = ["Container", "NginxInstance", "ProcessTable"]


@dataclass(frozen=True)
class NginxInstance:
    """A real nginx the container runs (the Ingress controller's): `nginx -T/-t/-s` act on it."""

    binary: str
    prefix: Path
    conf: Path
    error_log: Path


@dataclass
class ProcessTable:
    """The container's processes: the image's own (from pid 1), then each exec'd command while it runs."""

    main: tuple[tuple[str, str], ...]
    started: float = field(default_factory=time.time)
    running: dict[int, tuple[str, str, float]] = field(default_factory=dict)
    next_pid: int = 0
    shell_pid: int = 0

    def __post_init__(self) -> None:
        self.next_pid = max(len(self.main), 1) + 6      # exec'd processes come after the image's own

    def start(self, user: str, cmdline: str) -> int:
        pid = self.next_pid
        self.next_pid += 1
        self.running[pid] = (user, cmdline, time.time())
        return pid

    def end(self, pid: int) -> None:
        self.running.pop(pid, None)

    def rows(self) -> list[tuple[int, str, float, str]]:
        """(pid, user, start time, command line), pid order."""
        rows = [(i + 1, user, self.started, cmd) for i, (user, cmd) in enumerate(self.main)]
        rows += [(pid, user, t, cmd) for pid, (user, cmd, t) in sorted(self.running.items())]
        return rows


@dataclass
class Container:
    pod: str
    namespace: str
    name: str
    image: str
    ip: str
    node_ip: str
    rootfs: RootFs
    fs: FileSystem
    env: dict[str, str]
    processes: ProcessTable
    resolver: Resolver
    dial_port: Callable[[int], int] = lambda port: port     # the port really bound for a port < 1024
    nginx: NginxInstance | None = None
    nameserver: str = ""

    @property
    def hostname(self) -> str:
        return self.env.get("HOSTNAME", self.pod)
