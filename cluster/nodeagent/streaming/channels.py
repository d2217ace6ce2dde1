"""The `channel.k8s.io` family of WebSocket subprotocols: each message is one channel byte and a
payload (binary, or base64 text), and how each version reports the final Status."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: [255, channel] says the sender is done writing that channel


@dataclass(frozen=True)
class ChannelProtocol:
    name: str
    base64: bool = False       # payloads travel as text: the channel as a digit, then base64
    json_status: bool = True   # v4+: the final Status as JSON on channel 3; v1-v3: only a failure's text
    close_signal: bool = False  # v5: half-close of single channels


_PROTOCOLS = {p.name: p for p in (
    ChannelProtocol("v5.channel.k8s.io", close_signal=True),
    ChannelProtocol("v4.channel.k8s.io"),
    ChannelProtocol("v4.base64.channel.k8s.io", base64=True),
    ChannelProtocol("channel.k8s.io", json_status=False),
    ChannelProtocol("base64.channel.k8s.io", base64=True, json_status=False),
    ChannelProtocol("", json_status=False),  # no subprotocol offered: the original binary protocol
)}

# In the order a client's offer is matched against (the client's own order wins; see aiohttp).
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io",
                  "base64.channel.k8s.io")
# Port forwarding over plain channels stops at v4: there is no v5 for it.
PORT_FORWARD_PROTOCOLS = ("v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io",
                          "base64.channel.k8s.io")


def protocol_named(name: str | None) -> ChannelProtocol:
    return _PROTOCOLS.get(name or "", _PROTOCOLS[""])


@dataclass(frozen=True)
class Incoming:
    channel: int
    data: bytes


class ChannelSocket:
    """A WebSocket carrying channels. Sends are serialised: several pumps write concurrently."""

    def __init__(self, ws: web.WebSocketResponse, protocol: ChannelProtocol):
        self.ws = ws
        self.protocol = protocol
        self._send_lock = asyncio.Lock()

    async def send(self, channel: int, data: bytes) -> None:
        async with self._send_lock:
            if self.ws.closed:
                return
            try:
                if self.protocol.base64:
                    await self.ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
                else:
                    await self.ws.send_bytes(bytes([channel]) + data)
            except (ConnectionResetError, RuntimeError):
                pass  # the peer is gone; the receive loop notices and ends the session

    async def receive(self) -> Incoming | None:
        """The next channel message; None once the peer has closed the connection."""
        while True:
            msg = await self.ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return None
            if msg.type == WSMsgType.TEXT and msg.data and self.protocol.base64:
                try:
                    return Incoming(ord(msg.data[0]) - ord("0"), base64.b64decode(msg.data[1:]))
                except ValueError:
                    continue  # not base64: drop the message as the kubelet does
            if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT) and msg.data and not self.protocol.base64:
                # The Python client sends str stdin as text messages; their bytes are the same frame.
                data = msg.data.encode() if isinstance(msg.data, str) else msg.data
                return Incoming(data[0], bytes(data[1:]))
            # An empty message carries nothing: keep reading.

    async def send_status(self, status: dict[str, Any]) -> None:
        """The final Status on the error channel, in the form the negotiated version expects."""
        if self.protocol.json_status:
            await self.send(ERROR, json.dumps(status, separators=(",", ":")).encode())
        elif status.get("status") != "Success":
            await self.send(ERROR, str(status.get("message", "")).encode())

    async def close(self) -> None:
        try:
            await self.ws.close()
        except (ConnectionResetError, RuntimeError):
            pass


# --------------------------------------------------------------------------------------------
# Status bodies, as the kubelet writes them


def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_code_status(command: list[str], code: int) -> dict[str, Any]:
    """A non-zero exit, in the form client-go maps back to the exit code."""
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"[{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str) -> dict[str, Any]:
    return {
        "metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
        "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500,
    }
