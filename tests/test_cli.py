"""The `ingresslab` command as a learner uses it: up, status, kubeconfig, down, reset; labs side by side."""
from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

from polling import eventually

CLI = [sys.executable, "-m", "ingresslab.cli"]


def run(*args, home: Path, check=True):
    proc = subprocess.run([*CLI, "--home", str(home), *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"ingresslab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def listening_sockets_of(pid: int) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"pid={pid}," in line]


def test_up_status_down_leaves_nothing_behind(tmp_path):
    home = tmp_path / "h"
    try:
        _check_up_status_down(home)
    finally:
        run("down", home=home, check=False)


def _check_up_status_down(home):
    up = run("up", home=home)
    assert "Ready" in up.stderr
    status = json.loads(run("status", "--json", home=home).stdout)
    assert status["running"] and status["api"].startswith("https://127.0.0.1:")
    assert [n["name"] for n in status["nodes"]] == ["node-1", "node-2"]
    kubeconfig = Path(run("kubeconfig", home=home).stdout.strip())
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    pid = status["pid"]
    for line in listening_sockets_of(pid):
        local = line.split()[3]
        assert local.startswith("127."), f"something listens outside loopback: {line}"
    # `up` again reuses the running lab.
    again = run("up", home=home)
    assert "already running" in again.stderr
    assert json.loads(run("status", "--json", home=home).stdout)["pid"] == pid
    run("down", home=home)
    assert run("status", home=home, check=False).returncode == 3
    from ingresslab.home import pid_alive
    assert not pid_alive(pid)   # gone (or a zombie waiting for init to reap it)


def test_two_labs_with_different_homes_run_side_by_side(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    try:
        run("up", home=a)
        run("up", home=b)
        sa = json.loads(run("status", "--json", home=a).stdout)
        sb = json.loads(run("status", "--json", home=b).stdout)
        assert sa["api"] != sb["api"]
        assert {n["ip"] for n in sa["nodes"]}.isdisjoint({n["ip"] for n in sb["nodes"]})
    finally:
        run("down", home=a, check=False)
        run("down", home=b, check=False)


def test_down_then_up_keeps_objects_and_reset_clears_them(tmp_path):
    from ingresslab import Lab
    import kubernetes
    home = tmp_path / "p"
    lab = Lab.up(home)
    try:
        lab.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\ndata:\n  a: b\n")
        lab.apply(Path(__file__).resolve().parent.parent / "manifests" / "cafe.yaml")
        core = kubernetes.client.CoreV1Api(lab.api)
        eventually(lambda: len([p for p in core.list_namespaced_pod("default").items if p.status.phase == "Running"]) == 5)
        lab.down()
        lab = Lab.up(home)
        core = kubernetes.client.CoreV1Api(lab.api)
        assert core.read_namespaced_config_map("keep", "default").data == {"a": "b"}
        pods = [p for p in core.list_namespaced_pod("default").items if p.status.phase == "Running"]
        assert len(pods) == 5
        with socket.create_connection((pods[0].status.pod_ip, 8080), timeout=2):
            pass   # the pod's server is back on its address
    finally:
        lab.down()
    run("reset", home=home)
    lab = Lab.up(home)
    try:
        names = [c.metadata.name for c in kubernetes.client.CoreV1Api(lab.api).list_namespaced_config_map("default").items]
        assert "keep" not in names
    finally:
        lab.down()


def test_status_without_a_lab_says_how_to_start_one(tmp_path):
    out = run("status", home=tmp_path / "none", check=False)
    assert out.returncode == 3 and "ingresslab up" in out.stdout


def test_iptables_prints_kube_proxy_chains(lab):
    proc = subprocess.run([*CLI, "--home", str(lab.home), "iptables"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "*nat" in proc.stdout and ":KUBE-SERVICES - [0:0]" in proc.stdout and "COMMIT" in proc.stdout


def test_status_json_names_the_ingress_controllers_node_ports(lab):
    status = json.loads(run("status", "--json", home=lab.home).stdout)
    ingress = status["ingress"]
    assert 30000 <= ingress["http_nodeport"] <= 32767 and 30000 <= ingress["https_nodeport"] <= 32767
    assert "reloads" in ingress and ingress["mode"]


def test_conf_prints_the_live_nginx_conf(lab):
    out = run("conf", home=lab.home).stdout
    assert out.startswith("# nginx.conf written by ingresslab")
    assert "# Configuration checksum: " in out and "server_name _;" in out


def test_controller_render_only_prints_the_config_for_any_clusters_ingresses(lab):
    lab.apply("""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: render-only-check}
spec:
  ingressClassName: nginx
  rules:
  - host: render.example.com
    http:
      paths:
      - {path: /x, pathType: Prefix, backend: {service: {name: nothing-here, port: {number: 80}}}}
""")
    try:
        proc = subprocess.run([*CLI, "controller", "--kubeconfig", str(lab.kubeconfig_path), "--render-only"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "server_name render.example.com;" in proc.stdout and 'location "/x/"' in proc.stdout
    finally:
        lab.delete("Ingress", "render-only-check")


def test_demo_runs_the_cafe_story_and_saves_the_three_hop_picture_under_the_home(tmp_path):
    home, where = tmp_path / "demo-home", tmp_path / "a-checkout"
    where.mkdir()
    try:
        proc = subprocess.run([*CLI, "--home", str(home), "demo", "--auto"], cwd=where,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "$ kubectl apply -f" in proc.stdout and "Server name: coffee-" in proc.stdout
        assert "curl: (60) SSL certificate problem" in proc.stdout     # the step that explains --insecure
        picture = home / "demo" / "three-hops.svg"
        assert f"The picture of this request is in {picture.resolve()}" in proc.stdout
        assert list(where.iterdir()) == []                              # nothing written where it was run
        svg = picture.read_text().replace("&#45;", "-")                 # graphviz escapes hyphens
        assert "<svg" in svg and "kube-proxy" in svg and "nginx" in svg
    finally:
        run("down", home=home, check=False)


def test_a_restarted_lab_keeps_its_addresses_and_api_port(tmp_path):
    home = tmp_path / "same"
    try:
        run("up", home=home)
        first = json.loads(run("status", "--json", home=home).stdout)
        run("down", home=home)
        run("up", home=home)
        again = json.loads(run("status", "--json", home=home).stdout)
        assert (again["api"], again["nodes"]) == (first["api"], first["nodes"])
    finally:
        run("down", home=home, check=False)
