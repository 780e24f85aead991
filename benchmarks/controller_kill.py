"""The controller pod's process SIGKILLed under load: how many requests through the Ingress fail.

The lab runs the cafe (manifests/cafe.yaml, an Ingress for cafe.example.com → coffee-svc). Four clients ask for
`/coffee` through a node's NodePort (new connection per request) as fast as they can for the whole run; after a
second, the controller pod's process (`python -m ingresslab.ingress.controller`) gets SIGKILL, which the lab
restarts after its back-off. nginx, a process of its own, keeps serving its last config and endpoints meanwhile,
and the new controller adopts it. Printed: requests and failures before, during (kill → the new controller's
first sync) and after, the time the controller was away, and whether nginx's master is the same one.

Target (issue 13): 0 failed requests. Rounds: 3 (--quick: 1).

    python benchmarks/controller_kill.py
    python benchmarks/controller_kill.py --quick
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

import _common as c

CAFE = "cafe.example.com"


def role_pids(lab, role: str) -> list[int]:
    return [p.pid for p in c.lab_processes(lab.home) if p.role == role]


def one_round(lab, entry) -> dict:
    results: list[tuple[float, bool]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            ok = c.routed(*entry, CAFE, "/coffee", pod_prefix="coffee-") is not None
            results.append((time.monotonic(), ok))

    (controller,) = role_pids(lab, "controller")
    (master,) = role_pids(lab, "nginx master")
    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    killed, killed_wall = time.monotonic(), time.time()
    os.kill(controller, signal.SIGKILL)
    c.wait_until(lambda: role_pids(lab, "controller") not in ([], [controller]), timeout=60, interval=0.02,
                 what="the controller process started again")
    c.wait_until(lambda: (lab.ingress.status().get("last_sync") or {}).get("at", 0) >= killed_wall, timeout=60,
                 interval=0.02, what="the new controller's first sync")
    back = time.monotonic()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    return {"before": [ok for at, ok in results if at < killed], "during": [ok for at, ok in results
                                                                             if killed <= at < back],
            "after": [ok for at, ok in results if at >= back], "away": back - killed,
            "same_master": role_pids(lab, "nginx master") == [master]}


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("controller_kill: SIGKILL the controller pod's process under load", quick=args.quick)
    rounds = 1 if args.quick else 3
    rows, failed_total = [], 0
    with c.fresh_lab(args.tmp) as lab:
        lab.apply(c.MANIFESTS / "cafe.yaml")
        lab.apply(c.host_ingress("cafe-ingress", CAFE, "coffee-svc"))
        c.wait_until(lambda: c.pods_ready(lab, "app=coffee", 2), timeout=60, what="the coffee pods")
        entry = c.node_ip(lab), lab.ingress_node_ports()["http_nodeport"]
        c.wait_until(lambda: c.routed(*entry, CAFE, "/coffee", pod_prefix="coffee-"), timeout=30, what="the cafe")
        for i in range(rounds):
            r = one_round(lab, entry)
            failed = sum(not ok for phase in ("before", "during", "after") for ok in r[phase])
            failed_total += failed
            rows.append([f"round {i + 1}", *(f"{len(r[p])} / {sum(not ok for ok in r[p])}"
                                             for p in ("before", "during", "after")),
                         c.ms(r["away"], 0), "yes" if r["same_master"] else "no"])
    c.table(["", "before (req / failed)", "during", "after", "controller away", "same nginx master"], rows,
            title="4 clients through the NodePort; 'during' = SIGKILL → the new controller's first sync")
    c.summary([c.Verdict("failed requests around a controller SIGKILL", f"{failed_total} in {rounds} round(s)",
                         "0", failed_total == 0)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
