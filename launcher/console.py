"""The serial console broker: one connection to QEMU's serial socket (QEMU accepts only one),
shared by any number of clients. Every client gets the recent output on attach and everything
after it; one client at a time is interactive (its input reaches the guest), and a newer
interactive client takes over from the older one, which is told so. Read-only clients only watch.

The complete console log is QEMU's own `<log>` file; the broker keeps the last `HISTORY_BYTES`
in memory (seeded from that file when it starts) so late joiners see the boot output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HISTORY_BYTES = 64 * 1024
# A client this far behind is dropped rather than letting the launcher buffer without bound.
MAX_BACKLOG_BYTES = 8 * 1024 * 1024
TAKEN_OVER = "console taken over by another client"
GUEST_INFO_MARKER = b"kvtui-guest-info: "


@dataclass(eq=False)
class ConsoleClient:
    interactive: bool
    output: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    backlog: int = 0
    # Set when the client must go: why, in words for the user.
    closed_because: str | None = None

    def deliver(self, data: bytes) -> None:
        self.backlog += len(data)
        self.output.put_nowait(data)

    def close(self, why: str) -> None:
        if self.closed_because is None:
            self.closed_because = why
            self.output.put_nowait(None)

    async def next_output(self) -> bytes | None:
        """The next chunk for this client, or None once it has been closed."""
        data = await self.output.get()
        if data is not None:
            self.backlog -= len(data)
        return data


class SerialConsole:
    def __init__(self, socket_path: Path, log_path: Path | None = None,
                 on_guest_info: Callable[[dict[str, str]], None] | None = None) -> None:
        self.socket_path = socket_path
        self.log_path = log_path
        self._on_guest_info = on_guest_info
        self._history = bytearray(_log_tail(log_path))
        self._clients: list[ConsoleClient] = []
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._line = bytearray()
        self.connected = asyncio.Event()

    # -- the QEMU side -------------------------------------------------------------------------------

    async def connect(self, timeout: float = 30.0) -> None:
        """Connect to QEMU's serial socket (retrying while QEMU creates it) and start reading."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)
        self._writer = writer
        self.connected.set()
        self._reader_task = asyncio.create_task(self._read(reader), name="serial-console")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                self._output(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self.connected.clear()
            self._writer = None

    def _output(self, data: bytes) -> None:
        self._history += data
        if len(self._history) > HISTORY_BYTES:
            del self._history[: len(self._history) - HISTORY_BYTES]
        for client in list(self._clients):
            if client.backlog > MAX_BACKLOG_BYTES:
                self.detach(client, "console client too slow: more than 8 MiB of output unread")
            else:
                client.deliver(data)
        if self._on_guest_info is not None:
            self._scan_for_guest_info(data)

    def _scan_for_guest_info(self, data: bytes) -> None:
        self._line += data
        while b"\n" in self._line:
            line, _, rest = bytes(self._line).partition(b"\n")
            self._line = bytearray(rest)
            if GUEST_INFO_MARKER in line:
                self._parse_guest_info(line.split(GUEST_INFO_MARKER, 1)[1])
        if len(self._line) > 4096:  # no newline in sight: not a marker line
            self._line.clear()

    def _parse_guest_info(self, payload: bytes) -> None:
        with contextlib.suppress(ValueError):
            info = json.loads(payload.decode(errors="replace").strip())
            if isinstance(info, dict) and self._on_guest_info is not None:
                self._on_guest_info({str(k): str(v) for k, v in info.items()})

    async def close(self) -> None:
        for client in list(self._clients):
            self.detach(client, "the virtual machine stopped")
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task

    # -- the clients' side ---------------------------------------------------------------------------

    @property
    def history(self) -> bytes:
        return bytes(self._history)

    def attach(self, *, interactive: bool) -> ConsoleClient:
        """A new client, which first receives the recent history; an interactive one takes over."""
        client = ConsoleClient(interactive=interactive)
        if interactive:
            for other in self._clients:
                if other.interactive:
                    self.detach(other, TAKEN_OVER)
        if self._history:
            client.deliver(bytes(self._history))
        self._clients.append(client)
        return client

    def detach(self, client: ConsoleClient, why: str = "client disconnected") -> None:
        if client in self._clients:
            self._clients.remove(client)
        client.close(why)

    async def send(self, client: ConsoleClient, data: bytes) -> bool:
        """Type `data` on the console for `client`; False (nothing sent) unless it is the
        interactive client and QEMU is connected."""
        if not client.interactive or client not in self._clients or self._writer is None:
            return False
        self._writer.write(data)
        await self._writer.drain()
        return True

    @property
    def clients(self) -> int:
        return len(self._clients)


def _log_tail(path: Path | None, size: int = HISTORY_BYTES) -> bytes:
    if path is None:
        return b""
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - size))
            return log.read()
    except OSError:
        return b""
