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
"""

from __future__ import annotations

import hmac
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from launcher.console import SerialConsole

HEARTBEAT_SECONDS = 15.0
TAKEN_OVER_CLOSE_CODE = 4000
STOPPED_CLOSE_CODE = 4001


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


CONTROLS = web.AppKey("controls", Controls)
TOKEN = web.AppKey("token", str)


def control_app(controls: Controls, token: str | None = None) -> web.Application:
    app = web.Application(middlewares=[_authenticate])
    app[CONTROLS] = controls
    app[TOKEN] = token or ""
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/guest-info", _guest_info)
    app.router.add_get("/console", _console)
    for path, action in (("/pause", "pause"), ("/unpause", "unpause"), ("/soft-reboot", "soft_reboot"),
                         ("/reset", "reset"), ("/shutdown", "shutdown")):
        app.router.add_post(path, _action(action))
    return app


@web.middleware
async def _authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
    token = request.app[TOKEN]
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response({"message": "unauthorized: send the launcher's control token as "
                                                 "'Authorization: Bearer <token>'"}, status=401)
    return await handler(request)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONTROLS].health())


async def _guest_info(request: web.Request) -> web.Response:
    info = request.app[CONTROLS].guest_info()
    if info is None:
        return web.json_response({"message": "the guest has not reported any information yet (the kvtui demo "
                                             "guest does at boot; other guests need an agent)"}, status=409)
    return web.json_response(info)


def _action(name: str) -> Any:
    async def handle(request: web.Request) -> web.Response:
        try:
            message = await getattr(request.app[CONTROLS], name)()
        except ActionRefused as exc:
            return web.json_response({"message": str(exc)}, status=409)
        return web.json_response({"message": message})

    return handle


async def _console(request: web.Request) -> web.StreamResponse:
    controls = request.app[CONTROLS]
    readonly = request.query.get("readonly", "") in ("1", "true", "yes")
    if not controls.console.connected.is_set():
        return web.json_response({"message": "the serial console is not available: the VM is not running"},
                                 status=409)
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=1 << 20)
    await ws.prepare(request)
    client = controls.console.attach(interactive=not readonly)
    pump = request.loop.create_task(_pump_output(ws, client))
    try:
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                await controls.console.send(client, message.data)
            elif message.type == WSMsgType.TEXT:
                await controls.console.send(client, message.data.encode())
    finally:
        controls.console.detach(client)
        pump.cancel()
    return ws


async def _pump_output(ws: web.WebSocketResponse, client: Any) -> None:
    while (data := await client.next_output()) is not None:
        await ws.send_bytes(data)
    why = client.closed_because or "closed"
    if why == "client disconnected":
        return
    code = TAKEN_OVER_CLOSE_CODE if "taken over" in why else STOPPED_CLOSE_CODE
    await ws.send_str(f"kvtui: {why}")
    await ws.close(code=code, message=why.encode()[:120])
