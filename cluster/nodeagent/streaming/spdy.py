"""SPDY/3.1 framing as kubectl port-forward speaks it (tunnelled in WebSocket binary messages):
frames to bytes and back, with the zlib name/value header compression SPDY/3 prescribes."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3

# Control frame types (SPDY/3 section 2.6).
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes.
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5
INTERNAL_ERROR = 6

MAX_DATA_LENGTH = (1 << 24) - 1


def _build_dictionary() -> bytes:
    """The header compression dictionary of draft-mbelshe-httpbis-spdy-00 section 2.6.10.1: header names
    and common values, each behind a 32-bit length, then status lines, dates and media types as text.
    zlib checks it by Adler-32, so it must be byte-exact."""
    names = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date "
             "etag expect expires from host if-match if-modified-since if-none-match if-range "
             "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
             "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
             "user-agent vary via warning www-authenticate method get status").split()
    names += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    prefixed = b"".join(struct.pack(">I", len(n)) + n.encode() for n in names)
    text = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
            "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
            "503 Service Unavailable"
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
            "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,"
            "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
            "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return prefixed + text.encode()


DICTIONARY = _build_dictionary()


class ProtocolError(Exception):
    """The peer sent bytes that are not SPDY/3 frames; the session cannot continue."""


# --------------------------------------------------------------------------------------------
# Frames


Headers = dict[str, list[str]]


@dataclass
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class SynStream:
    stream_id: int
    headers: Headers
    associated_to: int = 0
    priority: int = 0
    slot: int = 0
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Settings:
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # (flags, id, value)
    flags: int = 0


@dataclass
class Ping:
    ping_id: int


@dataclass
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass
class WindowUpdate:
    stream_id: int
    delta: int


Frame = DataFrame | SynStream | SynReply | RstStream | Settings | Ping | GoAway | HeadersFrame | WindowUpdate


def header_value(headers: Headers, name: str) -> str:
    """The first value of a header, by case-insensitive name; '' when absent."""
    for key, values in headers.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return ""


# --------------------------------------------------------------------------------------------
# Name/value header blocks


def encode_header_block(headers: Headers) -> bytes:
    """The uncompressed block: a count, then each lower-cased name and its NUL-joined values."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        raw_name, raw_value = name.lower().encode(), "\0".join(values).encode()
        out += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    headers: Headers = {}
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        for _ in range(count):
            (length,) = struct.unpack_from(">I", block, pos)
            name, pos = block[pos + 4:pos + 4 + length].decode(), pos + 4 + length
            (length,) = struct.unpack_from(">I", block, pos)
            value, pos = block[pos + 4:pos + 4 + length].decode(), pos + 4 + length
            headers.setdefault(name.lower(), []).extend(value.split("\0"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed header block: {exc}") from exc
    return headers


class HeaderCompressor:
    """One zlib stream per direction of a session, primed with the dictionary and flushed after each
    block: the peer's inflater carries state from block to block, so blocks must go out in order."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    def compress(self, headers: Headers) -> bytes:
        return self._zlib.compress(encode_header_block(headers)) + self._zlib.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(zdict=DICTIONARY)

    def decompress(self, compressed: bytes) -> Headers:
        try:
            block = self._zlib.decompress(compressed)
        except zlib.error as exc:
            raise ProtocolError(f"cannot inflate a header block: {exc}") from exc
        return decode_header_block(block)


# --------------------------------------------------------------------------------------------
# Encoding


def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


def encode_data(stream_id: int, data: bytes = b"", fin: bool = False) -> bytes:
    if len(data) > MAX_DATA_LENGTH:
        raise ValueError(f"a DATA frame carries at most {MAX_DATA_LENGTH} bytes, not {len(data)}")
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


class FrameWriter:
    """Encodes frames; it owns the session's outbound header compressor."""

    def __init__(self) -> None:
        self._headers = HeaderCompressor()

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, DataFrame):
            return encode_data(frame.stream_id, frame.data, frame.fin)
        if isinstance(frame, SynStream):
            payload = struct.pack(">IIBB", frame.stream_id & 0x7FFFFFFF, frame.associated_to & 0x7FFFFFFF,
                                  (frame.priority & 0x7) << 5, frame.slot)
            return _control(SYN_STREAM, frame.flags, payload + self._headers.compress(frame.headers))
        if isinstance(frame, SynReply):
            payload = struct.pack(">I", frame.stream_id & 0x7FFFFFFF) + self._headers.compress(frame.headers)
            return _control(SYN_REPLY, frame.flags, payload)
        if isinstance(frame, HeadersFrame):
            payload = struct.pack(">I", frame.stream_id & 0x7FFFFFFF) + self._headers.compress(frame.headers)
            return _control(HEADERS, frame.flags, payload)
        if isinstance(frame, RstStream):
            return _control(RST_STREAM, 0, struct.pack(">II", frame.stream_id & 0x7FFFFFFF, frame.status))
        if isinstance(frame, Settings):
            entries = b"".join(struct.pack(">II", (flags << 24) | (ident & 0xFFFFFF), value)
                               for flags, ident, value in frame.entries)
            return _control(SETTINGS, frame.flags, struct.pack(">I", len(frame.entries)) + entries)
        if isinstance(frame, Ping):
            return _control(PING, 0, struct.pack(">I", frame.ping_id))
        if isinstance(frame, GoAway):
            return _control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id & 0x7FFFFFFF, frame.status))
        if isinstance(frame, WindowUpdate):
            return _control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id & 0x7FFFFFFF,
                                                          frame.delta & 0x7FFFFFFF))
        raise TypeError(f"not a SPDY frame: {frame!r}")


# --------------------------------------------------------------------------------------------
# Decoding


class FrameReader:
    """Turns a byte stream into frames. Bytes arrive in arbitrary pieces (kubectl's tunnel writes one
    WebSocket message per write, not per frame), so partial frames wait for the rest."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._headers = HeaderDecompressor()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            frame = self._decode(head, payload)
            if frame is not None:
                frames.append(frame)
        return frames

    def _decode(self, head: bytes, payload: bytes) -> Frame | None:
        first, flags = struct.unpack_from(">I", head)[0], head[4]
        if not first & 0x80000000:
            return DataFrame(first & 0x7FFFFFFF, payload, flags)
        version, frame_type = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version} is not supported; this server speaks SPDY/3.1")
        try:
            return self._control(frame_type, flags, payload)
        except struct.error as exc:
            raise ProtocolError(f"truncated control frame of type {frame_type}: {exc}") from exc

    def _control(self, frame_type: int, flags: int, payload: bytes) -> Frame | None:
        if frame_type == SYN_STREAM:
            stream_id, associated, priority, slot = struct.unpack_from(">IIBB", payload)
            return SynStream(stream_id & 0x7FFFFFFF, self._headers.decompress(payload[10:]),
                             associated & 0x7FFFFFFF, priority >> 5, slot, flags)
        if frame_type in (SYN_REPLY, HEADERS):
            (stream_id,) = struct.unpack_from(">I", payload)
            headers = self._headers.decompress(payload[4:])
            if frame_type == SYN_REPLY:
                return SynReply(stream_id & 0x7FFFFFFF, headers, flags)
            return HeadersFrame(stream_id & 0x7FFFFFFF, headers, flags)
        if frame_type == RST_STREAM:
            stream_id, status = struct.unpack_from(">II", payload)
            return RstStream(stream_id & 0x7FFFFFFF, status)
        if frame_type == SETTINGS:
            (count,) = struct.unpack_from(">I", payload)
            entries = []
            for i in range(count):
                word, value = struct.unpack_from(">II", payload, 4 + 8 * i)
                entries.append((word >> 24, word & 0xFFFFFF, value))
            return Settings(entries, flags)
        if frame_type == PING:
            return Ping(struct.unpack_from(">I", payload)[0])
        if frame_type == GOAWAY:
            last_good, status = struct.unpack_from(">II", payload)
            return GoAway(last_good & 0x7FFFFFFF, status)
        if frame_type == WINDOW_UPDATE:
            stream_id, delta = struct.unpack_from(">II", payload)
            return WindowUpdate(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return None  # SPDY says to ignore control frames of unknown types
