"""The lab's state directory: where a running lab keeps its kubeconfig, token, database, logs and pid.

    <home>/lab.lock       locked by the running lab process for its whole life: one lab per home
    <home>/state.json     pid, API URL, slot, phase ("starting" → "ready") of the running lab
    <home>/last.json      the slot and API port the last run used (taken again when free)
    <home>/token          the bearer token, kept across restarts so open clients keep working
    <home>/kubeconfig     for kubectl and the kubernetes client
    <home>/cluster.db     every object (SQLite)
    <home>/logs/          lab process, kube-proxy connections, pods, nginx

The home is `--home`, else `$INGRESSLAB_HOME`, else `~/.ingresslab`. It holds the cluster's secrets (the token, TLS
keys in the database), so it is its user's alone: the directory 0700, every file 0600 (`ensure_home`, and the
lab process and CLI run with umask 077). Another local user is an adversary here: nothing in the home is followed
through a symlink they could plant, and `down` signals only a process proven to be this home's lab
(`lab_process`: the process the kernel says holds `lab.lock`, running `ingresslab.labd` for this home).

Neighbours: `labd.py` takes the lock and writes the state; `lab.py` (`Lab.up`, `stop`) and `cli.py` read them.
"""
from __future__ import annotations

import base64
import errno
import fcntl
import json
import os
import secrets
import stat
import string
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from .i18n import _

CONTEXT = "ingresslab"
LOCK_NAME = "lab.lock"
PRIVATE_UMASK = 0o077


class HomeError(RuntimeError):
    """The home cannot be used safely; the message says why and what to do."""


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    if home:
        return Path(home).expanduser().resolve()
    env = os.environ.get("INGRESSLAB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return (Path.home() / ".ingresslab").resolve()


def private_umask() -> None:
    """Files this process (and its children: pods, nginx) creates are its user's alone."""
    os.umask(PRIVATE_UMASK)


def ensure_home(home: Path) -> Path:
    """Create the home (0700), or take an existing one of ours back to 0700 with its files 0600. A home owned by
    someone else, or that is not a directory, is refused: its owner could read or replace what the lab writes."""
    home = Path(home)
    try:
        home.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    st = os.lstat(home)
    if not stat.S_ISDIR(st.st_mode):
        raise HomeError(_("the lab's home {home} is not a directory; choose another with --home").format(home=home))
    if st.st_uid != os.geteuid():
        raise HomeError(_("the lab's home {home} belongs to uid {owner}, not to you (uid {you}): its owner could read "
                          "the lab's secrets. Use a home of your own with --home").format(
            home=home, owner=st.st_uid, you=os.geteuid()))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(home, 0o700)
    _tighten(home, depth=2)
    return home


def _tighten(directory: Path, *, depth: int) -> None:
    """Homes made by earlier versions had 0755 directories and 0644 files: make what is ours private. Symlinks
    and other users' files are left alone (never followed, never changed)."""
    for entry in os.scandir(directory):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid != os.geteuid() or stat.S_ISLNK(st.st_mode):
            continue
        if stat.S_ISDIR(st.st_mode):
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(entry.path, 0o700)
            if depth > 1:
                _tighten(Path(entry.path), depth=depth - 1)
        elif stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(entry.path, stat.S_IMODE(st.st_mode) & 0o700)


def private_dir(path: Path) -> Path:
    """A directory of the home, created 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def open_private(path: Path, mode: str = "ab"):
    """Open a file of the home for appending (logs), creating it 0600, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(path, flags, 0o600), mode)


def _write_private(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, through a temporary file of a unique name (two writers never share
    one), created 0600."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def token(home: Path) -> str:
    path = home / "token"
    try:
        value = _read_private(path).strip()
    except FileNotFoundError:
        value = ""
    if value:
        return value
    value = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    ensure_home(home)
    _write_private(path, value + "\n")
    return value


def _read_private(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd) as f:
        return f.read()


def write_kubeconfig(home: Path, api_url: str, bearer: str, ca_cert: Path) -> Path:
    ca_data = base64.b64encode(Path(ca_cert).read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CONTEXT, "cluster": {"server": api_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": "learner", "user": {"token": bearer}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "learner", "namespace": "default"}}],
        "current-context": CONTEXT,
    }
    path = home / "kubeconfig"
    _write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(_read_private(path))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_state(home: Path) -> dict | None:
    return _read_json(home / "state.json")


def write_state(home: Path, state: dict) -> None:
    _write_private(home / "state.json", json.dumps(state, indent=2) + "\n")


def read_last(home: Path) -> dict:
    """What the previous run of this home used (slot, API port): a restarted lab takes them again if free, so
    addresses and the kubeconfig stay the same across `down`/`up` and crashes."""
    return _read_json(home / "last.json") or {}


def write_last(home: Path, last: dict) -> None:
    _write_private(home / "last.json", json.dumps(last) + "\n")


def clear_state(home: Path) -> None:
    try:
        (home / "state.json").unlink()
    except FileNotFoundError:
        pass


# ----------------------------------------------------------------------------------------------- one lab per home
# A POSIX record lock (fcntl), not flock: another process can ask the kernel who holds it (F_GETLK answers with the
# holder's pid) without taking it even for an instant, so `status`, `up` and `down` never make a starting lab
# believe its home is busy, and never trust a pid written in a file.
_FLOCK = "hhqqi4x"     # struct flock on Linux (x86-64, arm64): l_type, l_whence, l_start, l_len, l_pid


class HomeLock:
    """The exclusive lock a lab process holds on its home for its whole life (released by the kernel when the
    process dies, however it dies). The process must not open and close `lab.lock` otherwise: closing any
    descriptor of the file drops a POSIX lock."""

    def __init__(self, fd: int, path: Path):
        self.fd = fd
        self.path = path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def take_lock(home: Path) -> HomeLock | None:
    """The home's lock, or None when another process (a running or starting lab) holds it."""
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    return HomeLock(fd, home / LOCK_NAME)


def lock_holder(home: Path) -> int | None:
    """The pid of the process holding the home's lock, as the kernel says (None: nobody holds it)."""
    try:
        fd = os.open(home / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        kind, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    finally:
        os.close(fd)
    return pid if kind != fcntl.F_UNLCK and pid > 0 else None


# ----------------------------------------------------------------------------------------------- process identity
def stat_fields(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return []
    return data[data.rindex(")") + 2:].split()   # the command name may hold spaces and parentheses


def process_start(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot, /proc/<pid>/stat field 22): with the pid, it names one process
    for the machine's uptime, so a pid reused by another program is not mistaken for the one meant."""
    fields = stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = stat_fields(pid)
    return not fields or fields[0] not in ("Z", "X")    # a zombie is not alive


def _unlocked_lab_pid(home: Path) -> int | None:
    """A lab that holds no lock: one started by a version before the lock (still to be stopped after an upgrade),
    or one exiting after it let go. Only the pid in state.json names it, so it must also be this user's own."""
    pid = (read_state(home) or {}).get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        return pid if os.stat(f"/proc/{pid}").st_uid == os.geteuid() else None
    except OSError:
        return None


@dataclass(frozen=True)
class LabProcess:
    pid: int
    start: int | None


def own_processes() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, command-line arguments) of this user's other processes, from /proc (none where there is no /proc)."""
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.geteuid():
                continue
            yield int(entry), Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue


def orphaned_labs(home: Path) -> list[LabProcess]:
    """This user's labs for `home` whose home directory was deleted while they ran (`rm -rf ~/.ingresslab`): no
    lock of the directory now at that path names them, so `lab_process` cannot find them. The proof is theirs: a
    process of this user running `ingresslab.labd` for this home that still holds the home's lock file, which
    /proc shows as `<home>/lab.lock (deleted)`."""
    gone_lock = f"{home}/{LOCK_NAME} (deleted)"
    found = []
    for pid, cmdline in own_processes():
        if b"ingresslab.labd" not in cmdline or os.fsencode(str(home)) not in cmdline:
            continue
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == gone_lock for fd in os.listdir(f"/proc/{pid}/fd")):
                found.append(LabProcess(pid, process_start(pid)))
        except OSError:
            continue
    return [lab for lab in found if pid_alive(lab.pid)]


def lab_process(home: Path) -> LabProcess | None:
    """The running (or starting) lab of this home, proven: the process the kernel says holds the home's lock (or,
    with no holder, this user's process that state.json names), and that runs `ingresslab.labd` for this home. A
    stale or forged state.json naming another program never gets that program signalled."""
    pid = lock_holder(home)
    if pid is None:
        pid = _unlocked_lab_pid(home)
    if pid is None or not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if b"ingresslab.labd" not in cmdline or os.fsencode(str(home)) not in cmdline:
        return None
    return LabProcess(pid, process_start(pid))
