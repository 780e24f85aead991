"""Helpers that the scheduler and the controllers share about where pods may run (component-helpers' scheduling
package in Kubernetes): whether a pod's tolerations tolerate a node's taint."""
from __future__ import annotations

__all__ = ["tolerates"]


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """v1helper.TolerationsTolerateTaint: a toleration matches the taint's key (empty key with Exists: any key),
    its effect (empty: any effect) and, with operator Equal (the default), its value."""
    for t in tolerations or []:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        operator = t.get("operator") or "Equal"
        if not t.get("key"):
            if operator == "Exists":
                return True
            continue
        if t.get("key") != taint.get("key"):
            continue
        if operator == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False
