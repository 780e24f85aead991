"""The real kubectl's streaming commands against the lab, as tutorials type them: exec, exec -it, run -i --rm,
attach, port-forward, cp — and what the commands inside a pod say about it."""
from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from polling import eventually

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"

PROBE_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: probe
  labels: {app: probe}
spec:
  containers:
  - name: shell
    image: busybox
    command: ["sleep", "3600"]
    env:
    - name: MY_POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: MY_NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: GREETING
      value: hello
    volumeMounts:
    - {name: creds, mountPath: /etc/creds}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - name: creds
    secret: {secretName: probe-creds}
  - name: scratch
    emptyDir: {}
"""


@pytest.fixture(scope="module")
def cafe(lab, kubectl):
    kubectl("create", "-f", str(MANIFESTS / "cafe.yaml"))
    kubectl("create", "secret", "generic", "probe-creds", "--from-literal=user=barista")
    kubectl("apply", "-f", "-", input=PROBE_POD)
    eventually(lambda: kubectl("get", "pods", "--no-headers").stdout.count("Running") == 6, timeout=30)
    yield
    kubectl("delete", "-f", str(MANIFESTS / "cafe.yaml"), "--ignore-not-found")
    kubectl("delete", "pod", "probe", "--ignore-not-found", "--now")
    kubectl("delete", "secret", "probe-creds", "--ignore-not-found")


def pod_of(kubectl, selector: str, namespace: str = "default") -> str:
    return kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "jsonpath={.items[0].metadata.name}").stdout


def jsonpath(kubectl, *args: str) -> str:
    return kubectl("get", *args[:-1], "-o", f"jsonpath={args[-1]}").stdout


# ---------------------------------------------------------------------------------------------- exec
def test_exec_env_shows_the_pods_environment_as_the_kubelet_sets_it(cafe, kubectl):
    out = kubectl("exec", "probe", "--", "env").stdout
    env = dict(line.split("=", 1) for line in out.splitlines())
    assert env["HOSTNAME"] == "probe"
    assert env["MY_POD_IP"] == jsonpath(kubectl, "pod", "probe", "{.status.podIP}")
    assert env["MY_NODE"] == jsonpath(kubectl, "pod", "probe", "{.spec.nodeName}")
    assert env["GREETING"] == "hello"
    tea_ip = jsonpath(kubectl, "svc", "tea-svc", "{.spec.clusterIP}")
    assert env["TEA_SVC_SERVICE_HOST"] == tea_ip and env["TEA_SVC_SERVICE_PORT"] == "80"
    assert env["TEA_SVC_PORT_80_TCP"] == f"tcp://{tea_ip}:80"
    assert env["KUBERNETES_SERVICE_HOST"] == jsonpath(kubectl, "svc", "kubernetes", "{.spec.clusterIP}")
    assert env["KUBERNETES_SERVICE_PORT"] == "443"


def test_exec_cat_reads_the_controllers_real_nginx_conf(cafe, lab, kubectl):
    pod = kubectl("get", "pods", "-n", "ingress-nginx", "-o", "jsonpath={.items[0].metadata.name}").stdout
    out = kubectl("exec", "-n", "ingress-nginx", pod, "--", "cat", "/etc/nginx/nginx.conf").stdout
    on_disk = (Path(lab.home) / "nginx" / f"ingress-nginx_{pod}" / "nginx" / "nginx.conf").read_text()
    assert out == on_disk and "server {" in out
    tested = kubectl("exec", "-n", "ingress-nginx", pod, "--", "nginx", "-T")
    assert "syntax is ok" in tested.stderr and "# configuration file" in tested.stdout


def test_exec_passes_stdin_with_dash_i(cafe, kubectl):
    out = kubectl("exec", "-i", "probe", "--", "sh", input="echo one $GREETING\ncat /etc/creds/user\nexit 0\n").stdout
    assert out == "one hello\nbarista"


def test_a_non_zero_exit_code_becomes_kubectls(cafe, kubectl):
    proc = kubectl("exec", "probe", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert proc.returncode == 3
    assert proc.stdout == "out\n"
    assert "err\n" in proc.stderr and "command terminated with exit code 3" in proc.stderr


def test_unknown_commands_fail_as_a_shell_and_as_the_runtime_do(cafe, kubectl):
    in_shell = kubectl("exec", "probe", "--", "sh", "-c", "nosuchthing", check=False)
    assert in_shell.returncode == 127 and "sh: nosuchthing: not found" in in_shell.stderr
    direct = kubectl("exec", "probe", "--", "nosuchthing", check=False)
    assert direct.returncode == 1
    assert 'exec: "nosuchthing": executable file not found in $PATH' in direct.stderr


def test_exec_into_a_missing_container_is_refused(cafe, kubectl):
    proc = kubectl("exec", "probe", "-c", "nope", "--", "env", check=False)
    assert proc.returncode == 1 and "container nope is not valid for pod probe" in proc.stderr


def test_exec_into_a_pending_pod_says_the_container_is_not_there(cafe, kubectl):
    kubectl("run", "pending", "--image=example.invalid/none:1")
    try:
        eventually(lambda: "ErrImagePull" in kubectl("get", "pod", "pending").stdout)
        proc = kubectl("exec", "pending", "--", "env", check=False)
        assert proc.returncode == 1
        assert 'unable to upgrade connection: container not found ("pending")' in proc.stderr
    finally:
        kubectl("delete", "pod", "pending", "--now")


def test_files_the_kubelet_mounts_are_there(cafe, kubectl):
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert kubectl("exec", "probe", "--", "ls", sa).stdout.split() == ["ca.crt", "namespace", "token"]
    assert kubectl("exec", "probe", "--", "cat", f"{sa}/namespace").stdout == "default"
    resolv = kubectl("exec", "probe", "--", "cat", "/etc/resolv.conf").stdout
    assert resolv.startswith("search default.svc.cluster.local svc.cluster.local cluster.local\n")
    ip = jsonpath(kubectl, "pod", "probe", "{.status.podIP}")
    assert f"{ip}\tprobe" in kubectl("exec", "probe", "--", "cat", "/etc/hosts").stdout
    refused = kubectl("exec", "probe", "--", "sh", "-c", "echo x > /etc/creds/user", check=False)
    assert refused.returncode == 1 and "Read-only file system" in refused.stderr
    kubectl("exec", "probe", "--", "sh", "-c", "echo kept > /scratch/note")
    assert kubectl("exec", "probe", "--", "cat", "/scratch/note").stdout == "kept\n"


def test_ps_shows_the_containers_command_as_pid_1(cafe, kubectl):
    rows = kubectl("exec", "probe", "--", "ps").stdout.splitlines()
    assert rows[0].split() == ["PID", "USER", "TIME", "COMMAND"]
    assert re.match(r"\s+1 root\s+\S+ sleep 3600$", rows[1])
    assert rows[-1].endswith(" ps")


# ---------------------------------------------------------------------------------------------- the network
def test_curl_goes_out_from_the_pods_own_address(cafe, lab, kubectl):
    ip = jsonpath(kubectl, "pod", "probe", "{.status.podIP}")
    tea = pod_of(kubectl, "app=tea")
    out = kubectl("exec", tea, "--", "curl", "-s", "-w", "%{local_ip}\\n", "http://coffee-svc/coffee").stdout
    assert "Server name: coffee-" in out
    tea_ip = jsonpath(kubectl, "pod", tea, "{.status.podIP}")
    assert out.splitlines()[-1] == tea_ip
    log = (Path(lab.home) / "logs" / "kube-proxy.log")
    assert eventually(lambda: f'"client":["{tea_ip}"' in log.read_text())
    assert ip != tea_ip
    head = kubectl("exec", tea, "--", "curl", "-sI", "http://coffee-svc/").stdout
    assert head.startswith("HTTP/1.1 200 OK\n") and "\nServer: nginx/" in head     # (text mode reads \r\n as \n)


@pytest.mark.parametrize("name", ["tea-svc", "tea-svc.default", "tea-svc.default.svc.cluster.local"])
def test_service_names_resolve_from_a_pod(cafe, kubectl, name):
    tea_ip = jsonpath(kubectl, "svc", "tea-svc", "{.spec.clusterIP}")
    out = kubectl("exec", "probe", "--", "nslookup", name).stdout
    assert "Name:\ttea-svc.default.svc.cluster.local\n" in out and f"Address: {tea_ip}\n" in out
    body = kubectl("exec", "probe", "--", "wget", "-qO-", f"http://{name}/").stdout
    assert "Server name: tea-" in body


def test_an_unknown_name_does_not_resolve(cafe, kubectl):
    proc = kubectl("exec", "probe", "--", "wget", "-qO-", "http://nope-svc/", check=False)
    assert proc.returncode == 1 and "wget: bad address 'nope-svc'" in proc.stderr
    tea = pod_of(kubectl, "app=tea")
    proc = kubectl("exec", tea, "--", "curl", "-sS", "http://nope-svc/", check=False)
    assert proc.returncode == 6 and "curl: (6) Could not resolve host: nope-svc" in proc.stderr


# ---------------------------------------------------------------------------------------------- run
def test_run_i_rm_curl_prints_a_tea_pods_answer_and_cleans_up(cafe, kubectl):
    proc = kubectl("run", "-i", "--rm", "curl", "--image=curlimages/curl", "--restart=Never", "--",
                   "curl", "-s", "http://tea-svc/")
    assert proc.stdout.count("Server name: tea-") == 1
    assert 'pod "curl" deleted' in proc.stdout
    # deleted with a grace period, as on a real cluster: Terminating for a moment, then gone
    eventually(lambda: kubectl("get", "pod", "curl", check=False).returncode == 1, timeout=15,
               what="the --rm pod to be gone")


def test_a_commands_exit_code_becomes_the_pods_phase(cafe, kubectl):
    kubectl("run", "fails", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo bye; exit 3")
    try:
        assert eventually(lambda: jsonpath(kubectl, "pod", "fails", "{.status.phase}") == "Failed")
        assert jsonpath(kubectl, "pod", "fails", "{.status.containerStatuses[0].state.terminated.exitCode}") == "3"
        assert kubectl("logs", "fails").stdout == "bye\n"
        assert re.search(r"fails\s+0/1\s+Error\s+0", kubectl("get", "pod", "fails").stdout)
    finally:
        kubectl("delete", "pod", "fails", "--now")


def test_run_i_rm_returns_the_commands_exit_code(cafe, kubectl):
    proc = kubectl("run", "-i", "--rm", "b", "--image=busybox", "--restart=Never", "--", "sh", "-c",
                   "read line; echo got $line; exit 4", input="tea\n", check=False)
    assert proc.returncode == 4
    assert proc.stdout.startswith("got tea\n")


def drive(binary: str, args: list[str], keys: list[tuple[bytes, bytes]], env: dict) -> tuple[bytes, int]:
    """kubectl under a pseudo-terminal, typing each key and waiting for what should follow; (everything it
    printed, its exit code)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover — the child becomes kubectl
        os.execve(binary, [binary, *args], env)
    seen = b""

    def read(until: bytes, timeout: float = 15) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while until not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    return
    try:
        read(b"")
        for key, wait_for in keys:
            os.write(fd, key)
            read(wait_for)
        read(b"\x00", timeout=10)     # until kubectl has closed the terminal
        _, status = os.waitpid(pid, 0)
        return seen, os.waitstatus_to_exitcode(status)
    finally:
        os.close(fd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def tty_env(lab):
    return dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path), HOME=str(lab.home))


def test_exec_it_sh_is_an_interactive_shell(cafe, tty_env, kubectl_path):
    seen, code = drive(kubectl_path, ["exec", "-it", "probe", "--", "sh"],
                       [(b"\r", b"/ # "), (b"echo hi $HOSTNAME\r", b"hi probe"), (b"sleep 60\r", b"sleep 60"),
                        (b"\x03", b"^C"), (b"exit 5\r", b"exit 5")], tty_env)
    text = seen.decode(errors="replace")
    assert "hi probe\r\n/ # " in text and "^C\r\n/ # " in text
    assert code == 5


def test_run_it_rm_busybox_sh(cafe, kubectl, tty_env, kubectl_path):
    seen, code = drive(kubectl_path, ["run", "-it", "--rm", "x", "--image=busybox", "--", "sh"],
                       [(b"\r", b"/ # "), (b"hostname\r", b"x\r\n"), (b"exit\r", b"deleted")], tty_env)
    text = seen.decode(errors="replace")
    assert "If you don't see a command prompt, try pressing enter." in text
    assert "hostname\r\nx\r\n/ # " in text and 'pod "x" deleted' in text
    assert code == 0
    # deleted with a grace period, as on a real cluster: Terminating for a moment, then gone
    eventually(lambda: kubectl("get", "pod", "x", check=False).returncode == 1, timeout=15,
               what="the --rm pod to be gone")


# ---------------------------------------------------------------------------------------------- port-forward
@contextlib.contextmanager
def port_forward(lab, binary: str, target: str, remote: str):
    """`kubectl port-forward <target> :<remote>` running; yields (process, local port); stopped with ^C."""
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path), HOME=str(lab.home))
    with subprocess.Popen([binary, "port-forward", target, f":{remote}"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            line = proc.stdout.readline()
            match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
            assert match, f"kubectl port-forward said {line!r}"
            yield proc, int(match.group(1))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.mark.parametrize("target", ["svc/coffee-svc", "deploy/coffee", "pod"])
def test_port_forward_carries_real_http(cafe, lab, kubectl, kubectl_path, target):
    if target == "pod":
        target = "pod/" + pod_of(kubectl, "app=coffee")
    remote = "80" if target.startswith("svc/") else "8080"
    with port_forward(lab, kubectl_path, target, remote) as (proc, port):
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/coffee", timeout=10) as resp:
                body = resp.read().decode()
            assert "Server name: coffee-" in body and "URI: /coffee" in body
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_port_forward_to_a_closed_port_says_so(cafe, lab, kubectl_path):
    with port_forward(lab, kubectl_path, "pod/probe", "9999") as (proc, port):
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
        proc.wait(timeout=10)
        assert "error forwarding port 9999 to pod" in proc.stderr.read()


# ---------------------------------------------------------------------------------------------- images, cp
def test_the_nginx_image_serves_its_welcome_page(cafe, kubectl):
    kubectl("run", "web", "--image=nginx")
    try:
        ip = eventually(lambda: jsonpath(kubectl, "pod", "web", "{.status.podIP}"))
        eventually(lambda: jsonpath(kubectl, "pod", "web", "{.status.phase}") == "Running")
        page = kubectl("exec", "probe", "--", "wget", "-qO-", f"http://{ip}/").stdout
        assert "<title>Welcome to nginx!</title>" in page and "<h1>Welcome to nginx!</h1>" in page
        conf = kubectl("exec", "web", "--", "cat", "/etc/nginx/conf.d/default.conf").stdout
        assert "root   /usr/share/nginx/html;" in conf
    finally:
        kubectl("delete", "pod", "web", "--now")


def test_kubectl_cp_copies_in_and_out(cafe, kubectl, tmp_path):
    source = tmp_path / "menu.txt"
    source.write_text("earl grey\n")
    kubectl("cp", str(source), "probe:/scratch/menu.txt")
    assert kubectl("exec", "probe", "--", "cat", "/scratch/menu.txt").stdout == "earl grey\n"
    kubectl("cp", "probe:/etc/creds", str(tmp_path / "creds"))
    assert (tmp_path / "creds" / "user").read_text() == "barista"


def test_the_counter_pod_of_the_logging_docs_logs_its_loop(cafe, kubectl):
    kubectl("run", "counter", "--image=busybox", "--", "/bin/sh", "-c",
            'i=0; while true; do echo "$i: $(date)"; i=$((i+1)); sleep 0.05; done')
    try:
        lines = eventually(lambda: (out := kubectl("logs", "counter", "--tail=-1").stdout.splitlines())
                           and len(out) >= 3 and out)
        assert [line.split(":")[0] for line in lines[:3]] == ["0", "1", "2"]
        assert re.fullmatch(r"0: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}", lines[0])
    finally:
        kubectl("delete", "pod", "counter", "--now")


def test_attach_joins_a_running_containers_stdin_and_output(cafe, kubectl):
    kubectl("run", "reader", "--image=busybox", "-i", "--attach=false", "--restart=Never", "--", "sh", "-c",
            "while read line; do echo heard $line; done; echo bye")
    try:
        eventually(lambda: jsonpath(kubectl, "pod", "reader", "{.status.phase}") == "Running")
        proc = kubectl("attach", "-i", "reader", input="one\ntwo\n")
        assert "heard one\nheard two\nbye\n" in proc.stdout
        assert eventually(lambda: jsonpath(kubectl, "pod", "reader", "{.status.phase}") == "Succeeded")
    finally:
        kubectl("delete", "pod", "reader", "--now")
