"""Container probes as the kubelet runs them: exec inside the container, httpGet and tcpSocket
connecting from inside the pod's network namespace (so a server bound to 127.0.0.1 counts too)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .network import NETNS_DIR

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
# One thread switches namespaces, so no other thread ever runs in a pod's namespace by accident.
_netns_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns")
_netns_lock = threading.Lock()


@dataclass
class ProbeResult:
    success: bool
    message: str = ""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _socket_in(netns: str | None, family: int = socket.AF_INET) -> socket.socket:
    if netns is None:
        return socket.socket(family, socket.SOCK_STREAM)
    with _netns_lock:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(NETNS_DIR / netns, os.O_RDONLY)
        try:
            _setns(target)
            try:
                return socket.socket(family, socket.SOCK_STREAM)  # the socket stays in the pod's namespace
            finally:
                _setns(own)
        finally:
            os.close(target)
            os.close(own)


async def open_connection_in(netns: str | None, host: str, port: int,
                             timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection made from inside the pod's network namespace."""
    loop = asyncio.get_running_loop()
    sock = await loop.run_in_executor(_netns_thread, _socket_in, netns)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


def _port(value: Any, container: Mapping[str, Any]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port["containerPort"])
    raise ValueError(f'port "{value}" is not a number and no container port has that name')


def _dial_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "i/o timeout"
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


async def tcp_probe(netns: str | None, host: str, port: int, timeout: float) -> ProbeResult:
    try:
        _, writer = await open_connection_in(netns, host, port, timeout)
    except (TimeoutError, OSError) as exc:
        reason = _dial_error(exc)
        return ProbeResult(False, f"dial tcp {host}:{port}: connect: {reason}")
    writer.close()
    return ProbeResult(True)


async def http_probe(netns: str | None, host: str, port: int, path: str, headers: list[Mapping[str, str]],
                     timeout: float) -> ProbeResult:
    url = f"http://{host}:{port}{path}"
    try:
        reader, writer = await open_connection_in(netns, host, port, timeout)
    except (TimeoutError, OSError) as exc:
        reason = _dial_error(exc)
        return ProbeResult(False, f'Get "{url}": dial tcp {host}:{port}: connect: {reason}')
    try:
        lines = [f"GET {path or '/'} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: kube-probe/1.37",
                 "Accept: */*", "Connection: close"]
        lines += [f"{h.get('name')}: {h.get('value')}" for h in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        parts = status_line.decode(errors="replace").split()
        code = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    except (TimeoutError, OSError):
        return ProbeResult(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while '
                                  "awaiting headers)")
    finally:
        writer.close()
    if 200 <= code < 400:
        return ProbeResult(True)
    return ProbeResult(False, f"HTTP probe failed with statuscode: {code}")


async def exec_probe(argv: list[str], env: Mapping[str, str], timeout: float) -> ProbeResult:
    try:
        proc = await asyncio.create_subprocess_exec(*argv, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
    except OSError as exc:
        return ProbeResult(False, str(exc))
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return ProbeResult(False, f"command timed out after {timeout:g}s")
    if proc.returncode == 0:
        return ProbeResult(True)
    text = output.decode(errors="replace").strip()
    return ProbeResult(False, text or f"command exited with code {proc.returncode}")


async def run_probe(probe: Mapping[str, Any], container: Mapping[str, Any], netns: str | None, pod_ip: str,
                    exec_argv: list[str] | None, env: Mapping[str, str]) -> ProbeResult:
    """One probe attempt, whatever its handler."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if probe.get("exec"):
            if exec_argv is None:
                return ProbeResult(False, "the container is not running")
            return await exec_probe(exec_argv, env, timeout)
        if probe.get("httpGet"):
            handler = probe["httpGet"]
            host = handler.get("host") or pod_ip or "127.0.0.1"
            return await http_probe(netns, host, _port(handler.get("port"), container), handler.get("path") or "/",
                                    handler.get("httpHeaders") or [], timeout)
        if probe.get("tcpSocket"):
            handler = probe["tcpSocket"]
            return await tcp_probe(netns, handler.get("host") or pod_ip or "127.0.0.1",
                                   _port(handler.get("port"), container), timeout)
    except ValueError as exc:
        return ProbeResult(False, str(exc))
    return ProbeResult(False, "the probe has no handler: set exec, httpGet or tcpSocket")
