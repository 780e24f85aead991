"""10,000 Ingresses: created → all served, `down` → `up` → served again, then their namespace deleted under load.

One lab with the cafe (manifests/cafe.yaml; an Ingress for cafe.example.com → coffee-svc) in `default` and, in namespace `scale`, one hello
Deployment and Service and N Ingresses (host `hI.scale.bench`, `/` → hello), created with the official client
from 8 threads. Phases, each timed from the outside through a node's NodePort (new connection per request):

  1. create → served: from the last create until the last host answers; then a sweep asks every host once.
  2. down → up: `Lab.down()`, then `Lab.up(home)`; until the cafe answers (`/coffee` from a coffee pod), then
     until a sweep finds every host served. `ingresslab conf` (the nginx.conf the controller reports) must be what
     nginx runs: its checksum line equals the checksum nginx's workers answer with on the control socket.
  3. namespace delete: `kubectl delete namespace scale` (the real kubectl; it returns when the namespace is
     gone) while two clients ask the cafe for `/coffee` 50 times a second each; the delete's time, the cafe's
     p99 and failures during it.

Targets (issue 13): served ≤ 60 s after the last create; after `up`, the cafe answering ≤ 15 s and every host
served; conf = what nginx runs; the namespace delete ≤ 10 s with the cafe's p99 ≤ 100 ms during it.

    python benchmarks/scale.py            # 10,000 Ingresses
    python benchmarks/scale.py --quick    # 300
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common as c
import kubernetes

from ingresslab.ingress.nginx_os import UnixHTTPConnection

NS = "scale"
CAFE = "cafe.example.com"
TARGET_SERVED_S = 60.0
TARGET_UP_S = 15.0
TARGET_DELETE_S = 10.0
TARGET_P99_S = 0.100


def ingress(i: int) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": f"h{i}"},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": f"h{i}.scale.bench", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}}


def create_all(lab, n: int) -> float:
    """Create the N Ingresses from 8 threads (one client each); returns when the last create was answered."""
    local = threading.local()

    def create(i: int) -> None:
        if not hasattr(local, "net"):
            local.net = kubernetes.client.NetworkingV1Api(lab.api)
        local.net.create_namespaced_ingress(NS, ingress(i), _preload_content=False).release_conn()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(n)))
    return time.monotonic()


def unserved(entry, n: int) -> list[int]:
    """Hosts not answered by a hello pod, asked once each from 8 threads."""
    def bad(i: int) -> bool:
        return c.routed(*entry, f"h{i}.scale.bench", pod_prefix="hello-") is None
    with ThreadPoolExecutor(8) as pool:
        return [i for i, b in zip(range(n), pool.map(bad, range(n))) if b]


def entry_of(lab) -> tuple[str, int]:
    return c.node_ip(lab), lab.ingress_node_ports()["http_nodeport"]


def conf_is_what_nginx_runs(lab) -> tuple[bool, str]:
    """`ingresslab conf`'s checksum line against the checksum nginx's workers answer with on the control socket."""
    text = lab.ingress.conf()
    written = re.search(r"^# Configuration checksum: (\S+)$", text, re.M)
    socket_path = re.search(r'listen "unix:([^"]+)";', text)
    if not written or not socket_path:
        return False, "no checksum line or control socket in the conf"
    connection = UnixHTTPConnection(socket_path.group(1), timeout=5)
    try:
        connection.request("GET", "/configuration/checksum")
        running = connection.getresponse().read().decode().strip()
    finally:
        connection.close()
    return running == written.group(1), f"conf {written.group(1)[:12]}…, nginx {running[:12]}…"


def cafe_answers(entry) -> bool:
    return c.routed(*entry, CAFE, "/coffee", pod_prefix="coffee-") is not None


class Probe:
    """Two clients asking the cafe for /coffee, 50 times a second each, until stopped: latencies and failures."""

    def __init__(self, entry):
        self.entry, self.latencies, self.starts, self.failures = entry, [], [], 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            ok = cafe_answers(self.entry)
            self.latencies.append(time.monotonic() - started)
            self.starts.append(started)
            self.failures += not ok
            self._stop.wait(max(0.0, 0.02 - (time.monotonic() - started)))

    def __enter__(self) -> "Probe":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    n = 300 if args.quick else 10_000
    c.header(f"scale: {n:,} Ingresses created, served, carried across down/up, deleted with their namespace",
             quick=args.quick)
    from ingresslab import Lab
    rows, verdicts = [], []
    with c.fresh_home(args.tmp) as home:
        lab = Lab.up(home, progress=lambda _: None)
        try:
            lab.apply(c.MANIFESTS / "cafe.yaml")
            lab.apply(c.host_ingress("cafe-ingress", CAFE, "coffee-svc"))
            kubernetes.client.CoreV1Api(lab.api).create_namespace({"metadata": {"name": NS}})
            lab.apply(c.hello_app("hello", "hello"), namespace=NS)
            c.wait_until(lambda: c.pods_ready(lab, "app=hello", 1, NS) and c.pods_ready(lab, "app=coffee", 2),
                         timeout=60, what="the hello and cafe pods")
            entry = entry_of(lab)
            c.wait_until(lambda: cafe_answers(entry), timeout=30, what="the cafe")

            # 1. create → served
            started = time.monotonic()
            last_create = create_all(lab, n)
            c.wait_until(lambda: c.routed(*entry, f"h{n - 1}.scale.bench", pod_prefix="hello-"),
                         timeout=600, interval=0.05, what="the last host served")
            served = time.monotonic() - last_create
            missing = unserved(entry, n)
            rows.append([f"create {n:,} Ingresses (8 clients)", f"{last_create - started:.1f} s", ""])
            rows.append(["last create → last host served", f"{served:.1f} s", f"{n - len(missing):,}/{n:,} served"])
            verdicts.append(c.Verdict(f"{n:,} Ingresses, last create → all served", f"{served:.1f} s "
                                      f"({len(missing)} unserved)", f"≤ {TARGET_SERVED_S:.0f} s, 0 unserved",
                                      served <= TARGET_SERVED_S and not missing))
            status = lab.ingress.status()
            rows.append(["controller: syncs / reloads / failed in a row", f"{status['syncs']} / {status['reloads']}"
                         f" / {status.get('failed_syncs', 0)}", ""])

            # 2. down → up
            lab.down()
            started = time.monotonic()
            lab = Lab.up(home, progress=lambda _: None)
            up_returned = time.monotonic() - started
            entry = entry_of(lab)
            c.wait_until(lambda: cafe_answers(entry), timeout=300, interval=0.05, what="the cafe after up")
            cafe_back = time.monotonic() - started
            c.wait_until(lambda: not unserved(entry, n), timeout=300, interval=0.5, what="every host after up")
            all_back = time.monotonic() - started
            same, detail = conf_is_what_nginx_runs(lab)
            rows.append(["down → Lab.up returned", f"{up_returned:.1f} s", ""])
            rows.append(["down → up → cafe answering", f"{cafe_back:.1f} s", ""])
            rows.append(["down → up → every host served", f"{all_back:.1f} s", f"{n:,} hosts"])
            rows.append(["ingresslab conf = what nginx runs", "yes" if same else "NO", detail])
            verdicts.append(c.Verdict("down → up → cafe answering", f"{cafe_back:.1f} s", f"≤ {TARGET_UP_S:.0f} s",
                                      cafe_back <= TARGET_UP_S))
            verdicts.append(c.Verdict("down → up → every host served", f"{all_back:.1f} s", "all served", True))
            verdicts.append(c.Verdict("ingresslab conf's checksum ≠ nginx's running one", f"{0 if same else 1} mismatch",
                                      "0 mismatch", same))

            # 3. namespace delete under load
            objects = n + 4   # the Ingresses, the Deployment, its ReplicaSet, pod and Service (plus slices, events)
            kubectl = [c.kubectl_binary() or "kubectl", "--kubeconfig", str(lab.kubeconfig_path)]
            with Probe(entry) as probe:
                time.sleep(1.0)   # the cafe's latency before the delete is in the sample too
                started = time.monotonic()
                subprocess.run([*kubectl, "delete", "namespace", NS, "--timeout=600s"], check=True,
                               capture_output=True, text=True, timeout=660)
                deleted = time.monotonic() - started
                time.sleep(0.5)
            p50, p99 = c.percentile(probe.latencies, 50), c.percentile(probe.latencies, 99)
            rows.append([f"kubectl delete namespace ({objects:,}+ objects)", f"{deleted:.1f} s", ""])
            rows.append(["  cafe during it: requests / failed", f"{len(probe.latencies)} / {probe.failures}", ""])
            rows.append(["  cafe during it: p50 / p99 / max", f"{c.ms(p50)} / {c.ms(p99)}",
                         c.ms(max(probe.latencies))])
            verdicts.append(c.Verdict(f"namespace delete ({objects:,}+ objects)", f"{deleted:.1f} s",
                                      f"≤ {TARGET_DELETE_S:.0f} s", deleted <= TARGET_DELETE_S))
            verdicts.append(c.Verdict("cafe p99 during the delete", f"{c.ms(p99)} ({probe.failures} failed)",
                                      f"≤ {TARGET_P99_S * 1000:.0f} ms, 0 failed",
                                      p99 <= TARGET_P99_S and probe.failures == 0))
        finally:
            lab.down()
    c.table(["phase", "time", "note"], rows, title=f"{n:,} Ingresses in namespace {NS}, cafe in default")
    c.summary(verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
