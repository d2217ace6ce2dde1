"""End to end on the embedded cluster: API server, scheduler, node agent, reconciler, launcher and a
real QEMU guest (TCG), driven by real kubectl and the `kvtui` command as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
import yaml

from cluster.embedded import REPO_ROOT, EmbeddedCluster
from tests.api.conftest import KUBECTL

pytestmark = pytest.mark.integration
KVTUI = [sys.executable, "-m", "kvtui.cli"]
DEMO = REPO_ROOT / "manifests" / "examples" / "vm-demo.yaml"
SEED = REPO_ROOT / "manifests" / "examples" / "vmi-seed.yaml"


def _root_and_libvirt() -> str | None:
    if os.geteuid() != 0:
        return "needs root (pod network namespaces and libvirt's embedded driver)"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "libvirt-python is not installed (run scripts/setup.sh)"
    return None


class E2E:
    def __init__(self, handle: EmbeddedCluster, cache: Path):
        self.handle = handle
        self.kubeconfig = handle.kubeconfig
        self.env = {**os.environ, "KUBECONFIG": str(handle.kubeconfig), "KUBECACHEDIR": str(cache)}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=self.env,
                              timeout=120)
        if check and proc.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc

    def kvtui(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*KVTUI, *args, "--kubeconfig", str(self.kubeconfig)] if "--" not in args else
                              [*KVTUI, *args[:args.index("--")], "--kubeconfig", str(self.kubeconfig),
                               *args[args.index("--"):]],
                              capture_output=True, text=True, env=self.env, timeout=120, cwd=REPO_ROOT)
        if check and proc.returncode:
            raise AssertionError(f"kvtui {' '.join(args)}: {proc.stderr}")
        return proc

    def get(self, kind: str, name: str) -> dict | None:
        proc = self.kubectl("get", kind, name, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def wait(self, what: str, check: Callable[[], object], timeout: float = 120) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}\n{self.kubectl('get', 'vm,vmi,pods', check=False).stdout}")

    def vm_status(self, name: str) -> str:
        vm = self.get("vm", name) or {}
        return (vm.get("status") or {}).get("printableStatus", "")

    def vmi(self, name: str) -> dict | None:
        return self.get("vmi", name)

    def vmi_uid(self, name: str) -> str | None:
        vmi = self.vmi(name)
        return vmi["metadata"]["uid"] if vmi else None

    def wait_running(self, name: str, timeout: float = 120) -> str:
        def running() -> str | None:
            vmi = self.vmi(name)
            if vmi and (vmi.get("status") or {}).get("phase") == "Running" and self.vm_status(name) == "Running":
                return vmi["metadata"]["uid"]
            return None

        return str(self.wait(f"{name} Running", running, timeout))

    def apply_vm(self, name: str, strategy: str, **template_spec: object) -> None:
        vm = yaml.safe_load(DEMO.read_text())
        vm["metadata"]["name"] = name
        vm["spec"]["runStrategy"] = strategy
        vm["spec"]["template"]["spec"].update(template_spec)
        self.kubectl("apply", "-f", "-", input=json.dumps(vm))

    def launcher_pods(self, name: str) -> list[dict]:
        out = self.kubectl("get", "pods", "-l", f"vm.kubevirt.io/name={name}", "-o", "json").stdout
        return json.loads(out)["items"]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    reason = _root_and_libvirt()
    if reason:
        pytest.skip(reason)
    from launcher.images.demo import build_demo_image

    build_demo_image(progress=lambda line: None)
    tmp = tmp_path_factory.mktemp("e2e")
    handle = EmbeddedCluster(tmp / "data")
    handle.start(port=0, nodes=1, reconciler=True)
    try:
        yield E2E(handle, tmp / "kubecache")
    finally:
        handle.stop(kill_pods=True)


def test_demo_vm_applies_runs_and_prints_kubevirt_columns(e2e: E2E) -> None:
    e2e.kubectl("apply", "-f", str(DEMO))
    e2e.wait_running("demo")
    vm_header = e2e.kubectl("get", "vm").stdout.splitlines()[0].split()
    assert vm_header == ["NAME", "AGE", "STATUS", "READY"]
    vmi_rows = [line.split() for line in e2e.kubectl("get", "vmi").stdout.splitlines()]
    assert vmi_rows[0] == ["NAME", "AGE", "PHASE", "IP", "NODENAME", "READY"]
    assert vmi_rows[1][0] == "demo" and vmi_rows[1][2] == "Running" and vmi_rows[1][4] == "node-0"
    assert vmi_rows[1][3].startswith("10.244.")
    e2e.wait("demo Ready", lambda: e2e.kubectl("get", "vm", "demo").stdout.split()[-1] == "True")
    pods = e2e.kubectl("get", "pods").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1].split()[0].startswith("virt-launcher-demo-") and pods[1].split()[1:3] == ["2/2", "Running"]
    reasons = e2e.kubectl("get", "events", "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "SuccessfulCreate" in reasons and "Started" in reasons


def test_kvtui_console_shows_the_prompt_and_echoes_a_command(e2e: E2E) -> None:
    e2e.wait_running("demo")
    child = pexpect.spawn(KVTUI[0], [*KVTUI[1:], "console", "demo", "--kubeconfig", str(e2e.kubeconfig)],
                          cwd=str(REPO_ROOT), env=e2e.env, encoding="utf-8", timeout=60)
    try:
        child.expect("Press Ctrl")
        child.send("\r")
        child.expect(r"~ # ")
        child.send("echo console-$((40+2))\r")
        child.expect("console-42")
        child.send("\x1d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_stop_start_restart(e2e: E2E) -> None:
    first = e2e.wait_running("demo")
    assert "was scheduled to stop" in e2e.kvtui("stop", "demo").stdout
    e2e.wait("demo Stopped", lambda: e2e.vm_status("demo") == "Stopped" and e2e.vmi("demo") is None)
    assert e2e.get("vm", "demo")["spec"]["runStrategy"] == "Halted"
    assert e2e.launcher_pods("demo") == [] or e2e.wait("launcher pod gone", lambda: e2e.launcher_pods("demo") == [])
    e2e.kvtui("start", "demo")
    second = e2e.wait_running("demo")
    assert second != first
    e2e.kvtui("restart", "demo")
    third = e2e.wait_running("demo")
    assert third not in (first, second)
    assert "already running" in e2e.kvtui("start", "demo", check=False).stderr


def test_running_true_patch_starts_a_vm_as_in_the_seed(e2e: E2E) -> None:
    vm = yaml.safe_load(DEMO.read_text())
    vm["metadata"]["name"] = "patched"
    del vm["spec"]["runStrategy"]
    vm["spec"]["running"] = False
    e2e.kubectl("apply", "-f", "-", input=json.dumps(vm))
    e2e.wait("patched Stopped", lambda: e2e.vm_status("patched") == "Stopped")
    e2e.kubectl("patch", "vm", "patched", "--type", "merge", "-p", '{"spec":{"running":true}}')
    e2e.wait_running("patched")
    e2e.kubectl("delete", "vm", "patched")


def test_run_strategies(e2e: E2E) -> None:
    # Halted: no VMI until started.
    e2e.apply_vm("halted", "Halted")
    e2e.wait("halted Stopped", lambda: e2e.vm_status("halted") == "Stopped")
    assert e2e.vmi("halted") is None
    # Manual: nothing until a start request; a guest power-off is not undone.
    e2e.apply_vm("manual", "Manual")
    e2e.wait("manual Stopped", lambda: e2e.vm_status("manual") == "Stopped")
    time.sleep(2)
    assert e2e.vmi("manual") is None
    e2e.kvtui("start", "manual")
    e2e.wait_running("manual")
    # Always: a VMI killed from under it is replaced.
    e2e.apply_vm("always", "Always")
    uid = e2e.wait_running("always")
    e2e.kubectl("delete", "vmi", "always", "--wait=false")
    e2e.wait("always replaced", lambda: (e2e.vmi_uid("always") or uid) != uid)
    e2e.wait_running("always")
    # Once: after the guest powers off the VMI stays Succeeded, nothing is recreated.
    e2e.apply_vm("once", "Once")
    e2e.wait_running("once")
    _console_command(e2e, "once", "poweroff -f")
    e2e.wait("once Succeeded", lambda: ((e2e.vmi("once") or {}).get("status") or {}).get("phase") == "Succeeded")
    time.sleep(3)
    assert (e2e.vmi("once") or {}).get("status", {}).get("phase") == "Succeeded"
    assert e2e.vm_status("once") == "Stopped"
    # RerunOnFailure: a guest power-off (Succeeded) stays stopped.
    e2e.apply_vm("rerun", "RerunOnFailure")
    e2e.wait_running("rerun")
    _console_command(e2e, "rerun", "poweroff -f")
    e2e.wait("rerun Stopped", lambda: e2e.vm_status("rerun") == "Stopped")
    time.sleep(3)
    assert e2e.vm_status("rerun") == "Stopped"
    for name in ("halted", "manual", "always", "once", "rerun"):
        e2e.kubectl("delete", "vm", name, "--wait=false")


def _console_command(e2e: E2E, name: str, command: str) -> None:
    child = pexpect.spawn(KVTUI[0], [*KVTUI[1:], "console", name, "--kubeconfig", str(e2e.kubeconfig)],
                          cwd=str(REPO_ROOT), env=e2e.env, encoding="utf-8", timeout=60)
    try:
        child.expect("Press Ctrl")
        child.send("\r")
        child.expect(r"~ # ")
        child.send(command + "\r")
        time.sleep(1)
        child.send("\x1d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_a_launcher_failing_before_running_backs_off(e2e: E2E) -> None:
    vm = yaml.safe_load(DEMO.read_text())
    vm["metadata"]["name"] = "crashy"
    vm["spec"]["template"]["spec"]["domain"]["cpu"]["model"] = "NoSuchCPUModel"
    e2e.kubectl("apply", "-f", "-", input=json.dumps(vm))

    def failures() -> int:
        vm_obj = e2e.get("vm", "crashy") or {}
        return ((vm_obj.get("status") or {}).get("startFailure") or {}).get("consecutiveFailCount", 0)

    e2e.wait("a first start failure", lambda: failures() >= 1, timeout=90)
    e2e.wait("CrashLoopBackOff", lambda: e2e.vm_status("crashy") == "CrashLoopBackOff", timeout=60)
    first = e2e.get("vm", "crashy")["status"]["startFailure"]
    e2e.wait("a second start failure", lambda: failures() >= 2, timeout=90)
    second = e2e.get("vm", "crashy")["status"]["startFailure"]
    assert second["retryAfterTimestamp"] > first["retryAfterTimestamp"]
    reasons = e2e.kubectl("get", "events", "--field-selector", "involvedObject.name=crashy",
                          "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "SyncFailed" in reasons or "FailedCreate" in reasons
    e2e.kubectl("delete", "vm", "crashy")


def test_deleting_the_vm_removes_vmi_and_pod(e2e: E2E) -> None:
    e2e.apply_vm("doomed", "Always")
    e2e.wait_running("doomed")
    e2e.kubectl("delete", "vm", "doomed", "--timeout=90s")
    e2e.wait("VMI gone", lambda: e2e.vmi("doomed") is None)
    e2e.wait("pods gone", lambda: e2e.launcher_pods("doomed") == [])


def test_the_seed_vmi_applies_and_runs_with_the_host_disk_gate(e2e: E2E, tmp_path: Path) -> None:
    seed = yaml.safe_load(SEED.read_text())
    disk = Path(seed["spec"]["volumes"][0]["hostDisk"]["path"])
    disk.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-f", "raw", str(disk), "64M"], check=True, capture_output=True)
    # Without the gate the VMI fails, naming the field.
    e2e.kubectl("apply", "-f", str(SEED))
    name = seed["metadata"]["name"]
    e2e.wait("seed Failed", lambda: ((e2e.vmi(name) or {}).get("status") or {}).get("phase") == "Failed")
    conditions = json.dumps((e2e.vmi(name) or {}).get("status", {}).get("conditions"))
    assert "HostDisk" in conditions and "hostDisk" in conditions
    e2e.kubectl("delete", "-f", str(SEED))
    # With the gate, as the seed document enables it: it runs.
    e2e.kubectl("create", "namespace", "kubevirt", check=False)
    e2e.kubectl("create", "configmap", "kubevirt-config", "-n", "kubevirt", "--from-literal",
                "feature-gates=HostDisk")
    time.sleep(1)
    e2e.kubectl("apply", "-f", str(SEED))
    e2e.wait("seed Running", lambda: ((e2e.vmi(name) or {}).get("status") or {}).get("phase") == "Running",
             timeout=120)
    e2e.kubectl("delete", "-f", str(SEED), "--timeout=60s")


def test_kvtui_ssh_runs_a_command_in_the_demo_guest(e2e: E2E, tmp_path: Path) -> None:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    e2e.kvtui("create", "vm", "--name", "sshvm", "--ssh-key", str(key) + ".pub", "--apply")
    e2e.wait_running("sshvm")
    out = e2e.wait("ssh answers", lambda: (p := e2e.kvtui("ssh", "root@sshvm", "-i", str(key), "--", "uname", "-n",
                                                           check=False)).returncode == 0 and p.stdout, timeout=60)
    assert str(out).strip() == "sshvm"
    assert e2e.kvtui("ssh", "sshvm", "-i", str(key), "--", "exit 7", check=False).returncode == 7
    e2e.kubectl("delete", "vm", "sshvm", "--wait=false")


def test_killing_the_reconciler_midway_makes_no_duplicates(e2e: E2E) -> None:
    names = [f"burst{i}" for i in range(4)]
    for name in names:
        e2e.apply_vm(name, "Always")
    time.sleep(0.5)
    pid = e2e.handle.reconciler.daemon.pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    e2e.wait("the reconciler to die", lambda: e2e.handle.reconciler.daemon.pid() is None, timeout=10)
    e2e.handle.start(port=0, nodes=1, reconciler=True)
    assert e2e.handle.reconciler.daemon.pid() not in (None, pid)
    for name in names:
        e2e.wait_running(name)
    time.sleep(3)   # give a duplicate every chance to appear
    for name in names:
        assert len([p for p in e2e.launcher_pods(name) if not p["metadata"].get("deletionTimestamp")]) == 1
    vmis = json.loads(e2e.kubectl("get", "vmi", "-o", "json").stdout)["items"]
    assert sorted(v["metadata"]["name"] for v in vmis if v["metadata"]["name"].startswith("burst")) == names
    for name in names:
        e2e.kubectl("delete", "vm", name, "--wait=false")
