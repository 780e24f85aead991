"""Stopping a home's lab: signal only the process proven to be that lab, then wait until it and everything it
started (pods, nginx and its workers, kube-proxy's data plane) are gone.

Why wait for the whole family: a lab's nginx that outlives it for a moment keeps the Ingress ports bound, and the
next lab's controller then fails with `Address already in use`. Why prove the lab first: state.json is only a
file; a stale one (the pid reused since) or one written by someone else must never get a program signalled.

Neighbours: `home.py` (the lock, `lab_process`, /proc reads), `lab.py` (`Lab.down` and `Lab.up`), `cli.py`.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from . import home as homes


def stop(home: str | os.PathLike | None = None, timeout: float = 10.0) -> bool:
    """Stop the lab process of a home and wait until it and every process it started (pods, nginx and its
    workers, kube-proxy) are gone, so the next lab finds its addresses free. True if one was running.

    Only a process proven to be this home's lab is signalled (`home.lab_process`: the holder of the home's lock,
    running `ingresslab.labd` for it); a stale or forged state.json naming another program changes nothing."""
    where = homes.resolve_home(home)
    orphans = stop_orphans(where, timeout)
    lab = homes.lab_process(where)
    if lab is None:
        if homes.lock_holder(where) is None:
            homes.clear_state(where)
        return orphans > 0
    return _stop(where, lab, homes.lab_process, timeout) or orphans > 0


def stop_orphans(where: Path, timeout: float = 10.0) -> int:
    """Stop this home's labs whose home directory was deleted while they ran (`home.orphaned_labs`): their pods,
    nginx and kube-proxy would otherwise run on, unseen, until the machine restarts. How many there were."""
    orphans = homes.orphaned_labs(where)
    for orphan in orphans:
        _stop(where, orphan, lambda w, o=orphan: o if o in homes.orphaned_labs(w) else None, timeout)
    return len(orphans)


def _stop(where: Path, lab: homes.LabProcess, prove, timeout: float) -> bool:
    """Stop one lab (proven again by `prove(where)` before each signal) and all it started."""
    family = _Family(lab.pid, lab.start)
    family.refresh()
    if not _signal_lab(where, lab, signal.SIGTERM, prove):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and family.alive(lab.pid):
        family.refresh()
        time.sleep(0.02)
    if family.alive(lab.pid):
        _signal_lab(where, lab, signal.SIGKILL, prove)
    # The lab stops its pods and nginx before it exits; anything still here dies by its parent-death signal.
    # Wait for all of it (a lingering nginx keeps the Ingress ports bound), and kill what outlives the wait.
    linger = time.monotonic() + timeout
    while family.survivors() and time.monotonic() < linger:
        time.sleep(0.02)
    family.kill_survivors()
    if homes.lock_holder(where) is None:
        homes.clear_state(where)
    return True


def _signal_lab(where: Path, lab: homes.LabProcess, sig: int, prove=homes.lab_process) -> bool:
    """Send `sig` to the lab through a pidfd opened while the process is still proven to be the lab, so a pid
    reused in between can never be hit. False if it is gone (or no longer the lab)."""
    try:
        fd = os.pidfd_open(lab.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):   # no pidfd (old kernel, not Linux): the start-time check must do
        fd = None
    try:
        again = prove(where)
        if again is None or again != lab:
            return False
        if fd is not None:
            try:
                signal.pidfd_send_signal(fd, sig)
                return True
            except ProcessLookupError:
                raise
            except OSError:   # refused by a sandbox (seccomp): the checks just made must do
                pass
        os.kill(lab.pid, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        if fd is not None:
            os.close(fd)


class _Family:
    """A process and its descendants, each named by (pid, start time) so a reused pid is never taken for one."""

    def __init__(self, pid: int, start: int | None):
        self.members: dict[int, int | None] = {pid: start}

    def refresh(self) -> None:
        children: dict[int, list[tuple[int, int | None]]] = {}
        for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
            if entry.isdigit():
                fields = homes.stat_fields(int(entry))
                if len(fields) > 19:
                    children.setdefault(int(fields[1]), []).append((int(entry), int(fields[19])))
        todo = [pid for pid in self.members if self.alive(pid)]
        while todo:
            for child, start in children.get(todo.pop(), []):
                if child not in self.members:
                    self.members[child] = start
                    todo.append(child)

    def alive(self, pid: int) -> bool:
        return homes.pid_alive(pid) and homes.process_start(pid) == self.members.get(pid)

    def survivors(self) -> list[int]:
        return [pid for pid in self.members if self.alive(pid)]

    def kill_survivors(self) -> None:
        for pid in self.survivors():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5
        while self.survivors() and time.monotonic() < deadline:
            time.sleep(0.02)


def leftovers(home: Path) -> list[int]:
    """Processes of this user still working inside the home (nginx `-p <home>/…`, kube-proxy `--log <home>/…`, a
    controller `--home=<home>/…`): what a lab killed outright leaves behind for a moment, until its parent-death
    signal reaches it. The commands that merely name the home (`ingresslab --home DIR up`) are not counted."""
    inside = os.fsencode(str(home)) + b"/"
    return [pid for pid, args in homes.own_processes()
            if any(arg.startswith(inside) or b"=" + inside in arg for arg in args) and homes.pid_alive(pid)]


def wait_for_leftovers(home: Path, *, timeout: float) -> list[int]:
    """Before a lab starts on a home: wait (up to `timeout`) until what an earlier lab of it left is gone, so its
    nginx and kube-proxy do not hold the ports the new ones need. Returns what is still there."""
    deadline = time.monotonic() + timeout
    # A process seen once is followed by its pid, not by its command line: one that is exiting has already
    # given up its memory (an empty /proc/<pid>/cmdline) while it still closes its files and sockets.
    seen: set[int] = set()
    while True:
        seen = {pid for pid in seen | set(leftovers(home)) if homes.pid_alive(pid)}
        if not seen or time.monotonic() >= deadline:
            return sorted(seen)
        time.sleep(0.05)

