"""Validation: the field errors a real API server answers a bad create, update or patch with.

The HTTP layer (`api.py`) calls `validate` after `defaults.apply_defaults` (so it expects a defaulted object, as the
real server does) and, if causes come back, raises `errors.invalid(...)`: kubectl then prints
`The Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`.
Field paths, messages and order follow kubernetes `pkg/apis/*/validation`; values shown the way Go's field.Error
prints them. Not here: Ingress (another module owns it) and node-port clashes (the allocator's job).
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from typing import Callable


from ingresslab.cluster.apimachinery.errors import Cause
from ingresslab.cluster.apimachinery.resources import by_key

NODE_PORT_RANGE = (30000, 32767)
MAX_SECRET_BYTES = 1024 * 1024
MAX_ANNOTATION_BYTES = 256 * 1024
REDACTED = "<secret contents redacted>"
IMMUTABLE = "field is immutable"
PROTOCOLS = ("SCTP", "TCP", "UDP")

# --- formats (k8s.io/apimachinery/pkg/api/validate/content) ----------------------------------------------------------
_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric " \
             "character"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    eg = "".join(("" if i == 0 else " or ") + f"'{e}', " for i, e in enumerate(examples))
    return f"{msg} ({'e.g. ' + eg if eg else ''}regex used for validation is '{fmt}')"


def _too_long(value: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} bytes"] if len(value.encode()) > limit else []


def _dns(value: str, limit: int, fmt: str, msg: str, *examples: str) -> list[str]:
    return _too_long(value, limit) + ([] if re.fullmatch(fmt, value) else [_regex_error(msg, fmt, *examples)])


def dns1123_label(value: str) -> list[str]:
    if re.fullmatch(_SUBDOMAIN_FMT, value) and not re.fullmatch(_LABEL_FMT, value):
        return _too_long(value, 63) + ["must not contain dots"]
    return _dns(value, 63, _LABEL_FMT, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character", "my-name", "123-abc")


def dns1123_subdomain(value: str) -> list[str]:
    return _dns(value, 253, _SUBDOMAIN_FMT, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character", "example.com")


def dns1035_label(value: str) -> list[str]:
    return _dns(value, 63, _DNS1035_FMT, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character", "my-name", "abc-123")


def qualified_name(value: str) -> list[str]:
    """A label key (and annotation key): optional DNS-subdomain prefix and '/', then a name."""
    parts, errs = value.split("/"), []
    if len(parts) > 2:
        return ["a valid label key " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if len(parts) == 2:
        errs += ["prefix part must be non-empty"] if not parts[0] else \
            ["prefix part " + m for m in dns1123_subdomain(parts[0])]
    name = parts[-1]
    errs += ["name part must be non-empty"] if not name else ["name part " + m for m in _too_long(name, 63)]
    if not re.fullmatch(_QNAME_FMT, name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    return _dns(value, 63, f"({_QNAME_FMT})?", "a valid label must be an empty string or consist of alphanumeric "
                "characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                "MyValue", "my_value", "12345")


def config_key(value: str) -> list[str]:
    errs = _dns(value, 253, "[-._a-zA-Z0-9]+", "a valid config key must consist of alphanumeric characters, '-', "
                "'_' or '.'", "key.name", "KEY_NAME", "key-name")
    if value in (".", ".."):
        return errs + [f"must not be '{value}'"]
    return errs + (["must not start with '..'"] if value.startswith("..") else [])


def port_name(value: str) -> list[str]:
    """IANA_SVC_NAME: at most 15 of [-a-z0-9], at least one letter, no '--', no leading or trailing '-'."""
    errs = ["must be no more than 15 bytes"] if len(value) > 15 else []
    if not re.fullmatch("[-a-z0-9]+", value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value[:1] == "-" or value[-1:] == "-":
        errs.append("must not begin or end with a hyphen")
    return errs


def _port_range(port) -> list[str]:
    return [] if isinstance(port, int) and 1 <= port <= 65535 else ["must be between 1 and 65535, inclusive"]


# --- Go-printed values ----------------------------------------------------------------------------------------------

class _Go(str):
    """A value already rendered as Go's %#v would render it (maps, slices, structs)."""


def _go_map(m: dict | None) -> _Go:
    if m is None:
        return _Go("map[string]string(nil)")
    return _Go("map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(m.items()))
               + "}")


def _go_strings(items: list | None) -> _Go:
    return _Go("[]string(nil)" if items is None else "[]string{" + ", ".join(json.dumps(i) for i in items) + "}")


def _go_selector(sel: dict) -> _Go:
    exprs = sel.get("matchExpressions")
    shown = "[]v1.LabelSelectorRequirement(nil)" if exprs is None else "[]v1.LabelSelectorRequirement{" + ", ".join(
        f"v1.LabelSelectorRequirement{{Key:{json.dumps(e.get('key', ''))}, Operator:{json.dumps(e.get('operator', ''))}"
        f", Values:{_go_strings(e.get('values'))}}}" for e in exprs) + "}"
    return _Go(f"v1.LabelSelector{{MatchLabels:{_go_map(sel.get('matchLabels'))}, MatchExpressions:{shown}}}")


def _invalid(path: str, value, detail: str) -> Cause:
    if isinstance(value, _Go):
        return Cause(path, f"Invalid value: {value}: {detail}", "FieldValueInvalid")
    return Cause.invalid(path, value, detail)


def _each(path: str, value, messages: list[str]) -> list[Cause]:
    return [_invalid(path, value, m) for m in messages]


def _choice(path: str, value, allowed) -> list[Cause]:
    if not value:
        return [Cause.required(path)]
    return [] if value in allowed else [Cause.not_supported(path, value, allowed)]


# --- metadata -------------------------------------------------------------------------------------------------------

def _labels(labels: dict | None, path: str) -> list[Cause]:
    errs = []
    for key, value in sorted((labels or {}).items()):
        errs += _each(path, key, qualified_name(key)) + _each(path, value, label_value(str(value)))
    return errs


def _annotations(annotations: dict | None, path: str) -> list[Cause]:
    errs = []
    for key in sorted(annotations or {}):
        errs += _each(path, key, qualified_name(key.lower()))
    if sum(len(k) + len(str(v)) for k, v in (annotations or {}).items()) > MAX_ANNOTATION_BYTES:
        errs.append(Cause.too_long(path, MAX_ANNOTATION_BYTES))
    return errs


def _object_meta(meta: dict, namespaced: bool, name_rule: Callable[[str], list[str]]) -> list[Cause]:
    errs = []
    if meta.get("generateName"):   # a prefix: a trailing dash is masked, as apimachinery does (dropping two chars)
        prefix = meta["generateName"]
        masked = prefix[:-2] + "a" if len(prefix) > 1 and prefix.endswith("-") else prefix
        errs += _each("metadata.generateName", prefix, name_rule(masked))
    if not meta.get("name"):
        errs.append(Cause.required("metadata.name", "name or generateName is required"))
    else:
        errs += _each("metadata.name", meta["name"], name_rule(meta["name"]))
    if namespaced and not meta.get("namespace"):
        errs.append(Cause.required("metadata.namespace"))
    elif namespaced:
        errs += _each("metadata.namespace", meta["namespace"], dns1123_label(meta["namespace"]))
    elif meta.get("namespace"):
        errs.append(Cause.forbidden("metadata.namespace", "not allowed on this type"))
    return errs + _labels(meta.get("labels"), "metadata.labels") + \
        _annotations(meta.get("annotations"), "metadata.annotations")


def _meta_update(meta: dict, old_meta: dict) -> list[Cause]:
    errs = [_invalid(f"metadata.{f}", meta.get(f, ""), IMMUTABLE) for f in ("name", "namespace")
            if meta.get(f, "") != old_meta.get(f, "")]
    return errs + _labels(meta.get("labels"), "metadata.labels") + \
        _annotations(meta.get("annotations"), "metadata.annotations")


def _immutable_when_set(new: dict, old: dict, fields: tuple[str, ...]) -> list[Cause]:
    """Secrets and ConfigMaps marked `immutable: true` keep their contents, and the mark, forever."""
    if old.get("immutable") is not True:
        return []
    detail = IMMUTABLE + " when `immutable` is set"
    errs = [] if new.get("immutable") is True else [Cause.forbidden("immutable", detail)]
    return errs + [Cause.forbidden(f, detail) for f in fields if (new.get(f) or {}) != (old.get(f) or {})]


# --- label selectors ------------------------------------------------------------------------------------------------

def _selector(sel: dict, path: str) -> list[Cause]:
    errs = _labels(sel.get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        p, op, values = f"{path}.matchExpressions[{i}]", expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            errs.append(Cause.required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            errs.append(Cause.forbidden(f"{p}.values",
                                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.append(_invalid(f"{p}.operator", op, "not a valid selector operator"))
        errs += _each(f"{p}.key", expr.get("key", ""), qualified_name(expr.get("key", "")))
        for j, value in enumerate(values):
            errs += _each(f"{p}.values[{j}]", value, label_value(value))
    return errs


def selector_matches(sel: dict | None, labels: dict | None) -> bool:
    """LabelSelectorAsSelector(sel).Matches(labels): a missing selector matches nothing, an empty one everything."""
    if sel is None:
        return False
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
        return False
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


# --- pods and pod templates -----------------------------------------------------------------------------------------

def _container(c: dict, path: str) -> list[Cause]:
    errs = [Cause.required(f"{path}.name")] if not c.get("name") else \
        _each(f"{path}.name", c["name"], dns1123_label(c["name"]))
    if not c.get("image"):
        errs.append(Cause.required(f"{path}.image"))
    names: set[str] = set()
    for i, port in enumerate(c.get("ports") or []):
        p = f"{path}.ports[{i}]"
        if port.get("name"):
            msgs = port_name(port["name"])
            errs += _each(f"{p}.name", port["name"], msgs)
            if not msgs and port["name"] in names:
                errs.append(Cause.duplicate(f"{p}.name", port["name"]))
            names.add(port["name"])
        if not port.get("containerPort"):
            errs.append(Cause.required(f"{p}.containerPort"))
        else:
            errs += _each(f"{p}.containerPort", port["containerPort"], _port_range(port["containerPort"]))
        if port.get("hostPort"):
            errs += _each(f"{p}.hostPort", port["hostPort"], _port_range(port["hostPort"]))
        errs += _choice(f"{p}.protocol", port.get("protocol"), PROTOCOLS)
    return errs + _choice(f"{path}.imagePullPolicy", c.get("imagePullPolicy"), ("Always", "IfNotPresent", "Never"))


def _pod_spec(spec: dict, path: str) -> list[Cause]:
    containers, errs, seen = spec.get("containers") or [], [], set()
    if not containers:
        errs.append(Cause.required(f"{path}.containers"))
    for group in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(group) or []):
            errs += _container(c, f"{path}.{group}[{i}]")
            if c.get("name") and c["name"] in seen:
                errs.append(Cause.duplicate(f"{path}.{group}[{i}].name", c["name"]))
            seen.add(c.get("name"))
    return errs + _choice(f"{path}.restartPolicy", spec.get("restartPolicy"), ("Always", "OnFailure", "Never")) + \
        _choice(f"{path}.dnsPolicy", spec.get("dnsPolicy"), ("ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                                             "None"))


# --- Deployments and ReplicaSets ------------------------------------------------------------------------------------

def _nonnegative(spec: dict, field: str, path: str) -> list[Cause]:
    value = spec.get(field)
    return [_invalid(f"{path}.{field}", value, "must be greater than or equal to 0")] \
        if isinstance(value, int) and value < 0 else []


def _workload(obj: dict, deployment: bool) -> list[Cause]:
    spec = obj.get("spec") or {}
    errs = _nonnegative(spec, "replicas", "spec")
    if not deployment:
        errs += _nonnegative(spec, "minReadySeconds", "spec")
    sel = spec.get("selector")
    if sel is None:
        errs.append(Cause.required("spec.selector"))
    else:
        errs += _selector(sel, "spec.selector")
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            # the message says deployment for ReplicaSets too, as the real one does
            errs.append(_invalid("spec.selector", _go_selector(sel), "empty selector is invalid for deployment"))
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels")
    if (sel is None or sel.get("matchLabels") or sel.get("matchExpressions")) and not selector_matches(sel, labels):
        errs.append(_invalid("spec.template.metadata.labels", _go_map(labels),
                             "`selector` does not match template `labels`"))
    errs += _labels(labels, "spec.template.labels")   # sic: the real path skips "metadata"
    pod_spec = template.get("spec") or {}
    errs += _pod_spec(pod_spec, "spec.template.spec")
    if pod_spec.get("restartPolicy") and pod_spec["restartPolicy"] != "Always":
        errs.append(Cause.not_supported("spec.template.spec.restartPolicy", pod_spec["restartPolicy"], ["Always"]))
    if not deployment:
        return errs
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
        errs.append(Cause.forbidden("spec.strategy.rollingUpdate",
                                    "may not be specified when strategy `type` is 'Recreate'"))
    elif strategy.get("type") not in ("Recreate", "RollingUpdate"):
        errs.append(Cause.not_supported("spec.strategy", strategy.get("type", ""), ["Recreate", "RollingUpdate"]))
    for field in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        errs += _nonnegative(spec, field, "spec")
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= spec.get("minReadySeconds", 0):
        errs.append(_invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errs


def _selector_update(obj: dict, old: dict) -> list[Cause]:
    """apps/v1 selectors are immutable (the strategy adds this after the spec checks)."""
    new_sel, old_sel = (obj.get("spec") or {}).get("selector"), (old.get("spec") or {}).get("selector")
    if new_sel == old_sel:
        return []
    return [_invalid("spec.selector", _go_selector(new_sel) if new_sel is not None else None, IMMUTABLE)]


# --- Services -------------------------------------------------------------------------------------------------------

def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _cluster_ips(spec: dict) -> list[str]:
    return spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])


def _service_port(port: dict, path: str, require_name: bool, names: set) -> list[Cause]:
    errs = []
    if require_name and not port.get("name"):
        errs.append(Cause.required(f"{path}.name"))
    elif port.get("name"):
        errs += _each(f"{path}.name", port["name"], dns1123_label(port["name"]))
        if port["name"] in names:
            errs.append(Cause.duplicate(f"{path}.name", port["name"]))
        names.add(port["name"])
    errs += _each(f"{path}.port", port.get("port", 0), _port_range(port.get("port", 0)))
    errs += _choice(f"{path}.protocol", port.get("protocol"), PROTOCOLS)
    target = port.get("targetPort")
    if isinstance(target, str):
        errs += _each(f"{path}.targetPort", target, port_name(target))
    else:
        errs += _each(f"{path}.targetPort", target or 0, _port_range(target or 0))
    return errs


def _service(svc: dict, old: dict | None) -> list[Cause]:
    """On update, a field the new type forbids is let through when unchanged from `old`: a real server's strategy
    drops such leftovers before validating (`kubectl apply` of NodePort → ClusterIP keeps the stored nodePorts);
    here the Service allocator drops them after validation."""
    spec, old_spec = svc.get("spec") or {}, (old.get("spec") or {}) if old is not None else None
    svc_type, ports, errs = spec.get("type", ""), spec.get("ports") or [], []

    def leftover(field: str, value) -> bool:
        return old_spec is not None and value == old_spec.get(field)

    old_node_ports = {p.get("nodePort") for p in (old_spec or {}).get("ports") or [] if p.get("nodePort")}
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and svc_type != "ExternalName":
        errs.append(Cause.required("spec.ports"))
    if svc_type in ("LoadBalancer", "NodePort") and headless:
        errs.append(_invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {svc_type} services"))
    if svc_type == "LoadBalancer":
        errs += [_invalid(f"spec.ports[{i}]", 10250, "may not expose port 10250 externally since it is used by "
                          "kubelet") for i, p in enumerate(ports) if p.get("port") == 10250]
    if svc_type == "ExternalName":
        errs += [Cause.forbidden(f"spec.{f}", "may not be set for ExternalName services")
                 for f, value in (("clusterIPs", _cluster_ips(spec)), ("ipFamilies", spec.get("ipFamilies")),
                                  ("ipFamilyPolicy", spec.get("ipFamilyPolicy")))
                 if value and not (leftover(f, value) or (f == "clusterIPs" and old_spec is not None
                                                          and value == _cluster_ips(old_spec)))]
        cname = (spec.get("externalName") or "").removesuffix(".")
        errs += _each("spec.externalName", cname, dns1123_subdomain(cname)) if cname else \
            [Cause.required("spec.externalName")]
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _service_port(port, f"spec.ports[{i}]", len(ports) > 1, names)
    errs += _labels(spec.get("selector"), "spec.selector")
    errs += _choice("spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"))
    for i, ip in enumerate(_cluster_ips(spec)):
        if not (ip == "None" and i == 0) and not _is_ip(ip):
            errs.append(_invalid(f"spec.clusterIPs[{i}]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or "
                                                              "2001:db8::ffff)"))
    errs += [_invalid(f"spec.externalIPs[{i}]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
             for i, ip in enumerate(spec.get("externalIPs") or []) if not _is_ip(ip)]
    errs += _choice("spec.type", svc_type, ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"))
    if svc_type in ("ClusterIP", "ExternalName"):   # ExternalName: our addition, a real server ignores these ports
        errs += [Cause.forbidden(f"spec.ports[{i}].nodePort", f"may not be used when `type` is '{svc_type}'")
                 for i, p in enumerate(ports) if p.get("nodePort") and p["nodePort"] not in old_node_ports]
    seen_node_ports, seen_ports = set(), set()
    for i, p in enumerate(ports):
        if p.get("nodePort"):
            if (p.get("protocol"), p["nodePort"]) in seen_node_ports:
                errs.append(Cause.duplicate(f"spec.ports[{i}].nodePort", p["nodePort"]))
            seen_node_ports.add((p.get("protocol"), p["nodePort"]))
        if (p.get("protocol"), p.get("port")) in seen_ports:
            errs.append(Cause(f"spec.ports[{i}]", f'Duplicate value: core.ServicePort{{Name:"", Protocol:'
                              f'{json.dumps(p.get("protocol", ""))}, AppProtocol:(*string)(nil), Port:{p.get("port")},'
                              ' TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}',
                              "FieldValueDuplicate"))
        seen_ports.add((p.get("protocol"), p.get("port")))
    external = svc_type in ("NodePort", "LoadBalancer") or (svc_type == "ClusterIP" and spec.get("externalIPs"))
    if not external and spec.get("externalTrafficPolicy") and \
            not leftover("externalTrafficPolicy", spec["externalTrafficPolicy"]):
        errs.append(_invalid("spec.externalTrafficPolicy", spec["externalTrafficPolicy"],
                             "may only be set for externally-accessible services"))
    elif external:
        errs += _choice("spec.externalTrafficPolicy", spec.get("externalTrafficPolicy"), ("Cluster", "Local"))
    if svc_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        errs += _choice("spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"), ("Cluster", "Local"))
    if svc_type in ("NodePort", "LoadBalancer"):   # the allocator's range check, reported here (see module doc)
        low, high = NODE_PORT_RANGE
        errs += [_invalid(f"spec.ports[{i}].nodePort", p["nodePort"], "provided port is not in the valid range. The "
                          f"range of valid ports is {low}-{high}")
                 for i, p in enumerate(ports) if p.get("nodePort") and not low <= p["nodePort"] <= high]
    return errs


def _service_update(svc: dict, old: dict) -> list[Cause]:
    """The primary cluster IP may not change, unless ExternalName is involved. Changing either `clusterIP` or
    `clusterIPs[0]` counts (a real server first copies a changed one over the other). An empty one is not compared:
    the allocator carries the old one over, as the real registry does."""
    spec, old_spec = svc.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    old_ips = _cluster_ips(old_spec)
    changed = [ip for ip in [spec.get("clusterIP")] + (spec.get("clusterIPs") or [])[:1] if ip and old_ips
               and ip != old_ips[0]]
    return [_invalid("spec.clusterIPs[0]", _go_strings(changed[:1]), "may not change once set")] if changed else []


# --- Secrets and ConfigMaps -----------------------------------------------------------------------------------------

def _b64(value) -> tuple[bytes | None, str]:
    """Decode as Go's encoding/json decodes []byte (standard alphabet, padded; CR and LF ignored)."""
    text = str(value)
    for i, ch in enumerate(text):
        if ch not in "\r\n=" and not (ch.isascii() and (ch.isalnum() or ch in "+/")):
            return None, f"illegal base64 data at input byte {i}"
    try:
        return base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True), ""
    except (binascii.Error, ValueError):
        stripped = text.rstrip("=")
        return None, f"illegal base64 data at input byte {len(stripped) - len(stripped) % 4}"


def bytes_problem(obj: dict, field: str) -> str:
    """The decode error of the first value of a `[]byte` map (Secret `data`, ConfigMap `binaryData`) that is not
    base64, as kube-apiserver's JSON decoder reports it before anything else runs (a 400, not a 422)."""
    values = obj.get(field)
    if not isinstance(values, dict):
        return ""
    for value in values.values():
        if isinstance(value, str):
            _, problem = _b64(value)
            if problem:
                return problem
    return ""


def _data(obj: dict, field: str) -> tuple[list[Cause], dict[str, bytes]]:
    """Keys must be config keys; values base64. The real server rejects bad base64 earlier, when it decodes the
    body (400 `illegal base64 data at input byte N`); here it is reported as a field error on that key."""
    errs, decoded = [], {}
    for key, value in sorted((obj.get(field) or {}).items()):
        errs += _each(f"{field}[{key}]", key, config_key(key))
        raw, problem = _b64(value)
        if problem:
            errs.append(_invalid(f"{field}[{key}]", REDACTED, problem))
        else:
            decoded[key] = raw
    return errs, decoded


def _secret(secret: dict) -> list[Cause]:
    errs, data = _data(secret, "data")
    if sum(len(v) for v in data.values()) > MAX_SECRET_BYTES:
        errs.append(Cause.too_long("data", MAX_SECRET_BYTES))
    present = secret.get("data") or {}
    kind = secret.get("type", "")
    if kind == "kubernetes.io/tls":
        # Only the two keys must be there: the API never looks inside them (the Ingress controller does, and
        # says so in an event when a certificate is unusable).
        errs += [Cause.required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in present]
    return errs


def _secret_update(secret: dict, old: dict) -> list[Cause]:
    errs = [] if secret.get("type") == old.get("type") else [_invalid("type", secret.get("type", ""), IMMUTABLE)]
    return errs + _immutable_when_set(secret, old, ("data",))


def _configmap(cm: dict) -> list[Cause]:
    data = cm.get("data") or {}
    binary_errs, binary = _data(cm, "binaryData")
    errs = []
    for key in sorted(data):
        errs += _each(f"data[{key}]", key, config_key(key))
        if key in (cm.get("binaryData") or {}):
            errs.append(_invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
    errs += binary_errs + [_invalid(f"binaryData[{k}]", k, "duplicate of key present in data")
                           for k in sorted(cm.get("binaryData") or {}) if k in data]
    if sum(len(str(v).encode()) for v in data.values()) + sum(len(v) for v in binary.values()) > MAX_SECRET_BYTES:
        errs.append(Cause.too_long("", MAX_SECRET_BYTES))
    return errs


# --- networking and discovery ---------------------------------------------------------------------------------------

def _ingressclass(ic: dict) -> list[Cause]:
    spec = ic.get("spec") or {}
    controller, errs = spec.get("controller") or "", []
    if len(controller) > 250:
        errs.append(Cause.too_long("spec.controller", 250))
    host, _, path = controller.partition("/")
    if not controller:
        errs.append(Cause.required("spec.controller"))
    elif not host or not path:
        errs.append(_invalid("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")'))
    else:
        errs += _each("spec.controller", host, dns1123_subdomain(host))
        if not re.fullmatch(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+", path):
            errs.append(_invalid("spec.controller", path, _regex_error(
                "Invalid path", r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+")))
    return errs


def _endpointslice(eps: dict) -> list[Cause]:
    kind = eps.get("addressType", "")
    errs = _choice("addressType", kind, ("FQDN", "IPv4", "IPv6"))
    version = {"IPv4": ipaddress.IPv4Address, "IPv6": ipaddress.IPv6Address}.get(kind)
    # The real server also refuses loopback endpoints; this cluster runs its pods on 127.244.x.x, so it may not.
    for i, endpoint in enumerate(eps.get("endpoints") or []):
        addresses = endpoint.get("addresses") or []
        if not addresses:
            errs.append(Cause.required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
        for j, address in enumerate(addresses if version else []):
            try:
                version(address)
            except ValueError:
                errs.append(_invalid(f"endpoints[{i}].addresses[{j}]", address, f"must be a valid {kind} address"))
    names: set = set()
    for i, port in enumerate(eps.get("ports") or []):
        name = port.get("name") or ""
        if name:
            errs += _each(f"ports[{i}].name", name, dns1123_label(name))
        if name in names:
            errs.append(Cause.duplicate(f"ports[{i}].name", name))
        names.add(name)
        errs += _choice(f"ports[{i}].protocol", port.get("protocol"), PROTOCOLS)
    return errs


def _immutable(*fields: str) -> Callable[[dict, dict], list[Cause]]:
    def check(obj: dict, old: dict) -> list[Cause]:
        errs = []
        for dotted in fields:
            new_value, old_value = obj, old
            for part in dotted.split("."):
                new_value, old_value = (new_value or {}).get(part), (old_value or {}).get(part)
            if new_value != old_value:
                errs.append(_invalid(dotted, new_value if new_value is not None else "", IMMUTABLE))
        return errs
    return check


# --- dispatch -------------------------------------------------------------------------------------------------------

_NAME_RULES = {"namespaces": dns1123_label, "services": dns1035_label}   # everything else: DNS-1123 subdomain
_SPEC: dict[str, Callable[[dict, dict | None], list[Cause]]] = {   # (obj, old) → causes
    "pods": lambda pod, _: _pod_spec(pod.get("spec") or {}, "spec"),
    "services": _service,
    "deployments.apps": lambda d, _: _workload(d, deployment=True),
    "replicasets.apps": lambda rs, _: _workload(rs, deployment=False),
    "secrets": lambda s, _: _secret(s),
    "configmaps": lambda cm, _: _configmap(cm),
    "ingressclasses.networking.k8s.io": lambda ic, _: _ingressclass(ic),
    "endpointslices.discovery.k8s.io": lambda eps, _: _endpointslice(eps),
}
_UPDATE: dict[str, Callable[[dict, dict], list[Cause]]] = {
    "services": _service_update,
    "deployments.apps": _selector_update,
    "replicasets.apps": _selector_update,
    "secrets": _secret_update,
    "configmaps": lambda cm, old: _immutable_when_set(cm, old, ("data", "binaryData")),
    "ingressclasses.networking.k8s.io": _immutable("spec.controller"),
    "endpointslices.discovery.k8s.io": _immutable("addressType"),
}
_UPDATE_AFTER_SPEC = {"deployments.apps", "replicasets.apps", "endpointslices.discovery.k8s.io"}
_NOT_OURS = {"ingresses.networking.k8s.io", "ingresses.extensions"}


def validate(resource_key: str, obj: dict, old: dict | None) -> list[Cause]:
    """Field errors for creating `obj` (`old` None) or replacing `old` with it; empty when valid."""
    if resource_key in _NOT_OURS:   # the Ingress package validates the rest; labels and annotation keys here
        meta = obj.get("metadata") or {}
        return _labels(meta.get("labels"), "metadata.labels") + \
            _annotations(meta.get("annotations"), "metadata.annotations")
    try:
        namespaced = by_key(resource_key).namespaced
    except KeyError:
        namespaced = True
    meta = obj.get("metadata") or {}
    if old is None:
        errs = _object_meta(meta, namespaced, _NAME_RULES.get(resource_key, dns1123_subdomain))
    else:
        errs = _meta_update(meta, old.get("metadata") or {})
    update = _UPDATE.get(resource_key) if old is not None else None
    if update and resource_key not in _UPDATE_AFTER_SPEC:
        errs += update(obj, old)
    errs += _SPEC.get(resource_key, lambda *_: [])(obj, old)
    if update and resource_key in _UPDATE_AFTER_SPEC:
        errs += update(obj, old)
    return errs
