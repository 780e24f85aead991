"""`ingresslab demo`: the cafe story in a terminal, for an instructor in front of a class.

Each step prints the command a learner would type and then that command's real output (kubectl and curl run for
real against the lab), and waits for Enter (`--auto` runs straight through). The last step traces one request and
saves the three-hop picture as an SVG file: by default under the lab's home (`<home>/demo/three-hops.svg`), never
in the current directory, which is often the checkout. Neighbours: `lab` (the lab and its manifests), `trace` and `viz`.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import viz
from .i18n import _
from .lab import Lab, manifest_path
from .trace import send, trace

_TTY = sys.stdout.isatty()
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if _TTY else ("", "", "")


@dataclass(frozen=True)
class Step:
    title: str
    say: str
    commands: tuple[str, ...]


def steps(ic_ip: str, http_port: int, https_port: int) -> list[Step]:
    m = {name: shlex.quote(str(manifest_path(name))) for name in
         ("cafe.yaml", "cafe-secret.yaml", "cafe-ingress.yaml")}
    resolve = f"--resolve cafe.example.com:{https_port}:{ic_ip}"
    url = f"https://cafe.example.com:{https_port}"
    return [
        Step(_("The cluster"), _("Two nodes; each is a loopback address of this machine."),
             ("kubectl get nodes -o wide",)),
        Step(_("The Ingress controller"), _("Deployed as the article does: a Deployment and a NodePort Service."),
             ("kubectl get pods -n ingress-nginx", "kubectl get svc -n ingress-nginx")),
        Step(_("The cafe's apps"), _("coffee and tea, each a Deployment behind a Service."),
             (f"kubectl apply -f {m['cafe.yaml']}", "kubectl get pods -o wide")),
        Step(_("The certificate"), _("A self-signed certificate for cafe.example.com, as a TLS Secret."),
             (f"kubectl apply -f {m['cafe-secret.yaml']}",)),
        Step(_("The Ingress"), _("The article's own file, in the old extensions/v1beta1 form."),
             (f"kubectl apply -f {m['cafe-ingress.yaml']}", "kubectl get ingress",
              "kubectl describe ingress cafe-ingress")),
        Step(_("Coffee, please"), _("Any node's address and the controller's HTTPS NodePort."),
             (f"curl -sS {resolve} {url}/coffee --insecure", f"curl -sS {resolve} {url}/tea --insecure")),
        Step(_("Why --insecure?"), _("The certificate is self-signed; trust it explicitly instead."),
             (f"curl -sS {resolve} {url}/coffee", f"curl -sS {resolve} {url}/coffee --cacert "
                                                  f"{shlex.quote(str(manifest_path('cafe.crt')))}")),
        Step(_("No rule, no answer"), _("A path without a rule gets nginx's 404."),
             (f"curl -sS -o /dev/null -w '%{{http_code}}\\n' {resolve} {url}/juice --insecure",)),
    ]


def default_svg_path(lab: Lab) -> Path:
    """`<home>/demo/three-hops.svg` (the home is the user's own, 0700); a fresh temporary directory otherwise."""
    if lab.home is not None:
        folder = Path(lab.home) / "demo"
        folder.mkdir(mode=0o700, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="ingresslab-demo-"))
    return folder / "three-hops.svg"


def run(*, home=None, auto: bool = False, svg_path: Path | None = None,
        out: Callable[[str], None] = print, pause: Callable[[], None] | None = None) -> Path:
    lab = Lab.up(home)
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    ic_ip = lab.status()["nodes"][0]["ip"]
    ports = lab.ingress_node_ports()
    prompt = DIM + "  " + _("(Enter for the next step)") + RESET
    wait = pause or (lambda: None if auto else input(prompt))
    plan = steps(ic_ip, ports["http_nodeport"], ports["https_nodeport"])
    for number, step in enumerate(plan, 1):
        out(f"\n{BOLD}{number}. {step.title}{RESET}  {DIM}{step.say}{RESET}")
        for command in step.commands:
            out(f"{BOLD}$ {command}{RESET}")
            proc = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, timeout=60)
            text = (proc.stdout + proc.stderr).rstrip()
            if text:
                out(text)
            if command.startswith("kubectl apply") and command.endswith("cafe.yaml"):
                lab.wait_rollout("coffee", "tea")
            if "cafe-ingress" in command:
                time.sleep(0.5)    # the controller reloads nginx
        wait()
    title, say = _("Three hops"), _("One request, followed through the components' logs.")
    out(f"\n{BOLD}{len(plan) + 1}. {title}{RESET}  {DIM}{say}{RESET}")
    answer = send(lab, "cafe.example.com", "/coffee", scheme="https")
    t = trace(lab, answer)
    for hop in t.hops:
        out(f"  {hop.component:10} {hop.from_addr:>22} → {hop.to_addr:22} ({hop.name})")
    svg_path = default_svg_path(lab) if svg_path is None else Path(svg_path)
    svg_path.write_text(viz.svg(viz.request_path(t, highlight=True)))
    out("\n" + _("The picture of this request is in {path}").format(path=svg_path.resolve()))
    return svg_path


class Shown:
    """A command and its real output, shown large in a notebook (for the back row of a classroom)."""

    def __init__(self, command: str, output: str):
        self.command, self.output = command, output

    def __repr__(self) -> str:
        return f"$ {self.command}\n{self.output}"

    def _repr_html_(self) -> str:
        import html
        return (f'<pre style="font-size:140%;line-height:1.3"><b>$ {html.escape(self.command)}</b>\n'
                f"{html.escape(self.output)}</pre>")


def shell(command: str, lab: Lab) -> Shown:
    """Run a shell command against the lab (its kubeconfig, the package's kubectl) and keep its output."""
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig_path),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, timeout=60)
    return Shown(command, (proc.stdout + proc.stderr).rstrip())


def ensure_tools() -> list[str]:
    """What the demo needs on PATH besides kubectl (which comes with the package)."""
    return [tool for tool in ("curl",) if shutil.which(tool) is None]
