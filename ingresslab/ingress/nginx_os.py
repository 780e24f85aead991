"""Operating-system helpers for `nginx.py`: spawning nginx so it dies with us, /proc lookups, group kill,
private files, HTTP over a unix socket, the default self-signed certificate.

Kept apart so `nginx.py` reads as the apply/reload story. Linux only (/proc); the lab's nginx runs on Linux
(Debian/Ubuntu packages, Binder).
"""
from __future__ import annotations

import ctypes
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class UnixHTTPConnection(http.client.HTTPConnection):
    """`http.client` over a unix socket: how the controller talks to nginx's configuration endpoint."""

    def __init__(self, path: str, *, timeout: float = 5):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _stat(pid: str) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()  # the command name may contain spaces and parentheses
    return fields[0], int(fields[1]), int(fields[2])


def _processes():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(entry)
            if stat is not None and stat[0] != "Z":  # zombies hold nothing and cannot be killed
                yield int(entry), stat


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (nginx's master and workers share the master's group)."""
    return [pid for pid, (_, _, pgrp) in _processes() if pgrp == pgid]


def workers_of(master: int) -> dict[int, str]:
    """Live children of `master` with their titles ("nginx: worker process [is shutting down]")."""
    workers = {}
    for pid, (_, ppid, _) in _processes():
        if ppid == master:
            try:
                workers[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                pass
    return workers


def kill_group(pgid: int, timeout: float = 5.0) -> None:
    """SIGKILL every process left in group `pgid` and wait until none is alive."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.01)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, atomically (write a temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None


def spawn(command: list[str], owner: int | None) -> subprocess.Popen:
    """Start `command` in its own process group, to receive SIGTERM when the forking thread (or process) ends;
    with `owner=None`, to outlive it (an nginx that keeps serving while its controller restarts)."""
    if owner is None:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    def die_with_owner():  # runs in the child between fork and exec
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != owner:  # the owner died before prctl took effect
            os._exit(1)

    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_owner)


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def errors_since(path: str, offset: int) -> str:
    """The emerg/alert/crit lines nginx appended to its error log after byte `offset`."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(line for line in lines if "[emerg]" in line or "[alert]" in line or "[crit]" in line)


FAKE_SUBJECT = (("Acme Co", "Kubernetes Ingress Controller Fake Certificate"), "ingress.local")


def self_signed_pem() -> str:
    """ingress-nginx's default certificate: self-signed, CN "Kubernetes Ingress Controller Fake Certificate".

    Made by the `openssl` command when there is one (about 10 ms): importing `cryptography` maps about 10 MB into
    the controller's process for good, for a certificate made once per pod. Without the command, `cryptography`."""
    openssl = shutil.which("openssl")
    if openssl:
        (org, cn), dns = FAKE_SUBJECT
        with tempfile.TemporaryDirectory(prefix="ingresslab-cert-") as tmp:
            key, crt = Path(tmp) / "key.pem", Path(tmp) / "crt.pem"
            made = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                   "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "365",
                                   "-subj", f"/O={org}/CN={cn}", "-addext", f"subjectAltName=DNS:{dns}"],
                                  capture_output=True, text=True, timeout=30)
            if made.returncode == 0:
                return crt.read_text() + key.read_text()
    return _self_signed_pem_in_process()


def _self_signed_pem_in_process() -> str:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    (org, cn), dns = FAKE_SUBJECT
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode()


def _alive(pid: int) -> bool:
    stat = _stat(str(pid))
    return stat is not None and stat[0] != "Z"


def master_of(pid_file: str, conf: Path) -> int | None:
    """The pid in nginx's `pid_file`, if it is a live nginx master of ours (same user) running `conf`."""
    try:
        pid = int(Path(pid_file).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        owner = os.stat(f"/proc/{pid}").st_uid
    except (OSError, ValueError):
        return None
    if owner != os.geteuid() or not cmdline.startswith("nginx: master process") or f" -c {conf} " not in cmdline:
        return None
    return pid if _alive(pid) else None


class Adopted:
    """An nginx master an earlier owner started (so not our child): the part of `Popen` that `nginx.py` uses,
    through /proc and signals. Its exit code is unknown (its parent reaps it): -1."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid):
            self.returncode = -1
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"nginx {self.pid}", timeout)
            time.sleep(0.01)
        return self.returncode
