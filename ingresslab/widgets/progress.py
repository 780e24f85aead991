"""Start the lab from a notebook with a progress bar that moves while the lab process starts.

The bar is one widget displayed once; its later changes travel as widget state, so the notebook's stored output
stays the same whether the lab was already running or just started (what nbval compares). The label shows
`Lab.up`'s messages in the learner's language; the bar follows their language-independent `key`.
"""
from __future__ import annotations

import os

import ipywidgets as w
from IPython.display import display

from .. import i18n
from ..i18n import _
from ..lab import Lab

# keyed by the messages' English words (`lab.Progress.key`), the same whatever language the label shows
_STEPS = {"starting the cluster process": 1, "lab process starting": 2, "lab process ready": 4}


class StartProgress:
    """The bar and its label; called with each of `Lab.up`'s progress messages."""

    def __init__(self):
        self.bar = w.IntProgress(value=0, min=0, max=4, description=_("lab"), bar_style="info",
                                 layout=w.Layout(width="420px"))
        self.label = w.Label(_("looking for a running lab…"))
        self.box = w.HBox([self.bar, self.label])

    def __call__(self, message: str) -> None:
        self.bar.value = _STEPS.get(getattr(message, "key", message), self.bar.value)
        self.label.value = message

    def done(self) -> None:
        self.bar.value, self.bar.bar_style, self.label.value = 4, "success", _("ready")


def start_lab(home=None, *, language: str | None = None) -> Lab:
    if language is not None:
        i18n.use(language)
    progress = StartProgress()
    display(progress.box)
    lab = Lab.up(home, progress=progress)
    progress.done()
    # `!kubectl …` in this notebook, and any terminal started from it, now talk to the lab.
    os.environ["KUBECONFIG"] = str(lab.kubeconfig_path)
    return lab
