"""What every benchmark script shares: the machine header, the `--quick` flag, tables with targets, fresh labs,
and a small raw HTTP client for probing through loopback addresses.

The scripts are run as `python benchmarks/NAME.py [--quick]` (this directory is then on `sys.path`), print one
table each, and are not timed assertions: a missed target is printed as ✗ with the figure beside it, and the
script still exits 0. Only a crash (or an unusable lab) exits non-zero.
"""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

if TYPE_CHECKING:
    from ingresslab import Lab

ROOT = Path(__file__).resolve().parent.parent
# The course's manifests: in the package (ingresslab/manifests, installed with it) or, in older trees, at the top.
MANIFESTS = next((d for d in (ROOT / "ingresslab" / "manifests", ROOT / "manifests") if (d / "cafe.yaml").exists()),
                 ROOT / "manifests")
VENV_BIN = Path(sys.executable).parent
OK, MISS = "✓", "✗"


# --- command line ---------------------------------------------------------------------------------------------

def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small run for CI (about 20 s or less)")
    p.add_argument("--tmp", default=None, help="where fresh lab homes are made (default: the system temp dir)")
    return p


# --- the machine ----------------------------------------------------------------------------------------------

def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return None


def nginx_binary() -> str:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin") or "nginx"


def _version(argv: list[str], pattern: str) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    found = re.search(pattern, proc.stdout + proc.stderr)
    return found.group(1) if found else "unknown"


def machine() -> dict[str, str]:
    ram = _ram_gib()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": f"{ram:.1f} GiB" if ram else "unknown",
        "kernel": f"{platform.system()} {platform.release()}",
        "nginx": _version([nginx_binary(), "-v"], r"nginx/(\S+)"),
        "wrk": _version(["wrk", "-v"], r"wrk (\S+)") if shutil.which("wrk") else "not installed",
        "python": platform.python_version(),
        "load average": " ".join(f"{x:.2f}" for x in load) if load else "unknown",
    }


def header(title: str, *, quick: bool) -> None:
    print(f"== {title}{'  (--quick)' if quick else ''} ==")
    for key, value in machine().items():
        print(f"  {key:13} {value}")
    print(flush=True)


# --- tables ---------------------------------------------------------------------------------------------------

def mark(ok: bool | None) -> str:
    return "" if ok is None else (OK if ok else MISS)


def table(columns: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None) -> None:
    """Print an aligned table (the first column left-aligned, the others right-aligned)."""
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]

    def line(row: list[str]) -> str:
        return "  ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(row)).rstrip()

    if title:
        print(title)
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
    print(flush=True)


@dataclass
class Verdict:
    """One figure against its target, for the summary lines every script ends with."""

    name: str
    figure: str
    target: str
    ok: bool | None     # None: no target applies in this mode

    def line(self) -> str:
        return f"  {mark(self.ok) or '·'} {self.name}: {self.figure}  (target {self.target})"


def summary(verdicts: Sequence[Verdict]) -> int:
    """Print the verdicts and say plainly which targets were missed; return the number missed."""
    print("Targets:")
    for v in verdicts:
        print(v.line())
    missed = [v for v in verdicts if v.ok is False]
    if missed:
        print(f"MISSED {len(missed)} target(s): " + "; ".join(f"{v.name} = {v.figure} (target {v.target})"
                                                            for v in missed))
    else:
        print("All targets met." if any(v.ok for v in verdicts) else "No target was checked in this mode.")
    sys.stdout.flush()
    return len(missed)


def ms(seconds: float | None, digits: int = 1) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.{digits}f} ms"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --- labs -----------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def fresh_home(tmp: str | None = None, prefix: str = "ingresslab-bench-") -> Iterator[Path]:
    """A new, empty lab home, removed afterwards (stop its lab before leaving the block)."""
    base = Path(tmp) if tmp else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def fresh_lab(tmp: str | None = None) -> Iterator[Lab]:
    """Start a lab in a fresh home; always stop it (lab.down()) and remove the home."""
    from ingresslab import Lab
    with fresh_home(tmp) as home:
        lab = None
        try:
            lab = Lab.up(home)
            yield lab
        finally:
            if lab is not None:
                lab.down()
            else:
                from ingresslab.lab import stop
                stop(home)


def hello_app(name: str, service: str) -> str:
    """YAML for a one-replica Deployment of the hello app and a Service `service` (port 80 → 8080) in front of it."""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: hello, image: "nginxdemos/nginx-hello:plain-text", ports: [{{containerPort: 8080}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: {service}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
"""


def host_ingress(name: str, host: str, service: str, *, annotations: dict[str, str] | None = None) -> str:
    """YAML for an Ingress of class nginx sending every path of `host` to port 80 of `service`."""
    pairs = ", ".join(f'{key}: "{value}"' for key, value in (annotations or {}).items())
    notes = f"\n  annotations: {{{pairs}}}" if pairs else ""
    return f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}{notes}
spec:
  ingressClassName: nginx
  rules:
  - host: {host}
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {service}, port: {{number: 80}}}}}}}}
"""


def node_ip(lab) -> str:
    ip = lab.status()["nodes"][0]["ip"]
    require_loopback(ip)
    return ip


def require_loopback(ip: str) -> None:
    if not ipaddress.ip_address(ip).is_loopback:
        raise SystemExit(f"refusing to benchmark a non-loopback address: {ip}")


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.01, what: str = "it"):
    """Poll `predicate` until it returns something truthy (returned), or raise TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            value = predicate()
            if value:
                return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


def pods_ready(lab, selector: str, count: int, namespace: str = "default") -> list:
    """The Running, Ready pods matching `selector`, once there are exactly `count` (else an empty list)."""
    import kubernetes
    pods = kubernetes.client.CoreV1Api(lab.api).list_namespaced_pod(namespace, label_selector=selector).items
    ready = [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
             and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    return ready if len(ready) == count and len(pods) == count else []


# --- a small HTTP/1.1 client ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    body: str

    @property
    def pod(self) -> str | None:
        """`Server name:` in the hello app's answer: the pod that answered."""
        found = re.search(r"^Server name: (\S+)", self.body, re.M)
        return found.group(1) if found else None


def get(ip: str, port: int, host: str, path: str = "/", *, timeout: float = 2.0, tls: bool = False) -> Answer:
    """One GET on a new connection (closed after the answer), Host header set: `curl --resolve` in a few lines.

    Cheaper than `ingresslab.trace.send`, which asks the API for the NodePort on every call; a benchmark polls."""
    require_loopback(ip)
    sock = socket.create_connection((ip, port), timeout=timeout)
    try:
        if tls:
            import ssl
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=host)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ingresslab-bench\r\n"
                     f"Connection: close\r\n\r\n".encode())
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    head, _, body = raw.partition("\r\n\r\n")
    try:
        status = int(head.split(" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return Answer(status, body)


def routed(ip: str, port: int, host: str, path: str = "/", *, pod_prefix: str, tls: bool = False) -> Answer | None:
    """The answer if `host`+`path` reaches a pod whose name starts with `pod_prefix`, else None."""
    try:
        answer = get(ip, port, host, path, tls=tls, timeout=1.0)
    except OSError:
        return None
    if answer.status == 200 and (answer.pod or "").startswith(pod_prefix):
        return answer
    return None


# --- the lab's processes, from /proc ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    role: str           # "lab", "kube-proxy", "pods", "controller", "nginx master", "nginx worker", "other"
    cmdline: str


def _read_proc(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    ppid = int(stat.rpartition(")")[2].split()[1])
    return ppid, cmdline


def lab_processes(home: Path, lab_pid: int | None = None) -> list[Proc]:
    """The lab process, kube-proxy's data plane, the Ingress and Gateway controllers, nginx masters and workers of this home: every process whose command line
    names the home, plus their descendants (nginx workers' titles do not name it)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _read_proc(int(entry.name))
            if found:
                table[int(entry.name)] = found
    marker = str(home)
    chosen = {pid for pid, (_, cmd) in table.items() if marker in cmd and pid != os.getpid()}
    if lab_pid:
        chosen.add(lab_pid)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in chosen and pid not in chosen:
                chosen.add(pid)
                grew = True
    out = []
    for pid in sorted(chosen):
        if pid not in table:
            continue
        ppid, cmd = table[pid]
        if pid == lab_pid or "ingresslab.labd" in cmd:
            role = "lab"
        elif "ingresslab.cluster.node.proxy.dataplane" in cmd:
            role = "kube-proxy"
        elif "ingresslab.cluster.node.containerd" in cmd:
            role = "pods"
        elif "ingresslab.ingress.controller" in cmd:
            role = "controller"
        elif "ingresslab.gateway.process" in cmd:
            role = "gateway controller"
        elif cmd.startswith("nginx: master"):
            role = "nginx master"
        elif cmd.startswith(("nginx: worker", "nginx: cache")):
            role = "nginx worker"
        else:
            role = "other"
        out.append(Proc(pid, ppid, role, cmd))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB from /proc; PSS shares shared pages fairly among the processes mapping them."""
    rss = pss = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def kubectl_binary() -> str | None:
    return shutil.which("kubectl", path=str(VENV_BIN)) or shutil.which("kubectl")


def read_json(path: Path) -> dict | None:
    import json
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
