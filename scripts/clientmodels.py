"""The official client's generated models for every kind the lab serves, walked from each kind down through every
nested type: what `wiretypes.py` (field types) and `apischemas.py` (fields, required, descriptions) build from."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingresslab.cluster.apimachinery.resources import RESOURCES, Resource  # noqa: E402
from ingresslab.cluster.apiserver.wiretypes import element_type  # noqa: E402


def walk(kind_key: Callable[[Resource], str], *, served_only: bool = True) -> tuple[dict[str, str], dict[str, type]]:
    """({kind_key(resource): model name}, {model name: model class}) for every reachable model. `served_only=False`
    leaves out kinds served only for old manifests (extensions/v1beta1 Ingress)."""
    import kubernetes.client as client

    kinds: dict[str, str] = {}
    models: dict[str, type] = {}
    pending: list[str] = []
    for r in RESOURCES:
        if r.served_only and not served_only:
            continue
        v = r.version[:1].upper() + r.version[1:]
        for name in (f"{v}{r.kind}", f"Core{v}{r.kind}"):
            cls = getattr(client, name, None)
            if cls is not None and hasattr(cls, "openapi_types"):
                kinds[kind_key(r)] = name
                pending.append(name)
                break
    while pending:
        name = pending.pop()
        if name in models:
            continue
        cls = getattr(client, name, None)
        if cls is None or not hasattr(cls, "openapi_types"):
            continue
        models[name] = cls
        pending.extend(element_type(sub) for sub in cls.openapi_types.values())
    return kinds, models
