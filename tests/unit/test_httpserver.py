"""The launcher's HTTP/1.1 and WebSocket server over real sockets: routes, errors and limits,
keep-alive, the WebSocket handshake, framing rules, close codes and the heartbeat. Well-formed
traffic comes from real clients (http.client, websocket-client); malformed traffic from raw sockets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import queue
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websocket

from launcher.httpserver import HttpServer, Request, Response, WebSocket, json_response

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MIB = 1 << 20


# -- the server under test, on its own event loop in a thread ------------------------------------------


@dataclass
class Served:
    server: HttpServer
    port: int
    loop: asyncio.AbstractEventLoop
    # (path, close code, close reason) as each WebSocket handler saw its connection end
    ended: queue.Queue[tuple[str, int | None, str]]

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def next_end(self) -> tuple[str, int | None, str]:
        return self.ended.get(timeout=30)


async def _describe(request: Request) -> Response:
    return json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "body": request.body.decode(),
            "agent": request.headers.get("user-agent", ""),
        }
    )


async def _boom(request: Request) -> Response:
    raise RuntimeError("broken on purpose")


def _echo(ended: queue.Queue) -> Callable[[Request, WebSocket], Any]:
    async def echo(request: Request, ws: WebSocket) -> None:
        while (message := await ws.receive()) is not None:
            if message.data == "close-me":
                await ws.close(4321, "asked to")
                break
            if message.type == "text":
                await ws.send_str(message.data)
            else:
                await ws.send_bytes(message.data)
        ended.put((request.path, ws.close_code, ws.close_reason))

    return echo


def _refuse_unless_open(request: Request) -> Response | None:
    return None if request.query.get("open") == "1" else json_response({"message": "not now"}, 409)


def _only_friends(request: Request) -> Response | None:
    return None if request.headers.get("X-Friend") == "yes" else json_response({"message": "go away"}, 401)


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="httpserver-test", daemon=True)
    thread.start()
    started: list[Served] = []

    def start(**options: Any) -> Served:
        ended: queue.Queue = queue.Queue()
        server = HttpServer(**options)
        server.route("GET", "/describe", _describe)
        server.route("POST", "/describe", _describe)
        server.route("GET", "/boom", _boom)
        server.websocket("/ws", _echo(ended))
        server.websocket("/gated", _echo(ended), admit=_refuse_unless_open)
        server.websocket("/small", _echo(ended), max_message=1000)
        server.websocket("/heartbeat", _echo(ended), heartbeat=0.2)
        served = Served(server, 0, loop, ended)
        served.port = served.run(server.start("127.0.0.1", 0))
        started.append(served)
        return served

    yield start
    for served in started:
        served.run(served.server.close())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def served(serve: Callable[..., Served]) -> Served:
    return serve()


# -- raw clients --------------------------------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One response from `sock` (leftover bytes stay in `buffer`): status, headers, body."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a response; got {bytes(buffer)!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a body"
        rest += chunk
    buffer[:] = rest[length:]
    return int(lines[0].split(" ")[1]), headers, rest[:length]


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with _connect(port) as sock:
        sock.sendall(raw)
        return _read_response(sock, bytearray())


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


class RawWebSocket:
    """A hand-rolled WebSocket client, to send what a well-behaved one never would."""

    def __init__(self, port: int, path: str = "/ws") -> None:
        self.sock = _connect(port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: launcher\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = bytearray()
        status, headers, _ = _read_response(self.sock, self.buffer)
        assert status == 101
        expected = base64.b64encode(
            hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        assert headers["sec-websocket-accept"] == expected.decode()

    def send(
        self, opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True, rsv: int = 0
    ) -> None:
        first = (0x80 if fin else 0) | rsv << 4 | opcode
        length = len(payload)
        mask_bit = 0x80 if masked else 0
        if length < 126:
            header = struct.pack("!BB", first, mask_bit | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, mask_bit | 126, length)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, length)
        if masked:
            mask = os.urandom(4)
            payload = mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + payload)

    def _take(self, count: int) -> bytes | None:
        while len(self.buffer) < count:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buffer += chunk
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def receive(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next frame, or None when the server closed the connection."""
        header = self._take(2)
        if header is None:
            return None
        assert not header[1] & 0x80, "server frames must not be masked"
        length = header[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._take(2) or b"\0\0")[0]
        elif length == 127:
            length = struct.unpack("!Q", self._take(8) or b"\0" * 8)[0]
        payload = self._take(length) if length else b""
        assert payload is not None
        return header[0] & 0x0F, payload

    def close_frame(self) -> tuple[int, str]:
        """Read to the server's close frame: its code and reason."""
        while (frame := self.receive()) is not None:
            if frame[0] == CLOSE:
                return struct.unpack("!H", frame[1][:2])[0], frame[1][2:].decode()
        raise AssertionError("the server closed without a close frame")


def _ws(port: int, path: str = "/ws") -> websocket.WebSocket:
    return websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=10)


def _close_code(frame_data: bytes) -> int:
    return struct.unpack("!H", frame_data[:2])[0]


# -- HTTP ---------------------------------------------------------------------------------------------


def test_a_route_answers_json_with_its_length_and_the_parsed_query(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.request("GET", "/describe?name=a%20b&flag&name=second", headers={"User-Agent": "kvtui-test"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    assert int(response.getheader("Content-Length")) == len(body)
    assert response.getheader("Date", "").endswith(" GMT")
    assert json.loads(body) == {
        "method": "GET",
        "path": "/describe",
        "query": {"name": "a b", "flag": ""},
        "body": "",
        "agent": "kvtui-test",
    }
    conn.close()


def test_an_unknown_path_is_404_and_a_wrong_method_405_naming_the_allowed_ones(served: Served) -> None:
    status, _, body = _exchange(served.port, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, json.loads(body)) == (404, {"message": "no such endpoint: /nothing"})
    status, headers, body = _exchange(served.port, b"DELETE /describe HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405
    assert headers["allow"] == "GET, POST"
    assert "use GET, POST" in json.loads(body)["message"]
    status, headers, _ = _exchange(served.port, b"POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert (status, headers["allow"]) == (405, "GET")


def test_keep_alive_serves_two_requests_on_one_connection(served: Served) -> None:
    with _connect(served.port) as sock:
        buffer = bytearray()
        sock.sendall(b"GET /describe?n=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        first = _read_response(sock, buffer)
        sock.sendall(b"POST /describe?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        second = _read_response(sock, buffer)
        assert (first[0], json.loads(first[2])["query"]) == (200, {"n": "1"})
        assert (second[0], json.loads(second[2])["body"]) == (200, "hello")
        assert "connection" not in second[1]
        # pipelined: both requests at once, answered in order
        sock.sendall(
            b"GET /describe?n=3 HTTP/1.1\r\nHost: x\r\n\r\nGET /describe?n=4 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert json.loads(_read_response(sock, buffer)[2])["query"] == {"n": "3"}
        assert json.loads(_read_response(sock, buffer)[2])["query"] == {"n": "4"}


def test_connection_close_and_http_1_0_end_the_connection_after_the_response(served: Served) -> None:
    for request in (
        b"GET /describe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /describe HTTP/1.0\r\n\r\n",
    ):
        with _connect(served.port) as sock:
            sock.sendall(request)
            status, headers, _ = _read_response(sock, bytearray())
            assert (status, headers["connection"]) == (200, "close")
            assert _closed_by_server(sock)
    status, headers, _ = _exchange(served.port, b"GET /describe HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert status == 200 and "connection" not in headers


def test_a_body_up_to_1_mib_is_read_and_a_larger_one_refused_with_413(served: Served) -> None:
    body = b"x" * MIB
    status, _, answer = _exchange(
        served.port, b"POST /describe HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % MIB + body
    )
    assert (status, len(json.loads(answer)["body"])) == (200, MIB)
    with _connect(served.port) as sock:
        sock.sendall(b"POST /describe HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MIB + 1) + body + b"x")
        status, headers, answer = _read_response(sock, bytearray())
        assert status == 413
        assert headers["connection"] == "close"
        assert "exceeds 1048576 bytes" in json.loads(answer)["message"]
        assert _closed_by_server(sock)


def test_expect_100_continue_is_answered_before_the_body(served: Served) -> None:
    with _connect(served.port) as sock:
        sock.sendall(b"POST /describe HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        buffer = bytearray()
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(1024)
        assert bytes(buffer).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        del buffer[: len(b"HTTP/1.1 100 Continue\r\n\r\n")]
        sock.sendall(b"abc")
        assert json.loads(_read_response(sock, buffer)[2])["body"] == "abc"


def test_headers_over_16_kib_are_refused_with_431(served: Served) -> None:
    fits = b"GET /describe HTTP/1.1\r\nX-Filler: " + b"a" * (15 * 1024) + b"\r\n\r\n"
    assert _exchange(served.port, fits)[0] == 200
    too_big = b"GET /describe HTTP/1.1\r\nX-Filler: " + b"a" * (16 * 1024) + b"\r\n\r\n"
    assert _exchange(served.port, too_big)[0] == 431
    endless = b"GET /describe HTTP/1.1\r\n" + b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaa\r\n" * 4000
    assert _exchange(served.port, endless)[0] == 431


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET /describe\r\n\r\n", 400),
        (b"GET  /describe HTTP/1.1\r\n\r\n", 400),
        (b"G(T /describe HTTP/1.1\r\n\r\n", 400),
        (b"GET describe HTTP/1.1\r\n\r\n", 400),
        (b"GET /describe HTTP/2.0\r\n\r\n", 505),
        (b"GET /describe FTP/1.1\r\n\r\n", 400),
        (b"GET /describe HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
        (b"GET /describe HTTP/1.1\r\nSpace before : colon\r\n\r\n", 400),
        (b"GET /describe HTTP/1.1\r\nX-A: 1\r\n folded: continuation\r\n\r\n", 400),
        (b"POST /describe HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /describe HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"POST /describe HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    ],
)
def test_malformed_requests_are_refused_and_the_connection_closed(
    served: Served, raw: bytes, status: int
) -> None:
    with _connect(served.port) as sock:
        sock.sendall(raw)
        answer = _read_response(sock, bytearray())
        assert answer[0] == status
        assert json.loads(answer[2])["message"]
        assert _closed_by_server(sock)


def test_a_failing_handler_is_a_500_not_a_dropped_connection(served: Served) -> None:
    status, headers, body = _exchange(served.port, b"GET /boom HTTP/1.1\r\n\r\n")
    assert (status, json.loads(body)) == (500, {"message": "internal error: broken on purpose"})
    assert headers["connection"] == "close"


def test_the_guard_answers_before_any_route(serve: Callable[..., Served]) -> None:
    served = serve(guard=_only_friends)
    assert _exchange(served.port, b"GET /describe HTTP/1.1\r\n\r\n")[0] == 401
    assert _exchange(served.port, b"GET /nothing HTTP/1.1\r\n\r\n")[0] == 401
    assert _exchange(served.port, b"GET /describe HTTP/1.1\r\nX-Friend: yes\r\n\r\n")[0] == 200
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _ws(served.port)
    assert refused.value.status_code == 401
    friend = websocket.create_connection(
        f"ws://127.0.0.1:{served.port}/ws", timeout=10, header=["X-Friend: yes"]
    )
    friend.send("hi")
    assert friend.recv() == "hi"
    friend.close()


# -- the WebSocket handshake --------------------------------------------------------------------------


def _handshake(port: int, **override: str | None) -> tuple[int, dict[str, str], bytes]:
    headers = {
        "Host": "x",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
        "Sec-WebSocket-Version": "13",
    }
    headers.update(override)
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if v is not None)
    return _exchange(port, f"GET /ws HTTP/1.1\r\n{lines}\r\n".encode())


def test_a_valid_handshake_switches_protocols_with_the_accept_key(served: Served) -> None:
    status, headers, _ = _handshake(served.port)
    assert status == 101
    assert headers["upgrade"] == "websocket"
    # RFC 6455 section 1.3's worked example uses this key
    status, headers, _ = _handshake(served.port, **{"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_bad_handshakes_are_refused_with_400_or_426(served: Served) -> None:
    status, headers, _ = _handshake(served.port, Upgrade=None)
    assert (status, headers["upgrade"]) == (426, "websocket")
    status, headers, _ = _handshake(served.port, Upgrade="h2c")
    assert status == 426
    status, headers, _ = _handshake(served.port, **{"Sec-WebSocket-Version": "8"})
    assert (status, headers["sec-websocket-version"]) == (426, "13")
    assert _handshake(served.port, Connection="keep-alive")[0] == 400
    assert _handshake(served.port, **{"Sec-WebSocket-Key": None})[0] == 400
    assert _handshake(served.port, **{"Sec-WebSocket-Key": "c2hvcnQ="})[0] == 400
    assert _handshake(served.port, **{"Sec-WebSocket-Key": "not base64!"})[0] == 400


def test_a_route_may_refuse_the_upgrade_before_the_handshake(served: Served) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _ws(served.port, "/gated")
    assert refused.value.status_code == 409
    assert json.loads(refused.value.resp_body) == {"message": "not now"}
    admitted = _ws(served.port, "/gated?open=1")
    admitted.send_binary(b"in")
    assert admitted.recv() == b"in"
    admitted.close()


# -- WebSocket frames ---------------------------------------------------------------------------------


def test_text_and_binary_messages_are_echoed_with_their_type(served: Served) -> None:
    ws = _ws(served.port)
    ws.send_binary(b"\x00\xffbytes")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_BINARY, b"\x00\xffbytes")
    ws.send("grüße")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, "grüße".encode())
    big = os.urandom(70000)  # 64-bit length on the way in and out
    ws.send_binary(big)
    assert ws.recv() == big
    ws.close()


def test_unmasked_client_frames_fail_the_connection_with_1002(served: Served) -> None:
    peer = RawWebSocket(served.port)
    peer.send(BINARY, b"plain", masked=False)
    assert peer.close_frame()[0] == 1002
    assert peer.receive() is None
    peer.sock.close()
    assert served.next_end()[1] == 1002


@pytest.mark.parametrize(
    "frames",
    [
        [(CONT, b"orphan", True)],  # continuation with nothing to continue
        [(TEXT, b"part", False), (BINARY, b"new", True)],  # new message inside a fragmented one
        [(PING, b"x" * 126, True)],  # control frame over 125 bytes
        [(PING, b"x", False)],  # fragmented control frame
        [(0x3, b"", True)],  # reserved opcode
        [(CLOSE, b"\x03", True)],  # one-byte close payload
        [(CLOSE, struct.pack("!H", 1005), True)],  # a code no endpoint may send
    ],
)
def test_protocol_violations_close_with_1002(served: Served, frames: list[tuple[int, bytes, bool]]) -> None:
    peer = RawWebSocket(served.port)
    for opcode, payload, fin in frames:
        peer.send(opcode, payload, fin=fin)
    assert peer.close_frame()[0] == 1002


def test_reserved_bits_without_an_extension_close_with_1002(served: Served) -> None:
    peer = RawWebSocket(served.port)
    peer.send(TEXT, b"compressed?", rsv=0b100)
    assert peer.close_frame()[0] == 1002


def test_a_fragmented_message_is_reassembled_around_an_interleaved_ping(served: Served) -> None:
    ws = _ws(served.port)
    ws.send_frame(websocket.ABNF.create_frame(b"hel", websocket.ABNF.OPCODE_TEXT, fin=0))
    ws.send_frame(websocket.ABNF.create_frame(b"lo ", websocket.ABNF.OPCODE_CONT, fin=0))
    ws.ping(b"between")
    ws.send_frame(websocket.ABNF.create_frame(b"world", websocket.ABNF.OPCODE_CONT, fin=1))
    assert ws.recv_data(control_frame=True) == (websocket.ABNF.OPCODE_PONG, b"between")
    assert ws.recv_data() == (websocket.ABNF.OPCODE_TEXT, b"hello world")
    ws.close()


def test_a_ping_is_answered_with_a_pong_carrying_its_payload(served: Served) -> None:
    ws = _ws(served.port)
    ws.ping(b"are you there")
    assert ws.recv_data(control_frame=True) == (websocket.ABNF.OPCODE_PONG, b"are you there")
    ws.close()


def test_the_client_closing_is_answered_with_its_code(served: Served) -> None:
    peer = RawWebSocket(served.port)
    peer.send(CLOSE, struct.pack("!H", 3003) + b"bye now")
    assert peer.close_frame() == (3003, "")
    assert peer.receive() is None  # and the server closes TCP
    assert served.next_end() == ("/ws", 3003, "bye now")


def test_a_close_without_a_code_is_answered_without_one(served: Served) -> None:
    peer = RawWebSocket(served.port)
    peer.send(CLOSE)
    assert peer.receive() == (CLOSE, b"")
    assert served.next_end()[1] == 1005


def test_the_server_closing_sends_its_code_and_waits_for_the_answer(served: Served) -> None:
    ws = _ws(served.port)
    ws.send("close-me")
    opcode, frame = ws.recv_data_frame(control_frame=True)  # websocket-client answers the close itself
    assert (opcode, _close_code(frame.data), frame.data[2:]) == (
        websocket.ABNF.OPCODE_CLOSE,
        4321,
        b"asked to",
    )
    assert served.next_end() == ("/ws", 4321, "asked to")


def test_messages_up_to_1_mib_pass_and_a_larger_one_closes_with_1009(served: Served) -> None:
    ws = _ws(served.port)
    ws.send_binary(b"m" * MIB)
    assert ws.recv() == b"m" * MIB
    ws.send_binary(b"m" * (MIB + 1))
    opcode, data = ws.recv_data(control_frame=True)
    assert (opcode, _close_code(data)) == (websocket.ABNF.OPCODE_CLOSE, 1009)
    ws.shutdown()
    assert served.next_end()[1] == 1009


def test_the_size_limit_counts_every_fragment_of_a_message(served: Served) -> None:
    peer = RawWebSocket(served.port, "/small")
    peer.send(BINARY, b"a" * 600, fin=False)
    peer.send(CONT, b"a" * 600)
    assert peer.close_frame()[0] == 1009


def test_invalid_utf8_text_closes_with_1007(served: Served) -> None:
    peer = RawWebSocket(served.port)
    peer.send(TEXT, "é".encode()[:1] + b"x")
    assert peer.close_frame()[0] == 1007
    peer.sock.close()
    assert served.next_end()[1] == 1007


def test_the_heartbeat_drops_a_peer_that_never_answers_pings(served: Served) -> None:
    peer = RawWebSocket(served.port, "/heartbeat")
    frames = []
    while (frame := peer.receive()) is not None:
        frames.append(frame)
    assert frames and frames[0] == (PING, b"")
    assert served.next_end()[1] == 1006


def test_the_heartbeat_keeps_a_peer_that_answers(served: Served) -> None:
    peer = RawWebSocket(served.port, "/heartbeat")
    for _ in range(3):  # every ping after the first proves the connection outlived a pong deadline
        assert peer.receive() == (PING, b"")
        peer.send(PONG)
    peer.send(TEXT, b"still here")
    frame = peer.receive()
    while frame is not None and frame[0] == PING:
        peer.send(PONG)
        frame = peer.receive()
    assert frame == (TEXT, b"still here")


def test_closing_the_server_ends_idle_connections_and_then_open_websockets_with_1001(
    serve: Callable[..., Served],
) -> None:
    served = serve()
    idle = _connect(served.port)
    idle.sendall(b"GET /describe HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _read_response(idle, bytearray())[0] == 200
    ws = _ws(served.port)
    ws.send("before")
    assert ws.recv() == "before"
    closing = asyncio.run_coroutine_threadsafe(served.server.close(timeout=0.2), served.loop)
    assert _closed_by_server(idle)
    opcode, data = ws.recv_data(control_frame=True)  # after the handler's grace time ran out
    assert (opcode, _close_code(data)) == (websocket.ABNF.OPCODE_CLOSE, 1001)
    closing.result(30)
    assert served.next_end() == ("/ws", 1001, "server shutting down")
    with pytest.raises(ConnectionRefusedError):
        _connect(served.port)
    idle.close()
