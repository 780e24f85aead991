"""The `nginx.ingress.kubernetes.io/*` annotations this lab understands, declared as data.

ingress-nginx declares every annotation once — name, validator, scope, risk, documentation — in a table
(`internal/ingress/annotations/*/main.go`, `parser.AnnotationFields`), and runs the validators when the controller
starts with `--enable-annotation-validation`. We keep that shape: `ANNOTATIONS` below is the whole list, and
`parse_annotations` reads an Ingress's annotations through it into one frozen `ParsedAnnotations` value.

Every value here ends up inside nginx.conf, so every parser is a strict pattern, not a blocklist: a value either
matches or is refused with a message naming the annotation and what it may contain. Snippet annotations
(`*-snippet`) are raw nginx configuration and are refused outright, as `allow-snippet-annotations: false` does.
Annotations with our prefix that the lab does not implement are reported in `ParsedAnnotations.ignored` (never
copied into the config), so `translate.py` can tell the learner they had no effect.

The controller ConfigMap's keys (`proxy-body-size`, `ssl-redirect`, …) share the annotations' value shapes in
ingress-nginx, so their table (`CONFIGMAP_KEYS`, read by `parse_settings` into `model.Settings`) lives here too.

Neighbours: `validate.py` turns the causes into the admission answer; `translate.py` applies the parsed values to
the model's locations, backends and settings.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from ingresslab.cluster.apimachinery.errors import Cause

from .model import Settings

PREFIX = "nginx.ingress.kubernetes.io/"


class Scope(str, enum.Enum):
    """Where an annotation acts: on each location of the Ingress, or on the Ingress as a whole."""

    LOCATION = "location"
    INGRESS = "ingress"


class Risk(enum.IntEnum):
    """ingress-nginx's risk levels (`AnnotationRisk`): how much of nginx a value can reach."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3


class AnnotationValueError(ValueError):
    """Raised by a parser; the text says what the value may contain (the annotation name is added by the caller)."""


@dataclass(frozen=True)
class Annotation:
    """One supported annotation. `parse` turns the text into a typed value or raises `AnnotationValueError`."""

    name: str                      # without the prefix, e.g. "rewrite-target"
    attribute: str                 # the field of `ParsedAnnotations` it fills
    parse: Callable[[str], Any]
    scope: Scope
    risk: Risk
    default: Any
    documentation: str

    @property
    def key(self) -> str:
        return PREFIX + self.name


# --- parsers: strict patterns, one per value shape -------------------------------------------------------------

_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(value: str) -> bool:
    """Booleans as Go's strconv.ParseBool reads them (what ingress-nginx uses): "true"/"false", "1"/"0", …"""
    if value in _GO_TRUE:
        return True
    if value in _GO_FALSE:
        return False
    raise AnnotationValueError('must be "true" or "false"')


BACKEND_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "GRPCS")


def parse_backend_protocol(value: str) -> str:
    """HTTP, HTTPS, GRPC or GRPCS in any case, spaces around ignored (ingress-nginx upper-cases and trims)."""
    protocol = value.strip().upper()
    if protocol not in BACKEND_PROTOCOLS:
        raise AnnotationValueError(f"must be one of {', '.join(BACKEND_PROTOCOLS)} (any case)")
    return protocol


_SIZE = re.compile(r"[0-9]{1,9}[kKmMgG]?")


def parse_size(value: str) -> str:
    """An nginx size as `client_max_body_size` reads it: digits and an optional k, m or g; "0" means no limit."""
    if not _SIZE.fullmatch(value):
        raise AnnotationValueError(
            'must be an nginx size: up to 9 digits and an optional k, m or g suffix (e.g. "8m", "512k", "0")')
    return value


MAX_VALUE_LENGTH = 1024
"""Longer values would not fit nginx's 4 KiB buffer for one configuration token ("too long parameter"), and one such
value would make `nginx -t` refuse every later configuration."""
MAX_LOG_FORMAT_LENGTH = 2000
"""A log format is quoted, so `"` and `\\` take two characters each: 2,000 always fit in 4 KiB."""

_REWRITE_CHAR = re.compile(r"[A-Za-z0-9\-._~/:]")
_CAPTURE = re.compile(r"\$[0-9]")


def parse_rewrite_target(value: str) -> str:
    """A URI path for `rewrite … break`: safe URL characters and `$1`-style captures, nothing nginx would parse.

    ingress-nginx's pattern (`RegexPathWithCapture`) allows letters, digits, `-._~/:` and `$`. We are one step
    stricter: the target must start with `/` (so it can never turn into a redirect to another site), and `$` may
    only start a capture reference `$0`–`$9` (a `$host` or `$http_x` would be an nginx variable).
    """
    if not value.startswith("/"):
        raise AnnotationValueError("must be an absolute path starting with '/' (e.g. \"/\" or \"/$2\")")
    if len(value) > MAX_VALUE_LENGTH:
        raise AnnotationValueError(f"may be at most {MAX_VALUE_LENGTH} characters long (nginx reads a configuration "
                                   "value of at most 4 KiB)")
    i = 0
    while i < len(value):
        if _CAPTURE.match(value, i):
            i += 2
            continue
        ch = value[i]
        if ch == "$":
            raise AnnotationValueError(
                "may use '$' only for capture references $0 to $9 (nginx variables such as $host are not allowed)")
        if not _REWRITE_CHAR.fullmatch(ch):
            raise AnnotationValueError(
                "may contain only letters, digits, '-', '.', '_', '~', '/', ':' and capture references such as $1; "
                f"found {describe_char(ch)}")
        i += 1
    return value


def describe_char(ch: str) -> str:
    """A character as a learner can read it in an error message: `';'`, `a space`, `U+000A (a line break)`."""
    names = {" ": "a space", "\t": "a tab (U+0009)", "\n": "a line break (U+000A)", "\r": "a carriage return (U+000D)"}
    if ch in names:
        return names[ch]
    if ch.isprintable() and ch.isascii():
        return f"'{ch}'"
    return f"U+{ord(ch):04X} ({ch!r})" if ch.isprintable() else f"the control character U+{ord(ch):04X}"


# --- the table --------------------------------------------------------------------------------------------------

ANNOTATIONS: tuple[Annotation, ...] = (
    Annotation(
        "rewrite-target", "rewrite_target", parse_rewrite_target, Scope.INGRESS, Risk.MEDIUM, None,
        "The URI the backend sees instead of the request's: the host's paths become regex locations and "
        "`rewrite <path> <target> break` replaces the URI; `$1`, `$2` insert the path's capture groups."),
    Annotation(
        "use-regex", "use_regex", parse_bool, Scope.LOCATION, Risk.LOW, False,
        "Treat the paths of this Ingress as regular expressions (case-insensitive `~*` locations). As in "
        "ingress-nginx, the regex modifier then applies to every path of the same host."),
    Annotation(
        "ssl-redirect", "ssl_redirect", parse_bool, Scope.LOCATION, Risk.LOW, True,
        "Redirect HTTP to HTTPS (308) when the host has a certificate from `spec.tls`. Unset: the controller "
        "ConfigMap's `ssl-redirect` (default true)."),
    Annotation(
        "force-ssl-redirect", "force_ssl_redirect", parse_bool, Scope.LOCATION, Risk.MEDIUM, False,
        "Redirect HTTP to HTTPS even when the Ingress has no TLS section (the default certificate then answers)."),
    Annotation(
        "backend-protocol", "backend_protocol", parse_backend_protocol, Scope.LOCATION, Risk.LOW, "HTTP",
        "How nginx talks to the pods: HTTP, HTTPS, GRPC or GRPCS (proxy_pass or grpc_pass, with or without TLS)."),
    Annotation(
        "service-upstream", "service_upstream", parse_bool, Scope.INGRESS, Risk.LOW, False,
        "Send requests to the Service's ClusterIP:port instead of the pod endpoints, so kube-proxy picks the pod "
        "and becomes a hop of every request."),
    Annotation(
        "proxy-body-size", "proxy_body_size", parse_size, Scope.LOCATION, Risk.LOW, None,
        "The largest request body nginx accepts (`client_max_body_size`), e.g. 8m; 0 means no limit. Unset: the "
        "controller ConfigMap's `proxy-body-size` (default 1m)."),
)

BY_KEY: dict[str, Annotation] = {a.key: a for a in ANNOTATIONS}

SNIPPET_FORBIDDEN = "snippet annotations are disabled in this lab because they are raw nginx configuration"


@dataclass(frozen=True)
class ParsedAnnotations:
    """The typed values of one Ingress's annotations.

    `None` for `ssl_redirect` and `proxy_body_size` means "not set here": the controller ConfigMap decides.
    `explicit` names the annotations the Ingress did set; `ignored` lists keys with our prefix that this lab does
    not implement (they change nothing; `translate.py` says so in an event).
    """

    rewrite_target: str | None = None
    use_regex: bool = False
    ssl_redirect: bool | None = None
    force_ssl_redirect: bool = False
    backend_protocol: str = "HTTP"
    service_upstream: bool = False
    proxy_body_size: str | None = None
    explicit: frozenset[str] = frozenset()
    ignored: tuple[str, ...] = ()


def annotation_field(key: str) -> str:
    """The field path Kubernetes uses for one annotation: `metadata.annotations[<key>]`."""
    return f"metadata.annotations[{key}]"


def is_snippet(key: str) -> bool:
    """`configuration-snippet`, `server-snippet`, `stream-snippet`, `auth-snippet`, … anything `*-snippet`."""
    return key.startswith(PREFIX) and (key.endswith("-snippet") or key == PREFIX + "snippet")


def parse_annotations(annotations: Mapping[str, str] | None) -> tuple[ParsedAnnotations, list[Cause]]:
    """Read an Ingress's `metadata.annotations` through the table: the typed values, and one `Cause` per problem.

    Empty values count as unset, as in ingress-nginx ("we don't run validation against empty values"). An invalid
    value leaves its field at the default, so a caller that only wants the values may ignore the causes; the
    admission path (`validate.py`) refuses the Ingress instead.
    """
    parsed = ParsedAnnotations()
    causes: list[Cause] = []
    explicit: set[str] = set()
    ignored: list[str] = []
    for key in sorted(annotations or {}):
        value = (annotations or {})[key]
        if not key.startswith(PREFIX):
            continue
        if is_snippet(key):
            causes.append(Cause.forbidden(annotation_field(key), f"annotation {key} is forbidden: {SNIPPET_FORBIDDEN}"))
            continue
        spec = BY_KEY.get(key)
        if spec is None:
            ignored.append(key)
            continue
        if not isinstance(value, str):
            causes.append(Cause.invalid(annotation_field(key), value, f"annotation {key} must be a string"))
            continue
        if value == "":
            continue
        try:
            typed = spec.parse(value)
        except AnnotationValueError as err:
            causes.append(Cause.invalid(annotation_field(key), value, f"annotation {key} {err}"))
            continue
        parsed = replace(parsed, **{spec.attribute: typed})
        explicit.add(spec.name)
    return replace(parsed, explicit=frozenset(explicit), ignored=tuple(ignored)), causes


def documentation() -> list[dict]:
    """The table as rows (key, scope, risk, default, text) — for a notebook's `pandas.DataFrame` or a widget."""
    return [{"annotation": a.key, "scope": a.scope.value, "risk": a.risk.name.lower(), "default": a.default,
             "documentation": a.documentation} for a in ANNOTATIONS]


# --- the controller ConfigMap ------------------------------------------------------------------------------------

def _whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value.isdigit() or not low <= int(value) <= high:
            raise AnnotationValueError(f"must be a whole number from {low} to {high}")
        return int(value)
    return parse


def parse_log_format(value: str) -> str:
    """One line of printable ASCII: render.py quotes it, and `$variables` are what a log format is made of."""
    if not value.isascii() or not value.isprintable():
        raise AnnotationValueError("must be one line of printable ASCII (nginx variables like $status are fine)")
    if len(value) > MAX_LOG_FORMAT_LENGTH:
        raise AnnotationValueError(f"may be at most {MAX_LOG_FORMAT_LENGTH} characters long (nginx reads a "
                                   "configuration value of at most 4 KiB)")
    return value


def _nginx_time(value: str) -> str:
    if not re.fullmatch(r"[0-9]{1,9}(?:ms|s|m|h|d)?", value):
        raise AnnotationValueError('must be an nginx time: digits and an optional ms, s, m, h or d (e.g. "1h")')
    return value


def parse_access_log_params(value: str) -> str:
    """ingress-nginx's `access-log-params`, appended to `access_log`: here only buffer=SIZE, flush=TIME and
    gzip[=LEVEL], space-separated (`if=` would take a variable, and nothing else is an access_log parameter)."""
    words = value.split()
    if not all(re.fullmatch(r"buffer=[0-9]{1,9}[kKmM]?|flush=[0-9]{1,9}(?:ms|s|m|h)?|gzip(?:=[1-9])?", w)
               for w in words):
        raise AnnotationValueError('may hold only buffer=SIZE, flush=TIME and gzip[=LEVEL] (e.g. "buffer=16k '
                                   'flush=1s")')
    if any(w.startswith("flush=") for w in words) and not any(w.startswith(("buffer=", "gzip")) for w in words):
        raise AnnotationValueError("flush= needs buffer= (a log without a buffer is written at once)")
    return " ".join(words)


CONFIGMAP_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {   # key → (`Settings` field, parser)
    "proxy-body-size": ("proxy_body_size", parse_size),
    "ssl-redirect": ("ssl_redirect", parse_bool),
    "server-tokens": ("server_tokens", parse_bool),
    "use-forwarded-headers": ("use_forwarded_headers", parse_bool),
    "proxy-connect-timeout": ("proxy_connect_timeout", _whole_number(1, 3600)),
    "proxy-read-timeout": ("proxy_read_timeout", _whole_number(1, 86400)),
    "proxy-send-timeout": ("proxy_send_timeout", _whole_number(1, 86400)),
    "worker-processes": ("worker_processes", _whole_number(1, 64)),
    "worker-connections": ("worker_connections", _whole_number(16, 1 << 20)),
    "upstream-keepalive-connections": ("upstream_keepalive_connections", _whole_number(0, 1 << 20)),
    "upstream-keepalive-requests": ("upstream_keepalive_requests", _whole_number(1, 1 << 30)),
    "upstream-keepalive-timeout": ("upstream_keepalive_timeout", _whole_number(1, 86400)),
    "upstream-keepalive-time": ("upstream_keepalive_time", _nginx_time),
    "access-log-params": ("access_log_params", parse_access_log_params),
    "keep-alive": ("keep_alive", _whole_number(0, 86400)),
    "log-format-upstream": ("log_format_upstream", parse_log_format),
}


def parse_settings(data: Mapping[str, str]) -> tuple[Settings, list[tuple[str, str]], list[str]]:
    """ConfigMap data over ingress-nginx's defaults: the settings, the invalid keys with why, the unknown keys.

    A bad value keeps the default rather than failing the whole configuration, as ingress-nginx does.
    """
    settings, invalid, ignored = Settings(), [], []
    for key, value in sorted(data.items()):
        spec = CONFIGMAP_KEYS.get(key)
        if spec is None:
            ignored.append(key)
            continue
        try:
            settings = replace(settings, **{spec[0]: spec[1](str(value))})
        except AnnotationValueError as err:
            invalid.append((key, str(err)))
    return settings, invalid, ignored
