"""From creating an Ingress through the API to the first right answer through the NodePort.

The lab runs the cafe apps (manifests/cafe.yaml). Each trial creates a new Ingress (host `tN.apply.bench`, path
`/` → tea-svc:80) with the official kubernetes client, then polls `GET /` with that Host header at a node's IP
and the controller's http NodePort (new connection each time, every 2 ms) until a tea pod answers 200. The clock
starts just before the create call. The Ingress is then deleted and the script waits until the host is unrouted
(404) again, so every trial starts from the same state.

Beside the end-to-end time it shows where it goes: the API create call, and the controller's own sync (translate,
render, `nginx -t`, reload) as its status file reports it.

Target: p50 ≤ 300 ms.

    python benchmarks/apply_to_routed.py           # 50 trials
    python benchmarks/apply_to_routed.py --quick   # 10 trials
"""
from __future__ import annotations

import sys
import time

import _common as c
import kubernetes

TARGET_P50_S = 0.300
POLL_EVERY_S = 0.002
TRIAL_TIMEOUT_S = 15.0


def ingress(name: str, host: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "tea-svc", "port": {"number": 80}}}}]}}]}}


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("apply_to_routed: create an Ingress → first right answer via the NodePort", quick=args.quick)
    trials = 10 if args.quick else 50
    with c.fresh_lab(args.tmp) as lab:
        lab.apply(c.MANIFESTS / "cafe.yaml")
        c.wait_until(lambda: c.pods_ready(lab, "app=tea", 3) and c.pods_ready(lab, "app=coffee", 2),
                     timeout=30, what="the cafe pods")
        ip, port = c.node_ip(lab), lab.ingress_node_ports()["http_nodeport"]
        net = kubernetes.client.NetworkingV1Api(lab.api)
        reloads_before = lab.ingress.reloads
        totals, creates, syncs, polls = [], [], [], []
        for i in range(trials):
            name, host = f"bench-{i}", f"t{i}.apply.bench"
            if c.routed(ip, port, host, pod_prefix="tea-"):
                raise SystemExit(f"{host} answers before its Ingress exists")
            attempts = 0
            t0 = time.perf_counter()
            net.create_namespaced_ingress("default", ingress(name, host))
            created = time.perf_counter()
            deadline = t0 + TRIAL_TIMEOUT_S
            while c.routed(ip, port, host, pod_prefix="tea-") is None:
                attempts += 1
                if time.perf_counter() > deadline:
                    raise SystemExit(f"trial {i}: {host} was not routed within {TRIAL_TIMEOUT_S:.0f} s")
                time.sleep(POLL_EVERY_S)
            done = time.perf_counter()
            totals.append(done - t0)
            creates.append(created - t0)
            polls.append(attempts + 1)
            last = lab.ingress.status().get("last_sync") or {}
            if last.get("action") in ("reloaded", "started"):
                syncs.append(float(last.get("seconds") or 0))
            net.delete_namespaced_ingress(name, "default")
            c.wait_until(lambda host=host: c.get(ip, port, host).status == 404, timeout=TRIAL_TIMEOUT_S,
                         what=f"{host} to be unrouted")
            time.sleep(0.05)    # let the delete's reload finish before the next trial
        reloads = lab.ingress.reloads - reloads_before

    rows = []
    for label, values in (("create → routed (end to end)", totals), ("  API create call", creates),
                          ("  controller sync incl. reload", syncs)):
        if values:
            rows.append([label, len(values), c.ms(c.percentile(values, 50)), c.ms(c.percentile(values, 95)),
                         c.ms(min(values)), c.ms(max(values))])
    c.table(["phase", "n", "p50", "p95", "min", "max"], rows,
            title=f"{trials} trials; probes per trial p50 {c.percentile(polls, 50)}; "
                  f"nginx reloads during the run: {reloads} (each create and each delete reloads)")
    p50 = c.percentile(totals, 50)
    c.summary([c.Verdict("create → routed p50", c.ms(p50), f"≤ {TARGET_P50_S * 1000:.0f} ms", p50 <= TARGET_P50_S),
               c.Verdict("create → routed p95", c.ms(c.percentile(totals, 95)), "none", None)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
