"""The launcher's HTTP/1.1 client against a socket server that sends scripted answers, byte for
byte: framing by Content-Length, chunks and the connection's end; keep-alive; malformed answers.
(Well-formed traffic from a real API server is in tests/launcher/test_kubeapi.py.)"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from launcher.httpclient import Connection, Endpoint, ProtocolError, ServerClosed


class _Scripted:
    """Accepts one connection; for each request it reads (up to the blank line and any
    Content-Length body) it sends the next scripted answer, then closes after the last."""

    def __init__(self, *answers: bytes, close_after: bool = True) -> None:
        self.answers, self.close_after = list(answers), close_after
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = Endpoint("127.0.0.1", self._listener.getsockname()[1], None, "127.0.0.1")
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        with conn:
            buffer = b""
            for answer in self.answers:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                conn.sendall(answer)
            if not self.close_after:
                conn.recv(1)  # until the client closes

    def connection(self) -> Connection:
        return Connection(self.endpoint, timeout=10, connect_timeout=10)

    def close(self) -> None:
        self._thread.join(10)
        self._listener.close()


@pytest.fixture
def scripted():
    servers: list[_Scripted] = []

    def start(*answers: bytes, close_after: bool = True) -> _Scripted:
        servers.append(_Scripted(*answers, close_after=close_after))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_two_requests_share_one_keep_alive_connection_and_send_their_bodies(scripted) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
                      b"HTTP/1.1 201 Created\r\ncontent-length: 6\r\n\r\nsecond")
    conn = server.connection()
    first = conn.request("GET", "/a?x=1", {"Accept": "application/json"})
    assert (first.status, first.reason, first.read(), first.will_close) == (200, "OK", b"first", False)
    second = conn.request("POST", "/b", {"Content-Type": "application/json"}, b'{"k":1}')
    assert (second.status, second.reason, second.read()) == (201, "Created", b"second")
    conn.close()
    host = f"Host: 127.0.0.1:{server.endpoint.port}".encode()
    assert server.requests[0] == b"GET /a?x=1 HTTP/1.1\r\n" + host + b"\r\nAccept: application/json\r\n\r\n"
    assert server.requests[1] == (b"POST /b HTTP/1.1\r\n" + host + b"\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: 7\r\n\r\n{\"k\":1}")


def test_a_chunked_body_is_read_line_by_line_across_chunk_boundaries(scripted) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"4\r\none\n\r\n"          # a whole line
                      b"3;ext=1\r\ntwo\r\n"      # a line split over two chunks, with a chunk extension
                      b"5\r\n\nthre\r\n"
                      b"2\r\ne\n\r\n"
                      b"0\r\nTrailer: x\r\n\r\n",
                      b"HTTP/1.1 204 No Content\r\n\r\n")
    conn = server.connection()
    response = conn.request("GET", "/watch", {})
    lines = [response.readline() for _ in range(4)]
    assert lines == [b"one\n", b"two\n", b"three\n", b""]
    assert not response.will_close
    after = conn.request("GET", "/next", {})  # the trailer was consumed: the connection is reusable
    assert (after.status, after.read()) == (204, b"")
    conn.close()


def test_a_body_without_length_runs_to_the_connections_end_and_closes_it(scripted) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\n\r\nall of it\nuntil the end")
    response = server.connection().request("GET", "/", {})
    assert response.will_close
    assert response.read() == b"all of it\nuntil the end"


@pytest.mark.parametrize("head, closes", [
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", True),
    (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n", True),
    (b"HTTP/1.0 200 OK\r\n", True),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", False),
    (b"HTTP/1.1 200 OK\r\n", False),
])
def test_the_response_says_whether_the_connection_can_be_reused(scripted, head: bytes, closes: bool) -> None:
    server = scripted(head + b"Content-Length: 2\r\n\r\nok")
    response = server.connection().request("GET", "/", {})
    assert (response.read(), response.will_close) == (b"ok", closes)


def test_an_interim_100_continue_is_skipped(scripted) -> None:
    server = scripted(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
    response = server.connection().request("GET", "/", {})
    assert (response.status, response.read()) == (200, b"done")


def test_a_connection_closed_before_any_answer_is_a_server_close(scripted) -> None:
    server = scripted(b"")
    with pytest.raises(ServerClosed):
        server.connection().request("GET", "/", {})


@pytest.mark.parametrize("answer, message", [
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "5 bytes before the body's end"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", "invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size is not hexadecimal"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "longer than its size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc", "ended inside a chunk"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "longer than 65536 bytes"),
])
def test_a_malformed_answer_is_a_protocol_error_saying_what_is_wrong(scripted, answer: bytes, message: str) -> None:
    server = scripted(answer)
    with pytest.raises(ProtocolError, match=message):
        server.connection().request("GET", "/", {}).read()


def test_a_line_break_in_a_header_is_refused_before_anything_is_sent(scripted) -> None:
    server = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    conn = server.connection()
    with pytest.raises(ValueError, match="line break"):
        conn.request("GET", "/", {"Authorization": "Bearer x\r\nX-Injected: yes"})
    assert conn.sock is None and server.requests == []
    assert conn.request("GET", "/", {}).status == 200


@pytest.mark.parametrize("host, port, tls, header", [
    ("api.example", 443, True, "api.example"),
    ("api.example", 6443, True, "api.example:6443"),
    ("10.0.0.1", 80, False, "10.0.0.1"),
    ("fd00::1", 6443, True, "[fd00::1]:6443"),
])
def test_the_host_header_brackets_ipv6_and_omits_the_default_port(
    host: str, port: int, tls: bool, header: str
) -> None:
    endpoint = Endpoint(host, port, ssl.create_default_context() if tls else None, host)
    assert endpoint.host_header == header
