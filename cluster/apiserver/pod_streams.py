"""pods/log, pods/exec, pods/attach and pods/portforward: checked here in kube-apiserver's words, then
proxied to the streaming server of the node agent that runs the pod (logs as a plain stream, the
others as a WebSocket whose frames — SPDY ones included — are pumped both ways unchanged)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import ssl
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import WSMsgType, web

from . import errors
from .errors import APIError
from .registry import Registry
from .resources import ResourceTypes

log = logging.getLogger("kvtui.apiserver")

DEFAULT_AGENT_PORT = 10250  # as the kubelet, when a Node does not say
DIAL_TIMEOUT = 10.0
SPDY_TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
_TRUE = {"1", "t", "T", "true", "True", "TRUE"}
_FALSE = {"0", "f", "F", "false", "False", "FALSE"}


class PodStreams:
    """`agent_ca_pem` verifies agents' serving certificates; `agent_token` is what they accept."""

    def __init__(self, registry: Registry, types: ResourceTypes, agent_ca_pem: bytes | None, agent_token: str):
        self.registry = registry
        self.types = types
        self.agent_token = agent_token
        self._ssl = _client_ssl_context(agent_ca_pem)

    async def serve(self, request: web.Request, namespace: str, name: str, sub: str) -> web.StreamResponse:
        pod = self._object("pods", namespace, name)
        if sub == "log":
            if request.method != "GET":
                raise errors.method_not_allowed(request.method)
            return await self._logs(request, pod)
        if not _is_websocket(request):
            if request.headers.get("Upgrade", "").lower().startswith("spdy"):
                return await self._refuse_native_spdy(request, pod, sub)
            raise errors.bad_request("Upgrade request required")
        if sub == "portforward":
            return await self._proxy_websocket(request, self._agent_url(pod, "portForward", None,
                                                                          _port_forward_query(request)))
        container = container_for(pod, request.query.get("container", ""))
        self._require_node(pod)
        query = _command_query(request, sub)
        return await self._proxy_websocket(request, self._agent_url(pod, sub, container, query))

    # -- logs -----------------------------------------------------------------------------

    async def _logs(self, request: web.Request, pod: dict) -> web.StreamResponse:
        name = pod["metadata"]["name"]
        container = container_for(pod, request.query.get("container", ""))
        query = _log_query(request, name)
        if not (pod.get("spec") or {}).get("nodeName"):
            raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                                     "ContainerCreating")
        check_log_status(pod, container, ("previous", "true") in query)
        url = self._agent_url(pod, "containerLogs", container, query)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=DIAL_TIMEOUT, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                upstream = await session.get(url, headers=self._auth(), ssl=self._ssl)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise _dial_error(url, exc) from exc
            async with upstream:
                if upstream.status != 200:
                    raise _agent_error(upstream.status, await upstream.read())
                response = web.StreamResponse(headers={"Content-Type": "text/plain"})
                await response.prepare(request)
                await _copy_until_gone(request, upstream, response)
                return response

    # -- exec, attach, portforward --------------------------------------------------------

    async def _proxy_websocket(self, request: web.Request, url: str) -> web.StreamResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=DIAL_TIMEOUT))
        try:
            agent = await session.ws_connect(url, protocols=offered, headers=self._auth(), ssl=self._ssl,
                                             autoping=True, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            await session.close()
            if exc.status == 401:
                raise _token_refused() from exc
            raise APIError(500, "InternalError", f"error dialing backend: the node agent refused the stream "
                                                 f"({exc.status} {exc.message})") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            await session.close()
            raise _dial_error(url, exc, prefix="error dialing backend") from exc
        try:
            # Answer the client with the subprotocol the agent chose from the client's own offer.
            client = web.WebSocketResponse(protocols=[agent.protocol] if agent.protocol else (), autoping=True,
                                           max_msg_size=0, compress=False)
            await client.prepare(request)
            await _pump_both_ways(client, agent)
            return client
        finally:
            await agent.close()
            await session.close()

    async def _refuse_native_spdy(self, request: web.Request, pod: dict, sub: str) -> web.Response:
        """kubectl falls back to native SPDY only when its WebSocket upgrade failed: answer with the same
        checks, so it prints the same reason, or say plainly what to use instead."""
        if sub != "portforward":
            container_for(pod, request.query.get("container", ""))
        await self._probe_agent(pod)  # an agent that is down is the reason worth telling
        raise errors.bad_request(f"pods/{sub} over native SPDY (POST with Upgrade: SPDY/3.1) is not served by "
                                 "this API server: use a client that speaks WebSocket (kubectl 1.30+ for exec and "
                                 "attach, 1.31+ for port-forward, or the kubernetes Python client)")

    # -- agents ---------------------------------------------------------------------------

    async def _probe_agent(self, pod: dict) -> None:
        url = self._agent_base(pod) + "/healthz"
        timeout = aiohttp.ClientTimeout(total=DIAL_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async with session.get(url, headers=self._auth(), ssl=self._ssl) as response:
                    await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise _dial_error(url, exc, prefix="error dialing backend") from exc

    def _object(self, plural: str, namespace: str, name: str) -> dict:
        rt = self.types.get("", "v1", plural)
        assert rt is not None
        return self.registry.get(rt, namespace, name).obj

    def _require_node(self, pod: dict) -> str:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise errors.bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")
        return node

    def _agent_base(self, pod: dict) -> str:
        host, port = agent_address(self._object("nodes", "", self._require_node(pod)))
        return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"

    def _agent_url(self, pod: dict, verb: str, container: str | None, query: list[tuple[str, str]]) -> str:
        meta = pod["metadata"]
        path = "/".join(quote(p, safe="") for p in [verb, meta["namespace"], meta["name"]]
                        + ([container] if container else []))
        return f"{self._agent_base(pod)}/{path}" + (f"?{urlencode(query)}" if query else "")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.agent_token}"}


@functools.lru_cache(maxsize=4)
def _client_ssl_context(ca_pem: bytes | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def agent_address(node: dict) -> tuple[str, int]:
    """Where a node's agent listens: its InternalIP (else another address) and the kubelet endpoint port."""
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    by_type = {a.get("type"): a.get("address") for a in addresses if a.get("address")}
    host = next((by_type[t] for t in ("InternalIP", "ExternalIP", "Hostname", "InternalDNS") if by_type.get(t)),
                None)
    if host is None:
        raise APIError(500, "InternalError", f'node "{node["metadata"]["name"]}": no preferred addresses found; '
                                             f"known addresses: {[a.get('address') for a in addresses]}")
    endpoint = (status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    port = endpoint.get("Port") or endpoint.get("port") or DEFAULT_AGENT_PORT
    return host, int(port)


# --------------------------------------------------------------------------------------------
# Checks, in kube-apiserver's (and the kubelet's) words


def container_for(pod: dict, container: str) -> str:
    """The container a request is for: the one named, or the pod's only one."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    all_names = [c.get("name") for key in ("initContainers", "containers", "ephemeralContainers")
                 for c in spec.get(key) or []]
    if not container:
        containers = spec.get("containers") or []
        if len(containers) == 1:
            return containers[0]["name"]
        if not containers:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        raise errors.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                 f"[{' '.join(all_names)}]")
    if container not in all_names:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


def check_log_status(pod: dict, container: str, previous: bool) -> None:
    """Refuse logs the container cannot have yet, from the status its agent reported, as the kubelet does."""
    name = pod["metadata"]["name"]
    status = next((s for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")
                   for s in (pod.get("status") or {}).get(key) or [] if s.get("name") == container), None)
    if status is None:
        # Not reported yet: the agent is still creating it.
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
    state, last = status.get("state") or {}, (status.get("lastState") or {}).get("terminated")
    if previous:
        if not last:
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return
    if state.get("running") or state.get("terminated") or last:
        return
    reason = (state.get("waiting") or {}).get("reason")
    if reason == "ErrImagePull":
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: image can\'t be '
                                 "pulled")
    if reason == "ImagePullBackOff":
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: trying and '
                                 "failing to pull image")
    if reason:
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start - no logs yet')


def _bool(request: web.Request, name: str) -> bool:
    value = request.query.get(name)
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.bad_request(f'invalid value for {name}: "{value}": must be a boolean')


def _log_query(request: web.Request, name: str) -> list[tuple[str, str]]:
    """PodLogOptions, validated as kube-apiserver validates them, in the kubelet's query form."""
    query: list[tuple[str, str]] = [(flag, "true") for flag in ("follow", "previous", "timestamps")
                                    if _bool(request, flag)]
    causes: list[tuple[str, str, str]] = []
    for field, minimum, rule in (("tailLines", 0, "must be greater than or equal to 0"),
                                 ("limitBytes", 1, "must be greater than 0"),
                                 ("sinceSeconds", 1, "must be greater than 0")):
        raw = request.query.get(field)
        if raw in (None, ""):
            continue
        try:
            value = int(raw)
        except ValueError as exc:
            raise errors.bad_request(f'invalid value for {field}: "{raw}": must be an integer') from exc
        if value < minimum:
            causes.append((field, "FieldValueInvalid", f"{field}: Invalid value: {value}: {rule}"))
        query.append((field, str(value)))
    if request.query.get("sinceTime"):
        if request.query.get("sinceSeconds"):
            causes.append(("sinceTime", "FieldValueForbidden",
                           "sinceTime: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"))
        query.append(("sinceTime", request.query["sinceTime"]))
    stream = request.query.get("stream")
    if stream:
        if stream not in ("All", "Stdout", "Stderr"):
            causes.append(("stream", "FieldValueNotSupported", f'stream: Unsupported value: "{stream}": supported '
                                                               'values: "All", "Stderr", "Stdout"'))
        query.append(("stream", stream))
    if causes:
        raise errors.invalid("PodLogOptions", "", name, causes)
    return query


def _command_query(request: web.Request, sub: str) -> list[tuple[str, str]]:
    """PodExecOptions / PodAttachOptions as the kubelet takes them: flags as "1", one `command` per word."""
    query: list[tuple[str, str]] = []
    for flag, default in (("stdin", False), ("stdout", True), ("stderr", True), ("tty", False)):
        on = _bool(request, flag) if request.query.get(flag) not in (None, "") else default
        query.append((flag, "1" if on else "0"))
    if sub == "exec":
        command = request.query.getall("command", [])
        if not command:
            raise errors.bad_request("you must specify at least one command for the container")
        query += [("command", word) for word in command]
    return query


def _port_forward_query(request: web.Request) -> list[tuple[str, str]]:
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    ports = [*request.query.getall("ports", []), *request.query.getall("port", [])]
    if not ports and SPDY_TUNNEL_PROTOCOL not in offered:
        # Over plain channels the ports come in the query (kubectl's SPDY tunnel names them per stream).
        raise errors.bad_request('query parameter "ports" is required: the ports to forward, e.g. ports=8080')
    return [("port", p) for p in ports]


def _is_websocket(request: web.Request) -> bool:
    return (request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in request.headers.get("Connection", "").lower())


# --------------------------------------------------------------------------------------------
# Relaying


async def _copy_until_gone(request: web.Request, upstream: aiohttp.ClientResponse,
                           response: web.StreamResponse) -> None:
    """Stream the agent's bytes through; stop when either side goes away (a follow never ends by itself
    while the container runs, so a client that left must be noticed even when nothing arrives)."""
    async def copy() -> None:
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)

    async def client_gone() -> None:
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(1.0)

    copying, watching = asyncio.create_task(copy()), asyncio.create_task(client_gone())
    try:
        await asyncio.wait({copying, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
        copying.cancel()
        results = await asyncio.gather(copying, watching, return_exceptions=True)
    if copying.done() and not copying.cancelled() and results[0] is None:
        await response.write_eof()


async def _pump_both_ways(client: web.WebSocketResponse, agent: aiohttp.ClientWebSocketResponse) -> None:
    to_agent = asyncio.create_task(_pump(client, agent))
    to_client = asyncio.create_task(_pump(agent, client))
    try:
        await asyncio.wait({to_agent, to_client}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (to_agent, to_client):
            task.cancel()
        await asyncio.gather(to_agent, to_client, return_exceptions=True)


async def _pump(source: Any, sink: Any) -> None:
    """Messages from one WebSocket to the other, as they are; a close is passed on with its code."""
    async for message in source:
        try:
            if message.type == WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                await sink.send_str(message.data)
        except (ConnectionResetError, RuntimeError):
            return
    await sink.close(code=source.close_code or aiohttp.WSCloseCode.OK)


def _dial_error(url: str, exc: BaseException, prefix: str = "") -> APIError:
    """An unreachable agent, in the form kube-apiserver reports an unreachable kubelet."""
    what = f"{prefix}: " if prefix else ""
    return APIError(500, "InternalError", f'{what}Get "{url.split("?")[0]}": {_reason(exc)}')


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"tls: failed to verify the node agent's certificate: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        why = os.strerror(error.errno) if error.errno else str(error)
        return f"dial tcp {exc.host}:{exc.port}: connect: {why.lower()}"
    if isinstance(exc, TimeoutError):
        return "i/o timeout"
    return str(exc) or type(exc).__name__


def _agent_error(code: int, body: bytes) -> APIError:
    """The agent answers errors as Status objects; pass them on (anything else as its text)."""
    if code == 401:
        return _token_refused()
    try:
        status = json.loads(body)
        return APIError(int(status.get("code") or code), status.get("reason") or "BadRequest",
                        status.get("message") or "")
    except (ValueError, AttributeError):
        return APIError(code if code >= 400 else 500, "InternalError", body.decode(errors="replace").strip())


def _token_refused() -> APIError:
    return APIError(500, "InternalError", "the node agent refused the API server's streaming token: both must "
                                          "read the same DATA_DIR/pki/streaming.token; restart the node agent")
