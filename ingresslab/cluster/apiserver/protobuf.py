"""Kubernetes protobuf request bodies, decoded into the JSON object the API would otherwise have received.

kubectl's typed generator commands (`kubectl create configmap|secret|namespace|deployment|service|ingress`) POST
their object as `application/vnd.kubernetes.protobuf` and have no JSON fallback (`create -f`, `run` and `expose`
send JSON). The body decoder in `api.py` calls `decode_k8s_protobuf` for that content type; the dict it gets back
then takes the same path as a JSON body (defaults, validation, store). Nothing here encodes: answers stay JSON,
which those clients' `Accept: application/vnd.kubernetes.protobuf,application/json` allows.

The wire format: the 4 bytes `k8s\\x00`, then a runtime.Unknown message {1 typeMeta {1 apiVersion, 2 kind}, 2 raw,
3 contentEncoding, 4 contentType} whose `raw` is the typed object, itself protobuf. `SCHEMA` below is a table of
facts (field number, JSON name, type) read from the public generated.proto files of k8s.io/api (core/v1, apps/v1,
networking/v1, authorization/v1, authentication/v1) and k8s.io/apimachinery (meta/v1, runtime, intstr, resource); Kubernetes never renumbers a field.

Go's JSON rules are mirrored so the result equals what `kubectl create ... -o json` prints. Go's marshaller writes
every non-pointer field, so a zero scalar on the wire is dropped (as `omitempty` drops it) unless the field is a
pointer in Go (flag `p`, e.g. `replicas: 0` survives); structs always appear (`status: {}`); an unset Time is left out;
bytes become base64; IntOrString a number or a string; Quantity its string. Fields missing from the table are
skipped by wire type. Malformed input raises ValueError, which the API answers with 400.
"""
from __future__ import annotations

import base64
import datetime
import json
from typing import Iterator, NamedTuple

__all__ = ["MAGIC", "SCHEMA", "KINDS", "decode_k8s_protobuf"]

MAGIC = b"k8s\x00"

# One message a line (indented lines continue it): `Name: <number> <jsonName> <type> [p]; ...`.
# Types: s string, i int32/int64, b bool, y bytes (base64 in JSON), Time, Quantity, IntOrString or a
# message of this table; [T] is a repeated T, {T} a map from string to T. The JSON name `-` inlines the message
# into its parent (Go's embedded structs: `name` of a ConfigMapKeySelector, `http` of an IngressRule).
# Flag `p`: a Go pointer, so a zero value on the wire is meaningful and kept.
_TABLE = """
TypeMeta: 1 apiVersion s; 2 kind s
ObjectMeta: 1 name s; 2 generateName s; 3 namespace s; 4 selfLink s; 5 uid s; 6 resourceVersion s; 7 generation i;
  8 creationTimestamp Time; 9 deletionTimestamp Time; 10 deletionGracePeriodSeconds i p; 11 labels {s};
  12 annotations {s}; 13 ownerReferences [OwnerReference]; 14 finalizers [s]
OwnerReference: 5 apiVersion s; 1 kind s; 3 name s; 4 uid s; 6 controller b p; 7 blockOwnerDeletion b p
LabelSelector: 1 matchLabels {s}; 2 matchExpressions [LabelSelectorRequirement]
LabelSelectorRequirement: 1 key s; 2 operator s; 3 values [s]

DeleteOptions: 1 gracePeriodSeconds i p; 2 preconditions Preconditions; 3 orphanDependents b p;
  4 propagationPolicy s p; 5 dryRun [s]
Preconditions: 1 uid s p; 2 resourceVersion s p
Eviction: 1 metadata ObjectMeta; 2 deleteOptions DeleteOptions

ConfigMap: 1 metadata ObjectMeta; 4 immutable b p; 2 data {s}; 3 binaryData {y}
Secret: 1 metadata ObjectMeta; 5 immutable b p; 2 data {y}; 4 stringData {s}; 3 type s
Namespace: 1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status NamespaceStatus
NamespaceSpec: 1 finalizers [s]
NamespaceStatus: 1 phase s; 2 conditions [NamespaceCondition]
NamespaceCondition: 1 type s; 2 status s; 4 lastTransitionTime Time; 5 reason s; 6 message s
Service: 1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ServiceStatus
ServiceSpec: 1 ports [ServicePort]; 2 selector {s}; 3 clusterIP s; 18 clusterIPs [s]; 4 type s; 5 externalIPs [s];
  7 sessionAffinity s; 8 loadBalancerIP s; 9 loadBalancerSourceRanges [s]; 10 externalName s;
  11 externalTrafficPolicy s; 12 healthCheckNodePort i; 13 publishNotReadyAddresses b;
  14 sessionAffinityConfig SessionAffinityConfig; 19 ipFamilies [s]; 17 ipFamilyPolicy s p;
  20 allocateLoadBalancerNodePorts b p; 21 loadBalancerClass s p; 22 internalTrafficPolicy s p
ServicePort: 1 name s; 2 protocol s; 6 appProtocol s p; 3 port i; 4 targetPort IntOrString; 5 nodePort i
SessionAffinityConfig: 1 clientIP ClientIPConfig
ClientIPConfig: 1 timeoutSeconds i p
ServiceStatus: 1 loadBalancer LoadBalancerStatus
LoadBalancerStatus: 1 ingress [LoadBalancerIngress]
LoadBalancerIngress: 1 ip s; 2 hostname s; 4 ports [PortStatus]
PortStatus: 1 port i; 2 protocol s; 3 error s p
Pod: 1 metadata ObjectMeta; 2 spec PodSpec; 3 status PodStatus
PodStatus: 1 phase s; 2 conditions [PodCondition]; 3 message s; 4 reason s; 11 nominatedNodeName s; 5 hostIP s;
  6 podIP s; 12 podIPs [PodIP]; 7 startTime Time; 9 qosClass s
PodCondition: 1 type s; 2 status s; 3 lastProbeTime Time; 4 lastTransitionTime Time; 5 reason s; 6 message s
PodIP: 1 ip s
PodTemplate: 1 metadata ObjectMeta; 2 template PodTemplateSpec
PodTemplateSpec: 1 metadata ObjectMeta; 2 spec PodSpec
PodSpec: 1 volumes [Volume]; 20 initContainers [Container]; 2 containers [Container];
  34 ephemeralContainers [EphemeralContainer]; 3 restartPolicy s; 4 terminationGracePeriodSeconds i p;
  5 activeDeadlineSeconds i p; 6 dnsPolicy s; 7 nodeSelector {s}; 8 serviceAccountName s; 9 serviceAccount s;
  21 automountServiceAccountToken b p; 10 nodeName s; 11 hostNetwork b; 12 hostPID b; 13 hostIPC b;
  27 shareProcessNamespace b p; 14 securityContext PodSecurityContext; 15 imagePullSecrets [LocalObjectReference];
  16 hostname s; 17 subdomain s; 18 affinity Affinity; 19 schedulerName s; 22 tolerations [Toleration];
  23 hostAliases [HostAlias]; 24 priorityClassName s; 25 priority i p; 26 dnsConfig PodDNSConfig;
  28 readinessGates [PodReadinessGate]; 29 runtimeClassName s p; 30 enableServiceLinks b p;
  31 preemptionPolicy s p; 32 overhead {Quantity}; 33 topologySpreadConstraints [TopologySpreadConstraint];
  35 setHostnameAsFQDN b p
Container: 1 name s; 2 image s; 3 command [s]; 4 args [s]; 5 workingDir s; 6 ports [ContainerPort];
  19 envFrom [EnvFromSource]; 7 env [EnvVar]; 8 resources ResourceRequirements; 9 volumeMounts [VolumeMount];
  21 volumeDevices [VolumeDevice]; 10 livenessProbe Probe; 11 readinessProbe Probe; 22 startupProbe Probe;
  12 lifecycle Lifecycle; 13 terminationMessagePath s; 20 terminationMessagePolicy s; 14 imagePullPolicy s;
  15 securityContext SecurityContext; 16 stdin b; 17 stdinOnce b; 18 tty b; 24 restartPolicy s p
EphemeralContainer: 1 - Container; 2 targetContainerName s
ContainerPort: 1 name s; 2 hostPort i; 3 containerPort i; 4 protocol s; 5 hostIP s
EnvVar: 1 name s; 2 value s; 3 valueFrom EnvVarSource
EnvVarSource: 1 fieldRef ObjectFieldSelector; 2 resourceFieldRef ResourceFieldSelector;
  3 configMapKeyRef ConfigMapKeySelector; 4 secretKeyRef SecretKeySelector
ObjectFieldSelector: 1 apiVersion s; 2 fieldPath s
ResourceFieldSelector: 1 containerName s; 2 resource s; 3 divisor Quantity
ConfigMapKeySelector: 1 - LocalObjectReference; 2 key s; 3 optional b p
SecretKeySelector: 1 - LocalObjectReference; 2 key s; 3 optional b p
EnvFromSource: 1 prefix s; 2 configMapRef ConfigMapEnvSource; 3 secretRef SecretEnvSource
ConfigMapEnvSource: 1 - LocalObjectReference; 2 optional b p
SecretEnvSource: 1 - LocalObjectReference; 2 optional b p
LocalObjectReference: 1 name s
TypedLocalObjectReference: 1 apiGroup s p; 2 kind s; 3 name s
ResourceRequirements: 1 limits {Quantity}; 2 requests {Quantity}
VolumeMount: 1 name s; 2 readOnly b; 3 mountPath s; 4 subPath s; 5 mountPropagation s p; 6 subPathExpr s
VolumeDevice: 1 name s; 2 devicePath s
Probe: 1 - ProbeHandler; 2 initialDelaySeconds i; 3 timeoutSeconds i; 4 periodSeconds i; 5 successThreshold i;
  6 failureThreshold i; 7 terminationGracePeriodSeconds i p
ProbeHandler: 1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction
Lifecycle: 1 postStart ProbeHandler; 2 preStop ProbeHandler
ExecAction: 1 command [s]
HTTPGetAction: 1 path s; 2 port IntOrString; 3 host s; 4 scheme s; 5 httpHeaders [HTTPHeader]
HTTPHeader: 1 name s; 2 value s
TCPSocketAction: 1 port IntOrString; 2 host s
SecurityContext: 1 capabilities Capabilities; 2 privileged b p; 3 seLinuxOptions SELinuxOptions; 4 runAsUser i p;
  8 runAsGroup i p; 5 runAsNonRoot b p; 6 readOnlyRootFilesystem b p; 7 allowPrivilegeEscalation b p;
  9 procMount s p; 11 seccompProfile SeccompProfile
PodSecurityContext: 1 seLinuxOptions SELinuxOptions; 2 runAsUser i p; 6 runAsGroup i p; 3 runAsNonRoot b p;
  4 supplementalGroups [i]; 5 fsGroup i p; 7 sysctls [Sysctl]; 9 fsGroupChangePolicy s p;
  10 seccompProfile SeccompProfile
Capabilities: 1 add [s]; 2 drop [s]
SELinuxOptions: 1 user s; 2 role s; 3 type s; 4 level s
SeccompProfile: 1 type s; 2 localhostProfile s p
Sysctl: 1 name s; 2 value s
Toleration: 1 key s; 2 operator s; 3 value s; 4 effect s; 5 tolerationSeconds i p
HostAlias: 1 ip s; 2 hostnames [s]
PodDNSConfig: 1 nameservers [s]; 2 searches [s]; 3 options [PodDNSConfigOption]
PodDNSConfigOption: 1 name s; 2 value s p
PodReadinessGate: 1 conditionType s
TopologySpreadConstraint: 1 maxSkew i; 2 topologyKey s; 3 whenUnsatisfiable s; 4 labelSelector LabelSelector
Affinity: 1 nodeAffinity NodeAffinity; 2 podAffinity PodAffinity; 3 podAntiAffinity PodAffinity
NodeAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector;
  2 preferredDuringSchedulingIgnoredDuringExecution [PreferredSchedulingTerm]
NodeSelector: 1 nodeSelectorTerms [NodeSelectorTerm]
NodeSelectorTerm: 1 matchExpressions [NodeSelectorRequirement]; 2 matchFields [NodeSelectorRequirement]
NodeSelectorRequirement: 1 key s; 2 operator s; 3 values [s]
PreferredSchedulingTerm: 1 weight i; 2 preference NodeSelectorTerm
PodAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution [PodAffinityTerm];
  2 preferredDuringSchedulingIgnoredDuringExecution [WeightedPodAffinityTerm]
PodAffinityTerm: 1 labelSelector LabelSelector; 2 namespaces [s]; 3 topologyKey s; 4 namespaceSelector LabelSelector
WeightedPodAffinityTerm: 1 weight i; 2 podAffinityTerm PodAffinityTerm
Volume: 1 name s; 2 - VolumeSource
VolumeSource: 1 hostPath HostPathVolumeSource; 2 emptyDir EmptyDirVolumeSource; 6 secret SecretVolumeSource;
  7 nfs NFSVolumeSource; 10 persistentVolumeClaim PersistentVolumeClaimVolumeSource;
  16 downwardAPI DownwardAPIVolumeSource; 19 configMap ConfigMapVolumeSource; 26 projected ProjectedVolumeSource
HostPathVolumeSource: 1 path s; 2 type s p
EmptyDirVolumeSource: 1 medium s; 2 sizeLimit Quantity
SecretVolumeSource: 1 secretName s; 2 items [KeyToPath]; 3 defaultMode i p; 4 optional b p
ConfigMapVolumeSource: 1 - LocalObjectReference; 2 items [KeyToPath]; 3 defaultMode i p; 4 optional b p
KeyToPath: 1 key s; 2 path s; 3 mode i p
NFSVolumeSource: 1 server s; 2 path s; 3 readOnly b
PersistentVolumeClaimVolumeSource: 1 claimName s; 2 readOnly b
DownwardAPIVolumeSource: 1 items [DownwardAPIVolumeFile]; 2 defaultMode i p
DownwardAPIVolumeFile: 1 path s; 2 fieldRef ObjectFieldSelector; 3 resourceFieldRef ResourceFieldSelector; 4 mode i p
ProjectedVolumeSource: 1 sources [VolumeProjection]; 2 defaultMode i p
VolumeProjection: 1 secret SecretProjection; 2 downwardAPI DownwardAPIProjection; 3 configMap ConfigMapProjection;
  4 serviceAccountToken ServiceAccountTokenProjection
SecretProjection: 1 - LocalObjectReference; 2 items [KeyToPath]; 4 optional b p
ConfigMapProjection: 1 - LocalObjectReference; 2 items [KeyToPath]; 4 optional b p
DownwardAPIProjection: 1 items [DownwardAPIVolumeFile]
ServiceAccountTokenProjection: 1 audience s; 2 expirationSeconds i p; 3 path s

Deployment: 1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status DeploymentStatus
DeploymentSpec: 1 replicas i p; 2 selector LabelSelector; 3 template PodTemplateSpec; 4 strategy DeploymentStrategy;
  5 minReadySeconds i; 6 revisionHistoryLimit i p; 7 paused b; 9 progressDeadlineSeconds i p;
  10 podReplacementPolicy s p
DeploymentStrategy: 1 type s; 2 rollingUpdate RollingUpdateDeployment
RollingUpdateDeployment: 1 maxUnavailable IntOrString; 2 maxSurge IntOrString
DeploymentStatus: 1 observedGeneration i; 2 replicas i; 3 updatedReplicas i; 7 readyReplicas i;
  4 availableReplicas i; 5 unavailableReplicas i; 9 terminatingReplicas i p; 6 conditions [DeploymentCondition];
  8 collisionCount i p
DeploymentCondition: 1 type s; 2 status s; 6 lastUpdateTime Time; 7 lastTransitionTime Time; 4 reason s; 5 message s
ReplicaSet: 1 metadata ObjectMeta; 2 spec ReplicaSetSpec; 3 status ReplicaSetStatus
ReplicaSetSpec: 1 replicas i p; 4 minReadySeconds i; 2 selector LabelSelector; 3 template PodTemplateSpec
ReplicaSetStatus: 1 replicas i; 2 fullyLabeledReplicas i; 4 readyReplicas i; 5 availableReplicas i;
  7 terminatingReplicas i p; 3 observedGeneration i; 6 conditions [ReplicaSetCondition]
ReplicaSetCondition: 1 type s; 2 status s; 3 lastTransitionTime Time; 4 reason s; 5 message s

Ingress: 1 metadata ObjectMeta; 2 spec IngressSpec; 3 status IngressStatus
IngressSpec: 4 ingressClassName s p; 1 defaultBackend IngressBackend; 2 tls [IngressTLS]; 3 rules [IngressRule]
IngressBackend: 4 service IngressServiceBackend; 3 resource TypedLocalObjectReference
IngressServiceBackend: 1 name s; 2 port ServiceBackendPort
ServiceBackendPort: 1 name s; 2 number i
IngressRule: 1 host s; 2 - IngressRuleValue
IngressRuleValue: 1 http HTTPIngressRuleValue
HTTPIngressRuleValue: 1 paths [HTTPIngressPath]
HTTPIngressPath: 1 path s; 3 pathType s p; 2 backend IngressBackend
IngressTLS: 1 hosts [s]; 2 secretName s
IngressStatus: 1 loadBalancer IngressLoadBalancerStatus
IngressLoadBalancerStatus: 1 ingress [IngressLoadBalancerIngress]
IngressLoadBalancerIngress: 1 ip s; 2 hostname s; 4 ports [IngressPortStatus]
IngressPortStatus: 1 port i; 2 protocol s; 3 error s p
IngressClass: 1 metadata ObjectMeta; 2 spec IngressClassSpec
IngressClassSpec: 1 controller s; 2 parameters IngressClassParametersReference
IngressClassParametersReference: 1 apiGroup s p; 2 kind s; 3 name s; 4 scope s p; 5 namespace s p
NetworkPolicy: 1 metadata ObjectMeta; 2 spec NetworkPolicySpec
NetworkPolicySpec: 1 podSelector LabelSelector; 2 ingress [NetworkPolicyIngressRule];
  3 egress [NetworkPolicyEgressRule]; 4 policyTypes [s]
NetworkPolicyIngressRule: 1 ports [NetworkPolicyPort]; 2 from [NetworkPolicyPeer]
NetworkPolicyEgressRule: 1 ports [NetworkPolicyPort]; 2 to [NetworkPolicyPeer]
NetworkPolicyPeer: 1 podSelector LabelSelector; 2 namespaceSelector LabelSelector; 3 ipBlock IPBlock
NetworkPolicyPort: 1 protocol s p; 2 port IntOrString; 3 endPort i p
IPBlock: 1 cidr s; 2 except [s]

ServiceAccount: 1 metadata ObjectMeta; 2 secrets [ObjectReference]; 3 imagePullSecrets [LocalObjectReference];
  4 automountServiceAccountToken b p
ObjectReference: 1 kind s; 2 namespace s; 3 name s; 4 uid s; 5 apiVersion s; 6 resourceVersion s; 7 fieldPath s
SelfSubjectAccessReview: 1 metadata ObjectMeta; 2 spec SelfSubjectAccessReviewSpec
SelfSubjectAccessReviewSpec: 1 resourceAttributes ResourceAttributes; 2 nonResourceAttributes NonResourceAttributes
ResourceAttributes: 1 namespace s; 2 verb s; 3 group s; 4 version s; 5 resource s; 6 subresource s; 7 name s
NonResourceAttributes: 1 path s; 2 verb s
SelfSubjectReview: 1 metadata ObjectMeta
"""

# The top-level kinds a body may carry, by apiVersion; each names its message in SCHEMA.
KINDS: dict[tuple[str, str], str] = {
    (api_version, kind): kind
    for api_version, kinds in {
        "v1": ("ConfigMap", "Secret", "Namespace", "Service", "Pod", "PodTemplate", "ServiceAccount", "DeleteOptions"),
        "authorization.k8s.io/v1": ("SelfSubjectAccessReview",),
        "authentication.k8s.io/v1": ("SelfSubjectReview",),
        "meta.k8s.io/v1": ("DeleteOptions",),
        "policy/v1": ("Eviction",),
        "apps/v1": ("Deployment", "ReplicaSet"),
        "networking.k8s.io/v1": ("Ingress", "IngressClass", "NetworkPolicy"),
    }.items() for kind in kinds
}


class Field(NamedTuple):
    name: str          # JSON name; "-" inlines the message into its parent
    type: str          # s i b y, a special (Time, Quantity, IntOrString) or a message of SCHEMA
    repeated: bool
    map: bool          # map<string, type>, sent as repeated entries {1 key, 2 value}
    keep_zero: bool    # a Go pointer: a zero value on the wire is kept


_SCALARS = {"s": 2, "y": 2, "i": 0, "b": 0}      # type → wire type
_SPECIALS = ("Time", "Quantity", "IntOrString")


def _parse_table(text: str) -> dict[str, dict[int, Field]]:
    schema: dict[str, dict[int, Field]] = {}
    lines: list[str] = []
    for raw in text.splitlines():
        if raw.startswith(" ") and lines:
            lines[-1] += " " + raw.strip()
        elif raw.strip():
            lines.append(raw.strip())
    for line in lines:
        message, _, body = line.partition(":")
        fields: dict[int, Field] = {}
        for entry in body.split(";"):
            number, name, type_, *flags = entry.split()
            repeated, is_map = type_.startswith("["), type_.startswith("{")
            fields[int(number)] = Field(name, type_.strip("[]{}"), repeated, is_map, "p" in flags)
        schema[message] = fields
    for message, fields in schema.items():
        for f in fields.values():
            assert f.type in _SCALARS or f.type in _SPECIALS or f.type in schema, f"{message}.{f.name}: {f.type}"
    return schema


SCHEMA = _parse_table(_TABLE)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_WIRE_NAMES = {0: "varint", 1: "64-bit", 2: "length-delimited", 5: "32-bit"}


# ----------------------------------------------------------------------------------------------------- wire level
def _varint(buf: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ValueError(f"{where}: the data ends inside a varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
        shift += 7
        if shift >= 70:
            raise ValueError(f"{where}: a varint is longer than 10 bytes")


def _scan(buf: bytes, pos: int, end: int, where: str) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) for each field in buf[pos:end]: an int, or (start, stop) for bytes."""
    while pos < end:
        key, pos = _varint(buf, pos, end, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"{where}: field number 0 is not valid")
        if wire == 0:
            value, pos = _varint(buf, pos, end, where)
        elif wire == 2:
            size, pos = _varint(buf, pos, end, where)
            if size > end - pos:
                raise ValueError(f"{where}: field {number} claims {size} bytes, only {end - pos} are left")
            value, pos = (pos, pos + size), pos + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if size > end - pos:
                raise ValueError(f"{where}: the data ends inside the {size * 8}-bit field {number}")
            value, pos = int.from_bytes(buf[pos:pos + size], "little"), pos + size
        else:
            raise ValueError(f"{where}: field {number} has wire type {wire} (groups), which Kubernetes never sends")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(buf: bytes, span: tuple[int, int], where: str) -> str:
    try:
        return buf[span[0]:span[1]].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: a string field is not valid UTF-8") from None


# ------------------------------------------------------------------------------------------------ message level
def _message(buf: bytes, span: tuple[int, int], name: str, where: str) -> dict:
    fields = SCHEMA[name]
    out: dict = {}
    for number, wire, value in _scan(buf, span[0], span[1], where):
        f = fields.get(number)
        if f is None:
            continue                                                    # unknown: skipped by its wire type
        at = f"{where}.{f.name}"
        if f.map:
            key, item = _map_entry(buf, _span(wire, value, at), f.type, at)
            out.setdefault(f.name, {})[key] = item
        elif f.repeated:
            items = out.setdefault(f.name, [])
            if wire == 2 and _SCALARS.get(f.type) == 0:                 # a packed run of varints
                pos, stop = value
                while pos < stop:
                    item, pos = _varint(buf, pos, stop, at)
                    items.append(_scalar(f.type, item))
            else:
                items.append(_value(buf, wire, value, f.type, at))
        else:
            item = _value(buf, wire, value, f.type, at)
            if item is None:
                out.pop(f.name, None)                                   # Go's zero Time: omitted
            elif f.name == "-":
                out.update(item)
            elif f.type in _SCALARS and not f.keep_zero and not item:
                out.pop(f.name, None)                                   # Go's omitempty of a zero non-pointer
            elif isinstance(item, dict) and isinstance(out.get(f.name), dict):
                out[f.name].update(item)                                # a message sent twice merges
            else:
                out[f.name] = item
    return out


def _span(wire: int, value, where: str) -> tuple[int, int]:
    if wire != 2:
        raise ValueError(f"{where}: expected a length-delimited field, got wire type {_WIRE_NAMES.get(wire, wire)}")
    return value


def _scalar(type_: str, value: int):
    return bool(value) if type_ == "b" else _signed(value)


def _value(buf: bytes, wire: int, value, type_: str, where: str):
    if _SCALARS.get(type_) == 0:
        if wire != 0:
            raise ValueError(f"{where}: expected a varint, got wire type {_WIRE_NAMES.get(wire, wire)}")
        return _scalar(type_, value)
    span = _span(wire, value, where)
    if type_ == "s":
        return _text(buf, span, where)
    if type_ == "y":
        return base64.b64encode(buf[span[0]:span[1]]).decode("ascii")
    if type_ == "Time":
        return _time(_parts(buf, span, where, {1: "i", 2: "i"}), where)
    if type_ == "Quantity":
        return _parts(buf, span, where, {1: "s"}).get(1, "0")
    if type_ == "IntOrString":                                          # {1 type: 0 int, 1 string; 2 int; 3 string}
        parts = _parts(buf, span, where, {1: "i", 2: "i", 3: "s"})
        return parts.get(3, "") if parts.get(1) == 1 else parts.get(2, 0)
    return _message(buf, span, type_, where)


def _parts(buf: bytes, span: tuple[int, int], where: str, types: dict[int, str]) -> dict[int, object]:
    """The fields of a small fixed message (map entry, Quantity, IntOrString, Time): number → value."""
    return {n: _value(buf, w, v, types[n], where) for n, w, v in _scan(buf, span[0], span[1], where) if n in types}


def _map_entry(buf: bytes, span: tuple[int, int], type_: str, where: str) -> tuple[str, object]:
    parts = _parts(buf, span, where, {1: "s", 2: type_})
    return parts.get(1, ""), parts.get(2, "0" if type_ == "Quantity" else "")


def _time(parts: dict, where: str) -> str | None:
    if not parts:
        return None                                                     # Go's zero Time
    seconds, nanos = parts.get(1, 0), parts.get(2, 0)
    if not 0 <= nanos < 1_000_000_000:
        raise ValueError(f"{where}: nanos {nanos} is out of range")
    try:
        t = _EPOCH + datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"{where}: {seconds} seconds is out of the range of a timestamp") from None
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


# ---------------------------------------------------------------------------------------------------- the entry
def decode_k8s_protobuf(body: bytes) -> dict:
    """The object of a `application/vnd.kubernetes.protobuf` body, as the JSON dict a JSON client would have sent."""
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body: it must start with the 4 bytes 'k8s\\x00'")
    type_meta: dict = {}
    raw, encoding, content_type = (len(body), len(body)), "", ""
    for number, wire, value in _scan(body, len(MAGIC), len(body), "Unknown"):
        if number == 1:
            type_meta = _message(body, _span(wire, value, "Unknown.typeMeta"), "TypeMeta", "Unknown.typeMeta")
        elif number == 2:
            raw = _span(wire, value, "Unknown.raw")
        elif number == 3:
            encoding = _value(body, wire, value, "s", "Unknown.contentEncoding")
        elif number == 4:
            content_type = _value(body, wire, value, "s", "Unknown.contentType")
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if not kind or not api_version:
        raise ValueError("the protobuf envelope names no apiVersion and kind")
    if encoding:
        raise ValueError(f"content encoding {encoding!r} of a protobuf body is not supported")
    if content_type == "application/json":
        try:
            obj = json.loads(body[raw[0]:raw[1]])
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"the JSON inside the protobuf envelope is not valid: {exc}") from None
        if not isinstance(obj, dict):
            raise ValueError("the JSON inside the protobuf envelope is not an object")
        return {"kind": kind, "apiVersion": api_version, **obj}
    if content_type not in ("", "application/vnd.kubernetes.protobuf"):
        raise ValueError(f"content type {content_type!r} inside a protobuf body is not supported")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ValueError(f"{kind} ({api_version}) cannot be sent as protobuf to this server: send it as JSON")
    return {"kind": kind, "apiVersion": api_version, **_message(body, raw, message, kind)}
