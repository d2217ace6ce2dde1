"""A small fake of the launcher's control endpoint (aiohttp) on a local port, in a thread. Tests reach
it directly: the pods/portforward hop of the real path is skipped here, because no launcher pod runs."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import WSMsgType, web


class FakeLauncher:
    def __init__(self, history: bytes = b"boot log\r\n/ # "):
        self.history = history
        self.calls: list[str] = []
        self.received = bytearray()
        self._line = bytearray()
        self.paused = False
        self.interactive: web.WebSocketResponse | None = None
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> FakeLauncher:
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/console", self._console)
        app.router.add_get("/guest-info", self._guest_info)
        for verb in ("pause", "unpause", "soft-reboot", "reset", "shutdown"):
            app.router.add_post(f"/{verb}", self._verb)
        self._runner = web.AppRunner(app)
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _verb(self, request: web.Request) -> web.Response:
        verb = request.path.strip("/")
        self.calls.append(verb)
        if verb == "pause" and self.paused:
            return web.json_response({"message": "VM is already paused"}, status=409)
        if verb == "unpause" and not self.paused:
            return web.json_response({"message": "VM is not paused"}, status=409)
        self.paused = verb == "pause"
        return web.json_response({"message": f"{verb} done"})

    async def _guest_info(self, request: web.Request) -> web.Response:
        return web.json_response({"hostname": "demo", "os": {"name": "kvtui demo"}})

    async def _console(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        readonly = request.query.get("readonly") == "1"
        if not readonly:
            if self.interactive is not None and not self.interactive.closed:
                await self.interactive.send_str("kvtui: console taken over by another client")
                await self.interactive.close(code=4000, message=b"console taken over by another client")
            self.interactive = ws
        await ws.send_bytes(self.history)
        async for message in ws:
            if message.type == WSMsgType.BINARY and not readonly:
                self.received.extend(message.data)
                self._line.extend(message.data)
                # a toy shell: echo input, answer "echo hi" like a guest would
                await ws.send_bytes(message.data.replace(b"\r", b"\r\n"))
                if b"echo hi\r" in bytes(self._line):
                    self._line.clear()
                    await ws.send_bytes(b"hi\r\n/ # ")
        return ws
