"""The launcher pod matches KubeVirt's: name, labels, annotations, resources, grace, scheduling."""

from __future__ import annotations

import pytest

from cluster.reconciler.launcher_pod import LauncherSettings, launcher_pod_for
from cluster.reconciler.quantity import format_bytes, parse_quantity


def vmi(**spec):
    base = {"domain": {"memory": {"guest": "128Mi"}, "devices": {}}, "terminationGracePeriodSeconds": 20}
    base.update(spec)
    return {"metadata": {"name": "demo", "namespace": "vms", "uid": "1234", "labels": {"app": "web"},
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "x"}},
            "spec": base}


def test_metadata_follows_kubevirt():
    pod = launcher_pod_for(vmi(), LauncherSettings())
    meta = pod["metadata"]
    assert meta["generateName"] == "virt-launcher-demo-"
    assert meta["namespace"] == "vms"
    assert meta["labels"] == {"app": "web", "kubevirt.io": "virt-launcher", "kubevirt.io/created-by": "1234",
                              "vm.kubevirt.io/name": "demo", "vmi.kubevirt.io/id": "demo"}
    assert meta["annotations"] == {"note": "x", "kubevirt.io/domain": "demo",
                                   "kubectl.kubernetes.io/default-container": "compute",
                                   "kvtui.io/startup-cpu-boost": "8"}
    assert meta["ownerReferences"] == [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                                        "name": "demo", "uid": "1234", "controller": True,
                                        "blockOwnerDeletion": True}]


def test_resources_grace_and_scheduling():
    pod = launcher_pod_for(vmi(nodeSelector={"disk": "ssd"}, tolerations=[{"key": "k", "operator": "Exists"}]),
                           LauncherSettings())
    spec = pod["spec"]
    compute = spec["containers"][0]
    assert compute["name"] == "compute"
    assert compute["resources"]["requests"]["memory"] == "288Mi"        # 128Mi guest + 160Mi overhead
    assert compute["resources"]["requests"]["devices.kubevirt.io/kvm"] == "1"
    assert spec["terminationGracePeriodSeconds"] == 50                   # VMI grace + 30 s
    assert spec["restartPolicy"] == "Never"
    assert spec["nodeSelector"] == {"disk": "ssd", "kubevirt.io/schedulable": "true"}
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert [c["name"] for c in spec["containers"]] == ["compute", "guest-console-log"]
    env = {e["name"]: e for e in compute["env"]}
    assert env["VMI_NAME"]["value"] == "demo"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_the_pod_is_started_once_the_domain_runs():
    compute = launcher_pod_for(vmi(), LauncherSettings())["spec"]["containers"][0]
    probe = compute["startupProbe"]
    assert probe["httpGet"] == {"path": "/readyz?wait=25", "port": 8778}
    # The long poll answers within the probe's timeout, and a slow start is not killed early.
    assert probe["timeoutSeconds"] > 25 and probe["periodSeconds"] == 1
    assert probe["failureThreshold"] * (probe["periodSeconds"] + 25) >= 1800
    assert "readinessProbe" not in compute and "livenessProbe" not in compute


def test_emulation_asks_for_no_kvm_device_and_gates_reach_the_launcher():
    pod = launcher_pod_for(vmi(), LauncherSettings(use_emulation=True, feature_gates=["HostDisk"]))
    compute = pod["spec"]["containers"][0]
    assert "devices.kubevirt.io/kvm" not in compute["resources"]["requests"]
    assert {e["name"]: e.get("value") for e in compute["env"]}["KVTUI_FEATURE_GATES"] == "HostDisk"


def test_memory_from_requests_and_decimal_units():
    spec = vmi()
    spec["spec"]["domain"] = {"resources": {"requests": {"memory": "2048M"}}}
    pod = launcher_pod_for(spec, LauncherSettings())
    memory = pod["spec"]["containers"][0]["resources"]["requests"]["memory"]
    assert parse_quantity(memory) == 2048 * 10**6 + 160 * 2**20


def test_quantities():
    assert parse_quantity("128Mi") == 128 * 2**20
    assert parse_quantity("2G") == 2 * 10**9
    assert parse_quantity("500m") * 1000 == 500
    assert format_bytes(2**30) == "1Gi"
    with pytest.raises(ValueError, match='unknown suffix "Xi"'):
        parse_quantity("3Xi")
