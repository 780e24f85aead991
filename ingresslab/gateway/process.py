"""The Gateway controller as a process: `python -m ingresslab.gateway.process --kubeconfig FILE …` or in-cluster.

The lab runs it as the container of the `nginx-gateway` Deployment (image `ghcr.io/nginx/nginx-gateway-fabric`,
registered by `ingresslab.labd` like the Ingress controller's image), with flags after NGINX Gateway Fabric's
`controller` command (`--gateway-ctlr-name`, `--gatewayclass`). It runs `controller.GatewayController` until
SIGTERM and rewrites a status file after every sync: for each Gateway it serves, the loopback address its nginx
listens on, the nginx.conf path, reloads and Lua updates — what `ingresslab conf --gateway` and the notebook read.

Neighbours: `controller.py` (the work), `ingresslab.ingress.controller.api_client_from` (kubeconfig or in-cluster).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import kubernetes

from ..ingress.controller import api_client_from
from . import objects as o
from .controller import GatewayController, Options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway controller", description="ingresslab's Gateway API controller: "
                                "one nginx per Gateway of its GatewayClass (flags after NGINX Gateway Fabric's).")
    add = p.add_argument
    add("command", nargs="?", default="controller", choices=["controller"], help="what to run (only 'controller')")
    add("--kubeconfig", help="kubeconfig file; without it, in-cluster: $KUBERNETES_SERVICE_HOST/_PORT and a token")
    add("--token-file", help="in-cluster token (default $INGRESSLAB_SA_DIR/token, else the service account's)")
    add("--ca-file", help="in-cluster CA (default $INGRESSLAB_SA_DIR/ca.crt, else the service account's)")
    add("--gateway-ctlr-name", default=o.CONTROLLER_NAME, help="the controllerName of the GatewayClasses to serve")
    add("--gatewayclass", default="nginx", help="the GatewayClass the deployment ships (informational)")
    add("--gateway-network", default="127.0.3.0/24", help="loopback network the Gateways' nginx listen in")
    add("--home", type=Path, required=True, help="directory for the Gateways' nginx files")
    add("--status-file", type=Path, help="JSON file rewritten after every sync")
    add("--privileged-port-offset", type=int, default=0,
        help="the lab without root binds listener ports below 1024 at port+N (default 0: real ports)")
    return p


def status(controller: GatewayController, args) -> dict:
    plan = controller.last_plan
    gateways = {}
    for key, process in sorted(list(controller.nginx.items())):
        t = plan.translations.get(key) if plan else None
        ports = [{"port": p.spec_port, "bound": p.port, "protocol": p.protocol}
                 for p in (t.config.ports if t is not None and t.config is not None else ())]
        gateways[key] = {"address": (plan.addresses.get(key) if plan else None), "conf_path": str(process.conf_path),
                         "access_log": process.paths.access_log, "reloads": process.reloads, "endpoint_updates": process.endpoint_updates,
                         "nginx_pid": process.pid, "checksum": process.checksum, "ports": ports}
    return {"controller_name": args.gateway_ctlr_name, "gatewayclass": args.gatewayclass,
            "syncs": controller.syncs, "last_error": controller.last_error, "gateways": gateways}


def _write(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, default=str))
    os.replace(temporary, path)   # readers never see half a file


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        options = Options(controller_name=args.gateway_ctlr_name, home=args.home,
                          gateway_network=args.gateway_network, privileged_port_offset=args.privileged_port_offset)
        api = api_client_from(args)
    except (ValueError, kubernetes.config.ConfigException, OSError) as error:
        print(f"gateway controller: {error}", file=sys.stderr)
        return 2
    args.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    controller = GatewayController(api, options).start()
    written = None
    try:
        while not stopping.wait(0.05):
            if args.status_file is None:
                continue
            data = status(controller, args)
            if data != written:
                _write(args.status_file, data)
                written = data
    finally:
        controller.stop()
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
