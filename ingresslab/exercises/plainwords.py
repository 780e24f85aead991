"""Kubernetes' validation messages, said in a learner's words.

`explain_causes(ingress)` runs the API's own admission (`ingress.validate.validate_ingress`, which answers with
the exact `Cause(field, message)` list a real API server's 422 carries) and turns each cause into a `Finding`:
the text names the place in the learner's terms ("the rule for host `1.2.3.4`"), says the rule and, where a
common misconception explains the mistake, names it — without writing the answer. The API's own message is
kept as the finding's small print, so learners also meet what kubectl would print.

`shape_problems(ingress)` catches what validation code cannot even walk (a list where a mapping belongs, a
bare `port: 80`): those come from YAML indentation, and deserve their own words.

Every sentence is the learner's language (`ingresslab.i18n`); the API's own message, the small print, stays English,
as kubectl prints it.

Neighbours: `answers.py` (reads the answer first), `routing.py` and `ingresslab.widgets` (show these findings).
"""
from __future__ import annotations

import json
import re

from ingresslab.i18n import _
from ingresslab.ingress.validate import PATH_TYPES, validate_ingress

from .outcome import Finding

_INDEX = re.compile(r"spec\.rules\[(\d+)\](?:\.http\.paths\[(\d+)\])?")


def _value(message: str) -> str:
    """`Invalid value: "1.2.3.4": must be …` → `1.2.3.4`."""
    found = re.match(r'(?:Invalid|Unsupported) value: "((?:[^"\\]|\\.)*)"', message)
    if found:
        return found.group(1)
    found = re.match(r"(?:Invalid|Unsupported) value: ([^:]+):", message)
    return found.group(1) if found else ""


def where(field: str, ingress: dict) -> str:
    """`spec.rules[1].http.paths[0].pathType` → "the rule for host `forums.mysite.com`, path `/`"."""
    spec = ingress.get("spec") if isinstance(ingress.get("spec"), dict) else {}
    found = _INDEX.match(field)
    if found:
        i = int(found.group(1))
        rules = spec.get("rules") or []
        rule = rules[i] if i < len(rules) and isinstance(rules[i], dict) else {}
        host = rule.get("host")
        if found.group(2) is None:
            return (_("the rule for host `{host}`").format(host=host) if host else
                    _("rule {number} (it has no host)").format(number=i + 1))
        j = int(found.group(2))
        paths = ((rule.get("http") or {}).get("paths") or []) if isinstance(rule.get("http"), dict) else []
        path = paths[j] if j < len(paths) and isinstance(paths[j], dict) else {}
        words = dict(host=host, number=i + 1, path=path.get("path"), entry=j + 1)
        if host:
            text = (_("the rule for host `{host}`, path `{path}`") if path.get("path") else
                    _("the rule for host `{host}`, path entry {entry}"))
        else:
            text = (_("rule {number} (it has no host), path `{path}`") if path.get("path") else
                    _("rule {number} (it has no host), path entry {entry}"))
        return text.format(**words)
    if field.startswith("spec.defaultBackend"):
        return _("the `defaultBackend`")
    if field.startswith("spec.tls"):
        return _("the `tls` section")
    if field.startswith("metadata.name"):
        return _("the Ingress's name")
    return f"`{field}`"


def _host_words(value: str) -> str:
    """Why a host is refused; a whole clause, said after "the host `…` is refused —"."""
    if "://" in value:
        return _("write the host without a scheme: `{name}` is the name").format(
            name=value.split("://", 1)[1].split("/")[0])
    if "/" in value:
        return _("a host has no path in it; paths go in the rule's `http.paths`")
    if ":" in value:
        return _("a host is written without a port (the Ingress controller owns the ports)")
    if value != value.lower():
        return _("host names are written in lower case")
    if "*" in value:
        return _("a wildcard `*` may only be the whole first label, as in `*.example.com`")
    if "_" in value:
        return _("`_` is not allowed in a DNS name (use `-`)")
    return _("it is not a valid DNS name (lower-case letters, digits, `-` and `.`; starting and ending with a "
             "letter or digit)")


def _backend_of(field: str, ingress: dict) -> dict:
    spec = ingress.get("spec") or {}
    if field.startswith("spec.defaultBackend"):
        return spec.get("defaultBackend") or {}
    found = _INDEX.match(field)
    if found and found.group(2) is not None:
        try:
            rule = spec["rules"][int(found.group(1))]
            return rule["http"]["paths"][int(found.group(2))].get("backend") or {}
        except (KeyError, IndexError, TypeError, AttributeError):
            return {}
    return {}


def plain(field: str, message: str, ingress: dict) -> str:
    """One cause in plain words."""
    at, value = where(field, ingress), _value(message)

    def say(text: str, **more) -> str:
        return text.format(at=at, value=value, **more)

    if field.endswith(".host") or ".hosts[" in field:
        if "not an IP address" in message:
            return say(_("{at}: the host may not be an IP address (`{value}`). An Ingress routes by the name the "
                         "client puts in the Host header, so a rule's host must be a DNS name"))
        if "injection rule" in message:
            return say(_("{at}: the host `{value}` holds a character that has no place in a host name"))
        return say(_("{at}: the host `{value}` is refused — {why}"), why=_host_words(value))
    if field.endswith(".pathType"):
        if message.startswith("Required"):
            return say(_("{at}: `pathType` is required in networking.k8s.io/v1 — choose `Prefix`, `Exact` or "
                         "`ImplementationSpecific` (the old extensions/v1beta1 form had no pathType)"))
        proper = next((t for t in PATH_TYPES if t.lower() == value.lower()), None)
        if proper:
            return say(_("{at}: pathType `{value}` must be written exactly `{proper}` (it is case-sensitive)"),
                       proper=proper)
        return say(_("{at}: `{value}` is not a pathType — choose `Prefix`, `Exact` or `ImplementationSpecific`"))
    if field.endswith(".path"):
        if "absolute path" in message:
            return say(_("{at}: the path `{value}` must start with `/`"))
        if "strict-validate-path-type" in message:
            return say(_("{at}: an `Exact` or `Prefix` path may hold only letters, digits, `.`, `_`, `-` and `/` — "
                         "a regular expression needs `ImplementationSpecific` (and the `use-regex` annotation)"))
        if "injection rule" in message:
            return say(_("{at}: the path holds a character nginx would read as configuration, so it is refused"))
        found = re.search(r"(must not contain|cannot end with) '([^']+)'", message)
        if found:
            text = (_("{at}: a path must not contain `{part}`") if found.group(1) == "must not contain" else
                    _("{at}: a path cannot end with `{part}`"))
            return say(text, part=found.group(2))
        return say(_("{at}: the path is refused ({message})"), message=message)
    if "resource or service backend is required" in message:
        backend = _backend_of(field, ingress)
        if "serviceName" in backend or "servicePort" in backend:
            return say(_("{at}: `serviceName` and `servicePort` are the old extensions/v1beta1 fields; "
                         "networking.k8s.io/v1 writes `service:` with a `name:` and a `port:` under it"))
        return say(_("{at}: the backend needs a `service:` with a `name:` and a `port:`"))
    if field.endswith(".service.name"):
        if message.startswith("Required"):
            return say(_("{at}: the backend's `service` needs a `name`"))
        return say(_("{at}: `{value}` cannot be a Service name (lower-case letters, digits and `-`, starting with a "
                     "letter)"))
    if "port name or number is required" in message:
        return say(_("{at}: the backend's `service` needs a `port`, either `number: …` or `name: …`"))
    if "port name & port number" in message:
        return say(_("{at}: give the Service port by `number` or by `name`, not both"))
    if field.endswith(".port.number"):
        return say(_("{at}: `{value}` is not a port number (1 to 65535)"))
    if field.endswith(".port.name"):
        if value.isdigit():
            return say(_("{at}: `{value}` was given as a port *name*; a number goes under `number:`"))
        return say(_("{at}: `{value}` cannot be a port name (lower-case letters, digits and `-`, with one letter at "
                     "least)"))
    if field == "spec" and "either `defaultBackend` or `rules`" in message:
        return _("the Ingress has neither `rules` nor a `defaultBackend`: there is nothing to route")
    if field.endswith(".http.paths"):
        return say(_("{at} has `http:` but no `paths:` under it"))
    if field.startswith("metadata.name"):
        return say(_("the name `{value}` is not a valid object name (lower-case letters, digits, `-` and `.`)"))
    if field.startswith("spec.tls") and field.endswith("secretName"):
        return say(_("the TLS secret name `{value}` is not a valid object name"))
    if field == "spec.ingressClassName":
        return say(_("`{value}` is not a valid IngressClass name"))
    return say(_("{at}: {message}"), message=message)


def shape_problems(ingress: dict) -> list[Finding]:
    """Structure the validators cannot walk: each is an indentation or list/mapping mix-up in the YAML."""
    out: list[Finding] = []
    spec = ingress.get("spec")
    if spec is None:
        return [Finding(_("the Ingress has no `spec:` (its `rules:` go under `spec:`)"))]
    if not isinstance(spec, dict):
        return [Finding(_("`spec:` should hold a mapping (`rules:`, `tls:`, …), not a list or a value"))]
    backends: list[tuple[str, object]] = []
    if spec.get("defaultBackend") is not None:
        backends.append(("spec.defaultBackend", spec["defaultBackend"]))
    rules = spec.get("rules")
    if rules is not None and not isinstance(rules, list):
        return [Finding(_("`rules:` should be a list: each rule starts with `- host: …`"))]
    for i, rule in enumerate(rules or []):
        if not isinstance(rule, dict):
            out.append(Finding(_("rule {number} should be a mapping with `host:` and `http:`").format(number=i + 1)))
            continue
        if rule.get("host") is not None and not isinstance(rule.get("host"), str):
            out.append(Finding(_("rule {number}: the host should be a string").format(number=i + 1)))
        http = rule.get("http")
        if http is None:
            continue
        paths = http.get("paths") if isinstance(http, dict) else None
        at = where(f"spec.rules[{i}]", ingress)
        if not isinstance(http, dict) or (paths is not None and not isinstance(paths, list)):
            out.append(Finding(_("{at}: `http:` should hold `paths:`, a list whose items start with "
                                 "`- path: …`").format(at=at)))
            continue
        for j, path in enumerate(paths or []):
            if not isinstance(path, dict):
                out.append(Finding(_("{at}: path entry {entry} should be a mapping (`path:`, `pathType:`, "
                                     "`backend:`)").format(at=at, entry=j + 1)))
            else:
                backends.append((f"spec.rules[{i}].http.paths[{j}]", path.get("backend")))
    for field, backend in backends:
        if backend is None:
            continue
        at = where(field, ingress)
        service = backend.get("service") if isinstance(backend, dict) else None
        if not isinstance(backend, dict) or (service is not None and not isinstance(service, dict)):
            out.append(Finding(_("{at}: `backend:` should hold `service:`, which holds `name:` and `port:`").format(
                at=at)))
        elif service is not None and service.get("port") is not None and not isinstance(service["port"], dict):
            out.append(Finding(_("{at}: `port:` holds `number: {port}` (or `name: …`), not the bare value "
                                 "`{port}`").format(at=at, port=service["port"])))
    return out


def explain_causes(ingress: dict, *, others: list[dict] | tuple = ()) -> list[Finding]:
    """Everything the API (and the controller's admission) would refuse about `ingress`, in plain words."""
    problems = shape_problems(ingress)
    if problems:
        return problems
    findings: list[Finding] = []
    seen: set[str] = set()
    for cause in validate_ingress(ingress, others=others):
        text = plain(cause.field, cause.message, ingress)
        if text not in seen:
            seen.add(text)
            findings.append(Finding(text, f"{cause.field}: {cause.message}"))
    return findings


def api_error_findings(err, ingress: dict) -> list[Finding]:
    """An `ApiException` from the API (a 422 with `details.causes`, or any Status) in plain words."""
    try:
        body = json.loads(getattr(err, "body", None) or "{}")
    except ValueError:
        body = {}
    causes = (body.get("details") or {}).get("causes") or []
    found = [Finding(plain(c.get("field", ""), c.get("message", ""), ingress), f"{c.get('field')}: {c.get('message')}")
             for c in causes]
    return found or [Finding(body.get("message") or f"{getattr(err, 'status', '')} {getattr(err, 'reason', '')}")]
