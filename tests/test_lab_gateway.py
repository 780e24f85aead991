"""The lab runs Gateway API: its Gateway controller pod, the GatewayClass it ships, a Gateway converted from the cafe
Ingress served through the Gateway's own NodePort (real kubectl, real curl, real nginx), the CLI's status/conf,
the three-hop trace through the Gateway's nginx, route conditions a learner debugs with, and the HTTPRoute
exercise. Everything runs in namespaces the test makes and deletes."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest
import yaml

from ingresslab.exercises import MultiHostRoutes
from ingresslab.gatewaylab import GatewayError
from ingresslab.trace import hop_table, send, trace

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "ingresslab" / "manifests"
NS = "gwtest"


def cli(lab, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ingresslab.cli", "--home", str(lab.home), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def cafe_gateway(lab, kubectl, tmp_path_factory):
    """The cafe apps and Ingress in namespace gwtest, and the Gateway + HTTPRoutes `ingresslab ingress2gateway`
    made of that Ingress, applied with the real kubectl."""
    kubectl("create", "namespace", NS)
    try:
        kubectl("apply", "-n", NS, "-f", str(MANIFESTS / "cafe.yaml"), "-f", str(MANIFESTS / "cafe-secret.yaml"))
        ingress = yaml.safe_load((MANIFESTS / "cafe-ingress-v1.yaml").read_text())
        ingress["metadata"]["namespace"] = NS
        source = tmp_path_factory.mktemp("i2g") / "cafe-ingress.yaml"
        source.write_text(yaml.safe_dump(ingress))
        converted = cli(lab, "ingress2gateway", "-f", str(source))
        assert converted.returncode == 0, converted.stderr
        kubectl("apply", "-f", "-", input=converted.stdout)
        lab.wait_rollout("coffee", "tea", namespace=NS)
        lab.gateway.wait_programmed("nginx", NS)
        for route in yaml.safe_load_all(converted.stdout):
            if route["kind"] == "HTTPRoute":
                lab.gateway.wait_route(route["metadata"]["name"], NS)
        yield converted.stdout
    finally:
        kubectl("delete", "namespace", NS, "--wait=false", check=False)


def test_a_fresh_lab_starts_its_gateway_controller_with_the_first_gateway_and_only_then(tmp_path, kubectl_path):
    """The controller's Deployment ships at 0 replicas (no 80 MB process until a Gateway needs it): its GatewayClass
    waits as its CRD's default status says, the first Gateway of the class scales it to 1 (an Event says which), and
    from then on the replicas are the operator's: scaled back to 0, a new Gateway does not wake it again."""
    from ingresslab import Lab
    from ingresslab.gateway.activator import ANNOTATION
    lab = Lab.up(tmp_path / "home")
    try:
        def k(*args: str) -> str:
            env = {"KUBECONFIG": str(lab.kubeconfig_path), "HOME": str(lab.home), "PATH": "/usr/bin:/bin"}
            proc = subprocess.run([kubectl_path, *args], capture_output=True, text=True, env=env, timeout=60)
            assert proc.returncode == 0, proc.stderr
            return proc.stdout

        def deployment() -> dict:
            return json.loads(k("get", "deployment", "nginx-gateway", "-n", "nginx-gateway", "-o", "json"))

        assert deployment()["spec"]["replicas"] == 0
        assert deployment()["metadata"]["annotations"][ANNOTATION] == "1"
        assert json.loads(k("get", "pods", "-n", "nginx-gateway", "-o", "json"))["items"] == []
        waiting = json.loads(k("get", "gatewayclass", "nginx", "-o", "json"))["status"]["conditions"]
        assert [(c["type"], c["status"], c["reason"]) for c in waiting] == [("Accepted", "Unknown", "Pending")]
        with pytest.raises(GatewayError, match="0 replicas and scales it up with the first Gateway"):
            lab.gateway.controller_status()
        gateway = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "first"},
                   "spec": {"gatewayClassName": "nginx", "listeners": [{"name": "http", "port": 80,
                                                                        "protocol": "HTTP"}]}}
        k("apply", "-f", str(_write(tmp_path / "first.yaml", gateway)))
        k("wait", "--for=condition=Programmed", "gateway/first", "--timeout=30s")
        k("wait", "--for=condition=Accepted", "gatewayclass/nginx", "--timeout=30s")
        woken = deployment()
        assert woken["spec"]["replicas"] == 1 and ANNOTATION not in (woken["metadata"].get("annotations") or {})
        events = json.loads(k("get", "events", "-n", "nginx-gateway", "--field-selector",
                              "reason=ScaledFromZero", "-o", "json"))["items"]
        assert [e["message"] for e in events] == [
            "Gateway default/first (class nginx) needs its controller: scaled from 0 to 1"]
        k("scale", "deployment", "nginx-gateway", "-n", "nginx-gateway", "--replicas=0")
        gateway["metadata"]["name"] = "second"
        k("apply", "-f", str(_write(tmp_path / "second.yaml", gateway)))
        lab.gateway._wait(lambda: not json.loads(k("get", "pods", "-n", "nginx-gateway", "-o", "json"))["items"],
                          15, "the controller's pod to go")
        assert deployment()["spec"]["replicas"] == 0
    finally:
        lab.down()


def _write(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_the_lab_runs_a_gateway_controller_and_ships_an_accepted_gateway_class(lab, kubectl):
    # As notebook 09 does: start the controller the lab ships at 0 replicas (a no-op once a Gateway woke it).
    kubectl("scale", "deployment", "nginx-gateway", "-n", "nginx-gateway", "--replicas=1")
    lab.gateway._wait(lambda: [p["status"].get("phase") for p in json.loads(kubectl(
        "get", "pods", "-n", "nginx-gateway", "-o", "json").stdout)["items"]] == ["Running"], 15, "its pod")
    pods = json.loads(kubectl("get", "pods", "-n", "nginx-gateway", "-o", "json").stdout)["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]
    assert pods[0]["spec"]["containers"][0]["image"].startswith("ghcr.io/nginx/nginx-gateway-fabric:")
    lab.gateway._wait(lambda: "True" in kubectl("get", "gatewayclass", "nginx").stdout, 15, "Accepted")
    table = kubectl("get", "gatewayclass", "nginx").stdout.split()
    assert table[:4] == ["NAME", "CONTROLLER", "ACCEPTED", "AGE"]
    assert table[4:7] == ["nginx", "ingresslab.dev/gateway-controller", "True"]


def test_converted_cafe_gateway_is_programmed_and_answers_through_its_nodeport(lab, kubectl, cafe_gateway):
    got = kubectl("get", "gateway", "-n", NS).stdout.splitlines()
    assert got[0].split() == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
    name, cls, address, programmed, _ = got[1].split()
    assert (name, cls, programmed) == ("nginx", "nginx", "True") and address.startswith("127.243.")
    services = json.loads(kubectl("get", "svc", "-n", NS, "-l", "gateway.networking.k8s.io/gateway-name=nginx",
                                  "-o", "json").stdout)["items"]
    assert len(services) == 1 and services[0]["spec"]["type"] == "NodePort"
    ports = {p["port"]: p["nodePort"] for p in services[0]["spec"]["ports"]}
    assert set(ports) == {80, 443}
    node = lab.status()["nodes"][0]["ip"]
    curl = shutil.which("curl")
    assert curl, "curl is needed for this test"
    https = subprocess.run([curl, "-sk", "--resolve", f"cafe.example.com:{ports[443]}:{node}",
                            f"https://cafe.example.com:{ports[443]}/coffee"], capture_output=True, text=True,
                           timeout=20)
    assert "Server name: coffee-" in https.stdout
    http = subprocess.run([curl, "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--resolve",
                           f"cafe.example.com:{ports[80]}:{node}", f"http://cafe.example.com:{ports[80]}/tea"],
                          capture_output=True, text=True, timeout=20)
    assert http.stdout == "308 https://cafe.example.com/tea"   # ssl-redirect became a RequestRedirect filter


def test_status_json_lists_the_gateway_and_conf_prints_its_nginx_conf(lab, cafe_gateway):
    status = json.loads(cli(lab, "status", "--json").stdout)
    mine = [g for g in status["gateways"] if g["name"] == f"{NS}/nginx"]
    assert len(mine) == 1 and mine[0]["programmed"] == "True"
    listeners = {item["port"]: item for item in mine[0]["listeners"]}
    assert listeners[80]["protocol"] == "HTTP" and listeners[443]["protocol"] == "HTTPS"
    assert all(isinstance(item["node_port"], int) and 30000 <= item["node_port"] <= 32767
               for item in listeners.values())
    conf = cli(lab, "conf", "--gateway", f"{NS}/nginx")
    assert conf.returncode == 0
    assert f"for Gateway {NS}/nginx" in conf.stdout and "server_name cafe.example.com;" in conf.stdout
    missing = cli(lab, "conf", "--gateway", f"{NS}/nope")
    assert missing.returncode == 1 and f"no nginx for {NS}/nope" in missing.stderr


def test_trace_follows_a_request_through_the_gateways_nginx(lab, cafe_gateway):
    response = send(lab, "cafe.example.com", "/tea", scheme="https", gateway=f"{NS}/nginx")
    assert response.status == 200 and (response.pod or "").startswith("tea-")
    hops = hop_table(trace(lab, response))
    assert [h["component"] for h in hops] == ["kube-proxy", "nginx", "pod"]
    assert hops[1]["where"] == f"Gateway {NS}/nginx"
    assert hops[1]["to"].startswith("127.243.")
    assert hops[2]["where"].startswith(f"{NS}/tea-")


def test_route_conditions_tell_a_missing_listener_hostname_and_a_missing_backend(lab, cafe_gateway):
    routes = [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "elsewhere", "namespace": NS},
               "spec": {"parentRefs": [{"name": "nginx"}], "hostnames": ["shop.example.com"],
                        "rules": [{"backendRefs": [{"name": "tea-svc", "port": 80}]}]}},
              {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "milk", "namespace": NS},
               "spec": {"parentRefs": [{"name": "nginx", "sectionName": "cafe-example-com-https"}],
                        "hostnames": ["cafe.example.com"],
                        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/milk"}}],
                                   "backendRefs": [{"name": "milk-svc", "port": 80}]}]}}]
    lab.apply(routes, namespace=NS)
    try:
        elsewhere = {r["type"]: r for r in lab.gateway.wait_route("elsewhere", NS)}
        assert (elsewhere["Accepted"]["status"], elsewhere["Accepted"]["reason"]) == \
            ("False", "NoMatchingListenerHostname")
        milk = {r["type"]: r for r in lab.gateway.wait_route("milk", NS)}
        assert milk["Accepted"]["status"] == "True"
        assert (milk["ResolvedRefs"]["status"], milk["ResolvedRefs"]["reason"]) == ("False", "BackendNotFound")
        assert send(lab, "cafe.example.com", "/milk", scheme="https", gateway=f"{NS}/nginx").status == 500
    finally:
        lab.delete(routes[0] | {"metadata": {"name": "elsewhere", "namespace": NS}})
        lab.delete(routes[1] | {"metadata": {"name": "milk", "namespace": NS}})


def test_the_httproute_exercise_passes_its_solution_and_explains_a_wrong_answer(lab):
    ex = MultiHostRoutes(lab)
    right = ex.check(ex.solution().yaml)
    assert right.passed, right
    wrong = ex.check(ex.solution().yaml.replace("name: forums-svc", "name: forum-svc"))
    assert not wrong.passed
    texts = [f.text for f in wrong.findings]
    assert any("BackendNotFound" in t and "forum-svc" in t for t in texts), texts
    assert [r.ok for r in wrong.requests] == [True, True, False, False, True]
    unreadable = ex.check("kind: Gateway\nmetadata: {name: x}\n")
    assert not unreadable.passed and "not an HTTPRoute" in unreadable.findings[0].text
    namespaces = [n.metadata.name for n in kubernetes.client.CoreV1Api(lab.api).list_namespace().items]
    assert not [n for n in namespaces if n.startswith("check-routes-")]


def test_a_deleted_gateway_takes_its_service_and_nginx_with_it(lab, kubectl, cafe_gateway):
    """Runs last in this module: the lab has no garbage collector, so the controller removes what it made."""
    kubectl("delete", "gateway", "nginx", "-n", NS)

    def gone():
        left = kubectl("get", "svc,endpointslice", "-n", NS, "-l", "gateway.networking.k8s.io/gateway-name=nginx",
                       "-o", "name").stdout.split()
        return not left and f"{NS}/nginx" not in (lab.gateway.controller_status().get("gateways") or {})
    lab.gateway._wait(gone, 15, "the Gateway's Service, EndpointSlice and nginx to go")
