"""Bounded before authenticated, and nothing half-written: issue 13's API and database findings replayed.

  * an unauthenticated 60 MB body is answered 401 from its headers, never buffered: 8 such connections at once
    leave the lab's memory where it was (it grew by ~476 MB before);
  * an authenticated body declared over the limit gets 413 at once;
  * a lone UTF-16 surrogate (`"\\ud800"`) in a ConfigMap → 400 Status (JSON and YAML), a paired one is a character;
  * a 100 KB labelSelector → 400 Status, not a closed connection;
  * a write SQLite refused (disk full, simulated with RLIMIT_FSIZE) → a 500 Status, and the object is not there,
    neither now nor after the database is opened again;
  * an empty (zero-length) or damaged database, or a damaged row, stops `ingresslab up` with a sentence naming it
    and what to do — and the file is left as it was.
"""
from __future__ import annotations

import json
import resource
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from ingresslab.cluster.apimachinery.errors import ApiError
from ingresslab.cluster.storage.store import Store

from .conftest import own_lab

CM = "/api/v1/namespaces/default/configmaps"
CLI = [sys.executable, "-m", "ingresslab.cli"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with own_lab(tmp_path_factory, "bounds-lab") as the_lab:
        yield the_lab


@pytest.fixture(scope="module")
def endpoint(lab) -> tuple[str, int, ssl.SSLContext, str]:
    host, port = lab.status()["api"].rsplit("//", 1)[1].rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(lab.home / "pki" / "ca.crt"))
    token = yaml.safe_load(lab.kubeconfig_path.read_text())["users"][0]["user"]["token"]
    return host, int(port), context, token


def exchange(endpoint, head: str, body: bytes = b"", *, stream: int = 0) -> tuple[int | None, dict, int]:
    """Send `head` (request line and headers), then `body`, then up to `stream` more bytes of filler while the
    server lets us; read the answer. (status, Status object or {}, bytes of body the server took)."""
    host, port, context, _ = endpoint
    sent = 0
    with socket.create_connection((host, port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname=host) as s:
        chunk = b"x" * 65536
        try:
            s.sendall(head.encode() + b"\r\n" + body)   # a refused big body: the server may answer and close first
            sent = len(body)
            while sent < stream:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass   # the server answered and closed: the rest of the body is not wanted
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    head_text, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_text.split()[1]) if head_text.startswith(b"HTTP/") else None
    try:
        status_object = json.loads(payload)
    except ValueError:
        status_object = {}
    return status, status_object, sent


def request_head(method: str, path: str, *, token: str | None, length: int | None = None,
                 content_type: str = "application/json") -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: lab", "Connection: close", f"Content-Type: {content_type}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines) + "\r\n"


def rss_kib(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])


# ------------------------------------------------------------------------------------------ bodies and headers
def test_unauthenticated_big_bodies_are_refused_from_their_headers_and_never_buffered(lab, endpoint):
    pid = lab.status()["pid"]
    before = rss_kib(pid)
    size = 60 * 1024 * 1024
    results = [None] * 8

    def attack(i: int) -> None:
        results[i] = exchange(endpoint, request_head("POST", CM, token=None, length=size), stream=size)

    threads = [threading.Thread(target=attack, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    seconds = time.monotonic() - started
    grown_mib = (rss_kib(pid) - before) / 1024
    for status, status_object, sent in results:
        assert status == 401 and status_object.get("reason") == "Unauthorized", (status, status_object)
        assert sent < size, "the server read the whole 60 MB before answering"
    assert grown_mib < 40, f"the lab grew by {grown_mib:.0f} MiB for 8 refused bodies"
    print(f"\n8 unauthenticated 60 MB bodies: 401 each within {seconds:.2f} s, lab RSS grew {grown_mib:.1f} MiB, "
          f"{max(sent for _, _, sent in results) / 2**20:.1f} MiB sent before the server closed")


def test_a_wrong_token_is_refused_before_the_body_too(endpoint):
    size = 60 * 1024 * 1024
    status, status_object, sent = exchange(endpoint, request_head("PUT", f"{CM}/x", token="not-the-token",
                                                                  length=size), stream=size)
    assert (status, status_object.get("code")) == (401, 401) and sent < size


def test_an_authenticated_body_declared_too_big_gets_413_at_once(endpoint):
    size = 60 * 1024 * 1024
    status, status_object, sent = exchange(endpoint, request_head("POST", CM, token=endpoint[3], length=size),
                                           stream=size)
    assert status == 413 and status_object["reason"] == "RequestEntityTooLarge" and sent < size


def test_a_chunked_body_past_the_limit_gets_413_without_being_kept(endpoint):
    head = request_head("POST", CM, token=endpoint[3]) + "Transfer-Encoding: chunked\r\n"
    piece = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(100))   # 6.25 MiB, no length said
    status, status_object, _ = exchange(endpoint, head, body)
    assert status == 413 and status_object["reason"] == "RequestEntityTooLarge"


def test_a_small_unauthenticated_body_still_reads_its_401(endpoint):
    body = json.dumps({"metadata": {"name": "nope"}, "data": {"k": "v" * 100_000}}).encode()
    status, status_object, _ = exchange(endpoint, request_head("POST", CM, token=None, length=len(body)), body)
    assert (status, status_object.get("reason")) == (401, "Unauthorized")


# ------------------------------------------------------------------------------------------ malformed input
@pytest.mark.parametrize("content_type, text", [
    ("application/json", '{"metadata": {"name": "lone"}, "data": {"k": "a\\ud800b"}}'),
    ("application/json", '{"metadata": {"name": "lone", "labels": {"\\udfff": "x"}}}'),
    ("application/yaml", 'metadata: {name: lone}\ndata: {k: "a\\ud800b"}\n'),
])
def test_a_lone_surrogate_gets_a_400_status(endpoint, content_type, text):
    body = text.encode()
    status, status_object, _ = exchange(endpoint, request_head("POST", CM, token=endpoint[3], length=len(body),
                                                               content_type=content_type), body)
    assert status == 400 and status_object["reason"] == "BadRequest", status_object
    assert "surrogate" in status_object["message"]


def test_a_paired_surrogate_is_a_character_and_is_stored(endpoint):
    body = b'{"metadata": {"name": "emoji"}, "data": {"k": "\\ud83d\\ude00"}}'
    status, created, _ = exchange(endpoint, request_head("POST", CM, token=endpoint[3], length=len(body)), body)
    assert status == 201 and created["data"]["k"] == "\U0001F600"


@pytest.mark.parametrize("name, selector", [
    ("a 100 KB label value", "app=" + "a" * 100_000),
    ("100 KB of requirements", ",".join(f"k{i}=v" for i in range(15_000))),
])
def test_a_huge_selector_gets_a_400_status_not_a_closed_connection(endpoint, name, selector):
    path = f"/api/v1/namespaces/default/pods?labelSelector={quote(selector)}"
    assert len(path) > 100_000
    status, status_object, _ = exchange(endpoint, request_head("GET", path, token=endpoint[3]))
    assert status == 400 and status_object["reason"] == "BadRequest", (name, status, status_object)
    assert len(json.dumps(status_object)) < 2000   # the answer does not echo 100 KB back


# ------------------------------------------------------------------------------------------ the database
def test_a_write_the_database_refused_is_never_visible(tmp_path):
    store = Store(tmp_path / "cluster.db")
    store.create("configmaps", {"metadata": {"name": "before", "namespace": "default"}, "data": {"k": "v"}})
    version = store.resource_version
    files = [tmp_path / n for n in ("cluster.db", "cluster.db-wal")]
    limit = max(p.stat().st_size for p in files if p.exists()) + 4096
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))   # "the disk is full" (SIGXFSZ is ignored)
    try:
        with pytest.raises(ApiError) as refused:
            store.create("configmaps", {"metadata": {"name": "big", "namespace": "default"},
                                        "data": {"k": "x" * 1_000_000}})
        with pytest.raises(ApiError):
            store.update("configmaps", {"metadata": {"name": "before", "namespace": "default"},
                                        "data": {"k": "x" * 1_000_000}})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert refused.value.code == 500 and "nothing was changed" in refused.value.status()["message"]
    assert store.get("configmaps", "default", "big") is None
    assert store.get("configmaps", "default", "before")["data"] == {"k": "v"}
    assert store.resource_version == version
    store.create("configmaps", {"metadata": {"name": "after", "namespace": "default"}})   # room again: works
    store.close()
    again = Store(tmp_path / "cluster.db")
    assert again.get("configmaps", "default", "big") is None
    assert again.get("configmaps", "default", "before")["data"] == {"k": "v"}
    assert again.get("configmaps", "default", "after") is not None
    again.close()


def _up(home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "--home", str(home), "up"], capture_output=True, text=True, timeout=90)


def _corrupt_row(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE objects (key TEXT, ns TEXT, name TEXT, body TEXT, PRIMARY KEY (key, ns, name))")
    con.execute("INSERT INTO objects VALUES ('configmaps', 'default', 'broken', '{\"metadata\": {')")
    con.commit()
    con.close()


@pytest.mark.parametrize("damage, words", [
    ("zero-length", "is empty (0 bytes)"),
    ("not a database", "is damaged (SQLite says"),
    ("corrupt row", "holds a damaged object (configmaps default/broken"),
])
def test_an_empty_or_damaged_database_is_named_at_up_and_left_alone(tmp_path, damage, words):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    db = home / "cluster.db"
    if damage == "zero-length":
        db.write_bytes(b"")
    elif damage == "not a database":
        db.write_bytes(b"this is not SQLite " * 1000)
    else:
        _corrupt_row(db)
    before = db.read_bytes()
    out = _up(home)
    try:
        assert out.returncode == 1, out.stderr
        assert words in out.stderr and "ingresslab reset" in out.stderr and "restore" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and "JSONDecodeError" not in out.stderr
        assert db.read_bytes() == before   # never silently replaced by an empty cluster
    finally:
        subprocess.run([*CLI, "--home", str(home), "down"], capture_output=True, timeout=60)
