"""Connections to a port inside a pod's network namespace, as a container runtime makes them for
port forwarding: a thread enters the namespace with setns(2), connects, and steps back out."""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
CONNECT_TIMEOUT = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(OSError):
    """The namespace cannot be entered or left; the message names it."""


def netns_path(netns: str) -> Path:
    """An `ip netns` name lives under /run/netns; a path is taken as it is."""
    return Path(netns) if "/" in netns else NETNS_DIR / netns


async def open_connection(netns: str | None, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to localhost:port inside `netns` (None: this process's own namespace)."""
    if netns is None:
        sock = await asyncio.to_thread(_connect_localhost, port, "the host network namespace")
    else:
        sock = await _in_fresh_thread(_connect_in_netns, netns_path(netns), port)
    sock.setblocking(False)
    return await asyncio.open_connection(sock=sock)


async def _in_fresh_thread(function, *args):
    """Run `function` on a thread of its own. setns changes only the calling thread's namespace, so a
    pooled thread could be handed back still inside a pod's namespace if stepping out ever failed."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def run() -> None:
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=run, name=f"netns-connect-{args[1]}", daemon=True).start()
    return await future


def _settle(future: asyncio.Future, result, exc: BaseException | None) -> None:
    if future.cancelled():
        if isinstance(result, socket.socket):
            result.close()
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _connect_in_netns(path: Path, port: int) -> socket.socket:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise NamespaceError(exc.errno, f"cannot open network namespace {path}: {exc.strerror}") from exc
        try:
            _setns(target, f"enter network namespace {path}")
        finally:
            os.close(target)
        try:
            # A socket keeps the namespace it was created in, after the thread steps back out.
            return _connect_localhost(port, f'namespace "{path.name}"')
        finally:
            _setns(own, "return to the agent's network namespace")
    finally:
        os.close(own)


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise NamespaceError(errno, f"cannot {what}: {os.strerror(errno)} (the node agent must run as root)")


def _connect_localhost(port: int, where: str) -> socket.socket:
    """Try IPv4 then IPv6 loopback, as container runtimes do for `localhost`."""
    failures = []
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect((address, port))
        except OSError as exc:
            sock.close()
            failures.append(f"{'IPv4' if family == socket.AF_INET else 'IPv6'}: {exc.strerror or exc}")
            continue
        sock.settimeout(None)
        return sock
    raise ConnectionRefusedError(f"failed to connect to localhost:{port} inside {where}, " + ", ".join(failures))
