"""Fixtures and helpers for the proof suites: labs of their own, tiny named backends, raw HTTP, nginx.conf parsing.

Each proof module that needs a cluster starts a lab of its own (`own_lab`) under pytest's basetemp, so killing its
processes or filling its ConfigMaps never disturbs the session's `lab`, and the suite's final leak check covers it.

Run profiles (see `strategies.PROOF`): CI by default; `INGRESSLAB_PROOF=long` for ≥ 2,000 examples per property
and a 30 s load test. Reproduce a Hypothesis run with `pytest --hypothesis-seed=N tests/proof`.
"""
from __future__ import annotations

import http.server
import itertools
import os
import re
import socket
import ssl
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest
from polling import eventually

ROOT = Path(__file__).resolve().parents[2]
_OCTET = 100 + os.getpid() % 100
_hosts = itertools.count(1)


def fresh_address() -> str:
    """A loopback address no other test of this run uses (127.<pid-based>.x.y)."""
    n = next(_hosts)
    return f"127.{_OCTET}.{200 + n // 250 % 50}.{n % 250 + 1}"


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


# --- raw HTTP -------------------------------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int | None
    headers: dict
    body: bytes
    error: str = ""

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def http_get(ip: str, port: int, path: str, host: str, *, timeout: float = 5.0, method: str = "GET",
             sni: str | None = None) -> Reply:
    """One request on a fresh connection, with the Host header and request target sent exactly as given; over TLS
    (certificate not checked) with `sni` as the server name when `sni` is given."""
    try:
        with socket.create_connection((ip, port), timeout=timeout) as raw:
            if sni is None:
                data = _exchange(raw, method, path, host)
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                with context.wrap_socket(raw, server_hostname=sni) as tls:
                    data = _exchange(tls, method, path, host)
    except OSError as error:
        return Reply(None, {}, b"", str(error))
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    match = re.match(r"HTTP/1\.\d (\d{3})", lines[0] if lines else "")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Reply(int(match.group(1)) if match else None, headers, body)


def _exchange(sock: socket.socket, method: str, path: str, host: str) -> bytes:
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + rest[:size], rest[size + 2:]
    return out


# --- tiny named backends --------------------------------------------------------------------------------------------

class _NameHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body leave at once (no 40 ms delayed-ACK stall per request)

    def do_GET(self):
        body = self.server.answer.encode()
        self.send_response(200)
        self.send_header("X-Seen-Path", self.path)   # what a rewrite-target made of the request's path
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_POST = do_GET

    def log_message(self, *args):
        pass


class NamedBackend(http.server.ThreadingHTTPServer):
    """An HTTP server on `ip` (port chosen by the kernel) that answers every request with `answer`."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, ip: str, answer: str):
        super().__init__((ip, 0), _NameHandler)
        self.answer = answer
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.server_address[0], self.server_address[1]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# --- nginx.conf as nginx's own parser reads it --------------------------------------------------------------------

def nginx_tokens(text: str):
    """The tokens of an nginx.conf as ngx_conf_read_token reads them, as (kind, text): kind is `word` (bare),
    `quoted` (text unescaped), `comment` (`#` at a token start, to the end of the line), or `;`, `{`, `}`.
    Whitespace separates; "…" and '…' quote with backslash escapes."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "#":   # only at the start of a token (we are at one)
            j = text.find("\n", i)
            j = n if j < 0 else j
            yield "comment", text[i:j]
            i = j
        elif c in ";{}":
            yield c, c
            i += 1
        elif c in "\"'":
            j, word = i + 1, ""
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    word += text[j:j + 2] if text[j + 1] not in "\"'\\" else text[j + 1]
                    j += 2
                    continue
                word += text[j]
                j += 1
            yield "quoted", word
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n;{}" and not (text[j] in "\"'" and j == i):
                j += 1
            yield "word", text[i:j]
            i = j


def nginx_directives(text: str) -> list[tuple[int, list[str]]]:
    """Every directive of an nginx.conf as (block depth, [name, args…]) (`nginx_tokens`; comments dropped).
    Block heads are directives too (`location`, `server`)."""
    out, words, depth = [], [], 0
    for kind, word in nginx_tokens(text):
        if kind in (";", "{"):
            if words:
                out.append((depth, words))
            words = []
            depth += kind == "{"
        elif kind == "}":
            depth -= 1
        elif kind != "comment":
            words.append(word)
    return out


CANARY = "PWNED"


def live_canaries(conf_text: str) -> list[list[str]]:
    """Directives in nginx.conf that a canary payload made live: a `return` or `add_header` carrying the canary,
    or any directive whose *name* holds it (text that escaped its quotes). Canary text inside a quoted argument of
    a harmless directive (`location "…PWNED…"`) is inert and not listed."""
    found = []
    for _, words in nginx_directives(conf_text):
        name = words[0].lower()
        if CANARY.lower() in name or "x-pwned" in name:
            found.append(words)
        elif name in ("return", "add_header", "more_set_headers", "rewrite", "proxy_pass", "include", "load_module",
                      "content_by_lua_block", "access_by_lua_block") and any(
                CANARY in w or "X-Pwned" in w for w in words[1:]):
            found.append(words)
    return found


# --- certificates ---------------------------------------------------------------------------------------------------

def certificate_pair(hostname: str, *more: str) -> tuple[str, str]:
    """A self-signed certificate for `hostname` (CN and SAN, with `more` names as further SANs) and its key:
    (certificate PEM, key PEM)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in (hostname, *more)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


# --- labs of their own ----------------------------------------------------------------------------------------------

def processes_under(path) -> list[str]:
    """Live processes whose command line names `path` (`ps -ww`: without it ps cuts lines at 80 columns when its
    output is not a terminal, and a long home path would never be seen)."""
    out = subprocess.run(["ps", "-eww", "-o", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if str(path) in line and not line.split()[1].startswith("Z")]


@contextmanager
def own_lab(tmp_path_factory, name: str):
    """A lab process of its own, in a home under pytest's basetemp; always stopped afterwards, and then checked to
    have left no process (lab, controller pod, nginx) behind."""
    from ingresslab import Lab
    home = tmp_path_factory.mktemp(name)
    lab = Lab.up(home)
    try:
        yield lab
    finally:
        lab.down()
    eventually(lambda: processes_under(home) == [], timeout=60, interval=0.1,
               what=f"no process left by the lab in {home}")


def ready_endpoints(lab, service: str, namespace: str = "default") -> int:
    slices = kubernetes.client.DiscoveryV1Api(lab.api).list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}").items
    return sum(1 for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready)


def ingress_entry(lab) -> tuple[str, int]:
    """(node IP, HTTP NodePort) of the Ingress controller's Service: where a learner's curl goes."""
    node = lab.status()["nodes"][0]["ip"]
    return node, lab.ingress_node_ports()["http_nodeport"]


@pytest.fixture(scope="session")
def proof_long() -> bool:
    return os.environ.get("INGRESSLAB_PROOF") == "long"
