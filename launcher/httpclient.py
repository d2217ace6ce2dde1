"""The client side of HTTP/1.1 that the launcher's API calls need, and no more: one keep-alive
connection (plain or TLS), a request with an optional body, and a response whose body is framed by
Content-Length, chunked transfer coding or the end of the connection, read whole or a line at a
time (a watch). Written for the launcher because the standard library's `http.client` brings the
`email` package along, about 1.4 MiB resident in every launcher pod.
"""

from __future__ import annotations

import select
import socket
import ssl
from dataclasses import dataclass
from io import BufferedReader

MAX_LINE = 65536  # a status line, header line or chunk-size line longer than this is malformed
MAX_HEADERS = 200
_READ_SIZE = 65536


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 this client can read."""


class ServerClosed(ConnectionResetError):
    """The connection ended before the server sent a status line: a keep-alive connection the
    server closed while it sat idle."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: ssl.SSLContext | None
    server_hostname: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls is not None else 80
        return host if self.port == default else f"{host}:{self.port}"


class Connection:
    """One HTTP/1.1 connection, opened by the first request: connecting (and the TLS handshake)
    may take `connect_timeout`, each read after that `timeout`. Not for two threads at once."""

    def __init__(self, endpoint: Endpoint, timeout: float, connect_timeout: float) -> None:
        self.endpoint, self.timeout, self.connect_timeout = endpoint, timeout, connect_timeout
        self.sock: socket.socket | None = None
        self._reader: BufferedReader | None = None

    def connect(self) -> None:
        sock = socket.create_connection((self.endpoint.host, self.endpoint.port), self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.endpoint.tls is not None:
                sock = self.endpoint.tls.wrap_socket(sock, server_hostname=self.endpoint.server_hostname)
            sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        self.sock, self._reader = sock, sock.makefile("rb")

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes | None = None) -> Response:
        """Send one request and read the response's status line and headers; its body is left for
        the caller to read (before the next request on this connection)."""
        for part in (method, target, *headers, *headers.values()):
            if "\r" in part or "\n" in part:
                raise ValueError(f"a line break in the request line or a header of {method} {target!r}")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.endpoint.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        if self.sock is None:
            self.connect()
        assert self.sock is not None and self._reader is not None
        self.sock.sendall(head.encode("latin-1") + (body or b""))
        return Response(self._reader, head_only=method == "HEAD")

    def closed_by_server(self) -> bool:
        """An idle connection with something to read has been closed (or broken) by the server."""
        if self.sock is None:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        reader, sock = self._reader, self.sock
        self._reader = self.sock = None
        if reader is not None:
            reader.close()
        if sock is not None:
            sock.close()


class Response:
    """A response's status and headers (names in lower case), and its body to read."""

    def __init__(self, reader: BufferedReader, head_only: bool = False) -> None:
        self._reader = reader
        while True:
            version, self.status, self.reason = _status_line(reader)
            self.headers = _headers(reader)
            if not 100 <= self.status < 200:
                break  # 1xx answers (100 Continue) precede the real one
        connection = {token.strip().lower() for token in self.headers.get("connection", "").split(",")}
        self.will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        self._chunked = False
        self._remaining: int | None = 0  # body bytes still to come; None: until the connection ends
        if not (head_only or self.status in (204, 304)):
            coding = self.headers.get("transfer-encoding", "").lower()
            if coding:
                if coding.split(",")[-1].strip() != "chunked":
                    raise ProtocolError(f"unsupported Transfer-Encoding {coding!r}")
                self._chunked, self._remaining = True, None
            elif "content-length" in self.headers:
                self._remaining = _content_length(self.headers["content-length"])
            else:
                self._remaining, self.will_close = None, True
        self._buffer = b""
        self._done = self._remaining == 0

    def read(self) -> bytes:
        """The rest of the body."""
        while not self._done:
            self._fill()
        data, self._buffer = self._buffer, b""
        return data

    def readline(self) -> bytes:
        """The body's next line, with its b"\\n"; the last may lack it; b"" once the body has ended."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if self._done:
                line, self._buffer = self._buffer, b""
                return line
            self._fill()

    def _fill(self) -> None:
        if self._chunked:
            self._buffer += self._next_chunk()
        elif self._remaining is None:
            data = self._reader.read1(_READ_SIZE)
            self._buffer += data
            self._done = not data
        else:
            data = self._reader.read1(min(self._remaining, _READ_SIZE))
            if not data:
                raise ProtocolError(f"the connection ended {self._remaining} bytes before the body's end")
            self._buffer += data
            self._remaining -= len(data)
            self._done = self._remaining == 0

    def _next_chunk(self) -> bytes:
        size_line = _line(self._reader, "chunk size")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"a chunk size is not hexadecimal: {size_line[:40]!r}") from None
        if size < 0:
            raise ProtocolError(f"a negative chunk size: {size_line[:40]!r}")
        if size == 0:
            _headers(self._reader)  # trailers, up to the blank line that ends the body
            self._done = True
            return b""
        data = self._reader.read(size)
        if len(data) < size or _line(self._reader, "chunk end").strip():
            raise ProtocolError("the connection ended inside a chunk" if len(data) < size
                                else "a chunk is longer than its size")
        return data


def _line(reader: BufferedReader, what: str) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolError(f"the {what} line is longer than {MAX_LINE} bytes")
    if not line.endswith(b"\n"):
        raise ProtocolError(f"the connection ended inside the {what} line")
    return line


def _status_line(reader: BufferedReader) -> tuple[str, int, str]:
    line = reader.readline(MAX_LINE + 1)
    if not line:
        raise ServerClosed("the server closed the connection without answering")
    if len(line) > MAX_LINE:
        raise ProtocolError(f"the status line is longer than {MAX_LINE} bytes")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    version = parts[0]
    if not version.startswith("HTTP/1.") or len(parts) < 2 or not (parts[1].isdigit() and len(parts[1]) == 3):
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:60]!r}")
    return version, int(parts[1]), parts[2] if len(parts) > 2 else ""


def _headers(reader: BufferedReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = _line(reader, "header")
        if line in (b"\r\n", b"\n"):
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise ProtocolError(f"a malformed header line: {line[:60]!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise ProtocolError(f"more than {MAX_HEADERS} header lines")


def _content_length(value: str) -> int:
    values = {v.strip() for v in value.split(",")}  # a repeated header must agree with itself
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ProtocolError(f"an invalid Content-Length {value!r}")
    return int(values.pop())
