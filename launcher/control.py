"""The launcher's control endpoint (HTTP on a port inside the pod, reached through
`pods/portforward`): the serial console as a WebSocket, and the imperative verbs.

- `GET /console[?readonly=1]`: WebSocket; binary frames carry console bytes both ways. The
  recent console history arrives first. An interactive client is replaced by the next one, which
  gets the console; the replaced one receives a text frame and close code 4000 saying so.
  WebSocket pings every 15 s keep idle connections through proxies alive.
- `POST /pause`, `/unpause`, `/soft-reboot` (ACPI), `/reset`, `/shutdown`: 200 with
  `{"message": …}`, or 409 when the VM is not in a state that allows it.
- `GET /guest-info`: what the guest reported about itself (KubeVirt's guestosinfo shape).
- `GET /healthz`: 200 while the launcher runs, with the phase.

With `KVTUI_CONTROL_TOKEN` set, every request needs `Authorization: Bearer <token>`.

The health endpoint (`health_server`) is separate: it listens on the pod IP for the node agent's
startup probe and serves nothing but `GET /readyz[?wait=SECONDS]`, 200 once the domain has started
and its status is reported, else 503. With `wait` the answer is held until then (at most
READY_WAIT_LIMIT seconds), so the probe sees the moment the guest starts, not the next period.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from functools import partial
from typing import Any, Protocol

from launcher.console import ConsoleClient, SerialConsole
from launcher.httpserver import HttpServer, Request, Response, WebSocket, json_response

HEARTBEAT_SECONDS = 15.0
MAX_CONSOLE_MESSAGE_BYTES = 1 << 20
TAKEN_OVER_CLOSE_CODE = 4000
STOPPED_CLOSE_CODE = 4001
READY_WAIT_LIMIT = 30.0
ACTIONS = {
    "/pause": "pause",
    "/unpause": "unpause",
    "/soft-reboot": "soft_reboot",
    "/reset": "reset",
    "/shutdown": "shutdown",
}


class ActionRefused(Exception):
    """The VM's state does not allow the action; the message says why (HTTP 409)."""


class Controls(Protocol):
    """What the endpoint asks the launcher to do."""

    console: SerialConsole

    async def pause(self) -> str: ...
    async def unpause(self) -> str: ...
    async def soft_reboot(self) -> str: ...
    async def reset(self) -> str: ...
    async def shutdown(self) -> str: ...
    def guest_info(self) -> dict[str, Any] | None: ...
    def health(self) -> dict[str, Any]: ...


def control_server(controls: Controls, token: str | None = None) -> HttpServer:
    server = HttpServer(guard=partial(_authenticate, token or ""))
    server.route("GET", "/healthz", partial(_healthz, controls))
    server.route("GET", "/guest-info", partial(_guest_info, controls))
    server.websocket(
        "/console",
        partial(_console, controls),
        admit=partial(_console_available, controls),
        heartbeat=HEARTBEAT_SECONDS,
        max_message=MAX_CONSOLE_MESSAGE_BYTES,
    )
    for path, action in ACTIONS.items():
        server.route("POST", path, partial(_act, controls, action))
    return server


def health_server(started: asyncio.Event) -> HttpServer:
    server = HttpServer()
    server.route("GET", "/readyz", partial(_readyz, started))
    return server


async def _readyz(started: asyncio.Event, request: Request) -> Response:
    try:
        wait = min(READY_WAIT_LIMIT, max(0.0, float(request.query.get("wait") or 0)))
    except ValueError:
        return json_response({"message": f"wait must be a number of seconds, not {request.query['wait']!r}"},
                             status=400)
    if not started.is_set() and wait:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(started.wait(), wait)
    if started.is_set():
        return json_response({"ready": True})
    return json_response({"ready": False, "message": "the domain has not started yet"}, status=503)


def _authenticate(token: str, request: Request) -> Response | None:
    if not token:
        return None
    given = request.headers.get("Authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return None
    return json_response(
        {"message": "unauthorized: send the launcher's control token as 'Authorization: Bearer <token>'"},
        status=401,
    )


async def _healthz(controls: Controls, request: Request) -> Response:
    return json_response(controls.health())


async def _guest_info(controls: Controls, request: Request) -> Response:
    info = controls.guest_info()
    if info is None:
        return json_response(
            {
                "message": "the guest has not reported any information yet (the kvtui demo "
                "guest does at boot; other guests need an agent)"
            },
            status=409,
        )
    return json_response(info)


async def _act(controls: Controls, name: str, request: Request) -> Response:
    try:
        message = await getattr(controls, name)()
    except ActionRefused as exc:
        return json_response({"message": str(exc)}, status=409)
    return json_response({"message": message})


def _console_available(controls: Controls, request: Request) -> Response | None:
    if controls.console.connected.is_set():
        return None
    return json_response(
        {"message": "the serial console is not available: the VM is not running"}, status=409
    )


async def _console(controls: Controls, request: Request, ws: WebSocket) -> None:
    readonly = request.query.get("readonly", "") in ("1", "true", "yes")
    client = controls.console.attach(interactive=not readonly)
    pump = asyncio.create_task(_pump_output(ws, client), name="console-output")
    try:
        while (message := await ws.receive()) is not None:
            data = message.data if isinstance(message.data, bytes) else message.data.encode()
            await controls.console.send(client, data)
    finally:
        controls.console.detach(client)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


async def _pump_output(ws: WebSocket, client: ConsoleClient) -> None:
    try:
        while (data := await client.next_output()) is not None:
            await ws.send_bytes(data)
        why = client.closed_because or "closed"
        if why == "client disconnected":
            return
        code = TAKEN_OVER_CLOSE_CODE if "taken over" in why else STOPPED_CLOSE_CODE
        await ws.send_str(f"kvtui: {why}")
        await ws.close(code, why)
    except ConnectionError:
        pass  # the client went away; the receiving side notices and detaches it
