"""How one host's Ingress paths become nginx `location` blocks (ingress-nginx's rules, with nginx's quirks handled).

Ingress path semantics (REFERENCE.md) against nginx's location matching:
  * Exact `/p` → `location = "/p"`.
  * Prefix `/p` (or `/p/`; ImplementationSpecific is Prefix) → `location "/p/"` plus an exact copy
    `location = "/p"`, so `/p` and `/p/...` match but `/pxyz` does not (element-wise prefix). An Exact rule on
    the same path replaces the exact copy — on a tie Exact wins.
  * Prefix `/` → `location "/"`. Every host gets `location /` → default backend unless a rule defines it.
  * `use-regex` or `rewrite-target` on any path of a host turns the host's Prefix paths into case-insensitive
    regex locations `~* "^<path>"`, as ingress-nginx does; they are ordered longest first (equal lengths
    reverse-sorted), because nginx takes the first regex that matches.
  * Exact `/p/` (ending in a slash): nginx answers a request for `/p` with a 301 to `/p/` whenever a location
    named `/p/` proxies (its "auto redirect"), which would make Exact `/p/` capture `/p`. We write that one
    Exact rule as an anchored case-sensitive regex `~ "^/p/$"` instead: same match, no auto redirect; it comes
    before the other regexes so it still wins ties.

Duplicates (two Ingresses claiming the same path on a host) keep the first in model order; translate.py decides
that order (ingress-nginx: the oldest Ingress wins).

Neighbours: used by `render.py`; strings are made safe there (`syntax.quote`) — this module only plans.
"""
from __future__ import annotations

from dataclasses import dataclass

from .model import Location, Server
from .syntax import UnsafeValue, literal_regex


@dataclass(frozen=True)
class PlannedLocation:
    """One `location` to write: `modifier` (`=`, ``, `~`, `~*`), the unquoted `path` text, the Ingress rule it
    serves (None: the default backend) and a short fixed `note` for the comment above it."""

    modifier: str
    path: str
    rule: Location | None
    note: str


def plan_locations(server: Server, *, default_backend: str | None) -> list[PlannedLocation]:
    """The locations of `server`, in the order they are written (which matters only for regex locations)."""
    regex_mode = any(rule.needs_regex for rule in server.locations)
    chosen: dict[tuple[str, str], PlannedLocation] = {}

    def add(planned: PlannedLocation) -> None:
        chosen.setdefault((planned.modifier, planned.path), planned)

    for rule in server.locations:
        if not rule.path.startswith("/"):
            raise UnsafeValue("location.path", rule.path, "paths must start with /")
        if rule.is_exact and rule.path.endswith("/") and rule.path != "/":
            add(PlannedLocation("~", "^" + literal_regex(rule.path) + "$", rule,
                                "Exact rule (as a regex, so nginx does not redirect the path without its slash)"))
        elif rule.is_exact:
            add(PlannedLocation("=", rule.path, rule, "Exact rule"))
        elif regex_mode:
            add(PlannedLocation("~*", "^" + rule.path, rule,
                                f"{_kind(rule)}, as a regex (use-regex/rewrite-target on this host)"))
        else:
            add(PlannedLocation("", _prefix_dir(rule.path), rule, _kind(rule)))
    if not regex_mode:
        for rule in server.locations:
            if not rule.is_exact and _prefix_dir(rule.path) != "/":
                add(PlannedLocation("=", _prefix_dir(rule.path)[:-1], rule,
                                    f"{_kind(rule)}, exact copy of the prefix without its slash"))
    root = ("~*", "^/") if regex_mode else ("", "/")
    if root not in chosen:
        add(PlannedLocation(*root, None, "default backend"))
    # Reverse-sorted by path; on a regex host, as ingress-nginx orders locations, longest path first (nginx takes
    # the first regex that matches, so this decides between overlapping regexes); regexes for Exact paths on top.
    ordered = sorted(chosen.values(), key=lambda p: (len(p.path.lstrip("^")) if regex_mode else 0,
                                                     p.path.lstrip("^"), p.modifier), reverse=True)
    return sorted(ordered, key=lambda p: p.modifier != "~")


def _prefix_dir(path: str) -> str:
    """`/p` and `/p/` → `/p/`; `/` stays `/`."""
    return path.rstrip("/") + "/"


def _kind(rule: Location) -> str:
    return "Prefix rule" if rule.path_type == "Prefix" else "ImplementationSpecific rule (treated as Prefix)"
