"""Pods as a learner meets them through the real kubectl: readiness deciding who is an endpoint, the scheduler's
answers to cordon and selectors, graceful deletion, restarts and their logs, CHANGE-CAUSE, node Leases, cluster DNS."""
from __future__ import annotations

import json
import re

import kubernetes
import pytest
from polling import eventually

from ingresslab.cluster.addons.dns import resolve
from ingresslab.cluster.node.network import bind_port

PROBED = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: probed
spec:
  replicas: 2
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed}}
    spec:
      containers:
      - name: web
        image: nginxdemos/nginx-hello:plain-text
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: probed}
spec:
  selector: {app: probed}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: probed-unready, labels: {app: probed}}
spec:
  containers:
  - name: web
    image: nginxdemos/nginx-hello:plain-text
    ports: [{containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: 9090}
      periodSeconds: 1
      failureThreshold: 1
"""


@pytest.fixture
def probed(lab, kubectl):
    kubectl("apply", "-f", "-", input=PROBED)
    yield
    kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input=PROBED)


def test_a_failing_readiness_probe_keeps_the_pod_out_of_the_endpoints(probed, kubectl):
    def rows():
        out = kubectl("get", "pods", "-l", "app=probed", "--no-headers").stdout
        return {line.split()[0]: line.split()[1:3] for line in out.splitlines()}
    eventually(lambda: sorted(v for v in rows().values()) == [["0/1", "Running"], ["1/1", "Running"],
                                                               ["1/1", "Running"]], what="two ready, one not")
    unready_ip = kubectl("get", "pod", "probed-unready", "-o", "jsonpath={.status.podIP}").stdout
    slices = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=probed", "-o",
                     "jsonpath={range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready} {end}").stdout
    assert f"{unready_ip}=false" in slices.split() and slices.count("=true") == 2
    endpoints = kubectl("get", "endpoints", "probed", "-o", "jsonpath={.subsets[0].notReadyAddresses[*].ip}").stdout
    assert endpoints == unready_ip
    assert unready_ip not in kubectl("get", "endpoints", "probed").stdout
    events = kubectl("describe", "pod", "probed-unready").stdout
    assert re.search(rf'Warning\s+Unhealthy\s+.*kubelet\s+Readiness probe failed: Get "http://{re.escape(unready_ip)}'
                     rf':9090/healthz": dial tcp {re.escape(unready_ip)}:9090: connect: connection refused', events)


def test_cordoned_nodes_leave_a_pod_pending_with_failed_scheduling_until_uncordon(lab, kubectl):
    try:
        kubectl("cordon", "node-1", "node-2")
        assert re.search(r"node-1\s+Ready,SchedulingDisabled", kubectl("get", "nodes").stdout)
        kubectl("run", "patient", "--image=nginxdemos/nginx-hello:plain-text")
        eventually(lambda: "FailedScheduling" in kubectl("describe", "pod", "patient").stdout)
        described = kubectl("describe", "pod", "patient").stdout
        assert ("0/2 nodes are available: 2 node(s) were unschedulable. no new claims to deallocate, preemption: "
                "0/2 nodes are available: 2 Preemption is not helpful for scheduling.") in described
        assert re.search(r"^patient\s+0/1\s+Pending", kubectl("get", "pod", "patient").stdout, re.M)
        assert "node.kubernetes.io/unschedulable:NoSchedule" in kubectl("describe", "node", "node-1").stdout
    finally:
        kubectl("uncordon", "node-1", "node-2")
    eventually(lambda: re.search(r"patient\s+1/1\s+Running", kubectl("get", "pod", "patient").stdout))
    assert re.search(r"Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned default/patient to node-[12]",
                     kubectl("describe", "pod", "patient").stdout)
    kubectl("delete", "pod", "patient")


def test_a_deleted_pod_is_terminating_then_gone_and_force_deletion_is_immediate(lab, kubectl):
    kubectl("run", "leaver", "--image=nginxdemos/nginx-hello:plain-text")
    kubectl("run", "forced", "--image=nginxdemos/nginx-hello:plain-text")
    eventually(lambda: kubectl("get", "pods", "leaver", "forced", "--no-headers").stdout.count("Running") == 2)
    assert "deleted" in kubectl("delete", "pod", "leaver", "--wait=false").stdout
    assert re.search(r"^leaver\s+0/1\s+Terminating", kubectl("get", "pod", "leaver").stdout, re.M)
    eventually(lambda: kubectl("get", "pod", "leaver", check=False).returncode != 0, what="leaver gone")
    forced = kubectl("delete", "pod", "forced", "--grace-period=0", "--force")
    assert "force deleted" in forced.stdout and "Immediate deletion does not wait" in forced.stderr
    assert "NotFound" in kubectl("get", "pod", "forced", check=False).stderr


def test_logs_previous_says_there_is_none_until_a_liveness_restart(lab, kubectl):
    manifest = """
apiVersion: v1
kind: Pod
metadata: {name: restarter}
spec:
  containers:
  - name: app
    image: nginxdemos/nginx-hello:plain-text
    ports: [{containerPort: 8080}]
    livenessProbe:
      httpGet: {path: /, port: 9999}
      periodSeconds: 1
      failureThreshold: 1
"""
    kubectl("apply", "-f", "-", input=manifest)
    try:
        eventually(lambda: re.search(r"restarter\s+[01]/1\s+(Running|CrashLoopBackOff)\s+[1-9]",
                                     kubectl("get", "pod", "restarter").stdout), what="a restart")
        described = kubectl("describe", "pod", "restarter").stdout
        assert re.search(r"Last State:\s+Terminated\s+Reason:\s+Completed", described)
        assert "Container app failed liveness probe, will be restarted" in described
        assert re.search(r"Warning\s+BackOff\s+.*Back-off restarting failed container app in pod restarter_default",
                         described) or "State:          Running" in described
        assert kubectl("logs", "restarter", "--previous").returncode == 0
    finally:
        kubectl("delete", "pod", "restarter", "--grace-period=0", "--force")
    kubectl("run", "fresh", "--image=nginxdemos/nginx-hello:plain-text")
    eventually(lambda: "Running" in kubectl("get", "pod", "fresh").stdout)
    err = kubectl("logs", "fresh", "--previous", check=False).stderr
    assert 'previous terminated container "fresh" in pod "fresh" not found' in err
    kubectl("delete", "pod", "fresh", "--wait=false")


def test_rollout_history_shows_the_change_cause(lab, kubectl):
    kubectl("create", "deployment", "caused", "--image=nginxdemos/nginx-hello:plain-text")
    try:
        kubectl("annotate", "deployment", "caused", "kubernetes.io/change-cause=first version")
        eventually(lambda: "first version" in kubectl("rollout", "history", "deployment/caused").stdout)
        kubectl("set", "image", "deployment/caused", "nginx-hello=nginxdemos/hello:plain-text")
        kubectl("annotate", "deployment", "caused", "--overwrite", "kubernetes.io/change-cause=hello image")
        eventually(lambda: re.search(r"1\s+first version\s+2\s+hello image",
                                     kubectl("rollout", "history", "deployment/caused").stdout))
    finally:
        kubectl("delete", "deployment", "caused")


def test_describe_node_reads_its_lease_and_the_client_lists_leases(lab, kubectl):
    described = kubectl("describe", "node", "node-1")
    assert "HolderIdentity:  node-1" in described.stdout and "error" not in described.stderr.lower()
    assert re.search(r"^node-2\s+node-2\s+", kubectl("get", "leases", "-n", "kube-node-lease").stdout, re.M)
    leases = kubernetes.client.CoordinationV1Api(lab.api).list_namespaced_lease("kube-node-lease").items
    assert sorted((l.metadata.name, l.spec.lease_duration_seconds) for l in leases) == [("node-1", 40),
                                                                                         ("node-2", 40)]


def test_cluster_dns_runs_as_coredns_pods_behind_kube_dns(lab, kubectl):
    out = kubectl("get", "svc", "kube-dns", "-n", "kube-system").stdout
    ip = re.search(r"kube-dns\s+ClusterIP\s+(127\.96\.\d+\.10)\s+<none>\s+53/UDP,53/TCP,9153/TCP", out).group(1)
    eventually(lambda: kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "--no-headers")
               .stdout.count("1/1") == 2, what="two ready CoreDNS pods")
    kubernetes_ip = kubectl("get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout
    assert resolve("kubernetes", "default", nameserver=(ip, bind_port(53))) == [kubernetes_ip]
    assert resolve("kubernetes.default.svc.cluster.local", "x", nameserver=(ip, bind_port(53)), tcp=True) == [
        kubernetes_ip]


def deployment(name: str, *, pod_spec: str = "") -> str:
    """A two-replica Deployment of the hello image, labelled app=<name>, with extra pod spec lines (flow style)."""
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 2\n"
            f"  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n"
            f"    spec:\n{pod_spec}"
            f"      containers: [{{name: web, image: \"nginxdemos/nginx-hello:plain-text\"}}]\n")


DRAINED = deployment("drainme", pod_spec="      nodeSelector: {kubernetes.io/hostname: node-2}\n"
                                         "      terminationGracePeriodSeconds: 1\n")


def test_drain_evicts_through_the_eviction_api_and_the_replacements_wait_for_uncordon(lab, kubectl):
    kubectl("apply", "-f", "-", input=DRAINED)
    try:
        eventually(lambda: kubectl("get", "pods", "-l", "app=drainme", "--no-headers").stdout.count("Running") == 2)
        before = set(kubectl("get", "pods", "-l", "app=drainme", "-o", "name").stdout.split())
        drained = kubectl("drain", "node-2", "--ignore-daemonsets", "--pod-selector", "app=drainme", "--timeout=60s")
        # kubectl evicts (policy/v1) because discovery lists pods/eviction; it would say "deleted" otherwise
        for pod in before:
            name = pod.split("/", 1)[1]
            assert f"evicting pod default/{name}\n" in drained.stdout + drained.stderr, drained.stdout + drained.stderr
            assert f"pod/{name} evicted\n" in drained.stdout, drained.stdout
        assert drained.stdout.startswith("node/node-2 cordoned\n") and drained.stdout.endswith("node/node-2 drained\n")
        # the Deployment replaces them, but node-2 is cordoned and is the only node they may run on
        eventually(lambda: kubectl("get", "pods", "-l", "app=drainme", "--no-headers").stdout.count("Pending") == 2)
        assert not before & set(kubectl("get", "pods", "-l", "app=drainme", "-o", "name").stdout.split())
    finally:
        kubectl("uncordon", "node-2")
    try:
        eventually(lambda: kubectl("get", "pods", "-l", "app=drainme", "--no-headers").stdout.count("Running") == 2,
                   what="the replacements to run once node-2 is uncordoned")
        # a pod no controller would replace is refused, as on a real cluster, until --force (a server dry run
        # changes nothing: node-1 stays schedulable)
        kubectl("run", "bare-drain", "--image=nginxdemos/nginx-hello:plain-text",
                "--overrides", '{"spec": {"nodeName": "node-1"}}')
        bare = kubectl("drain", "node-1", "--pod-selector", "run=bare-drain", "--dry-run=server", check=False)
        assert bare.returncode != 0 and "node/node-1 cordoned (server dry run)" in bare.stdout
        assert ("cannot delete Pods that declare no controller (use --force to override): default/bare-drain"
                in bare.stderr), bare.stderr
        assert "SchedulingDisabled" not in kubectl("get", "node", "node-1").stdout
    finally:
        kubectl("delete", "pod", "bare-drain", "--ignore-not-found", "--wait=false")
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input=DRAINED)


def test_the_eviction_api_as_the_client_sees_it(lab, kubectl):
    core = kubernetes.client.CoreV1Api(lab.api)
    kubectl("run", "evictee", "--image=nginxdemos/nginx-hello:plain-text")
    eventually(lambda: "Running" in kubectl("get", "pod", "evictee", "--no-headers").stdout)

    def evict(name: str, url_name: str = "evictee", **options):
        body = kubernetes.client.V1Eviction(metadata=kubernetes.client.V1ObjectMeta(name=name, namespace="default"),
                                            delete_options=kubernetes.client.V1DeleteOptions(**options) if options
                                            else None)
        answer = core.create_namespaced_pod_eviction(url_name, "default", body, _preload_content=False)
        return answer.status, json.loads(answer.data)      # the client would read the Status as a V1Eviction

    with pytest.raises(kubernetes.client.ApiException) as refused:
        evict("someone-else")
    assert refused.value.status == 400 and "name in URL does not match name in Eviction object" in refused.value.body
    with pytest.raises(kubernetes.client.ApiException) as missing:
        evict("nobody-here", url_name="nobody-here")
    assert missing.value.status == 404 and 'pods \\"nobody-here\\" not found' in missing.value.body
    # a dry run checks and changes nothing
    evict("evictee", dry_run=["All"])
    assert core.read_namespaced_pod("evictee", "default").metadata.deletion_timestamp is None
    # a real one marks the pod as disrupted, then deletes it gracefully
    code, answer = evict("evictee", grace_period_seconds=1)
    assert code == 201 and answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                      "code": 201}
    pod = core.read_namespaced_pod("evictee", "default")
    assert pod.metadata.deletion_timestamp is not None
    target = next(c for c in pod.status.conditions if c.type == "DisruptionTarget")
    assert (target.status, target.reason) == ("True", "EvictionByEvictionAPI")
    eventually(lambda: kubectl("get", "pod", "evictee", check=False).returncode != 0, what="the evicted pod gone")
    # create is the only verb
    listed = kubectl("get", "--raw", "/api/v1/namespaces/default/pods/evictee/eviction", check=False)
    assert "MethodNotAllowed" in listed.stderr
    resources = kubectl("api-resources", "--api-group=", "-o", "wide").stdout
    assert "pods/eviction" not in resources        # a subresource: discovery lists it, api-resources does not
    assert any(r.name == "pods/eviction" and (r.group, r.version, r.kind, r.verbs) == ("policy", "v1", "Eviction",
                                                                                       ["create"])
               for r in core.get_api_resources().resources)


def _deployment(kubectl, name: str) -> set[str]:
    kubectl("apply", "-f", "-", input=deployment(name))
    eventually(lambda: kubectl("get", "pods", "-l", f"app={name}", "--no-headers").stdout.count("Running") == 2)
    return set(kubectl("get", "pods", "-l", f"app={name}", "-o", "name").stdout.split())


def _steps_until_deleted(core, selector: str, version: str, count: int) -> dict[str, list[str]]:
    """Each pod's events from `version` on (ADDED, Terminating, DELETED…) until `count` pods are deleted."""
    seen: dict[str, list[str]] = {}
    watch = kubernetes.watch.Watch()
    for event in watch.stream(core.list_namespaced_pod, "default", label_selector=selector,
                              resource_version=version, timeout_seconds=30):
        pod = event["object"]
        step = "Terminating" if event["type"] == "MODIFIED" and pod.metadata.deletion_timestamp else event["type"]
        seen.setdefault(pod.metadata.name, []).append(step)
        if sum("DELETED" in steps for steps in seen.values()) == count:
            watch.stop()
    return seen


def _terminated_then_deleted(steps: list[str]) -> bool:
    return "Terminating" in steps and steps[-1] == "DELETED" and steps.index("Terminating") < len(steps) - 1


def test_scaling_down_and_deleting_a_deployment_terminate_pods_gracefully(lab, kubectl):
    pods = {p.split("/", 1)[1] for p in _deployment(kubectl, "cascaded")}
    core = kubernetes.client.CoreV1Api(lab.api)
    # scaling down: the ReplicaSet deletes one pod through the API, so it is Terminating (out of the endpoints) first
    version = core.list_namespaced_pod("default", label_selector="app=cascaded").metadata.resource_version
    kubectl("scale", "deployment", "cascaded", "--replicas=1")
    seen = _steps_until_deleted(core, "app=cascaded", version, 1)
    [doomed] = [name for name, steps in seen.items() if "DELETED" in steps]
    assert doomed in pods and _terminated_then_deleted(seen[doomed]), seen
    # deleting the Deployment: the garbage collector deletes its ReplicaSet, then the pod, gracefully too
    version = core.list_namespaced_pod("default", label_selector="app=cascaded").metadata.resource_version
    kubectl("delete", "deployment", "cascaded", "--wait=false")
    seen = _steps_until_deleted(core, "app=cascaded", version, 1)
    assert set(seen) == pods - {doomed} and all(_terminated_then_deleted(steps) for steps in seen.values()), seen
    assert "No resources found" in kubectl("get", "rs,pods", "-l", "app=cascaded").stderr


def test_cascade_orphan_keeps_the_replicaset_and_its_pods_and_a_bad_policy_is_refused(lab, kubectl):
    pods = _deployment(kubectl, "orphaned")
    try:
        kubectl("delete", "deployment", "orphaned", "--cascade=orphan")
        rs = json.loads(kubectl("get", "rs", "-l", "app=orphaned", "-o", "json").stdout)["items"]
        assert len(rs) == 1 and "ownerReferences" not in rs[0]["metadata"]       # kept, and no longer owned
        assert set(kubectl("get", "pods", "-l", "app=orphaned", "-o", "name").stdout.split()) == pods
        assert kubectl("get", "pods", "-l", "app=orphaned", "--no-headers").stdout.count("Running") == 2
        core = kubernetes.client.CoreV1Api(lab.api)
        with pytest.raises(kubernetes.client.ApiException) as refused:
            core.delete_namespaced_pod(sorted(pods)[0].split("/", 1)[1], "default", propagation_policy="Sideways")
        status = json.loads(refused.value.body)
        assert refused.value.status == 422 and status["message"] == (
            'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": supported '
            'values: "Foreground", "Background", "Orphan", "nil"')
        assert status["details"]["causes"][0]["field"] == "propagationPolicy"
    finally:
        kubectl("delete", "rs", "-l", "app=orphaned", "--wait=false")
    eventually(lambda: "No resources found" in kubectl("get", "pods", "-l", "app=orphaned").stderr,
               what="the orphaned ReplicaSet's pods to go with it")
