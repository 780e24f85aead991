"""`IngressBuilder(lab)`: write an Ingress with a form, watch its YAML and its problems live, then Apply it.

A thin GUI over `builder_model.IngressForm`: every child widget is private and only copies values into the model;
the model computes. Typing is debounced (`Debouncer`, 150 ms after the last key) and the preview never touches
the cluster; dropdowns refresh at once. Apply is the only button that changes anything: it shows the nginx.conf
lines the controller wrote (green new, red gone) and the reload counter before and after.

Neighbours: `builder_model.py` (state and logic), `debounce.py`, `_base.py` (the text form outside a notebook).
"""
from __future__ import annotations

import html

import ipywidgets as w

from ingresslab.i18n import _
from ingresslab.lab import Lab

from ._base import TextReprVBox
from .builder_model import PATH_TYPES, IngressForm, PathRow, Preview
from .debounce import Debouncer, Scheduler, loop_call_later

TYPING_PAUSE = 0.15


class IngressBuilder(TextReprVBox):
    """Name, rows of (host, path, pathType, Service, port), TLS; live YAML and plain-word validation; Apply."""

    def __init__(self, lab: Lab | None, *, namespace: str = "default", name: str = "my-ingress",
                 model: IngressForm | None = None, schedule: Scheduler = loop_call_later):
        self._lab = lab
        self.model = model or IngressForm.from_lab(lab, namespace=namespace, name=name)
        if not self.model.rows:
            self.model.add_row(host="www.mysite.com")
        self._debouncer = Debouncer(TYPING_PAUSE, self._show_preview, schedule=schedule)
        self.last_preview: Preview | None = None
        self.last_report = None
        self._name = w.Text(value=self.model.name, description=_("name"), continuous_update=True)
        self._rows = w.VBox()
        self._add = w.Button(description=_("+ path"), tooltip=_("add a row"), layout=w.Layout(width="90px"))
        self._tls = w.Checkbox(value=self.model.tls, description="TLS", indent=False, layout=w.Layout(width="70px"))
        self._secret = w.Dropdown(options=[""] + self.model.secrets, value=self.model.tls_secret or "",
                                  description=_("secret"), disabled=not self.model.tls)
        self._problems = w.HTML()
        self._yaml = w.HTML()
        self._apply = w.Button(description=_("Apply"), button_style="primary", icon="upload")
        self._report = w.HTML()
        self._name.observe(self._on_name, "value")
        self._add.on_click(self._on_add)
        self._tls.observe(self._on_tls, "value")
        self._secret.observe(self._on_secret, "value")
        self._apply.on_click(self._on_apply)
        header = w.HTML("<small>" + html.escape(_("host · path · pathType · Service · port — the YAML below follows "
                                                  "as you type; nothing reaches the cluster until Apply."))
                        + "</small>")
        super().__init__(children=[self._name, header, self._rows, w.HBox([self._add, self._tls, self._secret]),
                                   self._problems, self._yaml, self._apply, self._report])
        self._build_rows()
        self._show_preview()

    # ---- rows ------------------------------------------------------------------------------------------------------

    def _build_rows(self) -> None:
        self._rows.children = [self._row_widget(i, row) for i, row in enumerate(self.model.rows)]

    def _row_widget(self, index: int, row: PathRow) -> w.HBox:
        names = [s.name for s in self.model.services]
        if row.service and row.service not in names:
            names.append(row.service)
        host = w.Text(value=row.host, placeholder=_("host (empty: any)"), layout=w.Layout(width="180px"))
        path = w.Text(value=row.path, placeholder="/path", layout=w.Layout(width="120px"))
        path_type = w.Dropdown(options=PATH_TYPES, value=row.path_type, layout=w.Layout(width="170px"))
        service = w.Dropdown(options=names, value=row.service or None, layout=w.Layout(width="150px"))
        port = w.Dropdown(options=self._port_options(row), value=row.port or None, layout=w.Layout(width="90px"))
        remove = w.Button(icon="times", tooltip=_("remove this row"), layout=w.Layout(width="36px"))

        def typed(field):
            def on_change(change):
                setattr(row, field, change["new"] or "")
                self._debouncer.trigger()
            return on_change

        def picked(field):
            def on_change(change):
                setattr(row, field, change["new"] or "")
                if field == "service":
                    row.port = (self.model.ports_of(row.service) or ("",))[0]
                    port.options = self._port_options(row)
                    port.value = row.port or None
                self._show_preview()
            return on_change

        host.observe(typed("host"), "value")
        path.observe(typed("path"), "value")
        path_type.observe(picked("path_type"), "value")
        service.observe(picked("service"), "value")
        port.observe(picked("port"), "value")
        remove.on_click(lambda _: self._remove(row))
        return w.HBox([host, path, path_type, service, port, remove])

    def _port_options(self, row: PathRow) -> list[str]:
        options = list(self.model.ports_of(row.service))
        if row.port and row.port not in options:
            options.append(row.port)
        return options

    def _remove(self, row: PathRow) -> None:
        self.model.rows.remove(row)
        self._build_rows()
        self._show_preview()

    # ---- events ----------------------------------------------------------------------------------------------------

    def _on_name(self, change) -> None:
        self.model.name = change["new"]
        self._debouncer.trigger()

    def _on_add(self, _button=None) -> None:
        self.model.add_row()
        self._build_rows()
        self._show_preview()

    def _on_tls(self, change) -> None:
        self.model.tls = bool(change["new"])
        self._secret.disabled = not self.model.tls
        self._show_preview()

    def _on_secret(self, change) -> None:
        self.model.tls_secret = change["new"] or ""
        self._show_preview()

    def _on_apply(self, _button=None) -> None:
        self._debouncer.flush()
        if self._lab is None:
            self._report.value = "<i>" + html.escape(_("no lab: this builder only previews")) + "</i>"
            return
        self._apply.disabled = True
        self._report.value = "<i>" + html.escape(_("applying, waiting for the controller…")) + "</i>"
        try:
            self.last_report = self.model.apply(self._lab)
            self._report.value = self.last_report.html()
        finally:
            self._apply.disabled = False

    # ---- the preview -----------------------------------------------------------------------------------------------

    def _show_preview(self) -> None:
        self._debouncer.cancel()
        preview = self.last_preview = self.model.preview()
        if preview.errors:
            items = "".join(f"<li>{html.escape(f.text)}</li>" for f in preview.errors)
            refused = html.escape(_("Kubernetes would refuse this:"))
            problems = f'<div style="color:#c62828"><b>{refused}</b><ul>{items}</ul></div>'
        else:
            accepted = html.escape(_("Kubernetes would accept this Ingress."))
            problems = f'<div style="color:#2e7d32">✓ {accepted}</div>'
        if preview.warnings:
            items = "".join(f"<li>{html.escape(t)}</li>" for t in preview.warnings)
            but = html.escape(_("Accepted, but:"))
            problems += f'<div style="color:#b26a00"><b>{but}</b><ul>{items}</ul></div>'
        self._problems.value = problems
        self._yaml.value = (f'<pre style="background:#f7f7f7;padding:6px;font-size:0.9em">'
                            f'{html.escape(preview.yaml)}</pre>')
        self._apply.disabled = not preview.ok

    def _text(self) -> str:
        preview = self.last_preview or self.model.preview()
        lines = [_("IngressBuilder ({namespace}/{name}) — preview:").format(namespace=self.model.namespace,
                                                                             name=self.model.name),
                 preview.yaml.rstrip()]
        lines += [_("refused: {problem}").format(problem=f.text) for f in preview.errors]
        lines += [_("warning: {problem}").format(problem=t) for t in preview.warnings]
        return "\n".join(lines)
