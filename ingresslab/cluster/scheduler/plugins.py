"""The scheduler's filters: can this pod run on that node, and if not, why (in kube-scheduler's own words).

Each filter returns None when the node passes, else the reasons the real plugin reports, and whether preemption
could help (`Unresolvable` for reasons that no eviction fixes, as the framework's UnschedulableAndUnresolvable).
They run in the default profile's order and a node stops at its first failing filter, as in the framework:

    NodeUnschedulable   spec.unschedulable (kubectl cordon) unless the pod tolerates node.kubernetes.io/unschedulable
    TaintToleration     NoSchedule / NoExecute taints the pod does not tolerate
    NodeAffinity        spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution nodeSelectorTerms
    NodeResourcesFit    the pod's requests against the node's allocatable minus what its pods already request

Also here: `pod_requests`, what a pod asks for as the scheduler counts it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ingresslab.cluster.apimachinery.quantity import milli, parse_quantity
from ingresslab.cluster.apimachinery.scheduling import tolerates

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


@dataclass(frozen=True)
class Failure:
    reasons: tuple[str, ...]
    resolvable: bool     # could preempting lower-priority pods make room?


def node_unschedulable(pod: dict, node: dict, _pods: list[dict]) -> Failure | None:
    if not (node.get("spec") or {}).get("unschedulable"):
        return None
    if tolerates((pod.get("spec") or {}).get("tolerations"), {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
        return None
    return Failure(("node(s) were unschedulable",), False)


def taint_toleration(pod: dict, node: dict, _pods: list[dict]) -> Failure | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return Failure(("node(s) had untolerated taint(s)",), False)
    return None


def _expression_matches(expr: dict, labels: dict, fields: dict) -> bool:
    key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
    source = fields if fields is not None else labels
    present = key in source
    value = source.get(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _term_matches(term: dict, node: dict) -> bool:
    """A nodeSelectorTerm: all its expressions (labels) and fields (metadata.name) must match; an empty term
    matches nothing."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = {"metadata.name": (node.get("metadata") or {}).get("name")}
    return all(_expression_matches(e, labels, None) for e in exprs) and \
        all(_expression_matches(f, {}, name) for f in fields)


def node_affinity(pod: dict, node: dict, _pods: list[dict]) -> Failure | None:
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    fail = Failure(("node(s) didn't match Pod's node affinity/selector",), False)
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return fail
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    if terms is not None and not any(_term_matches(t, node) for t in terms):
        return fail
    return None


def pod_requests(pod: dict) -> dict[str, int]:
    """What a pod asks for, as the scheduler counts it: the sum over containers, or the largest init container's
    if larger; cpu in millicores, everything else in base units. Pods always count 1 against `pods`."""
    def of(containers) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in containers or []:
            for name, value in ((c.get("resources") or {}).get("requests") or {}).items():
                try:
                    amount = milli(value) if name == "cpu" else int(parse_quantity(value))
                except ValueError:
                    continue
                total[name] = total.get(name, 0) + amount
        return total
    spec = pod.get("spec") or {}
    total = of(spec.get("containers"))
    for init in spec.get("initContainers") or []:
        for name, amount in of([init]).items():
            total[name] = max(total.get(name, 0), amount)
    total["pods"] = 1
    return total


def allocatable(node: dict) -> dict[str, int]:
    out = {}
    for name, value in ((node.get("status") or {}).get("allocatable") or {}).items():
        try:
            out[name] = milli(value) if name == "cpu" else int(parse_quantity(value))
        except ValueError:
            continue
    return out


def node_resources_fit(pod: dict, node: dict, pods: list[dict]) -> Failure | None:
    """`pods` are the node's pods that are not finished. Reasons come in the plugin's order: pods, cpu, memory,
    ephemeral-storage, then extended resources by name."""
    wanted = pod_requests(pod)
    used: dict[str, int] = {}
    for other in pods:
        for name, amount in pod_requests(other).items():
            used[name] = used.get(name, 0) + amount
    have = allocatable(node)
    reasons = []
    if used.get("pods", 0) + 1 > have.get("pods", 110):
        reasons.append("Too many pods")
    for name in ("cpu", "memory", "ephemeral-storage", *sorted(set(wanted) - {"pods", "cpu", "memory",
                                                                              "ephemeral-storage"})):
        if wanted.get(name, 0) and used.get(name, 0) + wanted[name] > have.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Failure(tuple(reasons), True) if reasons else None


FILTERS = (node_unschedulable, taint_toleration, node_affinity, node_resources_fit)


def run_filters(pod: dict, node: dict, pods: list[dict]) -> Failure | None:
    for check in FILTERS:
        failure = check(pod, node, pods)
        if failure is not None:
            return failure
    return None


def unschedulable_message(failures: list[Failure], total: int) -> str:
    """`0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable. no new claims to deallocate,
    preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not
    helpful for scheduling.` — reasons counted over nodes and sorted, as FitError.Error() writes them (with the
    DynamicResources plugin's PostFilter sentence of 1.34+)."""
    if total == 0:
        return "no nodes available to schedule pods"
    counts: dict[str, int] = {}
    for failure in failures:
        for reason in failure.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    reasons = ", ".join(f"{n} {r}" for r, n in sorted(counts.items()))
    preempt: dict[str, int] = {}
    for failure in failures:
        why = "No preemption victims found for incoming pod" if failure.resolvable else \
            "Preemption is not helpful for scheduling"
        preempt[why] = preempt.get(why, 0) + 1
    victims = ", ".join(f"{n} {r}" for r, n in sorted(preempt.items()))
    return (f"0/{total} nodes are available: {reasons}. no new claims to deallocate, preemption: "
            f"0/{total} nodes are available: {victims}.")
