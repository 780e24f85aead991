"""The lab process: `python -m ingresslab.labd --home DIR` runs one embedded cluster until SIGTERM.

This is the composition root: it starts the cluster (`ingresslab.cluster`), plugs the Ingress controller's
admission checks into the API (when that package is present), installs the Gateway API CRDs and deploys both
controllers (manifests/ingress-nginx.yaml, manifests/nginx-gateway.yaml: each a process pod), writes the kubeconfig and the state file that
`Lab.up()` and `ingresslab up` wait for, and on SIGTERM/SIGINT stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from typing import TYPE_CHECKING

from . import home as homes
from . import shutdown
from .cluster.node import warmstart

if TYPE_CHECKING:
    from .cluster.node.images import PodContext
    from .cluster.cluster import Cluster

MANIFESTS = Path(__file__).resolve().parent / "manifests"
CONTROLLER_IMAGES = ("registry.k8s.io/ingress-nginx/controller:v1.12.1",
                     "quay.io/kubernetes-ingress-controller/nginx-ingress-controller:0.20.0")
CONTROLLER_READY_TIMEOUT = 15.0
LEFTOVER_TIMEOUT = 10.0
CONTROLLER_MODULE = "ingresslab.ingress.controller"
CONTROLLER_PRELOAD = ("kubernetes.client.api.core_v1_api", "kubernetes.client.api.networking_v1_api",
                      "kubernetes.client.api.discovery_v1_api")
"""What the controller imports before it can list anything (about 0.75 s of CPU): a warm start does it while the
lab itself starts (`cluster/node/warmstart.py`)."""


def controller_pod_dir(home: Path, namespace: str, pod: str) -> Path:
    return home / "nginx" / f"{namespace}_{pod}"


def _register_controller_image(cluster: Cluster) -> None:
    """The Ingress controller's image runs our controller (a real nginx under it) as the pod's process."""
    from .cluster.node import runtime
    from .cluster.node.network import bind_port

    def launch(pod: PodContext, bound: dict[int, int], args: list[str]) -> runtime.ProcessSpec:
        flags = [a for a in args if a.startswith("--")]     # drop the binary's path (/nginx-ingress-controller)
        pod_dir = controller_pod_dir(cluster.home, pod.namespace, pod.name)
        argv = runtime.python_module(
            CONTROLLER_MODULE, *flags,
            f"--listen-address={pod.ip}", f"--http-port={bound.get(80, bind_port(80))}",
            f"--https-port={bound.get(443, bind_port(443))}", f"--home={pod_dir}",
            f"--status-file={pod_dir / 'status.json'}",
            f"--privileged-port-offset={bind_port(80) - 80}")
        host, _, port = (cluster.api_url or "").rpartition("//")[2].partition(":")
        env = {**pod.env, "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
               "INGRESSLAB_SA_DIR": str(cluster.service_account_dir), "PYTHONUNBUFFERED": "1"}
        return runtime.ProcessSpec(argv, env)

    def real_nginx(namespace: str, pod: str):
        """What `kubectl exec <controller> -- nginx -T` and `cat /etc/nginx/nginx.conf` act on: its real nginx."""
        import shutil

        from .cluster.node.shell import NginxInstance
        directory = controller_pod_dir(cluster.home, namespace, pod) / "nginx"
        binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin") or "nginx"
        return NginxInstance(binary, directory, directory / "nginx.conf", directory / "logs" / "error.log")

    for image in CONTROLLER_IMAGES:
        runtime.register_process_image(
            image, 80, launch, "The nginx Ingress controller: ingresslab's controller driving a real nginx.",
            ports=(443,), nginx=real_nginx)


GATEWAY_IMAGES = ("ghcr.io/nginx/nginx-gateway-fabric:2.2.1", "ghcr.io/nginx/nginx-gateway-fabric:edge")
GATEWAY_MODULE = "ingresslab.gateway.process"
GATEWAY_NAMESPACE = "nginx-gateway"


def gateway_network(pod_ip: str) -> str:
    """The loopback /24 the Gateways' nginx listen in: one per lab slot, beside the pods' 127.244.x. The slot is
    read from the controller pod's own address (pod CIDRs are 127.244.<2*slot + node>.0/24, network.py): pods of a
    restarted lab start before the cluster reports its slot."""
    return f"127.243.{int(pod_ip.split('.')[2]) // 2}.0/24"


def _register_gateway_image(cluster: Cluster) -> None:
    """The Gateway controller's image (after NGINX Gateway Fabric's) runs ingresslab.gateway.process as the pod's
    process; it starts one real nginx per Gateway, each on its own loopback address of `gateway_network`."""
    from .cluster.node import runtime
    from .cluster.node.network import bind_port

    def launch(pod: PodContext, bound: dict[int, int], args: list[str]) -> runtime.ProcessSpec:
        pod_dir = controller_pod_dir(cluster.home, pod.namespace, pod.name)
        argv = runtime.python_module(
            GATEWAY_MODULE, *[a for a in args if a == "controller" or a.startswith("--")],
            f"--home={pod_dir}", f"--status-file={pod_dir / 'status.json'}",
            f"--gateway-network={gateway_network(pod.ip)}",
            f"--privileged-port-offset={bind_port(80) - 80}")
        host, _, port = (cluster.api_url or "").rpartition("//")[2].partition(":")
        env = {**pod.env, "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
               "INGRESSLAB_SA_DIR": str(cluster.service_account_dir), "PYTHONUNBUFFERED": "1"}
        return runtime.ProcessSpec(argv, env)

    for image in GATEWAY_IMAGES:
        runtime.register_process_image(
            image, 8081, launch, "The Gateway API controller: ingresslab's controller, one real nginx per Gateway.")


def _start_gateway_activator(cluster: Cluster):
    """The Gateway controller's Deployment ships at 0 replicas (its process is ~80 MB that most of the course never
    uses); this scales it up when the first Gateway of its class appears (`gateway/activator.py`)."""
    from .cluster.client.record import EventRecorder
    from .gateway.activator import GatewayActivator
    activator = GatewayActivator(cluster.store, cluster.api, EventRecorder(cluster.store),
                                 namespace=GATEWAY_NAMESPACE, deployment="nginx-gateway")
    activator.start()
    return activator


def _deploy_ingress_controller(cluster: Cluster, manifest: str = "ingress-nginx.yaml") -> None:
    """On a fresh cluster, create what manifests/ingress-nginx.yaml (or `manifest`) holds, through the API's own
    write path."""
    import yaml

    from .cluster.apimachinery.errors import ApiError
    from .cluster.apimachinery.resources import by_kind
    text = (MANIFESTS / manifest).read_text()
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        r = by_kind(doc["apiVersion"], doc["kind"])
        if r is None:   # a custom kind whose CRD did not install
            logging.warning("could not create %s %s: kind not served", doc["kind"], doc["metadata"]["name"])
            continue
        ns = doc["metadata"].get("namespace") if r.namespaced else None
        if cluster.store.get(r.key, ns or "", doc["metadata"]["name"]) is not None:
            continue
        try:
            cluster.api.create(r, ns, doc)
        except ApiError as exc:
            logging.warning("could not create %s %s: %s", doc["kind"], doc["metadata"]["name"], exc)


GATEWAY_API_CRDS = "gateway-api-crds.yaml"
MANIFEST_DIGEST = "ingresslab.dev/manifest-sha256"
"""Annotation on each CRD the lab installs: the digest of its manifest, so a restart skips unchanged CRDs and a
newer lab replaces older ones."""


def _install_gateway_api(cluster: Cluster) -> None:
    """Install (or bring up to date) the Gateway API CRDs of manifests/gateway-api-crds.yaml, through the API's own
    write path (validated as any CRD a learner applies). Objects of an updated CRD stay."""
    import hashlib

    import yaml

    from .cluster.apimachinery.errors import ApiError
    from .cluster.apimachinery.resources import by_kind
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = (MANIFESTS / GATEWAY_API_CRDS).read_text()
    for item in yaml.load(text, Loader=loader)["items"]:
        doc = json.loads(json.dumps(item))   # no YAML anchors shared between objects
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        doc["metadata"].setdefault("annotations", {})[MANIFEST_DIGEST] = digest
        r = by_kind(doc["apiVersion"], doc["kind"])
        name = doc["metadata"]["name"]
        stored = cluster.store.get(r.key, "", name)
        try:
            if stored is None:
                cluster.api.create(r, None, doc)
            elif (stored["metadata"].get("annotations") or {}).get(MANIFEST_DIGEST) != digest:
                doc["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
                cluster.api.update(r, None, name, doc)
        except ApiError as exc:
            logging.warning("could not install %s: %s", name, exc)


async def _wait_for_controller(cluster: Cluster, timeout: float, *, since: float) -> dict:
    """Until the controller pod's nginx has served its first configuration in this run (a status file left by an
    earlier run does not count), or the time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for pod in cluster.store.list("pods", "ingress-nginx"):
            status = controller_pod_dir(cluster.home, "ingress-nginx", pod["metadata"]["name"]) / "status.json"
            try:
                if status.stat().st_mtime < since:
                    continue
                data = json.loads(status.read_text())
            except (OSError, ValueError):
                continue
            if data.get("nginx_pid") or data.get("reloads") is not None:
                return {"ready": True, "pod": pod["metadata"]["name"], "status_file": str(status)}
        await asyncio.sleep(0.02)
    return {"ready": False}


def _plug_ingress_admission(cluster: Cluster) -> None:
    try:
        from .ingress import validate
    except ImportError:   # the controller's admission is optional for the bare cluster
        return
    admit = getattr(validate, "validate_ingress", None)
    if admit is not None:
        cluster.admission.add_validator("ingresses.networking.k8s.io", lambda op, obj, old: admit(obj, old))


def _plain(exc: Exception) -> str:
    """What a learner reads when the lab could not start: errors written for them as they are, others named."""
    from .cluster.storage.store import DatabaseError
    if isinstance(exc, (DatabaseError, homes.HomeError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def starting_state() -> dict:
    return {"pid": os.getpid(), "pid_start": homes.process_start(os.getpid()), "phase": "starting",
            "started": time.time()}


async def run(home: Path, state: dict | None = None) -> int:
    """Run the lab until SIGTERM/SIGINT. The caller holds the home's lock (`main`)."""
    previous = homes.read_last(home)
    if state is None:
        state = starting_state()
        homes.write_state(home, state)
    # A lab killed outright (SIGKILL, OOM) stops its children by their parent-death signal, a moment later:
    # until they are gone, their nginx and kube-proxy still hold the ports this lab is about to bind.
    # A lab whose home was deleted under it (`rm -rf` of a running lab's home) runs on, unseen: stop it first.
    if await asyncio.to_thread(shutdown.stop_orphans, home):
        logging.warning("stopped a lab whose home %s had been deleted while it ran", home)
    left = await asyncio.to_thread(shutdown.wait_for_leftovers, home, timeout=LEFTOVER_TIMEOUT)
    if left:
        logging.warning("processes of an earlier lab still run in %s: %s", home, left)
    # First of all, so that its imports overlap with ours and the cluster's start.
    await warmstart.prepare(CONTROLLER_MODULE, CONTROLLER_PRELOAD, str(home))
    from .cluster.cluster import Cluster
    cluster = Cluster(home, token=homes.token(home), preferred_slot=previous.get("slot"),
                      api_port=previous.get("api_port", 0))
    stop = asyncio.Event()
    activator = None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        _register_controller_image(cluster)
        _register_gateway_image(cluster)
        _plug_ingress_admission(cluster)
        info = await cluster.start()
        _install_gateway_api(cluster)
        _deploy_ingress_controller(cluster)
        _deploy_ingress_controller(cluster, "nginx-gateway.yaml")
        activator = _start_gateway_activator(cluster)
        kubeconfig = homes.write_kubeconfig(home, info.api_url, info.token, info.ca_cert)
        state.update(phase="ready", api=info.api_url, api_port=int(info.api_url.rsplit(":", 1)[1]),
                     slot=info.slot, kubeconfig=str(kubeconfig),
                     nodes=[{"name": n.name, "ip": n.ip} for n in info.network.nodes],
                     phase_detail="waiting for the ingress controller")
        state["phase"] = "starting"
        homes.write_state(home, state)
        state["ingress"] = await _wait_for_controller(cluster, CONTROLLER_READY_TIMEOUT, since=state["started"])
        state.update(phase="ready", ready_after=round(time.time() - state["started"], 3))
        homes.write_state(home, state)
        homes.write_last(home, {"slot": info.slot, "api_port": state["api_port"]})
        logging.info("lab ready at %s (slot %s)", info.api_url, info.slot)
        await stop.wait()
    except Exception as exc:  # noqa: BLE001 - reported to whoever waits for the lab
        logging.exception("lab failed")
        state.update(phase="failed", error=_plain(exc))
        homes.write_state(home, state)
        if activator is not None:
            await activator.stop()
        await cluster.stop()
        await warmstart.discard_all()
        return 1
    await activator.stop()
    await cluster.stop()
    await warmstart.discard_all()   # a warm start no pod took (the controller's Deployment was deleted)
    homes.clear_state(home)
    return 0


BUSY = 3
"""Exit code of `python -m ingresslab.labd` when another lab process holds the home (running or starting)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingresslab.labd")
    parser.add_argument("--home", required=True)
    parser.add_argument("--detach", action="store_true",
                        help="fork into the background and return once the lab holds its home (the lab outlives "
                             "its starter); exit 3 if another lab holds it")
    args = parser.parse_args(argv)
    homes.private_umask()   # the database, logs, pods' and nginx's files: this user's alone
    home = Path(args.home)
    try:
        homes.ensure_home(home)
    except homes.HomeError as exc:
        print(f"ingresslab: {exc}", file=sys.stderr)
        return 1
    told = None
    if args.detach:
        # The child takes the lock (a POSIX lock belongs to the process that took it) and writes the first state,
        # then tells the starter through a pipe: the starter returns knowing which lab holds the home.
        readable, told = os.pipe()
        if os.fork() > 0:
            os.close(told)
            with os.fdopen(readable, "rb") as pipe:
                answer = pipe.read(1)
            os._exit(0 if answer == b"0" else BUSY if answer == b"3" else 1)
        os.close(readable)
        os.setsid()
    lock = homes.take_lock(home)
    state = None
    if lock is not None:
        state = starting_state()
        homes.write_state(home, state)
    if told is not None:
        os.write(told, b"0" if lock is not None else b"3")
        os.close(told)
    if lock is None:
        print(f"ingresslab: another lab process holds {home} (running or starting)", file=sys.stderr)
        return BUSY
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    try:
        return asyncio.run(run(home, state))
    finally:
        lock.release()   # last: while it is held, no other lab can start on this home


if __name__ == "__main__":
    sys.exit(main())
