"""Fault proof: a real lab keeps serving the cafe (NodePort → kube-proxy → nginx → pods) when parts of it die.

  * A pod killed under steady load (~100 req/s for 8 s; one of three tea pods deleted): errors, if any, fall only in
    a convergence window after the delete (measured and printed; ≤ 1 s expected), the load then runs clean to the
    end, and the dead pod never answers again.
  * nginx killed (SIGKILL to the controller pod's nginx master, found by the lab home in `ps`): the controller's
    watchdog starts a new one (time printed; ≤ 2 s expected) with the last good config — same checksum, same
    nginx.conf — and the cafe answers.
  * The controller killed (SIGKILL to the controller pod's process) under load: 0 failed requests; nginx keeps
    serving and the restarted controller adopts it (same master) and drives it again.
  * kube-proxy's data plane killed (SIGKILL to its process): the lab starts it again with every rule (time
    printed); the NodePort answers again.
  * 50 concurrent clients for a bounded time (5 s; 30 s with INGRESSLAB_PROOF=long): zero errors, p50/p99 printed.
  * The cluster process killed (SIGKILL to the pid in `<home>/state.json`), nothing of it left running, then
    `Lab.up(home)` again: every object is back with its uid, pods serve, Ingress routing is restored (time printed).
  * The same kill right after a namespace DELETE answered: the restarted lab finishes deleting the namespace.

Times are printed as figures, not asserted: on a loaded machine they stretch, and the properties are what happens
(errors stop, nothing comes back wrong), each waited for with a generous deadline.

Run the module twice in a row to see it is repeatable; the suite's leak check proves no process is left afterwards.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import statistics
import threading
import time
from dataclasses import dataclass, field

import kubernetes
import pytest

from ingresslab import Lab
from ingresslab.ingress.nginx import lua_available

from polling import eventually

from .conftest import ROOT, http_get, ingress_entry, own_lab, processes_under, ready_endpoints

pytestmark = pytest.mark.skipif(not lua_available(), reason="needs nginx with libnginx-mod-http-lua")

CAFE = "cafe.example.com"
CAFE_INGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "cafe-ingress"},
                "spec": {"ingressClassName": "nginx", "rules": [{"host": CAFE, "http": {"paths": [
                    {"path": p, "pathType": "Prefix", "backend": {"service": {"name": f"{p[1:]}-svc",
                                                                              "port": {"number": 80}}}}
                    for p in ("/tea", "/coffee")]}}]}}


def pod_name(reply) -> str | None:
    for line in reply.text.splitlines():
        if line.startswith("Server name: "):
            return line.split(": ", 1)[1].strip()
    return None


def serves(lab, path: str, prefix: str) -> bool:
    reply = http_get(*ingress_entry(lab), path, CAFE)
    return reply.status == 200 and (pod_name(reply) or "").startswith(prefix)


class Labs:
    """The module's lab; `current` changes when the cluster-kill test starts the lab again."""

    def __init__(self, lab):
        self.current = lab


@pytest.fixture(scope="module")
def labs(tmp_path_factory):
    with own_lab(tmp_path_factory, "faults-lab") as the_lab:
        the_lab.apply(ROOT / "manifests" / "cafe.yaml")
        the_lab.apply(ROOT / "manifests" / "cafe-secret.yaml")
        the_lab.apply(CAFE_INGRESS)
        eventually(lambda: ready_endpoints(the_lab, "tea-svc") == 3 and ready_endpoints(the_lab, "coffee-svc") == 2,
                   what="cafe pods ready")
        eventually(lambda: serves(the_lab, "/tea", "tea-") and serves(the_lab, "/coffee", "coffee-"),
                   what="cafe routed through NodePort")
        holder = Labs(the_lab)
        yield holder
        if holder.current is not the_lab:
            holder.current.down()


# --- load ----------------------------------------------------------------------------------------------------------

@dataclass
class Result:
    started: float
    ended: float
    status: int | None
    pod: str | None
    error: str = ""


@dataclass
class Load:
    """`clients` threads sending GETs on fresh connections; `rate` per second in total (None: as fast as they can)."""

    entry: tuple[str, int]
    path: str
    clients: int
    rate: float | None = None
    results: list[Result] = field(default_factory=list)

    def run(self, seconds: float, during=None) -> list[Result]:
        self.start = time.monotonic()
        stop_at = self.start + seconds
        lock = threading.Lock()

        def client(i: int) -> None:
            k = 0
            while True:
                if self.rate:
                    due = self.start + (k * self.clients + i) / self.rate
                    if due >= stop_at:
                        return
                    time.sleep(max(0.0, due - time.monotonic()))
                elif time.monotonic() >= stop_at:
                    return
                k += 1
                started = time.monotonic()
                reply = http_get(*self.entry, self.path, CAFE, timeout=20)   # slow under load is not an error
                with lock:
                    self.results.append(Result(started, time.monotonic(), reply.status, pod_name(reply),
                                               reply.error))

        threads = [threading.Thread(target=client, args=(i,), name=f"proof-load-{i}") for i in range(self.clients)]
        for t in threads:
            t.start()
        if during is not None:
            during(self)
        for t in threads:
            t.join()
        return sorted(self.results, key=lambda r: r.started)


def failed(result: Result, prefix: str) -> bool:
    return result.status != 200 or not (result.pod or "").startswith(prefix)


# --- the proofs -------------------------------------------------------------------------------------------------------

def test_a_pod_killed_under_load_costs_at_most_a_short_convergence_window(labs):
    lab = labs.current
    core = kubernetes.client.CoreV1Api(lab.api)
    victims = sorted(p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=tea").items)
    assert len(victims) == 3
    victim, deleted = victims[0], {}

    def kill(load: Load) -> None:
        time.sleep(1.5)
        deleted["at"] = time.monotonic()
        core.delete_namespaced_pod(victim, "default")

    results = Load(ingress_entry(lab), "/tea", clients=4, rate=100).run(8.0, during=kill)
    at = deleted["at"]
    errors = [r for r in results if failed(r, "tea-")]
    window = max((r.ended for r in errors), default=at) - at
    late_victim = [r for r in results if r.pod == victim and r.started > at + max(window, 0.0) + 0.05]
    clean_after = [r for r in results if r.started > at + window]
    print(f"\npod killed under {len(results) / 8:.0f} req/s: {len(errors)} errors of {len(results)} requests, "
          f"convergence window {1000 * window:.0f} ms (≤ 1000 ms expected); answering afterwards: "
          f"{sorted({r.pod for r in clean_after})}")
    assert len(results) >= 100, "the load did not run"
    assert all(r.started >= at - 0.05 for r in errors), f"errors before the pod was deleted: {errors[:5]}"
    assert len(clean_after) >= 20 and clean_after[-1].started - clean_after[0].started >= 1.0, (
        f"the errors did not stop: the last ended {1000 * window:.0f} ms after the delete: {errors[-5:]}")
    assert late_victim == [], "the deleted pod still answered after the convergence window"
    eventually(lambda: ready_endpoints(lab, "tea-svc") == 3, what="the Deployment replaced the pod")


def nginx_masters(home) -> list[int]:
    return [int(line.split()[0]) for line in processes_under(home) if "nginx: master process" in line]


def test_nginx_killed_is_restarted_with_the_last_good_config(labs):
    lab = labs.current
    before = lab.ingress.status()
    conf = lab.ingress.conf()
    (master,) = nginx_masters(lab.home)
    assert master == before["nginx_pid"]
    results: list[Result] = []

    def kill_and_wait(load: Load) -> None:
        killed = time.monotonic()
        os.kill(master, signal.SIGKILL)
        now = eventually(lambda: (s := lab.ingress.status())["nginx_pid"] not in (None, master) and s,
                         timeout=60, interval=0.01, what="a new nginx master")
        restarted["seconds"] = time.monotonic() - killed
        restarted["status"] = now

    restarted: dict = {}
    results = Load(ingress_entry(lab), "/coffee", clients=2, rate=50).run(3.0, during=kill_and_wait)
    now = restarted["status"]
    errors = [r for r in results if failed(r, "coffee-")]
    print(f"\nnginx master SIGKILLed → new master {now['nginx_pid']} in {1000 * restarted['seconds']:.0f} ms "
          f"(≤ 2000 ms expected); {len(errors)} of {len(results)} requests failed meanwhile")
    assert nginx_masters(lab.home) == [now["nginx_pid"]]
    assert now["checksum"] == before["checksum"] and now["restarts"] == before["restarts"] + 1
    assert lab.ingress.conf() == conf
    assert now["history"][-1]["action"] == "restarted"
    eventually(lambda: serves(lab, "/coffee", "coffee-") and serves(lab, "/tea", "tea-"), timeout=60)


def controller_processes(home) -> list[int]:
    return [int(line.split()[0]) for line in processes_under(home) if "ingresslab.ingress.controller" in line]


def test_controller_killed_loses_no_request_nginx_keeps_serving_and_is_adopted(labs):
    """SIGKILL the controller pod's process under load: nginx (its own process, not tied to the controller's life)
    keeps serving its last config and endpoints; the restarted controller adopts that very nginx (same master, no
    reload) and goes on configuring it. Failed requests are counted: none may fail."""
    lab = labs.current
    before = lab.ingress.status()
    (controller,) = controller_processes(lab.home)
    (master,) = nginx_masters(lab.home)
    back: dict = {}

    def kill_and_wait(load: Load) -> None:
        time.sleep(0.5)
        os.kill(controller, signal.SIGKILL)
        eventually(lambda: controller_processes(lab.home) not in ([], [controller]), timeout=30, interval=0.02,
                   what="the controller pod's process started again")
        back["status"] = eventually(lambda: (s := lab.ingress.status())["syncs"] >= 1
                                    and any(e["action"] == "adopted" for e in s["history"]) and s,
                                    timeout=30, interval=0.05, what="the new controller adopted nginx and synced")

    results = Load(ingress_entry(lab), "/coffee", clients=2, rate=50).run(4.0, during=kill_and_wait)
    errors = [r for r in results if failed(r, "coffee-")]
    now = back["status"]
    print(f"\ncontroller SIGKILLed under load: {len(errors)} of {len(results)} requests failed (target 0); "
          f"nginx master {master} adopted by the new controller")
    assert errors == [], errors[:5]
    assert nginx_masters(lab.home) == [master] and now["nginx_pid"] == master
    assert now["checksum"] == before["checksum"]
    # The adopted nginx is still the controller's to drive: a new endpoint reaches it without a reload.
    core = kubernetes.client.CoreV1Api(lab.api)
    apps = kubernetes.client.AppsV1Api(lab.api)
    apps.patch_namespaced_deployment_scale("coffee", "default", {"spec": {"replicas": 3}})
    try:
        eventually(lambda: len({pod_name(http_get(*ingress_entry(lab), "/coffee", CAFE)) for _ in range(9)}) == 3,
                   timeout=30, what="the third coffee pod served through the adopted nginx")
        assert lab.ingress.status()["nginx_pid"] == master
    finally:
        apps.patch_namespaced_deployment_scale("coffee", "default", {"spec": {"replicas": 2}})
        eventually(lambda: len(core.list_namespaced_pod("default", label_selector="app=coffee").items) == 2
                   and ready_endpoints(lab, "coffee-svc") == 2, timeout=30, what="coffee back to two pods")


def data_planes(home) -> list[int]:
    return [int(line.split()[0]) for line in processes_under(home) if "ingresslab.cluster.node.proxy.dataplane" in line]


def test_kube_proxy_killed_comes_back_and_the_nodeport_answers_again(labs):
    """kube-proxy's data plane is a process of its own, as on a real node: SIGKILL it under load. The lab starts it
    again with the whole rule table; connections fail only meanwhile (printed), and the cafe answers after."""
    lab = labs.current
    (plane,) = data_planes(lab.home)
    came_back: dict = {}

    def kill_and_wait(load: "Load") -> None:
        killed = time.monotonic()
        os.kill(plane, signal.SIGKILL)
        eventually(lambda: data_planes(lab.home) not in ([], [plane]) and serves(lab, "/coffee", "coffee-"),
                   timeout=60, interval=0.01, what="a new kube-proxy data plane that forwards")
        came_back["at"] = time.monotonic()
        came_back["seconds"] = came_back["at"] - killed

    results = Load(ingress_entry(lab), "/coffee", clients=2, rate=50).run(3.0, during=kill_and_wait)
    errors = [r for r in results if failed(r, "coffee-")]
    print(f"\nkube-proxy data plane SIGKILLed → forwarding again in {1000 * came_back['seconds']:.0f} ms; "
          f"{len(errors)} of {len(results)} requests failed meanwhile")
    assert len(data_planes(lab.home)) == 1
    late = [r for r in results if failed(r, "coffee-") and r.started > came_back["at"] + 0.05]
    assert late == [], f"requests failed after kube-proxy was back: {late[:5]}"
    assert serves(lab, "/tea", "tea-")


def test_fifty_concurrent_clients_through_nodeport_get_no_errors(labs, proof_long):
    lab = labs.current
    seconds = 30.0 if proof_long else 5.0
    results = Load(ingress_entry(lab), "/coffee", clients=50).run(seconds)
    errors = [r for r in results if failed(r, "coffee-")]
    latencies = sorted(1000 * (r.ended - r.started) for r in results)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(f"\n50 concurrent clients for {seconds:.0f} s: {len(results)} requests ({len(results) / seconds:.0f}/s), "
          f"{len(errors)} errors, p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, "
          f"max {latencies[-1]:.1f} ms")
    assert errors == [], errors[:5]
    assert len({r.pod for r in results}) == 2   # both coffee pods took their share


OBJECT_KINDS = (("deployments", "AppsV1Api", "list_deployment_for_all_namespaces"),
                ("services", "CoreV1Api", "list_service_for_all_namespaces"),
                ("ingresses", "NetworkingV1Api", "list_ingress_for_all_namespaces"),
                ("configmaps", "CoreV1Api", "list_config_map_for_all_namespaces"),
                ("secrets", "CoreV1Api", "list_secret_for_all_namespaces"),
                ("ingressclasses", "NetworkingV1Api", "list_ingress_class"),
                ("namespaces", "CoreV1Api", "list_namespace"))


def inventory(lab) -> dict[str, set]:
    out = {}
    for kind, api, method in OBJECT_KINDS:
        items = getattr(getattr(kubernetes.client, api)(lab.api), method)().items
        out[kind] = {(i.metadata.namespace, i.metadata.name, i.metadata.uid) for i in items}
    return out


def test_the_cluster_process_killed_and_started_again_brings_everything_back(labs):
    lab = labs.current
    before = inventory(lab)
    assert ("default", "cafe-ingress") in {(ns, n) for ns, n, _ in before["ingresses"]}
    pid = json.loads((lab.home / "state.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not os.path.exists(f"/proc/{pid}"), timeout=60, what="the lab process gone")
    # Nothing the dead lab started may keep running: not the controller pod's process, not its nginx.
    eventually(lambda: processes_under(lab.home) == [], timeout=60, what="no process of the killed lab left")
    started = time.monotonic()
    again = Lab.up(lab.home)
    labs.current = again
    eventually(lambda: serves(again, "/tea", "tea-") and serves(again, "/coffee", "coffee-"), timeout=120,
               what="cafe routed after the restart")
    seconds = time.monotonic() - started
    after = inventory(again)
    for kind, objects in before.items():
        assert objects <= after[kind], f"{kind} lost: {objects - after[kind]}"
    assert ready_endpoints(again, "tea-svc") == 3 and ready_endpoints(again, "coffee-svc") == 2
    tea = {pod_name(http_get(*ingress_entry(again), "/tea", CAFE)) for _ in range(12)}
    running = {p.metadata.name for p in kubernetes.client.CoreV1Api(again.api).list_namespaced_pod(
        "default", label_selector="app=tea").items}
    assert tea <= running and len(tea) == 3
    print(f"\ncluster process SIGKILLed; Lab.up again → every object back and the cafe routed in "
          f"{1000 * seconds:.0f} ms")


def test_a_namespace_delete_cut_by_a_lab_kill_is_finished_when_the_lab_starts_again(labs):
    """A namespace of 3,000 ConfigMaps deleted, the lab process SIGKILLed the moment the DELETE is answered (the
    namespace controller empties it in batches after that answer; waiting to see the first ConfigMap go made the kill
    land after the last batch on a quick machine): the namespace is Terminating on disk before anything in it goes,
    so the restarted lab finishes the job — never a namespace gone with its objects still listed."""
    lab = labs.current
    core = kubernetes.client.CoreV1Api(lab.api)
    core.create_namespace({"metadata": {"name": "doomed"}})
    for i in range(3000):
        core.create_namespaced_config_map("doomed", {"metadata": {"name": f"cm-{i}"}},
                                          _preload_content=False).release_conn()
    pid = json.loads((lab.home / "state.json").read_text())["pid"]
    answer = json.loads(core.delete_namespace("doomed", _preload_content=False).data)
    os.kill(pid, signal.SIGKILL)
    assert answer["status"]["phase"] == "Terminating" and answer["metadata"]["deletionTimestamp"]
    eventually(lambda: processes_under(lab.home) == [], timeout=60, what="no process of the killed lab left")
    with contextlib.closing(sqlite3.connect(f"file:{lab.home / 'cluster.db'}?mode=ro", uri=True)) as db:
        left = db.execute("SELECT count(*) FROM objects WHERE key='configmaps' AND ns='doomed'").fetchone()[0]
        namespace = json.loads(db.execute("SELECT body FROM objects WHERE key='namespaces' AND name='doomed'")
                               .fetchone()[0])
    print(f"\nlab killed during a namespace delete: {3000 - left} of 3000 ConfigMaps had gone before the kill")
    assert namespace["status"]["phase"] == "Terminating" and left > 0, "the kill came after the whole delete"
    again = Lab.up(lab.home)
    labs.current = again
    core = kubernetes.client.CoreV1Api(again.api)

    def gone() -> bool:
        try:
            core.read_namespace("doomed")
            return False
        except kubernetes.client.ApiException as error:
            return error.status == 404
    eventually(gone, timeout=60, what="the namespace deleted after the restart")
    assert core.list_namespaced_config_map("doomed").items == []
    eventually(lambda: serves(again, "/coffee", "coffee-"), timeout=30, what="cafe routed after the restart")
