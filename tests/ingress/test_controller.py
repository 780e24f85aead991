"""The watch-based controller against a real lab, a real nginx and real HTTP: an Ingress is served moments after it
is created, endpoints change without a reload, Ingress changes reload exactly once, status and events are written
through the API, a config nginx refuses never replaces the good one, and the process leaves nothing behind."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import kubernetes
import pytest

from ingresslab import Lab
from ingresslab.ingress.controller import STATIC_MODE, IngressController, Options, status_addresses
from ingresslab.ingress.nginx import lua_available
from polling import eventually

pytestmark = pytest.mark.skipif(not lua_available(), reason="needs nginx with libnginx-mod-http-lua")

ROOT = Path(__file__).resolve().parents[2]
HOST = "cafe.example.com"
CONFIGMAP = "ingress-nginx/ingress-nginx-controller"
_OCTET = os.getpid() % 250


def cafe_ingress(name: str = "cafe-ingress", host: str = HOST, paths=("/tea", "/coffee")) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                {"path": p, "pathType": "Prefix",
                 "backend": {"service": {"name": f"{p.strip('/')}-svc" if p in ("/tea", "/coffee") else "coffee-svc",
                                         "port": {"number": 80}}}} for p in paths]}}]}}


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def get(address, path: str, host: str = HOST) -> tuple[int | None, str | None]:
    """(HTTP status, the `Server name:` of the pod that answered) — or (None, error) when nothing listens."""
    ip, port = address
    try:
        with socket.create_connection((ip, port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError as error:
        return None, str(error)
    text = data.decode(errors="replace")
    status = re.match(r"HTTP/1\.\d (\d{3})", text)
    name = re.search(r"Server name: (\S+)", text)
    return (int(status.group(1)) if status else None), (name.group(1) if name else None)


def routed(address, path: str, prefix: str, host: str = HOST) -> bool:
    status, name = get(address, path, host)
    return status == 200 and bool(name and name.startswith(prefix))


def events_about(lab, name: str, namespace: str = "default") -> list:
    return kubernetes.client.CoreV1Api(lab.api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}").items


def ready_endpoints(lab, service: str) -> int:
    slices = kubernetes.client.DiscoveryV1Api(lab.api).list_namespaced_endpoint_slice(
        "default", label_selector=f"kubernetes.io/service-name={service}").items
    return sum(1 for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready)


def settled(controller, quiet: float = 0.3) -> None:
    """Wait until the controller has had nothing to do for `quiet` seconds (earlier tests' changes are done)."""
    eventually(lambda: time.time() - controller.last_sync.get("at", 0) > quiet and not controller._dirty.is_set())


def no_process_mentions(path: Path) -> bool:
    return subprocess.run(["pgrep", "-f", str(path)], capture_output=True).returncode == 1


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab of its own with the cafe apps running (the controller's Ingresses would disturb other tests)."""
    the_lab = Lab.up(tmp_path_factory.mktemp("controller-lab"))
    try:
        the_lab.apply(ROOT / "manifests" / "cafe.yaml")
        eventually(lambda: ready_endpoints(the_lab, "coffee-svc") == 2 and ready_endpoints(the_lab, "tea-svc") == 3)
        yield the_lab
    finally:
        the_lab.down()


@pytest.fixture(scope="module")
def controller(lab, tmp_path_factory):
    home = tmp_path_factory.mktemp("controller-home")
    ip = f"127.10.{_OCTET}.1"
    options = Options(listen_address=ip, http_port=free_port(ip), https_port=free_port(ip), home=home,
                      status_file=home / "status.json", configmap=CONFIGMAP)
    running = IngressController(lab.api, options).start()
    try:
        assert running.sync_now() in ("started", "unchanged")
        yield running
    finally:
        running.stop()
    assert no_process_mentions(home), "nginx is still running after stop()"
    ours = ("informer-", "ingress-controller-sync", "nginx-owner")
    assert not [t.name for t in threading.enumerate() if t.name.startswith(ours)], "threads left after stop()"


@pytest.fixture(scope="module")
def address(controller):
    return controller.options.listen_address, controller.options.http_port


@pytest.fixture(scope="module")
def cafe(lab, controller, address):
    """The cafe Ingress, created once the controller runs; prints how long until nginx routed it."""
    started = time.monotonic()
    lab.apply(cafe_ingress())
    eventually(lambda: routed(address, "/coffee", "coffee-"))
    print(f"\ncafe Ingress created → routed through nginx in {1000 * (time.monotonic() - started):.0f} ms")
    return "cafe-ingress"


# ---- routing ----------------------------------------------------------------------------------------------------

def test_coffee_and_tea_reach_their_own_pods(cafe, address):
    coffee = {get(address, "/coffee")[1] for _ in range(6)}
    tea = {get(address, "/tea/green")[1] for _ in range(9)}
    assert all(n.startswith("coffee-") for n in coffee) and all(n.startswith("tea-") for n in tea)
    assert len(coffee) == 2 and len(tea) == 3   # every ready pod takes its turn


def test_unknown_hosts_and_paths_get_404(cafe, address):
    assert get(address, "/coffee", "tea.example.com") == (404, None)
    assert get(address, "/", HOST) == (404, None)
    assert get(address, "/milk", HOST) == (404, None)


def test_time_from_ingress_create_to_routed_response(lab, controller, address, cafe):
    """Printed, not asserted: the figure the course promises (p50 ≤ 300 ms)."""
    timings = []
    for n in range(7):
        host = f"timing-{n}.example.com"
        started = time.monotonic()
        lab.apply(cafe_ingress(f"timing-{n}", host))
        eventually(lambda: routed(address, "/coffee", "coffee-", host), interval=0.002)
        timings.append(1000 * (time.monotonic() - started))
    for n in range(7):
        lab.delete("Ingress", f"timing-{n}")
    eventually(lambda: not any(s.hostname.startswith("timing-") for s in controller.running_config.servers))
    assert get(address, "/coffee", "timing-0.example.com")[0] == 404
    print(f"\nIngress create → routed: p50 {statistics.median(timings):.0f} ms, max {max(timings):.0f} ms "
          f"({', '.join(f'{t:.0f}' for t in timings)})")


# ---- what the controller writes through the API -----------------------------------------------------------------

def test_status_load_balancer_lists_the_node_ips(lab, cafe):
    nodes = kubernetes.client.CoreV1Api(lab.api).list_node().items
    node_ips = sorted(a.address for n in nodes for a in n.status.addresses if a.type == "InternalIP")
    networking = kubernetes.client.NetworkingV1Api(lab.api)

    def published():
        balancer = networking.read_namespaced_ingress(cafe, "default").status.load_balancer
        return sorted(i.ip for i in (balancer.ingress or [])) if balancer else []
    assert eventually(lambda: published() == node_ips and published())


def test_a_sync_event_is_recorded_on_the_ingress(lab, cafe):
    def sync_events():
        return [e for e in events_about(lab, cafe) if e.reason == "Sync"]
    event = eventually(sync_events)[0]
    assert (event.type, event.message, event.source.component) == ("Normal", "Scheduled for sync",
                                                                   "nginx-ingress-controller")
    assert event.involved_object.kind == "Ingress" and event.involved_object.uid


def test_a_repeated_event_increments_its_count(lab, controller, cafe):
    ingress = controller.store.get("ingresses", "default", cafe)
    for _ in range(3):
        controller.recorder.record("Ingress", ingress, "default", cafe, "Normal", "Repeated", "said three times")
    repeated = [e for e in events_about(lab, cafe) if e.reason == "Repeated"]
    assert [e.count for e in repeated] == [3]


def test_publish_service_decides_the_status_addresses():
    nodes = [{"metadata": {"name": f"node-{n}"}, "status": {"addresses": [
        {"type": "InternalIP", "address": f"127.0.1.{n}"}, {"type": "Hostname", "address": f"node-{n}"}]}}
        for n in (2, 1)]

    def service(kind, **extra):
        return {"metadata": {"namespace": "ingress-nginx", "name": "ingress-nginx"},
                "spec": {"type": kind, "clusterIP": "127.96.0.9", **extra.get("spec", {})},
                "status": extra.get("status", {})}
    published = Options(publish_service="ingress-nginx/ingress-nginx")
    assert status_addresses({"nodes": nodes}, Options()) == ["127.0.1.1", "127.0.1.2"]
    assert status_addresses({"nodes": nodes, "services": [service("NodePort")]}, published) == \
        ["127.0.1.1", "127.0.1.2"]
    assert status_addresses({"nodes": nodes, "services": [service("ClusterIP")]}, published) == ["127.96.0.9"]
    assert status_addresses({"nodes": nodes, "services": [service("LoadBalancer", status={
        "loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}})]}, published) == ["lb.example.com"]
    assert status_addresses({"nodes": nodes, "services": []}, published) == []


# ---- endpoints without reload, changes with exactly one ---------------------------------------------------------

def tea_backend(controller) -> list[str]:
    return next((b["endpoints"] for b in controller.status()["backends"] if b["name"] == "default-tea-svc-80"), [])


def test_scaling_changes_which_pods_answer_without_a_reload(lab, controller, address, cafe):
    apps = kubernetes.client.AppsV1Api(lab.api)
    settled(controller)
    reloads, updates = controller.nginx.reloads, controller.nginx.endpoint_updates
    apps.patch_namespaced_deployment_scale("tea", "default", {"spec": {"replicas": 1}})
    eventually(lambda: len(tea_backend(controller)) == 1)
    answering = {get(address, "/tea")[1] for _ in range(9)}
    assert len(answering) == 1 and answering.pop().startswith("tea-")
    apps.patch_namespaced_deployment_scale("tea", "default", {"spec": {"replicas": 3}})
    eventually(lambda: len(tea_backend(controller)) == 3)
    assert len({get(address, "/tea")[1] for _ in range(9)}) == 3
    assert controller.nginx.reloads == reloads, controller.nginx.history[-4:]
    assert controller.nginx.endpoint_updates >= updates + 2


def test_changing_the_ingress_reloads_nginx_exactly_once(lab, controller, address, cafe):
    settled(controller)
    reloads = controller.nginx.reloads
    networking = kubernetes.client.NetworkingV1Api(lab.api)
    ingress = networking.read_namespaced_ingress(cafe, "default")
    ingress.spec = lab.api._ApiClient__deserialize(cafe_ingress(paths=("/tea", "/coffee", "/latte"))["spec"],
                                                   "V1IngressSpec")
    networking.replace_namespaced_ingress(cafe, "default", ingress)
    eventually(lambda: routed(address, "/latte", "coffee-"))
    time.sleep(0.3)   # the status write and events that follow must not reload again
    assert controller.nginx.reloads == reloads + 1
    assert f"Ingress default/{cafe} modified" in controller.nginx.last_reload_reason
    status = json.loads(Path(controller.options.status_file).read_text())
    assert status["reloads"] == reloads + 1 and status["checksum"] == controller.nginx.checksum
    assert status["lua"] is True and status["nginx_pid"] == controller.nginx.pid


def test_a_config_nginx_refuses_keeps_the_last_good_one_serving_and_warns(lab, controller, address, cafe):
    core = kubernetes.client.CoreV1Api(lab.api)
    namespace, name = CONFIGMAP.split("/")
    checksum = controller.nginx.checksum
    core.create_namespaced_config_map(namespace, {"metadata": {"name": name},
                                                  "data": {"log-format-upstream": "$no_such_variable"}})
    try:
        warning = eventually(lambda: [e for e in events_about(lab, cafe) if e.reason == "RELOAD"])[0]
        assert warning.type == "Warning" and "no_such_variable" in warning.message
        assert warning.message.startswith("Error reloading NGINX: ")
        assert controller.nginx.checksum == checksum and routed(address, "/coffee", "coffee-")
    finally:
        core.delete_namespaced_config_map(name, namespace)
    eventually(lambda: controller.last_sync.get("action") == "unchanged")
    assert controller.nginx.checksum == checksum


def test_a_deleted_service_means_503_and_a_warning(lab, controller, address, cafe):
    core = kubernetes.client.CoreV1Api(lab.api)
    saved = lab.api.sanitize_for_serialization(core.read_namespaced_service("tea-svc", "default"))
    core.delete_namespaced_service("tea-svc", "default")
    try:
        eventually(lambda: get(address, "/tea")[0] == 503)
        # Depending on which deletion the sync sees first (the Service or its EndpointSlice), a "no ready
        # endpoints" warning may come before this one; the one about the missing Service must come.
        warning = eventually(lambda: [e for e in events_about(lab, cafe) if e.reason == "BackendUnavailable"
                                      and "tea-svc not found" in e.message])[0]
        assert warning.type == "Warning"
        assert routed(address, "/coffee", "coffee-")
    finally:
        core.create_namespaced_service("default", {"metadata": {"name": "tea-svc"}, "spec": {
            "selector": saved["spec"]["selector"], "ports": saved["spec"]["ports"]}})
    eventually(lambda: routed(address, "/tea", "tea-"))


def test_without_lua_endpoints_are_static_upstreams_and_changes_reload(lab, cafe, tmp_path):
    ip = f"127.10.{_OCTET}.2"
    options = Options(listen_address=ip, http_port=free_port(ip), https_port=free_port(ip), home=tmp_path,
                      status_file=tmp_path / "status.json", lua=False)
    with IngressController(lab.api, options) as static:
        eventually(lambda: routed((ip, options.http_port), "/tea", "tea-"))
        reloads = static.nginx.reloads
        kubernetes.client.AppsV1Api(lab.api).patch_namespaced_deployment_scale("tea", "default",
                                                                                {"spec": {"replicas": 2}})
        eventually(lambda: len(tea_backend(static)) == 2)
        assert static.nginx.reloads > reloads
        status = json.loads(options.status_file.read_text())
        assert status["lua"] is False and status["mode"] == STATIC_MODE
    assert no_process_mentions(tmp_path)


# ---- the process ------------------------------------------------------------------------------------------------

def controller_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ingresslab.ingress.controller", *args]


def test_render_only_prints_the_config_for_the_clusters_ingresses(lab, cafe, tmp_path):
    proc = subprocess.run(controller_command("--kubeconfig", str(lab.kubeconfig_path), "--render-only",
                                             "--home", str(tmp_path)),
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "server_name cafe.example.com;" in proc.stdout and "/coffee" in proc.stdout
    assert not (tmp_path / "nginx").exists()   # nothing started, nothing written


@pytest.mark.parametrize("flag", [["--annotations-prefix", "example.com"], ["--listen-address", "10.1.2.3"]])
def test_flags_this_lab_cannot_honour_are_refused_in_plain_words(flag):
    proc = subprocess.run(controller_command("--render-only", *flag), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and flag[0] in proc.stderr


def test_the_process_runs_in_cluster_restarts_nginx_and_leaves_nothing_on_sigterm(lab, cafe, tmp_path):
    api = urllib.parse.urlsplit(lab.api.configuration.host)
    env = dict(os.environ, KUBERNETES_SERVICE_HOST=api.hostname, KUBERNETES_SERVICE_PORT=str(api.port),
               INGRESSLAB_SA_DIR=str(lab.home / "serviceaccount"), POD_NAME="ingress-nginx-controller-test")
    ip = f"127.10.{_OCTET}.3"
    address = (ip, free_port(ip))
    status_file = tmp_path / "status.json"
    proc = subprocess.Popen(controller_command("--listen-address", ip, "--http-port", str(address[1]),
                                               "--https-port", str(free_port(ip)), "--home", str(tmp_path),
                                               "--status-file", str(status_file)),
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: routed(address, "/coffee", "coffee-"), timeout=30)
        eventually(status_file.exists)
        status = json.loads(status_file.read_text())
        assert status["nginx_pid"] and status["conf_path"].startswith(str(tmp_path))
        assert {"reloads", "last_reload_reason", "checksum", "endpoint_updates", "lua", "history", "last_sync",
                "backends"} <= set(status)
        killed = time.monotonic()
        os.kill(status["nginx_pid"], signal.SIGKILL)   # its workers keep serving until the watchdog notices

        def restarted():
            now = json.loads(status_file.read_text())
            return now["nginx_pid"] not in (None, status["nginx_pid"]) and now
        now = eventually(restarted, timeout=10)
        assert routed(address, "/coffee", "coffee-")
        print(f"\nnginx master killed → a new one serving in {1000 * (time.monotonic() - killed):.0f} ms (watchdog)")
        assert now["history"][-1]["action"] == "restarted"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert no_process_mentions(tmp_path)


def test_without_root_ports_below_1024_move_up_for_endpoints_and_tcp_listeners():
    """A lab run by an ordinary user binds ports below 1024 at port + offset (pods, ClusterIPs, and so nginx's own
    TCP-service listeners too); the controller aims there. As root the offset is 0 and nothing moves."""
    from test_translate import cafe_cluster, endpoint_slice, service

    from ingresslab.ingress.controller import offset_low_ports
    from ingresslab.ingress.translate import translate
    world = cafe_cluster(
        services=[service("tea-svc", target=80), service("coffee-svc", cluster_ip="10.96.0.11")],
        endpoint_slices=[endpoint_slice("tea-svc", ["10.244.0.1"], port=80),
                         endpoint_slice("coffee-svc", ["10.244.1.1"])],
        tcp_services={"metadata": {"namespace": "ingress-nginx", "name": "tcp-services"},
                      "data": {"53": "default/tea-svc:80", "9000": "default/coffee-svc:80"}})
    result = translate(**world)
    assert sorted(t.port for t in result.config.tcp_services) == [53, 9000]
    moved = offset_low_ports(result, 10000).config
    assert sorted(t.port for t in moved.tcp_services) == [9000, 10053]
    assert [e.port for e in moved.backend("default-tea-svc-80").endpoints] == [10080]
    assert [e.port for e in moved.backend("default-coffee-svc-http").endpoints] == [8080]
    assert [e.port for e in moved.backend("tcp-default-tea-svc-80").endpoints] == [10080]
    assert offset_low_ports(result, 0) is result
