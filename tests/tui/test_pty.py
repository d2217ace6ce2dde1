"""The real `kvtui` in a real terminal (tmux) against the embedded cluster: it starts, lists the VMs,
quits with Ctrl+Q and leaves the terminal sane. The console part needs a running launcher (node agent
+ QEMU); it is skipped with the reason when the demo VM does not reach Running within 60 s."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cluster.embedded import REPO_ROOT, EmbeddedCluster
from tests.api.conftest import Cluster

KVTUI = str(Path(sys.executable).parent / "kvtui")
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh installs it)")


class Tmux:
    def __init__(self, command: str, env: dict[str, str], width: int = 120, height: int = 36):
        self.name = f"kvtui-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                        f"env {exports} {command}; echo EXITED $?; stty -a; echo SETTINGS-SHOWN; sleep 600"], check=True)
        # Pin the size: with no client attached, tmux may otherwise shrink the window to its default.
        subprocess.run(["tmux", "set-option", "-t", self.name, "window-size", "manual"], capture_output=True)
        subprocess.run(["tmux", "resize-window", "-t", self.name, "-x", str(width), "-y", str(height)],
                       capture_output=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True,
                              text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        size = subprocess.run(["tmux", "display", "-p", "-t", self.name, "#{window_width}x#{window_height}"],
                              capture_output=True, text=True).stdout.strip()
        raise AssertionError(f"{text!r} did not appear on the terminal ({size}):\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture(scope="module")
def running_cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pty")
    handle = EmbeddedCluster(tmp / "data")
    try:    # a node agent runs the launcher (and QEMU) where this machine can; without one the console is skipped
        status = handle.start(port=0, crds=[REPO_ROOT / "manifests" / "crds"], nodes=1)
    except Exception:
        handle.stop()
        status = handle.start(port=0, crds=[REPO_ROOT / "manifests" / "crds"])
    cluster = Cluster(handle.data_dir, status.kubeconfig, status.url, tmp / "kubecache", handle)
    cluster.kubectl("apply", "--validate=false", "-f", str(REPO_ROOT / "manifests" / "examples" / "vm-demo.yaml"))
    # Until `kvtui cluster start` runs the reconciler itself, run it beside the API server.
    reconciler = subprocess.Popen([sys.executable, "-m", "cluster.reconciler", "--kubeconfig", str(cluster.kubeconfig)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
    yield cluster, tmp
    # Delete the VMs first so the launchers shut their guests down before the cluster goes away.
    cluster.kubectl("delete", "vm", "--all", "--wait=false", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and cluster.kubectl("get", "pods", "-o", "name", check=False).stdout.strip():
        time.sleep(0.5)
    reconciler.terminate()
    reconciler.wait(10)
    cluster.handle.stop()


def _env(cluster, tmp: Path) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig), "XDG_CONFIG_HOME": str(tmp / "config"), "TERM": "xterm-256color"}


def _sane(screen: str) -> None:
    assert "EXITED 0" in screen, screen
    settings = screen[screen.index("EXITED 0"):]
    for flag in (" icanon", " echo ", " isig", " icrnl", " opost"):
        assert flag in settings.replace("\n", " ") + " ", f"terminal left without{flag}:\n{settings}"


def test_starts_lists_and_quits_leaving_the_terminal_sane(running_cluster):
    cluster, tmp = running_cluster
    term = Tmux(KVTUI, _env(cluster, tmp))
    try:
        screen = term.wait_for("demo")
        assert "Context: kvtui" in screen and "VirtualMachines" in screen
        term.keys("?")
        term.wait_for("Console")
        term.keys("Escape")
        term.keys("C-q")
        _sane(term.wait_for("SETTINGS-SHOWN"))
    finally:
        term.kill()


def test_console_prompt_command_and_detach(running_cluster):
    from kvtui.core.connection import connect
    cluster, tmp = running_cluster
    client = connect(str(cluster.kubeconfig))
    path = "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/demo"
    if not client.get("/api/v1/nodes").get("items"):
        time.sleep(5)     # a node agent registers its node within seconds of the cluster starting
        if not client.get("/api/v1/nodes").get("items"):
            pytest.skip("the demo VM cannot reach Running: the cluster has no node (no node agent runs the "
                        "launcher here)")
    deadline = time.monotonic() + 60
    while (client.get(path).get("status") or {}).get("printableStatus") != "Running":
        if time.monotonic() > deadline:
            status = (client.get(path).get("status") or {}).get("printableStatus")
            pytest.skip(f"the demo VM did not reach Running within 60 s (status {status!r}): the console needs the "
                        "node agent and QEMU on this machine")
        time.sleep(1)
    term = Tmux(KVTUI, _env(cluster, tmp))
    try:
        term.wait_for("Running")
        term.keys("a")
        term.wait_for("connected", timeout=30)
        term.keys("Enter")
        term.wait_for("#", timeout=30)
        term.keys("echo kvtui-$((40+2))", "Enter")
        term.wait_for("kvtui-42", timeout=20)
        term.keys("C-]")
        term.wait_for("VirtualMachines")
        term.keys("C-o")                      # full-screen passthrough: the app steps aside
        term.wait_for("Ctrl+] returns to kvtui", timeout=30)
        term.keys("echo pass-$((20+3))", "Enter")
        term.wait_for("pass-23", timeout=20)
        term.keys("C-]")
        term.wait_for("VirtualMachines")
        term.keys("C-q")
        _sane(term.wait_for("SETTINGS-SHOWN"))
    finally:
        term.kill()


def test_edit_in_editor_applies_the_change(running_cluster):
    from kvtui.core.connection import connect
    from kvtui.core.vm_templates import VMOptions, vm_manifest
    cluster, tmp = running_cluster
    client = connect(str(cluster.kubeconfig))
    path = "/apis/kubevirt.io/v1/namespaces/default/virtualmachines"
    client.create(path, vm_manifest(VMOptions(name="aaa-edit", run_strategy="Halted")))
    editor = tmp / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/runStrategy: Halted/runStrategy: Manual/' \"$1\"\n")
    editor.chmod(0o755)
    term = Tmux(KVTUI, {**_env(cluster, tmp), "EDITOR": str(editor)})
    try:
        term.wait_for("aaa-edit")
        term.keys("E")                        # the first row: aaa-edit sorts before demo
        deadline = time.monotonic() + 20
        while client.get(f"{path}/aaa-edit")["spec"]["runStrategy"] != "Manual":
            assert time.monotonic() < deadline, term.screen()
            time.sleep(0.2)
        term.wait_for("Manu")                 # back in the app, the list shows the applied edit
        term.keys("C-q")
        _sane(term.wait_for("SETTINGS-SHOWN"))
    finally:
        term.kill()
