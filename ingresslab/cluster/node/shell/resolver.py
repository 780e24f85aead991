"""Name resolution inside a pod, behind one function: `Resolver.resolve(name)`.

It does what a pod's libc does with its `/etc/hosts` and `/etc/resolv.conf`: an address stays as it is, a name in
the hosts file answers from there, and any other name is asked of the cluster's DNS — first with each search
domain appended when it has fewer dots than `ndots` (5 in a pod), then as written. The asking is `lookup`, one
function from a fully qualified name to its addresses (or None for NXDOMAIN): today the node answers from the
API's Services and Pods (`node/names.py`); a real DNS server (a kube-dns Service) plugs in by replacing it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Lookup", "NameNotFound", "Resolver"]

Lookup = Callable[[str], "list[str] | None"]


class NameNotFound(LookupError):
    def __init__(self, name: str, tried: list[str]):
        super().__init__(name)
        self.name, self.tried = name, tried


@dataclass
class Resolver:
    search: tuple[str, ...]
    lookup: Lookup
    hosts: dict[str, list[str]] = field(default_factory=dict)
    ndots: int = 5

    def resolve(self, name: str) -> tuple[str, list[str]]:
        """(the name that answered, its IPv4 addresses); raises NameNotFound."""
        name = name.rstrip(".") if name.endswith(".") and name != "." else name
        try:
            return name, [str(ipaddress.IPv4Address(name))]
        except ValueError:
            pass
        if name.lower() in self.hosts:
            return name, list(self.hosts[name.lower()])
        candidates = [f"{name}.{domain}" for domain in self.search] if name.count(".") < self.ndots else []
        candidates.append(name)
        for fqdn in candidates:
            found = self.lookup(fqdn.lower())
            if found:
                return fqdn, found
        raise NameNotFound(name, candidates)
