"""Spec checks the schema cannot express name the field and the fix."""

from __future__ import annotations

from cluster.reconciler.config import ClusterConfig, from_sources
from cluster.reconciler.validation import vmi_spec_problems


def spec(**extra):
    base = {"domain": {"memory": {"guest": "64Mi"}, "devices": {"disks": [{"name": "root", "disk": {}}]}},
            "volumes": [{"name": "root", "containerDisk": {"image": "kvtui/demo"}}]}
    base.update(extra)
    return base


def test_valid_spec_has_no_problems():
    assert vmi_spec_problems(spec(), ClusterConfig()) == []


def test_disk_without_volume_and_duplicates():
    s = spec()
    s["domain"]["devices"]["disks"].append({"name": "data", "disk": {}})
    s["volumes"].append({"name": "root", "emptyDisk": {"capacity": "1Gi"}})
    problems = vmi_spec_problems(s, ClusterConfig())
    assert 'spec.volumes[1].name: Duplicate value: "root": names must be unique' in problems
    assert any(p.startswith('spec.domain.devices.disks[1].name: Invalid value: "data": disk has no matching volume')
               for p in problems)


def test_host_disk_needs_the_gate():
    s = spec(volumes=[{"name": "root", "hostDisk": {"path": "/d.img", "type": "Disk"}}])
    problems = vmi_spec_problems(s, ClusterConfig())
    assert problems and problems[0].startswith("spec.volumes[0].hostDisk: Forbidden: the HostDisk feature gate")
    assert vmi_spec_problems(s, ClusterConfig({"HostDisk"})) == []


def test_gates_from_kubevirt_resource_and_configmap():
    kv = {"metadata": {"name": "kubevirt"}, "spec": {"configuration": {"developerConfiguration": {
        "featureGates": ["Snapshot"], "useEmulation": True}}}}
    cm = {"metadata": {"name": "kubevirt-config"}, "data": {"feature-gates": "HostDisk, LiveMigration"}}
    config = from_sources([kv], [cm])
    assert config.feature_gates == {"Snapshot", "HostDisk", "LiveMigration"}
    assert config.use_emulation
