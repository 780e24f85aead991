"""From `ingresslab up` in a fresh home to the cafe example routed, and the memory the running lab then holds.

Each trial makes a new home and runs the `ingresslab up` command (a fresh process, as a learner would), then
applies the cafe example (manifests/cafe-secret.yaml, cafe.yaml, cafe-ingress-v1.yaml) through the kubernetes
client, and polls `https://cafe.example.com/tea` and `/coffee` through a node's IP and the controller's https
NodePort until a tea pod and a coffee pod answer 200. After 100 more requests per path (20 with --quick) it sums
the resident memory (RSS, from /proc) of every process of the lab: the lab process (API, controllers), the pods'
process, kube-proxy's data plane, the Ingress controller, nginx's master and workers, and the Gateway controller
when it runs (it starts with the first Gateway: the cafe has none), found by the home's path in their command
lines (workers as their children). PSS (shared pages split fairly between processes) is shown beside it.

Targets: up → cafe routed ≤ 3 s (median of the trials); RSS ≤ 250 MB (10^6 bytes).

    python benchmarks/footprint.py           # 3 trials
    python benchmarks/footprint.py --quick   # 1 trial
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

import _common as c

TARGET_ROUTED_S = 3.0
TARGET_RSS_MB = 250.0
APPLY = ("cafe-secret.yaml", "cafe.yaml", "cafe-ingress-v1.yaml")


def ingresslab_command() -> list[str]:
    return [sys.executable, "-m", "ingresslab.cli"]


def trial(tmp: str | None, *, measure_memory: bool, requests: int) -> tuple[dict, list[tuple[str, int, int, int]]]:
    from ingresslab import Lab
    from ingresslab.lab import stop
    with c.fresh_home(tmp) as home:
        lab = None
        try:
            t0, wall0 = time.perf_counter(), time.time()
            proc = subprocess.run([*ingresslab_command(), "up", "--home", str(home)], capture_output=True, text=True,
                                  timeout=120)
            t_up = time.perf_counter()
            if proc.returncode != 0:
                raise SystemExit(f"ingresslab up failed ({proc.returncode}):\n{proc.stderr}")
            lab = Lab.up(home)     # the running lab (no new process)
            for name in APPLY:
                lab.apply(c.MANIFESTS / name)
            t_applied = time.perf_counter()
            ip, port = c.node_ip(lab), lab.ingress_node_ports()["https_nodeport"]
            got = {}

            def both_routed():
                for path, prefix in (("/tea", "tea-"), ("/coffee", "coffee-")):
                    if path not in got and c.routed(ip, port, "cafe.example.com", path, pod_prefix=prefix, tls=True):
                        got[path] = time.perf_counter()
                return len(got) == 2
            c.wait_until(both_routed, timeout=60, interval=0.005, what="the cafe example to be routed")
            t_routed = time.perf_counter()
            state = c.read_json(home / "state.json") or {}
            history = lab.ingress.status().get("history") or []
            times = {"up": t_up - t0, "apply": t_applied - t_up, "routed": t_routed - t0,
                     "timeline": [("lab process started", state.get("started", wall0) - wall0),
                                  ("lab ready (API + controller's nginx serving)",
                                   state.get("started", wall0) - wall0 + (state.get("ready_after") or 0)),
                                  ("`ingresslab up` returned", t_up - t0), ("cafe applied", t_applied - t0)]
                     + [(f"nginx {e['action']}: {e['reason'][:70]}", e["at"] - wall0) for e in history]
                     + [(f"{path} answered", at - t0) for path, at in sorted(got.items(), key=lambda kv: kv[1])]}
            memory = []
            if measure_memory:
                for _ in range(requests):
                    for path in ("/tea", "/coffee"):
                        c.get(ip, port, "cafe.example.com", path, tls=True)
                for p in c.lab_processes(home, lab.status().get("pid")):
                    rss, pss = c.memory_kib(p.pid)
                    memory.append((p.role, p.pid, rss, pss))
            return times, memory
        finally:
            if lab is not None:
                lab.down()
            else:
                stop(home)


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("footprint: ingresslab up → cafe routed, and resident memory", quick=args.quick)
    trials = 1 if args.quick else 3
    results, memory = [], []
    for i in range(trials):
        times, mem = trial(args.tmp, measure_memory=(i == trials - 1), requests=20 if args.quick else 100)
        results.append(times)
        memory = mem or memory
        print(f"  trial {i + 1}: up {times['up']:.2f} s, apply {times['apply']:.2f} s, routed {times['routed']:.2f} s",
              flush=True)
    print()
    rows = [[f"trial {i + 1}", f"{r['up']:.2f} s", f"{r['apply']:.2f} s", f"{r['routed'] - r['up'] - r['apply']:.2f} s",
             f"{r['routed']:.2f} s"] for i, r in enumerate(results)]
    c.table(["", "ingresslab up", "apply cafe", "until routed", "up → routed"], rows,
            title="`ingresslab up` = a fresh process until the lab says ready (API and Ingress controller up)")
    timeline = sorted(results[-1]["timeline"], key=lambda kv: kv[1])
    c.table(["event (last trial)", "at"], [[what, f"+{at:.2f} s"] for what, at in timeline],
            title="Where the time goes, from the moment `ingresslab up` was started")
    by_role: dict[str, list[int]] = {}
    for role, _pid, rss, pss in memory:
        entry = by_role.setdefault(role, [0, 0, 0])
        entry[0] += 1
        entry[1] += rss
        entry[2] += pss
    def mb(kib: int) -> float:
        return kib * 1024 / 1e6

    rows = [[role, n, f"{mb(rss):.1f} MB", f"{mb(pss):.1f} MB"] for role, (n, rss, pss) in sorted(by_role.items())]
    total_rss = sum(m[2] for m in memory)
    total_pss = sum(m[3] for m in memory)
    rows.append(["total", len(memory), f"{mb(total_rss):.1f} MB", f"{mb(total_pss):.1f} MB"])
    served = 2 * (20 if args.quick else 100)
    c.table(["process", "count", "RSS", "PSS"], rows,
            title=f"Memory with the cafe example running (after {served} requests)")
    routed = statistics.median(r["routed"] for r in results)
    c.summary([c.Verdict("ingresslab up → cafe routed (median)", f"{routed:.2f} s", f"≤ {TARGET_ROUTED_S:.0f} s",
                         routed <= TARGET_ROUTED_S),
               c.Verdict("resident memory, sum of RSS", f"{mb(total_rss):.0f} MB", f"≤ {TARGET_RSS_MB:.0f} MB",
                         mb(total_rss) <= TARGET_RSS_MB)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
