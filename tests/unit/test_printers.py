"""Server-side Tables: the cells `kubectl get` shows, computed as kube-apiserver computes them."""

from datetime import UTC, datetime, timedelta

import pytest

from cluster.apiserver.jsonpath import JSONPathError
from cluster.apiserver.printers import build_table, human_duration, table_column_definitions

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, namespace: str | None = "default", **extra) -> dict:
    metadata = {"name": name, "creationTimestamp": ago(minutes=5), "uid": f"uid-{name}", **extra}
    if namespace:
        metadata["namespace"] = namespace
    return metadata


def row(group: str, kind: str, obj: dict, **kwargs) -> list:
    return build_table(group, kind, [obj], resource_version="1", now=NOW, **kwargs)["rows"][0]["cells"]


def headers(group: str, kind: str, printer_columns=None) -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in table_column_definitions(group, kind, printer_columns)]


# --------------------------------------------------------------------------------------------
# human_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),
        (-1, "0s"),
        (0, "0s"),
        (59, "59s"),
        (119.9, "119s"),
        (120, "2m"),
        (5 * 60 + 3, "5m3s"),
        (5 * 60, "5m"),
        (9 * 60 + 59, "9m59s"),
        (10 * 60 + 30, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 4 * 60, "3h4m"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (8 * 3600 + 30 * 60, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (7 * 86400 + 23 * 3600, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (2 * 365 * 86400 + 30 * 86400, "2y30d"),
        (8 * 365 * 86400 - 86400, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400, "20y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds, text):
    assert human_duration(seconds) == text


# --------------------------------------------------------------------------------------------
# Pods


def container(name="compute", **status) -> dict:
    return {"name": name, "ready": False, "restartCount": 0, **status}


def pod(containers: list[dict], *, phase="Running", init: list[dict] | None = None, spec_init=None, **extra) -> dict:
    spec = {"containers": [{"name": c["name"], "image": "img"} for c in containers], "nodeName": "node01"}
    if spec_init is not None:
        spec["initContainers"] = spec_init
    status = {"phase": phase, "containerStatuses": containers, "podIPs": [{"ip": "10.244.0.9"}]}
    if init is not None:
        status["initContainerStatuses"] = init
    status.update(extra.pop("status", {}))
    return {"metadata": meta("virt-launcher-testvm-x7k2p", **extra.pop("metadata", {})), "spec": spec, "status": status}


def test_pod_columns_include_wide_ones_with_priority_1():
    assert headers("", "Pod") == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
        ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1),
    ]


def test_running_pod_with_restarts_shows_when_the_last_one_was():
    running = container(
        ready=True,
        restartCount=2,
        state={"running": {"startedAt": ago(minutes=3)}},
        lastState={"terminated": {"exitCode": 1, "finishedAt": ago(minutes=3)}},
    )
    assert row("", "Pod", pod([running])) == [
        "virt-launcher-testvm-x7k2p", "1/1", "Running", "2 (3m ago)", "5m",
        "10.244.0.9", "node01", "<none>", "<none>",
    ]


def test_crash_loop_back_off():
    crashing = container(
        restartCount=5,
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"exitCode": 2, "finishedAt": ago(seconds=40)}},
    )
    cells = row("", "Pod", pod([crashing]))
    assert cells[1:4] == ["0/1", "CrashLoopBackOff", "5 (40s ago)"]


def test_image_pull_error():
    cells = row("", "Pod", pod([container(state={"waiting": {"reason": "ErrImagePull"}})], phase="Pending"))
    assert cells[1:4] == ["0/1", "ErrImagePull", "0"]


def test_waiting_init_container_shows_progress():
    init_spec = [{"name": "setup", "image": "img"}]
    init = [container("setup", state={"running": {}})]
    main = container(state={"waiting": {"reason": "PodInitializing"}})
    cells = row("", "Pod", pod([main], phase="Pending", init=init, spec_init=init_spec))
    assert cells[1:3] == ["0/1", "Init:0/1"]


def test_failing_init_container_shows_its_reason_or_exit_code():
    init_spec = [{"name": "setup", "image": "img"}, {"name": "disks", "image": "img"}]
    done = container("setup", state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    backoff = container("disks", restartCount=3, state={"waiting": {"reason": "CrashLoopBackOff"}})
    failed = container("disks", state={"terminated": {"exitCode": 3}})
    killed = container("disks", state={"terminated": {"exitCode": 137, "signal": 9}})
    main = container(state={"waiting": {"reason": "PodInitializing"}})
    assert row("", "Pod", pod([main], phase="Pending", init=[done, backoff], spec_init=init_spec))[2:4] == [
        "Init:CrashLoopBackOff", "3",
    ]
    assert row("", "Pod", pod([main], phase="Pending", init=[done, failed], spec_init=init_spec))[2] == "Init:ExitCode:3"
    assert row("", "Pod", pod([main], phase="Pending", init=[done, killed], spec_init=init_spec))[2] == "Init:Signal:9"


def test_completed_pod_and_its_row_condition():
    finished = container(state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    table = build_table("", "Pod", [pod([finished], phase="Succeeded")], resource_version="9", now=NOW)
    assert table["rows"][0]["cells"][1:3] == ["0/1", "Completed"]
    assert table["rows"][0]["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
    ]


def test_completed_container_next_to_a_running_one_reads_running_or_not_ready():
    done = container("sidecar", state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    running = container(ready=True, state={"running": {}})
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert row("", "Pod", pod([running, done], **ready))[1:3] == ["1/2", "Running"]
    assert row("", "Pod", pod([running, done]))[1:3] == ["1/2", "NotReady"]


def test_terminated_container_without_reason_shows_exit_code_or_signal():
    assert row("", "Pod", pod([container(state={"terminated": {"exitCode": 1}})], phase="Failed"))[2] == "ExitCode:1"
    assert row("", "Pod", pod([container(state={"terminated": {"exitCode": 0, "signal": 15}})]))[2] == "Signal:15"


def test_deleted_pod_is_terminating_unless_finished_or_node_lost():
    deleting = {"metadata": {"deletionTimestamp": ago(seconds=10)}}
    running = container(ready=True, state={"running": {}})
    assert row("", "Pod", pod([running], **deleting))[2] == "Terminating"
    finished = container(state={"terminated": {"exitCode": 0, "reason": "Completed"}})
    assert row("", "Pod", pod([finished], phase="Succeeded", **deleting))[2] == "Completed"
    lost = {"metadata": {"deletionTimestamp": ago(seconds=10)}, "status": {"reason": "NodeLost"}}
    assert row("", "Pod", pod([running], **lost))[2] == "Unknown"


def test_pod_reason_and_scheduling_gate_override_phase():
    evicted = pod([], phase="Failed", status={"reason": "Evicted"})
    assert row("", "Pod", evicted)[1:3] == ["0/0", "Evicted"]
    gated = pod([], phase="Pending", status={"conditions": [{"type": "PodScheduled", "reason": "SchedulingGated"}]})
    assert row("", "Pod", gated)[2] == "SchedulingGated"


def test_sidecar_init_containers_count_as_containers():
    spec_init = [{"name": "proxy", "image": "img", "restartPolicy": "Always"}]
    sidecar = container("proxy", ready=True, started=True, restartCount=1, state={"running": {}},
                        lastState={"terminated": {"exitCode": 1, "finishedAt": ago(hours=1)}})
    main = container(ready=True, state={"running": {}})
    initialized = {"status": {"conditions": [{"type": "Initialized", "status": "True"}]}}
    assert row("", "Pod", pod([main], init=[sidecar], spec_init=spec_init, **initialized))[1:4] == [
        "2/2", "Running", "1 (60m ago)",
    ]


def test_pod_wide_columns():
    running = container(ready=True, state={"running": {}})
    gated = pod([running], status={"nominatedNodeName": "node02", "conditions": [{"type": "example.com/lb", "status": "True"}]})
    gated["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]
    assert row("", "Pod", gated)[5:] == ["10.244.0.9", "node01", "node02", "1/2"]
    pending = {"metadata": meta("p"), "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}
    assert row("", "Pod", pending) == ["p", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"]


# --------------------------------------------------------------------------------------------
# Nodes, namespaces, events


def node(conditions, **extra) -> dict:
    return {
        "metadata": meta("node01", namespace=None, labels={"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}),
        "spec": extra.get("spec", {}),
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "192.168.0.10"}, {"type": "Hostname", "address": "node01"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0-kvtui", "osImage": "Debian GNU/Linux 13", "kernelVersion": "6.12.0"},
        },
    }


def test_node_row():
    assert headers("", "Node")[:5] == [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0)]
    assert row("", "Node", node([{"type": "Ready", "status": "True"}])) == [
        "node01", "Ready", "control-plane,worker", "5m", "v1.37.0-kvtui",
        "192.168.0.10", "<none>", "Debian GNU/Linux 13", "6.12.0", "<unknown>",
    ]


def test_node_status_values():
    cordoned = node([{"type": "Ready", "status": "True"}], spec={"unschedulable": True})
    assert row("", "Node", cordoned)[1] == "Ready,SchedulingDisabled"
    assert row("", "Node", node([{"type": "Ready", "status": "Unknown"}]))[1] == "NotReady"
    assert row("", "Node", node([]))[1] == "Unknown"
    bare = {"metadata": meta("n", namespace=None), "status": {}}
    assert row("", "Node", bare)[2] == "<none>"


def test_namespace_row():
    namespace = {"metadata": meta("vms", namespace=None), "status": {"phase": "Terminating"}}
    assert headers("", "Namespace") == [("Name", 0), ("Status", 0), ("Age", 0)]
    assert row("", "Namespace", namespace) == ["vms", "Terminating", "5m"]


def test_event_columns_follow_the_real_order():
    assert headers("", "Event") == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
        ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1),
    ]


def test_event_row():
    event = {
        "metadata": meta("testvm.17f3a"),
        "involvedObject": {"kind": "VirtualMachine", "name": "testvm", "namespace": "default", "fieldPath": "spec"},
        "reason": "SuccessfulCreate",
        "message": "Started the virtual machine by creating the new virtual machine instance testvm\n",
        "type": "Normal",
        "source": {"component": "virtualmachine-controller", "host": "node01"},
        "firstTimestamp": ago(hours=2),
        "lastTimestamp": ago(minutes=1),
        "count": 4,
    }
    assert row("", "Event", event) == [
        "60s", "Normal", "SuccessfulCreate", "virtualmachine/testvm", "spec", "virtualmachine-controller, node01",
        "Started the virtual machine by creating the new virtual machine instance testvm", "120m", 4, "testvm.17f3a",
    ]


def test_new_style_event_uses_event_time_series_and_reporting_controller():
    event = {
        "metadata": meta("e1"),
        "involvedObject": {"kind": "Node"},
        "reason": "Rebooted",
        "type": "Warning",
        "eventTime": "2026-03-01T11:50:00.000000Z",
        "reportingComponent": "kubelet",
        "reportingInstance": "node01",
    }
    cells = row("", "Event", event)
    assert cells[0] == cells[7] == "10m"
    assert cells[3] == "node"
    assert cells[5] == "kubelet, node01"
    assert cells[8] == 1
    event["series"] = {"count": 7, "lastObservedTime": "2026-03-01T11:59:30.000000Z"}
    cells = row("", "Event", event)
    assert (cells[0], cells[8]) == ("30s", 7)


# --------------------------------------------------------------------------------------------
# Config, services, storage, coordination, workloads, RBAC


def test_config_map_secret_and_service_account_rows():
    config_map = {"metadata": meta("kubevirt-config"), "data": {"feature-gates": "HostDisk"}, "binaryData": {"b": "AA=="}}
    assert row("", "ConfigMap", config_map) == ["kubevirt-config", 2, "5m"]
    secret = {"metadata": meta("cloud-init"), "type": "Opaque", "data": {"userdata": "I2Nsb3VkLWNvbmZpZw=="}}
    assert headers("", "Secret") == [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]
    assert row("", "Secret", secret) == ["cloud-init", "Opaque", 1, "5m"]
    assert headers("", "ServiceAccount") == [("Name", 0), ("Age", 0)]
    assert row("", "ServiceAccount", {"metadata": meta("default"), "secrets": [{"name": "t"}]}) == ["default", "5m"]


def test_service_rows():
    cluster_ip = {
        "metadata": meta("testvm-ssh"),
        "spec": {"type": "ClusterIP", "clusterIPs": ["10.96.0.20"], "ports": [{"port": 22, "protocol": "TCP"}],
                 "selector": {"kubevirt.io/domain": "testvm"}},
    }
    assert headers("", "Service")[-1] == ("Selector", 1)
    assert row("", "Service", cluster_ip) == [
        "testvm-ssh", "ClusterIP", "10.96.0.20", "<none>", "22/TCP", "5m", "kubevirt.io/domain=testvm",
    ]
    node_port = {"metadata": meta("np"), "spec": {"type": "NodePort", "clusterIP": "10.96.0.21",
                                                   "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}}
    assert row("", "Service", node_port)[1:5] == ["NodePort", "10.96.0.21", "<none>", "80:30080/TCP,53/UDP"]
    pending = {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.22"]}}
    assert row("", "Service", pending)[3:5] == ["<pending>", "<none>"]
    assert row("", "Service", pending)[6] == "<none>"
    pending["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}
    pending["spec"]["externalIPs"] = ["198.51.100.1"]
    assert row("", "Service", pending)[3] == "203.0.113.9,198.51.100.1"


def test_persistent_volume_claim_rows():
    bound = {
        "metadata": meta("disk0"),
        "spec": {"volumeName": "pv-1", "storageClassName": "local-path", "volumeMode": "Filesystem",
                 "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"]},
    }
    assert row("", "PersistentVolumeClaim", bound) == [
        "disk0", "Bound", "pv-1", "1Gi", "RWO,RWX", "local-path", "<unset>", "5m", "Filesystem",
    ]
    pending = {"metadata": meta("disk1", deletionTimestamp=ago(seconds=1)), "spec": {}, "status": {"phase": "Pending"}}
    assert row("", "PersistentVolumeClaim", pending) == ["disk1", "Terminating", "", "", "", "", "<unset>", "5m", "<unset>"]


def test_persistent_volume_row():
    volume = {
        "metadata": meta("pv-1", namespace=None, annotations={"volume.beta.kubernetes.io/storage-class": "legacy"}),
        "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Delete",
                 "claimRef": {"namespace": "default", "name": "disk0"}, "storageClassName": "local-path"},
        "status": {"phase": "Bound"},
    }
    assert row("", "PersistentVolume", volume) == [
        "pv-1", "10Gi", "RWO", "Delete", "Bound", "default/disk0", "legacy", "<unset>", "", "5m", "<unset>",
    ]


def test_lease_row():
    lease = {"metadata": meta("node01", namespace="kube-node-lease"), "spec": {"holderIdentity": "node01"}}
    assert headers("coordination.k8s.io", "Lease") == [("Name", 0), ("Holder", 0), ("Age", 0)]
    assert row("coordination.k8s.io", "Lease", lease) == ["node01", "node01", "5m"]


def test_deployment_row():
    deployment = {
        "metadata": meta("virt-controller"),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"kubevirt.io": "virt-controller"}},
            "template": {"spec": {"containers": [{"name": "controller", "image": "kvtui/reconciler:0.1"},
                                                 {"name": "metrics", "image": "kvtui/metrics:0.1"}]}},
        },
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
    }
    assert [name for name, _ in headers("apps", "Deployment")] == [
        "Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector",
    ]
    assert row("apps", "Deployment", deployment) == [
        "virt-controller", "1/2", 2, 1, "5m", "controller,metrics", "kvtui/reconciler:0.1,kvtui/metrics:0.1",
        "kubevirt.io=virt-controller",
    ]


def test_daemon_set_row():
    daemon_set = {
        "metadata": meta("virt-handler"),
        "spec": {"selector": {"matchExpressions": [{"key": "kubevirt.io", "operator": "In", "values": ["virt-handler"]}]},
                 "template": {"spec": {"containers": [{"name": "handler", "image": "h:1"}]}}},
        "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1,
                   "updatedNumberScheduled": 1, "numberAvailable": 0},
    }
    assert row("apps", "DaemonSet", daemon_set) == [
        "virt-handler", 1, 1, 1, 1, 0, "<none>", "5m", "handler", "h:1", "kubevirt.io in (virt-handler)",
    ]


def test_role_binding_rows():
    binding = {
        "metadata": meta("kubevirt-controller"),
        "roleRef": {"kind": "ClusterRole", "name": "kubevirt-controller"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "kubevirt-controller", "namespace": "kubevirt"},
            {"kind": "User", "name": "alice"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "system:masters"},
        ],
    }
    assert headers("rbac.authorization.k8s.io", "RoleBinding")[3:] == [("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)]
    assert row("rbac.authorization.k8s.io", "ClusterRoleBinding", binding) == [
        "kubevirt-controller", "ClusterRole/kubevirt-controller", "5m", "alice, bob", "system:masters",
        "kubevirt/kubevirt-controller",
    ]


@pytest.mark.parametrize(
    ("group", "kind"),
    [
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
    ],
)
def test_kinds_without_a_printer_get_name_and_created_at(group, kind):
    columns = table_column_definitions(group, kind, None)
    assert [(c["name"], c["type"]) for c in columns] == [("Name", "string"), ("Created At", "date")]
    obj = {"metadata": {"name": "virtualmachines.kubevirt.io", "creationTimestamp": "2026-03-01T13:00:00+02:00"}}
    assert row(group, kind, obj) == ["virtualmachines.kubevirt.io", "2026-03-01T11:00:00Z"]


# --------------------------------------------------------------------------------------------
# Custom resources

def ready_column(condition: str, name: str, priority: int = 0) -> dict:
    return {"name": name, "type": "string", "priority": priority,
            "jsonPath": f".status.conditions[?(@.type=='{condition}')].status"}


VM_COLUMNS = [
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Status", "type": "string", "description": "Human Readable Status", "jsonPath": ".status.printableStatus"},
    ready_column("Ready", "Ready"),
]
VMI_COLUMNS = [
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "IP", "type": "string", "jsonPath": ".status.interfaces[0].ipAddress"},
    {"name": "NodeName", "type": "string", "jsonPath": ".status.nodeName"},
    ready_column("Ready", "Ready"),
    ready_column("LiveMigratable", "Live-Migratable", priority=1),
    ready_column("Paused", "Paused", priority=1),
]


def test_virtual_machine_table():
    vm = {"metadata": meta("testvm", creationTimestamp=ago(days=2, hours=3)),
          "status": {"printableStatus": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    stopped = {"metadata": meta("stopped"), "status": {"printableStatus": "Stopped"}}
    table = build_table("kubevirt.io", "VirtualMachine", [vm, stopped], resource_version="42",
                        printer_columns=VM_COLUMNS, now=NOW)
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Age", "date", ""), ("Status", "string", ""), ("Ready", "string", ""),
    ]
    assert table["columnDefinitions"][2]["description"] == "Human Readable Status"
    assert table["columnDefinitions"][3]["description"] == (
        "Custom resource definition column (in JSONPath format): .status.conditions[?(@.type=='Ready')].status"
    )
    assert [r["cells"] for r in table["rows"]] == [["testvm", "2d3h", "Running", "True"], ["stopped", "5m", "Stopped", None]]


def test_virtual_machine_instance_table():
    vmi = {
        "metadata": meta("testvm"),
        "status": {
            "phase": "Running", "nodeName": "node01", "interfaces": [{"ipAddress": "10.244.0.15"}],
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "LiveMigratable", "status": "False"}],
        },
    }
    assert headers("kubevirt.io", "VirtualMachineInstance", VMI_COLUMNS)[-2:] == [("Live-Migratable", 1), ("Paused", 1)]
    assert row("kubevirt.io", "VirtualMachineInstance", vmi, printer_columns=VMI_COLUMNS) == [
        "testvm", "5m", "Running", "10.244.0.15", "node01", "True", "False", None,
    ]
    scheduling = {"metadata": meta("new"), "status": {"phase": "Scheduling"}}
    assert row("kubevirt.io", "VirtualMachineInstance", scheduling, printer_columns=VMI_COLUMNS) == [
        "new", "5m", "Scheduling", None, None, None, None, None,
    ]


def test_custom_resource_without_columns_gets_name_and_age():
    assert headers("example.com", "Widget", []) == [("Name", 0), ("Age", 0)]
    assert row("example.com", "Widget", {"metadata": meta("w")}, printer_columns=[]) == ["w", "5m"]


def test_printer_column_types_are_coerced_like_apiextensions():
    columns = [
        {"name": "Cores", "type": "integer", "jsonPath": ".spec.cores"},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
        {"name": "On", "type": "boolean", "jsonPath": ".spec.on"},
        {"name": "Seen", "type": "date", "jsonPath": ".status.seen"},
        {"name": "Map", "type": "string", "jsonPath": ".spec.map"},
        {"name": "Count", "type": "string", "jsonPath": ".spec.cores"},
        {"name": "Big", "type": "string", "jsonPath": ".spec.big"},
        {"name": "Flag", "type": "string", "jsonPath": ".spec.on"},
        {"name": "List", "type": "string", "jsonPath": ".spec.list"},
    ]
    good = {"metadata": meta("a"), "spec": {"cores": 2.9, "ratio": 3, "on": True, "map": {"z": 1, "a": "<b>"},
                                            "big": 1e6, "list": ["x", "y"]}, "status": {"seen": ago(hours=3, minutes=4)}}
    assert row("example.com", "W", good, printer_columns=columns) == [
        "a", 2, 3.0, True, "3h4m", '{"a":"\\u003cb\\u003e","z":1}', "2.9", "1e+06", "true", '["x","y"]',
    ]
    wrong = {"metadata": meta("b"), "spec": {"cores": "two", "ratio": "x", "on": "yes"}, "status": {"seen": "yesterday"}}
    assert row("example.com", "W", wrong, printer_columns=columns) == [
        "b", None, None, None, "<invalid>", None, "two", None, "yes", None,
    ]
    empty_date = {"metadata": meta("c"), "status": {"seen": ""}}
    assert row("example.com", "W", empty_date, printer_columns=columns)[4] == "<unknown>"


def test_bad_printer_column_path_is_reported():
    with pytest.raises(JSONPathError, match='invalid JSONPath ".status.conditions\\[": unterminated array'):
        build_table("example.com", "W", [], resource_version="1", printer_columns=[
            {"name": "Bad", "type": "string", "jsonPath": ".status.conditions["}])


# --------------------------------------------------------------------------------------------
# The Table envelope and includeObject


def test_table_envelope_and_partial_object_metadata():
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": meta("s", labels={"a": "b"}, managedFields=[{"manager": "kubectl"}]), "data": {}}
    table = build_table("", "Secret", [secret], resource_version="4711", now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "4711"}
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"name": "s", "namespace": "default", "uid": "uid-s", "creationTimestamp": ago(minutes=5),
                     "labels": {"a": "b"}},
    }
    assert secret["metadata"]["managedFields"] == [{"manager": "kubectl"}]  # the stored object is untouched
    assert set(table["columnDefinitions"][0]) == {"name", "type", "format", "description", "priority"}


def test_include_object_and_continue():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cm")}
    full = build_table("", "ConfigMap", [cm], resource_version="5", include_object="Object", continue_token="abc", now=NOW)
    assert full["rows"][0]["object"] is cm
    assert full["metadata"] == {"resourceVersion": "5", "continue": "abc"}
    assert "object" not in build_table("", "ConfigMap", [cm], resource_version="5", include_object="None")["rows"][0]
    with pytest.raises(ValueError) as error:
        build_table("", "ConfigMap", [cm], resource_version="5", include_object="Everything")
    assert str(error.value) == 'unrecognized includeObject value: "Everything" (use one of Metadata, Object, None)'


def test_empty_list_still_has_columns():
    table = build_table("", "Pod", [], resource_version="3")
    assert table["rows"] == []
    assert table["columnDefinitions"][0]["name"] == "Name"


def test_missing_creation_timestamp_reads_unknown():
    assert row("", "ConfigMap", {"metadata": {"name": "x"}}) == ["x", 0, "<unknown>"]
