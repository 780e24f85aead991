"""The whole lab as an unprivileged user (Binder's situation): no port below 1024, yet every hop works.

Run as root, the test drops to `nobody` with runuser; run as a normal user, it simply is unprivileged.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

HELLO_ON_80 = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: old-hello}
spec:
  replicas: 1
  selector: {matchLabels: {app: old-hello}}
  template:
    metadata: {labels: {app: old-hello}}
    spec:
      containers:
      - name: hello
        image: nginxdemos/hello:plain-text
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: old-hello}
spec:
  selector: {app: old-hello}
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: old-hello
  annotations:
    nginx.ingress.kubernetes.io/service-upstream: "true"
spec:
  ingressClassName: nginx
  rules:
  - host: old.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: old-hello, port: {number: 80}}}}
"""


@pytest.fixture
def unprivileged_home(traversable_checkout):
    if os.geteuid() != 0:
        home = Path(tempfile.mkdtemp(prefix="pytest-unpriv-"))
        yield home, []
        shutil.rmtree(home, ignore_errors=True)
        return
    if shutil.which("runuser") is None:
        pytest.skip("runuser is needed to drop to an unprivileged user")
    nobody = pwd.getpwnam("nobody")
    home = Path(tempfile.mkdtemp(prefix="pytest-unpriv-"))
    os.chmod(home, 0o755)
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    yield home, ["runuser", "-u", "nobody", "--"]
    shutil.rmtree(home, ignore_errors=True)


def test_the_cafe_works_without_root(unprivileged_home):
    home, prefix = unprivileged_home
    env = dict(os.environ, HOME=str(home), INGRESSLAB_HOME=str(home), KUBECONFIG=str(home / "kubeconfig"))

    def run(*argv, input=None, check=True):
        proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, env=env, input=input, timeout=60,
                              cwd=str(home))
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    try:
        run(str(BIN / "ingresslab"), "up")
        status = json.loads(run(str(BIN / "ingresslab"), "status", "--json").stdout)
        node, port = status["nodes"][0]["ip"], status["ingress"]["http_nodeport"]
        kubectl = str(BIN / "kubectl")
        run(kubectl, "apply", "-f", str(ROOT / "manifests" / "cafe.yaml"))
        run(kubectl, "apply", "-f", str(ROOT / "manifests" / "cafe-ingress-v1.yaml"))
        run(kubectl, "apply", "-f", str(ROOT / "manifests" / "cafe-secret.yaml"))
        run(kubectl, "apply", "-f", "-", input=HELLO_ON_80)

        https = status["ingress"]["https_nodeport"]

        def answer(host, path, tls=False):
            if tls:   # cafe.example.com has TLS: plain http is redirected (308), so ask over https
                argv = ["curl", "-s", "--insecure", "--resolve", f"{host}:{https}:{node}", f"https://{host}:{https}{path}"]
            else:
                argv = ["curl", "-s", "-H", f"Host: {host}", f"http://{node}:{port}{path}"]
            m = re.search(r"Server name: (\S+)", run(*argv, check=False).stdout)
            return m.group(1) if m else None

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (
                (answer("cafe.example.com", "/coffee", tls=True) or "").startswith("coffee-")
                and (answer("old.example.com", "/") or "").startswith("old-hello-")):
            time.sleep(0.1)
        assert (answer("cafe.example.com", "/tea", tls=True) or "").startswith("tea-")
        # A pod on port 80 (bound at 10080 without root), reached through its ClusterIP (service-upstream).
        assert (answer("old.example.com", "/") or "").startswith("old-hello-")
        ps = subprocess.run(["ps", "-eo", "user:20,args", "--width", "4000"], capture_output=True,
                            text=True).stdout
        ours = [line for line in ps.splitlines() if str(home) in line]
        assert ours and all(not line.startswith("root ") for line in ours), ps
    finally:
        run(str(BIN / "ingresslab"), "down", check=False)
    time.sleep(0.2)
    ps = subprocess.run(["ps", "-eww", "-o", "stat,args"], capture_output=True, text=True).stdout
    assert not [line for line in ps.splitlines() if str(home) in line and not line.startswith("Z")]
