"""Label and field selectors, parsed from the query strings clients send (`?labelSelector=app=tea,tier!=db`).

Label selectors follow apimachinery's grammar: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
Field selectors are `path=v`, `path==v`, `path!=v` over dotted paths (`metadata.name`, `spec.nodeName`,
`involvedObject.uid` — kubectl describe filters events this way).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingresslab.cluster.apimachinery import errors

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                  # =, !=, in, notin, exists, !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    @classmethod
    def parse(cls, text: str | None) -> "LabelSelector | None":
        if not text:
            return None
        reqs = []
        for part in _split_top(text):
            m = re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\(([^)]*)\)", part)
            if m:
                values = tuple(v.strip() for v in m.group(4).split(",") if v.strip())
                reqs.append(Requirement(m.group(1), m.group(3), values))
                continue
            m = re.fullmatch(rf"({_KEY})\s*(==|=|!=)\s*([-A-Za-z0-9_.]*)", part)
            if m:
                op = "!=" if m.group(3) == "!=" else "="
                reqs.append(Requirement(m.group(1), op, (m.group(4),)))
                continue
            m = re.fullmatch(rf"(!?)({_KEY})", part)
            if m:
                reqs.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
                continue
            raise errors.bad_request(f'unable to parse requirement: invalid label selector "{text}"')
        return cls(tuple(reqs))

    @classmethod
    def from_match_labels(cls, selector: dict | None) -> "LabelSelector":
        """A Deployment/ReplicaSet `spec.selector` (matchLabels and matchExpressions)."""
        selector = selector or {}
        reqs = [Requirement(k, "=", (v,)) for k, v in sorted((selector.get("matchLabels") or {}).items())]
        for expr in selector.get("matchExpressions") or []:
            op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}[expr["operator"]]
            reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
        return cls(tuple(reqs))

    def matches(self, labels: dict) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def _lookup(obj: dict, path: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[tuple[str, str, str], ...]   # (path, op, value)

    @classmethod
    def parse(cls, text: str | None) -> "FieldSelector | None":
        if not text:
            return None
        reqs = []
        for part in _split_top(text):
            m = re.fullmatch(r"([A-Za-z0-9.]+)\s*(==|=|!=)\s*(.*)", part)
            if not m:
                raise errors.bad_request(f'invalid selector: "{text}"; can\'t understand "{part}"')
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
        return cls(tuple(reqs))

    def matches(self, obj: dict) -> bool:
        for path, op, value in self.requirements:
            actual = _lookup(obj, path)
            actual = "" if actual is None else str(actual)
            if (actual == value) != (op == "="):
                return False
        return True
