"""The cost comparison's model: one cloud load balancer per Service, or one for the Ingress controller.

Pure arithmetic, no widget import, no cluster. Exposing N Services as `type: LoadBalancer` makes the cloud create
N load balancers; one Ingress controller behind one LoadBalancer Service serves them all by host and path. The
default price is illustrative only (a plausible monthly figure for a small cloud load balancer, not any
provider's quote); the controller's own pods cost some compute too, which is what `controller_per_month` is for.
Neighbours: `cost.py` (the GUI).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from ingresslab.i18n import _

BAR_PX = 320        # the longer bar's length; the other is drawn to scale, so the picture shows the ratio


def illustrative(currency: str) -> str:
    return _("Illustrative prices in {currency}, not a quote: look up your cloud's current price list. Load "
             "balancers are also billed for traffic, which is not counted here.").format(currency=currency)


@dataclass
class CostModel:
    services: int = 10
    price_per_lb: float = 18.0           # per load balancer per month, illustrative
    controller_per_month: float = 0.0    # the Ingress controller's pods (compute), if you want to count them
    currency: str = "USD"

    def _check(self) -> None:
        if not isinstance(self.services, int) or self.services < 0:
            raise ValueError("the number of Services is a whole number, 0 or more")
        if self.price_per_lb < 0 or self.controller_per_month < 0:
            raise ValueError("prices are 0 or more")

    @property
    def load_balancer_per_service(self) -> float:
        self._check()
        return round(self.services * self.price_per_lb, 2)

    @property
    def one_ingress(self) -> float:
        """One LoadBalancer Service in front of the controller (none at all for zero Services)."""
        self._check()
        return round((self.price_per_lb + self.controller_per_month) if self.services else 0.0, 2)

    @property
    def saving(self) -> float:
        return round(self.load_balancer_per_service - self.one_ingress, 2)

    def text(self) -> str:
        c = self.currency
        return _("{services} Services: one LoadBalancer each = {per_service} {currency}/month; one Ingress = "
                 "{one_ingress} {currency}/month; difference {saving} {currency}/month ({saving_year} "
                 "{currency}/year). {illustrative}").format(services=self.services, per_service=f"{self.load_balancer_per_service:,.2f}",
                                          one_ingress=f"{self.one_ingress:,.2f}", saving=f"{self.saving:,.2f}",
                                          saving_year=f"{self.saving * 12:,.2f}", currency=c,
                                          illustrative=illustrative(c))

    def bar_widths(self) -> tuple[int, int]:
        """Pixel lengths of the two bars, proportional to the two costs (the larger one is BAR_PX)."""
        per, one = self.load_balancer_per_service, self.one_ingress
        widest = max(per, one)
        if widest <= 0:
            return 0, 0
        return round(per / widest * BAR_PX), round(one / widest * BAR_PX)

    def html(self) -> str:
        per, one, c = self.load_balancer_per_service, self.one_ingress, html.escape(self.currency)
        per_px, one_px = self.bar_widths()
        bar = ('<div style="background:{colour};height:14px;width:{px}px;display:inline-block;'
               'vertical-align:middle"></div>')
        row = ("<tr><td>{what}</td><td style='width:{full}px'>{bar}</td>"
               "<td style='text-align:right;white-space:nowrap'>{cost}</td></tr>")
        per_month = _("<b>{cost}</b> {currency} / month")
        difference = _("difference: <b>{saving} {currency}</b> per month, {saving_year} {currency} per year").format(
            saving=f"{self.saving:,.2f}", saving_year=f"{self.saving * 12:,.2f}", currency=c)
        return (f"<table style='font-size:0.95em'>"
                + row.format(what=html.escape(_("{services} × LoadBalancer Service").format(services=self.services)),
                             full=BAR_PX, cost=per_month.format(cost=f"{per:,.2f}", currency=c),
                             bar=bar.format(colour="#e06666", px=per_px))
                + row.format(what=html.escape(_("1 Ingress controller (1 LoadBalancer)")), full=BAR_PX,
                             cost=per_month.format(cost=f"{one:,.2f}", currency=c),
                             bar=bar.format(colour="#6aa84f", px=one_px))
                + f"</table><div>{difference}</div><div><small style='color:#666'>"
                f"{html.escape(illustrative(self.currency))}</small></div>")
