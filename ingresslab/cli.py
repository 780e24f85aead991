"""The `ingresslab` command: start, inspect and stop the lab from a terminal.

    ingresslab up          start the lab for this home (or reuse the running one); exits 0 only when ready
    ingresslab down        stop it (no process, no port left)
    ingresslab status      what runs where (`--json` for scripts)
    ingresslab kubeconfig  the path to give kubectl: `export KUBECONFIG=$(ingresslab kubeconfig)`
    ingresslab iptables    the nat table kube-proxy's iptables mode would program for the current Services
    ingresslab reset       stop the lab and wipe its state
    ingresslab ingress2gateway  Ingress objects (files, the lab, or --kubeconfig) → Gateway API YAML

`--home DIR` or `$INGRESSLAB_HOME` choose the state directory (default ~/.ingresslab).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from . import home as homes
from . import i18n
from .i18n import N_, _
from .lab import Lab, LabError, stop


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def cmd_up(args) -> int:
    start = time.monotonic()
    print(_("Starting the lab in {home} …").format(home=homes.resolve_home(args.home)), file=sys.stderr, flush=True)
    lab = Lab.up(args.home, progress=_say)
    state = homes.read_state(lab.home) or {}
    print(_("Ready in {seconds} s (lab pid {pid}). API {api}").format(
        seconds=f"{time.monotonic() - start:.1f}", pid=state.get("pid"), api=state.get("api")), file=sys.stderr)
    for node in state.get("nodes", []):
        print("  " + _("node {name} {ip}").format(name=f"{node['name']:8}", ip=node["ip"]), file=sys.stderr)
    print(_("Use kubectl with:  export KUBECONFIG={path}").format(path=lab.kubeconfig_path), file=sys.stderr)
    return 0


def cmd_down(args) -> int:
    was = stop(args.home)
    print(_("Lab stopped (its pods and nginx too).") if was else _("No lab was running for this home."),
          file=sys.stderr)
    return 0


def _running_state(args) -> dict | None:
    """The state of this home's lab, if a lab proven to be this home's runs (see `home.lab_process`)."""
    where = homes.resolve_home(args.home)
    running = homes.lab_process(where)
    if running is None:
        return None
    state = homes.read_state(where) or {}
    return state if state.get("pid") == running.pid else {"pid": running.pid, "phase": "starting"}


def cmd_status(args) -> int:
    where = homes.resolve_home(args.home)
    state = _running_state(args)
    if state is None:
        if args.json:
            print(json.dumps({"running": False, "home": str(where)}))
        else:
            print(_("No lab is running for {home}. Start one with: ingresslab up").format(home=where))
        return 3
    out = {"running": True, "home": str(where), "kubeconfig": state.get("kubeconfig"), "api": state.get("api"),
           "pid": state.get("pid"), "phase": state.get("phase"), "slot": state.get("slot"),
           "nodes": state.get("nodes", [])}
    try:
        lab = Lab.up(args.home)
        out["ingress"] = lab.ingress_node_ports()
        try:
            st = lab.ingress.status(timeout=1)
            out["ingress"].update({k: st.get(k) for k in ("reloads", "last_reload_reason", "checksum",
                                                          "endpoint_updates", "mode") if k in st})
        except LabError as exc:
            out["ingress"]["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - status must print what it can
        out["ingress"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:   # [gateway] each Gateway with its listeners and NodePorts
        out["gateways"] = lab.gateway.summary()
    except Exception as exc:  # noqa: BLE001 - status must print what it can
        out["gateways"] = {"error": f"{type(exc).__name__}: {exc}"}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(_("Lab running (pid {pid}, {phase}) in {home}").format(pid=out["pid"], phase=out["phase"], home=where))
    print(f"  API         {out['api']}")
    print(f"  kubeconfig  {out['kubeconfig']}")
    for node in out["nodes"]:
        print(f"  node        {node['name']} {node['ip']}")
    ing = out.get("ingress") or {}
    if ing.get("http_nodeport"):
        print("  ingress     " + _("http NodePort {http}, https NodePort {https} (reloads: {reloads})").format(
            http=ing["http_nodeport"], https=ing["https_nodeport"], reloads=ing.get("reloads", "?")))
    if ing.get("mode"):
        print("  ingress     " + _("mode: {mode}").format(mode=ing["mode"]))
    for gw in out["gateways"] if isinstance(out.get("gateways"), list) else []:
        ports = ", ".join(f"{lis['protocol'].lower()} {lis['port']} → NodePort {lis['node_port']}"
                          for lis in gw["listeners"])
        print("  gateway     " + _("{name} (programmed: {programmed}): {ports}").format(
            name=gw["name"], programmed=gw["programmed"], ports=ports or _("no listener")))
    return 0


def cmd_conf(args) -> int:
    state = _running_state(args)
    if state is None:
        print(_("No lab is running; start one with: ingresslab up"), file=sys.stderr)
        return 3
    lab = Lab.up(args.home)
    if args.gateway:   # [gateway] the nginx.conf of one Gateway's own nginx
        from .gatewaylab import GatewayError
        try:
            print(lab.gateway.conf(args.gateway), end="")
        except GatewayError as exc:
            print(f"ingresslab: {exc}", file=sys.stderr)
            return 1
        return 0
    print(lab.ingress.conf(), end="")
    return 0


def cmd_demo(args) -> int:
    """The cafe story, step by step, with real commands and their real output."""
    from . import demo
    missing = demo.ensure_tools()
    if missing:
        print(_("ingresslab demo needs {tools} (install it with your package manager)").format(
            tools=", ".join(missing)), file=sys.stderr)
        return 1
    demo.run(home=args.home, auto=args.auto, svg_path=Path(args.svg) if args.svg else None)
    return 0


def cmd_controller(args) -> int:
    """Run our Ingress controller against any cluster (`--render-only` prints the nginx.conf it would serve)."""
    from .ingress import controller
    return controller.main(args.controller_args)


def cmd_kubeconfig(args) -> int:
    state = _running_state(args)
    path = (state or {}).get("kubeconfig") or str(homes.resolve_home(args.home) / "kubeconfig")
    print(path)
    return 0 if state else 3


def cmd_iptables(args) -> int:
    state = _running_state(args)
    if state is None:
        print(_("No lab is running; start one with: ingresslab up"), file=sys.stderr)
        return 3
    lab = Lab.up(args.home)
    print(lab.iptables(node=args.node), end="")
    return 0


def cmd_reset(args) -> int:
    where = homes.resolve_home(args.home)
    stop(args.home)
    if homes.lab_process(where) is not None:
        print(_("A lab was started again in {home} meanwhile; stop it with `ingresslab down`, then reset.").format(
            home=where), file=sys.stderr)
        return 1
    if where.exists():
        for name in ("cluster.db", "cluster.db-wal", "cluster.db-shm", "state.json", "last.json", "kubeconfig"):
            (where / name).unlink(missing_ok=True)
        for sub in ("logs", "nginx"):
            shutil.rmtree(where / sub, ignore_errors=True)
    print(_("Lab state in {home} wiped. Start afresh with: ingresslab up").format(home=where), file=sys.stderr)
    return 0


def _ingresses_from_cluster(kubeconfig: str, namespace: str | None) -> tuple[list, list, list]:
    """(Ingresses, Services, IngressClasses) as plain dicts, read with the official client from any cluster."""
    import kubernetes

    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=config)
    with kubernetes.client.ApiClient(config) as api:
        net, core = kubernetes.client.NetworkingV1Api(api), kubernetes.client.CoreV1Api(api)
        if namespace:
            ingresses = net.list_namespaced_ingress(namespace).items
            services = core.list_namespaced_service(namespace).items
        else:
            ingresses = net.list_ingress_for_all_namespaces().items
            services = core.list_service_for_all_namespaces().items
        classes = net.list_ingress_class().items
        plain = api.sanitize_for_serialization
        return [plain(i) for i in ingresses], [plain(s) for s in services], [plain(c) for c in classes]


def cmd_ingress2gateway(args) -> int:
    """Convert Ingresses to Gateway API YAML (stdout); notes on what has no equivalent go to stderr."""
    from .gateway.ingress2gateway import convert
    from .lab import load_documents

    services: list = []
    classes: list = []
    if args.file:
        ingresses = []
        for name in args.file:
            try:
                docs = load_documents(Path(name))
            except LabError as exc:
                print(f"ingresslab ingress2gateway: {name}: {exc}", file=sys.stderr)
                return 1
            ingresses += [d for d in docs if d.get("kind") == "Ingress"]
            services += [d for d in docs if d.get("kind") == "Service"]
            classes += [d for d in docs if d.get("kind") == "IngressClass"]
    else:
        kubeconfig = args.kubeconfig
        if kubeconfig is None:
            state = _running_state(args)
            if state is None:
                print(_("No lab is running; give -f FILE or --kubeconfig FILE, or start one with: ingresslab up"),
                      file=sys.stderr)
                return 3
            kubeconfig = state.get("kubeconfig") or str(homes.resolve_home(args.home) / "kubeconfig")
        try:
            ingresses, services, classes = _ingresses_from_cluster(kubeconfig, None if args.all_namespaces
                                                                   else args.namespace)
        except Exception as exc:  # noqa: BLE001 - any client error is reported in plain words
            print("ingresslab ingress2gateway: " + _("cannot read Ingresses with {kubeconfig}: {error}").format(
                kubeconfig=kubeconfig, error=exc), file=sys.stderr)
            return 1
    text, notes = convert(ingresses, services=services, ingress_classes=classes, gateway_class=args.gateway_class)
    print(text, end="")
    if not ingresses:
        print(_("No Ingress found: nothing to convert."), file=sys.stderr)
    for note in notes:
        print(_("note: {note}").format(note=note), file=sys.stderr)
    return 0


# argparse's own words ("usage:", "options", its error sentences) are msgids of gettext's default domain, looked up
# when printed through the `_` that argparse's module took from gettext. The lab has no catalogue in that domain,
# so the CLI points argparse's `_` at its own catalogue for these msgids (Python 3.11-3.13 spell them so) and
# leaves every other string of argparse as it was.
ARGPARSE_WORDS = frozenset((
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"), N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"), N_("expected one argument"), N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
))


def _argparse_words(message: str) -> str:
    return _(message) if message in ARGPARSE_WORDS else _ARGPARSE_GETTEXT(message)


_ARGPARSE_GETTEXT = argparse._


def build_parser() -> argparse.ArgumentParser:
    argparse._ = _argparse_words
    parser = argparse.ArgumentParser(prog="ingresslab", description=_("A small, real Kubernetes lab for Service, "
                                                                       "NodePort and Ingress."))
    home_help = _("state directory (default: $INGRESSLAB_HOME or ~/.ingresslab)")
    language_help = _("the language the lab speaks to you: en or zh (default: $INGRESSLAB_LANG, else LANG)")
    parser.add_argument("--home", help=home_help)
    parser.add_argument("--language", help=language_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", default=argparse.SUPPRESS, help=home_help)
    common.add_argument("--language", default=argparse.SUPPRESS, help=language_help)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, parents=[common])
        p.set_defaults(func=func)
        return p

    add("up", cmd_up, _("start the lab (or reuse the running one)"))
    add("down", cmd_down, _("stop the lab"))
    add("status", cmd_status, _("what is running")).add_argument("--json", action="store_true")
    add("kubeconfig", cmd_kubeconfig, _("print the kubeconfig path"))
    add("iptables", cmd_iptables, _("the nat rules kube-proxy would program")).add_argument(
        "--node", default=None, help=_("node name (default: the first node)"))
    add("reset", cmd_reset, _("stop the lab and wipe its state"))
    add("conf", cmd_conf, _("the nginx.conf the Ingress controller (or a Gateway's nginx) runs now")).add_argument(
        "--gateway", metavar="NS/NAME", default=None, help=_("the nginx.conf of this Gateway (NAME alone: default/)"))
    p = add("demo", cmd_demo, _("the cafe story step by step (Enter to advance)"))
    p.add_argument("--auto", action="store_true", help=_("no pauses"))
    p.add_argument("--svg", default=None,
                   help=_("where to save the three-hop picture (default: <home>/demo/three-hops.svg)"))
    p = add("ingress2gateway", cmd_ingress2gateway, _("convert Ingresses to Gateway API YAML (notes on stderr)"))
    p.add_argument("-f", "--file", action="append", help=_("a manifest file (repeatable); default: read a cluster"))
    p.add_argument("--kubeconfig", default=None, help=_("read from this cluster (default: the running lab)"))
    p.add_argument("-n", "--namespace", default=None, help=_("only this namespace (default: all)"))
    p.add_argument("-A", "--all-namespaces", action="store_true", help=_("all namespaces (the default)"))
    p.add_argument("--gateway-class", default=None,
                   help=_("gatewayClassName to write (default: the IngressClass name, as the upstream tool does)"))
    p = add("controller", cmd_controller, _("run the Ingress controller (e.g. --kubeconfig FILE --render-only)"))
    p.add_argument("controller_args", nargs=argparse.REMAINDER)
    return parser


def _choose_language(argv: list[str]) -> None:
    """`--language zh` (or `--language=zh`) anywhere among the CLI's own options: speak it from now on."""
    for i, arg in enumerate(argv):
        if arg.startswith("--language="):
            i18n.use(arg.split("=", 1)[1])
        elif arg == "--language" and i + 1 < len(argv):
            i18n.use(argv[i + 1])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "controller" in argv:
        # Everything after `controller` belongs to the controller's own flags (`--kubeconfig`, `--render-only`…).
        at = argv.index("controller")
        if all(a.startswith("--home") or (i > 0 and argv[i - 1] == "--home") for i, a in enumerate(argv[:at])):
            from .ingress import controller
            return controller.main(argv[at + 1:])
    homes.private_umask()   # whatever the CLI writes in the home (logs, state) is this user's alone
    try:
        _choose_language(argv)   # before the parser is built: its help texts are translated
    except ValueError as exc:
        print(f"ingresslab: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "language", None):   # also an abbreviation argparse accepted (`--lang zh`)
        try:
            i18n.use(args.language)
        except ValueError as exc:
            print(f"ingresslab: {exc}", file=sys.stderr)
            return 2
    # Sub-commands accept --home after their name too (`ingresslab up --home X`).
    try:
        return args.func(args)
    except (LabError, homes.HomeError) as exc:
        print(f"ingresslab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
