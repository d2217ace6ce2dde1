"""A small HTTP/1.1 server with WebSockets (RFC 9112, RFC 6455) on asyncio streams, for the launcher's
control endpoint: a few JSON routes and the console socket, without aiohttp's import cost in every
launcher pod. Request bodies need a Content-Length; there is no chunked encoding, no TLS and no
WebSocket extension (the endpoint is reached through `pods/portforward`)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 1 << 20
KEEPALIVE_TIMEOUT = 75.0
CLOSE_TIMEOUT = 10.0
HEARTBEAT_SECONDS = 15.0
# What an error response waits for the client to stop sending before the socket closes: closing
# with unread input makes the kernel reset the connection, and the client may lose the response.
LINGER_SECONDS = 2.0
# The StreamReader's buffer: above MAX_HEAD_BYTES so an oversized head is told apart from a slow one.
_READ_BUFFER = 64 * 1024

_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Frame opcodes and close codes, RFC 6455 sections 5.2 and 7.4.
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
PROTOCOL_ERROR = 1002
NO_STATUS = 1005
ABNORMAL_CLOSURE = 1006
INVALID_DATA = 1007
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
# Codes an endpoint may send: 1004-1006 and 1015 are reserved, 1012-1014 are IANA-registered since.
_SENDABLE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


class Headers(Mapping[str, str]):
    """Header fields by case-insensitive name; repeated fields are joined with ", " (RFC 9110 5.3)."""

    def __init__(self, fields: Mapping[str, str] | None = None) -> None:
        self._fields: dict[str, str] = {}
        for name, value in (fields or {}).items():
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        key = name.lower()
        self._fields[key] = f"{self._fields[key]}, {value}" if key in self._fields else value

    def tokens(self, name: str) -> set[str]:
        """A list-valued field's elements, lowercased (`Connection: keep-alive, Upgrade`)."""
        return {t.strip().lower() for t in self.get(name, "").split(",") if t.strip()}

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


@dataclass
class Request:
    method: str
    target: str
    path: str
    version: str
    headers: Headers
    # The first value of each query parameter, as `?readonly=1` is read.
    query: dict[str, str]
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.tokens("Connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json; charset=utf-8", dict(headers or {}))


class HttpError(Exception):
    """A request the server refuses itself (malformed, too large, a bad WebSocket handshake), with
    the status and the message the client gets."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}

    def response(self) -> Response:
        return json_response({"message": str(self)}, self.status, self.headers)


Handler = Callable[[Request], Awaitable[Response]]
WebSocketHandler = Callable[[Request, "WebSocket"], Awaitable[None]]
# Runs before every route; a response refuses the request (authentication).
Guard = Callable[[Request], Response | None]


@dataclass
class _WebSocketRoute:
    handler: WebSocketHandler
    # Checked before the handshake: a response refuses the upgrade (e.g. 409, nothing to connect to).
    admit: Guard | None
    heartbeat: float | None
    max_message: int


@dataclass(eq=False)
class _Connection:
    task: asyncio.Task[None]
    writer: asyncio.StreamWriter
    # Waiting for the next request: closing the socket ends it cleanly.
    idle: bool = True
    websocket: WebSocket | None = None


class HttpServer:
    """Routes by (method, path). Handlers are `async def handler(request) -> Response`; a WebSocket
    route's handler is `async def handler(request, ws)` and runs on the upgraded connection."""

    def __init__(
        self,
        *,
        guard: Guard | None = None,
        max_body: int = MAX_BODY_BYTES,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
    ) -> None:
        self.guard = guard
        self.max_body = max_body
        self.keepalive_timeout = keepalive_timeout
        self._routes: dict[tuple[str, str], Handler | _WebSocketRoute] = {}
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], _Connection] = {}

    def route(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method.upper(), path)] = handler

    def websocket(
        self,
        path: str,
        handler: WebSocketHandler,
        *,
        admit: Guard | None = None,
        heartbeat: float | None = HEARTBEAT_SECONDS,
        max_message: int = MAX_MESSAGE_BYTES,
    ) -> None:
        """`heartbeat`: ping every so many seconds and drop a peer that does not answer within half
        of that (None: never)."""
        self._routes[("GET", path)] = _WebSocketRoute(handler, admit, heartbeat, max_message)

    async def start(self, host: str, port: int, sock: socket.socket | None = None) -> int:
        """Listen on host:port (0 picks a free port), or on `sock`, already listening; returns the port."""
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock, limit=_READ_BUFFER)
        else:
            self._server = await asyncio.start_server(self._serve, host, port, limit=_READ_BUFFER)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self, timeout: float = 5.0) -> None:
        """Stop listening and end idle connections; give running handlers, WebSockets included,
        `timeout` seconds to finish (the launcher closes its consoles itself, with its own close
        code), then close the WebSockets still open with 1001 and cancel what remains."""
        if self._server is not None:
            self._server.close()
        for connection in self._connections.values():
            if connection.idle:
                connection.writer.close()
        running = set(self._connections)
        if running:
            _, running = await asyncio.wait(running, timeout=timeout)
        still_open = [c.websocket for c in self._connections.values() if c.websocket is not None]
        if still_open:
            closing = [asyncio.create_task(ws.close(GOING_AWAY, "server shutting down")) for ws in still_open]
            await asyncio.wait(closing, timeout=timeout)
            running |= set(closing)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- one connection ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connection = _Connection(task, writer)
        self._connections[task] = connection
        try:
            while await self._exchange(reader, writer, connection):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # close() gave up on this handler. Ending quietly: Python 3.11's start_server callback
            # reports a cancelled connection task as an unhandled error.
            pass
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection
    ) -> bool:
        """One request and its response; False when the connection is to close."""
        connection.idle = True
        try:
            request = await self._read_request(reader, writer)
        except HttpError as error:
            await _respond(writer, error.response(), keep_alive=False)
            await _linger(reader, writer)
            return False
        if request is None:
            return False
        connection.idle = False
        refusal = self.guard(request) if self.guard is not None else None
        route = self._routes.get((request.method, request.path))
        if refusal is not None:
            response = refusal
        elif route is None:
            response = self._not_found(request)
        elif isinstance(route, _WebSocketRoute):
            return await self._upgrade(request, route, reader, writer, connection)
        else:
            response = await _run_handler(route, request)
        keep_alive = request.keep_alive and response.status < 500
        await _respond(writer, response, keep_alive)
        return keep_alive

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        """The next request, None when the client closed or went quiet between requests."""
        try:
            async with asyncio.timeout(self.keepalive_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError(431, f"the request line and headers exceed {MAX_HEAD_BYTES} bytes") from None
        except (asyncio.IncompleteReadError, TimeoutError):
            return None
        if len(head) > MAX_HEAD_BYTES:
            raise HttpError(431, f"the request line and headers exceed {MAX_HEAD_BYTES} bytes")
        request = parse_head(head)
        length = _content_length(request.headers)
        if length > self.max_body:
            raise HttpError(413, f"the request body ({length} bytes) exceeds {self.max_body} bytes")
        if length:
            if "100-continue" in request.headers.tokens("Expect"):
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            async with asyncio.timeout(self.keepalive_timeout):
                request.body = await reader.readexactly(length)
        return request

    def _not_found(self, request: Request) -> Response:
        allowed = sorted(method for method, path in self._routes if path == request.path)
        if allowed:
            return json_response(
                {"message": f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}"},
                405,
                {"Allow": ", ".join(allowed)},
            )
        return json_response({"message": f"no such endpoint: {request.path}"}, 404)

    async def _upgrade(
        self,
        request: Request,
        route: _WebSocketRoute,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: _Connection,
    ) -> bool:
        refusal = route.admit(request) if route.admit is not None else None
        if refusal is None:
            try:
                accept = websocket_accept(request)
            except HttpError as error:
                refusal = error.response()
        if refusal is not None:
            keep_alive = request.keep_alive and refusal.status < 500
            await _respond(writer, refusal, keep_alive)
            return keep_alive
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
        )
        await writer.drain()
        ws = WebSocket(reader, writer, heartbeat=route.heartbeat, max_message=route.max_message)
        connection.websocket = ws
        try:
            await route.handler(request, ws)
        except Exception as exc:  # noqa: BLE001 - one broken socket must not take the server down
            print(f"httpserver: WebSocket handler for {request.path} failed: {exc!r}", file=sys.stderr)
            await ws.close(INTERNAL_ERROR, "internal error")
        finally:
            await ws.close()
        return False


async def _run_handler(handler: Handler, request: Request) -> Response:
    try:
        return await handler(request)
    except Exception as exc:  # noqa: BLE001 - a failed handler is a 500, not a dropped connection
        print(f"httpserver: {request.method} {request.path} failed: {exc!r}", file=sys.stderr)
        return json_response({"message": f"internal error: {exc}"}, 500)


# -- HTTP/1.1 messages -------------------------------------------------------------------------------


def parse_head(head: bytes) -> Request:
    """The request line and header fields (RFC 9112 sections 3 and 5), up to the empty line."""
    lines = head.decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # RFC 9112 2.2: ignore empty lines before the request line
        lines.pop(0)
    if not lines:
        raise HttpError(400, "empty request")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not set(parts[0]) <= _TOKEN_CHARS or not parts[1]:
        raise HttpError(400, f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if version.startswith("HTTP/") and version[5:6].isdigit():
            raise HttpError(505, f"{version} is not supported; use HTTP/1.1")
        raise HttpError(400, f"malformed request line {lines[0][:100]!r}")
    headers = Headers()
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or not set(name) <= _TOKEN_CHARS:
            raise HttpError(400, f"malformed header field {line[:100]!r}")
        headers.add(name, value.strip(" \t"))
    if target.startswith("/"):
        raw_path, _, raw_query = target.partition("?")
    elif target.startswith(("http://", "https://")):  # absolute form, as sent to proxies
        split = urlsplit(target)
        raw_path, raw_query = split.path or "/", split.query
    elif target == "*":
        raw_path, raw_query = "*", ""
    else:
        raise HttpError(400, f"malformed request target {target[:100]!r}")
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query.partition("#")[0], keep_blank_values=True):
        query.setdefault(key, value)
    return Request(method, target, unquote(raw_path), version, headers, query)


def _content_length(headers: Headers) -> int:
    if "Transfer-Encoding" in headers:
        raise HttpError(501, "Transfer-Encoding is not supported; send the body with a Content-Length")
    if "Content-Length" not in headers:
        return 0
    values = {v.strip() for v in headers["Content-Length"].split(",")}
    if len(values) != 1 or not (value := values.pop()).isdigit() or not value.isascii():
        raise HttpError(400, f"invalid Content-Length {headers['Content-Length'][:40]!r}")
    return int(value)


async def _respond(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
    writer.write(_serialize(response, keep_alive))
    await writer.drain()


def _serialize(response: Response, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Date: {_http_date()}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
    ]
    headers = {
        name: value for name, value in response.headers.items() if keep_alive or name.lower() != "connection"
    }
    if not keep_alive:
        headers["Connection"] = "close"
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _http_date() -> str:
    """IMF-fixdate (RFC 9110 5.6.7), in English whatever the locale."""
    t = time.gmtime()
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Before closing on a client that may still be sending (a refused body, an oversized
    message): stop writing and read, briefly, what it sends until it closes its side."""
    with contextlib.suppress(OSError, RuntimeError, TimeoutError):
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_SECONDS):
            while await reader.read(_READ_BUFFER):
                pass


# -- WebSocket ---------------------------------------------------------------------------------------


def websocket_accept(request: Request) -> str:
    """The handshake's Sec-WebSocket-Accept (RFC 6455 4.2), or HttpError naming what is wrong."""
    headers = request.headers
    if "websocket" not in headers.tokens("Upgrade"):
        raise HttpError(
            426,
            "this endpoint is a WebSocket: send 'Upgrade: websocket'",
            {"Upgrade": "websocket", "Connection": "Upgrade"},
        )
    if "upgrade" not in headers.tokens("Connection"):
        raise HttpError(400, "a WebSocket handshake needs 'Connection: Upgrade'")
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        raise HttpError(
            426,
            f"unsupported Sec-WebSocket-Version {headers.get('Sec-WebSocket-Version', '')!r}; use 13",
            {"Sec-WebSocket-Version": "13"},
        )
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid = False
    if not valid:
        raise HttpError(400, "Sec-WebSocket-Key must be 16 random bytes in base64")
    return base64.b64encode(hashlib.sha1(key.encode() + _WEBSOCKET_GUID).digest()).decode()


class Message(NamedTuple):
    type: Literal["text", "binary"]
    data: str | bytes


class _Failure(Exception):
    """The peer broke the protocol: fail the connection with this close code (RFC 6455 7.1.7)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class WebSocket:
    """The server side of one WebSocket connection. One task reads with `receive()`; any task may
    send. Pings are answered inside `receive()`, so a handler keeps receiving while the socket is open."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        heartbeat: float | None = HEARTBEAT_SECONDS,
        max_message: int = MAX_MESSAGE_BYTES,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.max_message = max_message
        self.close_timeout = close_timeout
        self.close_code: int | None = None
        self.close_reason = ""
        self._close_sent = False
        self._closed = asyncio.Event()
        self._reading = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._last_heard = self._loop.time()
        self._heartbeat = (
            self._loop.create_task(self._keep_alive(heartbeat), name="websocket-heartbeat")
            if heartbeat
            else None
        )

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- receiving -----------------------------------------------------------------------------------

    async def receive(self) -> Message | None:
        """The next text or binary message, or None once the connection has closed."""
        async with self._reading:
            if self.closed:
                return None
            return await self._next_message()

    async def _next_message(self) -> Message | None:
        kind = -1  # the opcode of the message being reassembled from fragments, if any
        fragments = bytearray()
        while True:
            try:
                fin, opcode, payload = await self._read_frame(len(fragments))
            except (asyncio.IncompleteReadError, ConnectionError):
                self._finish(ABNORMAL_CLOSURE, "the connection was lost", abort=True)
                return None
            except _Failure as failure:
                await self._fail(failure.code, str(failure))
                return None
            self._last_heard = self._loop.time()
            if opcode == PING:
                if not self._close_sent:
                    await self._send_frame(PONG, payload)
            elif opcode == PONG:
                pass
            elif opcode == CLOSE:
                await self._closed_by_peer(payload)
                return None
            else:
                if (opcode == CONTINUATION) != (kind >= 0):
                    await self._fail(
                        PROTOCOL_ERROR,
                        "unexpected continuation frame"
                        if kind < 0
                        else "a new message began before the fragmented one ended",
                    )
                    return None
                if kind < 0:
                    kind = opcode
                fragments += payload
                if not fin:
                    continue
                data, kind, fragments = bytes(fragments), kind, bytearray()
                if self._close_sent:
                    kind = -1
                    continue  # closing: what the peer sent meanwhile is dropped
                if kind == BINARY:
                    return Message("binary", data)
                try:
                    return Message("text", data.decode("utf-8"))
                except UnicodeDecodeError:
                    await self._fail(INVALID_DATA, "a text message is not valid UTF-8")
                    return None

    async def _read_frame(self, buffered: int) -> tuple[bool, int, bytes]:
        """One frame (RFC 6455 5.2): FIN, opcode and unmasked payload. `buffered` is the size of the
        fragments already received for the current message, which counts towards the limit."""
        first, second = await self._reader.readexactly(2)
        fin, opcode, length = bool(first & 0x80), first & 0x0F, second & 0x7F
        if first & 0x70:
            raise _Failure(PROTOCOL_ERROR, "reserved bits set without a negotiated extension")
        if opcode not in (CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG):
            raise _Failure(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if not second & 0x80:
            raise _Failure(PROTOCOL_ERROR, "client frames must be masked")
        if opcode >= CLOSE and (length > 125 or not fin):
            raise _Failure(PROTOCOL_ERROR, "control frames must be unfragmented and at most 125 bytes")
        if length == 126:
            length = int.from_bytes(await self._reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self._reader.readexactly(8), "big")
            if length >> 63:
                raise _Failure(PROTOCOL_ERROR, "frame length out of range")
        if opcode < CLOSE and buffered + length > self.max_message:
            raise _Failure(MESSAGE_TOO_BIG, f"message larger than {self.max_message} bytes")
        mask = await self._reader.readexactly(4)
        payload = await self._reader.readexactly(length) if length else b""
        return fin, opcode, _unmask(payload, mask)

    async def _closed_by_peer(self, payload: bytes) -> None:
        """The peer's close frame (RFC 6455 5.5.1): answer it with the same code unless we began."""
        if len(payload) == 1:
            await self._fail(PROTOCOL_ERROR, "close frame with a 1-byte payload")
            return
        code = int.from_bytes(payload[:2], "big") if payload else NO_STATUS
        if payload and code not in _SENDABLE_CODES and not 3000 <= code <= 4999:
            await self._fail(PROTOCOL_ERROR, f"invalid close code {code}")
            return
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            await self._fail(INVALID_DATA, "the close reason is not valid UTF-8")
            return
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(ConnectionError):
                await self._send_frame(CLOSE, payload[:2])
        self._finish(code, reason)

    async def _fail(self, code: int, reason: str) -> None:
        """Close with `code` without waiting for the peer's answer (RFC 6455 7.1.7); the rest of
        what it sends (an oversized message, say) is read and dropped so the close frame arrives."""
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(ConnectionError):
                self._writer.write(_frame(CLOSE, _close_payload(code, reason)))
        await _linger(self._reader, self._writer)
        self._finish(code, reason)

    # -- sending -------------------------------------------------------------------------------------

    async def send_bytes(self, data: bytes) -> None:
        await self._send_message(BINARY, data)

    async def send_str(self, text: str) -> None:
        await self._send_message(TEXT, text.encode())

    async def _send_message(self, opcode: int, payload: bytes) -> None:
        if self._close_sent or self.closed:
            raise ConnectionResetError("the WebSocket is closing")
        await self._send_frame(opcode, payload)

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        """Server frames are not masked. Each frame is one `write`, so frames from concurrent
        senders never interleave; `drain` holds a sender back while the peer reads slowly."""
        if self._writer.is_closing():
            raise ConnectionResetError("the connection is closed")
        self._writer.write(_frame(opcode, payload))
        await self._writer.drain()

    # -- closing -------------------------------------------------------------------------------------

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a close frame and wait (at most `close_timeout`) for the peer's; a second call, or a
        call after the peer closed, only waits for the first to finish."""
        if self.closed:
            return
        if not self._close_sent:
            self._close_sent = True
            self.close_code, self.close_reason = code, reason
            try:
                async with asyncio.timeout(self.close_timeout):
                    await self._send_frame(CLOSE, _close_payload(code, reason))
            except (ConnectionError, TimeoutError):
                self._finish(ABNORMAL_CLOSURE, "the close frame could not be sent", abort=True)
                return
        try:
            async with asyncio.timeout(self.close_timeout):
                if self._reading.locked():
                    await self._closed.wait()  # the reading task sees the peer's close frame
                else:
                    while await self.receive() is not None:
                        pass
        except TimeoutError:
            self._finish(ABNORMAL_CLOSURE, "the peer did not answer the close frame", abort=True)

    def _finish(self, code: int, reason: str = "", *, abort: bool = False) -> None:
        """The connection is over: the server closes TCP first (RFC 6455 7.1.1)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if self.closed:
            return
        self._closed.set()
        if self._heartbeat is not None and self._heartbeat is not asyncio.current_task():
            self._heartbeat.cancel()
        if abort:
            self._writer.transport.abort()
        else:
            self._writer.close()

    async def _keep_alive(self, interval: float) -> None:
        """Ping when the peer has been quiet for `interval`; drop it if nothing arrives within half
        of that (aiohttp's heartbeat, which keeps idle connections alive through proxies)."""
        while not self.closed:
            quiet = self._loop.time() - self._last_heard
            if quiet < interval:
                await asyncio.sleep(interval - quiet)
                continue
            pinged = self._loop.time()
            try:
                await self._send_frame(PING, b"")
            except ConnectionError:
                return
            await asyncio.sleep(interval / 2)
            if self._last_heard < pinged and not self.closed:
                self._finish(ABNORMAL_CLOSURE, f"no pong within {interval / 2:g} s of a ping", abort=True)
                return


def _frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked frame (servers do not mask)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
    return header + payload


def _close_payload(code: int, reason: str) -> bytes:
    """Code and reason, the reason cut to fit a control frame's 125 bytes on a character boundary."""
    encoded = reason.encode()[:123].decode("utf-8", errors="ignore").encode()
    return code.to_bytes(2, "big") + encoded


def _unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask, as one big-integer operation (fast in pure Python)."""
    if not payload:
        return payload
    length = len(payload)
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(length, "little")
