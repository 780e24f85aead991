"""`ReplicasSlider(lab, deployment)`: move the slider, the Deployment scales, the endpoints follow on screen.

A thin GUI over `replicas_model.ReplicasModel`. In a kernel the following is polled on the kernel's event loop
(every 0.2 s until the EndpointSlices hold the wanted number of ready addresses, at most 20 s), so the notebook
stays responsive; without a loop it reads until settled, then shows the result.
Neighbours: `replicas_model.py`, `debounce.py` (the scheduler), `_base.py`.
"""
from __future__ import annotations

import time

import ipywidgets as w

from ingresslab.i18n import _
from ingresslab.lab import Lab

from ._base import TextReprVBox
from .debounce import Scheduler, loop_call_later
from .replicas_model import ReplicasModel, Snapshot

POLL_EVERY, FOLLOW_FOR = 0.2, 20.0


class ReplicasSlider(TextReprVBox):
    def __init__(self, lab: Lab, deployment: str, *, namespace: str = "default", max_replicas: int = 10,
                 model: ReplicasModel | None = None, schedule: Scheduler = loop_call_later):
        self.model = model or ReplicasModel(lab, deployment, namespace=namespace)
        self._schedule = schedule
        self.last: Snapshot = self.model.snapshot()
        self._slider = w.IntSlider(value=self.last.desired, min=0, max=max(max_replicas, self.last.desired),
                                   description=_("replicas"), continuous_update=False)
        self._table = w.HTML(self.last.html())
        self._slider.observe(self._on_slide, "value")
        self._following_until = 0.0
        super().__init__(children=[self._slider, self._table])

    def _on_slide(self, change) -> None:
        self.model.scale(int(change["new"]))
        self._following_until = time.monotonic() + FOLLOW_FOR
        self._poll()

    def _poll(self) -> None:
        self._show(self.model.snapshot())
        if self.last.settled or time.monotonic() > self._following_until:
            return
        if self._schedule(POLL_EVERY, self._poll) is None:      # no event loop: read until settled, here
            self._show(self.model.wait_until_settled(timeout=max(0.0, self._following_until - time.monotonic())))

    def _show(self, snap: Snapshot) -> None:
        self.last = snap
        self._table.value = snap.html()

    def _text(self) -> str:
        return _("ReplicasSlider: {summary}").format(summary=self.last.text())
