"""The lab process: `python -m ingresslab.labd --home DIR` runs one embedded cluster until SIGTERM.

This is the composition root: it starts the cluster (`ingresslab.cluster`), plugs the Ingress controller's
admission checks into the API (when that package is present), writes the kubeconfig and the state file that
`Lab.up()` and `ingresslab up` wait for, and on SIGTERM/SIGINT stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from . import home as homes
from .cluster.cluster import Cluster


def _plug_ingress_admission(cluster: Cluster) -> None:
    try:
        from .ingress import validate
    except ImportError:   # the controller's admission is optional for the bare cluster
        return
    admit = getattr(validate, "validate_ingress", None)
    if admit is not None:
        cluster.admission.add_validator("ingresses.networking.k8s.io", lambda op, obj, old: admit(obj, old))


async def run(home: Path) -> int:
    home.mkdir(parents=True, exist_ok=True)
    previous = homes.read_state(home) or {}
    state = {"pid": os.getpid(), "phase": "starting", "started": time.time()}
    homes.write_state(home, state)
    cluster = Cluster(home, token=homes.token(home), preferred_slot=previous.get("slot"),
                      api_port=previous.get("api_port", 0))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        info = await cluster.start()
        _plug_ingress_admission(cluster)
        kubeconfig = homes.write_kubeconfig(home, info.api_url, info.token, info.ca_cert)
        state.update(phase="ready", api=info.api_url, api_port=int(info.api_url.rsplit(":", 1)[1]),
                     slot=info.slot, kubeconfig=str(kubeconfig),
                     nodes=[{"name": n.name, "ip": n.ip} for n in info.network.nodes],
                     ready_after=round(time.time() - state["started"], 3))
        homes.write_state(home, state)
        logging.info("lab ready at %s (slot %s)", info.api_url, info.slot)
        await stop.wait()
    except Exception as exc:  # noqa: BLE001 - reported to whoever waits for the lab
        logging.exception("lab failed")
        state.update(phase="failed", error=f"{type(exc).__name__}: {exc}")
        homes.write_state(home, state)
        await cluster.stop()
        return 1
    await cluster.stop()
    homes.clear_state(home)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingresslab.labd")
    parser.add_argument("--home", required=True)
    parser.add_argument("--detach", action="store_true",
                        help="fork into the background and return at once (the lab outlives its starter)")
    args = parser.parse_args(argv)
    if args.detach:
        if os.fork() > 0:
            os._exit(0)      # the starter reaps this parent at once; the lab is adopted by init
        os.setsid()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    return asyncio.run(run(Path(args.home)))


if __name__ == "__main__":
    sys.exit(main())
