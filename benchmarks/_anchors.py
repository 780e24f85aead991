"""The machine's own limits, measured in the same run as the lab's paths: what a path is a ratio of.

* `bare_responder()`: a ~20-line asyncio server that answers every request head with a fixed 200, in a process of
  its own: the most a Python server on this machine can do, with nothing else to do.
* `nginx_return_200()`: nginx with one worker and `return 200`: the most nginx does here without proxying.

Both listen on 127.0.0.1 at a free port and are stopped when the block ends. Figures of the lab's paths divided by
these are comparable across machines and loads, where requests/s alone are not.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import _common as c

BARE = r'''
import asyncio, sys
RESP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
class Responder(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            self.buf = self.buf[end + 4:]
            self.transport.write(RESP)
async def main():
    server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
'''

NGINX = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 1000000;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited: {proc.stderr.read() if proc.stderr else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def bare_responder() -> Iterator[tuple[str, int, int]]:
    """(ip, port, pid) of the bare asyncio responder."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE, str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, proc, "the bare responder")
        yield "127.0.0.1", port, proc.pid
    finally:
        _stop(proc)


@contextlib.contextmanager
def nginx_return_200() -> Iterator[tuple[str, int, int]]:
    """(ip, port, worker pid) of nginx answering `return 200` with one worker."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="ingresslab-anchor-") as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX.format(dir=tmp, port=port))
        proc = subprocess.Popen([c.nginx_binary(), "-p", tmp, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            _wait_listening(port, proc, "nginx (return 200)")
            yield "127.0.0.1", port, proc.pid
        finally:
            _stop(proc)
