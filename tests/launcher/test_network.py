"""Masquerade networking: a port declared on the interface reaches the guest at the pod's address,
which is how `kvtui ssh` gets to the demo guest's SSH server with a key from cloud-init."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from launcher.images.demo import SHELL_PROMPT

from .conftest import LauncherProcess, demo_vmi

pytestmark = pytest.mark.integration


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client (Debian openssh-client)")
def test_ssh_reaches_the_guest_through_the_masquerade_port_with_the_cloud_init_key(
        launch: Callable[..., LauncherProcess], tmp_path: Path) -> None:
    # This launcher has no network namespace of its own, so the guest's port 22 is the host's.
    if not port_free(22):
        pytest.skip("port 22 is in use on this machine")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    user_data = ("#cloud-config\nhostname: sshdemo\nssh_authorized_keys:\n"
                 f"  - {key.with_suffix('.pub').read_text().strip()}\n")
    vmi = demo_vmi("sshdemo", user_data=user_data)
    vmi["spec"]["domain"]["devices"]["interfaces"] = [{"name": "default", "masquerade": {},
                                                        "ports": [{"name": "ssh", "port": 22}]}]
    vmi["spec"]["networks"] = [{"name": "default", "pod": {}}]
    launcher = launch(vmi)
    launcher.console().read_until(SHELL_PROMPT)
    result = subprocess.run(
        ["ssh", "-i", str(key), "-p", "22", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "root@127.0.0.1", "hostname; id -u"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sshdemo", "0"]
