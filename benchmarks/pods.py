"""Pods under load and the API beside them: `kubectl get pods` while a pod serves at full speed, and memory.

A real node's pods do not share kube-apiserver's event loop; the lab's run in their own process (`containerd.py`).
This script checks what that buys, in one run:

1. the cafe example, and one hello pod (`load`) that wrk drives at 16 connections, keep-alive;
2. `kubectl get pods` (the real binary, a fresh process each time) and a raw `GET /api/v1/.../pods` through the
   `kubernetes` client's connection pool, each timed repeatedly when idle and then under that load: p50 and ratio;
3. memory (RSS and PSS of every lab process) with the cafe example, and again with 20 hello pods.

Targets: `kubectl get pods` p50 under load ≤ 2 × idle; RSS ≤ 250 MB with the cafe, ≤ 400 MB with 20 hello pods.

    python benchmarks/pods.py           # 25 timings each, 20 pods
    python benchmarks/pods.py --quick   # 6 timings each, 20 pods
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

import _common as c
import kubernetes

TARGET_API_RATIO = 2.0
TARGET_RSS_CAFE_MB, TARGET_RSS_20_MB = 250.0, 400.0
LOAD = c.hello_app("load", "load-svc")


def time_kubectl(kubeconfig: str, n: int) -> list[float]:
    kubectl = c.kubectl_binary()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "pods", "-A"], check=True,
                       capture_output=True, timeout=30)
        out.append(time.perf_counter() - t0)
    return out


def time_api(core: kubernetes.client.CoreV1Api, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        core.list_pod_for_all_namespaces(_preload_content=False).read()
        out.append(time.perf_counter() - t0)
    return out


def memory(lab) -> tuple[float, float, dict[str, float]]:
    rss = pss = 0
    by_role: dict[str, float] = {}
    for p in c.lab_processes(lab.home, lab.status().get("pid")):
        r, s = c.memory_kib(p.pid)
        rss, pss = rss + r, pss + s
        by_role[p.role] = by_role.get(p.role, 0) + r * 1024 / 1e6
    return rss * 1024 / 1e6, pss * 1024 / 1e6, by_role


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("pods: the API beside a loaded pod, and memory", quick=args.quick)
    if shutil.which("wrk") is None or c.kubectl_binary() is None:
        print("wrk and kubectl are needed (./lab test installs both): nothing measured.")
        return 1
    n = 6 if args.quick else 25
    with c.fresh_lab(args.tmp) as lab:
        lab.apply((c.MANIFESTS / "cafe.yaml").read_text())
        lab.apply(LOAD)
        pod = c.wait_until(lambda: c.pods_ready(lab, "app=load", 1), timeout=30, what="the load pod")[0]
        c.wait_until(lambda: c.pods_ready(lab, "app=coffee", 2) and c.pods_ready(lab, "app=tea", 3), timeout=30,
                     what="the cafe's pods")
        kubeconfig = str(lab.home / "kubeconfig")
        core = kubernetes.client.CoreV1Api(lab.api)
        time_kubectl(kubeconfig, 2), time_api(core, 5)            # warm: caches, connections
        idle_k, idle_a = time_kubectl(kubeconfig, n), time_api(core, n * 4)
        c.require_loopback(pod.status.pod_ip)
        seconds = 15 if not args.quick else 6        # longer than the timings take; wrk prints only when done
        wrk = subprocess.Popen(["wrk", "-t2", "-c16", f"-d{seconds}s", f"http://{pod.status.pod_ip}:8080/"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1)
            t0 = time.monotonic()
            load_k, load_a = time_kubectl(kubeconfig, n), time_api(core, n * 4)
            if time.monotonic() - t0 > seconds - 1:
                print("  (the timings outlasted wrk's run: their last part was not under load)")
            output = wrk.communicate(timeout=seconds + 30)[0]
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        rps = next((line.split()[1] for line in output.splitlines() if line.startswith("Requests/sec")), "?")
        rss_cafe, pss_cafe, roles_cafe = memory(lab)
        lab.apply(c.hello_app("twenty", "twenty-svc").replace("replicas: 1", "replicas: 20"))
        c.wait_until(lambda: c.pods_ready(lab, "app=twenty", 20), timeout=60, what="20 hello pods")
        rss_20, pss_20, roles_20 = memory(lab)

    def p50(values: list[float]) -> float:
        return statistics.median(values)

    c.table(["request", "idle p50", "under load p50", "ratio", "timings"],
            [["kubectl get pods -A (a new process)", c.ms(p50(idle_k)), c.ms(p50(load_k)),
              f"{p50(load_k) / p50(idle_k):.2f}×", n],
             ["GET /api/v1/pods (kept-alive client)", c.ms(p50(idle_a), 2), c.ms(p50(load_a), 2),
              f"{p50(load_a) / p50(idle_a):.2f}×", n * 4]],
            title=f"The API while wrk drives one hello pod at 16 connections ({rps} requests/s meanwhile)")
    roles = sorted(set(roles_cafe) | set(roles_20))
    c.table(["process", "RSS, cafe", "RSS, + 20 hello pods"],
            [[r, f"{roles_cafe.get(r, 0):.1f} MB", f"{roles_20.get(r, 0):.1f} MB"] for r in roles]
            + [["total (PSS)", f"{rss_cafe:.0f} MB ({pss_cafe:.0f})", f"{rss_20:.0f} MB ({pss_20:.0f})"]],
            title="Memory of every lab process")
    ratio = p50(load_k) / p50(idle_k)
    c.summary([c.Verdict("kubectl get pods p50, under load ÷ idle", f"{ratio:.2f}×", f"≤ {TARGET_API_RATIO:.0f}×",
                         ratio <= TARGET_API_RATIO),
               c.Verdict("RSS of the lab's processes with the cafe", f"{rss_cafe:.0f} MB",
                         f"≤ {TARGET_RSS_CAFE_MB:.0f} MB", rss_cafe <= TARGET_RSS_CAFE_MB),
               c.Verdict("RSS with 20 more hello pods", f"{rss_20:.0f} MB", f"≤ {TARGET_RSS_20_MB:.0f} MB",
                         rss_20 <= TARGET_RSS_20_MB)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
