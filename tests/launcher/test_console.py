"""The demo guest boots under the launcher and its serial console works through the control
endpoint: prompt, echoed commands, takeover by a newer client, read-only viewers, history for
late joiners, cloud-init user data, guest info, and pause/unpause stopping and resuming output."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import yaml

from launcher.images.demo import SHELL_PROMPT

from .conftest import LauncherProcess, Node, demo_vmi, spawn

pytestmark = pytest.mark.integration

USER_SCRIPT = """#!/bin/sh
echo "cloud-init says hello from $(hostname)" > /run/cloud-init-ran
echo "CLOUD-INIT-MARKER: $(cat /run/cloud-init-ran)"
"""


@pytest.fixture(scope="module")
def guest(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LauncherProcess]:
    """One demo guest for the whole module, booted with a cloud-init script and a control token."""
    work = tmp_path_factory.mktemp("console")
    vmi_file = work / "vmi.yaml"
    vmi_file.write_text(yaml.safe_dump(demo_vmi("demo", user_data=USER_SCRIPT)))
    launcher = spawn([sys.executable, "-m", "launcher", "--vmi", str(vmi_file)], work / "state",
                     node.env(KVTUI_CONTROL_TOKEN="s3cret"))
    yield launcher
    launcher.stop()


def test_the_demo_guest_boots_to_a_shell_prompt(guest: LauncherProcess) -> None:
    console = guest.console()
    console.read_until(SHELL_PROMPT)
    status = guest.wait_phase("Running")
    assert guest.condition("Ready")["status"] == "True"
    assert status["interfaces"] == [{"name": "default", "ipAddress": "192.0.2.10", "ipAddresses": ["192.0.2.10"],
                                     "mac": status["interfaces"][0]["mac"]}]
    assert guest.event_reasons()[:2] == ["Created", "Started"]
    console.close()


def test_a_typed_command_is_echoed_and_runs(guest: LauncherProcess) -> None:
    console = guest.console()
    console.read_until(SHELL_PROMPT)
    output = console.run("echo $((6 * 7))-answer", "42-answer")
    assert "echo $((6 * 7))-answer" in output  # the guest's tty echoes what was typed
    console.close()


def test_cloud_init_user_data_runs_in_the_guest(guest: LauncherProcess) -> None:
    console = guest.console()
    history = console.read_until("CLOUD-INIT-MARKER: cloud-init says hello from demo")
    assert "CLOUD-INIT-MARKER" in history
    output = console.run("cat /run/cloud-init-ran", "hello from demo\r\n")
    assert "cloud-init says hello from demo" in output
    console.close()


def test_a_late_joiner_sees_the_boot_output(guest: LauncherProcess) -> None:
    console = guest.console(readonly=True)
    history = console.read_until(SHELL_PROMPT)
    assert "kvtui demo guest: busybox shell on ttyS0" in history
    console.close()


def test_a_second_interactive_client_takes_over_and_the_first_is_told(guest: LauncherProcess) -> None:
    first = guest.console()
    first.read_until(SHELL_PROMPT)
    second = guest.console()
    first.wait_closed()
    assert first.texts == ["kvtui: console taken over by another client"]
    assert (first.close_code, first.close_reason) == (4000, "console taken over by another client")
    second.read_until(SHELL_PROMPT)
    assert "second-42" in second.run("echo second-$((6 * 7))", "second-42\r\n")
    second.close()


def test_read_only_viewers_watch_without_typing_or_taking_over(guest: LauncherProcess) -> None:
    typist = guest.console()
    typist.read_until(SHELL_PROMPT)
    viewer = guest.console(readonly=True)
    viewer.read_until(SHELL_PROMPT)
    viewer.type("echo viewer-typed-this\n")
    start = len(viewer.output)
    typist.run("echo typist-$((1 + 1))", "typist-2\r\n")
    viewer.read_until("typist-2", start=start)
    assert b"viewer-typed-this" not in typist.output
    assert typist.close_code is None
    typist.close()
    viewer.close()


def test_the_control_endpoint_needs_the_token(guest: LauncherProcess) -> None:
    status, body = guest.request("GET", "/healthz", token="wrong")
    assert status == 401
    assert body["message"].startswith("unauthorized")
    assert guest.request("GET", "/healthz") == (200, {"phase": "Running", "state": "Running",
                                                       "consoleClients": 0})


def test_the_guest_reports_its_os(guest: LauncherProcess) -> None:
    info = guest.wait_for("guestOSInfo", lambda: guest.status().get("guestOSInfo"))
    assert info["id"] == "kvtui-demo"
    assert info["kernelRelease"].endswith("-cloud-amd64")
    status, body = guest.request("GET", "/guest-info")
    assert status == 200
    assert body["os"]["prettyName"] == "kvtui demo guest (busybox)"


def test_pause_stops_the_guest_and_unpause_resumes_it(guest: LauncherProcess) -> None:
    console = guest.console()
    console.read_until(SHELL_PROMPT)
    assert guest.request("POST", "/pause") == (200, {"message": "VirtualMachineInstance paused"})
    paused = guest.condition("Paused")
    assert (paused["status"], paused["reason"], paused["message"]) == ("True", "PausedByUser",
                                                                       "VMI was paused by user")
    assert guest.condition("Ready")["status"] == "False"
    assert guest.request("POST", "/pause") == (409, {"message": "VirtualMachineInstance is paused"})

    start = console.type("echo resumed-$((2 * 21))\n")
    console.read_for(1.5)
    assert b"resumed-42" not in console.output[start:], "a paused guest must not echo anything"

    assert guest.request("POST", "/unpause") == (200, {"message": "VirtualMachineInstance unpaused"})
    console.read_until("resumed-42\r\n", timeout=30, start=start)
    assert guest.condition("Paused") is None
    assert guest.condition("Ready")["status"] == "True"
    assert guest.event_reasons()[-2:] == ["Paused", "Resumed"]
    console.close()
