"""Admission for Ingress objects: Kubernetes' own API rules, then what ingress-nginx's webhook adds, then ours.

Three layers, in the order a real cluster applies them:
  1. `validate_ingress_api` — the rules of kubernetes `pkg/apis/networking/validation` (ValidateIngressCreate/
     Update), with apimachinery's exact messages and field paths. A real API server answers 422 with these before
     any webhook is asked.
  2. `validate_ingress_admission` — ingress-nginx's validating webhook: strict paths for Exact/Prefix
     (`strict-validate-path-type`), annotation values (`--enable-annotation-validation`), no snippets, and
     optionally the host/path overlap check against other Ingresses.
  3. Inside (2), the lab's injection rule: every string that reaches nginx.conf — ImplementationSpecific paths
     included, which Kubernetes lets through untouched — is refused when it holds a character nginx would parse.

`validate_ingress` runs (1) and, only when it passes, (2) — as the API server does. `admit_ingress` raises the
422 `ApiError` the API returns. Nothing here runs nginx: admission must not hand untrusted text to a privileged
`nginx -t` (one of the holes REFERENCE.md lists). Neighbours: `annotations.py` (the annotation table),
`ingresslab.cluster.apimachinery.errors` (the Status shape), `translate.py` (re-checks stored objects with the same function).
"""
from __future__ import annotations

import ipaddress
import re
import re._parser as parser   # the parse tree `re.compile` builds (Python 3.11+), for `catastrophic_repeat`
import warnings
from typing import Iterable

from ingresslab.cluster.apimachinery import errors
from ingresslab.cluster.apimachinery.errors import Cause

from .annotations import parse_annotations
from .ingress_objects import oldest_first

CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")   # sorted, as Kubernetes lists them

# --- apimachinery's name rules (k8s.io/apimachinery/pkg/util/validation), messages verbatim ---------------------

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_WILDCARD = r"\*\." + _SUBDOMAIN


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """apimachinery's RegexError: `msg (e.g. 'a' or 'b', regex used for validation is 'fmt')`."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(_SUBDOMAIN, value):
        errs.append(regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                                "'-' or '.', and must start and end with an alphanumeric character", _SUBDOMAIN,
                                "example.com"))
    return errs


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(_WILDCARD, value):
        errs.append(regex_error("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS "
                                "subdomain, which must consist of lower case alphanumeric characters, '-' or '.' "
                                "and end with an alphanumeric character", _WILDCARD, "*.example.com"))
    return errs


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(_LABEL, value):
        if re.fullmatch(_SUBDOMAIN, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                                    "or '-', and must start and end with an alphanumeric character", _LABEL,
                                    "my-name", "123-abc"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(_DNS1035, value):
        errs.append(regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                                "with an alphabetic character, and end with an alphanumeric character", _DNS1035,
                                "my-name", "abc-123"))
    return errs


def is_valid_port_name(port: str) -> list[str]:
    errs = []
    if len(port) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_ip(value: str) -> bool:
    """netutils.ParseIPSloppy: an IPv4 (leading zeros allowed) or IPv6 address."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", value)) and all(int(p) < 256 for p in value.split("."))


# --- layer 1: the Kubernetes API -------------------------------------------------------------------------------

def validate_ingress_api(obj: dict, old: dict | None = None) -> list[Cause]:
    """kubernetes' ValidateIngressCreate (old is None) or ValidateIngressUpdate, for networking.k8s.io/v1."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if meta.get("name"):
        causes += [Cause.invalid("metadata.name", meta["name"], m) for m in is_dns1123_subdomain(meta["name"])]
    old_spec = (old or {}).get("spec") or {}
    relaxed = _old_uses_relaxed_service_names(old_spec) if old is not None else False
    allow_bad_secret = any(_secret_name_errors(t.get("secretName") or "") for t in old_spec.get("tls") or [])
    causes += _spec(spec, relaxed_service_names=relaxed, allow_invalid_secret_name=allow_bad_secret)
    annotation = (meta.get("annotations") or {}).get(CLASS_ANNOTATION)
    class_name = spec.get("ingressClassName")
    if old is None and annotation is not None and class_name is not None and annotation != class_name:
        # Kubernetes builds this path with Child(), hence the dot: "annotations.kubernetes.io/ingress.class".
        causes.append(Cause.invalid(f"annotations.{CLASS_ANNOTATION}", annotation,
                                    "must match `ingressClassName` when both are specified"))
    return causes


def _spec(spec: dict, *, relaxed_service_names: bool, allow_invalid_secret_name: bool) -> list[Cause]:
    causes: list[Cause] = []
    rules = spec.get("rules")
    if not rules and spec.get("defaultBackend") is None:
        shown = "[]networking.IngressRule(nil)" if rules is None else "[]networking.IngressRule{}"
        causes.append(Cause("spec", f"Invalid value: {shown}: either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        causes += _backend(spec["defaultBackend"], "spec.defaultBackend", relaxed_service_names)
    for i, rule in enumerate(rules or []):
        causes += _rule(rule or {}, f"spec.rules[{i}]", relaxed_service_names)
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate((tls or {}).get("hosts") or []):
            check = is_wildcard_dns1123_subdomain if "*" in host else is_dns1123_subdomain
            causes += [Cause.invalid(f"spec.tls[{i}].hosts[{j}]", host, m) for m in check(host)]
        if not allow_invalid_secret_name:
            secret = (tls or {}).get("secretName") or ""
            causes += [Cause.invalid(f"spec.tls[{i}].secretName", secret, m) for m in _secret_name_errors(secret)]
    if spec.get("ingressClassName") is not None:
        name = spec["ingressClassName"]
        causes += [Cause.invalid("spec.ingressClassName", name, m) for m in is_dns1123_subdomain(name)]
    return causes


def _secret_name_errors(name: str) -> list[str]:
    return is_dns1123_subdomain(name) if name else []


def _rule(rule: dict, field: str, relaxed: bool) -> list[Cause]:
    causes: list[Cause] = []
    host = rule.get("host") or ""
    if not isinstance(host, str):
        return [Cause.invalid(f"{field}.host", host, "must be a string")]
    if host:
        if is_ip(host):
            causes.append(Cause.invalid(f"{field}.host", host, "must be a DNS name, not an IP address"))
        check = is_wildcard_dns1123_subdomain if "*" in host else is_dns1123_subdomain
        causes += [Cause.invalid(f"{field}.host", host, m) for m in check(host)]
    http = rule.get("http")
    if http is not None:
        paths = http.get("paths") or []
        if not paths:
            causes.append(Cause.required(f"{field}.http.paths"))
        for i, path in enumerate(paths):
            causes += _path(path or {}, f"{field}.http.paths[{i}]", relaxed)
    return causes


INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")


def _path(path: dict, field: str, relaxed: bool) -> list[Cause]:
    path_type = path.get("pathType")
    if path_type is None:
        return [Cause.required(f"{field}.pathType", "pathType must be specified")]
    value = path.get("path") or ""
    if not isinstance(value, str):
        return [Cause.invalid(f"{field}.path", value, "must be a string")]
    causes: list[Cause] = []
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            causes.append(Cause.invalid(f"{field}.path", value, "must be an absolute path"))
        for seq in INVALID_PATH_SEQUENCES if value else ():
            if seq in value:
                causes.append(Cause.invalid(f"{field}.path", value, f"must not contain '{seq}'"))
        for suffix in INVALID_PATH_SUFFIXES if value else ():
            if value.endswith(suffix):
                causes.append(Cause.invalid(f"{field}.path", value, f"cannot end with '{suffix}'"))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            causes.append(Cause.invalid(f"{field}.path", value, "must be an absolute path"))
    else:
        causes.append(Cause.not_supported(f"{field}.pathType", path_type, PATH_TYPES))
    return causes + _backend(path.get("backend") or {}, f"{field}.backend", relaxed)


def _backend(backend: dict, field: str, relaxed: bool) -> list[Cause]:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [Cause.invalid(field, "", "cannot set both resource and service backends")]
    if resource is not None:
        return _resource(resource, f"{field}.resource")
    if service is None:
        return [Cause.invalid(field, "", "resource or service backend is required")]
    causes: list[Cause] = []
    name = service.get("name") or ""
    if not name:
        causes.append(Cause.required(f"{field}.service.name"))
    else:
        check = is_dns1123_label if relaxed else is_dns1035_label
        causes += [Cause.invalid(f"{field}.service.name", name, m) for m in check(name)]
    port = service.get("port") or {}
    port_name, port_number = port.get("name") or "", port.get("number") or 0
    if port_name and port_number:
        causes.append(Cause.invalid(field, "", "cannot set both port name & port number"))
    elif port_name:
        causes += [Cause.invalid(f"{field}.service.port.name", port_name, m) for m in is_valid_port_name(port_name)]
    elif port_number:
        if not isinstance(port_number, int) or not 1 <= port_number <= 65535:
            causes.append(Cause.invalid(f"{field}.service.port.number", port_number,
                                        "must be between 1 and 65535, inclusive"))
    else:
        causes.append(Cause.required(field, "port name or number is required"))
    return causes


def _resource(resource: dict, field: str) -> list[Cause]:
    causes: list[Cause] = []
    if resource.get("apiGroup") is not None:
        group = resource["apiGroup"]
        causes += [Cause.invalid(f"{field}.apiGroup", group, m) for m in is_dns1123_subdomain(group)]
    for key in ("kind", "name"):
        value = resource.get(key) or ""
        if not value:
            causes.append(Cause.required(f"{field}.{key}"))
        elif value in (".", ".."):
            causes.append(Cause.invalid(f"{field}.{key}", value, f"may not be '{value}'"))
        else:
            causes += [Cause.invalid(f"{field}.{key}", value, f"may not contain '{c}'") for c in "/%" if c in value]
    return causes


def _old_uses_relaxed_service_names(old_spec: dict) -> bool:
    """An update may keep Service names that are DNS-1123 labels but not DNS-1035 ones, if the old object had them."""
    backends = [old_spec.get("defaultBackend") or {}]
    for rule in old_spec.get("rules") or []:
        backends += [p.get("backend") or {} for p in ((rule or {}).get("http") or {}).get("paths") or []]
    names = [(b.get("service") or {}).get("name") or "" for b in backends]
    return any(n and not is_dns1123_label(n) and is_dns1035_label(n) for n in names)


# --- layer 2: ingress-nginx's admission and the lab's injection rule --------------------------------------------

STRICT_PATH = re.compile(r"^/[A-Za-z0-9._\-/]*$")
"""ingress-nginx's `validPathType` (`(?i)^/[[:alnum:]\\.\\_\\-/]*$`) for Exact and Prefix paths."""

_INJECTION_RULES: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"[\n\r]"), "a line break, which would end the nginx directive and start a new one"),
    (re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"), "a control character, which has no place in nginx.conf"),
    (re.compile(r"[ \t]"), "whitespace, which separates nginx directive arguments"),
    (re.compile(r";"), "';', which ends an nginx directive"),
    (re.compile(r"[{}]"), "a brace, which opens or closes an nginx block"),
    (re.compile(r"[\"']"), "a quote, which would close the quoted string nginx.conf writes it in"),
    (re.compile(r"\\"), "a backslash, nginx's escape character"),
    (re.compile(r"\$"), "'$', which nginx expands as a variable (for 'end of path' in a regex write "
                        "'/foo(/.*)?' or '/foo/?(.*)' instead of '/foo(/|$)(.*)')"),
    (re.compile(r"#"), "'#', which starts an nginx comment"),
    (re.compile(r"[^\x00-\x7f]"), "a non-ASCII character, which can imitate another letter (a look-alike); "
                                  "percent-encode it instead"),
)


def nginx_unsafe(value: str) -> str | None:
    """Which injection rule `value` breaks, in words, or None when it is safe to write into nginx.conf."""
    for pattern, reason in _INJECTION_RULES:
        found = pattern.search(value)
        if found:
            return f"contains {reason} (found at position {found.start()})"
    return None


def validate_ingress_admission(obj: dict, *, others: Iterable[dict] = ()) -> list[Cause]:
    """ingress-nginx's validating webhook, strictest settings, plus the lab's injection rule.

    `others` (optional) are the Ingresses of this controller's class already stored: a rule whose host, path and
    pathType an older one already serves is refused, as ingress-nginx's `checkOverlap` does ("host … and path …
    is already defined"). Without `others`, translate.py still resolves such conflicts (oldest wins, with an event).
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    _, annotation_causes = parse_annotations(meta.get("annotations") or {})
    causes += annotation_causes
    for i, rule in enumerate(spec.get("rules") or []):
        rule = rule or {}
        causes += _unsafe(f"spec.rules[{i}].host", rule.get("host") or "")
        for j, path in enumerate(((rule.get("http") or {}).get("paths")) or []):
            causes += _admit_path(path or {}, f"spec.rules[{i}].http.paths[{j}]")
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate((tls or {}).get("hosts") or []):
            causes += _unsafe(f"spec.tls[{i}].hosts[{j}]", host)
        causes += _unsafe(f"spec.tls[{i}].secretName", (tls or {}).get("secretName") or "")
    causes += _overlaps(obj, list(others))
    return causes


MAX_PATH_LENGTH = 1024
"""nginx reads each configuration token into a 4 KiB buffer ("too long parameter"), and a path may be written at three
times its length (an Exact path as an escaped regex); longer paths would make `nginx -t` refuse every config."""

_INLINE_FLAGS = re.compile(r"\(\?([A-Za-z-]*)[:)]")
_POSIX_CLASSES = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space",
                  "upper", "word", "xdigit"}


def pcre_dialect_problem(value: str) -> str | None:
    """What Python's `re` accepts but nginx's PCRE refuses, in words (admission compiles with `re`; nginx with PCRE).

    Inline flags other than i, m, s, x (Python's `a`, `u`, `L`), and POSIX classes `[:name:]` that PCRE does not know
    or that stand outside a bracket expression (Python reads both as plain sets, PCRE fails the whole file).
    """
    for match in _INLINE_FLAGS.finditer(value):
        odd = sorted(set(match.group(1)) - set("imsx-"))
        if odd:
            return f"inline flag {', '.join(odd)} in '{match.group(0)}' is not understood by PCRE (use i, m, s or x)"
    i, in_class = 0, False
    while i < len(value):
        posix = re.match(r"\[([:.=])\^?([A-Za-z]*)\1\]", value[i:])
        if posix and not in_class and posix.group(1) == ":":
            return f"the POSIX class '{posix.group(0)}' is valid only inside brackets ('[{posix.group(0)}]')"
        if posix and in_class:
            if posix.group(1) != ":" or posix.group(2) not in _POSIX_CLASSES:
                return f"'{posix.group(0)}' is not a POSIX class PCRE knows"
            i += posix.end()
            continue
        if not in_class and value[i] == "[":
            in_class = True
            i += 1 + value.startswith("^", i + 1)
            i += value.startswith("]", i)   # a ] right after [ or [^ is a literal
            continue
        if in_class and value[i] == "]":
            in_class = False
        i += 1
    return "a bracket expression is not closed the way PCRE reads it" if in_class else None


MAX_NESTED_REPEAT = 1000
"""A repeat inside a repeat may match at most this many times over (`(a{1,10}){1,10}` = 100 is fine)."""


def catastrophic_repeat(value: str) -> str | None:
    """A quantifier nested in another (`(a+)+`, `(a*)*b`, `(.+/)*x`), in words, or None.

    Such patterns make a backtracking matcher try exponentially many ways to split a path before it fails: one
    `use-regex` Ingress with `/(a+)+b` pushed every other host's p90 to 1.2 s on the lab's nginx. Refused at
    admission, like any other pattern nginx would choke on; PCRE JIT (`pcre_jit on;` in nginx.conf) softens the
    rest. Parsed with Python's own regex parser (the value already compiled with `re`)."""
    repeats = (parser.MAX_REPEAT, parser.MIN_REPEAT, parser.POSSESSIVE_REPEAT)

    def times(high) -> float:
        return float("inf") if high == parser.MAXREPEAT else high

    def walk(items, outer: float) -> str | None:
        for op, arg in items:
            if op in repeats:
                low, high, body = arg
                if outer > 1 and times(high) > 1 and outer * times(high) > MAX_NESTED_REPEAT:
                    return "a quantifier inside a quantified group (like '(a+)+'), which can make matching take " \
                           "exponential time and slow every host on this nginx; quantify once, e.g. 'a+' for '(a+)+'"
                found = walk(body, outer * times(high) if times(high) > 1 else outer)
            elif op == parser.SUBPATTERN:
                found = walk(arg[3], outer)
            elif op == parser.BRANCH:
                found = next(filter(None, (walk(branch, outer) for branch in arg[1])), None)
            elif op in (parser.ASSERT, parser.ASSERT_NOT):
                found = walk(arg[1], outer)
            else:
                found = None
            if found:
                return found
        return None

    try:
        with warnings.catch_warnings():   # "possible nested set" for a POSIX class, as in `_admit_path`
            warnings.simplefilter("ignore")
            tree = parser.parse(value)
        return walk(tree, 1)
    except (re.error, RecursionError):
        return None


def _admit_path(path: dict, field: str) -> list[Cause]:
    value = path.get("path") or ""
    unsafe = _unsafe(f"{field}.path", value)
    if unsafe:
        return unsafe
    if len(value) > MAX_PATH_LENGTH:
        return [Cause(f"{field}.path", f"Too long: may not be more than {MAX_PATH_LENGTH} characters (nginx reads a "
                                       "configuration value of at most 4 KiB)", "FieldValueTooLong")]
    path_type = path.get("pathType")
    if path_type in ("Exact", "Prefix") and not STRICT_PATH.fullmatch(value):
        return [Cause.invalid(f"{field}.path", value,
                              f"path {value} cannot be used with pathType {path_type} (ingress-nginx "
                              "strict-validate-path-type: Exact and Prefix paths may contain only letters, digits, "
                              "'.', '_', '-' and '/'; use ImplementationSpecific for a regular expression)")]
    if path_type == "ImplementationSpecific" and value:
        try:
            with warnings.catch_warnings():   # e.g. "possible nested set" for a POSIX class: valid PCRE, not an error
                warnings.simplefilter("ignore")
                re.compile(value)
        except re.error as err:
            return [Cause.invalid(f"{field}.path", value, f"is not a valid regular expression: {err}")]
        dialect = pcre_dialect_problem(value) or catastrophic_repeat(value)
        if dialect:
            return [Cause.invalid(f"{field}.path", value, f"is not a valid regular expression for nginx: {dialect}")]
    return []


def _unsafe(field: str, value: str) -> list[Cause]:
    reason = nginx_unsafe(value) if isinstance(value, str) else None
    return [Cause.invalid(field, value, f"refused by the lab's nginx.conf injection rule: {reason}")] if reason else []


def _overlaps(obj: dict, others: list[dict]) -> list[Cause]:
    meta = obj.get("metadata") or {}
    me = (meta.get("namespace") or "default", meta.get("name"))
    if meta.get("creationTimestamp"):     # an update: only Ingresses older than this one keep their paths
        ordered = oldest_first([*others, obj])
        others = ordered[:next(i for i, o in enumerate(ordered) if o is obj)]
    taken: dict[tuple[str, str, str], str] = {}
    for other in others:
        om = other.get("metadata") or {}
        key = (om.get("namespace") or "default", om.get("name"))
        if key == me:
            continue
        for rule in (other.get("spec") or {}).get("rules") or []:
            for p in ((rule or {}).get("http") or {}).get("paths") or []:
                if (p.get("backend") or {}).get("service"):
                    taken.setdefault((rule.get("host") or "_", p.get("path") or "/", p.get("pathType") or ""),
                                     f"{key[0]}/{key[1]}")
    causes: list[Cause] = []
    for i, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
        for j, p in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
            host, path = (rule.get("host") or "_"), (p.get("path") or "/")
            owner = taken.get((host, path, p.get("pathType") or ""))
            if owner and (p.get("backend") or {}).get("service"):
                causes.append(Cause.invalid(f"spec.rules[{i}].http.paths[{j}].path", p.get("path") or "",
                                            f'host "{host}" and path "{path}" is already defined in ingress {owner}'))
    return causes


# --- the entry points --------------------------------------------------------------------------------------------

def validate_ingress(obj: dict, old: dict | None = None, *, others: Iterable[dict] = ()) -> list[Cause]:
    """Everything that stands between a manifest and nginx.conf; empty list means admitted.

    Like a real cluster, the controller's checks only run on an object the API itself accepts, so a learner sees
    Kubernetes' messages first and ingress-nginx's once those are fixed.
    """
    causes = validate_ingress_api(obj, old)
    return causes or validate_ingress_admission(obj, others=others)


def admit_ingress(obj: dict, old: dict | None = None, *, others: Iterable[dict] = ()) -> None:
    """Raise the API's 422 Invalid (`Ingress.networking.k8s.io "name" is invalid: …`) when the Ingress is refused."""
    causes = validate_ingress(obj, old, others=others)
    if causes:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise errors.invalid("Ingress", name, causes, group="networking.k8s.io")
