"""What runs inside a pod: the shell's grammar and commands, the container's view of itself, command containers,
and name resolution — through the kubelet's own streaming side, on real pods of a running cluster."""
from __future__ import annotations

import asyncio
import io
import tarfile

import pytest

from ingresslab.cluster.apimachinery.errors import ApiError, StreamRefused
from ingresslab.cluster.node.shell.parser import ShellSyntaxError, parse
from ingresslab.cluster.node.shell.resolver import NameNotFound, Resolver
from cluster_harness import run_async, running_controllers

BUSYBOX_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box", "namespace": "default"},
               "spec": {"containers": [{"name": "box", "image": "busybox", "command": ["sleep", "3600"],
                                        "env": [{"name": "GREETING", "value": "hi there"}]}]}}


async def running(store, controllers, obj: dict) -> dict:
    store.create("pods", obj)
    for _ in range(500):
        await controllers.wait_idle()
        current = store.get("pods", "default", obj["metadata"]["name"])
        if (current.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed"):
            return current
        await asyncio.sleep(0.01)
    raise AssertionError(f"pod never ran: {current.get('status')}")


async def sh(controllers, script: str, stdin: bytes | None = None, pod: str = "box") -> tuple[int, str, str]:
    out, err = bytearray(), bytearray()
    reader = None
    if stdin is not None:
        reader = asyncio.StreamReader()
        reader.feed_data(stdin)
        reader.feed_eof()
    code = await controllers.kubelet.streams.exec("default", pod, pod, ["sh", "-c", script], stdin=reader,
                                                  stdout=out.extend, stderr=err.extend, tty=False, resize=None)
    return code, out.decode(), err.decode()


@run_async
async def test_the_shell_runs_pipes_lists_quotes_and_expansions(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await running(store, controllers, BUSYBOX_POD)
        cases = {
            "echo a b | wc -w": (0, "2\n"),
            "false && echo no || echo yes": (0, "yes\n"),
            "true; false": (1, ""),
            "echo 'single $GREETING' \"double $GREETING\"": (0, "single $GREETING double hi there\n"),
            "X=1; echo ${X}2 $X": (0, "12 1\n"),
            "echo $(echo inner) done": (0, "inner done\n"),
            "for i in 1 2 3; do echo n$i; done | tail -n 1": (0, "n3\n"),
            "seq 1 5 | grep -v 3 | head -2": (0, "1\n2\n"),
            "exit 7": (7, ""),
            "! false": (0, ""),
            "cd /etc && pwd": (0, "/etc\n"),
            "echo redirected > /tmp/f; cat /tmp/f; echo more >> /tmp/f; wc -l < /tmp/f": (0, "redirected\n2\n"),
            "sh -c 'exit 3'; echo $?": (0, "3\n"),
            "i=0; while [ $i -lt 3 ]; do echo \"$i: tick\"; i=$((i+1)); done": (0, "0: tick\n1: tick\n2: tick\n"),
            "until [ -f /tmp/flag ]; do touch /tmp/flag; done; echo flagged": (0, "flagged\n"),
            "if [ \"$GREETING\" = 'hi there' ]; then echo yes; else echo no; fi": (0, "yes\n"),
            "if false; then echo a; elif [ -d /etc ]; then echo b; fi": (0, "b\n"),
            "echo $((6 * 7)) $((10 / 3)) $((2 > 1))": (0, "42 3 1\n"),
        }
        for script, expected in cases.items():
            code, out, _ = await sh(controllers, script)
            assert (code, out) == expected, script


@run_async
async def test_errors_read_as_busybox_sh_writes_them(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await running(store, controllers, BUSYBOX_POD)
        assert await sh(controllers, "nosuch arg") == (127, "", "sh: nosuch: not found\n")
        assert await sh(controllers, "curl http://x") == (127, "", "sh: curl: not found\n")   # busybox has none
        code, _, err = await sh(controllers, "cat /nope")
        assert code == 1 and err == "cat: /nope: No such file or directory\n"
        code, _, err = await sh(controllers, "echo 'open")
        assert code == 2 and "unterminated quoted string" in err
        code, out, err = await sh(controllers, "ls /nope 2>&1")
        assert code == 1 and out == "ls: /nope: No such file or directory\n" and not err


@run_async
async def test_stdin_reaches_the_command_and_ends_with_eof(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await running(store, controllers, BUSYBOX_POD)
        assert await sh(controllers, "cat | grep -c tea", b"tea\ncoffee\ngreen tea\n") == (0, "2\n", "")
        assert await sh(controllers, "read a b; echo $b-$a", b"one two\n") == (0, "two-one\n", "")


@run_async
async def test_exec_is_refused_as_the_kubelet_refuses(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await running(store, controllers, BUSYBOX_POD)
        streams = controllers.kubelet.streams
        with pytest.raises(ApiError) as missing:
            streams.check("exec", "default", "ghost", None)
        assert missing.value.code == 404 and missing.value.message == 'pods "ghost" not found'
        with pytest.raises(ApiError) as wrong:
            streams.check("exec", "default", "box", "nope")
        assert wrong.value.message == "container nope is not valid for pod box"
        assert streams.check("exec", "default", "box", None) == "box"
        with pytest.raises(ApiError) as no_program:
            await streams.exec("default", "box", "box", ["bash"], stdin=None, stdout=None, stderr=None, tty=False,
                               resize=None)
        assert 'exec: "bash": executable file not found in $PATH' in no_program.value.message
        store.create("pods", {"metadata": {"name": "nowhere", "namespace": "default"},
                              "spec": {"nodeName": "node-9", "containers": [{"name": "c", "image": "busybox"}]}})
        await controllers.wait_idle()
        with pytest.raises(StreamRefused) as not_running:
            streams.check("exec", "default", "nowhere", None)
        assert not_running.value.text == 'container not found ("c")'


@run_async
async def test_a_command_container_ends_succeeded_or_failed_with_its_exit_code(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        for name, script, phase, code in (("ok", "echo done", "Succeeded", 0), ("bad", "echo oops >&2; exit 3",
                                                                                 "Failed", 3)):
            store.create("pods", {"metadata": {"name": name, "namespace": "default"},
                                  "spec": {"restartPolicy": "Never", "containers": [
                                      {"name": name, "image": "busybox", "command": ["sh", "-c", script]}]}})
            for _ in range(500):
                await controllers.wait_idle()
                status = store.get("pods", "default", name)["status"]
                if status.get("phase") == phase:
                    break
                await asyncio.sleep(0.01)
            assert status["phase"] == phase
            terminated = status["containerStatuses"][0]["state"]["terminated"]
            assert terminated["exitCode"] == code and terminated["reason"] == ("Completed" if not code else "Error")
            ready = next(c for c in status["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "False" and ready["reason"] == "PodCompleted"
            expected = "done" if not code else "oops"
            assert controllers.kubelet.logs("default", name) == [expected]


@run_async
async def test_curlimages_curl_runs_curl_with_its_arguments(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await running(store, controllers, {"metadata": {"name": "web", "namespace": "default"},
                                           "spec": {"containers": [{"name": "web", "image": "nginx"}]}})
        ip = store.get("pods", "default", "web")["status"]["podIP"]
        store.create("pods", {"metadata": {"name": "c", "namespace": "default"},
                              "spec": {"restartPolicy": "Never", "containers": [
                                  {"name": "c", "image": "curlimages/curl", "args": ["-s", f"http://{ip}/"]}]}})
        for _ in range(500):
            await controllers.wait_idle()
            if store.get("pods", "default", "c")["status"].get("phase") == "Succeeded":
                break
            await asyncio.sleep(0.01)
        assert "<h1>Welcome to nginx!</h1>" in controllers.kubelet.logs("default", "c")


@run_async
async def test_tar_round_trips_through_the_containers_writable_layer(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await running(store, controllers, BUSYBOX_POD)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            data = b"earl grey\n"
            info = tarfile.TarInfo("menu/tea.txt")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            evil = tarfile.TarInfo("../../etc/passwd")
            evil.size = 1
            archive.addfile(evil, io.BytesIO(b"x"))
        code, out, err = await sh(controllers, "mkdir -p /tmp/in && tar -xmf - -C /tmp/in && cat /tmp/in/menu/tea.txt",
                                  buffer.getvalue())
        assert (code, out) == (0, "earl grey\n") and "Removing leading `../../' from member names" in err
        assert await sh(controllers, "cat /tmp/in/etc/passwd") == (0, "x", "")
        streams = controllers.kubelet.streams
        raw = bytearray()
        await streams.exec("default", "box", "box", ["tar", "cf", "-", "/tmp/in"], stdin=None, stdout=raw.extend,
                           stderr=None, tty=False, resize=None)
        with tarfile.open(fileobj=io.BytesIO(bytes(raw))) as archive:
            assert archive.extractfile("tmp/in/menu/tea.txt").read() == b"earl grey\n"
        assert "root:x:0:0" in streams.container("default", "box", "box").fs.read("/etc/passwd").decode()


def test_the_parser_refuses_what_sh_refuses():
    for bad in ("echo |", "&& echo", "for x in 1; echo; done", "echo $(unclosed"):
        with pytest.raises(ShellSyntaxError):
            parse(bad)
    tree = parse("A=1 env | grep A 2>/dev/null && echo ok")
    assert len(tree) == 1 and tree[0].rest[0][0] == "&&"


def test_names_resolve_through_the_search_path_then_as_written():
    asked = []
    records = {"tea-svc.default.svc.cluster.local": ["10.96.0.5"], "example.org": ["192.0.2.1"]}

    def lookup(fqdn: str):
        asked.append(fqdn)
        return records.get(fqdn)
    resolver = Resolver(("default.svc.cluster.local", "svc.cluster.local", "cluster.local"), lookup,
                        hosts={"box": ["10.244.0.9"]})
    assert resolver.resolve("tea-svc") == ("tea-svc.default.svc.cluster.local", ["10.96.0.5"])
    assert resolver.resolve("tea-svc.default") == ("tea-svc.default.svc.cluster.local", ["10.96.0.5"])
    assert asked[-2:] == ["tea-svc.default.default.svc.cluster.local", "tea-svc.default.svc.cluster.local"]
    assert resolver.resolve("box") == ("box", ["10.244.0.9"])
    assert resolver.resolve("10.1.2.3") == ("10.1.2.3", ["10.1.2.3"])
    assert resolver.resolve("example.org") == ("example.org", ["192.0.2.1"])
    with pytest.raises(NameNotFound) as missing:
        resolver.resolve("nope")
    assert missing.value.tried[-1] == "nope"


@run_async
async def test_nothing_outside_the_labs_loopback_is_reached(tmp_path):
    async with running_controllers(tmp_path) as (store, controllers, _):
        await running(store, controllers, BUSYBOX_POD)
        code, _, err = await sh(controllers, "wget -qO- http://192.0.2.1/")
        assert code == 1 and "192.0.2.1" in err
        code, _, err = await sh(controllers, "wget -qO- http://example.com/")
        assert code == 1 and err == "wget: bad address 'example.com'\n"
