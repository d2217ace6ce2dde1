"""A launcher against a real API server (`--kubeconfig`): it reads its VMI and a cloud-init
Secret, keeps the VMI's status current (what `kubectl get vmi` shows), records events, and shuts
the guest down when the VMI is deleted."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.images.demo import SHELL_PROMPT
from tests.api.conftest import Cluster, start_cluster

from .conftest import LauncherProcess, Node, demo_vmi, spawn

pytestmark = pytest.mark.integration

USER_SCRIPT = "#!/bin/sh\necho \"SECRET-USER-DATA: $((40 + 2))\"\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.handle.stop()


def vmi_status(cluster: Cluster, name: str) -> dict:
    return cluster.kubectl_json("get", "vmi", name).get("status") or {}


def condition(status: dict, kind: str) -> dict | None:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), None)


def event_reasons(cluster: Cluster, name: str) -> list[str]:
    events = cluster.kubectl_json("get", "events", "--field-selector", f"involvedObject.name={name}")["items"]
    events.sort(key=lambda e: (e.get("firstTimestamp") or "", e["metadata"].get("creationTimestamp") or ""))
    return [e["reason"] for e in events]


def start_launcher(cluster: Cluster, node: Node, work: Path, name: str) -> LauncherProcess:
    return spawn([sys.executable, "-m", "launcher", "--kubeconfig", str(cluster.kubeconfig)], work / "state",
                 node.env(VMI_NAME=name, POD_NAMESPACE="default"))


def test_the_launcher_runs_its_vmi_and_reports_through_the_api(cluster: Cluster, node: Node,
                                                                tmp_path: Path) -> None:
    cluster.kubectl("create", "secret", "generic", "demo-userdata", f"--from-literal=userdata={USER_SCRIPT}")
    vmi = demo_vmi("api-demo")
    vmi["spec"]["domain"]["devices"]["disks"].append({"name": "cloudinit", "disk": {"bus": "virtio"}})
    vmi["spec"]["volumes"].append({"name": "cloudinit",
                                   "cloudInitNoCloud": {"secretRef": {"name": "demo-userdata"}}})
    cluster.kubectl("create", "-f", "-", input=json.dumps(vmi))
    launcher = start_launcher(cluster, node, tmp_path, "api-demo")
    try:
        console = launcher.console()
        console.read_until("SECRET-USER-DATA: 42")
        console.read_until(SHELL_PROMPT)
        launcher.wait_for("phase Running in the API", lambda: vmi_status(cluster, "api-demo").get("phase") == "Running")
        status = launcher.wait_for("guestOSInfo in the API",
                                   lambda: (s := vmi_status(cluster, "api-demo")).get("guestOSInfo") and s)
        assert status["nodeName"] == "node-1"
        assert status["interfaces"][0]["ipAddress"] == "192.0.2.10"
        assert status["guestOSInfo"]["id"] == "kvtui-demo"
        assert condition(status, "Ready")["status"] == "True"
        assert condition(status, "SoftwareEmulation")["status"] == "True"
        table = cluster.kubectl("get", "vmi", "api-demo", "--no-headers").stdout.split()
        assert table[0] == "api-demo" and table[2:] == ["Running", "192.0.2.10", "node-1", "True"]
        assert set(event_reasons(cluster, "api-demo")) == {"Created", "Started"}

        assert launcher.request("POST", "/pause")[0] == 200
        paused = condition(vmi_status(cluster, "api-demo"), "Paused")
        assert (paused["status"], paused["reason"]) == ("True", "PausedByUser")
        assert launcher.request("POST", "/unpause")[0] == 200
        assert condition(vmi_status(cluster, "api-demo"), "Paused") is None

        cluster.kubectl("delete", "vmi", "api-demo", "--wait=false")
        console.read_until("Requesting system poweroff", timeout=60)
        assert launcher.wait_exit() == 0
        # Event times have one-second resolution, so only the set is certain.
        assert {"Created", "Started", "Paused", "Resumed", "ShuttingDown", "Stopped"} == set(
            event_reasons(cluster, "api-demo"))
    finally:
        launcher.stop()


def test_a_missing_cloud_init_secret_fails_the_vmi_naming_it(cluster: Cluster, node: Node, tmp_path: Path) -> None:
    vmi = demo_vmi("no-secret")
    vmi["spec"]["domain"]["devices"]["disks"].append({"name": "cloudinit", "disk": {"bus": "virtio"}})
    vmi["spec"]["volumes"].append({"name": "cloudinit", "cloudInitNoCloud": {"secretRef": {"name": "absent"}}})
    cluster.kubectl("create", "-f", "-", input=json.dumps(vmi))
    launcher = start_launcher(cluster, node, tmp_path, "no-secret")
    try:
        assert launcher.wait_exit() == 1
        status = vmi_status(cluster, "no-secret")
        assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec")
        assert condition(status, "Synchronized")["message"] == (
            "spec.volumes[1].cloudInitNoCloud.secretRef.name: Secret \"absent\" not found in the VMI's "
            "namespace: create it")
        assert event_reasons(cluster, "no-secret") == ["SyncFailed"]
    finally:
        launcher.stop()
