"""dataplane.py: kube-proxy's forwarder in a child process — real sockets, a real child, killed and brought back."""
from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
from pathlib import Path

import pytest

from ingresslab.cluster.node.proxy.dataplane import ForwarderProcess
from ingresslab.cluster.node.proxy.forwarder import BindError, ForwardRule

from test_forwarder import PORT, Backend, fresh_ip, request, run


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] != "Z"


async def eventually(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_traffic_crosses_the_child_which_logs_each_connection(tmp_path):
    async def main():
        ip, backend = fresh_ip(), await Backend().start(fresh_ip())
        log = tmp_path / "kube-proxy.log"
        fwd = ForwarderProcess(str(log))
        try:
            await fwd.apply([ForwardRule(ip, PORT, (backend.addr,), "default/echo:http cluster IP")])
            assert fwd.pid is not None and fwd.pid != os.getpid()
            assert Path(f"/proc/{fwd.pid}/comm").read_text().strip() == "kube-proxy"    # what `ps -e` shows
            limits = next(line for line in Path(f"/proc/{fwd.pid}/limits").read_text().splitlines()
                          if line.startswith("Max open files")).split()
            assert limits[3] == limits[4]          # soft limit raised to the hard one, as Go programs do
            assert await request(ip, PORT, b"through the child\n") == b"through the child\n"
            assert list(fwd.rules) == [(ip, PORT)]
            await eventually(lambda: log.exists() and log.read_text().strip())
            record = json.loads(log.read_text().splitlines()[0])
            assert record["label"] == "default/echo:http cluster IP"
            assert tuple(record["frontend"]) == (ip, PORT) and tuple(record["backend"]) == backend.addr
        finally:
            await fwd.close()
            await backend.stop()
    run(main())


def test_a_rule_without_backends_refuses_and_a_duplicate_is_refused_before_anything_changes():
    async def main():
        ip, backend = fresh_ip(), await Backend().start(fresh_ip())
        fwd = ForwarderProcess()
        try:
            await fwd.apply([ForwardRule(ip, PORT, (backend.addr,), "v1")])
            with pytest.raises(ValueError, match="two rules for"):
                await fwd.apply([ForwardRule(ip, PORT, (), "a"), ForwardRule(ip, PORT, (backend.addr,), "b")])
            assert await request(ip, PORT, b"still") == b"still"     # the refused table changed nothing
            await fwd.apply([ForwardRule(ip, PORT, (), "no endpoints")])
            assert fwd.rules == {}
            with pytest.raises(ConnectionRefusedError):
                await request(ip, PORT, b"x")
        finally:
            await fwd.close()
            await backend.stop()
    run(main())


def test_a_port_taken_by_someone_else_is_a_bind_error_and_the_other_rules_still_apply():
    async def main():
        ip, taken_ip = fresh_ip(), fresh_ip()
        backend = await Backend().start(fresh_ip())
        squatter = await asyncio.start_server(lambda r, w: w.close(), taken_ip, PORT)
        fwd = ForwarderProcess()
        try:
            with pytest.raises(BindError) as info:
                await fwd.apply([ForwardRule(ip, PORT, (backend.addr,), "free"),
                                 ForwardRule(taken_ip, PORT, (backend.addr,), "taken")])
            assert list(info.value.failures) == [(taken_ip, PORT)]
            assert info.value.failures[(taken_ip, PORT)].errno == errno.EADDRINUSE
            assert "address already in use" in str(info.value).lower()
            assert list(fwd.rules) == [(ip, PORT)]
            assert await request(ip, PORT, b"ok") == b"ok"
        finally:
            squatter.close()
            await fwd.close()
            await backend.stop()
    run(main())


def test_a_killed_child_comes_back_with_the_last_table_and_close_leaves_nothing():
    async def main():
        ip, backend = fresh_ip(), await Backend().start(fresh_ip())
        fwd = ForwarderProcess()
        await fwd.apply([ForwardRule(ip, PORT, (backend.addr,), "v1")])
        first = fwd.pid
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: fwd.pid not in (None, first) and fwd.rules)
        assert fwd.restarts == 1
        assert await request(ip, PORT, b"back") == b"back"
        second = fwd.pid
        await fwd.close()
        assert not alive(second) and fwd.pid is None
        with pytest.raises(RuntimeError, match="closed"):
            await fwd.apply([])
        with pytest.raises(ConnectionRefusedError):
            await request(ip, PORT, b"x")
        await backend.stop()
    run(main())


def test_a_table_of_thousands_of_rules_crosses_the_pipe_whole():
    """One JSON line carries the whole table (here ~300 KB, far past asyncio's default 64 KiB line limit): nothing
    is cut, and the next table still applies. Most rules have no endpoints (no listener), so the file-descriptor
    limit of whoever runs the test does not matter."""
    async def main():
        ip, backend = fresh_ip(), await Backend().start(fresh_ip())
        rules = [ForwardRule(ip, 20000 + n, (backend.addr,) if n % 30 == 0 else (),
                             f"default/a-service-with-a-long-name-{n}:http cluster IP") for n in range(3000)]
        fwd = ForwarderProcess()
        try:
            await fwd.apply(rules)
            assert sorted(port for _, port in fwd.rules) == [20000 + n for n in range(0, 3000, 30)]
            assert await request(ip, 20000 + 2970, b"one of many") == b"one of many"
            await fwd.apply(rules[:1])
            assert list(fwd.rules) == [(ip, 20000)]
        finally:
            await fwd.close()
            await backend.stop()
    run(main())
