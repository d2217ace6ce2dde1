"""The container monitor (what conmon is to CRI-O): one small process per container instance.

It forks the container process into the pod's network namespace and a private mount namespace
with the pod's volumes bound at their mount paths, writes its stdout/stderr to a CRI-format log
file, and records the exit status in a file. It outlives the node agent, so containers keep
running — and their exit codes are still captured — while the agent restarts.

Run as `python -I -S shim.py SPEC.json`; it imports only the standard library on purpose (fast to
start, nothing to go wrong). The spec is written by `runtime.py`; see `ContainerSpec` there.

`python -I [-O|-OO] shim.py --fork-server SOCKET [--preload MODULE] [--module NAME] [--path DIR]` is the node's
fork server instead: it imports the preloaded modules once, then forks a monitor for each container
the agent asks for (see "the fork server" below).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import signal
import socket
import struct
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18

PARTIAL_LINE_MAX = 16 * 1024      # longer lines are split into partial (P) records, as containerd does
PARTIAL_FLUSH_AFTER = 0.25        # a prompt without a newline shows up in the log after this long
DRAIN_AFTER_EXIT = 1.0            # leftovers of the container's children may hold the pipes: stop waiting

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {source} on {target}")


def rfc3339_nano(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _write_json(path: str, data: dict) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as f:
        json.dump(data, f)
    os.replace(temporary, path)


# -- inside the container, before exec ----------------------------------------------------


class Sandbox:
    """Builds the container's view of the file system in its own mount namespace.

    A mount path that does not exist on the host is never created there: its nearest existing
    ancestor is first covered by a tmpfs that re-binds every original entry, and the missing
    directories are made in that tmpfs instead.
    """

    def __init__(self, scratch: str):
        self.scratch = scratch
        self.owned: list[str] = []   # directories we made (tmpfs or volumes): safe to create things in
        self.count = 0

    def _is_owned(self, path: str) -> bool:
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in self.owned)

    def _shadow(self, directory: str) -> None:
        self.count += 1
        staging = os.path.join(self.scratch, f"shadow-{self.count}")
        os.makedirs(staging, exist_ok=True)
        st = os.stat(directory)
        _mount("tmpfs", staging, "tmpfs", 0, f"mode={st.st_mode & 0o7777:o},uid={st.st_uid},gid={st.st_gid}")
        for entry in os.listdir(directory):
            source, copy = os.path.join(directory, entry), os.path.join(staging, entry)
            if os.path.islink(source):
                os.symlink(os.readlink(source), copy)
                continue
            if os.path.isdir(source):
                os.mkdir(copy)
            else:
                open(copy, "w").close()
            try:
                _mount(source, copy, None, MS_BIND | MS_REC)
            except OSError:
                pass  # an entry that cannot be bound (vanished meanwhile) is left out
        if directory == "/":
            os.chdir(staging)
            _mount(staging, "/", None, MS_MOVE)
            os.chroot(".")
            os.chdir("/")
        else:
            _mount(staging, directory, None, MS_MOVE)
        self.owned.append(directory)

    def ensure_target(self, target: str, is_file: bool) -> None:
        if os.path.lexists(target):
            return
        missing, ancestor = [], target
        while not os.path.exists(ancestor):
            ancestor, tail = os.path.split(ancestor)
            missing.append(tail)
        ancestor = os.path.realpath(ancestor)
        if not self._is_owned(ancestor):
            self._shadow(ancestor)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        if is_file:
            open(target, "w").close()
        else:
            os.makedirs(target, exist_ok=True)

    def bind(self, source: str, target: str, read_only: bool) -> None:
        self.ensure_target(target, is_file=not os.path.isdir(source))
        _mount(source, target, None, MS_BIND | MS_REC)
        if read_only:
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        if os.path.isdir(source):
            self.owned.append(os.path.realpath(target))


def enter_container(spec: dict) -> tuple[str, list[str]] | None:
    """Turn this (forked) process into the container process; raises on any failure. Returns only
    for a container a fork server runs in-process: the module to run."""
    os.setsid()
    for path in spec.get("cgroups") or []:
        try:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            pass  # limits are best effort where the host's cgroups do not allow them
    if spec.get("netns"):
        fd = os.open(spec["netns"], os.O_RDONLY)
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {spec['netns']}")
        os.close(fd)
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates back to the host
    if spec.get("hostname"):
        socket.sethostname(spec["hostname"])
    sandbox = Sandbox(spec["scratch"])
    for mount in sorted(spec.get("mounts") or [], key=lambda m: m["target"].rstrip("/").count("/")):
        sandbox.bind(mount["source"], mount["target"], bool(mount.get("readOnly")))
    if spec.get("workingDir"):
        os.chdir(spec["workingDir"])
    argv, env = spec["argv"], spec["env"]
    program = in_process_module(argv, env)
    if program is not None:
        return program
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        if "/" in argv[0]:
            raise RuntimeError(f'exec: "{argv[0]}": stat {argv[0]}: no such file or directory') from None
        raise RuntimeError(f'exec: "{argv[0]}": executable file not found in $PATH') from None
    except PermissionError:
        raise RuntimeError(f'exec: "{argv[0]}": permission denied') from None


def _child(spec: dict, stdin_fd: int, out_w: int, err_w: int, report_w: int) -> None:
    try:
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, report_w)
        os.closerange(report_w + 1, 65536)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        program = enter_container(spec)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent as text
        message = str(exc) if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        try:
            os.write(report_w, message.encode()[:4000])
        finally:
            os._exit(127)
    os.close(report_w)  # what a successful exec does to this close-on-exec pipe: the start went well
    if program is not None:  # else enter_container exec'd the container's program
        run_in_process(*program, spec["env"])


# -- the monitor --------------------------------------------------------------------------


class LogWriter:
    """Appends CRI log records: `<RFC3339Nano> <stream> <F|P> <text>`, one per line or fragment."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.last_data: dict[str, float] = {"stdout": 0.0, "stderr": 0.0}

    def feed(self, stream: str, data: bytes) -> None:
        buffer = self.pending[stream] + data
        self.last_data[stream] = time.monotonic()
        stamp = rfc3339_nano(time.time_ns()).encode()
        records = []
        *lines, rest = buffer.split(b"\n")
        for line in lines:
            while len(line) > PARTIAL_LINE_MAX:
                records.append(b"%s %s P %s\n" % (stamp, stream.encode(), line[:PARTIAL_LINE_MAX]))
                line = line[PARTIAL_LINE_MAX:]
            records.append(b"%s %s F %s\n" % (stamp, stream.encode(), line))
        while len(rest) > PARTIAL_LINE_MAX:
            records.append(b"%s %s P %s\n" % (stamp, stream.encode(), rest[:PARTIAL_LINE_MAX]))
            rest = rest[PARTIAL_LINE_MAX:]
        self.pending[stream] = rest
        if records:
            os.write(self.fd, b"".join(records))

    def flush_partial(self, stream: str) -> None:
        if self.pending[stream]:
            stamp = rfc3339_nano(time.time_ns()).encode()
            os.write(self.fd, b"%s %s P %s\n" % (stamp, stream.encode(), self.pending[stream]))
            self.pending[stream] = b""

    def flush_idle(self) -> None:
        now = time.monotonic()
        for stream in self.pending:
            if self.pending[stream] and now - self.last_data[stream] >= PARTIAL_FLUSH_AFTER:
                self.flush_partial(stream)


def _start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def _oom_killed(spec: dict) -> bool:
    for path in spec.get("cgroups") or []:
        for name in ("memory.oom_control", "memory.events"):
            try:
                with open(os.path.join(path, name)) as f:
                    for line in f:
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
            except (OSError, ValueError):
                continue
    return False


def _kill_leftovers(pid: int, spec: dict) -> None:
    """The container ends with its main process, as with a PID namespace: nothing of it lingers."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for path in spec.get("cgroups") or []:
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                for line in f:
                    try:
                        os.kill(int(line), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
        except OSError:
            continue


def _remove_cgroups(spec: dict) -> None:
    for path in spec.get("cgroups") or []:
        for _ in range(20):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    break
                time.sleep(0.05)  # the killed processes are still leaving


def _open_stdin(spec: dict) -> int:
    path = spec.get("stdinFifo")
    if not path:
        return os.open(os.devnull, os.O_RDONLY)
    if not os.path.exists(path):
        os.mkfifo(path, 0o600)
    # Read-write, so the container never sees end-of-file while nobody is attached.
    return os.open(path, os.O_RDWR)


def monitor(spec: dict) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    stdin_fd = _open_stdin(spec)
    started = time.time()
    pid = os.fork()
    if pid == 0:
        _child(spec, stdin_fd, out_w, err_w, report_w)
    for fd in (out_w, err_w, report_w, stdin_fd):
        os.close(fd)
    failure = b""
    while chunk := os.read(report_r, 4096):
        failure += chunk
    os.close(report_r)
    if failure:
        os.waitpid(pid, 0)
        now = time.time()
        _write_json(spec["exitFile"], {"exitCode": 128, "startError": failure.decode(errors="replace"),
                                       "startedAt": rfc3339(started), "finishedAt": rfc3339(now),
                                       "finishedUnix": now})
        _report({"error": failure.decode(errors="replace")})
        _remove_cgroups(spec)
        return 0
    _write_json(spec["stateFile"], {"pid": pid, "shimPid": os.getpid(), "startedAt": rfc3339(started),
                                    "startTicks": _start_ticks(pid)})
    _report({"pid": pid})
    status = _pump(pid, {out_r: "stdout", err_r: "stderr"}, LogWriter(spec["logFile"]))
    finished = time.time()
    code = os.waitstatus_to_exitcode(status)
    result = {"exitCode": code if code >= 0 else 128 - code, "signal": -code if code < 0 else None,
              "oomKilled": _oom_killed(spec), "startedAt": rfc3339(started), "finishedAt": rfc3339(finished),
              "finishedUnix": finished}
    _kill_leftovers(pid, spec)
    _write_json(spec["exitFile"], result)
    _remove_cgroups(spec)
    return 0


def _pump(pid: int, streams: dict[int, str], log: LogWriter) -> int:
    """Copy output into the log until the process has exited and its pipes are drained."""
    status: int | None = None
    exited_at = 0.0
    while streams:
        timeout = PARTIAL_FLUSH_AFTER if status is None else max(0.0, DRAIN_AFTER_EXIT - (time.monotonic() - exited_at))
        if status is not None and timeout == 0.0:
            break
        readable, _, _ = select.select(list(streams), [], [], timeout)
        for fd in readable:
            data = os.read(fd, 65536)
            if data:
                log.feed(streams[fd], data)
            else:
                log.flush_partial(streams.pop(fd))
                os.close(fd)
        log.flush_idle()
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status, exited_at = raw, time.monotonic()
    for stream in ("stdout", "stderr"):
        log.flush_partial(stream)
    if status is None:
        _, status = os.waitpid(pid, 0)
    return status


def _report(message: dict) -> None:
    """Tell the agent (waiting on our stdout) how the start went, then stop talking to it, so the
    agent's death never reaches us as SIGPIPE."""
    try:
        os.write(1, (json.dumps(message) + "\n").encode())
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


# -- the fork server ----------------------------------------------------------------------
#
# A container that is a Python program pays for a new interpreter and its imports each time it
# starts: about 0.2 s of CPU for a launcher, for every VM the node starts. The fork server pays that
# once. It imports the modules named by `--preload` and then, for each container the agent asks it
# to start, forks a monitor that runs exactly as `python -I -S shim.py SPEC.json` would, saving the
# monitor's own start too. A container whose argv is `<this interpreter> -m <module>` for a module
# named by `--module` is not exec'ed: the forked process becomes the container as before (session,
# cgroups, namespaces, mounts, working directory), takes the container's environment and arguments,
# and runs the module as `python -m` would, with its imports already done. Every other container is
# exec'ed as usual. Differences from a new interpreter: the process's command line stays the fork
# server's, and all such containers share the fork server's string-hash seed.
#
# The agent connects to the server's Unix socket (mode 0600; the peer must be the server's own user)
# and sends one JSON request, {"spec": SPEC.json, "log": shim.log}, with the write end of the pipe
# on which the monitor reports the start; the server answers {"pid": monitor pid}. The server ends
# when its stdin, a pipe from the agent, closes: when the agent ends, however it ends. The monitors
# it forked are in their own sessions and live on.

IN_PROCESS: frozenset[str] = frozenset()    # modules a fork server's containers run in-process


def in_process_module(argv: list[str], env: dict) -> tuple[str, list[str]] | None:
    """(module, its args) to run in-process for this container, if a fork server can: the
    interpreter, its optimisation level (-O, -OO), the module and the container's PYTHONPATH must
    be the ones it preloaded with."""
    flags = ["-" + "O" * sys.flags.optimize] if sys.flags.optimize else []
    at = 1 + len(flags)
    if len(argv) < at + 2 or argv[1:at] != flags or argv[at] != "-m" or argv[at + 1] not in IN_PROCESS:
        return None
    if argv[0] != sys.executable and os.path.realpath(argv[0]) != os.path.realpath(sys.executable):
        return None
    if any(entry and entry not in sys.path for entry in str(env.get("PYTHONPATH", "")).split(":")):
        return None
    return argv[at + 1], argv[at + 2:]


def run_in_process(module: str, args: list[str], env: dict) -> None:
    """Run `module` as `python -m module args...` would in a new interpreter, then exit."""
    import atexit
    import runpy
    import traceback

    os.environ.clear()
    os.environ.update(env)
    sys.argv = [module, *args]
    # The signal dispositions a new interpreter starts with.
    for number in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # noqa: BLE001 - as the interpreter does: the traceback on stderr, status 1
        traceback.print_exc()
        code = 1
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()  # type: ignore[attr-defined]  # wait for non-daemon threads, as at exit
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4 * struct.calcsize("i")))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % struct.calcsize("i")
            fds.extend(struct.unpack(f"{usable // struct.calcsize('i')}i", payload[:usable]))
    return json.loads(data or b"{}"), fds


def _forked_monitor(listener: socket.socket, conn: socket.socket, request: dict, report_fd: int) -> None:
    code = 1
    try:
        os.close(listener.detach())
        os.close(conn.detach())
        os.setsid()
        os.dup2(report_fd, 1)
        os.close(report_fd)
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.close(null_fd)
        with open(request["spec"]) as f:
            spec = json.load(f)
        code = monitor(spec)
    except BaseException:  # noqa: BLE001 - the shim log says why
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _handle(listener: socket.socket, conn: socket.socket) -> None:
    fds: list[int] = []
    try:
        if _peer_uid(conn) != os.getuid():
            return
        request, fds = _receive(conn)
        if not isinstance(request.get("spec"), str) or not isinstance(request.get("log"), str) or len(fds) != 1:
            conn.send(json.dumps({"error": "expected {spec, log} and one file descriptor"}).encode())
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _forked_monitor(listener, conn, request, fds[0])
        conn.send(json.dumps({"pid": pid}).encode())
    except OSError:
        pass  # the agent went away mid-request; it falls back to starting the shim itself
    finally:
        for fd in fds:
            os.close(fd)
        conn.close()


def serve(path: str, preload: list[str], modules: list[str], paths: list[str]) -> int:
    global IN_PROCESS
    sys.path[:0] = paths
    import gc
    import importlib

    for name in preload:
        importlib.import_module(name)
    IN_PROCESS = frozenset(modules)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    umask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(umask)
    listener.listen(64)
    gc.collect()
    gc.freeze()  # what was imported stays shared with the children: no copy-on-write from the collector
    os.write(1, b"ready\n")
    while True:
        readable, _, _ = select.select([listener, 0], [], [], 1.0)
        if 0 in readable and not os.read(0, 4096):
            return 0  # the agent is gone
        if listener in readable:
            conn, _ = listener.accept()
            _handle(listener, conn)
        _reap()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--fork-server":
        import argparse

        parser = argparse.ArgumentParser(prog="shim.py --fork-server")
        parser.add_argument("--fork-server", metavar="SOCKET", required=True, help="the Unix socket to serve on")
        parser.add_argument("--preload", action="append", default=[], help="import this module once, up front")
        parser.add_argument("--module", action="append", default=[],
                            help="run containers whose argv is `<this python> -m MODULE ...` in-process")
        parser.add_argument("--path", action="append", default=[], help="put this directory first on sys.path")
        args = parser.parse_args()
        return serve(args.fork_server, args.preload, args.module, args.path)
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    return monitor(spec)


if __name__ == "__main__":
    sys.exit(main())
