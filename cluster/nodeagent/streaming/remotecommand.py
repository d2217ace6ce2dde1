"""Exec and attach over the channel protocols: a process (exec) or a running container's output and
stdin (attach) joined to channels 0-4, ending with the Status the kubelet sends on channel 3."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import signal
import struct
import termios
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from . import channels
from .channels import ChannelSocket
from .contract import PodRuntime, RunningPod
from .logs import LogOptions, log_records, tail_start

log = logging.getLogger("kvtui.nodeagent.streaming")

READ_SIZE = 64 * 1024
# After the command exits, output still in flight is sent; a background child that keeps the pipes
# open must not hold the session for ever.
OUTPUT_GRACE = 2.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class StreamOptions:
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    command: list[str]

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> StreamOptions:
        """As the API server passes them on; stdout and stderr default to on, and a tty has no separate
        stderr (its output all comes on stdout)."""
        tty = _truthy(query.get("tty"), False)
        command = list(query.getall("command", [])) if hasattr(query, "getall") else []
        return cls(stdin=_truthy(query.get("stdin"), False), stdout=_truthy(query.get("stdout"), True),
                   stderr=_truthy(query.get("stderr"), True) and not tty, tty=tty, command=command)

    @property
    def any_stream(self) -> bool:
        return self.stdin or self.stdout or self.stderr


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.lower() in ("1", "t", "true", "y", "yes")


async def accept(request: web.Request, protocols: tuple[str, ...]) -> ChannelSocket:
    ws = web.WebSocketResponse(protocols=protocols, autoping=True, max_msg_size=0)
    await ws.prepare(request)
    return ChannelSocket(ws, channels.protocol_named(ws.ws_protocol))


async def announce(chan: ChannelSocket, opts: StreamOptions) -> None:
    """An empty message on the lowest channel the client reads tells it the stream is up."""
    await chan.send(channels.STDOUT if opts.stdout else channels.STDERR if opts.stderr else channels.ERROR, b"")


async def fail(chan: ChannelSocket, message: str) -> web.WebSocketResponse:
    await chan.send_status(channels.internal_error(message))
    await chan.close()
    return chan.ws


def running_container(runtime: PodRuntime, namespace: str, name: str,
                      container: str) -> tuple[RunningPod | None, str]:
    """The pod if `container` is running in it, else an error in the kubelet's words."""
    pod = runtime.find(namespace, name)
    if pod is None:
        return None, f'unable to upgrade connection: pod "{name}" does not exist on this node'
    if container not in pod.container_names() or not pod.is_running(container):
        return None, f'unable to upgrade connection: container not found ("{container}")'
    return pod, ""


# --------------------------------------------------------------------------------------------
# exec


async def serve_exec(request: web.Request, runtime: PodRuntime) -> web.WebSocketResponse:
    chan = await accept(request, channels.EXEC_PROTOCOLS)
    opts = StreamOptions.from_query(request.query)
    namespace, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
    await announce(chan, opts)
    if not opts.any_stream:
        return await fail(chan, "you must specify at least 1 of stdin, stdout, stderr")
    if not opts.command:
        return await fail(chan, "you must specify at least one command for the container")
    pod, problem = running_container(runtime, namespace, name, container)
    if pod is None:
        return await fail(chan, problem)
    try:
        argv, env = pod.exec_argv(container, opts.command, opts.tty)
        process = await (_PtyProcess.start if opts.tty else _PipeProcess.start)(argv, _environment(env), opts)
    except FileNotFoundError:
        return await fail(chan, f'error executing command in container: exec: "{opts.command[0]}": '
                                "executable file not found in $PATH")
    except OSError as exc:
        return await fail(chan, f'error executing command in container: exec: "{opts.command[0]}": '
                                f"{exc.strerror or exc}")
    except (LookupError, RuntimeError, ValueError) as exc:  # the runtime cannot enter the container
        return await fail(chan, f"error executing command in container: {exc}")
    code = await _run(chan, process, opts)
    if code is not None:
        await chan.send_status(channels.success() if code == 0 else channels.exit_code_status(opts.command, code))
        await chan.close()
    return chan.ws


def _environment(env: dict[str, str]) -> dict[str, str]:
    # The container's own environment, not the agent's; a PATH so that bare command names resolve.
    return {"PATH": DEFAULT_PATH, **env}


async def _run(chan: ChannelSocket, process: _Process, opts: StreamOptions) -> int | None:
    """Pump until the command exits (→ its exit code) or the client goes away (→ None, command killed)."""
    outputs = [asyncio.create_task(_pump_output(chan, read, channel)) for read, channel in process.outputs()]
    inbound = asyncio.create_task(_pump_input(chan, process, opts))
    exited = asyncio.create_task(process.wait())
    try:
        await asyncio.wait({exited, inbound}, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            process.kill()
            await exited
            return None
        if outputs:
            await asyncio.wait(outputs, timeout=OUTPUT_GRACE)
        code = exited.result()
        return 128 - code if code < 0 else code  # killed by signal N: 128+N, as shells report it
    finally:
        for task in [*outputs, inbound]:
            task.cancel()
        await asyncio.gather(*outputs, inbound, return_exceptions=True)
        process.release()


async def _pump_output(chan: ChannelSocket, read, channel: int) -> None:
    while data := await read():
        await chan.send(channel, data)


async def _pump_input(chan: ChannelSocket, process: _Process, opts: StreamOptions) -> None:
    while (message := await chan.receive()) is not None:
        if message.channel == channels.STDIN and opts.stdin:
            await process.write_stdin(message.data)
        elif message.channel == channels.RESIZE:
            process.resize(*_size(message.data))
        elif message.channel == channels.CLOSE and chan.protocol.close_signal and message.data[:1] == b"\0":
            await process.close_stdin()


def _size(data: bytes) -> tuple[int, int]:
    try:
        size = json.loads(data)
        return int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        return 0, 0


class _Process:
    """A command with its standard streams; subclasses use pipes or a pty."""

    proc: asyncio.subprocess.Process

    def outputs(self) -> list[tuple[Any, int]]:
        raise NotImplementedError

    async def write_stdin(self, data: bytes) -> None:
        raise NotImplementedError

    async def close_stdin(self) -> None:
        raise NotImplementedError

    def resize(self, width: int, height: int) -> None:
        pass

    async def wait(self) -> int:
        return await self.proc.wait()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the command leads its own session
        except (ProcessLookupError, PermissionError):
            pass

    def release(self) -> None:
        pass


class _PipeProcess(_Process):
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], opts: StreamOptions) -> _PipeProcess:
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, start_new_session=True, stdin=pipe if opts.stdin else null,
            stdout=pipe if opts.stdout else null, stderr=pipe if opts.stderr else null)
        return cls(proc)

    def outputs(self) -> list[tuple[Any, int]]:
        streams = [(self.proc.stdout, channels.STDOUT), (self.proc.stderr, channels.STDERR)]
        return [(lambda s=stream: s.read(READ_SIZE), channel) for stream, channel in streams if stream is not None]

    async def write_stdin(self, data: bytes) -> None:
        if self.proc.stdin is None or self.proc.stdin.is_closing():
            return
        try:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the command stopped reading; its exit ends the session

    async def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()


class _PtyProcess(_Process):
    def __init__(self, proc: asyncio.subprocess.Process, master: int):
        self.proc = proc
        self.master = master

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], opts: StreamOptions) -> _PtyProcess:
        master, slave = os.openpty()
        try:
            _set_window(master, 80, 24)
            env = {"TERM": "xterm", **env}
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                preexec_fn=_take_controlling_terminal)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(proc, master)

    def outputs(self) -> list[tuple[Any, int]]:
        return [(self._read, channels.STDOUT)]

    async def _read(self) -> bytes:
        while True:
            try:
                return os.read(self.master, READ_SIZE)
            except BlockingIOError:
                await _ready(self.master, writable=False)
            except OSError as exc:
                if exc.errno == errno.EIO:  # every holder of the terminal has gone
                    return b""
                raise

    async def write_stdin(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                await _ready(self.master, writable=True)
            except OSError:
                return

    async def close_stdin(self) -> None:
        await self.write_stdin(b"\x04")  # a terminal's end of input is ^D

    def resize(self, width: int, height: int) -> None:
        if width > 0 and height > 0:
            _set_window(self.master, width, height)

    def release(self) -> None:
        try:
            os.close(self.master)
        except OSError:
            pass


def _take_controlling_terminal() -> None:
    # Runs in the child after setsid(): the pty on fd 0 becomes its terminal, so ^C and job control work.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_window(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def _ready(fd: int, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if writable else (loop.add_reader, loop.remove_reader)
    add(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        remove(fd)


# --------------------------------------------------------------------------------------------
# attach


async def serve_attach(request: web.Request, runtime: PodRuntime) -> web.WebSocketResponse:
    """Attach joins the container's output as it is logged from now on and, when the runtime offers a
    stdin FIFO for the container, its input. It ends when the container stops."""
    namespace, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
    # "From now on" is from this request: the position is taken before the upgrade completes, so a
    # line the container writes once the client is connected is never missed.
    start = _log_end(runtime, namespace, name, container)
    chan = await accept(request, channels.EXEC_PROTOCOLS)
    opts = StreamOptions.from_query(request.query)
    await announce(chan, opts)
    if not opts.any_stream:
        return await fail(chan, "you must specify at least 1 of stdin, stdout, stderr")
    pod, problem = running_container(runtime, namespace, name, container)
    if pod is None:
        return await fail(chan, problem)
    files = pod.log_files(container, False)
    if not files:
        return await fail(chan, f'unable to upgrade connection: container "{container}" has no output yet')
    stdin = _StdinFifo.open(pod, container) if opts.stdin else None
    output = asyncio.create_task(_attach_output(chan, pod, container, files, opts, start))
    inbound = asyncio.create_task(_attach_input(chan, stdin))
    try:
        await asyncio.wait({output, inbound}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (output, inbound):
            task.cancel()
        await asyncio.gather(output, inbound, return_exceptions=True)
        if stdin is not None:
            stdin.close()
    if output.done() and not output.cancelled() and output.exception() is None:
        await chan.send_status(channels.success())
    await chan.close()
    return chan.ws


def _log_end(runtime: PodRuntime, namespace: str, name: str, container: str) -> tuple[Path, int] | None:
    """Where the container's log ends now: its last file and the length of its complete lines."""
    pod, _ = running_container(runtime, namespace, name, container)
    files = pod.log_files(container, False) if pod is not None else []
    if not files:
        return None
    index, offset = tail_start(files, 0)
    return files[index], offset


async def _attach_output(chan: ChannelSocket, pod: RunningPod, container: str, files, opts: StreamOptions,
                         start: tuple[Path, int] | None) -> None:
    follow = LogOptions(follow=True, tail_lines=0)
    async for records in log_records(pod, container, files, follow, lambda: not chan.ws.closed, start):
        for record in records:
            data = record.text if record.partial else record.text + b"\n"
            if record.stream == "stderr" and not opts.tty:
                if opts.stderr:
                    await chan.send(channels.STDERR, data)
            elif opts.stdout or opts.tty:
                await chan.send(channels.STDOUT, data)


async def _attach_input(chan: ChannelSocket, stdin: _StdinFifo | None) -> None:
    while (message := await chan.receive()) is not None:
        if message.channel == channels.STDIN and stdin is not None:
            await stdin.write(message.data)
        elif message.channel == channels.CLOSE and chan.protocol.close_signal and stdin is not None:
            stdin.close()


class _StdinFifo:
    """The write end of the FIFO the runtime feeds to a container's stdin."""

    def __init__(self, fd: int):
        self.fd: int | None = fd

    @classmethod
    def open(cls, pod: RunningPod, container: str) -> _StdinFifo | None:
        # Optional in the runtime contract: runtimes without it get output-only attach.
        stdin_fifo = getattr(pod, "stdin_fifo", None)
        path = stdin_fifo(container) if callable(stdin_fifo) else None
        if path is None:
            log.info("attach to %s/%s %s: the runtime offers no stdin; input is dropped", pod.namespace,
                     pod.name, container)
            return None
        try:
            return cls(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        except OSError as exc:
            log.warning("attach to %s/%s %s: cannot open stdin %s: %s", pod.namespace, pod.name, container,
                        path, exc)
            return None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self.fd is not None:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                await _ready(self.fd, writable=True)
            except OSError:
                self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
