"""The agent's side of the node's fork server (`shim.py --fork-server`, described there).

The agent starts one fork server when it starts and asks it for each container's monitor. Whenever
the server cannot answer (still importing, gone, refused), the runtime starts the monitor itself, as
a new `python -I -S shim.py` process: the fork server only makes starts cheaper, never possible.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger("kvtui.nodeagent.forkserver")

READY_TIMEOUT = 60.0
RESTART_AFTER = 5.0     # seconds between attempts to bring back a fork server that ended
REQUEST_TIMEOUT = 10.0


class ForkServer:
    def __init__(self, shim: Path, socket_path: Path, log_path: Path, preload: list[str], modules: list[str],
                 paths: list[str], optimize: int = 0):
        self.shim, self.socket_path, self.log_path = shim, socket_path, log_path
        self.preload, self.modules, self.paths = preload, modules, paths
        self.optimize = optimize  # the server's -O level; only containers at that level run in it
        self._proc: subprocess.Popen | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._last_start = 0.0
        self._stopped = False

    @property
    def ready(self) -> bool:
        return self._ready and self._proc is not None and self._proc.poll() is None

    def start(self) -> bool:
        """Start the server and wait until it has imported its modules; False if it could not."""
        with self._lock:
            if self._stopped:
                return False
            if self.ready:
                return True
            self._last_start = time.monotonic()
            self._ready = False
            flags = ["-" + "O" * self.optimize] if self.optimize else []
            argv = [sys.executable, "-I", *flags, str(self.shim), "--fork-server", str(self.socket_path)]
            for option, values in (("--preload", self.preload), ("--module", self.modules), ("--path", self.paths)):
                for value in values:
                    argv += [option, value]
            with open(self.log_path, "ab") as server_log:
                # stdin stays open for as long as this process lives: its end tells the server to end.
                self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                              stderr=server_log, close_fds=True, cwd="/")
            proc = self._proc
        assert proc.stdout is not None
        line = _readline(proc.stdout, READY_TIMEOUT)
        proc.stdout.close()
        with self._lock:
            if line.strip() == b"ready" and proc.poll() is None:
                self._ready = True
                log.info("fork server ready (pid %d, preloaded %s)", proc.pid, ", ".join(self.preload) or "nothing")
                return True
        log.warning("the fork server did not start (see %s); containers start their own monitors", self.log_path)
        self._kill(proc)
        return False

    def spawn(self, spec: Path, shim_log: Path) -> tuple[int, int] | None:
        """Ask for a monitor of the container instance `spec`: (monitor pid, read end of its report
        pipe), or None when the server cannot do it now (the caller starts the monitor itself)."""
        if not self.ready:
            self._restart_later()
            return None
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
                conn.settimeout(REQUEST_TIMEOUT)
                conn.connect(str(self.socket_path))
                request = json.dumps({"spec": str(spec), "log": str(shim_log)}).encode()
                conn.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, report_w.to_bytes(4, sys.byteorder))])
                os.close(report_w)
                report_w = -1
                answer = json.loads(conn.recv(4096) or b"{}")
        except (OSError, ValueError) as exc:
            log.warning("the fork server did not answer (%s); the container starts its own monitor", exc)
            os.close(report_r)
            if report_w >= 0:
                os.close(report_w)
            self._restart_later()
            return None
        pid = answer.get("pid")
        if not isinstance(pid, int):
            log.warning("the fork server refused: %s", answer.get("error", answer))
            os.close(report_r)
            return None
        return pid, report_r

    def _restart_later(self) -> None:
        proc = self._proc
        if self._stopped or proc is None or proc.poll() is None and not self._ready:
            return  # never started on purpose, or still starting
        if time.monotonic() - self._last_start < RESTART_AFTER:
            return
        self._ready = False
        log.warning("the fork server ended (%s); starting it again", proc.returncode)
        threading.Thread(target=self.start, name="fork-server", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._ready = False
            proc = self._proc
        if proc is not None:
            self._kill(proc)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _readline(stream, timeout: float) -> bytes:
    """One line from a pipe, or what came before `timeout` seconds passed or the writer closed it."""
    fd, data, deadline = stream.fileno(), b"", time.monotonic() + timeout
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            break
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    return data
