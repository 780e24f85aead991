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

ILLUSTRATIVE = ("Prices are illustrative, not a quote: look up your cloud's current price list. Load balancers "
                "are also billed for traffic, which is not counted here.")


@dataclass
class CostModel:
    services: int = 10
    price_per_lb: float = 18.0           # per load balancer per month, illustrative
    controller_per_month: float = 0.0    # the Ingress controller's pods (compute), if you want to count them

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
        return (f"{self.services} Services: one LoadBalancer each = {self.load_balancer_per_service:,.2f}/month; "
                f"one Ingress = {self.one_ingress:,.2f}/month; difference {self.saving:,.2f}/month "
                f"({self.saving * 12:,.2f}/year). {ILLUSTRATIVE}")

    def html(self) -> str:
        per, one = self.load_balancer_per_service, self.one_ingress
        widest = max(per, one, 1e-9)
        bar = ('<div style="background:{c};height:14px;width:{w:.0f}%;min-width:2px;display:inline-block"></div>')
        return (f"<table style='font-size:0.95em'>"
                f"<tr><td>{self.services} × LoadBalancer Service</td><td>{bar.format(c='#e06666', w=per / widest * 60)}"
                f"</td><td style='text-align:right'><b>{per:,.2f}</b> / month</td></tr>"
                f"<tr><td>1 Ingress controller (1 LoadBalancer)</td><td>{bar.format(c='#6aa84f', w=one / widest * 60)}"
                f"</td><td style='text-align:right'><b>{one:,.2f}</b> / month</td></tr></table>"
                f"<div>difference: <b>{self.saving:,.2f}</b> per month, {self.saving * 12:,.2f} per year</div>"
                f"<div><small style='color:#666'>{html.escape(ILLUSTRATIVE)}</small></div>")
