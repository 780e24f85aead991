"""The Ingress builder's model: a form's state → an Ingress manifest, its YAML, its problems; Apply and its diff.

No widget import: `IngressForm` holds rows of (host, path, pathType, Service, port), TLS and a name, and answers
`preview()` — the YAML, what the API would refuse (in plain words, from `exercises.plainwords`, i.e. the API's own
validation) and what would be accepted but not work (a Service or port that is not there) — in well under 50 ms,
without touching the cluster. `apply(lab)` is the one call that changes anything: it applies, waits for the
controller (`exercises.wait_for_controller`) and reports the nginx.conf before and after (`conf_changes`, by
difflib) and the reload counter, so learners see which lines their Ingress wrote and whether nginx reloaded —
and the controller's Warnings on it in plain words (`Lab.warnings_for`), so a surprise (an overruled
`service-upstream`, a missing Secret, a Service without endpoints) explains itself where it happened.

Neighbours: `builder.py` (the GUI over this model), `ingresslab.exercises` (plain words, controller wait).
"""
from __future__ import annotations

import difflib
import html
import time
from dataclasses import dataclass, field

import kubernetes
import yaml
from kubernetes.client.rest import ApiException

from ingresslab.events import LabWarning, Warnings
from ingresslab.i18n import N_, _
from ingresslab.exercises.outcome import Finding
from ingresslab.exercises.plainwords import api_error_findings, explain_causes
from ingresslab.exercises.scratch import wait_for_controller
from ingresslab.lab import Lab, LabError

PATH_TYPES = ("Prefix", "Exact", "ImplementationSpecific")
# what Apply did, by create_or_replace's answer (kubectl apply's words)
_DONE = {"created": N_("Ingress `{name}` created in namespace `{namespace}`"),
         "configured": N_("Ingress `{name}` configured in namespace `{namespace}`"),
         "unchanged": N_("Ingress `{name}` unchanged in namespace `{namespace}`")}


@dataclass
class PathRow:
    """One line of the form: requests for `host` + `path` go to `service`:`port` (port: digits = number)."""

    host: str = ""
    path: str = "/"
    path_type: str = "Prefix"
    service: str = ""
    port: str = ""


@dataclass(frozen=True)
class ServiceChoice:
    name: str
    ports: tuple[str, ...]          # "80", "http": every way an Ingress may name a port of this Service


@dataclass(frozen=True)
class Preview:
    yaml: str
    errors: tuple[Finding, ...]     # the API would refuse the Ingress
    warnings: tuple[str, ...]       # accepted, but requests would not get through
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.errors


def services_in(lab: Lab, namespace: str) -> list[ServiceChoice]:
    core = kubernetes.client.CoreV1Api(lab.api)
    out = []
    for svc in core.list_namespaced_service(namespace).items:
        ports: list[str] = []
        for p in svc.spec.ports or []:
            ports += [str(p.port)] + ([p.name] if p.name else [])
        out.append(ServiceChoice(svc.metadata.name, tuple(ports)))
    return sorted(out, key=lambda s: s.name)


def tls_secrets_in(lab: Lab, namespace: str) -> list[str]:
    core = kubernetes.client.CoreV1Api(lab.api)
    return sorted(s.metadata.name for s in core.list_namespaced_secret(namespace).items
                  if s.type == "kubernetes.io/tls")


class IngressForm:
    """The builder's state and logic (see the module docstring)."""

    def __init__(self, *, name: str = "my-ingress", namespace: str = "default", rows=(), tls: bool = False,
                 tls_secret: str = "", ingress_class: str = "", services=(), secrets=()):
        self.name = name
        self.namespace = namespace
        self.rows: list[PathRow] = [r if isinstance(r, PathRow) else PathRow(**r) for r in rows]
        self.tls = tls
        self.tls_secret = tls_secret
        self.ingress_class = ingress_class
        self.services: list[ServiceChoice] = list(services)
        self.secrets: list[str] = list(secrets)

    @classmethod
    def from_lab(cls, lab: Lab, *, namespace: str = "default", **kw) -> "IngressForm":
        return cls(namespace=namespace, services=services_in(lab, namespace),
                   secrets=tls_secrets_in(lab, namespace), **kw)

    # ---- editing ---------------------------------------------------------------------------------------------------

    def add_row(self, **values) -> PathRow:
        """A new row; by default for the first Service and its first port, and the previous row's host."""
        first = self.services[0] if self.services else None
        defaults = {"host": self.rows[-1].host if self.rows else "",
                    "service": first.name if first else "", "port": first.ports[0] if first and first.ports else ""}
        row = PathRow(**{**defaults, **values})
        self.rows.append(row)
        return row

    def remove_row(self, index: int) -> None:
        del self.rows[index]

    def ports_of(self, service: str) -> tuple[str, ...]:
        return next((s.ports for s in self.services if s.name == service), ())

    # ---- the manifest ----------------------------------------------------------------------------------------------

    def manifest(self) -> dict:
        rules: dict[str, list[dict]] = {}
        for row in self.rows:
            port = row.port.strip()
            port_ref = {"number": int(port)} if port.isdigit() else ({"name": port} if port else {})
            rules.setdefault(row.host.strip(), []).append({
                "path": row.path, "pathType": row.path_type,
                "backend": {"service": {"name": row.service.strip(), "port": port_ref}}})
        spec: dict = {}
        if self.ingress_class:
            spec["ingressClassName"] = self.ingress_class
        if self.tls:
            hosts = [h for h in rules if h]
            spec["tls"] = [{"hosts": hosts, **({"secretName": self.tls_secret} if self.tls_secret else {})}]
        spec["rules"] = [{**({"host": host} if host else {}), "http": {"paths": paths}}
                         for host, paths in rules.items()]
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": self.name.strip(), "namespace": self.namespace}, "spec": spec}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.manifest(), sort_keys=False, default_flow_style=False)

    def warnings(self) -> list[str]:
        out = []
        known = {s.name for s in self.services}
        for row in self.rows:
            where = "`{}{}`".format(row.host or _("(any host)"), row.path)
            if row.service and self.services and row.service not in known:
                out.append(_("{where}: there is no Service `{service}` in namespace `{namespace}` — requests would "
                             "get 503").format(where=where, service=row.service, namespace=self.namespace))
            elif row.service and row.port and self.ports_of(row.service) and row.port not in self.ports_of(
                    row.service):
                out.append(_("{where}: Service `{service}` has no port `{port}` (it has {ports}) — requests would "
                             "get 503").format(where=where, service=row.service, port=row.port,
                                               ports=", ".join(self.ports_of(row.service))))
        if self.tls and not self.tls_secret:
            out.append(_("TLS without a Secret: nginx would use its default self-signed certificate"))
        if self.tls and not any(r.host for r in self.rows):
            out.append(_("TLS needs a host: a certificate is chosen by the name the client asks for (SNI)"))
        return out

    def preview(self) -> Preview:
        """YAML, refusals and warnings: pure computation, nothing is sent to the cluster."""
        started = time.perf_counter()
        manifest = self.manifest()
        if not manifest["metadata"]["name"]:
            errors = [Finding(_("the Ingress needs a name"))]
        else:
            errors = explain_causes(manifest)
        text = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
        return Preview(text, tuple(errors), tuple(self.warnings()), time.perf_counter() - started)

    # ---- applying ------------------------------------------------------------------------------------------------

    def apply(self, lab: Lab, *, timeout: float = 10.0) -> "ApplyReport":
        preview = self.preview()
        if not preview.ok:
            return ApplyReport(False, _("not applied: Kubernetes would refuse this Ingress"), findings=preview.errors)
        view = lab.ingress
        status = view.status()
        before_conf, before_reloads = view.conf(), int(status.get("reloads") or 0)
        manifest = self.manifest()
        try:
            action = create_or_replace(lab, manifest)
        except ApiException as err:
            return ApplyReport(False, _("the API refused the Ingress"), findings=tuple(api_error_findings(err,
                                                                                                   manifest)))
        done = _(_DONE[action]).format(name=self.name, namespace=self.namespace)
        if action == "unchanged":
            return ApplyReport(True, done, before_reloads, before_reloads, before_conf, before_conf,
                               note=_("the stored Ingress already says this: nothing changed, nothing to reload"),
                               warnings=tuple(lab.warnings_for("Ingress", self.name.strip(),
                                                               namespace=self.namespace)))
        try:
            status = wait_for_controller(lab, self.namespace, [manifest],
                                         since_syncs=int(status.get("syncs") or 0), timeout=timeout)
            note = ""
        except LabError as err:
            status, note = view.status(), str(err)
        after_conf = view.conf()
        warnings = tuple(lab.warnings_for("Ingress", self.name.strip(), namespace=self.namespace))
        return ApplyReport(True, done, before_reloads, int(status.get("reloads") or 0), before_conf, after_conf,
                           tuple(conf_changes(before_conf, after_conf)), note=note, warnings=warnings)


def create_or_replace(lab: Lab, manifest: dict) -> str:
    """kubectl apply's effect for one Ingress: "created", "configured" (replaced, keeping its version) or
    "unchanged" (the stored spec is the same: nothing is sent, as a real API server would change nothing)."""
    networking = kubernetes.client.NetworkingV1Api(lab.api)
    meta = manifest["metadata"]
    try:
        current = networking.read_namespaced_ingress(meta["name"], meta["namespace"])
    except ApiException as err:
        if err.status != 404:
            raise
        networking.create_namespaced_ingress(meta["namespace"], manifest)
        return "created"
    spec = dict(manifest["spec"])
    if "ingressClassName" not in spec and current.spec.ingress_class_name:
        # Filled in by the API's DefaultIngressClass admission when it was created: kubectl apply's patch keeps it.
        spec["ingressClassName"] = current.spec.ingress_class_name
    if lab.api.sanitize_for_serialization(current.spec) == spec:
        return "unchanged"
    body = {**manifest, "spec": spec, "metadata": {**meta, "resourceVersion": current.metadata.resource_version}}
    networking.replace_namespaced_ingress(meta["name"], meta["namespace"], body)
    return "configured"


@dataclass(frozen=True)
class DiffLine:
    kind: str            # same, added, removed, skipped
    text: str


def conf_changes(before: str, after: str, *, context: int = 3) -> list[DiffLine]:
    """The new nginx.conf with changed lines marked, removed ones kept in place, long unchanged runs folded."""
    old, new = before.splitlines(), after.splitlines()
    out: list[DiffLine] = []
    opcodes = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = new[j1:j2]
            head = context if index > 0 else 0
            tail = context if index < len(opcodes) - 1 else 0
            if len(same) > head + tail + 1:
                out += [DiffLine("same", line) for line in same[:head]]
                out.append(DiffLine("skipped", _("… {count} unchanged lines …").format(count=len(same) - head - tail)))
                out += [DiffLine("same", line) for line in same[len(same) - tail:]]
            else:
                out += [DiffLine("same", line) for line in same]
            continue
        out += [DiffLine("removed", line) for line in old[i1:i2]]
        out += [DiffLine("added", line) for line in new[j1:j2]]
    return out


_STYLE = {"added": "background:#e6ffed", "removed": "background:#ffeef0;text-decoration:line-through;color:#b31d28",
          "skipped": "color:#888;font-style:italic", "same": ""}
_MARK = {"added": "+ ", "removed": "- ", "skipped": "  ", "same": "  "}


@dataclass(frozen=True)
class ApplyReport:
    """What Apply did: the reload counter before and after, and nginx.conf's changed lines."""

    ok: bool
    message: str
    reloads_before: int | None = None
    reloads_after: int | None = None
    conf_before: str = ""
    conf_after: str = ""
    changes: tuple[DiffLine, ...] = ()
    findings: tuple[Finding, ...] = field(default=())
    note: str = ""
    warnings: tuple[LabWarning, ...] = ()     # the controller's Warning Events on the Ingress, in plain words

    @property
    def changed_lines(self) -> list[DiffLine]:
        return [c for c in self.changes if c.kind in ("added", "removed")]

    @property
    def reload_words(self) -> str:
        if self.reloads_before is None:
            return ""
        if self.reloads_after != self.reloads_before:
            return _("nginx reloaded: reloads {before} → {after}").format(before=self.reloads_before,
                                                                           after=self.reloads_after)
        if not self.changed_lines:
            return _("nginx was not reloaded (reloads stay {before}): the rendered nginx.conf did not "
                     "change").format(before=self.reloads_before)
        return _("reloads {before} → {after}").format(before=self.reloads_before, after=self.reloads_after)

    def text(self) -> str:
        lines = [("✓ " if self.ok else "✗ ") + self.message]
        lines += [f"  - {f.text}" for f in self.findings]
        if self.reload_words:
            lines.append(self.reload_words)
        if self.note:
            lines.append(self.note)
        lines += [f"⚠ {w.reason}: {w.plain}" for w in self.warnings]
        lines += [_MARK[c.kind] + c.text for c in self.changes]
        return "\n".join(lines)

    def html(self) -> str:
        colour = "#2e7d32" if self.ok else "#c62828"
        out = [f'<div style="color:{colour};font-weight:bold">{html.escape(self.message)}</div>']
        out += [f"<div>• {html.escape(f.text)}</div>" for f in self.findings]
        if self.reload_words:
            words = _("{reloads}; {count} changed lines in nginx.conf (green: new, red: gone)").format(
                reloads=self.reload_words, count=len(self.changed_lines))
            out.append(f"<div>{html.escape(words)}</div>")
        if self.note:
            out.append(f'<div style="color:#b26a00">{html.escape(self.note)}</div>')
        out.append(Warnings(self.warnings).html())
        if self.changes:
            body = "".join(f'<div style="{_STYLE[c.kind]}">{html.escape(_MARK[c.kind] + c.text) or "&nbsp;"}</div>'
                           for c in self.changes)
            out.append(f'<pre style="max-height:28em;overflow:auto;font-size:0.85em;line-height:1.25">{body}</pre>')
        return "".join(out)
