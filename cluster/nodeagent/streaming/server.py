"""The agent's HTTPS endpoint for the API server (the kubelet's :10250 role): routes, bearer-token
authentication, and the container log handler."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from . import logs, portforward, remotecommand
from .contract import PodRuntime

log = logging.getLogger("kvtui.nodeagent.streaming")


def status_response(code: int, reason: str, message: str) -> web.Response:
    """A `Status` body the API server passes on to the client as it is."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    return web.Response(status=code, text=json.dumps(body, separators=(",", ":")), content_type="application/json")


def tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """Server TLS from the files of a certificate the cluster CA issued for this agent
    (`pki.issue_serving_cert` keeps them in DATA_DIR/pki/serving/NODE.{crt,key}): TLS 1.2+ and HTTP/1.1
    only, since WebSocket upgrades need it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert_file, key_file)
    return context


class StreamingServer:
    """Serves logs, exec, attach and port-forward for the pods `runtime` runs. Every request must carry
    `Authorization: Bearer <token>`: only the API server holds the token."""

    def __init__(self, runtime: PodRuntime, token: str):
        if not token:
            raise ValueError("the streaming server needs a non-empty bearer token to check requests against")
        self.runtime = runtime
        self.token = token
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        for verb, handler in (("exec", remotecommand.serve_exec), ("attach", remotecommand.serve_attach)):
            app.router.add_route("*", f"/{verb}/{{namespace}}/{{pod}}/{{container}}", self._upgrade(handler))
        app.router.add_route("*", "/portForward/{namespace}/{pod}", self._upgrade(portforward.serve_port_forward))
        return app

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _authenticate(self, request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if request.path != "/healthz" and not (scheme.lower() == "bearer"
                                               and hmac.compare_digest(token.strip(), self.token)):
            return status_response(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _upgrade(self, handler: Callable[[web.Request, PodRuntime], Awaitable[Any]]):
        async def serve(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Upgrade", "").lower() != "websocket":
                return status_response(400, "BadRequest", "Upgrade request required: this node agent streams "
                                                          "over WebSocket only")
            return await handler(request, self.runtime)
        return serve

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        namespace, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        pod = self.runtime.find(namespace, name)
        if pod is None:
            return status_response(404, "NotFound", f'pod "{name}" does not exist on this node')
        if container not in pod.container_names():
            return status_response(404, "NotFound", f'container "{container}" not found in pod "{name}"')
        try:
            options = logs.LogOptions.from_query(request.query)
        except logs.LogOptionsError as exc:
            return status_response(400, "BadRequest", str(exc))
        files = [f for f in pod.log_files(container, options.previous) if f.exists()]
        if not files:
            if options.previous:
                return status_response(400, "BadRequest",
                                       f'previous terminated container "{container}" in pod "{name}" not found')
            return status_response(400, "BadRequest",
                                   f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)

        def client_connected() -> bool:
            return request.transport is not None and not request.transport.is_closing()

        try:
            async for chunk in logs.read_logs(pod, container, files, options, client_connected):
                await response.write(chunk)
        except ConnectionResetError:
            return response  # the API server hung up (its client went away)
        await response.write_eof()
        return response


async def serve(runtime: PodRuntime, host: str, port: int, ssl_context: ssl.SSLContext | None, token: str,
                ready: Callable[[int], None] | None = None) -> None:
    """Run the streaming server until cancelled; `ready(port)` is called once it listens."""
    server = StreamingServer(runtime, token)
    bound = await server.start(host, port, ssl_context)
    log.info("streaming server listening on %s:%d", host, bound)
    if ready is not None:
        ready(bound)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
