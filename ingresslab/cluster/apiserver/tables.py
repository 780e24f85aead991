"""Server-side printing: turn stored objects into the `meta.k8s.io/v1` `Table` that `kubectl get` renders.

The HTTP layer (`api.py`) calls `to_table` when a client asks for `application/json;as=Table;g=meta.k8s.io;v=v1`
(what kubectl always asks for); the store supplies the objects, already defaulted (`defaults.py`) and validated
(`validation.py`) on their way in. Columns and cell rules follow kubernetes `pkg/printers/internalversion/printers.go`;
like the real server we always print the wide cells too and let kubectl hide priority-1 columns unless `-o wide`.
Column descriptions are the opening of each field's API doc (the real server sends the whole doc; kubectl never
shows it).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
             "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
             "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
             "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
            "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
            "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
            "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")


@dataclass(frozen=True)
class Column:
    name: str
    description: str = ""
    type: str = "string"
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME = Column("Name", _NAME_DOC, format="name")
AGE = Column("Age", _AGE_DOC)
_WIDE = 1


def _cols(*spec) -> tuple[Column, ...]:
    """Columns from terse rows: NAME/AGE as is, else (name, description[, type][, priority])."""
    out = []
    for c in spec:
        if isinstance(c, Column):
            out.append(c)
        else:
            name, doc, *rest = c
            out.append(Column(name, doc, *(r for r in rest if isinstance(r, str)),
                              priority=_WIDE if _WIDE in rest else 0))
    return tuple(out)


_CONTAINERS = ("Containers", "Names of each container in the template.", _WIDE)
_IMAGES = ("Images", "Images referenced by each container in the template.", _WIDE)

# Column sets, keyed by store key; names, types and priorities as printers.go declares them.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "pods": _cols(
        NAME, ("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        ("Status", "The aggregate status of the containers in this pod."),
        ("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                     "container in this pod has restarted."),
        AGE, ("IP", "podIP address allocated to the pod. Routable at least within the cluster.", _WIDE),
        ("Node", "NodeName indicates in which node this pod is scheduled.", _WIDE),
        ("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node.", _WIDE),
        ("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", _WIDE)),
    "services": _cols(
        NAME, ("Type", "type determines how the Service is exposed. Defaults to ClusterIP."),
        ("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
        ("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
                        "traffic for this service."),
        ("Port(s)", "The list of ports that are exposed by this service."), AGE,
        ("Selector", "Route service traffic to pods with label keys and values matching this selector.", _WIDE)),
    "deployments.apps": _cols(
        NAME, ("Ready", "Number of the pod with ready state"),
        ("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the desired "
                       "template spec."),
        ("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this "
                      "deployment."),
        AGE, _CONTAINERS, _IMAGES, ("Selector", "Label selector for pods.", _WIDE)),
    "replicasets.apps": _cols(
        NAME, ("Desired", "Replicas is the number of desired replicas.", "integer"),
        ("Current", "Replicas is the most recently oberved number of replicas.", "integer"),
        ("Ready", "The number of ready replicas for this replica set.", "integer"), AGE, _CONTAINERS, _IMAGES,
        ("Selector", "Selector is a label query over pods that should match the replica count.", _WIDE)),
    "endpoints": _cols(NAME, ("Endpoints", "The set of all endpoints is the union of all subsets."), AGE),
    "endpointslices.discovery.k8s.io": _cols(
        NAME, ("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
        ("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
        ("Endpoints", "endpoints is a list of unique endpoints in this slice."), AGE),
    "ingresses.networking.k8s.io": _cols(
        NAME, ("Class", "The name of the IngressClass resource that should be used for additional configuration"),
        ("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
        ("Address", "Address is a list containing ingress points for the load-balancer"),
        ("Ports", "Ports of TLS configurations that open"), AGE),
    "ingressclasses.networking.k8s.io": _cols(
        NAME, ("Controller", "Controller that is responsible for handling this class"),
        ("Parameters", "A reference to a resource with additional parameters"), AGE),
    "secrets": _cols(NAME, ("Type", "Used to facilitate programmatic handling of secret data."),
                     ("Data", "Data contains the secret data."), AGE),
    "configmaps": _cols(NAME, ("Data", "Data contains the configuration data."), AGE),
    "serviceaccounts": _cols(NAME, ("Secrets", "Secrets is a list of the secrets in the same namespace that pods "
                                    "running using this ServiceAccount are allowed to use."), AGE),
    "leases.coordination.k8s.io": _cols(
        NAME, ("Holder", "holderIdentity contains the identity of the holder of a current lease."), AGE),
    "namespaces": _cols(NAME, ("Status", "The status of the namespace"), AGE),
    "nodes": _cols(
        NAME, ("Status", "The status of the node"), ("Roles", "The roles of the node"), AGE,
        ("Version", "Kubelet Version reported by the node."),
        ("Internal-IP", "List of addresses reachable to the node.", _WIDE),
        ("External-IP", "List of addresses reachable to the node.", _WIDE),
        ("OS-Image", "OS Image reported by the node from /etc/os-release.", _WIDE),
        ("Kernel-Version", "Kernel Version reported by the node from 'uname -r'.", _WIDE),
        ("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API.", _WIDE)),
    "events": _cols(
        ("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
        ("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        ("Reason", "This should be a short, machine understandable string that gives the reason for the "
                   "transition into the object's current status."),
        ("Object", "The object that this event is about."),
        ("Subobject", "If referring to a piece of an object instead of an entire object, this string should "
                      "contain a valid JSON/Go field access statement.", _WIDE),
        ("Source", "The component reporting this event. Should be a short machine understandable string.", _WIDE),
        ("Message", "A human-readable description of the status of this operation."),
        ("First Seen", "The time at which the event was first recorded.", _WIDE),
        ("Count", "The number of times this event has occurred.", _WIDE),
        Column("Name", _NAME_DOC, priority=_WIDE, format="name")),
}
# Kinds without a printer get what a CRD without printer columns gets: NAME, AGE.
DEFAULT_COLUMNS: tuple[Column, ...] = (NAME, AGE)
_ALIASES = {"ingresses.extensions": "ingresses.networking.k8s.io"}


def to_table(resource_key: str, objects: list[dict], *, now: datetime, include_object: str = "Metadata",
             resource_version: str = "", no_headers: bool = False) -> dict:
    """A `Table` of `objects` (a list result or a single get) as of `now`.

    `include_object` is the `includeObject` table option: "Metadata" (also for ""), "Object" or "None".
    """
    if include_object not in ("Metadata", "Object", "None", ""):
        raise ValueError("includeObject: Invalid value: %r: must be 'Metadata', 'Object', 'None', or empty"
                         % include_object)
    key = _ALIASES.get(resource_key, resource_key)
    cells_of = _CELLS.get(key, _default_cells)
    now = _aware(now)
    rows = []
    for obj in objects:
        row: dict = {"cells": cells_of(obj, now)}
        conditions = _row_conditions(key, obj)
        if conditions:
            row["conditions"] = conditions
        if include_object == "Object":
            row["object"] = copy.deepcopy(obj)
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": copy.deepcopy(obj.get("metadata") or {})}
        rows.append(row)
    table: dict = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"resourceVersion": resource_version} if resource_version else {}}
    if not no_headers:
        table["columnDefinitions"] = [c.to_dict() for c in COLUMNS.get(key, DEFAULT_COLUMNS)]
    table["rows"] = rows
    return table


# --- time -----------------------------------------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: about two significant figures, `5s`, `3m12s`, `2d3h`, `400d`."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _parse(ts) -> datetime | None:
    if not ts:
        return None
    try:
        return _aware(datetime.fromisoformat(str(ts).replace("Z", "+00:00")))
    except ValueError:
        return None


def _since(ts, now: datetime) -> str:
    t = _parse(ts)
    return "<unknown>" if t is None else human_duration((now - t).total_seconds())


def _age(obj: dict, now: datetime) -> str:
    return _since(_meta(obj).get("creationTimestamp"), now)


# --- small formatters -----------------------------------------------------------------------------------------------

def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def _status(obj: dict) -> dict:
    return obj.get("status") or {}


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: `a=1,b=2` sorted by key, `<none>` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def format_selector(selector: dict | None) -> str:
    """A LabelSelector as labels.Selector.String() prints it (`""` for nil or empty)."""
    if not selector:
        return ""
    reqs = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), sorted(set(expr.get("values") or []))
        text = {"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key)
        reqs.append((key, text))
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))


def _containers_and_images(template: dict) -> list[str]:
    containers = (template.get("spec") or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def _join_host_port(host: str, port) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _with_more(items: list[str], total: int, limit: int = 3, empty: str = "<unset>") -> str:
    text = ",".join(items[:limit])
    if total > limit:
        return f"{text} + {total - limit} more..."
    return text or empty


def _lb_ingress(status: dict) -> str:
    found = {i.get("ip") or i.get("hostname") for i in ((status.get("loadBalancer") or {}).get("ingress") or [])}
    return ",".join(sorted(a for a in found if a))


# --- per-kind cells -------------------------------------------------------------------------------------------------

def _default_cells(obj: dict, now: datetime) -> list:
    return [_meta(obj).get("name", ""), _age(obj, now)]


def _pod_cells(pod: dict, now: datetime) -> list:
    spec, status = _spec(pod), _status(pod)
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if (conds.get("PodScheduled") or {}).get("reason") == "SchedulingGated":
        reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    sidecar = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total, ready, restarts, sidecar_restarts = len(spec.get("containers") or []) + len(sidecar), 0, 0, 0
    last, sidecar_last = None, None

    def finished(cs: dict) -> datetime | None:
        return _parse(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += cs.get("restartCount", 0)
        last = max(filter(None, (last, finished(cs))), default=None)
        if cs.get("name") in sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            sidecar_last = max(filter(None, (sidecar_last, finished(cs))), default=None)
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if cs.get("name") in sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if term is not None:
            reason = "Init:" + term["reason"] if term.get("reason") else (
                f"Init:Signal:{term['signal']}" if term.get("signal") else f"Init:ExitCode:{term.get('exitCode', 0)}")
        elif wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    if not initializing or (conds.get("Initialized") or {}).get("status") == "True":
        restarts, last, has_running = sidecar_restarts, sidecar_last, False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            last = max(filter(None, (last, finished(cs))), default=None)
            state = cs.get("state") or {}
            term, wait = state.get("terminated"), state.get("waiting")
            if wait and wait.get("reason"):
                reason = wait["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if (conds.get("Ready") or {}).get("status") == "True" else "NotReady"
    if _meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last is not None:
        restarts_text = f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
    # podIPs is canonical; podIP is a fallback for controllers that only fill the singular field.
    ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        passed = sum((conds.get(g.get("conditionType")) or {}).get("status") == "True" for g in gates)
        gates_text = f"{passed}/{len(gates)}"
    return [_meta(pod).get("name", ""), f"{ready}/{total}", reason, restarts_text, _age(pod, now),
            (ips[0].get("ip") if ips else "") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_text]


def _service_external_ip(spec: dict, status: dict) -> str:
    svc_type, external = spec.get("type", ""), spec.get("externalIPs") or []
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        lb = _lb_ingress(status)
        if external:
            return ",".join(([lb] if lb else []) + external)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _service_cells(svc: dict, now: datetime) -> list:
    spec = _spec(svc)
    # clusterIPs is canonical; a lone clusterIP is accepted for objects written before it was mirrored.
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = ",".join(
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    return [_meta(svc).get("name", ""), spec.get("type", ""), cluster_ips[0] if cluster_ips else "<none>",
            _service_external_ip(spec, _status(svc)), ports or "<none>", _age(svc, now),
            format_labels(spec.get("selector"))]


def _deployment_cells(d: dict, now: datetime) -> list:
    spec, status = _spec(d), _status(d)
    return [_meta(d).get("name", ""), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(d, now),
            *_containers_and_images(spec.get("template") or {}), format_selector(spec.get("selector"))]


def _replicaset_cells(rs: dict, now: datetime) -> list:
    spec, status = _spec(rs), _status(rs)
    return [_meta(rs).get("name", ""), spec.get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(rs, now), *_containers_and_images(spec.get("template") or {}),
            format_selector(spec.get("selector")) or "<none>"]


def format_endpoints(endpoints: dict) -> str:
    """The ENDPOINTS column: `ip:port` per address and port, at most three, then `+ N more...`."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    total = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        for port in subset.get("ports") or [None]:   # a headless service without ports lists bare IPs
            total += len(addresses)
            shown += [ip if port is None else _join_host_port(ip, port.get("port")) for ip in addresses]
    text = ",".join(shown[:3])
    return f"{text} + {total - 3} more..." if total > 3 else text


def _endpointslice_cells(s: dict, now: datetime) -> list:
    ports = [str(p["port"]) if p.get("port") is not None else ("*" if p.get("name") is None else p["name"])
             for p in s.get("ports") or []]
    addresses = [a for e in s.get("endpoints") or [] for a in e.get("addresses") or []]
    return [_meta(s).get("name", ""), s.get("addressType", ""), _with_more(ports, len(ports)),
            _with_more(addresses, len(addresses)), _age(s, now)]


def _ingress_cells(ing: dict, now: datetime) -> list:
    spec, rules = _spec(ing), _spec(ing).get("rules") or []
    hosts: list[str] = []
    more = False
    for rule in rules:   # up to three hosts; "+ N more" then counts rules, with or without a host (real quirk)
        more = more or len(hosts) == 3
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    hosts_text = ",".join(hosts) or "*"
    if more:
        hosts_text = f"{hosts_text} + {len(rules) - 3} more..."
    return [_meta(ing).get("name", ""), spec.get("ingressClassName") or "<none>", hosts_text,
            _lb_ingress(_status(ing)), "80, 443" if spec.get("tls") else "80", _age(ing, now)]


def _ingressclass_cells(ic: dict, now: datetime) -> list:
    spec, params = _spec(ic), _spec(ic).get("parameters")
    text = "<none>"
    if params:
        text = params.get("kind", "") + ("." + params["apiGroup"] if params.get("apiGroup") else "")
        text += "/" + params.get("name", "")
    return [_meta(ic).get("name", ""), spec.get("controller", ""), text, _age(ic, now)]


def _node_cells(node: dict, now: datetime) -> list:
    status, labels = _status(node), _meta(node).get("labels") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = [("Ready" if ready[-1].get("status") == "True" else "NotReady") if ready else "Unknown"]
    if _spec(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = {k[len("node-role.kubernetes.io/"):] for k in labels if k.startswith("node-role.kubernetes.io/")}
    roles |= {v for k, v in labels.items() if k == "kubernetes.io/role" and v}
    roles.discard("")
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        return next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == kind), "<none>")

    return [_meta(node).get("name", ""), ",".join(states), ",".join(sorted(roles)) or "<none>", _age(node, now),
            info.get("kubeletVersion", ""), address("InternalIP"), address("ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _event_cells(ev: dict, now: datetime) -> list:
    first = _since(ev["firstTimestamp"], now) if ev.get("firstTimestamp") else _since(ev.get("eventTime"), now)
    last = _since(ev["lastTimestamp"], now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1   # singleton events of the new API carry no count
    if ev.get("series"):
        last, count = _since(ev["series"].get("lastObservedTime"), now), ev["series"].get("count", 0)
    involved, source = ev.get("involvedObject") or {}, ev.get("source") or {}
    kind = involved.get("kind", "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = source.get("component") or ev.get("reportingComponent", "")
    host = source.get("host") or ev.get("reportingInstance", "")
    return [last, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""),
            f"{component}, {host}" if host else component, (ev.get("message") or "").strip(), first, count,
            _meta(ev).get("name", "")]


_CELLS: dict[str, Callable[[dict, datetime], list]] = {
    "pods": _pod_cells, "services": _service_cells, "deployments.apps": _deployment_cells,
    "replicasets.apps": _replicaset_cells, "endpointslices.discovery.k8s.io": _endpointslice_cells,
    "ingresses.networking.k8s.io": _ingress_cells, "ingressclasses.networking.k8s.io": _ingressclass_cells,
    "nodes": _node_cells, "events": _event_cells,
    "endpoints": lambda ep, now: [_meta(ep).get("name", ""), format_endpoints(ep), _age(ep, now)],
    "secrets": lambda s, now: [_meta(s).get("name", ""), s.get("type", ""), len(s.get("data") or {}), _age(s, now)],
    "configmaps": lambda cm, now: [_meta(cm).get("name", ""),
                                   len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)],
    "namespaces": lambda ns, now: [_meta(ns).get("name", ""), _status(ns).get("phase", ""), _age(ns, now)],
    "serviceaccounts": lambda sa, now: [_meta(sa).get("name", ""), len(sa.get("secrets") or []), _age(sa, now)],
    "leases.coordination.k8s.io": lambda lease, now: [_meta(lease).get("name", ""),
                                                      _spec(lease).get("holderIdentity") or "", _age(lease, now)],
}


def _row_conditions(key: str, obj: dict) -> list[dict]:
    """Pods that ran to completion carry a `Completed` row condition, as printers.go sets it."""
    if key != "pods":
        return []
    phase = _status(obj).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []
