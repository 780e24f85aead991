"""Defaulting: fill in what a real API server fills in before it validates and stores an object.

The HTTP layer (`api.py`) calls `apply_defaults` on every create, update and patch result, then `validation.validate`,
then hands the object to the store; `tables.py` later prints what was stored. Values follow kubernetes
`pkg/apis/*/v1/defaults.go` (and, where marked, the strategy or an admission plugin that runs on the same write path).
Not here: values owned by allocators and controllers (clusterIP(s), nodePorts, status) and Ingress, which another
module owns.
"""
from __future__ import annotations

import base64
import copy
from typing import Callable

DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30
EXTERNALLY_ACCESSIBLE = ("NodePort", "LoadBalancer")


def apply_defaults(resource_key: str, obj: dict) -> dict:
    """A defaulted copy of `obj`; `obj` itself is left untouched. Unknown kinds come back as a plain copy."""
    out = copy.deepcopy(obj)
    fill = _DEFAULTERS.get(resource_key)
    if fill is not None:
        fill(out)
    return out


def _sub(parent: dict, key: str) -> dict:
    """`parent[key]` as a dict, created when missing or null."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    return parent[key]


# --- Service --------------------------------------------------------------------------------------------------------

def _service(svc: dict) -> None:
    spec = _sub(svc, "spec")
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = _sub(_sub(spec, "sessionAffinityConfig"), "clientIP")
        client_ip.setdefault("timeoutSeconds", 10800)
    for port in spec.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    svc_type = spec["type"]
    if (svc_type in EXTERNALLY_ACCESSIBLE or (svc_type == "ClusterIP" and spec.get("externalIPs"))) \
            and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if svc_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
        # A real server sets the IP family fields while allocating the cluster IP; this cluster is IPv4-only.
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if svc_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


# --- Pods and pod templates -----------------------------------------------------------------------------------------

def image_pull_policy(image: str) -> str:
    """`Always` for `:latest` or an untagged image without digest, else `IfNotPresent` (as parsers.ParseImageName)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _probe(probe) -> None:
    if not isinstance(probe, dict):
        return
    for field, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                         ("failureThreshold", 3)):
        if not probe.get(field):
            probe[field] = value
    http_get = probe.get("httpGet")
    if isinstance(http_get, dict):
        http_get["path"] = http_get.get("path") or "/"
        http_get["scheme"] = http_get.get("scheme") or "HTTP"


def _container(c: dict) -> None:
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = image_pull_policy(c.get("image") or "")
    if not c.get("terminationMessagePath"):
        c["terminationMessagePath"] = "/dev/termination-log"
    if not c.get("terminationMessagePolicy"):
        c["terminationMessagePolicy"] = "File"
    if c.get("resources") is None:
        c["resources"] = {}        # a struct in Go, so always written, if only as `resources: {}`
    for port in c.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in c.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))


def _pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and the container, probe and volume defaults beneath it: shared by Pods and templates."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(c, dict):
            _container(c)
    for volume in spec.get("volumes") or []:
        if set(volume) <= {"name"}:   # a volume with no source is an emptyDir
            volume["emptyDir"] = {}
        for source in ("configMap", "secret", "downwardAPI", "projected"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)   # 0644


def _template(workload: dict) -> None:
    template = _sub(_sub(workload, "spec"), "template")
    _pod_spec(_sub(template, "spec"))


def _pod(pod: dict) -> None:
    spec = _sub(pod, "spec")
    _pod_spec(spec)
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = c.get("resources") if isinstance(c, dict) else None
        if isinstance(resources, dict) and resources.get("limits"):   # requests default to limits, Pods only
            requests = _sub(resources, "requests")
            for name, value in resources["limits"].items():
                requests.setdefault(name, value)
    spec.setdefault("enableServiceLinks", True)
    # Admission plugins on every real API server: Priority, then DefaultTolerationSeconds.
    if "priorityClassName" not in spec:
        spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec["tolerations"] = spec.get("tolerations") or []
    for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") in (taint, None, "") and t.get("effect") in ("NoExecute", None, "")
                   for t in tolerations):
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})


# --- apps -----------------------------------------------------------------------------------------------------------

def _deployment(deploy: dict) -> None:
    spec = _sub(deploy, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _sub(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _template(deploy)


def _replicaset(rs: dict) -> None:
    spec = _sub(rs, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _template(rs)


# --- the rest -------------------------------------------------------------------------------------------------------

def _secret(secret: dict) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"
    # Not defaulting but conversion, on the same write path: stringData is merged into data (winning over it)
    # and never stored.
    string_data = secret.pop("stringData", None)
    if string_data:
        data = _sub(secret, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _namespace(ns: dict) -> None:
    name = (ns.get("metadata") or {}).get("name")
    if name:
        _sub(_sub(ns, "metadata"), "labels")["kubernetes.io/metadata.name"] = name
    status = _sub(ns, "status")
    if not status.get("phase"):
        status["phase"] = "Active"
    # As the API server's namespace strategy: the namespace controller must empty it before it goes.
    spec = _sub(ns, "spec")
    if spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]


def _endpoints(ep: dict) -> None:
    for subset in ep.get("subsets") or []:
        for port in subset.get("ports") or []:
            if not port.get("protocol"):
                port["protocol"] = "TCP"


def _endpointslice(eps: dict) -> None:
    for port in eps.get("ports") or []:
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def _ingressclass(ic: dict) -> None:
    params = (ic.get("spec") or {}).get("parameters")
    if isinstance(params, dict) and params.get("scope") is None:
        params["scope"] = "Cluster"


_DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "services": _service,
    "pods": _pod,
    "deployments.apps": _deployment,
    "replicasets.apps": _replicaset,
    "secrets": _secret,
    "namespaces": _namespace,
    "endpoints": _endpoints,
    "endpointslices.discovery.k8s.io": _endpointslice,
    "ingressclasses.networking.k8s.io": _ingressclass,
}
