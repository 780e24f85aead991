"""Which nginx server serves which hostname on which port, and in what order its matches are tried.

A Gateway's valid listeners are grouped by port (one nginx `listen` each). On a port, every hostname that a
listener or an attached route names gets a server; `_` (any host) is always there as the `default_server`, and
answers 404 when no listener without hostname exists. nginx picks the server as the spec picks the listener:
an exact name before the longest wildcard (nginx's `*.example.com` matches one or more labels, as the spec's).

A server belongs to the most specific listener that matches its hostname; it holds the matches of that
listener's routes whose hostnames cover it — a route naming the exact host first, then routes with covering
wildcards (longer first), then routes for any host — and within each, the spec's precedence (`precedence.py`).
So a request the exact-host route does not match still reaches a wildcard route of the same listener, as the
spec's "precedence, continuing on ties" means.

Neighbours: `translate.py` calls `layout_ports`; `routes.py` made the `Attached` entries; `render.py` writes it.
"""
from __future__ import annotations

from typing import Callable

from . import objects as o
from .model import Port, VirtualServer
from .precedence import precedence_key
from .routes import Attachment, ListenerView


def _owner(hostname: str, listeners: list[ListenerView]) -> ListenerView | None:
    """The most specific listener whose hostname covers `hostname` (`_`: only a listener without hostname)."""
    if hostname == "_":
        return next((v for v in listeners if v.hostname is None), None)
    fits = [v for v in listeners if v.hostname is None or v.hostname == hostname
            or (v.hostname.startswith("*.") and o.wildcard_covers(v.hostname, hostname))]
    return min(fits, key=lambda v: o.specificity(v.hostname), default=None)


def _covers(route_hostname: str | None, server: str) -> bool:
    if route_hostname is None or server == route_hostname:
        return True
    if server == "_":
        return False
    return route_hostname.startswith("*.") and o.wildcard_covers(route_hostname, server)


def layout_ports(listeners: list[ListenerView], attachment: Attachment, *,
                 port_map: Callable[[int], int]) -> tuple[Port, ...]:
    ports: dict[int, list[ListenerView]] = {}
    for view in listeners:
        if view.usable:
            ports.setdefault(view.port, []).append(view)
    out = []
    for number in sorted(ports):
        group = ports[number]
        names: dict[str, None] = {"_": None}
        for view in group:
            names[view.hostname or "_"] = None
            for entry in attachment.by_listener.get(view.name, []):
                for h in entry.hostnames:
                    names[h or view.hostname or "_"] = None
        servers = []
        for hostname in sorted(names, key=lambda h: (h != "_", h)):
            owner = _owner(hostname, group)
            ranked = []
            for entry in attachment.by_listener.get(owner.name, []) if owner else []:
                covering = [h for h in entry.hostnames if _covers(h, hostname)]
                if not covering:
                    continue
                best = min(o.specificity(h) for h in covering)
                for r, rule in enumerate(entry.rules):
                    for m, match in enumerate(rule):
                        ranked.append(((best, precedence_key(match, route_age=entry.age, rule=r, index=m)), match))
            ranked.sort(key=lambda pair: pair[0])
            servers.append(VirtualServer(hostname, owner.name if owner else "", tuple(m for _, m in ranked),
                                         tls_secret=owner.certificate if owner else None))
        out.append(Port(port_map(number), number, group[0].protocol, tuple(servers)))
    return tuple(out)
