"""`CostWidget()`: how many Services, what a load balancer costs → both monthly totals, side by side.

A thin GUI over `cost_model.CostModel` (pure arithmetic; prices are illustrative and the widget says so).
Neighbours: `cost_model.py`, `_base.py`.
"""
from __future__ import annotations

import ipywidgets as w

from ingresslab.i18n import _

from ._base import TextReprVBox
from .cost_model import CostModel


class CostWidget(TextReprVBox):
    def __init__(self, *, services: int = 10, price_per_lb: float = 18.0, currency: str = "USD",
                 model: CostModel | None = None):
        self.model = model or CostModel(services=services, price_per_lb=price_per_lb, currency=currency)
        self._services = w.IntSlider(value=self.model.services, min=1, max=100, description=_("Services"))
        self._price = w.BoundedFloatText(value=self.model.price_per_lb, min=0, max=100000, step=0.5,
                                         description=_("LB {currency}/month").format(currency=self.model.currency),
                                         style={"description_width": "initial"})
        self._out = w.HTML(self.model.html())
        self._services.observe(self._on_change, "value")
        self._price.observe(self._on_change, "value")
        super().__init__(children=[w.HBox([self._services, self._price]), self._out])

    def _on_change(self, _change=None) -> None:
        self.model.services = int(self._services.value)
        self.model.price_per_lb = float(self._price.value)
        self._out.value = self.model.html()

    def _text(self) -> str:
        return _("CostWidget: {summary}").format(summary=self.model.text())
