"""The reconciler's RBAC is least privilege: run the real reconciler under its own service-account
identity against an embedded API server that records every request, drive a VM through create →
start → stop → start → restart → delete, and compare what it did with what manifests/ grants.

No node agent runs, so launcher pods stay Pending: the reconciler's side of a VM's life is complete
without them (it creates, watches and deletes pods, never runs them)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cluster.apiserver import pki
from cluster.client import APIError, Client, load_api_client, resource_path
from kvtui.core import vm_actions
from tests.api.conftest import Cluster, start_cluster

from .conftest import REPO, find, rule_set

IDENTITY = "system:serviceaccount:kubevirt:kvtui-reconciler"
GROUPS = ["system:serviceaccounts", "system:serviceaccounts:kubevirt", "system:authenticated"]
NAMESPACE = "vms"
# `bind` is checked when a RoleBinding is created, against the ClusterRole it names; it is never a
# request of its own, so an audit log cannot show it.
NOT_A_REQUEST = {("rbac.authorization.k8s.io", "clusterroles", "bind")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probe(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()
    except OSError:
        return 0, ""


def _until(what: str, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Run:
    """One recorded end-to-end run; the audit records of the reconciler's identity."""

    def __init__(self, cluster: Cluster, audit: Path, health_port: int, proc: subprocess.Popen):
        self.cluster, self.audit, self.health_port, self.proc = cluster, audit, health_port, proc
        self.admin = Client(load_api_client(str(cluster.kubeconfig)))
        self.probes: dict[str, tuple[int, str]] = {}

    def records(self) -> list[dict]:
        return [r for r in map(json.loads, self.audit.read_text().splitlines()) if r["user"] == IDENTITY]

    def vmi(self, name: str) -> dict | None:
        try:
            return self.admin.get(resource_path("kubevirt.io", "v1", "virtualmachineinstances", NAMESPACE, name))
        except APIError as exc:
            if exc.status == 404:
                return None
            raise

    def pods_of(self, vmi: dict) -> list[dict]:
        listing = self.admin.request("GET", resource_path("", "v1", "pods", NAMESPACE),
                                     query={"labelSelector": f"kubevirt.io/created-by={vmi['metadata']['uid']}"})
        return listing["items"]

    def running(self, name: str, not_uid: str = "") -> dict:
        """The VMI of a started VM, once its launcher pod exists."""
        def check():
            vmi = self.vmi(name)
            if vmi and vmi["metadata"]["uid"] != not_uid and not vmi["metadata"].get("deletionTimestamp") \
                    and self.pods_of(vmi):
                return vmi
            return None
        return _until(f"VMI {name} and its launcher pod", check)

    def gone(self, name: str, uid: str) -> None:
        def check():
            vmi = self.vmi(name)
            pods = self.admin.request("GET", resource_path("", "v1", "pods", NAMESPACE),
                                      query={"labelSelector": f"kubevirt.io/created-by={uid}"})["items"]
            return (vmi is None or vmi["metadata"]["uid"] != uid) and not pods
        _until(f"VMI {name} ({uid}) and its pods to be gone", check)


def _vm(name: str, **spec) -> dict:
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name},
            "spec": {**spec, "template": {"spec": {"domain": {"memory": {"guest": "64Mi"}, "devices": {}}}}}}


def _act(action, client: Client, name: str) -> None:
    """A user's start/stop/restart, tried again when the reconciler wrote the VM in between (as a user
    would: the action's own resourceVersion guard refuses to act on a stale VM)."""
    for _ in range(50):
        try:
            action(client, NAMESPACE, name)
            return
        except APIError as exc:
            if exc.status not in (409, 422):
                raise
        except vm_actions.ActionError as exc:
            if "changed meanwhile" not in str(exc):
                raise
        time.sleep(0.1)
    raise AssertionError(f"{action.__name__} {name} kept conflicting")


def _drive(run: Run) -> None:
    admin = run.admin
    vms = resource_path("kubevirt.io", "v1", "virtualmachines", NAMESPACE)
    admin.create(vms, _vm("web", runStrategy="Halted"))
    _act(vm_actions.start, admin, "web")
    first = run.running("web")
    _act(vm_actions.stop, admin, "web")
    run.gone("web", first["metadata"]["uid"])
    _act(vm_actions.start, admin, "web")
    second = run.running("web")
    _act(vm_actions.restart, admin, "web")
    third = run.running("web", not_uid=second["metadata"]["uid"])
    admin.delete(f"{vms}/web")
    run.gone("web", third["metadata"]["uid"])
    _until("VM web to be deleted", lambda: "web" not in {v["metadata"]["name"] for v in admin.get(vms)["items"]})

    # A VM the reconciler cannot run: its FailedCreate warning repeats on every sync, and a repeated
    # event is one event whose count is patched.
    admin.create(vms, _vm("both", running=True, runStrategy="Always"))

    def repeated():
        events = admin.get(resource_path("", "v1", "events", NAMESPACE))["items"]
        return any(e["involvedObject"]["name"] == "both" and e["reason"] == "FailedCreate" and e["count"] >= 2
                   for e in events)
    _until("the FailedCreate event of VM both to repeat", repeated)
    admin.delete(f"{vms}/both")
    _until("VM both to be deleted", lambda: not admin.get(vms)["items"])


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    tmp = tmp_path_factory.mktemp("rbac")
    data_dir = tmp / "data"
    token = pki.issue_token(data_dir, IDENTITY, GROUPS)   # before the server starts: it loads tokens then
    audit = tmp / "audit.jsonl"
    cluster = start_cluster(tmp, extra_args=["--audit-log", str(audit)])
    proc = None
    try:
        cluster.kubectl("create", "namespace", "kubevirt")
        cluster.kubectl("create", "namespace", NAMESPACE)
        kubeconfig = tmp / "reconciler.kubeconfig"
        pki.write_kubeconfig(kubeconfig, pki.kubeconfig(cluster.url, pki.ensure_credentials(data_dir),
                                                        user="kvtui-reconciler", token=token))
        port = _free_port()
        def replica(health_port: int, log: str) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-m", "cluster.reconciler", "--kubeconfig", str(kubeconfig),
                                     "--leader-elect", "--lease-namespace", "kubevirt",
                                     "--config-namespace", "kubevirt", "--health-port", str(health_port)],
                                    cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                    stdout=subprocess.DEVNULL, stderr=open(tmp / log, "w"))

        proc = replica(port, "reconciler.log")
        result = Run(cluster, audit, port, proc)
        _until("the reconciler to be ready", lambda: _probe(port, "/readyz") == (200, "ok"))
        result.probes = {path: _probe(port, path) for path in ("/healthz", "/readyz", "/nothing")}
        standby_port = _free_port()
        standby = replica(standby_port, "standby.log")
        try:
            _until("the second replica to answer", lambda: _probe(standby_port, "/readyz")[0])
            result.probes["standby /readyz"] = _probe(standby_port, "/readyz")
        finally:
            standby.send_signal(signal.SIGTERM)
            standby.wait(timeout=20)
        _drive(result)
        proc.send_signal(signal.SIGTERM)   # releasing the lease on the way out is part of the run
        assert proc.wait(timeout=20) == 0
        yield result
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        cluster.handle.stop()


def _grants(rule: tuple, record: dict, namespace: str | None) -> bool:
    group, resource, verb, names = rule
    seen = record["resource"] + (f"/{record['subresource']}" if record["subresource"] else "")
    if (group, resource, verb) != (record["group"], seen, record["verb"]):
        return False
    if namespace is not None and record["namespace"] != namespace:
        return False
    # list/watch are allowed by name only with a metadata.name field selector, which the reconciler
    # always sends for them (the audit log records no selectors); other verbs carry the name.
    return not names or record["verb"] in ("list", "watch") or record["name"] in names


def test_the_reconciler_serves_health_and_readiness_and_a_standby_replica_is_ready_too(run):
    assert run.probes == {"/healthz": (200, "ok"), "/readyz": (200, "ok"), "/nothing": (404, "not found"),
                          "standby /readyz": (200, "standing by")}


def test_the_cluster_role_grants_exactly_what_the_reconciler_used(run, manifests):
    records = run.records()
    role = rule_set(find(manifests, "Role", "kvtui-reconciler", "kubevirt"))
    cluster_role = rule_set(find(manifests, "ClusterRole", "kvtui-reconciler"))
    outside_role = [r for r in records if not any(_grants(rule, r, "kubevirt") for rule in role)]
    used = {(r["group"], r["resource"] + (f"/{r['subresource']}" if r["subresource"] else ""), r["verb"])
            for r in outside_role}
    granted = {(g, res, v) for g, res, v, _ in cluster_role}
    assert sorted(granted - NOT_A_REQUEST) == sorted(used)
    assert {(g, res, v, names) for g, res, v, names in cluster_role if (g, res, v) in NOT_A_REQUEST} == {
        ("rbac.authorization.k8s.io", "clusterroles", "bind", ("kvtui-launcher",))}


def test_the_namespace_role_grants_exactly_the_lease_and_config_calls(run, manifests):
    records = run.records()
    role = rule_set(find(manifests, "Role", "kvtui-reconciler", "kubevirt"))
    unused = [rule for rule in role if not any(_grants(rule, r, "kubevirt") for r in records)]
    assert unused == []
    in_namespace = {(r["group"], r["resource"], r["verb"], r["name"]) for r in records
                    if r["namespace"] == "kubevirt"}
    assert in_namespace == {("coordination.k8s.io", "leases", "create", ""),
                            ("coordination.k8s.io", "leases", "get", "kvtui-reconciler"),
                            ("coordination.k8s.io", "leases", "update", "kvtui-reconciler"),
                            ("", "configmaps", "list", ""), ("", "configmaps", "watch", "")}


def test_the_launcher_identity_is_created_where_launchers_run(run, manifests):
    admin = run.admin
    account = admin.get(resource_path("", "v1", "serviceaccounts", NAMESPACE, "kvtui-launcher"))
    binding = admin.get(resource_path("rbac.authorization.k8s.io", "v1", "rolebindings", NAMESPACE,
                                      "kvtui-launcher"))
    assert account["metadata"]["name"] == "kvtui-launcher"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "kvtui-launcher"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kvtui-launcher", "namespace": NAMESPACE}]
    find(manifests, "ClusterRole", "kvtui-launcher")
    creations = [r for r in run.records() if r["resource"] in ("serviceaccounts", "rolebindings")]
    assert len(creations) == 2   # once per namespace, however many launcher pods it created there
