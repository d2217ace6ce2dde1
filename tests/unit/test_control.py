"""The launcher's control endpoint as the TUI's own clients see it (`launcher_control`,
`ConsoleSession` over a direct socket): verbs and their 409s, the token, the console's takeover,
read-only viewers and the stop notice. The real serial-console broker runs against a stand-in for
QEMU's serial socket (a Unix socket that echoes like a tty), and a stand-in replaces the libvirt
side of the launcher: booting a guest is tests/launcher/test_console.py's job."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websocket

from kvtui.core import launcher_control
from kvtui.core.console_transport import ConsoleSession, DirectEndpoint, TransportError
from launcher.console import SerialConsole
from launcher.control import ActionRefused, control_server
from launcher.httpserver import HttpServer

TOKEN = "s3cret"
BOOT_OUTPUT = b"kvtui demo guest\r\n/ # "


@dataclass
class StandInLauncher:
    """The launcher's side of `Controls`, without libvirt."""

    console: SerialConsole
    paused: bool = False

    async def pause(self) -> str:
        if self.paused:
            raise ActionRefused("VirtualMachineInstance is paused")
        self.paused = True
        return "VirtualMachineInstance paused"

    async def unpause(self) -> str:
        if not self.paused:
            raise ActionRefused("VirtualMachineInstance is running")
        self.paused = False
        return "VirtualMachineInstance unpaused"

    async def soft_reboot(self) -> str:
        return "VirtualMachineInstance soft rebooted (ACPI)"

    async def reset(self) -> str:
        return "VirtualMachineInstance reset"

    async def shutdown(self) -> str:
        return "VirtualMachineInstance is shutting down"

    def guest_info(self) -> dict[str, Any] | None:
        return None

    def health(self) -> dict[str, Any]:
        return {"phase": "Running", "consoleClients": self.console.clients}


@dataclass
class Endpoint:
    loop: asyncio.AbstractEventLoop
    port: int
    console: SerialConsole
    server: HttpServer
    # everything typed into the guest's serial port
    typed: bytearray = field(default_factory=bytearray)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def direct(self, token: str | None = TOKEN) -> DirectEndpoint:
        return DirectEndpoint("127.0.0.1", self.port, token)


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="control-test", daemon=True)
    thread.start()
    typed = bytearray()

    async def serial_port(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BOOT_OUTPUT)
        while data := await reader.read(4096):
            typed.extend(data)
            writer.write(data.replace(b"\n", b"\r\n"))  # a tty's echo

    async def start() -> tuple[asyncio.Server, Any, SerialConsole, int]:
        qemu = await asyncio.start_unix_server(serial_port, str(tmp_path / "serial0"))
        console = SerialConsole(tmp_path / "serial0")
        await console.connect()
        server = control_server(StandInLauncher(console), TOKEN)
        return qemu, server, console, await server.start("127.0.0.1", 0)

    qemu, server, console, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    yield Endpoint(loop, port, console, server, typed)

    async def stop() -> None:
        await console.close()
        await server.close()
        qemu.close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _output_until(session: ConsoleSession, needle: bytes) -> bytes:
    output = b""
    while needle not in output:
        event = session.receive()
        assert event.kind == "data", f"expected console output, got {event}"
        output += event.data
    return output


def test_the_verbs_answer_with_their_message_or_the_409_reason(endpoint: Endpoint) -> None:
    direct = endpoint.direct()
    assert launcher_control.act(direct, "pause", "demo") == "VirtualMachineInstance paused"
    with pytest.raises(
        launcher_control.LauncherError,
        match='cannot pause VirtualMachine "demo": VirtualMachineInstance is paused',
    ):
        launcher_control.act(direct, "pause", "demo")
    assert launcher_control.act(direct, "unpause", "demo") == "VirtualMachineInstance unpaused"
    assert (
        launcher_control.act(direct, "soft_reboot", "demo") == "VirtualMachineInstance soft rebooted (ACPI)"
    )
    with pytest.raises(
        launcher_control.LauncherError, match="the guest has not reported any information yet"
    ):
        launcher_control.guest_info(direct, "demo")


def test_every_request_needs_the_token(endpoint: Endpoint) -> None:
    with pytest.raises(
        launcher_control.LauncherError,
        match="unauthorized: send the launcher's control token as 'Authorization: Bearer <token>'",
    ):
        launcher_control.act(endpoint.direct(token="wrong"), "reset", "demo")
    session = ConsoleSession(endpoint.direct(token=None))
    with pytest.raises(TransportError, match="refused the console: unauthorized"):
        session.connect()
    request = urllib.request.Request(
        f"http://127.0.0.1:{endpoint.port}/healthz", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"phase": "Running", "consoleClients": 0}


def test_the_console_shows_the_history_then_echoes_what_is_typed(endpoint: Endpoint) -> None:
    session = ConsoleSession(endpoint.direct())
    session.connect()
    assert _output_until(session, b"/ # ").startswith(b"kvtui demo guest")
    session.send(b"echo hi\n")
    assert b"echo hi\r\n" in _output_until(session, b"echo hi\r\n")
    session.close()


def test_a_second_interactive_client_takes_over_and_the_first_is_told(endpoint: Endpoint) -> None:
    first = ConsoleSession(endpoint.direct())
    first.connect()
    _output_until(first, b"/ # ")
    second = ConsoleSession(endpoint.direct())
    second.connect()
    notice = first.receive()
    assert (notice.kind, notice.text, notice.taken_over) == (
        "notice",
        "kvtui: console taken over by another client",
        True,
    )
    closed = first.receive()
    assert (closed.kind, closed.text, closed.taken_over) == (
        "closed",
        "console taken over by another client",
        True,
    )
    _output_until(second, b"/ # ")
    second.send(b"second\n")
    _output_until(second, b"second\r\n")
    second.close()
    first.close()


def test_a_read_only_viewer_watches_without_typing(endpoint: Endpoint) -> None:
    typist = ConsoleSession(endpoint.direct())
    typist.connect()
    _output_until(typist, b"/ # ")
    viewer = websocket.create_connection(
        f"ws://127.0.0.1:{endpoint.port}/console?readonly=1",
        timeout=10,
        header=[f"Authorization: Bearer {TOKEN}"],
    )
    assert viewer.recv().startswith(b"kvtui demo guest")
    viewer.send_binary(b"viewer-typed\n")
    typist.send(b"typist-typed\n")
    watched = b""
    while b"typist-typed" not in watched:
        watched += viewer.recv()
    assert bytes(endpoint.typed) == b"typist-typed\n"
    viewer.close()
    typist.close()


def test_a_stopped_vm_closes_the_console_saying_so_and_refuses_new_ones(endpoint: Endpoint) -> None:
    session = ConsoleSession(endpoint.direct())
    session.connect()
    _output_until(session, b"/ # ")
    endpoint.run(endpoint.console.close())
    notice = session.receive()
    assert (notice.kind, notice.text) == ("notice", "kvtui: the virtual machine stopped")
    closed = session.receive()
    assert (closed.kind, closed.text, closed.taken_over) == ("closed", "the virtual machine stopped", False)
    session.close()
    late = ConsoleSession(endpoint.direct())
    with pytest.raises(TransportError, match="the serial console is not available: the VM is not running"):
        late.connect()


def test_shutting_the_launcher_down_tells_console_clients_the_vm_stopped(endpoint: Endpoint) -> None:
    session = ConsoleSession(endpoint.direct())
    session.connect()
    _output_until(session, b"/ # ")

    async def shut_down() -> None:  # the order of Launcher.run's cleanup
        await endpoint.console.close()
        await endpoint.server.close()

    shutting_down = asyncio.run_coroutine_threadsafe(shut_down(), endpoint.loop)
    assert session.receive().text == "kvtui: the virtual machine stopped"
    closed = session.receive()  # and the client answers the close, which lets the server finish
    assert (closed.kind, closed.text) == ("closed", "the virtual machine stopped")
    shutting_down.result(30)
    session.close()
