"""The container runtime of the node agent: container instances as host processes under a shim,
their state on disk (so a restarted agent adopts them), and the `PodRuntime` interface the
streaming server (logs, exec, attach, port-forward) uses.

On disk, under ROOT/pods/<pod-uid>/:
    _pod.json                      the pod's identity and network namespace
    _volumes/<volume>/             materialised volumes
    <container>/<n>.spec.json      instance n of the container, as given to the shim
    <container>/<n>.state.json     written by the shim once the process runs (pid, start time)
    <container>/<n>.exit.json      written by the shim when it ended (exit code, finish time)
    <container>/<n>.log            its stdout/stderr in the CRI log format
n is the container's restartCount when that instance started.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroups
from .forkserver import ForkServer
from .network import NETNS_DIR

log = logging.getLogger("kvtui.nodeagent.runtime")

SHIM = Path(__file__).with_name("shim.py")
LOST_EXIT_CODE = 137


def _rfc3339(seconds: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds if seconds is not None else time.time()))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return None


def process_alive(pid: int, start_ticks: int | None = None) -> bool:
    """True when `pid` runs (not a zombie) and, if given, is the process that started at `start_ticks`
    — so a recycled pid is never mistaken for our container."""
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


@dataclass
class Instance:
    """One run of one container."""

    container: str
    index: int
    dir: Path
    pid: int | None = None
    shim_pid: int | None = None
    started_at: str | None = None
    start_ticks: int | None = None
    exit: dict | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    stdin_fifo: str | None = None

    @property
    def running(self) -> bool:
        return self.pid is not None and self.exit is None

    def path(self, suffix: str) -> Path:
        return self.dir / f"{self.index}.{suffix}"

    @property
    def log_path(self) -> Path:
        return self.path("log")

    @property
    def container_id(self) -> str:
        return f"kvtui://{self.pid}" if self.pid else ""


@dataclass
class PodSandbox:
    """What the runtime keeps for one pod: identity, network namespace, container instances."""

    uid: str
    namespace: str
    name: str
    dir: Path
    netns: str | None = None
    ip: str | None = None
    container_order: list[str] = field(default_factory=list)
    instances: dict[str, list[Instance]] = field(default_factory=dict)

    def latest(self, container: str) -> Instance | None:
        runs = self.instances.get(container) or []
        return runs[-1] if runs else None

    def instance(self, container: str, index: int) -> Instance | None:
        return next((i for i in self.instances.get(container) or [] if i.index == index), None)

    def running(self) -> list[Instance]:
        return [runs[-1] for runs in self.instances.values() if runs and runs[-1].running]

    def save(self) -> None:
        _write_json(self.dir / "_pod.json", {"uid": self.uid, "namespace": self.namespace, "name": self.name,
                                             "netns": self.netns, "ip": self.ip,
                                             "containers": self.container_order})


@dataclass
class ContainerSpec:
    """What the shim needs to run one container instance."""

    argv: list[str]
    env: dict[str, str]
    working_dir: str | None
    mounts: list[dict]
    resources: dict
    hostname: str
    stdin: bool = False


# The agent's latest container status for (pod uid, container), used to pick log files as the kubelet does.
StatusLookup = Callable[[str, str], dict | None]


@dataclass
class RunningPod:
    """A pod as the streaming server sees it."""

    uid: str
    namespace: str
    name: str
    netns: str | None   # the `ip netns` name; None means the host's network namespace
    _runtime: PodRuntime = field(repr=False, compare=False)

    @property
    def _sandbox(self) -> PodSandbox:
        return self._runtime.pods[self.uid]

    def container_names(self) -> list[str]:
        """The pod's containers in spec order, then its init containers."""
        return list(self._sandbox.container_order)

    def log_files(self, container: str, previous: bool) -> list[Path]:
        """Log files (CRI format) of the current or previous instance, oldest first; [] if none.
        As with the kubelet, a container waiting to restart shows its last run as current."""
        sandbox = self._sandbox
        status = self._runtime.status_lookup(self.uid, container) or {}
        last = ((status.get("lastState") or {}).get("terminated") or {}).get("containerID")
        state = status.get("state") or {}
        current = status.get("containerID") if ("running" in state or "terminated" in state) else last
        wanted = last if previous else current
        runs = sandbox.instances.get(container) or []
        if wanted is None and not status and runs and not previous:
            return [runs[-1].log_path] if runs[-1].log_path.exists() else []
        match = next((i for i in reversed(runs) if i.container_id and i.container_id == wanted), None)
        return [match.log_path] if match is not None and match.log_path.exists() else []

    def is_running(self, container: str) -> bool:
        latest = self._sandbox.latest(container)
        return latest is not None and latest.running

    def exec_argv(self, container: str, command: list[str], tty: bool) -> tuple[list[str], dict[str, str]]:
        """argv that runs `command` in the container's network, mount and UTS namespaces and working
        directory, and the container's environment to run it with."""
        latest = self._sandbox.latest(container)
        if latest is None or not latest.running:
            raise LookupError(f'container "{container}" in pod "{self.name}" is not running')
        argv = ["nsenter", "-t", str(latest.pid), "-n", "-m", "-u", "--wd", "--", *command]
        return argv, dict(latest.env)

    def stdin_fifo(self, container: str) -> Path | None:
        """The FIFO feeding the container's stdin (containers with `stdin: true`), for attach."""
        latest = self._sandbox.latest(container)
        return Path(latest.stdin_fifo) if latest is not None and latest.stdin_fifo else None


ExitListener = Callable[[PodSandbox, Instance], None]


class PodRuntime:
    def __init__(self, root: Path, on_exit: ExitListener | None = None,
                 status_lookup: StatusLookup | None = None):
        self.root = root
        self.pods_dir = root / "pods"
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self.pods: dict[str, PodSandbox] = {}
        self.on_exit: ExitListener = on_exit or (lambda sandbox, instance: None)
        self.status_lookup: StatusLookup = status_lookup or (lambda uid, container: None)
        self.fork_server: ForkServer | None = None   # set by the agent; None: every monitor is a new process
        self._children: dict[int, subprocess.Popen] = {}

    # -- the streaming server's entry point --------------------------------------------

    def find(self, namespace: str, pod: str) -> RunningPod | None:
        for sandbox in self.pods.values():
            if sandbox.namespace == namespace and sandbox.name == pod:
                return RunningPod(sandbox.uid, sandbox.namespace, sandbox.name, sandbox.netns, self)
        return None

    # -- sandboxes ------------------------------------------------------------------------

    def sandbox(self, uid: str, namespace: str, name: str) -> PodSandbox:
        existing = self.pods.get(uid)
        if existing is not None:
            return existing
        sandbox = PodSandbox(uid, namespace, name, self.pods_dir / uid)
        sandbox.dir.mkdir(parents=True, exist_ok=True)
        self.pods[uid] = sandbox
        sandbox.save()
        return sandbox

    def forget(self, uid: str) -> None:
        """Drop a pod whose processes are gone, with everything kept for it on disk."""
        self.drop(uid)
        self.remove_leftovers(uid)

    def drop(self, uid: str) -> None:
        """No longer know the pod (its processes are gone)."""
        self.pods.pop(uid, None)

    def remove_leftovers(self, uid: str) -> None:
        """What `forget` removes of a pod once it is dropped: its directory and its cgroups (which
        may take a moment to empty; run it off the event loop)."""
        shutil.rmtree(self.pods_dir / uid, ignore_errors=True)
        cgroups.remove_pod(uid)

    # -- starting and stopping ------------------------------------------------------------

    async def start(self, sandbox: PodSandbox, container: str, spec: ContainerSpec) -> Instance:
        """Start the next instance of a container; returns it running, or already ended with a
        `startError` when the process could not be started."""
        directory = sandbox.dir / container
        directory.mkdir(parents=True, exist_ok=True)
        runs = sandbox.instances.setdefault(container, [])
        index = runs[-1].index + 1 if runs else 0
        instance = Instance(container, index, directory, env=spec.env, working_dir=spec.working_dir)
        scratch = directory / f"scratch-{index}"
        scratch.mkdir(exist_ok=True)
        if spec.stdin:
            instance.stdin_fifo = str(instance.path("stdin"))
        shim_spec = {
            "argv": spec.argv, "env": spec.env, "workingDir": spec.working_dir, "mounts": spec.mounts,
            "hostname": spec.hostname, "netns": str(NETNS_DIR / sandbox.netns) if sandbox.netns else None,
            "cgroups": cgroups.create(sandbox.uid, f"{container}-{index}", spec.resources),
            "scratch": str(scratch), "logFile": str(instance.log_path), "stateFile": str(instance.path("state.json")),
            "exitFile": str(instance.path("exit.json")), "stdinFifo": instance.stdin_fifo,
        }
        _write_json(instance.path("spec.json"), shim_spec)
        runs.append(instance)
        monitor_pid, line = await asyncio.to_thread(self._start_monitor, instance.path("spec.json"),
                                                    directory / "shim.log")
        try:
            report = json.loads(line or b"{}")
        except ValueError:
            report = {}
        if "pid" in report:
            self._load_state(instance)
        else:
            instance.exit = _read_json(instance.path("exit.json")) or self._lost(
                instance, "the container monitor failed; see " + str(directory / "shim.log"))
        self._watch(sandbox, instance, monitor_pid)
        return instance

    def _start_monitor(self, spec: Path, shim_log: Path) -> tuple[int, bytes]:
        """Start the shim for one container instance, forked by the fork server when it can, else as
        a new process; (its pid, the line it reports the start with)."""
        forked = self.fork_server.spawn(spec, shim_log) if self.fork_server is not None else None
        if forked is not None:
            pid, report_fd = forked
            with os.fdopen(report_fd, "rb") as report:
                return pid, report.readline()
        with open(shim_log, "ab") as log_file:
            proc = subprocess.Popen([sys.executable, "-I", "-S", str(SHIM), str(spec)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file,
                                    start_new_session=True, close_fds=True, cwd="/")
        assert proc.stdout is not None
        line = proc.stdout.readline()
        proc.stdout.close()
        self._children[proc.pid] = proc
        return proc.pid, line

    def signal(self, instance: Instance, sig: int) -> None:
        """Signal the container's whole process group (the container process leads its own session)."""
        if instance.running and process_alive(instance.pid, instance.start_ticks):  # type: ignore[arg-type]
            try:
                os.killpg(instance.pid, sig)  # type: ignore[arg-type]
            except ProcessLookupError:
                pass

    def kill_all(self, sandbox: PodSandbox) -> None:
        for instance in sandbox.running():
            self.signal(instance, signal.SIGKILL)

    # -- exits ----------------------------------------------------------------------------

    def _watch(self, sandbox: PodSandbox, instance: Instance, pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._finished(sandbox, instance, pid)
            return
        loop = asyncio.get_running_loop()

        def on_readable() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._finished(sandbox, instance, pid)

        loop.add_reader(fd, on_readable)

    def _finished(self, sandbox: PodSandbox, instance: Instance, watched_pid: int) -> None:
        child = self._children.pop(watched_pid, None)
        if child is not None:
            child.wait()
        if instance.exit is None:
            instance.exit = _read_json(instance.path("exit.json"))
        if instance.exit is None:
            if instance.pid and watched_pid != instance.pid and process_alive(instance.pid, instance.start_ticks):
                # The monitor died but the container lives on: keep watching the container itself.
                self._watch(sandbox, instance, instance.pid)
                return
            instance.exit = self._lost(instance, "the container's monitor ended without recording its exit code")
        self.on_exit(sandbox, instance)

    def _lost(self, instance: Instance, why: str) -> dict:
        exit_info = {"exitCode": LOST_EXIT_CODE, "lost": why, "startedAt": instance.started_at,
                     "finishedAt": _rfc3339(), "finishedUnix": time.time()}
        _write_json(instance.path("exit.json"), exit_info)
        return exit_info

    def _load_state(self, instance: Instance) -> None:
        state = _read_json(instance.path("state.json")) or {}
        instance.pid = state.get("pid")
        instance.shim_pid = state.get("shimPid")
        instance.started_at = state.get("startedAt")
        instance.start_ticks = state.get("startTicks")

    # -- adoption after an agent restart --------------------------------------------------

    def adopt(self) -> list[PodSandbox]:
        """Load every pod left on disk; running containers are watched again, containers that died
        while no agent watched are recorded as ended with an unknown exit code."""
        found = []
        for pod_file in sorted(self.pods_dir.glob("*/_pod.json")):
            info = _read_json(pod_file)
            if not info:
                continue
            sandbox = PodSandbox(info["uid"], info["namespace"], info["name"], pod_file.parent,
                                 info.get("netns"), info.get("ip"), list(info.get("containers") or []))
            for spec_file in sorted(pod_file.parent.glob("*/*.spec.json"),
                                    key=lambda p: int(p.name.split(".")[0])):
                instance = self._adopt_instance(sandbox, spec_file)
                sandbox.instances.setdefault(instance.container, []).append(instance)
            self.pods[sandbox.uid] = sandbox
            found.append(sandbox)
        return found

    def _adopt_instance(self, sandbox: PodSandbox, spec_file: Path) -> Instance:
        spec = _read_json(spec_file) or {}
        instance = Instance(spec_file.parent.name, int(spec_file.name.split(".")[0]), spec_file.parent,
                            env=spec.get("env") or {}, working_dir=spec.get("workingDir"),
                            stdin_fifo=spec.get("stdinFifo"))
        self._load_state(instance)
        instance.exit = _read_json(instance.path("exit.json"))
        if instance.exit is not None:
            return instance
        if instance.pid is None:
            instance.exit = {"exitCode": 128, "startError": "the node agent stopped while the container was starting",
                             "finishedAt": _rfc3339()}
            _write_json(instance.path("exit.json"), instance.exit)
        elif not process_alive(instance.pid, instance.start_ticks):
            instance.exit = self._lost(instance, "the container ended while the node agent was not running")
        return instance

    def watch_adopted(self, sandbox: PodSandbox) -> None:
        """Start watching the adopted running instances (needs the running event loop)."""
        for instance in sandbox.running():
            shim = instance.shim_pid
            if shim and process_alive(shim) and str(SHIM).encode() in _cmdline(shim):
                self._watch(sandbox, instance, shim)
            else:
                self._watch(sandbox, instance, instance.pid)  # type: ignore[arg-type]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def describe_exit(exit_info: dict) -> tuple[int, str, str]:
    """(exitCode, reason, message) for a containerStatus' terminated state, in the kubelet's words."""
    code = int(exit_info.get("exitCode", LOST_EXIT_CODE))
    if exit_info.get("startError"):
        return 128, "StartError", exit_info["startError"]
    if exit_info.get("lost"):
        return code, "Error", exit_info["lost"]
    if exit_info.get("oomKilled"):
        return code, "OOMKilled", ""
    return code, ("Completed" if code == 0 else "Error"), ""
