"""From scaling a Deployment up to the new pod answering through the Ingress — and whether nginx reloaded.

The lab runs one Deployment (`scale`, the hello app), its Service and an Ingress (host `scale.bench`). Each trial
scales the Deployment up by one replica (the official client's `patch_namespaced_deployment_scale`) and polls
`GET /` through a node's IP and the controller's http NodePort (new connection each time, every 2 ms) until a pod
that did not exist before the scale answers. The Lua balancer picks endpoints round robin, so the new pod is hit
within (replicas) requests of its arrival in nginx.

The path the change travels: Deployment → ReplicaSet → Pod (scheduled, started, Ready) → EndpointSlice →
the controller's watch → POST to the Lua balancer (no reload). nginx's reload count is read before and after.

Targets: p50 ≤ 300 ms; 0 reloads.

    python benchmarks/endpoints_to_routed.py           # 20 trials (1 → 21 replicas)
    python benchmarks/endpoints_to_routed.py --quick   # 5 trials
"""
from __future__ import annotations

import sys
import time

import _common as c
import kubernetes

TARGET_P50_S = 0.300
POLL_EVERY_S = 0.002
TRIAL_TIMEOUT_S = 15.0
HOST = "scale.bench"

MANIFEST = c.hello_app("scale", "scale-svc") + "---" + c.host_ingress("scale", HOST, "scale-svc")


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("endpoints_to_routed: scale up → the new pod answers via the Ingress", quick=args.quick)
    trials = 5 if args.quick else 20
    with c.fresh_lab(args.tmp) as lab:
        lab.apply(MANIFEST)
        core, apps = kubernetes.client.CoreV1Api(lab.api), kubernetes.client.AppsV1Api(lab.api)
        c.wait_until(lambda: c.pods_ready(lab, "app=scale", 1), timeout=30, what="the first pod")
        ip, port = c.node_ip(lab), lab.ingress_node_ports()["http_nodeport"]
        c.wait_until(lambda: c.routed(ip, port, HOST, pod_prefix="scale-"), timeout=30, what=f"{HOST} routed")
        time.sleep(0.3)     # let the first reload settle: the count below must see only what scaling causes
        status = lab.ingress.status()
        reloads_before, updates_before = status.get("reloads", 0), status.get("endpoint_updates", 0)
        times, polls = [], []
        for i in range(trials):
            replicas = i + 2
            before = {p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=scale").items}
            attempts = 0
            t0 = time.perf_counter()
            apps.patch_namespaced_deployment_scale("scale", "default", {"spec": {"replicas": replicas}})
            deadline = t0 + TRIAL_TIMEOUT_S
            while True:
                answer = c.routed(ip, port, HOST, pod_prefix="scale-")
                attempts += 1
                if answer is not None and answer.pod not in before:
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(f"trial {i}: no new pod answered within {TRIAL_TIMEOUT_S:.0f} s")
                time.sleep(POLL_EVERY_S)
            times.append(time.perf_counter() - t0)
            polls.append(attempts)
            c.wait_until(lambda n=replicas: c.pods_ready(lab, "app=scale", n), timeout=TRIAL_TIMEOUT_S,
                         what=f"{replicas} ready pods")
        time.sleep(0.2)
        status = lab.ingress.status()
        reloads = status.get("reloads", 0) - reloads_before
        updates = status.get("endpoint_updates", 0) - updates_before

    c.table(["phase", "n", "p50", "p95", "min", "max"],
            [["scale up → new pod answers", len(times), c.ms(c.percentile(times, 50)), c.ms(c.percentile(times, 95)),
              c.ms(min(times)), c.ms(max(times))]],
            title=f"{trials} trials (1 → {trials + 1} replicas); probes per trial p50 {c.percentile(polls, 50)}; "
                  f"endpoint pushes to the Lua balancer: {updates}; nginx reloads: {reloads}")
    p50 = c.percentile(times, 50)
    c.summary([c.Verdict("scale up → new pod answers p50", c.ms(p50), f"≤ {TARGET_P50_S * 1000:.0f} ms",
                         p50 <= TARGET_P50_S),
               c.Verdict("nginx reloads while scaling", str(reloads), "0", reloads == 0)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
