"""Port forwarding into a pod, in both forms clients speak: channels over WebSocket (the Python client;
ports in the query, channel 2i data and 2i+1 errors) and SPDY/3.1 tunnelled in WebSocket binary
messages (kubectl port-forward; a data and an error stream per connection)."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from . import channels, netns, spdy
from .channels import ChannelSocket
from .contract import PodRuntime

log = logging.getLogger("kvtui.nodeagent.streaming")

SPDY_TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
PROTOCOLS = (SPDY_TUNNEL_PROTOCOL, *channels.PORT_FORWARD_PROTOCOLS)
READ_SIZE = 32 * 1024
# When one direction of a forwarded connection ends, the other gets this long to finish (as containerd).
FORWARD_GRACE = 1.0
STREAM_CREATION_TIMEOUT = 30.0

Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class PortError(ValueError):
    """A port (or a stream's headers) that cannot be forwarded; the message says which and why."""


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError as exc:
        raise PortError(f'unable to parse "{text}" as a port: must be a number from 1 to 65535') from exc
    if not 1 <= port <= 65535:
        raise PortError(f'port "{text}" must be > 0 and < 65536')
    return port


def parse_ports(query: Mapping[str, str]) -> list[int]:
    """`port` as the API server passes it to a kubelet, or `ports` as clients send it: repeatable,
    comma-separated."""
    values = [*query.getall("port", []), *query.getall("ports", [])] if hasattr(query, "getall") else []
    if not values:
        raise PortError('query parameter "port" is required')
    return [parse_port(p.strip()) for value in values for p in value.split(",")]


def negotiated(request: web.Request) -> str:
    """The subprotocol the handshake will pick: the client's first offer that is supported."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    return next((p for p in offered if p in PROTOCOLS), "")


async def serve_port_forward(request: web.Request, runtime: PodRuntime) -> web.StreamResponse:
    namespace, name = request.match_info["namespace"], request.match_info["pod"]
    protocol = negotiated(request)
    ports: list[int] = []
    if protocol != SPDY_TUNNEL_PROTOCOL:
        try:
            ports = parse_ports(request.query)
        except PortError as exc:
            return _bad_request(str(exc))
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, max_msg_size=0)
    await ws.prepare(request)
    dial = _dialer(runtime, namespace, name)
    if ws.ws_protocol == SPDY_TUNNEL_PROTOCOL:
        await SpdySession(ws, dial).run()
    else:
        await _serve_channels(ChannelSocket(ws, channels.protocol_named(ws.ws_protocol)), ports, dial)
    return ws


def _bad_request(message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "BadRequest", "code": 400}
    return web.Response(status=400, text=json.dumps(body), content_type="application/json")


def _dialer(runtime: PodRuntime, namespace: str, name: str) -> Dial:
    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        pod = runtime.find(namespace, name)
        uid = pod.uid if pod is not None else ""
        try:
            if pod is None:
                raise LookupError(f'pod "{name}" does not exist on this node')
            return await netns.open_connection(pod.netns, port)
        except (OSError, LookupError) as exc:
            raise ForwardError(f"error forwarding port {port} to pod {name}, uid {uid}: {exc}") from exc
    return dial


class ForwardError(Exception):
    """The target port cannot be reached; the message is what the client shows."""


# --------------------------------------------------------------------------------------------
# Channels (v4.channel.k8s.io and older)


async def _serve_channels(chan: ChannelSocket, ports: list[int], dial: Dial) -> None:
    for index, port in enumerate(ports):
        # Each channel opens with its port, little-endian: clients check it before anything else.
        await chan.send(2 * index, struct.pack("<H", port))
        await chan.send(2 * index + 1, struct.pack("<H", port))
    forwards = [_ChannelForward(chan, 2 * index, port, dial) for index, port in enumerate(ports)]
    all_done = asyncio.ensure_future(asyncio.gather(*(f.run() for f in forwards)))
    inbound = asyncio.create_task(_route(chan, forwards))
    try:
        await asyncio.wait({all_done, inbound}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (all_done, inbound):
            task.cancel()
        await asyncio.gather(all_done, inbound, return_exceptions=True)
        for forward in forwards:
            forward.close()
        await chan.close()


async def _route(chan: ChannelSocket, forwards: list[_ChannelForward]) -> None:
    while (message := await chan.receive()) is not None:
        index, is_error_channel = divmod(message.channel, 2)
        if not is_error_channel and index < len(forwards):
            forwards[index].inbound.put_nowait(message.data)


class _ChannelForward:
    """One port of a channel session: one connection to the pod, for the life of the WebSocket."""

    def __init__(self, chan: ChannelSocket, channel: int, port: int, dial: Dial):
        self.chan, self.channel, self.port, self.dial = chan, channel, port, dial
        self.inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        try:
            reader, self.writer = await self.dial(self.port)
        except ForwardError as exc:
            await self.chan.send(self.channel + 1, str(exc).encode())
            return
        upstream = asyncio.create_task(self._upstream())
        try:
            while data := await reader.read(READ_SIZE):
                await self.chan.send(self.channel, data)
        except OSError as exc:
            await self.chan.send(self.channel + 1, f"error reading from port {self.port}: {exc}".encode())
        finally:
            upstream.cancel()
            await asyncio.gather(upstream, return_exceptions=True)

    async def _upstream(self) -> None:
        assert self.writer is not None
        while True:
            data = await self.inbound.get()
            self.writer.write(data)
            await self.writer.drain()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --------------------------------------------------------------------------------------------
# SPDY/3.1 tunnelled in WebSocket


@dataclass
class _Stream:
    stream_id: int
    kind: str            # "data" or "error"
    port: int
    inbound: asyncio.Queue = field(default_factory=asyncio.Queue)  # bytes, then None at FIN or RST
    reset: bool = False
    local_closed: bool = False


@dataclass
class _Pair:
    request_id: str
    data: _Stream | None = None
    error: _Stream | None = None
    timer: asyncio.TimerHandle | None = None

    @property
    def complete(self) -> bool:
        return self.data is not None and self.error is not None


class SpdySession:
    """The server side of one kubectl port-forward session: accepts streams, pairs the data and error
    stream of each forwarded connection by requestID, and copies bytes to and from the pod."""

    def __init__(self, ws: web.WebSocketResponse, dial: Dial):
        self.ws = ws
        self.dial = dial
        self.reader = spdy.FrameReader()
        self.writer = spdy.FrameWriter()
        self.streams: dict[int, _Stream] = {}
        self.pairs: dict[str, _Pair] = {}
        self.tasks: set[asyncio.Task] = set()
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        try:
            async for message in self.ws:
                if message.type != WSMsgType.BINARY:
                    continue
                for frame in self.reader.feed(message.data):
                    await self._handle(frame)
        except spdy.ProtocolError as exc:
            log.warning("port-forward session ended: %s", exc)
            await self.send(spdy.GoAway(0, 1))
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            for pair in self.pairs.values():
                if pair.timer is not None:
                    pair.timer.cancel()
            await self.ws.close()

    async def send(self, frame: spdy.Frame) -> None:
        # Encoding happens under the lock too: header blocks share one zlib stream, in wire order.
        async with self._send_lock:
            if self.ws.closed:
                return
            try:
                await self.ws.send_bytes(self.writer.encode(frame))
            except (ConnectionResetError, RuntimeError):
                pass

    async def _handle(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.SynStream):
            await self._open_stream(frame)
        elif isinstance(frame, spdy.DataFrame):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                if frame.data:
                    stream.inbound.put_nowait(frame.data)
                if frame.fin:
                    stream.inbound.put_nowait(None)
        elif isinstance(frame, spdy.RstStream):
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream.reset = True
                stream.inbound.put_nowait(None)
        elif isinstance(frame, spdy.Ping):
            if frame.ping_id % 2 == 1:  # the client's ping (odd ids); even ones would be our own
                await self.send(frame)
        # SETTINGS, WINDOW_UPDATE, HEADERS, GOAWAY: nothing to do. kubectl's SPDY library keeps no
        # flow-control windows, and after GOAWAY it closes the WebSocket, which ends run().

    async def _open_stream(self, frame: spdy.SynStream) -> None:
        try:
            kind, port = _stream_kind(frame.headers), _stream_port(frame.headers)
        except PortError as exc:
            log.info("port-forward: refusing stream %d: %s", frame.stream_id, exc)
            await self.send(spdy.RstStream(frame.stream_id, spdy.CANCEL))
            return
        stream = _Stream(frame.stream_id, kind, port)
        self.streams[frame.stream_id] = stream
        await self.send(spdy.SynReply(frame.stream_id, {}))
        if frame.fin:
            stream.inbound.put_nowait(None)
        request_id = spdy.header_value(frame.headers, "requestID") or _legacy_request_id(stream)
        pair = self.pairs.get(request_id)
        if pair is None:
            pair = self.pairs[request_id] = _Pair(request_id)
            pair.timer = asyncio.get_running_loop().call_later(STREAM_CREATION_TIMEOUT, self._expire, pair)
        if getattr(pair, kind) is not None:
            await self._send_error_and_close(pair, f"error processing stream for request {request_id}: "
                                                   f"{kind} stream already assigned")
            return
        setattr(pair, kind, stream)
        if pair.complete:
            if pair.timer is not None:
                pair.timer.cancel()
            task = asyncio.create_task(self._forward(pair))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _expire(self, pair: _Pair) -> None:
        if not pair.complete and self.pairs.get(pair.request_id) is pair:
            task = asyncio.create_task(self._send_error_and_close(
                pair, f"request {pair.request_id}: timed out waiting for the data and error streams"))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send_error_and_close(self, pair: _Pair, message: str) -> None:
        if pair.error is not None:
            await self._send_data(pair.error, message.encode())
        await self._finish(pair)

    async def _forward(self, pair: _Pair) -> None:
        assert pair.data is not None and pair.error is not None
        try:
            reader, writer = await self.dial(pair.data.port)
        except ForwardError as exc:
            await self._send_data(pair.error, str(exc).encode())
        else:
            try:
                await self._copy(pair.data, reader, writer)
            finally:
                writer.close()
        finally:
            await self._finish(pair)

    async def _copy(self, stream: _Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        to_pod = asyncio.create_task(self._client_to_pod(stream, writer))
        to_client = asyncio.create_task(self._pod_to_client(reader, stream))
        try:
            _, pending = await asyncio.wait({to_pod, to_client}, return_when=asyncio.FIRST_COMPLETED)
            if pending and not stream.reset:
                await asyncio.wait(pending, timeout=FORWARD_GRACE)
        finally:
            for task in (to_pod, to_client):
                task.cancel()
            await asyncio.gather(to_pod, to_client, return_exceptions=True)

    async def _client_to_pod(self, stream: _Stream, writer: asyncio.StreamWriter) -> None:
        while (data := await stream.inbound.get()) is not None:
            writer.write(data)
            await writer.drain()
        if not stream.reset and writer.can_write_eof():
            writer.write_eof()  # the client closed its side: so does the connection into the pod

    async def _pod_to_client(self, reader: asyncio.StreamReader, stream: _Stream) -> None:
        while not stream.reset and (data := await reader.read(READ_SIZE)):
            await self._send_data(stream, data)
        await self._send_data(stream, b"", fin=True)

    async def _send_data(self, stream: _Stream, data: bytes, fin: bool = False) -> None:
        if stream.reset or stream.local_closed:
            return
        stream.local_closed = fin
        await self.send(spdy.DataFrame(stream.stream_id, data, spdy.FLAG_FIN if fin else 0))

    async def _finish(self, pair: _Pair) -> None:
        """Half-close both streams (the client reads the error stream to its end) and forget the pair."""
        for stream in (pair.data, pair.error):
            if stream is not None:
                await self._send_data(stream, b"", fin=True)
                self.streams.pop(stream.stream_id, None)
        if pair.timer is not None:
            pair.timer.cancel()
        if self.pairs.get(pair.request_id) is pair:
            del self.pairs[pair.request_id]


def _stream_kind(headers: spdy.Headers) -> str:
    kind = spdy.header_value(headers, "streamType")
    if not kind:
        raise PortError('"streamType" header is required')
    if kind not in ("data", "error"):
        raise PortError(f'invalid stream type "{kind}"')
    return kind


def _stream_port(headers: spdy.Headers) -> int:
    port = spdy.header_value(headers, "port")
    if not port:
        raise PortError('"port" header is required')
    return parse_port(port)


def _legacy_request_id(stream: _Stream) -> str:
    # Clients older than requestID send the error stream, then the data stream, on consecutive odd ids.
    return str(stream.stream_id if stream.kind == "error" else stream.stream_id - 2)
