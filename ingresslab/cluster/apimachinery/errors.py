"""Kubernetes-shaped errors: every failure the API answers with is a `Status` object.

The store, the validators and the admission hooks raise `ApiError`; the HTTP layer (`api.py`) turns it into the
Status JSON and the HTTP code a real API server would send, so clients (`kubernetes` client, kubectl) raise or print
exactly what they would against a real cluster.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cause:
    """One entry of `details.causes[]`: which field broke which rule.

    `message` is the whole text as apimachinery's field.Error prints it, e.g.
    `Invalid value: "1.2.3.4": must be a DNS name, not an IP address`.
    """

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    @classmethod
    def invalid(cls, field: str, value, detail: str) -> "Cause":
        return cls(field, f"Invalid value: {_show(value)}: {detail}", "FieldValueInvalid")

    @classmethod
    def required(cls, field: str, detail: str = "") -> "Cause":
        return cls(field, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")

    @classmethod
    def not_supported(cls, field: str, value, allowed) -> "Cause":
        quoted = ", ".join(f'"{a}"' for a in allowed)
        return cls(field, f"Unsupported value: {_show(value)}: supported values: {quoted}", "FieldValueNotSupported")

    @classmethod
    def duplicate(cls, field: str, value) -> "Cause":
        return cls(field, f"Duplicate value: {_show(value)}", "FieldValueDuplicate")

    @classmethod
    def forbidden(cls, field: str, detail: str) -> "Cause":
        return cls(field, f"Forbidden: {detail}", "FieldValueForbidden")

    @classmethod
    def too_long(cls, field: str, limit: int) -> "Cause":
        return cls(field, f"Too long: may not be more than {limit} bytes", "FieldValueTooLong")

    def to_dict(self) -> dict:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass
class ApiError(Exception):
    code: int
    reason: str
    message: str
    details: dict | None = None
    causes: list[Cause] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = dict(self.details or {})
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if details:
            body["details"] = details
        return body


def _gr(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_gr(resource, group)} "{name}" not found',
                    {"name": name, "group": group, "kind": resource})


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_gr(resource, group)} "{name}" already exists',
                    {"name": name, "group": group, "kind": resource})


def conflict(resource: str, group: str, name: str) -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {_gr(resource, group)} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": resource})


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> ApiError:
    """422 Invalid, worded like apimachinery's NewInvalid: `Kind.group "name" is invalid: field: message`."""
    parts = [f"{c.field}: {c.message}" for c in causes]
    text = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(422, "Invalid", f'{_gr(kind, group)} "{name}" is invalid: {text}',
                    {"name": name, "group": group, "kind": kind}, list(causes))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


class StreamRefused(Exception):
    """A streaming request (exec, attach, port-forward) refused as the kubelet refuses: plain text, which kubectl
    prints as `unable to upgrade connection: <text>`."""

    def __init__(self, code: int, text: str):
        super().__init__(text)
        self.code, self.text = code, text
