"""The Gateway data plane without the API hop: HTTPRoute → routed, weight change → new split with 0 reloads.

A real nginx (the Gateway renderer, `NginxProcess`), real backends on loopback, plain Gateway API dicts:
  * created → routed: a new HTTPRoute is added to the objects; the time from `translate` to the first 200 on its
    path (translate → render → nginx -t → reload → request), N times. The controller's watch adds its own delay
    on top of this once the API server serves the CRDs (target for the whole path: p50 ≤ 300 ms);
  * weight change: a 3:1 split becomes 1:3; the time until a request sees the new weights, and the reloads it
    cost (target 0: weights reach the Lua balancer like endpoints);
  * the split itself: the measured share of 3:1 over the requests sent (smooth weighted round robin is exact per
    cycle, so the share should be 75 % to the request).

    python benchmarks/gateway_dataplane.py           # 20 routes, 800 requests per split
    python benchmarks/gateway_dataplane.py --quick   # 5 routes, 200 requests
"""
from __future__ import annotations

import collections
import http.client
import http.server
import sys
import threading
import time
from pathlib import Path

import _common as c

from ingresslab.gateway.objects import CONTROLLER_NAME
from ingresslab.gateway.render import render_gateway_conf
from ingresslab.gateway.translate import translate
from ingresslab.ingress.nginx import NginxProcess, lua_available

TARGET_ROUTED_MS = 300
ADDRESS = "127.0.9.1"


class _Named(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def backend(name: str, ip: str) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((ip, 0), _Named)
    server.daemon_threads = True
    server.name = name
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(ADDRESS, port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": "bench.test"})
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("gateway_dataplane: HTTPRoute → routed, weights without reload", quick=args.quick)
    if not lua_available():
        print("nginx's Lua module is not installed: the Gateway data plane needs it.")
        c.summary([])
        return 0
    routes_n, requests_n = (5, 200) if args.quick else (20, 800)
    servers = {n: backend(n, "127.0.9.2") for n in ("stable", "canary")}
    port = _free_port()
    services = [{"metadata": {"name": n, "namespace": "default"}, "spec": {"ports": [{"name": "http", "port": 80}]}}
                for n in servers]
    slices = [{"metadata": {"name": n, "namespace": "default", "labels": {"kubernetes.io/service-name": n}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": s.server_address[1]}],
               "endpoints": [{"addresses": [s.server_address[0]], "conditions": {"ready": True}}]}
              for n, s in servers.items()]
    gw = {"metadata": {"name": "gw", "namespace": "default"},
          "spec": {"gatewayClassName": "lab", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}
    cls = {"metadata": {"name": "lab"}, "spec": {"controllerName": CONTROLLER_NAME}}
    routes: list[dict] = []

    def route(name: str, path: str, weights: tuple[int, int]) -> dict:
        return {"metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                    "backendRefs": [{"name": "stable", "port": 80, "weight": weights[0]},
                                    {"name": "canary", "port": 80, "weight": weights[1]}]}]}}

    def apply(nginx: NginxProcess) -> bool:
        t = translate(gw, gateway_class=cls, routes=routes, services=services, endpoint_slices=slices,
                      listen_address=ADDRESS, port_map=lambda _: port)
        return nginx.apply(t.config).ok

    with c.fresh_home(args.tmp, prefix="ingresslab-bench-gw-") as home:
        nginx = NginxProcess(Path(home), renderer=render_gateway_conf, subdir="gateway-bench")
        try:
            routes.append(route("split", "/split", (3, 1)))
            assert apply(nginx), "nginx refused the first configuration"
            routed = []
            for i in range(routes_n):
                started = time.perf_counter()
                routes.append(route(f"r{i}", f"/new{i}", (1, 0)))
                assert apply(nginx)
                while get(port, f"/new{i}")[0] != 200:
                    time.sleep(0.001)
                routed.append(time.perf_counter() - started)
            share = collections.Counter(get(port, "/split")[1] for _ in range(requests_n))
            reloads = nginx.reloads
            routes[0] = route("split", "/split", (1, 3))
            started = time.perf_counter()
            assert apply(nginx)
            first = get(port, "/split")
            seen_after = time.perf_counter() - started
            after = collections.Counter([first[1]] + [get(port, "/split")[1] for _ in range(requests_n - 1)])
            weight_reloads = nginx.reloads - reloads
        finally:
            nginx.stop()
            for s in servers.values():
                s.shutdown()
                s.server_close()
    p50 = c.percentile(routed, 50)
    c.table(["measure", "figure"], [
        ("HTTPRoute added → first 200, p50", c.ms(p50)), ("HTTPRoute added → first 200, p90", c.ms(c.percentile(routed, 90))),
        ("routes added (each a reload)", routes_n), ("3:1 split: share to stable", f"{share['stable'] / requests_n:.1%}"),
        ("weights → 1:3: time to the first request", c.ms(seen_after)),
        ("1:3 split: share to canary", f"{after['canary'] / requests_n:.1%}"), ("reloads for the weight change", weight_reloads)])
    verdicts = [c.Verdict("HTTPRoute added → routed p50 (no API hop)", c.ms(p50), f"≤ {TARGET_ROUTED_MS} ms",
                          p50 * 1000 <= TARGET_ROUTED_MS),
                c.Verdict("reloads for a weight change", f"{weight_reloads} reloads", "0", weight_reloads == 0),
                c.Verdict("3:1 split share to stable", f"{share['stable'] / requests_n * 100:.1f} %", "75 % ± 5",
                          abs(share["stable"] / requests_n - 0.75) <= 0.05)]
    c.summary(verdicts)
    return 0


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind((ADDRESS, 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
