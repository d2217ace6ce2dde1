"""Pod logs for the Logs tab: `pods/log` queries (follow, since, previous, timestamps, container),
streamed line by line, and a line buffer that filters and saves without copying 100,000 lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cluster.client import APIError, Client, resource_path

CONTAINERS = ("compute", "guest-console-log")
SINCE_WINDOWS = {"tail": None, "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600}


@dataclass
class LogOptions:
    container: str = "compute"
    follow: bool = True
    tail_lines: int | None = 1000
    since_seconds: int | None = None
    timestamps: bool = False
    previous: bool = False

    def query(self) -> dict[str, str]:
        query = {"container": self.container}
        if self.follow:
            query["follow"] = "true"
        if self.tail_lines is not None:
            query["tailLines"] = str(self.tail_lines)
        if self.since_seconds is not None:
            query["sinceSeconds"] = str(self.since_seconds)
        if self.timestamps:
            query["timestamps"] = "true"
        if self.previous:
            query["previous"] = "true"
        return query


class LogError(Exception):
    """The log cannot be read; the message says why and what to do."""


def stream_lines(client: Client, namespace: str, pod: str, opts: LogOptions) -> Iterator[str]:
    """Yield the pod's log lines; with `follow` it ends only when the container or the server does."""
    for batch in LogStream(client, namespace, pod, opts).batches():
        yield from batch


class LogStream:
    """One `pods/log` request. `batches()` yields the lines as they arrive, one list per network read
    (a viewer repaints once per batch); `close()` from another thread ends a blocked follow at once."""

    def __init__(self, client: Client, namespace: str, pod: str, opts: LogOptions):
        self.client, self.namespace, self.pod, self.opts = client, namespace, pod, opts
        self._raw = None
        self.closed = False

    def batches(self) -> Iterator[list[str]]:
        path = resource_path("", "v1", "pods", self.namespace, self.pod, "log")
        api = self.client.api
        _, url, headers, _, _ = api.param_serialize("GET", path, query_params=list(self.opts.query().items()),
                                                    header_params={"Accept": "*/*"}, auth_settings=["BearerToken"])
        try:
            resp = api.call_api("GET", url, header_params=headers, _request_timeout=(10, None))
        except Exception as exc:   # the client wraps HTTP errors in ApiException; the body says why
            raise _log_error(self.namespace, self.pod, self.opts, exc) from None
        raw = self._raw = resp.response
        if raw.status >= 400:
            raise _log_error(self.namespace, self.pod, self.opts,
                             APIError(raw.status, "", raw.data.decode(errors="replace")))
        buffer = b""
        try:
            for chunk in raw.stream(65536, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if lines:
                    yield [line.decode(errors="replace") for line in lines]
            if buffer:
                yield [buffer.decode(errors="replace")]
        except Exception:
            if not self.closed:
                raise
        finally:
            raw.release_conn()

    def close(self) -> None:
        self.closed = True
        if self._raw is not None:
            try:
                self._raw.shutdown()    # wakes the reader blocked in recv()
            except Exception:
                pass


def _log_error(namespace: str, pod: str, opts: LogOptions, exc: Exception) -> LogError:
    status = getattr(exc, "status", 0)
    body = getattr(exc, "body", None) or getattr(exc, "message", None) or str(exc)
    what = f'logs of container "{opts.container}" in pod "{namespace}/{pod}"'
    if status == 403:
        return LogError(f"forbidden to read {what}: ask for get on pods/log")
    if status == 404:
        return LogError(f"no {what}: the pod is gone; reopen the VM to find its new launcher pod")
    if status == 400:
        return LogError(f"cannot read {what} yet: {body}; the container has not started (try again once it runs)")
    return LogError(f"cannot read {what}: {body}")


class LogBuffer:
    """All lines received, plus the indices of those that match the filter (text or /regex/)."""

    def __init__(self, max_lines: int = 200_000):
        self.max_lines = max_lines
        self.lines: list[str] = []
        self.pattern: re.Pattern[str] | None = None
        self.matching: list[int] | None = None   # None: no filter, every line shows
        self.dropped = 0

    def set_filter(self, text: str) -> None:
        """`foo` matches literally (case-insensitive); `/fo+/` is a regular expression."""
        if not text:
            self.pattern, self.matching = None, None
            return
        if len(text) > 1 and text.startswith("/") and text.endswith("/"):
            try:
                self.pattern = re.compile(text[1:-1], re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f'filter "{text}" is not a valid regular expression: {exc}') from None
        else:
            self.pattern = re.compile(re.escape(text), re.IGNORECASE)
        self.matching = [i for i, line in enumerate(self.lines) if self.pattern.search(line)]

    def append(self, lines: list[str]) -> None:
        start = len(self.lines)
        self.lines.extend(lines)
        if self.matching is not None and self.pattern is not None:
            self.matching.extend(i for i, line in enumerate(lines, start) if self.pattern.search(line))
        if len(self.lines) > self.max_lines:
            self._trim(len(self.lines) - self.max_lines)

    def _trim(self, count: int) -> None:
        del self.lines[:count]
        self.dropped += count
        if self.matching is not None:
            self.matching = [i - count for i in self.matching if i >= count]

    def __len__(self) -> int:
        return len(self.lines) if self.matching is None else len(self.matching)

    def line(self, index: int) -> str:
        return self.lines[index] if self.matching is None else self.lines[self.matching[index]]

    def clear(self) -> None:
        self.lines.clear()
        self.matching = [] if self.matching is not None else None

    def save(self, path: Path) -> int:
        """Write the visible (filtered) lines; returns how many."""
        count = len(self)
        with open(path, "w") as out:
            for i in range(count):
                out.write(self.line(i) + "\n")
        return count
