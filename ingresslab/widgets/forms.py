"""Two small forms the notebooks show: `TraceForm` (05: pick a host and a path, send, see the picture of the hops)
and `AnswerForm` (07: type an exercise's YAML into a box and check it).

They are as small as they look — a few ipywidgets and one callback each — and live here rather than in the
notebooks' code cells so that their labels follow the learner's language (`ingresslab.i18n`), while the code
cells stay the same in both editions. Neighbours: `request.py` (the request widget with text results), `_base.py`.
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as w
from IPython.display import display

from ingresslab import viz
from ingresslab.i18n import _, ngettext
from ingresslab.lab import Lab
from ingresslab.trace import send, trace

from ._base import TextReprVBox


class TraceForm(TextReprVBox):
    """Host and path dropdowns and a button: each click sends one request and draws the path it took."""

    def __init__(self, lab: Lab, *, hosts: Sequence[str], paths: Sequence[str], scheme: str = "https"):
        self._lab = lab
        self.scheme = scheme
        self.host = w.Dropdown(options=list(hosts), description=_("host"))
        self.path = w.Dropdown(options=list(paths), description=_("path"))
        self.go = w.Button(description=_("send and trace"), button_style="primary")
        self.out = w.Output()
        self.last = None
        self.go.on_click(self.send)
        super().__init__(children=[w.HBox([self.host, self.path, self.go]), self.out])

    def send(self, _button=None):
        """What a click does; returns the trace it drew."""
        with self.out:
            self.out.clear_output(wait=True)
            answer = send(self._lab, self.host.value, self.path.value, scheme=self.scheme)
            self.last = trace(self._lab, answer)
            display(viz.request_path(self.last, highlight=True))
        return self.last

    def _text(self) -> str:
        url = f"{self.scheme}://{self.host.value}{self.path.value}"
        if self.last is None:
            return _("TraceForm: {url}, not sent yet").format(url=url)
        return _("TraceForm: {url}, sent; the picture shows the hops it took").format(url=url)


class AnswerForm(TextReprVBox):
    """A box for an exercise's YAML and a check button: each click shows `exercise.check(the box's text)`."""

    def __init__(self, exercise, answer: str = ""):
        self._exercise = exercise
        self.box = w.Textarea(value=answer, layout=w.Layout(width="100%", height="16em"))
        self.button = w.Button(description=_("check"), button_style="primary")
        self.result = w.Output()
        self.outcome = None
        self.button.on_click(self.check)
        super().__init__(children=[self.box, self.button, self.result])

    def check(self, _button=None):
        """What a click does; returns the exercise's outcome it showed."""
        with self.result:
            self.result.clear_output(wait=True)
            self.outcome = self._exercise.check(self.box.value)
            display(self.outcome)
        return self.outcome

    def _text(self) -> str:
        lines = len(self.box.value.splitlines())
        if self.outcome is None:
            return ngettext("AnswerForm: {lines} line of YAML, not checked yet",
                            "AnswerForm: {lines} lines of YAML, not checked yet", lines).format(lines=lines)
        return ngettext("AnswerForm: {lines} line of YAML, checked", "AnswerForm: {lines} lines of YAML, checked",
                        lines).format(lines=lines)
