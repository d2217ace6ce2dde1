"""How the app reaches a launcher's control endpoint (port 8777, container `compute`): a socket
through the API server's `pods/portforward`, or straight to host:port (tests, debugging); and the
serial console WebSocket spoken over that socket."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Protocol

import websocket

from cluster.client import Client

CONTROL_PORT = 8777
TAKEN_OVER_CLOSE_CODE = 4000


class TransportError(Exception):
    """The endpoint cannot be reached; the message says which and what to do."""


class Endpoint(Protocol):
    token: str | None

    def open_socket(self) -> socket.socket: ...

    def describe(self) -> str: ...


@dataclass
class DirectEndpoint:
    """host:port reached without the API server (tests run a fake endpoint this way)."""
    host: str
    port: int
    token: str | None = None

    def open_socket(self) -> socket.socket:
        try:
            return socket.create_connection((self.host, self.port), timeout=10)
        except OSError as exc:
            raise TransportError(f"cannot connect to the launcher at {self.describe()}: {exc}") from None

    def describe(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class PortForwardEndpoint:
    """The launcher pod's control port, tunnelled through `pods/portforward` (needs RBAC on it)."""
    client: Client
    namespace: str
    pod: str
    port: int = CONTROL_PORT
    token: str | None = None
    _forwards: list = field(default_factory=list, repr=False)

    def open_socket(self) -> socket.socket:
        from kubernetes.client import CoreV1Api
        from kubernetes.stream import portforward
        try:
            forward = portforward(CoreV1Api(self.client.api).connect_get_namespaced_pod_portforward, self.pod,
                                  self.namespace, ports=str(self.port))
            sock = forward.socket(self.port)
        except Exception as exc:
            raise TransportError(f"cannot port-forward to pod {self.describe()}: {_reason(exc)}; check that the "
                                 "pod runs and that you may create pods/portforward") from None
        sock.setblocking(True)
        self._forwards.append(forward)   # the forward's pump thread lives as long as this reference
        return sock

    def describe(self) -> str:
        return f"{self.namespace}/{self.pod}:{self.port}"


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) or getattr(exc, "body", None) or str(exc) or type(exc).__name__


@dataclass(frozen=True)
class ConsoleEvent:
    """`kind` is "data" (bytes from the guest), "notice" (a text frame from the launcher) or "closed"."""
    kind: str
    data: bytes = b""
    text: str = ""
    taken_over: bool = False


class ConsoleSession:
    """One WebSocket to `/console`. `receive()` blocks (call it from a worker thread); `send()` may be
    called from any thread."""

    def __init__(self, endpoint: Endpoint, readonly: bool = False):
        self.endpoint = endpoint
        self.readonly = readonly
        self.ws: websocket.WebSocket | None = None

    def connect(self, timeout: float = 15) -> None:
        sock = self.endpoint.open_socket()
        header = [f"Authorization: Bearer {self.endpoint.token}"] if self.endpoint.token else []
        url = "ws://launcher/console" + ("?readonly=1" if self.readonly else "")
        try:
            self.ws = websocket.create_connection(url, socket=sock, timeout=timeout, header=header,
                                                  enable_multithread=True)
        except websocket.WebSocketBadStatusException as exc:
            sock.close()
            raise TransportError(f"the launcher at {self.endpoint.describe()} refused the console: "
                                 f"{_refusal(exc)}") from None
        except (OSError, websocket.WebSocketException) as exc:
            sock.close()
            raise TransportError(f"cannot open the console at {self.endpoint.describe()}: {exc}") from None
        self.ws.settimeout(None)

    def receive(self) -> ConsoleEvent:
        if self.ws is None:
            return ConsoleEvent("closed", text="not connected")
        try:
            opcode, data = self.ws.recv_data(control_frame=False)
        except websocket.WebSocketConnectionClosedException:
            return ConsoleEvent("closed", text="the console connection closed")
        except OSError as exc:
            return ConsoleEvent("closed", text=f"the console connection failed: {exc}")
        if opcode == websocket.ABNF.OPCODE_BINARY:
            return ConsoleEvent("data", data=data)
        if opcode == websocket.ABNF.OPCODE_TEXT:
            text = data.decode(errors="replace")
            return ConsoleEvent("notice", text=text, taken_over="taken over" in text)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1000
            reason = data[2:].decode(errors="replace") or "the launcher closed the console"
            return ConsoleEvent("closed", text=reason, taken_over=code == TAKEN_OVER_CLOSE_CODE)
        return ConsoleEvent("data")

    def send(self, data: bytes) -> None:
        if self.ws is None or self.readonly:
            return
        try:
            self.ws.send_bytes(data)
        except (OSError, websocket.WebSocketException):
            pass    # the reader sees the close and reports it

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close(timeout=1)
            except (OSError, websocket.WebSocketException):
                pass
            self.ws = None


def _refusal(exc: websocket.WebSocketBadStatusException) -> str:
    import json
    body = getattr(exc, "resp_body", None) or b""
    try:
        return json.loads(body).get("message") or str(exc)
    except (ValueError, AttributeError):
        return str(exc)
