"""API abuse proof: malformed requests straight over HTTPS get a Kubernetes Status error — never a 500, never a
traceback, never a hang — and the API process survives every one of them.

Requests are written by hand (http.client over TLS, the bearer token from the kubeconfig, the lab's CA from
`<home>/pki/ca.crt`), so nothing a client library would smooth over is smoothed: truncated and non-UTF-8 JSON,
NaN and 1e400, documents nested 100,000 deep, YAML alias bombs, wrong types (`spec: "x"`, `replicas: "two"`,
`ports: {}`, labels as a list), bodies over 3 MiB (413), broken JSON/merge/strategic patches and unsupported patch
types, unknown fields, wrong apiVersion/kind, `../` in names and namespaces, invalid names, unknown resources and
subresources, HEAD/OPTIONS/unknown methods, missing and wrong tokens, selector and watch-parameter garbage. After
each request `GET /version` must answer and the lab's pid must be the one it started with. Finally slow clients
(slowloris-style partial headers and bodies) must not stop the API from answering everyone else.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass

import pytest
import yaml

from .conftest import own_lab

NS = "/api/v1/namespaces/default"
CM = f"{NS}/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
INGRESS = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
MERGE, JSONPATCH, SMP = ("application/merge-patch+json", "application/json-patch+json",
                         "application/strategic-merge-patch+json")


@dataclass
class Api:
    """The lab's API endpoint, its CA and token; `call()` sends exactly what it is given."""

    host: str
    port: int
    context: ssl.SSLContext
    token: str

    def call(self, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None, *,
             token: str | None = "default", timeout: float = 60.0) -> tuple[int, dict, bytes, float]:
        connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)
        sent = {**({"Authorization": f"Bearer {self.token if token == 'default' else token}"} if token else {}),
                **(headers or {})}
        started = time.monotonic()
        try:
            connection.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=sent)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(),
                    time.monotonic() - started)
        finally:
            connection.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with own_lab(tmp_path_factory, "abuse-lab") as the_lab:
        yield the_lab


@pytest.fixture(scope="module")
def api(lab) -> Api:
    config = yaml.safe_load(lab.kubeconfig_path.read_text())
    host, port = lab.status()["api"].rsplit("//", 1)[1].rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(lab.home / "pki" / "ca.crt"))
    the_api = Api(host, int(port), context, config["users"][0]["user"]["token"])
    status, _, body, _ = the_api.call("POST", CM, json.dumps({"metadata": {"name": "target"}, "data": {"k": "v"}}))
    assert status == 201, body
    return the_api


@pytest.fixture(scope="module")
def lab_pid(lab) -> int:
    return lab.status()["pid"]


def deployment(**spec) -> str:
    base = {"replicas": 1, "selector": {"matchLabels": {"app": "abuse"}},
            "template": {"metadata": {"labels": {"app": "abuse"}},
                         "spec": {"containers": [{"name": "c", "image": "nginxdemos/hello:plain-text"}]}}}
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "abuse"},
                       "spec": {**base, **spec}})


def ingress_with(spec) -> str:
    return json.dumps({"metadata": {"name": "abuse"}, "spec": spec})


BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
"""A YAML "billion laughs": 300 bytes that expand to 10^9 strings."""

BIG = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024 + 100)}})

# label, method, path, body, headers, statuses allowed
CASES = [
    ("truncated JSON", "POST", CM, '{"metadata": {"name": "x"', {}, {400}),
    ("not JSON", "POST", CM, "hello", {}, {400}),
    ("not UTF-8", "POST", CM, b'{"metadata": {"name": "\xff\xfe"}}', {}, {400}),
    ("a JSON array", "POST", CM, "[1, 2]", {}, {400}),
    ("JSON null", "POST", CM, "null", {}, {400}),
    ("empty body", "POST", CM, "", {}, {400}),
    ("nested 100,000 deep", "POST", CM, "[" * 100_000 + "]" * 100_000, {}, {400}),
    ("an object nested 5,000 deep", "POST", CM, '{"metadata": {"name": "d"}, "x": ' + '{"a": ' * 5000 + "1"
     + "}" * 5000 + "}", {}, {400}),
    ("NaN", "POST", DEPLOY, deployment(replicas=float("nan")), {}, {400}),
    ("1e400", "POST", CM, '{"metadata": {"name": "n"}, "x": 1e400}', {}, {400}),
    ("spec: \"x\"", "POST", DEPLOY, json.dumps({"metadata": {"name": "abuse"}, "spec": "x"}), {}, {400, 422}),
    ("replicas: \"two\"", "POST", DEPLOY, deployment(replicas="two"), {}, {400, 422}),
    ("replicas: true", "POST", DEPLOY, deployment(replicas=True), {}, {400, 422}),
    ("replicas: 1.5", "POST", DEPLOY, deployment(replicas=1.5), {}, {400, 422}),
    ("ports: {}", "POST", f"{NS}/services", json.dumps({"metadata": {"name": "abuse"}, "spec": {"ports": {}}}),
     {}, {400, 422}),
    ("port: \"eighty\"", "POST", f"{NS}/services", json.dumps({"metadata": {"name": "abuse"}, "spec": {
        "ports": [{"port": "eighty"}]}}), {}, {400, 422}),
    ("metadata: \"x\"", "POST", CM, json.dumps({"metadata": "x"}), {}, {400}),
    ("metadata: null", "POST", CM, json.dumps({"metadata": None}), {}, {400, 422}),
    ("PUT with metadata: null", "PUT", f"{CM}/target", json.dumps({"metadata": None, "data": {"k": "v"}}), {},
     {200, 400, 422}),
    ("Deployment spec: null", "POST", DEPLOY, json.dumps({"metadata": {"name": "abuse"}, "spec": None}), {},
     {400, 422}),
    ("Service spec: null", "POST", f"{NS}/services", json.dumps({"metadata": {"name": "abuse"}, "spec": None}), {},
     {400, 422}),
    ("Ingress spec: null", "POST", INGRESS, ingress_with(None), {}, {400, 422}),
    ("Ingress rule null", "POST", INGRESS, ingress_with({"rules": [None]}), {}, {201, 400, 422}),
    ("Ingress path null", "POST", INGRESS, ingress_with({"rules": [{"host": "a.test", "http": {"paths": [None]}}]}),
     {}, {400, 422}),
    ("container null", "POST", DEPLOY, deployment(template={"metadata": {"labels": {"app": "abuse"}},
                                                            "spec": {"containers": [None]}}), {}, {400, 422}),
    ("Service port null", "POST", f"{NS}/services", json.dumps({"metadata": {"name": "abuse"}, "spec": {
        "ports": [None]}}), {}, {400, 422}),
    ("labels as a list", "POST", CM, json.dumps({"metadata": {"name": "l", "labels": ["a"]}}), {}, {400, 422}),
    ("annotation value a number", "POST", CM, json.dumps({"metadata": {"name": "l", "annotations": {"a": 1}}}),
     {}, {400, 422}),
    ("name a number", "POST", CM, json.dumps({"metadata": {"name": 5}}), {}, {400, 422}),
    ("data as a list", "POST", CM, json.dumps({"metadata": {"name": "l"}, "data": [1]}), {}, {400, 422}),
    ("Ingress spec a list", "POST", INGRESS, ingress_with([]), {}, {400, 422}),
    ("Ingress rules a string", "POST", INGRESS, ingress_with({"rules": "x"}), {}, {400, 422}),
    ("Ingress paths an object", "POST", INGRESS, ingress_with({"rules": [{"host": "a.test", "http": {
        "paths": {"a": 1}}}]}), {}, {400, 422}),
    ("Ingress host a number", "POST", INGRESS, ingress_with({"rules": [{"host": 5}]}), {}, {400, 422}),
    ("body over 3 MiB (POST)", "POST", CM, BIG, {}, {413}),
    ("body over 3 MiB (PUT)", "PUT", f"{CM}/target", BIG, {}, {413}),
    ("body over 3 MiB (PATCH)", "PATCH", f"{CM}/target", BIG, {"Content-Type": MERGE}, {413}),
    ("json-patch unknown op", "PATCH", f"{CM}/target", '[{"op": "frobnicate", "path": "/data/k"}]',
     {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch not a list", "PATCH", f"{CM}/target", '{"op": "add"}', {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch of numbers", "PATCH", f"{CM}/target", "[1, 2]", {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch without path", "PATCH", f"{CM}/target", '[{"op": "remove"}]', {"Content-Type": JSONPATCH},
     {400, 422}),
    ("json-patch removing nothing", "PATCH", f"{CM}/target", '[{"op": "remove", "path": "/nope/deeper"}]',
     {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch failing test", "PATCH", f"{CM}/target", '[{"op": "test", "path": "/data/k", "value": "no"}]',
     {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch bad index", "PATCH", f"{CM}/target", '[{"op": "add", "path": "/metadata/finalizers/99", '
     '"value": "x"}]', {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch making metadata a string", "PATCH", f"{CM}/target", '[{"op": "replace", "path": "/metadata", '
     '"value": "x"}]', {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch making metadata null", "PATCH", f"{CM}/target", '[{"op": "replace", "path": "/metadata", '
     '"value": null}]', {"Content-Type": JSONPATCH}, {400, 422}),
    ("json-patch making data a number", "PATCH", f"{CM}/target", '[{"op": "replace", "path": "/data", '
     '"value": 5}]', {"Content-Type": JSONPATCH}, {400, 422}),
    ("merge patch a list", "PATCH", f"{CM}/target", "[1]", {"Content-Type": MERGE}, {400, 422}),
    ("merge patch a string", "PATCH", f"{CM}/target", '"x"', {"Content-Type": MERGE}, {400, 422}),
    ("merge patch making data a list", "PATCH", f"{CM}/target", '{"data": [1]}', {"Content-Type": MERGE},
     {400, 422}),
    ("merge patch renaming", "PATCH", f"{CM}/target", '{"metadata": {"name": "other"}}', {"Content-Type": MERGE},
     {400, 422}),
    ("strategic patch a string", "PATCH", f"{CM}/target", '"x"', {"Content-Type": SMP}, {400, 422}),
    ("strategic patch unknown directive", "PATCH", f"{CM}/target", '{"$patch": "frobnicate"}',
     {"Content-Type": SMP}, {400, 422}),
    ("patch with an empty body", "PATCH", f"{CM}/target", "", {"Content-Type": MERGE}, {400}),
    ("patch deeply nested", "PATCH", f"{CM}/target", '{"x": ' * 3000 + "1" + "}" * 3000, {"Content-Type": MERGE},
     {400}),
    ("apply patch without fieldManager", "PATCH", f"{CM}/target", '{"data": {}}',
     {"Content-Type": "application/apply-patch+yaml"}, {422}),
    ("apply patch without kind", "PATCH", f"{CM}/target?fieldManager=t", '{"data": {}}',
     {"Content-Type": "application/apply-patch+yaml"}, {400}),
    ("patch with text/plain", "PATCH", f"{CM}/target", '{"data": {}}', {"Content-Type": "text/plain"}, {415}),
    ("CBOR body", "POST", CM, b"\xa1\x61a\x01", {"Content-Type": "application/cbor"}, {415}),
    ("protobuf garbage", "POST", CM, b"\x00\x01garbage", {"Content-Type": "application/vnd.kubernetes.protobuf"},
     {400}),
    ("protobuf magic then garbage", "POST", CM, b"k8s\x00\xff\xff\xff\xff\x0f",
     {"Content-Type": "application/vnd.kubernetes.protobuf"}, {400}),
    ("YAML alias bomb", "POST", CM, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx:\n  "
     + BOMB.replace("\n", "\n  "), {"Content-Type": "application/yaml"}, {400}),
    ("YAML that does not parse", "POST", CM, "a: [b", {"Content-Type": "application/yaml"}, {400}),
    ("unknown top-level field", "POST", CM, json.dumps({"metadata": {"name": "unknown-a"}, "bogus": 1}), {},
     {201, 400}),
    ("unknown metadata field", "POST", CM, json.dumps({"metadata": {"name": "unknown-b", "bogus": {"x": 1}}}), {},
     {201, 400}),
    ("unknown field, strict", "POST", CM + "?fieldValidation=Strict",
     json.dumps({"metadata": {"name": "unknown-c"}, "bogus": 1}), {}, {201, 400}),
    ("wrong kind", "POST", CM, json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "k"}}), {},
     {400}),
    ("wrong apiVersion", "POST", CM, json.dumps({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {
        "name": "k"}}), {}, {400}),
    ("Deployment as apps/v1beta1", "POST", DEPLOY, deployment().replace('"apps/v1"', '"apps/v1beta1"'), {}, {400}),
    ("namespace in body differs", "POST", CM, json.dumps({"metadata": {"name": "k", "namespace": "kube-system"}}),
     {}, {400}),
    ("namespace that does not exist", "POST", "/api/v1/namespaces/nowhere/configmaps",
     json.dumps({"metadata": {"name": "k"}}), {}, {404}),
    ("name with ../", "POST", CM, json.dumps({"metadata": {"name": "../../etc/passwd"}}), {}, {422}),
    ("GET ../ in the URL", "GET", f"{CM}/../../../../etc/passwd", None, {}, {400, 404}),
    ("GET %2F-encoded ../", "GET", f"{CM}/..%2F..%2Fsecrets", None, {}, {400, 404}),
    ("GET name ..", "GET", f"{CM}/..", None, {}, {400, 404}),
    ("PUT name ../x", "PUT", f"{CM}/..%2Fx", json.dumps({"metadata": {"name": "../x"}}), {}, {400, 404, 422}),
    ("DELETE name ..", "DELETE", f"{CM}/..", None, {}, {400, 404}),
    ("namespace ..", "GET", "/api/v1/namespaces/../configmaps", None, {}, {200, 400, 404}),
    ("upper-case name", "POST", CM, json.dumps({"metadata": {"name": "UPPER"}}), {}, {422}),
    ("empty name", "POST", CM, json.dumps({"metadata": {"name": ""}}), {}, {422}),
    ("300-character name", "POST", CM, json.dumps({"metadata": {"name": "a" * 300}}), {}, {422}),
    ("name with a slash", "POST", CM, json.dumps({"metadata": {"name": "a/b"}}), {}, {422}),
    ("name with a newline", "POST", CM, json.dumps({"metadata": {"name": "a\nb"}}), {}, {422}),
    ("unknown resource", "GET", "/api/v1/frobnicators", None, {}, {404}),
    ("unknown group", "GET", "/apis/nope.example.com/v1/things", None, {}, {404}),
    ("unknown version", "GET", "/api/v9/pods", None, {}, {404}),
    ("unknown subresource", "GET", f"{CM}/target/frobnicate", None, {}, {404}),
    ("too many path segments", "GET", f"{CM}/target/status/x/y", None, {}, {404}),
    ("not an API path", "GET", "/frobnicate", None, {}, {404}),
    ("POST to a name", "POST", f"{CM}/target", json.dumps({"metadata": {"name": "target"}}), {}, {405}),
    ("PUT to a collection", "PUT", CM, json.dumps({"metadata": {"name": "x"}}), {}, {405}),
    ("PATCH a collection", "PATCH", CM, "{}", {"Content-Type": MERGE}, {405}),
    ("OPTIONS", "OPTIONS", CM, None, {}, {405}),
    ("unknown method", "FROBNICATE", CM, None, {}, {405}),
    ("label selector garbage", "GET", CM + "?labelSelector=!!!((", None, {}, {400}),
    ("field selector garbage", "GET", CM + "?fieldSelector=bogus", None, {}, {400}),
    ("watch with resourceVersion abc", "GET", CM + "?watch=true&resourceVersion=abc", None, {}, {400}),
    ("watch with timeoutSeconds abc", "GET", CM + "?watch=true&timeoutSeconds=abc", None, {}, {400}),
    ("watch with timeoutSeconds nan", "GET", CM + "?watch=true&timeoutSeconds=nan", None, {}, {400}),
    ("log of a missing pod with bad tailLines", "GET", f"{NS}/pods/nope/log?tailLines=abc", None, {}, {400, 404}),
    ("scale to \"x\"", "PATCH", "/apis/apps/v1/namespaces/ingress-nginx/deployments/nginx-ingress-controller/scale",
     '{"spec": {"replicas": "x"}}', {"Content-Type": MERGE}, {400, 422}),
    ("scale to -1", "PATCH", "/apis/apps/v1/namespaces/ingress-nginx/deployments/nginx-ingress-controller/scale",
     '{"spec": {"replicas": -1}}', {"Content-Type": MERGE}, {422}),
]


@pytest.mark.parametrize("label,method,path,body,headers,allowed", CASES, ids=[c[0] for c in CASES])
def test_a_malformed_request_gets_a_status_error_and_the_api_survives(api, lab, lab_pid, label, method, path, body,
                                                                      headers, allowed):
    status, got_headers, data, seconds = api.call(method, path, body, headers)
    assert status in allowed, f"{label}: {status} {data[:300]!r} after {seconds:.1f} s"
    text = data.decode(errors="replace")
    assert "Traceback" not in text and 'File "' not in text and "InternalError" not in text
    if status >= 400:
        answer = json.loads(data)
        assert (answer["kind"], answer["apiVersion"], answer["status"], answer["code"]) == \
            ("Status", "v1", "Failure", status), answer
        assert answer["message"] and answer["reason"]
        assert got_headers["content-type"].startswith("application/json")
    assert_alive(api, lab, lab_pid)


def assert_alive(api: Api, lab, pid: int) -> None:
    status, _, data, _ = api.call("GET", "/version")   # answered at all (within the call's generous timeout)
    assert status == 200 and json.loads(data)["major"] == "1"
    assert lab.status()["pid"] == pid


@pytest.mark.parametrize("token", [None, "wrong-token", "", "x" * 10_000], ids=["none", "wrong", "empty", "huge"])
def test_requests_without_the_token_get_401_status(api, lab, lab_pid, token):
    status, _, data, _ = api.call("GET", CM, token=token)
    assert status == 401 and json.loads(data)["reason"] == "Unauthorized"
    assert_alive(api, lab, lab_pid)


def test_head_answers_like_get_without_a_body(api, lab, lab_pid):
    status, headers, data, _ = api.call("HEAD", CM)
    assert (status, data) == (200, b"") and headers["content-type"].startswith("application/json")
    assert api.call("HEAD", f"{CM}/nope")[0] == 404
    assert_alive(api, lab, lab_pid)


def test_a_successful_write_is_still_possible_after_the_abuse(api, lab, lab_pid):
    status, _, data, _ = api.call("PATCH", f"{CM}/target", '{"data": {"k": "after"}}', {"Content-Type": MERGE})
    assert status == 200 and json.loads(data)["data"] == {"k": "after"}
    assert_alive(api, lab, lab_pid)


def _tls_socket(api: Api) -> ssl.SSLSocket:
    raw = socket.create_connection((api.host, api.port), timeout=5)
    return api.context.wrap_socket(raw, server_hostname=api.host)


def test_slow_clients_do_not_stop_the_api_from_answering_others(api, lab, lab_pid):
    """Slowloris: 50 connections with half-sent headers and 50 with half-sent bodies stay open while the API keeps
    answering everyone else (how fast is printed, a figure, not asserted: a loaded machine stretches it); a client
    that gives up after a short timeout gets no half answer."""
    slow = []
    try:
        for _ in range(50):
            s = _tls_socket(api)
            s.sendall(f"GET {CM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.token}\r\nX-Slow: ".encode())
            slow.append(s)
        for _ in range(50):
            s = _tls_socket(api)
            s.sendall(f"POST {CM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.token}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"metadata\": ".encode())
            slow.append(s)
        worst = 0.0
        for _ in range(20):
            status, _, _, seconds = api.call("GET", f"{CM}/target")
            assert status == 200
            worst = max(worst, seconds)
        # Those answers came while the slow clients were still connected (not after the server dropped them):
        # nothing comes back on them, neither an answer to a body that never finishes nor an EOF.
        for probe in (slow[0], slow[-1]):
            probe.settimeout(1.0)
            with pytest.raises((socket.timeout, TimeoutError)):
                probe.recv(1)
        for s in slow[:10]:   # dribble a byte more: still no effect on the others
            s.sendall(b"a")
        assert api.call("GET", "/version")[0] == 200
    finally:
        for s in slow:
            s.close()
    assert_alive(api, lab, lab_pid)
    print(f"\nslowloris: 100 slow connections open, other requests answered in ≤ {1000 * worst:.0f} ms")


def test_garbage_on_the_wire_is_dropped_and_the_api_survives(api, lab, lab_pid):
    for garbage in (b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 1000):
        with socket.create_connection((api.host, api.port), timeout=5) as s:   # not TLS at all
            s.sendall(garbage)
            try:
                s.recv(100)
            except (ConnectionResetError, socket.timeout, TimeoutError):
                pass
    with _tls_socket(api) as s:   # TLS, but not HTTP
        s.sendall(b"\x00\xff" * 2000 + b"\r\n\r\n")
        s.settimeout(5)
        answer = b""
        try:
            answer = s.recv(200)
        except (ConnectionResetError, socket.timeout, TimeoutError, ssl.SSLError):
            pass
        assert not answer or answer.startswith(b"HTTP/1.1 400")
    assert_alive(api, lab, lab_pid)
