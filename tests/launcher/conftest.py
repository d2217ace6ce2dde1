"""Launchers as real processes (`python -m launcher`) running the demo guest under real libvirt and
QEMU (TCG), with a console client, plus the session-wide node caches they share: the KVM verdict
and libvirt's QEMU capability cache are filled once per session, as on a node."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websocket
import yaml

from launcher.images.demo import DEMO_IMAGE, SHELL_PROMPT, build_demo_image

REPO = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 90.0

DEMO_VMI: dict[str, Any] = {
    "apiVersion": "kubevirt.io/v1",
    "kind": "VirtualMachineInstance",
    "metadata": {"name": "demo", "namespace": "default"},
    "spec": {
        "terminationGracePeriodSeconds": 20,
        "domain": {
            "memory": {"guest": "128Mi"},
            "firmware": {"kernelBoot": {"kernelArgs": "console=ttyS0 quiet",
                                        "container": {"image": DEMO_IMAGE, "kernelPath": "/boot/vmlinuz",
                                                      "initrdPath": "/boot/initrd.img"}}},
            "devices": {"disks": [{"name": "rootdisk", "disk": {"bus": "virtio"}}]},
        },
        "volumes": [{"name": "rootdisk", "containerDisk": {"image": DEMO_IMAGE}}],
    },
}


def demo_vmi(name: str = "demo", *, user_data: str | None = None, grace: int | None = None,
             **spec: Any) -> dict[str, Any]:
    vmi = copy.deepcopy(DEMO_VMI)
    vmi["metadata"]["name"] = name
    if user_data is not None:
        vmi["spec"]["domain"]["devices"]["disks"].append({"name": "cloudinit", "disk": {"bus": "virtio"}})
        vmi["spec"]["volumes"].append({"name": "cloudinit", "cloudInitNoCloud": {"userData": user_data}})
    if grace is not None:
        vmi["spec"]["terminationGracePeriodSeconds"] = grace
    vmi["spec"].update(spec)
    return vmi


@dataclass
class Node:
    """What the node agent would give every launcher on this node."""

    node_dir: Path
    image_store: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KVTUI_")}
        env.update({"KVTUI_NODE_DIR": str(self.node_dir), "KVTUI_IMAGE_STORE": str(self.image_store),
                    "NODE_NAME": "node-1", "POD_IP": "192.0.2.10", "PYTHONPATH": str(REPO)})
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Node:
    """The demo image and warm node caches, once per session (the capability probe alone takes
    tens of seconds under TCG)."""
    base = tmp_path_factory.mktemp("node")
    node = Node(node_dir=base / "node", image_store=base / "images")
    build_demo_image(node.image_store, progress=lambda line: None)
    warm = subprocess.run([sys.executable, "-m", "launcher", "--warm-node", "--state-dir", str(base / "warm")],
                          env=node.env(), capture_output=True, text=True, timeout=300)
    assert warm.returncode == 0, warm.stderr
    return node


@dataclass
class LauncherProcess:
    """One `python -m launcher` and its state directory."""

    process: subprocess.Popen
    state_dir: Path
    stdout_path: Path
    stderr_path: Path
    port: int = 0
    token: str | None = None
    consoles: list[Console] = field(default_factory=list)

    # -- observing ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.state_dir / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def events(self) -> list[dict[str, Any]]:
        try:
            lines = (self.state_dir / "events.jsonl").read_text().splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def event_reasons(self) -> list[str]:
        return [e["reason"] for e in self.events()]

    def condition(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.status().get("conditions", []) if c["type"] == kind), None)

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float = BOOT_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.process.poll() is not None and not predicate():
                break
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; status {json.dumps(self.status())}; "
                             f"events {self.event_reasons()}; stderr:\n{self.stderr_path.read_text()[-3000:]}")

    def wait_phase(self, phase: str, timeout: float = BOOT_TIMEOUT) -> dict[str, Any]:
        self.wait_for(f"phase {phase}", lambda: self.status().get("phase") == phase, timeout)
        return self.status()

    def wait_exit(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    # -- acting ------------------------------------------------------------------------------------

    def request(self, method: str, path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def console(self, readonly: bool = False, timeout: float = BOOT_TIMEOUT) -> Console:
        """A console client; retried while the endpoint answers 409 (VM not running yet), as
        virtctl retries its 400s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                console = Console(self.port, readonly=readonly, token=self.token)
                break
            except websocket.WebSocketBadStatusException as exc:
                if exc.status_code != 409 or time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.1)
        self.consoles.append(console)
        return console

    def qemu_pid(self) -> int | None:
        # <namespace>_<name>.pid; driver.pid beside it is the launcher itself (the embedded driver).
        for pidfile in (self.state_dir / "libvirt" / "run" / "qemu").glob("*_*.pid"):
            try:
                return int(pidfile.read_text().strip())
            except (OSError, ValueError):
                continue
        return None

    def stop(self) -> None:
        """Teardown: whatever state the test left, no launcher or QEMU survives it."""
        for console in self.consoles:
            console.close()
        qemu = self.qemu_pid()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        if qemu is not None:
            try:
                os.kill(qemu, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Console:
    """A console WebSocket client: accumulates output, text frames and the close reason."""

    def __init__(self, port: int, *, readonly: bool = False, token: str | None = None) -> None:
        url = f"ws://127.0.0.1:{port}/console" + ("?readonly=1" if readonly else "")
        headers = [f"Authorization: Bearer {token}"] if token else []
        # The handshake may wait while the launcher is busy starting the domain; reads then poll.
        self.ws = websocket.create_connection(url, timeout=10, header=headers)
        self.ws.settimeout(0.2)
        self.output = bytearray()
        self.texts: list[str] = []
        self.close_code: int | None = None
        self.close_reason = ""

    def _pump(self) -> bool:
        """Read one frame if one arrives soon; False once the server closed."""
        if self.close_code is not None:
            return False
        try:
            opcode, data = self.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return True
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            self.close_code = self.close_code or 1006
            return False
        if opcode == websocket.ABNF.OPCODE_BINARY:
            self.output += data
        elif opcode == websocket.ABNF.OPCODE_TEXT:
            self.texts.append(data.decode())
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
            self.close_reason = data[2:].decode(errors="replace")
            return False
        return True

    def read_until(self, needle: str, timeout: float = BOOT_TIMEOUT, start: int = 0) -> str:
        """Output up to the first `needle` at or after byte `start`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            index = self.output.find(needle.encode(), start)
            if index >= 0:
                return self.output[: index + len(needle)].decode(errors="replace")
            if not self._pump():
                break
        raise AssertionError(f"console never showed {needle!r}; last output:\n"
                             f"{self.output[-1500:].decode(errors='replace')}")

    def read_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._pump():
            pass

    def wait_closed(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._pump():
            pass
        assert self.close_code is not None, "the console was not closed"

    def type(self, text: str) -> int:
        """Send keystrokes; returns the output offset before them (for read_until's `start`)."""
        offset = len(self.output)
        self.ws.send_binary(text.encode())
        return offset

    def run(self, command: str, marker: str, timeout: float = 30) -> str:
        """Type `command` and wait for `marker` in what follows. The guest's tty echoes the command,
        so the marker must be something only running it prints (e.g. `echo x-$((6 * 7))` → `x-42`)."""
        start = self.type(command + "\n")
        return self.read_until(marker, timeout, start=start)[start:]

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:  # noqa: BLE001 - teardown of an already broken socket
            pass


@pytest.fixture
def launch(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., LauncherProcess]]:
    """launch(vmi, **env) → a standalone launcher (`--vmi FILE`) on its own state directory."""
    started: list[LauncherProcess] = []

    def start(vmi: dict[str, Any], *args: str, **env: str) -> LauncherProcess:
        work = tmp_path_factory.mktemp(vmi["metadata"]["name"])
        vmi_file = work / "vmi.yaml"
        vmi_file.write_text(yaml.safe_dump(vmi))
        state = work / "state"
        launcher = spawn([sys.executable, "-m", "launcher", "--vmi", str(vmi_file), *args], state,
                         node.env(**env))
        started.append(launcher)
        return launcher

    yield start
    for launcher in started:
        launcher.stop()


def spawn(command: list[str], state: Path, env: dict[str, str]) -> LauncherProcess:
    """Start a launcher with a free control port and wait until its endpoint answers."""
    state.mkdir(parents=True, exist_ok=True)
    stdout, stderr = state.parent / "launcher.out", state.parent / "launcher.err"
    process = subprocess.Popen([*command, "--state-dir", str(state), "--control-port", "0"], env=env,
                               stdout=open(stdout, "w"), stderr=open(stderr, "w"), cwd=REPO)
    launcher = LauncherProcess(process, state, stdout, stderr, token=env.get("KVTUI_CONTROL_TOKEN"))
    port_file = state / "control.port"
    launcher.wait_for("the control endpoint", lambda: port_file.exists() and port_file.read_text().strip(), 60)
    launcher.port = int(port_file.read_text())
    return launcher


def prompt() -> str:
    return SHELL_PROMPT
