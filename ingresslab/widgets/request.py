"""`RequestWidget(lab)`: host, path, http/https → status, body, which pod answered (and, if asked, every hop).

A thin GUI over `request_model.RequestForm`. Neighbours: `request_model.py`, `_base.py`.
"""
from __future__ import annotations

import html

import ipywidgets as w

from ingresslab.i18n import _
from ingresslab.lab import Lab

from ._base import TextReprVBox
from .request_model import RequestForm


class RequestWidget(TextReprVBox):
    def __init__(self, lab: Lab, *, host: str = "www.mysite.com", path: str = "/", scheme: str = "http",
                 model: RequestForm | None = None):
        self._lab = lab
        self.model = model or RequestForm(host, path, scheme)
        self._host = w.Text(value=self.model.host, description=_("host"))
        self._path = w.Text(value=self.model.path, description=_("path"))
        self._scheme = w.ToggleButtons(options=["http", "https"], value=self.model.scheme)
        self._send = w.Button(description=_("Send"), button_style="primary", icon="paper-plane")
        self._hops = w.Checkbox(value=False, description=_("trace the hops"), indent=False)
        self._out = w.HTML("<small>" + html.escape(_("https uses the lab's self-signed certificates unverified "
                                                     "(curl --insecure)."), quote=False) + "</small>")
        self._host.observe(lambda c: setattr(self.model, "host", c["new"]), "value")
        self._path.observe(lambda c: setattr(self.model, "path", c["new"]), "value")
        self._scheme.observe(lambda c: setattr(self.model, "scheme", c["new"]), "value")
        self._send.on_click(self._on_send)
        super().__init__(children=[w.HBox([self._host, self._path]), w.HBox([self._scheme, self._send, self._hops]),
                                   self._out])

    def _on_send(self, _button=None) -> None:
        self._send.disabled = True
        try:
            self._out.value = self.model.send(self._lab, hops=self._hops.value).html()
        finally:
            self._send.disabled = False

    def _text(self) -> str:
        if self.model.last is None:
            return _("RequestWidget: GET {url} (not sent yet)").format(
                url=f"{self.model.scheme}://{self.model.host}{self.model.path}")
        return _("RequestWidget:") + "\n" + self.model.last.text()
