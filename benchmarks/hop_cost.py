"""What each hop costs: requests/s and latency percentiles with `wrk`, through one, two, three and four hops,
beside the machine's own limits measured in the same rounds.

One hello pod behind a Service and two Ingresses (one with `nginx.ingress.kubernetes.io/service-upstream: "true"`).
wrk (keep-alive connections, `--latency`) drives, at 1 and at 16 connections:

    (a) pod           the pod's IP:8080 directly                             client → pod
    (b) nginx → pod   the controller pod's IP and http port (its status)   client → nginx → pod
    (c) NodePort      a node's IP and the controller Service's NodePort    client → kube-proxy → nginx → pod
    (d) + svc-upstr.  (c) with service-upstream: nginx → ClusterIP → pod   … → nginx → kube-proxy → pod

and two anchors (`_anchors.py`): a bare asyncio responder and nginx `return 200` with one worker, each in a process
of its own. Rounds are interleaved (every path and anchor once per round, the median kept), since a 2-core machine
is noisy; compare ratios more than absolute numbers. Ratios are of requests/s; Δp50 is the added median latency.

Targets: a pod ≥ 50 % of the bare responder at 16 connections and ≥ 70 % at 1; (b) ≥ 40 % and (c) ≥ 25 % of it at
16 connections; (c) adds ≤ 0.5 ms to (b)'s p50 and keeps ≥ 30 % of (b)'s requests/s.

    python benchmarks/hop_cost.py           # 3 rounds × 5 s per path and concurrency
    python benchmarks/hop_cost.py --quick   # 1 round × 1 s
    python benchmarks/hop_cost.py --profile # also sample the lab process with py-spy during (c) at 16 connections
"""
from __future__ import annotations

import dataclasses
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _common as c
import _anchors as anchors
import kubernetes
from ingresslab.cluster.node.network import bind_port

HOST, HOST_SU = "hop.bench", "hop-su.bench"
TARGET_ADDED_P50_S = 0.0005
TARGET_RPS_SHARE = 0.30
TARGET_OF_BARE = {("a", 16): 0.50, ("a", 1): 0.70, ("b", 16): 0.40, ("c", 16): 0.25}
CONNECTIONS = (1, 16)

MANIFEST = c.hello_app("hop", "hop-svc") + """---
# A second Service for the same pod: nginx keys upstreams by namespace-service-port, and the first Ingress to name
# an upstream decides its service-upstream setting (as in ingress-nginx), so (c) and (d) must not share one.
apiVersion: v1
kind: Service
metadata: {name: hop-su-svc}
spec:
  selector: {app: hop}
  ports: [{name: http, port: 80, targetPort: 8080}]
""" + "---" + c.host_ingress("hop", HOST, "hop-svc") + "---" + c.host_ingress(
    "hop-service-upstream", HOST_SU, "hop-su-svc", annotations={"nginx.ingress.kubernetes.io/service-upstream": "true"})


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    ip: str
    port: int
    host: str


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50: float          # seconds
    p99: float
    requests: int
    errors: int         # non-2xx/3xx answers plus socket errors
    lab_cpu: float = 0.0    # CPU seconds per request: the lab process (API, controllers) …
    pods_cpu: float = 0.0   # … the pods' process …
    proxy_cpu: float = 0.0  # … kube-proxy's data plane (its own process) …
    nginx_cpu: float = 0.0  # … nginx (master and workers) …
    wrk_cpu: float = 0.0    # … and the client


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not found:
        raise ValueError(f"cannot read wrk's time {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read `wrk --latency` output: Requests/sec, the 50 % and 99 % lines, request and error counts."""
    def grab(pattern: str) -> str:
        found = re.search(pattern, output, re.M)
        if not found:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
        return found.group(1)

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(rps=float(grab(r"^Requests/sec:\s+([\d.]+)")), p50=_seconds(grab(r"^\s+50%\s+(\S+)")),
                     p99=_seconds(grab(r"^\s+99%\s+(\S+)")), requests=int(grab(r"^\s+(\d+) requests in")),
                     errors=errors + (int(non2xx.group(1)) if non2xx else 0))


def run_wrk(target: Target, connections: int, seconds: int, *, home: Path | None = None,
            lab_pid: int | None = None) -> WrkResult:
    """One wrk run; with the lab's home and pid, also the CPU time each side spent per request (from /proc)."""
    c.require_loopback(target.ip)
    procs = c.lab_processes(home, lab_pid) if home else []
    lab_pids = [p.pid for p in procs if p.role == "lab"]
    pod_pids = [p.pid for p in procs if p.role == "pods"]
    pods_before = sum(c.cpu_seconds(p) for p in pod_pids)
    proxy_pids = [p.pid for p in procs if p.role == "kube-proxy"]
    nginx_pids = [p.pid for p in procs if p.role.startswith("nginx")]
    before = ([c.cpu_seconds(p) for p in lab_pids], [c.cpu_seconds(p) for p in nginx_pids],
              resource.getrusage(resource.RUSAGE_CHILDREN), [c.cpu_seconds(p) for p in proxy_pids])
    threads = min(connections, 2)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
            "-H", f"Host: {target.host}", f"http://{target.ip}:{target.port}/"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    result = parse_wrk(proc.stdout)
    if not procs or not result.requests:
        return result
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lab = sum(c.cpu_seconds(p) for p in lab_pids) - sum(before[0])
    nginx = sum(c.cpu_seconds(p) for p in nginx_pids) - sum(before[1])
    proxy = sum(c.cpu_seconds(p) for p in proxy_pids) - sum(before[3])
    pods = sum(c.cpu_seconds(p) for p in pod_pids) - pods_before
    client = (after.ru_utime + after.ru_stime) - (before[2].ru_utime + before[2].ru_stime)
    n = result.requests
    return dataclasses.replace(result, lab_cpu=lab / n, pods_cpu=pods / n, proxy_cpu=proxy / n, nginx_cpu=nginx / n, wrk_cpu=client / n)


def targets(lab) -> list[Target]:
    core = kubernetes.client.CoreV1Api(lab.api)
    pod = c.pods_ready(lab, "app=hop", 1)[0]
    controller = next(p for p in core.list_namespaced_pod(
        "ingress-nginx", label_selector="app.kubernetes.io/name=ingress-nginx").items if p.status.phase == "Running")
    listen = lab.ingress.status()["listen"]
    if listen["address"] != controller.status.pod_ip:
        raise SystemExit(f"the controller listens on {listen['address']}, its pod IP is {controller.status.pod_ip}")
    ip, nodeport = c.node_ip(lab), lab.ingress_node_ports()["http_nodeport"]
    cluster_ip = core.read_namespaced_service("hop-su-svc", "default").spec.cluster_ip
    wanted = {"default-hop-svc-80": [f"{pod.status.pod_ip}:8080"],
              "default-hop-su-svc-80": [f"{cluster_ip}:{bind_port(80)}"]}

    def upstreams() -> dict:
        return {b["name"]: b["endpoints"] for b in lab.ingress.backends()}
    try:   # the pod is Ready a moment before the controller has pushed its endpoint to nginx
        c.wait_until(lambda: all(upstreams().get(k) == v for k, v in wanted.items()), timeout=10,
                     what="nginx's upstreams")
    except TimeoutError:
        raise SystemExit(f"nginx's upstreams are not as this benchmark needs them: {upstreams()}") from None
    return [Target("a", "(a) pod", pod.status.pod_ip, 8080, HOST),
            Target("b", "(b) nginx → pod", controller.status.pod_ip, int(listen["http_port"]), HOST),
            Target("c", "(c) NodePort → nginx → pod", ip, nodeport, HOST),
            Target("d", "(d) (c) + service-upstream", ip, nodeport, HOST_SU)]


def profile_lab(lab, target: Target, seconds: int) -> str:
    """Sample the lab process with py-spy while wrk drives (c) at 16 connections; the top functions by own time."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(c.VENV_BIN))
    if spy is None:
        return "py-spy is not installed: no profile (pip install py-spy)"
    pid = lab.status()["pid"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.txt"
        spy_proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
                                     "--format", "raw", "--output", str(out), "--nonblocking"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            run_wrk(target, 16, seconds)
        finally:
            try:
                spy_proc.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
                spy_proc.wait()
        if not out.exists():
            return "py-spy produced no profile (ptrace not permitted?)"
        return summarize_raw_profile(out.read_text())


PROFILE_GROUPS = (   # a sample belongs to the first group any frame of its stack matches
    ("hello pod: its access log (format, write, flush)", re.compile(r"_log_request|PodLog|_escape|kubelet\.py")),
    ("hello pod: tornado HTTP server and handler", re.compile(r"cluster/node/images\.py|tornado/")),
    ("rest of the lab (API, store, controllers)", re.compile(r"ingresslab/(?!labd\.py)")),
    ("asyncio loop itself (select, scheduling)", re.compile(r".")),
)


def summarize_raw_profile(text: str, top: int = 12) -> str:
    """py-spy's raw (collapsed) stacks → the share of samples per part of the lab, and the busiest leaf functions."""
    own: dict[str, int] = {}
    groups: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        leaf = stack.split(";")[-1]
        own[leaf] = own.get(leaf, 0) + n
        group = next((name for name, pattern in PROFILE_GROUPS if pattern.search(stack)), "other")
        groups[group] = groups.get(group, 0) + n
    if not total:
        return "py-spy recorded no samples"
    lines = [f"{total} samples of the lab process (busy samples only). By part:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in sorted(groups.items(), key=lambda kv: -kv[1])]
    lines.append("Busiest functions (own time):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = c.parser(__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="sample the lab process with py-spy during (c)")
    args = parser.parse_args(argv)
    c.header("hop_cost: wrk through pod / nginx / NodePort / service-upstream", quick=args.quick)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): nothing measured.")
        return 1
    rounds, seconds = (1, 1) if args.quick else (3, 5)
    profile = None
    with c.fresh_lab(args.tmp) as lab, anchors.bare_responder() as bare, anchors.nginx_return_200() as plain:
        lab.apply(MANIFEST)
        c.wait_until(lambda: c.pods_ready(lab, "app=hop", 1), timeout=30, what="the hop pod")
        paths = targets(lab)
        limits = [Target("bare", "bare asyncio responder", bare[0], bare[1], HOST),
                  Target("n200", "nginx return 200, 1 worker", plain[0], plain[1], HOST)]
        for t in paths:
            c.wait_until(lambda t=t: c.routed(t.ip, t.port, t.host, pod_prefix="hop-"), timeout=30,
                         what=f"{t.label} to answer")
        results: dict[tuple[str, int], list[WrkResult]] = {}
        lab_pid = lab.status()["pid"]
        for r in range(rounds):
            for conns in CONNECTIONS:
                for t in limits + paths:
                    if not args.quick:
                        run_wrk(t, conns, 1)   # warm-up: connections, keep-alive pools, caches
                    results.setdefault((t.key, conns), []).append(
                        run_wrk(t, conns, seconds, home=lab.home, lab_pid=lab_pid))
            print(f"  round {r + 1}/{rounds} done", flush=True)
        if args.profile:
            profile = profile_lab(lab, paths[2], 10 if not args.quick else 3)

    def pick(key: str, conns: int) -> WrkResult:
        runs = results[(key, conns)]
        rps = statistics.median(x.rps for x in runs)

        def med(field) -> float:
            return statistics.median(field(x) for x in runs)

        return WrkResult(rps, med(lambda x: x.p50), med(lambda x: x.p99), sum(x.requests for x in runs),
                         sum(x.errors for x in runs), med(lambda x: x.lab_cpu), med(lambda x: x.pods_cpu),
                         med(lambda x: x.proxy_cpu),
                         med(lambda x: x.nginx_cpu),
                         med(lambda x: x.wrk_cpu))

    rows, verdicts = [], []
    for conns in CONNECTIONS:
        a, b = pick("a", conns), pick("b", conns)
        bare_rps, n200_rps = pick("bare", conns).rps, pick("n200", conns).rps
        for t in limits + paths:
            x = pick(t.key, conns)
            mine = t in paths
            rows.append([t.label, conns, f"{x.rps:,.0f}", c.ms(x.p50, 2), c.ms(x.p99, 2), x.errors,
                         f"{x.rps / bare_rps:.2f}", f"{x.rps / n200_rps:.2f}",
                         f"{x.rps / a.rps:.2f}" if mine else "", f"{x.rps / b.rps:.2f}" if mine and t.key != "a" else "",
                         f"{(x.p50 - b.p50) * 1000:+.2f} ms" if t.key in ("c", "d") else "",
                         f"{x.pods_cpu * 1e6:.0f}" if mine else "", f"{x.lab_cpu * 1e6:.1f}" if mine else "",
                         f"{x.proxy_cpu * 1e6:.0f}" if mine else "", f"{x.nginx_cpu * 1e6:.0f}" if mine else "",
                         f"{x.wrk_cpu * 1e6:.0f}"])
        for (key, at), share in TARGET_OF_BARE.items():
            if at == conns:
                got = pick(key, conns).rps / bare_rps
                label = next(t.label for t in paths if t.key == key)
                verdicts.append(c.Verdict(f"{label}, requests/s ÷ the bare responder's, {conns} connection(s)",
                                          f"{got:.0%}", f"≥ {share:.0%}", got >= share))
        if conns == 1:
            added = pick("c", conns).p50 - b.p50
            verdicts.append(c.Verdict("(c) adds to (b)'s p50 at 1 connection (the hop itself)",
                                      f"{added * 1000:+.2f} ms", "none", None))
        if conns == 16:
            cc = pick("c", conns)
            added, share = cc.p50 - b.p50, cc.rps / b.rps
            verdicts.append(c.Verdict("(c) adds to (b)'s p50 at 16 connections", f"{added * 1000:+.2f} ms",
                                      f"≤ +{TARGET_ADDED_P50_S * 1000:.1f} ms", added <= TARGET_ADDED_P50_S))
            verdicts.append(c.Verdict("(c) requests/s as a share of (b)'s at 16 connections", f"{share:.0%}",
                                      f"≥ {TARGET_RPS_SHARE:.0%}", share >= TARGET_RPS_SHARE))
    c.table(["path", "conns", "req/s", "p50", "p99", "errors", "÷bare", "÷nginx200", "÷(a)", "÷(b)", "Δp50 vs (b)",
             "pods µs/req", "API µs/req", "kube-proxy µs/req", "nginx µs/req", "wrk µs/req"], rows,
            title=f"wrk, keep-alive, {rounds} round(s) × {seconds} s per row (median of rounds); ÷ = requests/s "
                  "ratio (bare = the bare asyncio responder, nginx200 = nginx `return 200`);\nµs/req = CPU time "
                  "per request from /proc (pods = the pods' process; API = the lab process: API server and "
                  "controllers, which receive the pods' log lines; kube-proxy = its data plane)")
    b16, c16 = pick("b", 16), pick("c", 16)
    print(f"Where (c)'s extra time goes at 16 connections: kube-proxy's forwarder spends "
          f"{c16.proxy_cpu * 1e6:.0f} µs of CPU per request in its own process; nginx {c16.nginx_cpu * 1e6:.0f} µs; "
          f"the pod {c16.pods_cpu * 1e6:.0f} µs; the API process {c16.lab_cpu * 1e6:.1f} µs (the pod's log line)."
          f"\n")
    if profile:
        print(profile)
        print()
    c.summary(verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
