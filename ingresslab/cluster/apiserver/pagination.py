"""Chunked lists: `?limit=N` answers at most N items and a `continue` token for the rest, as kube-apiserver does.

The token is opaque to clients and, as the real one, base64 of a small JSON document: the resource version the first
chunk was read at and the key to start after. Items come in key order (namespace, name), so a chunk starts where the
last one ended. `remainingItemCount` is sent when no selector filtered the list (the real server can only count then).
A token that cannot be decoded is a 400; one whose resource version has been compacted out of the change log is a
410 Expired, as etcd's compaction makes it on a real cluster.

Neighbours: `server.py` (`_list`), the store (`list`, `oldest_version`).
"""
from __future__ import annotations

import base64
import binascii
import json

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.errors import ApiError

TOO_OLD = ("The provided continue parameter is too old to display a consistent list result. You can start a new "
           "list without the continue parameter.")


def encode(resource_version: int, start: str) -> str:
    doc = {"v": "meta.k8s.io/v1", "rv": resource_version, "start": start}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("v") != "meta.k8s.io/v1":
            raise ValueError("continue key is not valid: incorrect encoded start resourceVersion (version "
                             "meta.k8s.io/v1)")
        rv, start = doc.get("rv"), doc.get("start")
        if not isinstance(rv, int) or isinstance(rv, bool) or rv <= 0 or not isinstance(start, str) or not start:
            raise ValueError("continue key is not valid: incorrect encoded start resourceVersion (version "
                             "meta.k8s.io/v1)")
        return rv, start
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        text = str(exc) if str(exc).startswith("continue key") else f"continue key is not valid: {exc}"
        raise errors.bad_request(f"invalid continue token: {text}") from None


def parse_limit(text: str | None) -> int:
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise errors.bad_request(f'invalid limit "{text}": must be an integer') from None
    return max(value, 0)


def page(items: list[dict], *, limit: int, token: str | None, current_rv: int, oldest_rv: int,
         filtered: bool) -> tuple[list[dict], dict]:
    """The chunk to answer and the list metadata to send with it (`resourceVersion`, `continue`,
    `remainingItemCount`)."""
    meta: dict = {"resourceVersion": str(current_rv)}
    if token:
        rv, start = decode(token)
        if rv < oldest_rv:
            raise ApiError(410, "Expired", TOO_OLD)
        items = [o for o in items if _key(o) > start]
        meta["resourceVersion"] = str(rv)
    else:
        rv = current_rv
    if limit and len(items) > limit:
        chunk = items[:limit]
        meta["continue"] = encode(rv, _key(chunk[-1]))
        if not filtered:
            meta["remainingItemCount"] = len(items) - limit
        return chunk, meta
    return items, meta


def _key(obj: dict) -> str:
    m = obj.get("metadata") or {}
    # NUL sorts before every character a name may hold, so text order is the store's (namespace, name) order.
    return f"{m.get('namespace') or ''}\x00{m.get('name') or ''}"
