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
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CRDS = REPO_ROOT / "manifests" / "crds"
POD_GATEWAY = "10.244.0.1"  # the pod bridge's address: node agents listen there, pods reach the API there


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
    nodes: list[NodeStatus] = field(default_factory=list)
    reconciler: bool = False


class EmbeddedCluster:
    def __init__(self, data_dir: Path | None = None):
        self.data_dir = (data_dir or default_data_dir()).expanduser().resolve()
        self.pidfile = self.data_dir / "apiserver.pid"
        self.logfile = self.data_dir / "apiserver.log"
        self.urlfile = self.data_dir / "apiserver.url"
        self.kubeconfig = self.data_dir / "kubeconfig"
        self.daemon = Daemon(self.data_dir, "apiserver", "cluster.apiserver")
        self.agents = NodeAgents(self.data_dir)
        self.reconciler = Reconciler(self.data_dir)

    # -- process bookkeeping -------------------------------------------------------------

    def _pid(self) -> int | None:
        """The running API server's pid, or None; a stale pidfile is removed."""
        return self.daemon.pid()

    def status(self) -> Status:
        pid = self._pid()
        url = self.urlfile.read_text().strip() if pid and self.urlfile.exists() else None
        return Status(pid is not None, pid, url, self.kubeconfig, self.data_dir, self.logfile, self.agents.status(),
                      self.reconciler.running())

    # -- start / stop --------------------------------------------------------------------

    def start(self, port: int = 6443, crds: list[Path] | None = None, timeout: float = 60.0,
              bind: str = "127.0.0.1", extra_args: list[str] | None = None, nodes: int = 0,
              agent_args: list[str] | None = None, reconciler: bool = False) -> Status:
        """Start the API server and, with `nodes`, that many node agents (node-0 ...), and with
        `reconciler` the reconciler; what runs already is kept."""
        current = self.status()
        if current.running:
            if nodes:
                self.agents.start(nodes, agent_args, timeout)
            if reconciler:
                self.reconciler.start(timeout)
            return self.status()
        if nodes:
            bind = self.agents.prepare(nodes, bind)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.urlfile.unlink(missing_ok=True)
        crd_paths = crds if crds is not None else ([DEFAULT_CRDS] if DEFAULT_CRDS.exists() else [])
        cmd = [sys.executable, "-m", "cluster.apiserver", "--data-dir", str(self.data_dir), "--port", str(port),
               "--bind", bind]
        for path in crd_paths:
            cmd += ["--crds", str(path)]
        cmd += extra_args or []
        proc, _ = self.daemon.spawn(cmd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise ClusterError(f"the API server exited with code {proc.returncode} during start; "
                                   f"last lines of {self.logfile}:\n{self._log_tail()}")
            if self.urlfile.exists() and self._ready(self.urlfile.read_text().strip()):
                if nodes:
                    self.agents.start(nodes, agent_args, max(1.0, deadline - time.monotonic()))
                if reconciler:
                    self.reconciler.start(max(5.0, deadline - time.monotonic()))
                return self.status()
            time.sleep(0.1)
        raise ClusterError(f"the API server did not become ready within {timeout:.0f} s; see {self.logfile}:\n"
                           f"{self._log_tail()}")

    def stop(self, timeout: float = 15.0, kill_pods: bool = False) -> bool:
        """Stop the node agents and the API server; True if the API server was running. Pods keep
        running (the next start adopts them) unless `kill_pods`."""
        self.reconciler.stop(timeout)
        self.agents.stop(timeout, kill_pods=kill_pods)
        was_running = self.daemon.stop(timeout)
        self.urlfile.unlink(missing_ok=True)
        return was_running

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


class Daemon:
    """One background process of the cluster: its pidfile, its log, and the module it runs (so a
    stale pidfile whose pid now belongs to something else is recognised and dropped)."""

    def __init__(self, root: Path, name: str, module: str):
        self.root = root
        self.module = module.encode()
        self.pidfile = root / f"{name}.pid"
        self.logfile = root / f"{name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            cmdline = []
        if self.module not in cmdline or not any(str(self.root).encode() in a for a in cmdline) or _is_zombie(pid):
            self.pidfile.unlink(missing_ok=True)
            return None
        return pid

    def spawn(self, cmd: list[str]) -> tuple[subprocess.Popen, int]:
        """Start `cmd` in its own session; returns the process and the log offset it starts at."""
        self.root.mkdir(parents=True, exist_ok=True)
        offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.logfile, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                    start_new_session=True, cwd=str(self.root))
        self.pidfile.write_text(f"{proc.pid}\n")
        return proc, offset

    def wait_for(self, proc: subprocess.Popen, offset: int, marker: str, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with open(self.logfile, "rb") as log:
                log.seek(offset)
                if marker.encode() in log.read():
                    return
            if proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise ClusterError(f"{what} exited with code {proc.returncode} during start; last lines of "
                                   f"{self.logfile}:\n{_tail(self.logfile)}")
            if time.monotonic() > deadline:
                raise ClusterError(f"{what} did not become ready within {timeout:.0f} s; see {self.logfile}:\n"
                                   f"{_tail(self.logfile)}")
            time.sleep(0.1)

    def stop(self, timeout: float) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not _is_zombie(pid):
            time.sleep(0.05)
        if not _is_zombie(pid):
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return True


class Reconciler:
    """The reconciler (VirtualMachine → VMI → launcher pod), with a service-account identity of its own."""

    IDENTITY = "system:serviceaccount:kubevirt:kvtui-reconciler"

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.daemon = Daemon(data_dir / "reconciler", "reconciler", "cluster.reconciler")

    def running(self) -> bool:
        return self.daemon.pid() is not None

    def start(self, timeout: float) -> None:
        from cluster.apiserver import pki

        if self.running():
            return
        _ensure_namespace(self.data_dir / "kubeconfig", "kubevirt")   # its Lease and configuration live there
        token = pki.issue_token(self.data_dir, self.IDENTITY, ["system:serviceaccounts",
                                                                "system:serviceaccounts:kubevirt",
                                                                "system:authenticated"])
        kubeconfig = self.daemon.root / "kubeconfig"
        self.daemon.root.mkdir(parents=True, exist_ok=True)
        write_identity_kubeconfig(self.data_dir, kubeconfig, self.IDENTITY, token)
        proc, offset = self.daemon.spawn([sys.executable, "-m", "cluster.reconciler", "--kubeconfig",
                                          str(kubeconfig), "--leader-elect", "--lease-namespace", "kubevirt"])
        self.daemon.wait_for(proc, offset, "kvtui reconciler ready", "the reconciler", timeout)

    def stop(self, timeout: float) -> None:
        self.daemon.stop(timeout)


@dataclass
class NodeStatus:
    name: str
    running: bool
    pid: int | None
    log: Path


class NodeAgents:
    """The embedded cluster's node agents, node-0 ... node-N-1: one root-run process each, with its
    own token, serving certificate, pod CIDR (10.244.N.0/24) and state under DATA_DIR/nodes/NAME."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.dir = data_dir / "nodes"

    def _root(self, name: str) -> Path:
        return self.dir / name

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted((p.name for p in self.dir.iterdir() if p.name.startswith("node-")),
                      key=lambda n: int(n.split("-")[1]) if n.split("-")[1].isdigit() else 0)

    def _daemon(self, name: str) -> Daemon:
        return Daemon(self._root(name), "agent", "cluster.nodeagent")

    def _pid(self, name: str) -> int | None:
        return self._daemon(name).pid()

    def status(self) -> list[NodeStatus]:
        return [NodeStatus(n, (pid := self._pid(n)) is not None, pid, self._root(n) / "agent.log")
                for n in self.names()]

    def prepare(self, count: int, bind: str) -> str:
        """Before the API server starts: check the host, create the pod bridge, mint the agents'
        tokens (the server reads tokens at start); returns the bind list with the pod gateway."""
        from cluster.apiserver import pki
        from cluster.nodeagent import main as agent_main
        from cluster.nodeagent import network

        problems = agent_main.host_problems()
        if problems:
            raise ClusterError("cannot run node agents: " + "; ".join(problems) + ". For a control plane "
                               "without nodes (pods stay Pending), start with --nodes 0")
        try:
            network.ensure_bridge()
        except network.NetworkError as exc:
            raise ClusterError(f"cannot set up the pod network: {exc}") from exc
        for index in range(count):
            pki.issue_token(self.data_dir, f"system:node:node-{index}", ["system:nodes", "system:authenticated"])
        return bind if POD_GATEWAY in bind.split(",") else f"{bind},{POD_GATEWAY}"

    def start(self, count: int, extra_args: list[str] | None, timeout: float) -> None:
        from cluster.apiserver import pki

        token_file = self.data_dir / "pki" / "streaming.token"
        pki.ensure_streaming_token(self.data_dir)
        started = []
        for index in range(count):
            name = f"node-{index}"
            if self._pid(name) is not None:
                continue
            root = self._root(name)
            root.mkdir(parents=True, exist_ok=True)
            kubeconfig = root / "kubeconfig"
            user = f"system:node:{name}"
            write_identity_kubeconfig(self.data_dir, kubeconfig, user, pki.issue_token(self.data_dir, user))
            cmd = [sys.executable, "-m", "cluster.nodeagent", "--node-name", name, "--kubeconfig", str(kubeconfig),
                   "--root", str(root), "--port", "0", "--pod-cidr", f"10.244.{index}.0/24"]
            cert, key = pki.issue_serving_cert(self.data_dir, name, [POD_GATEWAY, name])
            (root / "tls").mkdir(mode=0o700, exist_ok=True)
            (root / "tls" / "serving.crt").write_bytes(cert)
            (root / "tls" / "serving.key").write_bytes(key)
            os.chmod(root / "tls" / "serving.key", 0o600)
            cmd += ["--tls-cert-file", str(root / "tls" / "serving.crt"),
                    "--tls-private-key-file", str(root / "tls" / "serving.key"),
                    "--streaming-token-file", str(token_file)]
            image_map = self.data_dir / "image-map.yaml"
            if image_map.exists():
                cmd += ["--image-map", str(image_map)]
            cmd += extra_args or []
            daemon = self._daemon(name)
            proc, offset = daemon.spawn(cmd)
            started.append((name, daemon, proc, offset))
        for name, daemon, proc, offset in started:
            daemon.wait_for(proc, offset, f"kvtui node agent {name} ready", f"node agent {name}", timeout)

    def stop(self, timeout: float, kill_pods: bool = False) -> None:
        for name in self.names():
            self._daemon(name).stop(timeout)
            if kill_pods:
                from cluster.nodeagent import main as agent_main

                agent_main.cleanup(self._root(name), f"10.244.{name.split('-')[1]}.0/24")


def write_identity_kubeconfig(data_dir: Path, path: Path, user: str, token: str) -> None:
    """A copy of the admin kubeconfig that authenticates as `user` with `token`."""
    from cluster.apiserver import pki

    admin = yaml.safe_load((data_dir / "kubeconfig").read_text())
    context = admin["contexts"][0]
    config = {**admin, "users": [{"name": user, "user": {"token": token}}],
              "contexts": [{**context, "context": {**context["context"], "user": user}}]}
    pki.write_kubeconfig(path, config)


def _ensure_namespace(kubeconfig: Path, name: str) -> None:
    from cluster.client import APIError, Client, load_api_client

    client = Client(load_api_client(str(kubeconfig)))
    try:
        client.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except APIError as exc:
        if exc.status != 409:
            raise ClusterError(f"cannot create namespace {name}: {exc.message}") from exc


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True
