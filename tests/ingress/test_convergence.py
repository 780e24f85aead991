"""The controller knows what nginx runs, with the real nginx: a reload or start counts only when nginx answers with
the new config's checksum (however long a big config takes to load), drift in the Lua balancer is seen and
repaired, an nginx left by a killed owner is adopted rather than replaced, a failed initial sync is retried until
it succeeds, and an nginx reloaded behind the controller's back is brought back to the controller's config."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import kubernetes
import pytest

from ingresslab import Lab
from ingresslab.ingress.controller import IngressController, Options
from ingresslab.ingress.model import Backend, Configuration, Endpoint, Location, Server, upstream_name
from ingresslab.ingress.nginx import NginxProcess, lua_available
from ingresslab.ingress.nginx_os import UnixHTTPConnection, group_members
from polling import eventually

pytestmark = pytest.mark.skipif(not lua_available(), reason="needs nginx with libnginx-mod-http-lua")

ROOT = Path(__file__).resolve().parents[2]
HOST = "cafe.example.com"


def many_locations(listen, n: int, backend: Backend) -> Configuration:
    ip, http_port, https_port = listen
    host = Server("big.test", tuple(Location(f"/p{i}", "Prefix", backend.name, "default/big", "default/big:80")
                                    for i in range(n)))
    return Configuration(servers=(host,), backends=(backend,), listen_address=ip, http_port=http_port,
                         https_port=https_port)


def post_backends(nginx: NginxProcess, body: list) -> None:
    connection = UnixHTTPConnection(nginx.paths.config_socket)
    try:
        connection.request("POST", "/configuration/backends", body=json.dumps(body))
        assert connection.getresponse().status == 201
    finally:
        connection.close()


# ---- nginx.py ---------------------------------------------------------------------------------------------------

def test_a_big_config_is_waited_for_until_nginx_answers_with_its_checksum(tmp_path, backends, listen):
    """A base wait far too short for 3,000 locations (10 ms): the wait grows with the config, and `apply` returns
    only once nginx reports the new checksum — for the start and for each reload."""
    pod = backends("big")
    backend = Backend(upstream_name("default", "big", 80), "default", "big", 80, (Endpoint(pod.ip, pod.port),))
    nginx = NginxProcess(tmp_path / "home", start_timeout=0.01)
    try:
        for n in (3000, 3001):
            config = many_locations(listen, n, backend)
            outcome = nginx.apply(config)
            assert outcome.ok, outcome.error
            assert outcome.action == ("started" if n == 3000 else "reloaded")
            assert nginx.reported_checksum() == config.checksum() == nginx.checksum
    finally:
        pgid = nginx.pid
        nginx.stop()
    assert pgid is None or group_members(pgid) == []


def test_balancer_drift_is_seen_and_repaired(nginx, backends, listen):
    pod = backends("drift")
    backend = Backend(upstream_name("default", "drift", 80), "default", "drift", 80, (Endpoint(pod.ip, pod.port),))
    outcome = nginx.apply(many_locations(listen, 1, backend))
    assert outcome.ok, outcome.error            # nginx -t's own words, if it refused
    assert nginx.balancer_in_sync()
    post_backends(nginx, [{"name": backend.name, "endpoints": [{"address": "127.0.0.1", "port": 18999}]}])
    assert not nginx.balancer_in_sync()
    nginx.repush()
    assert nginx.balancer_in_sync()
    assert nginx.backends() == [{"name": backend.name, "endpoints": [{"address": pod.ip, "port": pod.port}]}]


OWNER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ingresslab.ingress.model import Configuration
    from ingresslab.ingress.nginx import NginxProcess
    ip, http_port, https_port = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    nginx = NginxProcess(Path(sys.argv[1]), outlive_owner=True)
    outcome = nginx.apply(Configuration(listen_address=ip, http_port=http_port, https_port=https_port))
    print(outcome.action, nginx.pid, flush=True)
    time.sleep(600)
""")


def test_an_nginx_left_by_a_killed_owner_is_adopted_not_replaced(tmp_path, listen):
    home = tmp_path / "home"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(home), *map(str, listen)], stdout=subprocess.PIPE,
                             text=True)
    action, master = owner.stdout.readline().split()
    master = int(master)
    assert action == "started"
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    owner.stdout.close()
    assert group_members(master), "nginx died with its owner"
    heir = NginxProcess(home, outlive_owner=True)
    try:
        assert heir.pid == master and heir.history[-1].action == "adopted"
        ip, http_port, https_port = listen
        config = Configuration(listen_address=ip, http_port=http_port, https_port=https_port)
        assert heir.checksum == config.checksum()
        assert heir.apply(config).action == "unchanged" and heir.reloads == 0
    finally:
        heir.stop()
    eventually(lambda: group_members(master) == [], what="the adopted nginx stopped by its new owner")


def test_resume_serves_the_last_good_config_and_endpoints_and_the_first_apply_checks_the_text(tmp_path, backends,
                                                                                              listen, http):
    """After a stop (the lab's `down`), a new NginxProcess resumes the last good config and endpoint lists before
    any model exists; an `apply` of the same model then reloads nothing — unless the text on disk is not what this
    code renders (an upgrade), which it then replaces."""
    pod = backends("resume")
    backend = Backend(upstream_name("default", "resume", 80), "default", "resume", 80, (Endpoint(pod.ip, pod.port),))
    config = many_locations(listen, 2, backend)
    ip, http_port, https_port = listen
    first = NginxProcess(tmp_path / "home")
    assert first.apply(config).ok
    first.stop()
    assert not NginxProcess(tmp_path / "home").resume(listen=(ip, http_port + 1, https_port))   # another pod IP/port
    second = NginxProcess(tmp_path / "home")
    try:
        assert second.resume(listen=listen)
        assert http(ip, http_port, "/p1", host="big.test").name == "resume"   # endpoints came back too
        assert second.apply(config).action == "unchanged" and second.reloads == 0
    finally:
        second.stop()
    conf = second.conf_path
    conf.write_text(conf.read_text().replace("# Endpoints:", "# written by an older ingresslab\n# Endpoints:"))
    third = NginxProcess(tmp_path / "home")
    try:
        assert third.resume(listen=listen)
        assert third.apply(config).action == "reloaded"
        assert "older ingresslab" not in conf.read_text()
    finally:
        third.stop()


# ---- the controller ---------------------------------------------------------------------------------------------

def cafe_ingress() -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "converge-cafe"},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": HOST, "http": {"paths": [
                {"path": "/coffee", "pathType": "Prefix",
                 "backend": {"service": {"name": "coffee-svc", "port": {"number": 80}}}}]}}]}}


def coffee_served(address) -> bool:
    try:
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(f"GET /coffee HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/1.1 200") and b"Server name: coffee-" in data


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    the_lab = Lab.up(tmp_path_factory.mktemp("converge-lab"))
    try:
        the_lab.apply(ROOT / "manifests" / "cafe.yaml")
        the_lab.apply(cafe_ingress())
        discovery = kubernetes.client.DiscoveryV1Api(the_lab.api)
        eventually(lambda: sum(1 for s in discovery.list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=coffee-svc").items
            for e in s.endpoints or [] if e.conditions.ready) == 2, what="coffee pods ready")
        yield the_lab
    finally:
        the_lab.down()


def controller_options(home: Path, listen) -> Options:
    ip, http_port, https_port = listen
    return Options(listen_address=ip, http_port=http_port, https_port=https_port, home=home,
                   retry_delay=0.2, max_retry_delay=1.0)


def test_a_failed_initial_sync_is_retried_until_nginx_serves(lab, tmp_path, listen):
    """The HTTP port is taken when the controller starts, so nginx cannot start: the controller keeps trying with
    back-off, and serves as soon as the port is free."""
    ip, http_port, _ = listen
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((ip, http_port))
    squatter.listen()
    controller = IngressController(lab.api, controller_options(tmp_path / "home", listen)).start()
    try:
        eventually(lambda: controller.failed_syncs >= 2, timeout=60, what="the initial sync failed twice")
        assert "Address already in use" in (controller.last_error or "")
        squatter.close()
        eventually(lambda: coffee_served((ip, http_port)), timeout=60, what="served once the port was free")
        assert controller.failed_syncs == 0 and controller.running_config is not None
    finally:
        squatter.close()
        controller.stop()


@pytest.fixture
def controller(lab, tmp_path, listen):
    running = IngressController(lab.api, controller_options(tmp_path / "home", listen)).start()
    try:
        eventually(lambda: coffee_served(listen[:2]), timeout=60, what="the cafe served")
        yield running
    finally:
        running.stop()


def test_endpoints_tampered_with_through_the_socket_are_pushed_again(controller, listen):
    nginx = controller.nginx
    mine = nginx.backends()
    post_backends(nginx, [{"name": b["name"], "endpoints": [{"address": "127.0.0.1", "port": 18999}]}
                          for b in mine])
    eventually(lambda: nginx.backends() == mine, timeout=30, what="the controller's endpoints pushed again")
    assert coffee_served(listen[:2])
    assert any("balancer" in r["what"] for r in controller.repairs)


def test_an_nginx_reloaded_behind_the_controllers_back_gets_the_controllers_config_again(controller, listen):
    nginx = controller.nginx
    ours = nginx.checksum
    text = nginx.conf_path.read_text()
    nginx.conf_path.write_text(text.replace(f"# Configuration checksum: {ours}", "# Configuration checksum: " + "0" * 64))
    os.kill(nginx.pid, signal.SIGHUP)
    eventually(lambda: any("another configuration" in r["what"] for r in controller.repairs), timeout=30,
               what="the watchdog saw nginx running another config")
    eventually(lambda: nginx.reported_checksum() == ours, timeout=30, what="the controller's config reloaded")
    assert nginx.conf_path.read_text() == text and coffee_served(listen[:2])


def test_the_api_refuses_a_nested_quantifier_with_a_422_naming_the_field(lab):
    ingress = cafe_ingress()
    ingress["metadata"] = {"name": "redos", "annotations": {"nginx.ingress.kubernetes.io/use-regex": "true"}}
    ingress["spec"]["rules"][0]["http"]["paths"][0].update(path="/(a+)+b", pathType="ImplementationSpecific")
    with pytest.raises(kubernetes.client.ApiException) as refused:
        kubernetes.client.NetworkingV1Api(lab.api).create_namespaced_ingress("default", ingress)
    status = json.loads(refused.value.body)
    assert refused.value.status == 422
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.rules[0].http.paths[0].path"]
    assert "quantifier inside a quantified group" in status["details"]["causes"][0]["message"]
