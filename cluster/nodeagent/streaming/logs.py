"""Container logs for `kubectl logs`: CRI-format files decoded into the bytes the container wrote,
with tailLines, sinceSeconds/sinceTime, timestamps, limitBytes, stream and follow as the kubelet
applies them."""

from __future__ import annotations

import asyncio
import calendar
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .contract import RunningPod

NANOS = 1_000_000_000
CHUNK = 64 * 1024
FOLLOW_POLL = 0.1  # seconds between looks at a quiet log file while following

_TIMESTAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


class LogOptionsError(ValueError):
    """A query parameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class LogRecord:
    """One CRI log line: `2026-01-01T00:00:00.123456789Z stdout F text`."""
    nanos: int          # the timestamp, nanoseconds since the epoch
    stream: str         # "stdout" or "stderr"
    partial: bool       # tag P: the container wrote no newline yet
    text: bytes

    def output(self, timestamps: bool) -> bytes:
        line = self.text if self.partial else self.text + b"\n"
        return format_timestamp(self.nanos).encode() + b" " + line if timestamps else line


def parse_timestamp(raw: bytes) -> int:
    """RFC 3339 with up to nine fractional digits → nanoseconds since the epoch."""
    match = _TIMESTAMP.match(raw)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {raw!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or b"", match.group(8)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if zone != b"Z":
        sign = 1 if zone[:1] == b"+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * NANOS + int(fraction.ljust(9, b"0") or b"0")


def format_timestamp(nanos: int) -> str:
    """RFC 3339 with exactly nine fractional digits in UTC, as the kubelet prints with timestamps=true."""
    seconds, fraction = divmod(nanos, NANOS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def parse_record(line: bytes) -> LogRecord | None:
    """A CRI log line without its newline, or None if it is not one (the kubelet skips those too)."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
        return None
    try:
        nanos = parse_timestamp(parts[0])
    except ValueError:
        return None
    partial = parts[2].split(b":", 1)[0] == b"P"
    return LogRecord(nanos, parts[1].decode(), partial, parts[3] if len(parts) > 3 else b"")


# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since_nanos: int | None = None
    stream: str = "All"   # All, Stdout or Stderr

    @classmethod
    def from_query(cls, query: Mapping[str, str], now: float | None = None) -> LogOptions:
        now = time.time() if now is None else now
        since: int | None = None
        if query.get("sinceSeconds"):
            since = int((now - _integer(query, "sinceSeconds", minimum=1)) * NANOS)
        if query.get("sinceTime"):
            try:
                since_time = parse_timestamp(query["sinceTime"].encode())
            except ValueError as exc:
                raise LogOptionsError(f'sinceTime: invalid value "{query["sinceTime"]}": must be an RFC 3339 '
                                      "time such as 2026-01-01T00:00:00Z") from exc
            since = max(since or 0, since_time)
        stream = query.get("stream") or "All"
        if stream not in ("All", "Stdout", "Stderr"):
            raise LogOptionsError(f'stream: Unsupported value: "{stream}": supported values: "All", "Stderr", '
                                  '"Stdout"')
        return cls(follow=_flag(query, "follow"), previous=_flag(query, "previous"),
                   timestamps=_flag(query, "timestamps"),
                   tail_lines=_integer(query, "tailLines", minimum=0) if query.get("tailLines") else None,
                   limit_bytes=_integer(query, "limitBytes", minimum=1) if query.get("limitBytes") else None,
                   since_nanos=since, stream=stream)

    def wants(self, record: LogRecord) -> bool:
        if self.since_nanos is not None and record.nanos < self.since_nanos:
            return False
        return self.stream == "All" or record.stream == self.stream.lower()


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "")
    if value.lower() in ("", "0", "f", "false"):
        return False
    if value.lower() in ("1", "t", "true"):
        return True
    raise LogOptionsError(f'{name}: invalid value "{value}": must be true or false')


def _integer(query: Mapping[str, str], name: str, minimum: int) -> int:
    try:
        value = int(query[name])
    except ValueError as exc:
        raise LogOptionsError(f'{name}: invalid value "{query[name]}": must be an integer') from exc
    if value < minimum:
        raise LogOptionsError(f"{name}: Invalid value: {value}: must be greater than or equal to {minimum}")
    return value


# --------------------------------------------------------------------------------------------
# Reading


def tail_start(files: list[Path], lines: int) -> tuple[int, int]:
    """Where the last `lines` complete lines begin across `files`: (file index, byte offset).
    Scans backwards in blocks, so a large log costs only what is returned."""
    if lines == 0:
        last = len(files) - 1
        return last, _complete_length(files[last])
    remaining = lines
    for index in range(len(files) - 1, -1, -1):
        with open(files[index], "rb") as stream:
            end = _complete_length(files[index])
            position = end
            while position > 0:
                start = max(0, position - CHUNK)
                stream.seek(start)
                block = stream.read(position - start)
                # The newline that ends the last complete line does not start a line.
                search_end = len(block) - 1 if position == end else len(block)
                cut = search_end
                while True:
                    cut = block.rfind(b"\n", 0, cut)
                    if cut < 0:
                        break
                    remaining -= 1
                    if remaining == 0:
                        return index, start + cut + 1
                position = start
            if end > 0:
                remaining -= 1  # the file's first line
                if remaining == 0:
                    return index, 0
    return 0, 0


def _complete_length(path: Path) -> int:
    """The length of `path` up to and including its last newline: a line still being written is left out."""
    with open(path, "rb") as stream:
        stream.seek(0, 2)
        size = stream.tell()
        position = size
        while position > 0:
            start = max(0, position - CHUNK)
            stream.seek(start)
            block = stream.read(position - start)
            cut = block.rfind(b"\n")
            if cut >= 0:
                return start + cut + 1
            position = start
    return 0


class _Budget:
    """limitBytes: the output is cut at the limit, mid-line if need be."""

    def __init__(self, limit: int | None):
        self.remaining = limit

    def take(self, data: bytes) -> bytes:
        if self.remaining is None:
            return data
        data = data[:self.remaining]
        self.remaining -= len(data)
        return data

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


@dataclass
class _Cursor:
    """A position in one log file, always just after a complete line."""
    path: Path
    offset: int


async def read_logs(pod: RunningPod, container: str, files: list[Path], options: LogOptions,
                    still_wanted: Callable[[], bool] = lambda: True) -> AsyncIterator[bytes]:
    """The decoded log as chunks of output, cut at limitBytes."""
    budget = _Budget(options.limit_bytes)
    async for records in log_records(pod, container, files, options, still_wanted):
        out = bytearray()
        for record in records:
            out += budget.take(record.output(options.timestamps))
            if budget.spent:
                break
        if out:
            yield bytes(out)
        if budget.spent:
            return


async def log_records(pod: RunningPod, container: str, files: list[Path], options: LogOptions,
                      still_wanted: Callable[[], bool] = lambda: True,
                      start: tuple[Path, int] | None = None) -> AsyncIterator[list[LogRecord]]:
    """The records the options select, in batches, from `start` (a file and offset) when given.
    Following ends once the container has stopped and its last file is drained, or when
    `still_wanted()` turns false (the client went away)."""
    if start is not None and start[0] in files:
        cursor = _Cursor(*start)
    else:
        index, offset = tail_start(files, options.tail_lines) if options.tail_lines is not None else (0, 0)
        cursor = _Cursor(files[index], offset)
    follow = options.follow and not options.previous  # a terminated run has nothing more to say
    while True:
        async for records in _read_file(cursor, options):
            yield records
        if follow:
            files = _current_files(pod, container, files)
        if cursor.path in files and files.index(cursor.path) + 1 < len(files):
            cursor = _Cursor(files[files.index(cursor.path) + 1], 0)
            continue
        if not follow or not await _wait_for_growth(pod, container, cursor, still_wanted):
            return


async def _read_file(cursor: _Cursor, options: LogOptions) -> AsyncIterator[list[LogRecord]]:
    """The wanted records of the cursor's file after its offset; the cursor moves along, so a follower
    resumes where reading stopped."""
    with open(cursor.path, "rb") as stream:
        stream.seek(cursor.offset)
        pending = b""
        while True:
            data = stream.read(CHUNK)
            if not data:
                return
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            cursor.offset = stream.tell() - len(pending)
            records = [r for r in map(parse_record, lines) if r is not None and options.wants(r)]
            if records:
                yield records
            await asyncio.sleep(0)  # let other streams run between chunks of a large file


async def _wait_for_growth(pod: RunningPod, container: str, cursor: _Cursor,
                           still_wanted: Callable[[], bool]) -> bool:
    """Wait until the followed file has another complete line (True) or the container has stopped and
    nothing more can come (False)."""
    while still_wanted():
        if _has_complete_line_after(cursor):
            return True
        current = _current_files(pod, container, [cursor.path])
        if cursor.path in current and current[-1] != cursor.path:
            return True  # rotated: finish this file, then go on to the next
        if not pod.is_running(container) or cursor.path not in current:
            # Stopped, or restarted into a new file: what it wrote last is still to be sent.
            return _has_complete_line_after(cursor)
        await asyncio.sleep(FOLLOW_POLL)
    return False


def _current_files(pod: RunningPod, container: str, known: list[Path]) -> list[Path]:
    try:
        return pod.log_files(container, False)
    except OSError:
        return known


def _has_complete_line_after(cursor: _Cursor) -> bool:
    try:
        with open(cursor.path, "rb") as stream:
            stream.seek(cursor.offset)
            return b"\n" in stream.read(CHUNK)
    except FileNotFoundError:
        return False
