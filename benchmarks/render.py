"""How long the controller's pure pipeline takes for many Ingresses: Kubernetes dicts → translate → render → nginx -t.

For N = 1, 100, 1,000 and 10,000 Ingresses (2 paths each; about four Ingresses per host, one in twenty on a
wildcard host; four namespaces; TLS from a Secret on one in ten), the script builds the objects the controller's
listers would hold, then times `translate(...)` (objects → model) and `render_nginx_conf(...)` (model → text)
separately, best of a few runs, and `nginx -t` on the rendered file (`NginxProcess.test`, certificates written).

Targets: translate + render of 1,000 Ingresses in ≤ 0.25 s, and near-linear growth: the cost per Ingress at the
largest size at most 1.5 × the cost per Ingress at one tenth of it. Both are judged on this process's CPU time
(wall time is printed beside it): on a shared 2-core machine, other work stretches wall time more than CPU time.
`nginx -t` has no target; it is shown because
the controller runs it before every reload.

    python benchmarks/render.py           # 1 … 10,000, nginx -t on each
    python benchmarks/render.py --quick   # 1 … 1,000, nginx -t up to 100
"""
from __future__ import annotations

import base64
import datetime
import sys
import tempfile
import time
from pathlib import Path

import _common as c
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingresslab.ingress.model import Configuration
from ingresslab.ingress.nginx import NginxProcess, lua_available
from ingresslab.ingress.render import render_nginx_conf
from ingresslab.ingress.translate import translate

NAMESPACES = 4
PER_HOST = 4            # about this many Ingresses share a host
SERVICES_PER_NS = 50
TARGET_1000_S = 0.25
LINEAR_FACTOR = 1.5


def _certificate() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.example.com"), x509.DNSName("example.com")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def cluster_objects(n: int, pem: tuple[str, str]) -> dict:
    """The listers' contents for `n` Ingresses, as plain dicts (what the controller's informers hold)."""
    hosts = max(1, n // PER_HOST)
    services_per_ns = max(1, min(SERVICES_PER_NS, n))
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    ingresses, used = [], set()
    for i in range(n):
        ns = f"team{i % NAMESPACES}"
        host = f"*.w{i % hosts}.example.com" if i % 20 == 7 else f"h{i % hosts}.example.com"
        svc_a, svc_b = f"svc-{i % services_per_ns}", f"svc-{(i + 1) % services_per_ns}"
        used.update({(ns, svc_a), (ns, svc_b)})
        spec = {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
            {"path": f"/app{i}/a", "pathType": "Prefix",
             "backend": {"service": {"name": svc_a, "port": {"number": 80}}}},
            {"path": f"/app{i}/b", "pathType": "Exact",
             "backend": {"service": {"name": svc_b, "port": {"name": "http"}}}}]}}]}
        if i % 10 == 0:
            spec["tls"] = [{"hosts": [host], "secretName": "bench-tls"}]
        created = (start + datetime.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        ingresses.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": spec,
                          "metadata": {"name": f"ing-{i}", "namespace": ns, "creationTimestamp": created,
                                       "annotations": {}}})
    services, slices = [], []
    for k, (ns, name) in enumerate(sorted(used)):
        services.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                         "spec": {"type": "ClusterIP", "clusterIP": f"10.96.{k // 250}.{k % 250 + 1}",
                                  "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
        slices.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                       "metadata": {"name": f"{name}-abcde", "namespace": ns,
                                    "labels": {"kubernetes.io/service-name": name}},
                       "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": [{"addresses": [f"10.244.{k // 120}.{(k % 120) * 2 + j + 1}"],
                                      "conditions": {"ready": True}} for j in range(2)]})
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    secrets = [{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "bench-tls", "namespace": f"team{j}"},
                "data": {"tls.crt": b64(pem[0]), "tls.key": b64(pem[1])}} for j in range(NAMESPACES)]
    ingress_class = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                     "metadata": {"name": "nginx",
                                  "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
                     "spec": {"controller": "k8s.io/ingress-nginx"}}
    return dict(ingresses=ingresses, services=services, endpoint_slices=slices, secrets=secrets,
                ingress_classes=[ingress_class])


def best_of(repeats: int, func):
    """(fastest wall time, fastest CPU time of this process, last result) over `repeats` calls."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = func()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - cpu0)
    return best, best_cpu, result


def main(argv: list[str] | None = None) -> int:
    args = c.parser(__doc__.splitlines()[0]).parse_args(argv)
    c.header("render: Ingress objects → translate → render → nginx -t", quick=args.quick)
    sizes = [1, 100, 1000] if args.quick else [1, 100, 1000, 10000]
    nginx_t_up_to = 100 if args.quick else 10000
    pem = _certificate()
    lua = lua_available()
    rows, figures = [], {}
    with tempfile.TemporaryDirectory(prefix="ingresslab-bench-render-", dir=args.tmp) as tmp:
        proc = NginxProcess(Path(tmp))
        base = Configuration(lua=lua, http_port=8080, https_port=8443, default_cert_file=proc.paths.default_cert)
        previous = None
        for n in sizes:
            world = cluster_objects(n, pem)
            repeats = 5 if n <= 1000 else 1
            if args.quick:
                repeats = min(repeats, 2)
            t_translate, cpu_translate, result = best_of(repeats, lambda w=world: translate(**w, base=base))
            config = result.config
            t_render, cpu_render, text = best_of(repeats, lambda m=config: render_nginx_conf(m, paths=proc.paths))
            total, cpu_total = t_translate + t_render, cpu_translate + cpu_render
            t_nginx = None
            if n <= nginx_t_up_to:
                ok, err = proc.check(config)             # writes the certificates, then nginx -t (untimed)
                if not ok:
                    raise SystemExit(f"nginx -t rejected the rendered configuration for {n} Ingresses:\n{err}")
                t_nginx, _, (ok, err) = best_of(1 if n > 1000 else 2, lambda t=text: proc.test(t))
                if not ok:
                    raise SystemExit(f"nginx -t rejected the configuration for {n} Ingresses:\n{err}")
            figures[n] = cpu_total
            growth = f"{cpu_total / figures[previous]:.1f}× for {n // previous}×" if previous else ""
            rows.append([f"{n:,}", len(config.servers), f"{len(text.encode()) / 1024:,.0f} KiB",
                         c.ms(t_translate), c.ms(t_render), c.ms(total), c.ms(cpu_total),
                         f"{cpu_total / n * 1e6:,.0f} µs",
                         growth, c.ms(t_nginx, 0) if t_nginx is not None else "(skipped)"])
            previous = n
            print(f"  {n:>6,} Ingresses: translate {c.ms(t_translate)}, render {c.ms(t_render)} (wall)", flush=True)
    print()
    c.table(["Ingresses", "servers", "nginx.conf", "translate", "render", "total", "total CPU", "CPU/Ingress",
             "CPU growth",
             "nginx -t"], rows,
            title=f"Best of several runs (wall time, and this process's CPU time, which other load on a shared "
                  f"machine disturbs less); lua={lua}.\nTargets are judged on CPU time; nginx -t is wall time "
                  f"(a child process).")
    verdicts = [c.Verdict("translate + render of 1,000 Ingresses (CPU time)", c.ms(figures[1000]),
                          f"≤ {TARGET_1000_S * 1000:.0f} ms", figures[1000] <= TARGET_1000_S)]
    big, small = sizes[-1], sizes[-2]
    per_big, per_small = figures[big] / big, figures[small] / small
    factor = per_big / per_small
    verdicts.append(c.Verdict(f"per-Ingress cost at {big:,} vs {small:,}", f"{factor:.2f}×",
                              f"≤ {LINEAR_FACTOR}× (near-linear)", factor <= LINEAR_FACTOR))
    c.summary(verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
