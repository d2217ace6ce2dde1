"""The embedded single-machine cluster: starts, stops and reports its control-plane processes.

Each component runs as its own background process with a pidfile and a log file under the data
directory, so it keeps running after the command (or the TUI) that started it exits.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CRDS = REPO_ROOT / "manifests" / "crds"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kvtui" / "cluster"


class ClusterError(Exception):
    """Something the user can act on: the message says what went wrong and what to do."""


@dataclass
class Status:
    running: bool
    pid: int | None
    url: str | None
    kubeconfig: Path
    data_dir: Path
    log: Path


class EmbeddedCluster:
    def __init__(self, data_dir: Path | None = None):
        self.data_dir = (data_dir or default_data_dir()).expanduser().resolve()
        self.pidfile = self.data_dir / "apiserver.pid"
        self.logfile = self.data_dir / "apiserver.log"
        self.urlfile = self.data_dir / "apiserver.url"
        self.kubeconfig = self.data_dir / "kubeconfig"

    # -- process bookkeeping -------------------------------------------------------------

    def _pid(self) -> int | None:
        """The running API server's pid, or None; a stale pidfile is removed."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            cmdline = []
        if b"cluster.apiserver" not in cmdline or str(self.data_dir).encode() not in cmdline:
            self.pidfile.unlink(missing_ok=True)
            return None
        return pid

    def status(self) -> Status:
        pid = self._pid()
        url = self.urlfile.read_text().strip() if pid and self.urlfile.exists() else None
        return Status(pid is not None, pid, url, self.kubeconfig, self.data_dir, self.logfile)

    # -- start / stop --------------------------------------------------------------------

    def start(self, port: int = 6443, crds: list[Path] | None = None, timeout: float = 60.0,
              bind: str = "127.0.0.1", extra_args: list[str] | None = None) -> Status:
        current = self.status()
        if current.running:
            return current
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.urlfile.unlink(missing_ok=True)
        crd_paths = crds if crds is not None else ([DEFAULT_CRDS] if DEFAULT_CRDS.exists() else [])
        cmd = [sys.executable, "-m", "cluster.apiserver", "--data-dir", str(self.data_dir), "--port", str(port),
               "--bind", bind]
        for path in crd_paths:
            cmd += ["--crds", str(path)]
        cmd += extra_args or []
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.logfile, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    start_new_session=True, cwd=str(self.data_dir))
        self.pidfile.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise ClusterError(f"the API server exited with code {proc.returncode} during start; "
                                   f"last lines of {self.logfile}:\n{self._log_tail()}")
            if self.urlfile.exists() and self._ready(self.urlfile.read_text().strip()):
                return self.status()
            time.sleep(0.1)
        raise ClusterError(f"the API server did not become ready within {timeout:.0f} s; see {self.logfile}:\n"
                           f"{self._log_tail()}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the API server; True if one was running."""
        pid = self._pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            if _is_zombie(pid):
                break
            time.sleep(0.1)
        else:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        self.urlfile.unlink(missing_ok=True)
        return True

    # -- helpers -------------------------------------------------------------------------

    def _ready(self, url: str) -> bool:
        ca = self.data_dir / "pki" / "ca.crt"
        if not ca.exists():
            return False
        ctx = ssl.create_default_context(cafile=str(ca))
        try:
            with urllib.request.urlopen(url + "/readyz", context=ctx, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True
