"""Fixtures for the Ingress tests: real backends, a real nginx in a temporary home, a real HTTP(S) client.

Backends are threaded `http.server`s, each on its own loopback address, answering JSON with their name and what
they received (path, HTTP version, headers), so a test sees which pod a request reached and how nginx sent it.
Every test gets fresh 127.x addresses and ports from binding port 0, so tests never share a listener.
"""
from __future__ import annotations

import datetime
import http.client as http_client
import http.server as http_server
import itertools
import json
import os
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingresslab.ingress.nginx import NginxProcess
from ingresslab.ingress.nginx_os import group_members

_addresses = itertools.count(1)
_BASE = 20 + os.getpid() % 200  # second octet: keeps concurrent test runs apart


def next_address() -> str:
    n = next(_addresses)
    return f"127.{_BASE}.{n // 250 % 250}.{n % 250 + 1}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _EchoHandler(http_server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        data = json.dumps({"name": self.server.name, "path": self.path, "method": self.command,
                           "version": self.request_version, "body_length": len(body),
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


class _Server(http_server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@dataclass
class Backend:
    name: str
    ip: str
    port: int
    server: _Server


@pytest.fixture
def backends():
    """start(name, tls=False) → a running echo backend on a fresh loopback address; all stopped after the test."""
    started: list[_Server] = []

    def start(name: str, *, tls_pem: Path | None = None) -> Backend:
        server = _Server((next_address(), 0), _EchoHandler)
        server.name = name
        if tls_pem is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls_pem)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        started.append(server)
        ip, port = server.server_address[:2]
        return Backend(name, ip, port, server)

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def nginx(tmp_path):
    """A NginxProcess in a temporary home; stopped after the test, and checked to have left nothing behind."""
    process = NginxProcess(tmp_path / "home")
    pgid = None
    try:
        yield process
        pgid = process.pid
    finally:
        process.stop()
    if pgid is not None:
        assert group_members(pgid) == []


@pytest.fixture
def listen():
    """A fresh (address, http_port, https_port) for one nginx."""
    return next_address(), free_port(), free_port()


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes
    peer_cn: str | None = None

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def name(self) -> str | None:
        """The backend that answered, or None when nginx answered itself."""
        try:
            return self.json["name"]
        except (ValueError, KeyError):
            return None


def request(ip: str, port: int, path: str = "/", *, host: str | None = None, https: bool = False,
            sni: str | None = None, method: str = "GET", headers: dict | None = None, body: bytes | None = None,
            timeout: float = 10) -> Reply:
    """One HTTP(S) request to `ip:port` with the given Host header (and SNI name for HTTPS); no redirects followed."""
    sock = socket.create_connection((ip, port), timeout=timeout)
    peer_cn = None
    connection = http_client.HTTPConnection(ip, port, timeout=timeout)
    connection.sock = sock
    try:
        if https:
            sock, peer_cn = _tls(sock, sni or host)
            connection.sock = sock
        all_headers = {"Host": host or ip, **(headers or {})}
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(), peer_cn)
    finally:
        connection.close()


def _tls(sock: socket.socket, server_name: str | None) -> tuple[ssl.SSLSocket, str | None]:
    """Wrap `sock` in TLS with SNI `server_name`; return the socket and the peer certificate's CN."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        sock = context.wrap_socket(sock, server_hostname=server_name)
    except Exception:
        sock.close()
        raise
    names = x509.load_der_x509_certificate(sock.getpeercert(binary_form=True)).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)
    return sock, (names[0].value if names else None)


def make_certificate(hostname: str) -> str:
    """A self-signed certificate for `hostname` (CN and SAN) plus its key, as one PEM text."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode()


@pytest.fixture
def http():
    """The `request` helper: http(ip, port, path, host=..., https=..., sni=...) → Reply."""
    return request


@pytest.fixture
def certificate():
    """The `make_certificate` helper: certificate("cafe.example.com") → PEM text (cert + key)."""
    return make_certificate
