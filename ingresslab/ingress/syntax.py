"""nginx.conf syntax safety: the only two ways a string may reach the file — as a checked token or quoted.

Real controllers were broken by config injection again and again (a newline in a path, an annotation written
unquoted, a path echoed in a `#` comment, a Secret name used as a file name: see REFERENCE.md, "Known
config-injection holes"). `render.py` therefore never formats a model string into the file directly. It calls
`token(value, kind)` — the whole value must match a strict pattern (host names, upstream names, object
references for comments, sizes) — or `quote(value)`, which writes a double-quoted nginx string with `\\` and `"`
escaped and refuses control characters. Inside double quotes nginx treats `;`, `{`, `}`, `#` and spaces as text;
`$` is only expanded by directives that take variables, and render.py quotes user text only into directives that
do not (`location`, `server_name`, `rewrite`'s regex) or after `token` has ruled `$` out.
"""
from __future__ import annotations

import ipaddress
import re

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
PATTERNS: dict[str, re.Pattern] = {
    # DNS-1123 subdomain, optionally a wildcard first label; "_" is the catch-all server.
    "host": re.compile(rf"_|(?:\*\.)?{_LABEL}(?:\.{_LABEL})*"),
    # Upstream names: <namespace>-<service>-<port number or name>, all DNS labels or IANA service names.
    "upstream": re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"),
    # "namespace/name" — only used in comments, so only the Kubernetes name alphabet is accepted.
    "object": re.compile(rf"{_LABEL}/[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?"),
    # "namespace/service:port"
    "service": re.compile(rf"{_LABEL}/{_LABEL}(?::[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)?"),
    # nginx sizes: client_max_body_size 1m, 512k, 0 (no limit).
    "size": re.compile(r"[0-9]{1,20}[kKmMgG]?"),
    # rewrite-target: URL characters and regex captures $1..$9 only — no other nginx variable.
    "rewrite_target": re.compile(r"(?:[A-Za-z0-9/._~!*()%:@&=+,?-]|\$[0-9]|\$\{[0-9]\})*"),
    # A system user name for the `user` directive.
    "user": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}"),
    "sha256": re.compile(r"[0-9a-f]{64}"),
    # nginx times: keepalive_time 1h, 90s, 500ms.
    "time": re.compile(r"[0-9]{1,9}(?:ms|s|m|h|d)?"),
    # access_log parameters (ingress-nginx's access-log-params): buffer=SIZE, flush=TIME, gzip[=LEVEL].
    "access_log_param": re.compile(r"buffer=[0-9]{1,9}[kKmM]?|flush=[0-9]{1,9}(?:ms|s|m|h)?|gzip(?:=[1-9])?"),
}


class UnsafeValue(ValueError):
    """A model string that would be unsafe in nginx.conf: names the field, the value and the rule it broke."""

    def __init__(self, field: str, value, rule: str):
        self.field, self.value, self.rule = field, value, rule
        super().__init__(f"{field}: {value!r} is not allowed in nginx.conf ({rule})")


def token(value, kind: str, *, field: str = "") -> str:
    """Return `value` unchanged if the whole of it matches the strict pattern `kind`; raise `UnsafeValue` if not."""
    if not isinstance(value, str) or not PATTERNS[kind].fullmatch(value):
        raise UnsafeValue(field or kind, value, f"must match the {kind} pattern {PATTERNS[kind].pattern}")
    return value


def quote(value, *, field: str = "string") -> str:
    """Return `value` as a double-quoted nginx string: `\\` and `"` escaped, control characters refused.

    Refusing control characters (newline, tab, NUL, DEL) keeps every directive on one line, so what a learner
    reads is what nginx parses.
    """
    if not isinstance(value, str):
        raise UnsafeValue(field, value, "must be a string")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UnsafeValue(field, value, "control characters such as newline are not allowed")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def integer(value, *, field: str, low: int = 0, high: int = 2**31 - 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UnsafeValue(field, value, f"must be an integer from {low} to {high}")
    return str(value)


def port(value, *, field: str = "port") -> str:
    return integer(value, field=field, low=1, high=65535)


def ip_address(value, *, field: str = "address") -> str:
    """An IP literal as nginx's `listen`/`server` want it (IPv6 in brackets)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise UnsafeValue(field, value, "must be an IPv4 or IPv6 address") from None
    return f"[{address}]" if address.version == 6 else str(address)


_REGEX_SPECIAL = set("\\.^$|?*+()[]{}#")


def literal_regex(path: str) -> str:
    """A PCRE pattern matching exactly the text `path` (its regex metacharacters escaped)."""
    return "".join("\\" + c if c in _REGEX_SPECIAL or c.isspace() else c for c in path)


def host_regex(hostname: str) -> str:
    """`*.foo.com` → `~^[^.]+\\.foo\\.com$`: exactly one extra label, as Ingress wildcards mean.

    nginx's own `*.foo.com` would also match `a.b.foo.com`, which the Ingress spec forbids.
    """
    token(hostname, "host", field="server.hostname")
    return "~^[^.]+" + literal_regex(hostname[1:]) + "$"
