"""`kubectl get` columns: the Table the server prints for each kind, cell by cell as printers.go computes them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ingresslab.cluster.apiserver.tables import COLUMNS, format_endpoints, human_duration, to_table

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**delta) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5), **extra}


def row(key: str, obj: dict) -> list:
    return to_table(key, [obj], now=NOW)["rows"][0]["cells"]


def headers(key: str) -> list[str]:
    """The header line kubectl prints without -o wide: upper-cased names of the priority-0 columns."""
    return [c.name.upper() for c in COLUMNS[key] if c.priority == 0]


# --- the Table envelope ---------------------------------------------------------------------------------------------

def test_a_table_is_a_meta_k8s_io_v1_table_with_the_callers_resource_version():
    table = to_table("configmaps", [{"metadata": meta("cfg"), "data": {"a": "1"}}], now=NOW, resource_version="42")
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert table["columnDefinitions"][0] == {
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": table["columnDefinitions"][0]["description"]}
    assert table["columnDefinitions"][0]["description"].startswith("Name must be unique within a namespace.")
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in table["columnDefinitions"])


def test_rows_carry_partial_object_metadata_by_default():
    obj = {"metadata": meta("cfg", labels={"app": "web"}), "data": {}}
    (only,) = to_table("configmaps", [obj], now=NOW)["rows"]
    assert only["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": obj["metadata"]}
    assert only["object"]["metadata"] is not obj["metadata"]


def test_include_object_selects_the_whole_object_or_nothing():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg"), "data": {"k": "v"}}
    assert to_table("configmaps", [obj], now=NOW, include_object="Object")["rows"][0]["object"] == obj
    assert "object" not in to_table("configmaps", [obj], now=NOW, include_object="None")["rows"][0]
    assert to_table("configmaps", [obj], now=NOW, include_object="")["rows"][0]["object"]["kind"] == \
        "PartialObjectMetadata"


def test_an_unknown_include_object_is_refused_with_the_real_wording():
    with pytest.raises(ValueError, match="must be 'Metadata', 'Object', 'None', or empty"):
        to_table("configmaps", [], now=NOW, include_object="Everything")


def test_an_empty_list_still_has_columns_and_an_empty_row_list():
    table = to_table("pods", [], now=NOW)
    assert table["rows"] == [] and len(table["columnDefinitions"]) == 9
    assert table["metadata"] == {}


def test_no_headers_leaves_out_the_column_definitions():
    assert "columnDefinitions" not in to_table("pods", [], now=NOW, no_headers=True)


@pytest.mark.parametrize("key, normal, wide_only", [
    ("pods", ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]),
    ("services", ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], ["SELECTOR"]),
    ("deployments.apps", ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("replicasets.apps", ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"]),
    ("endpoints", ["NAME", "ENDPOINTS", "AGE"], []),
    ("endpointslices.discovery.k8s.io", ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], []),
    ("ingresses.networking.k8s.io", ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"], []),
    ("ingressclasses.networking.k8s.io", ["NAME", "CONTROLLER", "PARAMETERS", "AGE"], []),
    ("secrets", ["NAME", "TYPE", "DATA", "AGE"], []),
    ("configmaps", ["NAME", "DATA", "AGE"], []),
    ("namespaces", ["NAME", "STATUS", "AGE"], []),
    ("nodes", ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
     ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]),
    ("events", ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
     ["SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"]),
])
def test_each_kind_has_the_columns_kubectl_shows(key, normal, wide_only):
    assert headers(key) == normal
    assert [c.name.upper() for c in COLUMNS[key] if c.priority == 1] == wide_only


def test_every_row_has_one_cell_per_column_wide_ones_included():
    for key in COLUMNS:
        assert len(row(key, {"metadata": meta("x")})) == len(COLUMNS[key]), key


def test_a_kind_without_a_printer_gets_name_and_age():
    table = to_table("widgets.example.com", [{"metadata": meta("w1")}], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["w1", "5m"]


def test_the_served_only_extensions_ingress_prints_like_networking_ingress():
    assert to_table("ingresses.extensions", [], now=NOW)["columnDefinitions"] == \
        to_table("ingresses.networking.k8s.io", [], now=NOW)["columnDefinitions"]


# --- AGE ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (-1, "0s"), (-2, "<invalid>"), (5, "5s"), (119, "119s"), (120, "2m"), (192, "3m12s"), (599, "9m59s"),
    (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"), (3 * 3600 + 5 * 60, "3h5m"), (8 * 3600, "8h"),
    (47 * 3600, "47h"), (51 * 3600, "2d3h"), (7 * 86400, "7d"), (8 * 86400, "8d"), (400 * 86400, "400d"),
    (730 * 86400, "2y"), (735 * 86400, "2y5d"), (9 * 365 * 86400, "9y"),
])
def test_age_reads_like_kubectl_human_duration(seconds, text):
    assert human_duration(seconds) == text


def test_age_is_unknown_without_a_creation_timestamp_and_accepts_naive_now():
    assert row("namespaces", {"metadata": {"name": "x"}}) == ["x", "", "<unknown>"]
    naive = NOW.replace(tzinfo=None)
    assert to_table("namespaces", [{"metadata": meta("x")}], now=naive)["rows"][0]["cells"][2] == "5m"


# --- pods -----------------------------------------------------------------------------------------------------------

def pod(status: dict, spec: dict | None = None, **metadata) -> dict:
    return {"metadata": meta("web-1", **metadata),
            "spec": spec or {"containers": [{"name": "app", "image": "nginx"}], "nodeName": "node-1"},
            "status": status}


RUNNING = {"phase": "Running", "podIP": "127.244.0.5", "podIPs": [{"ip": "127.244.0.5"}],
           "conditions": [{"type": "Ready", "status": "True"}],
           "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0,
                                  "state": {"running": {"startedAt": ago(minutes=5)}}}]}


def test_a_running_ready_pod_reads_one_of_one_running():
    assert row("pods", pod(RUNNING)) == ["web-1", "1/1", "Running", "0", "5m", "127.244.0.5", "node-1", "<none>",
                                         "<none>"]


def test_a_crashing_container_shows_its_waiting_reason_and_when_it_last_restarted():
    status = {"phase": "Running", "containerStatuses": [{
        "name": "app", "ready": False, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds=75)}}}]}
    assert row("pods", pod(status))[1:4] == ["0/1", "CrashLoopBackOff", "4 (75s ago)"]


def test_a_pod_without_status_is_pending_with_no_ip_and_no_node():
    cells = row("pods", pod({"phase": "Pending"}, spec={"containers": [{"name": "a"}, {"name": "b"}]}))
    assert cells[1:4] == ["0/2", "Pending", "0"]
    assert cells[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_a_terminated_container_without_reason_shows_its_exit_code_or_signal():
    exited = {"phase": "Failed", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 3}}}]}
    killed = {"phase": "Failed", "containerStatuses": [{"name": "app", "state": {"terminated": {"exitCode": 137,
                                                                                               "signal": 9}}}]}
    assert row("pods", pod(exited))[2] == "ExitCode:3"
    assert row("pods", pod(killed))[2] == "Signal:9"


def test_an_initialising_pod_shows_init_progress():
    spec = {"initContainers": [{"name": "wait"}, {"name": "seed"}], "containers": [{"name": "app"}]}
    status = {"phase": "Pending", "initContainerStatuses": [
        {"name": "wait", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "seed", "state": {"running": {}}}],
        "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}
    assert row("pods", pod(status, spec))[1:3] == ["0/1", "Init:1/2"]
    status["initContainerStatuses"][1]["state"] = {"waiting": {"reason": "ImagePullBackOff"}}
    assert row("pods", pod(status, spec))[2] == "Init:ImagePullBackOff"


def test_a_sidecar_init_container_counts_towards_ready():
    spec = {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]}
    status = dict(RUNNING, conditions=[{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                  initContainerStatuses=[{"name": "proxy", "started": True, "ready": True, "restartCount": 0,
                                          "state": {"running": {}}}])
    assert row("pods", pod(status, spec))[1:3] == ["2/2", "Running"]


def test_a_pod_being_deleted_reads_terminating():
    assert row("pods", pod(RUNNING, deletionTimestamp=ago(seconds=1)))[2] == "Terminating"


def test_a_completed_pod_row_carries_the_completed_condition():
    done = {"phase": "Succeeded", "containerStatuses": [{"name": "app", "state": {"terminated": {
        "exitCode": 0, "reason": "Completed"}}}]}
    (only,) = to_table("pods", [pod(done)], now=NOW)["rows"]
    assert only["cells"][2] == "Completed"
    assert only["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                   "message": "The pod has completed successfully."}]
    assert "conditions" not in to_table("pods", [pod(RUNNING)], now=NOW)["rows"][0]


def test_readiness_gates_count_the_conditions_that_are_true():
    spec = {"containers": [{"name": "app"}], "readinessGates": [{"conditionType": "lb/ready"},
                                                                {"conditionType": "dns/ready"}]}
    status = dict(RUNNING, conditions=[{"type": "lb/ready", "status": "True"}, {"type": "dns/ready",
                                                                                 "status": "False"}])
    assert row("pods", pod(status, spec))[8] == "1/2"


# --- services -------------------------------------------------------------------------------------------------------

def svc(spec: dict, status: dict | None = None) -> dict:
    return {"metadata": meta("web"), "spec": spec, "status": status or {"loadBalancer": {}}}


def test_a_cluster_ip_service_has_no_external_ip_and_plain_ports():
    cells = row("services", svc({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                                 "ports": [{"port": 80, "protocol": "TCP"}], "selector": {"tier": "fe", "app": "web"}}))
    assert cells == ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "5m", "app=web,tier=fe"]


def test_a_node_port_service_lists_port_colon_node_port():
    cells = row("services", svc({"type": "NodePort", "clusterIPs": ["10.96.0.11"], "ports": [
        {"port": 80, "nodePort": 30044, "protocol": "TCP"}, {"port": 443, "nodePort": 31453, "protocol": "TCP"}]}))
    assert cells[3:5] == ["<none>", "80:30044/TCP,443:31453/TCP"]
    assert cells[6] == "<none>"


def test_a_load_balancer_is_pending_until_its_status_has_an_ingress():
    spec = {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": [{"port": 80, "nodePort": 30080,
                                                                             "protocol": "TCP"}]}
    assert row("services", svc(spec))[3] == "<pending>"
    assert row("services", svc(spec, {"loadBalancer": {"ingress": [{"ip": "172.18.0.10"},
                                                                   {"hostname": "lb.example"}]}}))[3] == \
        "172.18.0.10,lb.example"
    assert row("services", svc(dict(spec, externalIPs=["192.0.2.7"])))[3] == "192.0.2.7"


def test_external_ips_and_external_name_fill_the_external_ip_column():
    assert row("services", svc({"type": "ClusterIP", "clusterIPs": ["10.96.0.2"], "externalIPs": ["192.0.2.1"],
                                "ports": [{"port": 80, "protocol": "UDP"}]}))[3:5] == ["192.0.2.1", "80/UDP"]
    cells = row("services", svc({"type": "ExternalName", "externalName": "db.example.com"}))
    assert cells[1:5] == ["ExternalName", "<none>", "db.example.com", "<none>"]


def test_a_headless_service_shows_none_as_its_cluster_ip():
    assert row("services", svc({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
                                "ports": [{"port": 80, "protocol": "TCP"}]}))[2] == "None"


# --- workloads ------------------------------------------------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}}


def test_a_deployment_reads_ready_over_desired_then_updated_and_available():
    deploy = {"metadata": meta("web"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                                "template": TEMPLATE},
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert row("deployments.apps", deploy) == ["web", "2/3", 3, 2, "5m", "app,log", "nginx:1.25,busybox", "app=web"]


def test_a_deployment_selector_with_expressions_prints_like_a_label_selector():
    selector = {"matchLabels": {"tier": "fe"}, "matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "api"]}, {"key": "canary", "operator": "DoesNotExist"},
        {"key": "zone", "operator": "NotIn", "values": ["b"]}, {"key": "env", "operator": "Exists"}]}
    deploy = {"metadata": meta("web"), "spec": {"replicas": 1, "selector": selector, "template": TEMPLATE}}
    assert row("deployments.apps", deploy)[7] == "app in (api,web),!canary,env,tier=fe,zone notin (b)"


def test_a_replicaset_prints_integers_and_none_for_an_empty_selector():
    rs = {"metadata": meta("web-5d4f"), "spec": {"replicas": 2, "template": TEMPLATE},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert row("replicasets.apps", rs) == ["web-5d4f", 2, 2, 1, "5m", "app,log", "nginx:1.25,busybox", "<none>"]


# --- endpoints and slices -------------------------------------------------------------------------------------------

def test_endpoints_show_at_most_three_addresses_then_how_many_more():
    ep = {"metadata": meta("web"), "subsets": [{
        "addresses": [{"ip": "127.244.0.5"}, {"ip": "127.244.1.3"}],
        "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 9090, "protocol": "TCP"}]}]}
    assert format_endpoints(ep) == "127.244.0.5:8080,127.244.1.3:8080,127.244.0.5:9090 + 1 more..."
    ep["subsets"][0]["ports"] = [{"port": 8080}]
    assert row("endpoints", ep) == ["web", "127.244.0.5:8080,127.244.1.3:8080", "5m"]


def test_endpoints_without_subsets_show_none_and_ipv6_gets_brackets():
    assert format_endpoints({"subsets": []}) == "<none>"
    assert format_endpoints({"subsets": [{"addresses": [{"ip": "fd00::5"}], "ports": [{"port": 80}]}]}) == \
        "[fd00::5]:80"


def test_headless_endpoints_without_ports_list_bare_addresses():
    assert format_endpoints({"subsets": [{"addresses": [{"ip": "127.244.0.5"}]}]}) == "127.244.0.5"


def test_an_endpointslice_lists_ports_and_addresses_with_unset_for_empty():
    eps = {"metadata": meta("web-abcde"), "addressType": "IPv4",
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
           "endpoints": [{"addresses": [f"127.244.0.{i}"]} for i in range(1, 5)]}
    assert row("endpointslices.discovery.k8s.io", eps) == [
        "web-abcde", "IPv4", "8080", "127.244.0.1,127.244.0.2,127.244.0.3 + 1 more...", "5m"]
    empty = {"metadata": meta("none"), "addressType": "IPv4", "ports": [{"name": "", "protocol": "TCP"}],
             "endpoints": []}
    assert row("endpointslices.discovery.k8s.io", empty)[2:4] == ["<unset>", "<unset>"]   # "" joins to unset
    assert row("endpointslices.discovery.k8s.io", dict(empty, ports=[{"protocol": "TCP"}]))[2] == "*"


# --- ingress --------------------------------------------------------------------------------------------------------

def ingress(spec: dict, status: dict | None = None) -> dict:
    return {"metadata": meta("shop"), "spec": spec, "status": status or {"loadBalancer": {}}}


def test_an_ingress_without_class_host_or_address_prints_none_star_and_blank():
    assert row("ingresses.networking.k8s.io", ingress({"rules": [{"http": {"paths": []}}]})) == \
        ["shop", "<none>", "*", "", "80", "5m"]


def test_an_ingress_with_tls_lists_hosts_class_and_both_ports():
    spec = {"ingressClassName": "nginx", "tls": [{"hosts": ["shop.example"]}],
            "rules": [{"host": "shop.example"}, {"host": "api.example"}]}
    status = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    assert row("ingresses.networking.k8s.io", ingress(spec, status))[1:5] == [
        "nginx", "shop.example,api.example", "127.0.0.1", "80, 443"]


def test_more_than_three_hosts_are_cut_like_kubectl_counting_rules():
    rules = [{"http": {}}] + [{"host": f"h{i}.example"} for i in range(4)]
    assert row("ingresses.networking.k8s.io", ingress({"rules": rules}))[2] == \
        "h0.example,h1.example,h2.example + 2 more..."


def test_an_ingress_class_shows_its_controller_and_parameters():
    ic = {"metadata": {"name": "nginx", "creationTimestamp": ago(hours=2)},
          "spec": {"controller": "k8s.io/ingress-nginx"}}
    assert row("ingressclasses.networking.k8s.io", ic) == ["nginx", "k8s.io/ingress-nginx", "<none>", "120m"]
    ic["spec"]["parameters"] = {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external"}
    assert row("ingressclasses.networking.k8s.io", ic)[2] == "IngressParameters.k8s.example.com/external"


# --- the rest -------------------------------------------------------------------------------------------------------

def test_secrets_and_configmaps_count_their_keys():
    assert row("secrets", {"metadata": meta("tls"), "type": "kubernetes.io/tls",
                           "data": {"tls.crt": "", "tls.key": ""}}) == ["tls", "kubernetes.io/tls", 2, "5m"]
    assert row("configmaps", {"metadata": meta("cfg"), "data": {"a": "1"}, "binaryData": {"b": "AA=="}}) == \
        ["cfg", 2, "5m"]


def test_a_namespace_shows_its_phase():
    assert row("namespaces", {"metadata": meta("shop"), "status": {"phase": "Active"}}) == ["shop", "Active", "5m"]


def test_a_node_shows_readiness_roles_version_and_wide_system_info():
    node = {"metadata": {"name": "node-1", "creationTimestamp": ago(days=3),
                         "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "127.244.0.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.30.0", "osImage": "ingresslab"}}}
    assert row("nodes", node) == ["node-1", "Ready,SchedulingDisabled", "control-plane,edge", "3d", "v1.30.0",
                                  "127.244.0.1", "<none>", "ingresslab", "<unknown>", "<unknown>"]
    node["status"]["conditions"][0]["status"] = "Unknown"
    assert row("nodes", node)[1] == "NotReady,SchedulingDisabled"
    assert row("nodes", {"metadata": {"name": "bare"}})[1:3] == ["Unknown", "<none>"]


def test_an_event_names_its_object_in_lower_case_kind_slash_name():
    ev = {"metadata": meta("web-1.17c"), "type": "Normal", "reason": "Scheduled",
          "message": "Successfully assigned default/web-1 to node-1\n",
          "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
          "source": {"component": "default-scheduler"}, "firstTimestamp": ago(minutes=3),
          "lastTimestamp": ago(seconds=30), "count": 2}
    assert row("events", ev) == ["30s", "Normal", "Scheduled", "pod/web-1", "spec.containers{app}",
                                 "default-scheduler", "Successfully assigned default/web-1 to node-1", "3m", 2,
                                 "web-1.17c"]


def test_an_event_of_the_new_api_falls_back_to_event_time_series_and_reporting_fields():
    ev = {"metadata": meta("e"), "type": "Warning", "reason": "BackOff", "involvedObject": {"kind": "Pod"},
          "eventTime": "2024-05-01T11:58:00.000000Z", "reportingComponent": "kubelet", "reportingInstance": "node-1"}
    cells = row("events", ev)
    assert (cells[0], cells[3], cells[5], cells[7], cells[8]) == ("2m", "pod", "kubelet, node-1", "2m", 1)
    ev["series"] = {"count": 7, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}
    assert row("events", ev)[0] == "10s" and row("events", ev)[8] == 7
