"""nginx.py with the real nginx: routing as Ingress defines it, reloads only when needed, endpoints without
reload, a broken candidate never replacing a good config, injection canaries staying inert, and no process
or port left behind."""
from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from ingresslab.ingress.model import (DEFAULT_BACKEND_NAME, Backend, Certificate, Configuration, Endpoint,
                                      Location, Server, Settings, TCPService, upstream_name)
from ingresslab.ingress.nginx import NginxError, NginxProcess, lua_available
from ingresslab.ingress.nginx_os import group_members, workers_of

pytestmark = pytest.mark.skipif(not lua_available(), reason="needs nginx with libnginx-mod-http-lua")


def svc(name: str, *pods, port=80, **kw) -> Backend:
    return Backend(upstream_name("default", name, port), "default", name, port,
                   tuple(Endpoint(p.ip, p.port) for p in pods), **kw)


def at(path: str, path_type: str, backend: Backend, **kw) -> Location:
    return Location(path, path_type, backend.name, "default/test", f"default/{backend.service}:80", **kw)


def site(listen, servers, backends, **kw) -> Configuration:
    ip, http_port, https_port = listen
    return Configuration(servers=tuple(servers), backends=tuple(backends), listen_address=ip,
                         http_port=http_port, https_port=https_port, **kw)


@pytest.fixture
def get(http, listen):
    """get(path, host) → the reply from our nginx over plain HTTP."""
    ip, http_port, _ = listen
    return lambda path, host, **kw: http(ip, http_port, path, host=host, **kw)


# ---- routing ----------------------------------------------------------------------------------------------------

def test_paths_route_as_the_ingress_spec_says(nginx, backends, listen, get):
    root, aaa, exact, bbb, foo = (backends(n) for n in ("root", "aaa", "exact", "bbb", "foo"))
    b = {p.name: svc(p.name, p) for p in (root, aaa, exact, bbb, foo)}
    host = Server("paths.test", (at("/", "Prefix", b["root"]), at("/aaa", "Prefix", b["aaa"]),
                                 at("/aaa", "Exact", b["exact"]), at("/aaa/bbb", "Prefix", b["bbb"]),
                                 at("/foo/", "Exact", b["foo"])))
    assert nginx.apply(site(listen, [host], b.values())).ok
    expected = {"/": "root", "/x": "root", "/aaa": "exact", "/aaa/": "aaa", "/aaa/ccc": "aaa", "/aaaxyz": "root",
                "/aaa/bbb": "bbb", "/aaa/bbb/": "bbb", "/aaa/bbb/ccc": "bbb", "/aaa/bbbxyz": "aaa",
                "/foo/": "foo", "/foo": "root", "/AAA": "root"}
    assert {path: get(path, "paths.test").name for path in expected} == expected
    assert get("/aaa", "paths.test:1234").name == "exact"  # the port in Host is ignored


def test_wildcard_hosts_match_exactly_one_label_and_unknown_hosts_get_404(nginx, backends, listen, get):
    wild, exact = backends("wild"), backends("exact")
    servers = [Server("*.foo.test", (at("/", "Prefix", svc("wild", wild)),)),
               Server("bar.foo.test", (at("/", "Prefix", svc("exact", exact)),))]
    assert nginx.apply(site(listen, servers, [svc("wild", wild), svc("exact", exact)])).ok
    assert get("/", "baz.foo.test").name == "wild"
    assert get("/", "bar.foo.test").name == "exact"  # an exact host beats the wildcard
    assert get("/", "a.baz.foo.test").status == 404
    assert get("/", "foo.test").status == 404
    assert get("/", "other.test").status == 404


def test_requests_no_rule_matches_go_to_the_default_backend(nginx, backends, listen, get):
    default, app = backends("default-backend"), backends("app")
    d = Backend(DEFAULT_BACKEND_NAME, "ingress-nginx", "default-http-backend", 80,
                (Endpoint(default.ip, default.port),))
    host = Server("app.test", (at("/app", "Prefix", svc("app", app)),))
    assert nginx.apply(site(listen, [host], [d, svc("app", app)], default_backend=DEFAULT_BACKEND_NAME)).ok
    assert get("/app/x", "app.test").name == "app"
    assert get("/other", "app.test").name == "default-backend"
    assert get("/", "unknown.test").name == "default-backend"


def test_tls_is_chosen_by_sni_and_http_is_redirected_with_308(nginx, backends, listen, http, certificate):
    ip, http_port, https_port = listen
    cafe, plain = backends("cafe"), backends("plain")
    servers = [Server("cafe.test", (at("/coffee", "Prefix", svc("cafe", cafe)),
                                    at("/open", "Prefix", svc("cafe", cafe), ssl_redirect=False)),
                      tls_secret="default/cafe-secret"),
               Server("plain.test", (at("/", "Prefix", svc("plain", plain)),
                                     at("/secure", "Prefix", svc("plain", plain), force_ssl_redirect=True)))]
    config = site(listen, servers, [svc("cafe", cafe), svc("plain", plain)],
                  certificates=(Certificate("default/cafe-secret", certificate("cafe.test")),))
    assert nginx.apply(config).ok
    redirect = http(ip, http_port, "/coffee?x=1", host="cafe.test")
    assert (redirect.status, redirect.headers["location"]) == (308, "https://cafe.test/coffee?x=1")
    secure = http(ip, https_port, "/coffee", host="cafe.test", https=True)
    assert (secure.status, secure.name, secure.peer_cn) == (200, "cafe", "cafe.test")
    assert secure.json["headers"]["x-forwarded-proto"] == "https"
    assert http(ip, http_port, "/open", host="cafe.test").name == "cafe"  # ssl-redirect: "false"
    other = http(ip, https_port, "/", host="plain.test", https=True)
    assert (other.name, other.peer_cn) == ("plain", "Kubernetes Ingress Controller Fake Certificate")
    assert http(ip, http_port, "/", host="plain.test").name == "plain"  # no certificate: no redirect
    assert http(ip, http_port, "/secure", host="plain.test").status == 308  # force-ssl-redirect


def test_the_default_certificate_is_ingress_nginx_fake_one_with_the_openssl_command_or_without():
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from ingresslab.ingress.nginx_os import _self_signed_pem_in_process, self_signed_pem
    assert shutil.which("openssl"), "the openssl command is expected beside nginx here"
    made = [x509.load_pem_x509_certificate(pem.encode()) for pem in (self_signed_pem(), _self_signed_pem_in_process())]
    for cert in made:
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
            "Kubernetes Ingress Controller Fake Certificate"
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Co"
        assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName) == ["ingress.local"]
        assert cert.subject == cert.issuer


def test_nginx_sends_http_1_1_request_ids_and_forwarded_headers(nginx, backends, listen, get):
    app = backends("app")
    assert nginx.apply(site(listen, [Server("app.test", (at("/", "Prefix", svc("app", app)),))],
                            [svc("app", app)])).ok
    seen = get("/x?y=1", "app.test", headers={"Upgrade": "websocket", "Connection": "Upgrade"}).json
    h = seen["headers"]
    assert seen["version"] == "HTTP/1.1"
    assert len(h["x-request-id"]) == 32 and int(h["x-request-id"], 16) >= 0
    assert (h["x-forwarded-for"], h["x-real-ip"], h["x-forwarded-host"]) == ("127.0.0.1", "127.0.0.1", "app.test")
    assert (h["upgrade"], h["connection"]) == ("websocket", "upgrade")
    assert get("/", "app.test", headers={"X-Request-ID": "abc123"}).json["headers"]["x-request-id"] == "abc123"
    wanted = (f"upstream=default-app-80 upstream_addr={app.ip}:{app.port}", "req_id=abc123")
    deadline = time.monotonic() + 5  # nginx writes the log line just after the response has gone out
    while not all(w in (nginx.dir / "logs" / "access.log").read_text() for w in wanted):
        assert time.monotonic() < deadline, (nginx.dir / "logs" / "access.log").read_text()
        time.sleep(0.01)


def test_rewrite_target_body_size_and_https_backends(nginx, backends, listen, get, certificate, tmp_path):
    pem = tmp_path / "backend.pem"
    pem.write_text(certificate("api.internal"))
    api, small, secure = backends("api"), backends("small"), backends("secure", tls_pem=pem)
    b = [svc("api", api), svc("small", small), svc("secure", secure, protocol="HTTPS")]
    host = Server("shop.test", (at("/api(/|$)(.*)", "ImplementationSpecific", b[0], rewrite_target="/$2"),
                                at("/small", "Prefix", b[1], proxy_body_size="1k"),
                                at("/secure", "Prefix", b[2], backend_protocol="HTTPS")))
    assert nginx.apply(site(listen, [host], b)).ok
    rewritten = get("/api/users?id=7", "shop.test").json
    assert (rewritten["name"], rewritten["path"]) == ("api", "/users?id=7")
    assert rewritten["headers"]["x-original-uri"] == "/api/users?id=7"
    assert get("/small", "shop.test", method="POST", body=b"x" * 500).name == "small"
    assert get("/small", "shop.test", method="POST", body=b"x" * 3000).status == 413
    assert get("/secure/x", "shop.test").name == "secure"


# ---- endpoints, reloads and bad candidates ---------------------------------------------------------------------

def test_endpoint_changes_reach_lua_without_a_reload(nginx, backends, listen, get):
    a, b = backends("pod-a"), backends("pod-b")
    config = site(listen, [Server("app.test", (at("/", "Prefix", svc("app", a)),))], [svc("app", a)])
    assert nginx.apply(config).action == "started"
    master, workers = nginx.pid, set(workers_of(nginx.pid))
    assert get("/", "app.test").name == "pod-a"
    updates = nginx.endpoint_updates
    outcome = nginx.apply(dataclasses.replace(config, backends=(svc("app", b),)), reason="pod-a replaced")
    assert (outcome.action, nginx.reloads, nginx.endpoint_updates) == ("unchanged", 0, updates + 1)
    assert get("/", "app.test").name == "pod-b"
    nginx.push_endpoints([svc("app", a, b)])
    assert sorted(get("/", "app.test").name for _ in range(4)) == ["pod-a", "pod-a", "pod-b", "pod-b"]
    assert {e["address"] for e in nginx.backends()[0]["endpoints"]} == {a.ip, b.ip}
    nginx.push_endpoints([svc("app")])
    assert get("/", "app.test").status == 503  # a Service without endpoints, as ingress-nginx answers
    assert (nginx.pid, set(workers_of(nginx.pid)), nginx.reloads) == (master, workers, 0)


def test_a_new_rule_reloads_once_and_the_same_model_does_not(nginx, backends, listen, get):
    a = backends("a")
    config = site(listen, [Server("app.test", (at("/a", "Prefix", svc("a", a)),))], [svc("a", a)])
    nginx.apply(config)
    assert nginx.apply(config).action == "unchanged" and nginx.reloads == 0
    changed = dataclasses.replace(config, servers=(Server("app.test", (at("/b", "Prefix", svc("a", a)),)),))
    outcome = nginx.apply(changed, reason="Ingress default/test changed")
    assert (outcome.ok, outcome.action, nginx.reloads) == (True, "reloaded", 1)
    assert nginx.last_reload_reason == "Ingress default/test changed" and nginx.checksum == changed.checksum()
    assert (get("/b", "app.test").name, get("/a", "app.test").status) == ("a", 404)
    assert [e.action for e in nginx.history] == ["started", "reloaded"]
    assert f"# Configuration checksum: {changed.checksum()}" in (nginx.dir / "nginx.conf").read_text()


def test_static_upstreams_reload_when_endpoints_change(nginx, backends, listen, get):
    a, b = backends("a"), backends("b")
    config = site(listen, [Server("app.test", (at("/", "Prefix", svc("app", a)),))], [svc("app", a)], lua=False)
    nginx.apply(config)
    assert get("/", "app.test").name == "a"
    assert nginx.apply(dataclasses.replace(config, backends=(svc("app", b),))).action == "reloaded"
    assert get("/", "app.test").name == "b"
    assert nginx.apply(dataclasses.replace(config, backends=(svc("app"),))).action == "reloaded"
    assert get("/", "app.test").status == 503
    with pytest.raises(NginxError):
        nginx.push_endpoints([svc("app", a)])


@pytest.mark.parametrize("breakage", ["settings", "certificate", "unsafe"])
def test_a_broken_candidate_keeps_the_last_good_config_serving(nginx, backends, listen, get, breakage):
    a = backends("a")
    good = site(listen, [Server("app.test", (at("/", "Prefix", svc("app", a)),))], [svc("app", a)])
    nginx.apply(good)
    bad = {"settings": dataclasses.replace(good, settings=Settings(proxy_body_size="99999999999999999999g")),
           "certificate": dataclasses.replace(good, servers=(dataclasses.replace(
               good.servers[0], tls_cert_file=str(nginx.dir / "missing.pem")),)),
           "unsafe": dataclasses.replace(good, servers=(Server("app.test", (at("/a\nb", "Prefix", svc("app", a)),)),))
           }[breakage]
    outcome = nginx.apply(bad)
    assert (outcome.ok, outcome.action) == (False, "rejected")
    assert {"settings": "client_max_body_size", "certificate": "missing.pem", "unsafe": "control characters"}[
        breakage] in outcome.error
    assert (nginx.reloads, nginx.checksum) == (0, good.checksum())
    assert get("/", "app.test").name == "a"
    assert f"# Configuration checksum: {good.checksum()}" in (nginx.dir / "nginx.conf").read_text()


def test_a_reload_nginx_refuses_is_reported_and_the_old_config_keeps_serving(nginx, backends, listen, get):
    a = backends("a")
    good = site(listen, [Server("app.test", (at("/", "Prefix", svc("app", a)),))], [svc("app", a)])
    nginx.apply(good)
    with socket.create_server((listen[0], 0)) as squatter:  # `nginx -t` cannot see that a port is taken
        outcome = nginx.apply(dataclasses.replace(good, https_port=squatter.getsockname()[1]))
    assert (outcome.ok, outcome.action) == (False, "failed") and "Address already in use" in outcome.error
    assert (nginx.reloads, nginx.checksum, get("/", "app.test").name) == (0, good.checksum(), "a")
    assert f"# Configuration checksum: {good.checksum()}" in (nginx.dir / "nginx.conf").read_text()


def test_a_start_nginx_refuses_is_reported_and_leaves_nothing_running(nginx, listen):
    with socket.create_server((listen[0], listen[1])):
        outcome = nginx.apply(site(listen, [], []))
    assert (outcome.ok, outcome.action, nginx.running) == (False, "failed", False)
    assert "Address already in use" in outcome.error
    assert nginx.apply(site(listen, [], [])).action == "started"  # the port is free again


CANARIES = ['/c"; return 200 "pwned"; #', "/c;}server{return 200 pwned;}", "/c$host{}", "/c\\\";return 200 pwned;#",
            "/c' return 200 'pwned"]


def test_injection_canaries_stay_inert_text(nginx, backends, listen, get):
    app, canary = backends("app"), backends("canary")
    locations = [at("/", "Prefix", svc("app", app))] + [at(p, "Prefix", svc("canary", canary)) for p in CANARIES]
    assert nginx.apply(site(listen, [Server("app.test", tuple(locations))], [svc("app", app),
                                                                               svc("canary", canary)])).ok
    for path in CANARIES:  # each weird path is one literal location that routes where it should
        assert get(urllib.parse.quote(path, safe="/"), "app.test").name == "canary", path
    for path in ("/", "/c", "/x", "/pwned"):  # had any canary become a directive, this would say "pwned"
        reply = get(path, "app.test")
        assert reply.body != b"pwned" and reply.name == "app"
    for server in (Server('x.test;\nreturn 200 "pwned"', (locations[0],)),
                   Server("app.test", (dataclasses.replace(locations[0], ingress="default/x\nreturn 200 pwned;"),))):
        outcome = nginx.apply(site(listen, [server], [svc("app", app)]))
        assert outcome.action == "rejected"
        assert get("/", "app.test").name == "app"


def test_tcp_services_forward_bytes_through_the_stream_block(nginx, listen):
    echo = socket.create_server((listen[0], 0))
    threading.Thread(target=lambda: _echo_once(echo), daemon=True).start()
    tcp_port = _free_port()
    backend = Backend("default-echo-7", "default", "echo", 7, (Endpoint(*echo.getsockname()),))
    assert nginx.apply(site(listen, [], [backend], tcp_services=(TCPService(tcp_port, backend.name),))).ok
    with socket.create_connection((listen[0], tcp_port), timeout=5) as client:
        client.sendall(b"hello stream")
        assert client.recv(100) == b"hello stream"
    echo.close()


def _echo_once(server: socket.socket) -> None:
    connection, _ = server.accept()
    with connection:
        connection.sendall(connection.recv(100))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- process supervision ---------------------------------------------------------------------------------------

def test_the_watchdog_restarts_a_killed_nginx_with_the_last_good_config(nginx, backends, listen, get):
    a = backends("a")
    nginx.apply(site(listen, [Server("app.test", (at("/", "Prefix", svc("app", a)),))], [svc("app", a)]))
    assert nginx.watchdog() is False
    old = nginx.pid
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while nginx.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert nginx.watchdog() is True
    assert nginx.pid != old and group_members(old) == [] and nginx.restarts == 1
    assert get("/", "app.test").name == "a"  # config and endpoints are back


def test_stop_leaves_no_process_and_no_bound_port(tmp_path, backends, listen, http):
    a = backends("a")
    nginx = NginxProcess(tmp_path / "home")
    nginx.apply(site(listen, [Server("app.test", (at("/", "Prefix", svc("app", a)),))], [svc("app", a)]))
    master = nginx.pid
    assert http(listen[0], listen[1], "/", host="app.test").name == "a"
    nginx.stop()
    assert group_members(master) == []
    assert subprocess.run(["pgrep", "-f", str(tmp_path / "home")], capture_output=True).stdout == b""
    for port in listen[1:]:
        with socket.socket() as s:
            s.bind((listen[0], port))  # would fail while anything still listened there
    assert not (nginx.dir / "run" / "config.sock").exists()


def test_nginx_dies_with_its_owner_even_on_sigkill(tmp_path, listen):
    script = textwrap.dedent(f"""
        import sys, threading, time
        from pathlib import Path
        from ingresslab.ingress.model import Configuration
        from ingresslab.ingress.nginx import NginxProcess
        n = NginxProcess(Path({str(tmp_path / 'home')!r}))
        # apply from a short-lived thread: nginx must still outlive that thread, and only that thread
        t = threading.Thread(target=n.apply, args=(Configuration(listen_address={listen[0]!r},
                             http_port={listen[1]}, https_port={listen[2]}),))
        t.start(); t.join()
        print(n.pid, flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    master = int(owner.stdout.readline())
    owner.stdout.close()
    time.sleep(0.3)
    assert group_members(master), "nginx died when the thread that applied the config ended"
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while group_members(master) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(master) == []


def _worker_uid(master: int) -> int:
    (worker,) = workers_of(master)
    with open(f"/proc/{worker}/status") as status:
        return int(status.read().split("Uid:")[1].split()[0])


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand workers to another user")
def test_as_root_workers_run_unprivileged_and_still_buffer_bodies(tmp_path, backends, listen, get):
    """As the article's controller (uid 33): workers are www-data (nobody where absent), even in a home of root's
    behind 0700 directories, and a body too big for memory is still buffered (in the workers' own temp dir)."""
    from ingresslab.ingress.nginx import worker_account
    tmp_path.chmod(0o700)
    app = backends("app")
    with NginxProcess(tmp_path / "home") as nginx:
        assert nginx.apply(site(listen, [Server("app.test", (at("/", "Prefix", svc("app", app)),))],
                                [svc("app", app)])).ok
        assert _worker_uid(nginx.pid) == worker_account().pw_uid != 0
        assert "user www-data" in nginx.conf() or "user nobody" in nginx.conf()
        big = get("/", "app.test", method="POST", body=b"x" * 200_000)
        assert (big.name, big.json["body_length"]) == ("app", 200_000)
        worker_tmp = Path(nginx.paths.temp_dir)
        assert worker_tmp.stat().st_uid == worker_account().pw_uid
    assert not worker_tmp.exists()   # removed with nginx


NON_ROOT_SCRIPT = """
import sys, threading, types, http.server, urllib.request
from pathlib import Path
# The venv's interpreter lives under root's private home: load only ingresslab.ingress with the system python.
package = types.ModuleType("ingresslab"); package.__path__ = [sys.argv[2]]; sys.modules["ingresslab"] = package
from ingresslab.ingress.model import Backend, Configuration, Endpoint, Location, Server
from ingresslab.ingress.nginx import NginxProcess

class Pod(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"pod")
    def log_message(self, *args): pass

pod = http.server.ThreadingHTTPServer((sys.argv[3], 0), Pod)
threading.Thread(target=pod.serve_forever, daemon=True).start()
backend = Backend("d-pod-80", "d", "pod", 80, (Endpoint(sys.argv[3], pod.server_address[1]),))
with NginxProcess(Path(sys.argv[1])) as nginx:
    config = Configuration(servers=(Server("a.test", (Location("/", "Prefix", backend.name),)),),
                           backends=(backend,), listen_address=sys.argv[4], http_port=int(sys.argv[5]),
                           https_port=int(sys.argv[6]))
    outcome = nginx.apply(config)
    assert outcome.ok, outcome.error
    request = urllib.request.Request(f"http://{sys.argv[4]}:{sys.argv[5]}/", headers={"Host": "a.test"})
    print(urllib.request.urlopen(request).read().decode(), "user" in nginx.conf().split("events")[0])
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser") or not os.path.exists("/usr/bin/python3"),
                    reason="needs root to become another user, runuser and the system python")
def test_a_non_root_user_runs_nginx_with_lua(listen, traversable_checkout):
    import ingresslab
    parent = Path(tempfile.mkdtemp(prefix="ingresslab-test-"))
    try:
        parent.chmod(0o755)
        nobody = pwd.getpwnam("nobody")
        os.chown(parent, nobody.pw_uid, nobody.pw_gid)
        package = str(Path(ingresslab.__file__).parent)
        pod_ip = listen[0].rsplit(".", 1)[0] + ".250"
        result = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", NON_ROOT_SCRIPT,
                                 str(parent / "home"), package, pod_ip, *map(str, listen)],
                                capture_output=True, text=True, timeout=60)
        if "No module named 'cryptography'" in result.stderr and not os.environ.get("CI"):
            pytest.skip("the system python has no cryptography (apt: python3-cryptography)")   # in CI: a failure
        assert result.stdout.split() == ["pod", "False"], result.stderr  # served, and no `user` directive
    finally:
        shutil.rmtree(parent)
