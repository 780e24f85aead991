"""Protobuf request bodies: hand-built bytes for the wire rules, and the real kubectl's generator commands.

The kubectl half runs a small test-only HTTPS server (discovery from `ingresslab.cluster.apiserver.discovery`, a CA from
`ingresslab.cluster.apiserver.pki`) that records every POST, answers it with the decoded object as JSON, and compares that
object with what `kubectl create ... --dry-run=client -o json` prints for the same command.
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from ingresslab.cluster.apiserver import discovery, pki
from ingresslab.cluster.apiserver.protobuf import KINDS, MAGIC, SCHEMA, decode_k8s_protobuf

PROTOBUF = "application/vnd.kubernetes.protobuf"


# ------------------------------------------------------------------------------------ a tiny encoder for tests
def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def f(number: int, value) -> bytes:
    """A field: ints (and bools) as varints, str and bytes length-delimited (nested messages are bytes)."""
    if isinstance(value, int):
        return varint(number << 3) + varint(int(value))
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def msg(*fields: bytes) -> bytes:
    return b"".join(fields)


def entry(key: str, value) -> bytes:
    return msg(f(1, key), f(2, value))


def envelope(api_version: str, kind: str, raw: bytes, *extra: bytes) -> bytes:
    return MAGIC + f(1, msg(f(1, api_version), f(2, kind))) + f(2, raw) + b"".join(extra)


def configmap(*fields: bytes) -> bytes:
    return envelope("v1", "ConfigMap", msg(*fields))


# --------------------------------------------------------------------------------------------------- wire rules
@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31 - 1, 2**32, 2**63 - 1, -1, -2**31, -2**63])
def test_varints_of_every_width_decode_as_signed_ints(value):
    body = envelope("apps/v1", "Deployment", f(2, f(5, value)))          # spec.minReadySeconds
    assert decode_k8s_protobuf(body)["spec"] == ({"minReadySeconds": value} if value else {})


def test_a_negative_int32_takes_ten_bytes_on_the_wire():
    assert len(varint(-1)) == 10
    body = envelope("apps/v1", "Deployment", f(2, f(1, -1)))
    assert decode_k8s_protobuf(body)["spec"] == {"replicas": -1}


@pytest.mark.parametrize("bad, message", [
    (b"\x80" * 11 + b"\x01", "longer than 10 bytes"),
    (b"\x80\x80", "ends inside a varint"),
])
def test_malformed_varints_are_value_errors(bad, message):
    body = envelope("apps/v1", "Deployment", f(2, varint(1 << 3) + bad))
    with pytest.raises(ValueError, match=message):
        decode_k8s_protobuf(body)


def test_unknown_fields_of_every_wire_type_are_skipped_at_every_level():
    unknown = msg(f(99, 7), f(98, b"\x00\xff junk"), varint(97 << 3 | 1) + bytes(8), varint(96 << 3 | 5) + bytes(4))
    body = envelope("v1", "ConfigMap", msg(unknown, f(1, msg(f(1, "cm"), unknown)), f(2, entry("a", "b"))), unknown)
    assert decode_k8s_protobuf(body) == {"kind": "ConfigMap", "apiVersion": "v1",
                                         "metadata": {"name": "cm"}, "data": {"a": "b"}}


@pytest.mark.parametrize("body, message", [
    (b"", "must start with"),
    (b"{\"kind\": \"ConfigMap\"}", "must start with"),
    (MAGIC, "names no apiVersion and kind"),
    (MAGIC + f(1, msg(f(1, "v1"))), "names no apiVersion and kind"),
    (envelope("batch/v1", "Job", b""), r"Job \(batch/v1\) cannot be sent as protobuf"),
    (envelope("v1", "ConfigMap", b"", f(3, "gzip")), "content encoding 'gzip'"),
    (envelope("v1", "ConfigMap", b"", f(4, "application/cbor")), "content type 'application/cbor'"),
    (MAGIC + f(1, msg(f(1, "v1"), f(2, "ConfigMap"))) + f(2, b"\x0a\x05ab"), "claims 5 bytes, only 2 are left"),
    (configmap(f(1, 5)), "expected a length-delimited field"),                        # metadata as a varint
    (configmap(f(4, "yes")), "expected a varint"),                                    # immutable as a string
    (configmap(f(1, f(1, b"\xff\xfe"))), "not valid UTF-8"),
    (configmap(varint(3 << 3 | 3)), "groups"),
    (configmap(varint(0 << 3 | 0) + varint(1)), "field number 0"),
    (configmap(varint(9 << 3 | 1) + bytes(3)), "ends inside the 64-bit field 9"),
    (configmap(f(1, f(8, msg(f(1, 10**15))))), "out of the range of a timestamp"),
])
def test_malformed_bodies_are_value_errors_with_a_reason(body, message):
    with pytest.raises(ValueError, match=message):
        decode_k8s_protobuf(body)


def _real_body() -> bytes:
    meta = msg(f(1, "web"), f(3, "default"), f(11, entry("app", "web")), f(8, b""))
    template = msg(f(1, msg(f(11, entry("app", "web")))),
                   f(2, msg(f(2, msg(f(1, "nginx"), f(2, "nginx:1.27"), f(6, msg(f(3, 80))), f(8, b""))))))
    spec = msg(f(1, 2), f(2, msg(f(1, entry("app", "web")))), f(3, template),
               f(4, msg(f(1, "RollingUpdate"), f(2, msg(f(1, msg(f(1, 1), f(3, "25%"))), f(2, msg(f(2, 1))))))))
    return envelope("apps/v1", "Deployment", msg(f(1, meta), f(2, spec), f(3, b"")))


def test_every_truncation_of_a_body_is_a_value_error_or_an_object():
    body = _real_body()
    assert decode_k8s_protobuf(body)["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "25%", "maxSurge": 1}
    for cut in range(len(body)):
        try:
            assert isinstance(decode_k8s_protobuf(body[:cut]), dict)
        except ValueError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_random_and_mutated_bytes_never_crash(noise, where, byte):
    for body in (MAGIC + noise, envelope("v1", "Pod", noise), _mutate(_real_body(), where, byte)):
        try:
            assert isinstance(decode_k8s_protobuf(body), dict)
        except ValueError:
            pass


def _mutate(body: bytes, where: int, byte: int) -> bytes:
    where %= len(body)
    return body[:where] + bytes([byte]) + body[where + 1:]


# ---------------------------------------------------------------------------------------------- JSON semantics
def test_zero_values_are_dropped_unless_the_go_field_is_a_pointer():
    meta = msg(f(1, "cm"), f(2, ""), f(3, ""), f(5, ""), f(7, 0), f(10, 0))
    obj = decode_k8s_protobuf(configmap(f(1, meta), f(4, False)))
    assert obj["metadata"] == {"name": "cm", "deletionGracePeriodSeconds": 0}
    assert obj["immutable"] is False
    spec = msg(f(1, 0), f(5, 0), f(7, False), f(4, b""), f(3, msg(f(1, b""))))
    assert decode_k8s_protobuf(envelope("apps/v1", "Deployment", f(2, spec)))["spec"] == {
        "replicas": 0, "strategy": {}, "template": {"metadata": {}}}


def test_secret_bytes_become_base64_and_configmap_binary_data_too():
    blob = bytes(range(256))
    obj = decode_k8s_protobuf(envelope("v1", "Secret", msg(f(2, entry("k", blob)), f(2, entry("e", b"")),
                                                           f(4, entry("s", "plain")), f(3, "Opaque"))))
    assert obj["data"] == {"k": base64.b64encode(blob).decode(), "e": ""}
    assert obj["stringData"] == {"s": "plain"} and obj["type"] == "Opaque"
    assert decode_k8s_protobuf(configmap(f(3, entry("bin", b"\x00\x01"))))["binaryData"] == {"bin": "AAE="}


def test_an_eviction_as_a_protobuf_client_sends_it():
    # policy/v1 Eviction: 1 metadata, 2 deleteOptions (1 gracePeriodSeconds, 5 dryRun)
    body = envelope("policy/v1", "Eviction", msg(f(1, msg(f(1, "tea-1"), f(3, "default"))),
                                                 f(2, msg(f(1, 0), f(5, "All")))))
    assert decode_k8s_protobuf(body) == {"apiVersion": "policy/v1", "kind": "Eviction",
                                         "metadata": {"name": "tea-1", "namespace": "default"},
                                         "deleteOptions": {"gracePeriodSeconds": 0, "dryRun": ["All"]}}


def test_map_entries_without_a_value_or_key_get_zero_values():
    obj = decode_k8s_protobuf(configmap(f(2, f(1, "only-key")), f(2, f(2, "only-value"))))
    assert obj["data"] == {"only-key": "", "": "only-value"}


def test_time_is_rfc3339_and_an_unset_time_is_left_out():
    seconds = int(datetime.datetime(2024, 2, 29, 13, 5, 9, tzinfo=datetime.timezone.utc).timestamp())
    meta = msg(f(1, "cm"), f(8, b""), f(9, msg(f(1, seconds), f(2, 5000))))
    assert decode_k8s_protobuf(configmap(f(1, meta)))["metadata"] == {
        "name": "cm", "deletionTimestamp": "2024-02-29T13:05:09Z"}


def test_int_or_string_quantity_and_inlined_structs():
    env = [msg(f(1, "PASSWORD"), f(3, msg(f(4, msg(f(1, f(1, "db")), f(2, "pw")))))),
           msg(f(1, "CPU"), f(3, msg(f(2, msg(f(2, "limits.cpu"), f(3, f(1, "1m")))))))]
    probe = msg(f(1, msg(f(2, msg(f(1, "/healthz"), f(2, msg(f(1, 1), f(3, "http"))))))), f(2, 0), f(4, 5))
    container = msg(f(1, "app"), *(f(7, e) for e in env), f(10, probe),
                    f(8, msg(f(1, entry("cpu", f(1, "500m"))), f(2, entry("memory", f(1, "64Mi"))),
                             f(2, entry("gpu", b"")))),
                    f(9, msg(f(1, "cfg"), f(2, True), f(3, "/etc/cfg"))))
    volume = msg(f(1, "cfg"), f(2, f(19, msg(f(1, f(1, "settings")), f(3, 0o644)))))
    pod = decode_k8s_protobuf(envelope("v1", "Pod", f(2, msg(f(1, volume), f(2, container)))))
    c = pod["spec"]["containers"][0]
    assert c["env"] == [
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}]
    assert c["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
    assert c["resources"] == {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi", "gpu": "0"}}
    assert c["volumeMounts"] == [{"name": "cfg", "readOnly": True, "mountPath": "/etc/cfg"}]
    assert pod["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}]


def test_service_target_port_is_a_number_or_a_name():
    ports = [msg(f(1, "web"), f(3, 80), f(4, msg(f(1, 0), f(2, 8080)))),
             msg(f(3, 443), f(4, msg(f(1, 1), f(3, "https"))), f(5, 30443)), msg(f(3, 53), f(4, b""))]
    spec = decode_k8s_protobuf(envelope("v1", "Service", f(2, msg(*(f(1, p) for p in ports)))))["spec"]
    assert spec["ports"] == [{"name": "web", "port": 80, "targetPort": 8080},
                             {"port": 443, "targetPort": "https", "nodePort": 30443},
                             {"port": 53, "targetPort": 0}]


def test_ingress_rules_inline_their_http_value():
    backend = msg(f(4, msg(f(1, "web"), f(2, msg(f(2, 80))))))
    rule = msg(f(1, "demo.local"), f(2, f(1, f(1, msg(f(1, "/"), f(3, "Prefix"), f(2, backend))))))
    spec = msg(f(4, "nginx"), f(2, msg(f(1, "demo.local"), f(2, "demo-tls"))), f(3, rule))
    assert decode_k8s_protobuf(envelope("networking.k8s.io/v1", "Ingress", f(2, spec)))["spec"] == {
        "ingressClassName": "nginx", "tls": [{"hosts": ["demo.local"], "secretName": "demo-tls"}],
        "rules": [{"host": "demo.local", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}


def test_repeated_ints_decode_packed_or_not():
    packed = f(14, msg(f(4, varint(1) + varint(2) + varint(3000)), f(4, 7)))
    spec = decode_k8s_protobuf(envelope("v1", "Pod", f(2, packed)))["spec"]
    assert spec["securityContext"] == {"supplementalGroups": [1, 2, 3000, 7]}


def test_json_inside_the_envelope_is_passed_through():
    body = envelope("v1", "ConfigMap", b'{"data": {"a": "b"}}', f(4, "application/json"))
    assert decode_k8s_protobuf(body) == {"kind": "ConfigMap", "apiVersion": "v1", "data": {"a": "b"}}


def test_the_schema_table_is_consistent():
    assert all(message in SCHEMA for message in KINDS.values())
    for name, fields in SCHEMA.items():
        assert len({field.name for field in fields.values() if field.name != "-"}) == \
            len([field for field in fields.values() if field.name != "-"]), name


# ------------------------------------------------------------------------------------------- the real kubectl
class _Recorder(BaseHTTPRequestHandler):
    """Discovery and OpenAPI as the lab serves them; every POST recorded and echoed back decoded, as JSON."""
    posts: list[tuple[str, str, bytes]]

    def log_message(self, *args) -> None:
        pass

    def _send(self, code: int, body) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        doc = None
        if path == "/version":
            doc = discovery.KUBE_VERSION
        elif path == "/api":
            doc = discovery.api_versions(f"127.0.0.1:{self.server.server_address[1]}")
        elif path == "/apis":
            doc = discovery.api_group_list()
        elif path == "/openapi/v3":
            doc = discovery.openapi_v3_index()
        elif parts[:3] == ["openapi", "v3", "api"] and len(parts) == 4:
            doc = discovery.openapi_v3_group_version("", parts[3])
        elif parts[:3] == ["openapi", "v3", "apis"] and len(parts) == 5:
            doc = discovery.openapi_v3_group_version(parts[3], parts[4])
        elif parts[0] == "api" and len(parts) == 2:
            doc = discovery.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = discovery.api_resource_list(parts[1], parts[2])
        if doc is None:
            return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                                    "reason": "NotFound", "message": "not found"})
        self._send(200, doc)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        try:
            self._send(201, decode_k8s_protobuf(body))
        except ValueError as exc:
            self._send(400, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 400,
                             "reason": "BadRequest", "message": str(exc)})


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "demo.local")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    crt, pem = directory / "tls.crt", directory / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


@pytest.fixture(scope="module")
def capture(tmp_path_factory, kubectl_path):
    home = tmp_path_factory.mktemp("protobuf-capture")
    files = pki.ensure_serving_files(home / "pki")
    handler = type("Recorder", (_Recorder,), {"posts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = files.ssl_context()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "capture",
        "clusters": [{"name": "capture", "cluster": {
            "server": f"https://127.0.0.1:{server.server_address[1]}",
            "certificate-authority-data": base64.b64encode(files.ca_cert.read_bytes()).decode()}}],
        "users": [{"name": "capture", "user": {"token": "capture-token"}}],
        "contexts": [{"name": "capture", "context": {"cluster": "capture", "user": "capture",
                                                      "namespace": "default"}}]}))
    (home / "blob.bin").write_bytes(bytes(range(256)) * 4)
    (home / "app.env").write_text("MODE=demo\nLEVEL=3\n")
    _self_signed(home)
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(home))

    def run(args: list[str]) -> subprocess.CompletedProcess:
        args = [a.replace("{home}", str(home)) for a in args]
        return subprocess.run([kubectl_path, *args], capture_output=True, text=True, env=env, timeout=60)
    try:
        yield run, handler.posts
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


GENERATORS = {
    "configmap": ["create", "configmap", "cm1", "--from-literal=a=b", "--from-literal=empty="],
    "configmap-binary": ["create", "configmap", "cm2", "--from-file={home}/blob.bin", "--from-literal=x=y"],
    "configmap-env-file": ["create", "configmap", "cm3", "--from-env-file={home}/app.env"],
    "secret-generic": ["create", "secret", "generic", "s1", "--from-literal=user=admin",
                       "--from-file={home}/blob.bin", "--type=Opaque"],
    "secret-tls": ["create", "secret", "tls", "t1", "--cert={home}/tls.crt", "--key={home}/tls.key"],
    "secret-docker-registry": ["create", "secret", "docker-registry", "r1", "--docker-username=u",
                               "--docker-password=p", "--docker-server=registry.local"],
    "namespace": ["create", "namespace", "team-a"],
    "deployment": ["create", "deployment", "web", "--image=nginx", "--port=80", "--replicas=3"],
    "deployment-zero-replicas": ["create", "deployment", "idle", "--image=nginx", "--image=busybox",
                                 "--replicas=0"],
    "deployment-command": ["create", "deployment", "sleeper", "--image=busybox", "--", "sleep", "3600"],
    "service-clusterip": ["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:https"],
    "service-headless": ["create", "service", "clusterip", "headless", "--clusterip=None"],
    "service-nodeport": ["create", "service", "nodeport", "web-np", "--tcp=80:8080", "--node-port=30080"],
    "service-loadbalancer": ["create", "service", "loadbalancer", "web-lb", "--tcp=80:8080"],
    "service-externalname": ["create", "service", "externalname", "ext", "--external-name=example.com"],
    "ingress": ["create", "ingress", "demo", "--class=nginx", "--rule=demo.local/api*=api:8080,tls=demo-tls",
                "--rule=demo.local/=web:http", "--default-backend=fallback:80", "--annotation=a.b/c=d"],
    "ingress-minimal": ["create", "ingress", "plain", "--rule=/exact=web:80", "--rule=*.demo.local/*=web:80,tls"],
}


@pytest.mark.parametrize("args", GENERATORS.values(), ids=GENERATORS.keys())
def test_kubectl_generators_send_protobuf_that_decodes_to_their_dry_run_object(capture, args):
    run, posts = capture
    before = len(posts)
    created = run(args)
    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout
    assert len(posts) == before + 1
    _, content_type, body = posts[-1]
    assert content_type == PROTOBUF and body.startswith(MAGIC)
    split = args.index("--") if "--" in args else len(args)
    dry_run = run(args[:split] + ["--dry-run=client", "-o", "json"] + args[split:])
    assert dry_run.returncode == 0, dry_run.stderr
    assert decode_k8s_protobuf(body) == json.loads(dry_run.stdout)
