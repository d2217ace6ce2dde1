"""One pod's life on the node, as the kubelet's pod worker lives it: sandbox (network namespace and
volumes), init containers in order, containers with restart policy and back-off, probes, status
reports, and graceful termination ending in the DELETE that lets the API server forget the pod.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import cgroups, network, volumes
from .apiclient import ApiException, NodeAPI
from .envvars import ConfigError, PodFacts, container_env, expand, service_env
from .images import ImageMap, ImageNotLocal
from .probes import run_probe
from .runtime import ContainerSpec, Instance, PodRuntime, PodSandbox, describe_exit
from .startup import StartupSlots, default_slots
from .status import ContainerView, container_status, go_duration, pod_conditions, pod_phase

log = logging.getLogger("kvtui.nodeagent.pods")

RETRY_SECONDS = 5.0           # sandbox or volume set-up failed: try again this often
CONFIG_RETRY_SECONDS = 10.0   # a referenced ConfigMap/Secret key is missing: look again this often
KILL_WAIT_SECONDS = 10.0      # after SIGKILL, how long to wait for the process to be gone
FORCE_DELETE_GRACE = 2.0      # the kubelet's minimum grace when a pod vanished from the API
# A pod annotated with a startup CPU boost weighs this CPU amount against other pods until it is
# first Ready (or for at most STARTUP_BOOST_SECONDS): a VM's launcher then starts in a second
# even while many guests boot on the node, and the guest runs at the pod's requested weight.
# A few pods start at a time (startup.StartupSlots): the others wait their turn in
# ContainerCreating, their containers not started yet, and a pod that is slow to get Ready keeps
# the next ones waiting STARTUP_BOOST_SECONDS at most.
STARTUP_BOOST_ANNOTATION = "kvtui.io/startup-cpu-boost"
STARTUP_BOOST_SECONDS = 30.0
BACKOFF_RESET = 600.0         # a container that has not crashed for this long starts its back-off anew


class EventSink(Protocol):
    def __call__(self, pod: Mapping[str, Any], type_: str, reason: str, message: str,
                 container: str | None = None) -> None: ...


@dataclass
class NodeContext:
    """What every pod worker shares: the node's identity, API access, runtime and settings."""

    node_name: str
    node_ip: str
    api: NodeAPI
    runtime: PodRuntime
    images: ImageMap
    pool: network.AddressPool
    event: EventSink
    service_host: str
    service_port: int
    allocatable: dict[str, str]
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    on_done: Callable[[str], None] = lambda uid: None
    startup: StartupSlots = field(default_factory=lambda: StartupSlots(default_slots()))
    call: Callable[..., Awaitable[Any]] = field(default=asyncio.to_thread)


def _containers(pod: Mapping[str, Any], kind: str) -> list[dict]:
    return list((pod.get("spec") or {}).get(kind) or [])


def _finished_at(instance: Instance) -> float:
    exit_info = instance.exit or {}
    if exit_info.get("finishedUnix"):
        return float(exit_info["finishedUnix"])
    stamp = exit_info.get("finishedAt")
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))) if stamp else time.time()
    except ValueError:
        return time.time()


def hosts_file(pod_ip: str, pod_name: str) -> str:
    return ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{pod_ip}\t{pod_name}\n")


class PodWorker:
    def __init__(self, ctx: NodeContext, pod: dict, sandbox: PodSandbox | None = None):
        self.ctx = ctx
        self.pod = pod
        meta = pod["metadata"]
        self.uid, self.namespace, self.name = meta["uid"], meta["namespace"], meta["name"]
        self.sandbox = sandbox
        self.sandbox_ready = False
        self.paths: dict[str, Path] = {}
        self.mounts: dict[str, list[dict]] = {}
        self.waiting: dict[str, tuple[str, str]] = {}
        self.backoff: dict[str, tuple[float, float]] = {}   # container → (delay, when it was set)
        self.ready: dict[str, bool] = {}
        self.started: dict[str, bool] = {}
        self.announced: set[tuple[str, int, str]] = set()   # (container, instance, reason) events already sent
        self.probes: dict[str, list[asyncio.Task]] = {}
        self.exits: dict[tuple[str, int], asyncio.Event] = {}
        self.start_time = (pod.get("status") or {}).get("startTime") or time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime())
        self.status: dict | None = None
        self.written: dict | None = None
        # A pod that finished before this agent started is left as it was reported.
        self.terminal_phase: str | None = (pod.get("status") or {}).get("phase") \
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None
        self.gone = False
        self.finished = False
        self._dirty = False
        self._task: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._wake = asyncio.Event()
        self._kill_deadline: float | None = None
        self._sigterm_sent = False
        self._cpu_weight: int | None = None      # millicores last written to the pod's cgroup
        self._boost_over = False     # Ready (or timed out, finished): the pod weighs its requests alone
        self._boost_held = False     # it holds one of the node's startup slots
        self._boost_milli = 0        # the annotation's CPU amount, read when the sandbox is ready
        self._boost_timer: asyncio.TimerHandle | None = None

    # -- inputs ---------------------------------------------------------------------------

    def update(self, pod: dict) -> None:
        self.pod = pod
        self._wake.set()
        self.kick()

    def removed(self) -> None:
        """The pod is gone from the API (force deletion): stop its containers without ceremony."""
        self.gone = True
        self._wake.set()
        self.kick()

    def container_exited(self, instance: Instance) -> None:
        event = self.exits.get((instance.container, instance.index))
        if event is not None:
            event.set()
        self._stop_probes(instance.container)
        self._wake.set()
        self.kick()

    def status_of(self, container: str) -> dict | None:
        status = self.status or {}
        for entry in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
            if entry.get("name") == container:
                return entry
        return None

    # -- the sync loop --------------------------------------------------------------------

    def kick(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=f"pod {self.namespace}/{self.name}")

    def retry_in(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time() + seconds
        pending = self._timer is not None and not self._timer.cancelled() and self._timer_at > loop.time()
        if pending and self._timer_at <= at:
            return  # an earlier wake-up is already due
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = loop.call_later(seconds, self.kick), at

    async def _loop(self) -> None:
        while self._dirty and not self.finished:
            self._dirty = False
            try:
                await self.sync()
            except Exception:
                log.exception("pod %s/%s: sync failed; retrying", self.namespace, self.name)
                self.retry_in(RETRY_SECONDS)

    async def sync(self) -> None:
        if self.gone:
            await self._stop_gone()
            return
        if (self.pod.get("metadata") or {}).get("deletionTimestamp"):
            await self._terminate()
            return
        if self.terminal_phase is not None:
            if self.status is not None:  # finished under this agent: keep the report current
                await self._write_status()
            return
        if not await self._ensure_sandbox():
            await self._write_status()
            return
        if self._boost_milli > 0 and not self._boost_held and not self._boost_over:
            await self._write_status()   # waiting for a startup slot, in ContainerCreating
            return
        init_failed = await self._run_init_containers()
        if not init_failed and self._init_done():
            for container in _containers(self.pod, "containers"):
                await self._keep_running(container, init=False)
        await self._write_status(init_failed=init_failed)

    # -- the sandbox ----------------------------------------------------------------------

    async def _ensure_sandbox(self) -> bool:
        if self.sandbox_ready:
            return True
        ctx = self.ctx
        sandbox = self.sandbox or ctx.runtime.sandbox(self.uid, self.namespace, self.name)
        self.sandbox = sandbox
        sandbox.container_order = ([c["name"] for c in _containers(self.pod, "containers")]
                                   + [c["name"] for c in _containers(self.pod, "initContainers")])
        if self._host_network:
            sandbox.netns, sandbox.ip = None, ctx.node_ip
        else:
            try:
                net = await ctx.call(network.set_up_pod_network, self.uid, ctx.pool)
            except network.NetworkError as exc:
                self._announce("", -1, "FailedCreatePodSandBox", "Warning",
                               f"Failed to create pod sandbox: {exc}")
                self.retry_in(RETRY_SECONDS)
                return False
            sandbox.netns, sandbox.ip = net.netns, net.ip
        sandbox.save()
        (sandbox.dir / "_etc").mkdir(exist_ok=True)
        (sandbox.dir / "_etc" / "hosts").write_text(hosts_file(sandbox.ip or "", self.name))
        pod_volumes, self.mounts = volumes.with_service_account_volume(self.pod)
        builder = volumes.VolumeBuilder(self.pod, sandbox.dir, self._facts(), ctx.api.read, self._issue_token,
                                        ctx.api.ca_bundle)
        try:
            self.paths = await ctx.call(builder.build, pod_volumes)
        except volumes.VolumeError as exc:
            self._announce("", -1, "FailedMount", "Warning", str(exc), once=False)
            self.retry_in(RETRY_SECONDS)
            return False
        self.sandbox_ready = True
        self._weigh_cpu()
        self._boost_milli = self._startup_boost_milli()
        if not self._boost_over and self._boost_milli > 0:
            self.ctx.startup.request(self.uid, self._boost_granted)
        return True

    # -- CPU weight -----------------------------------------------------------------------

    def _startup_boost_milli(self) -> int:
        value = ((self.pod.get("metadata") or {}).get("annotations") or {}).get(STARTUP_BOOST_ANNOTATION)
        if value is None:
            return 0
        milli = cgroups.cpu_request_milli({"requests": {"cpu": value}})
        if milli <= 0:
            self._announce("", -1, "InvalidStartupCPUBoost", "Warning",
                           f"annotation {STARTUP_BOOST_ANNOTATION}={value!r} is not a CPU quantity such as "
                           "'1' or '500m'; the pod starts without a boost")
        return max(0, milli)

    def _boost_granted(self) -> None:
        if self._boost_over or self.finished:
            self.ctx.startup.release(self.uid)
            return
        self._boost_held = True
        self._boost_timer = asyncio.get_running_loop().call_later(STARTUP_BOOST_SECONDS, self._boost_expired)
        self._weigh_cpu()
        self.kick()   # its containers may start now

    def _weigh_cpu(self) -> None:
        """The pod's cgroup weight: the sum of its containers' CPU requests, or the startup boost while
        the pod holds a startup slot."""
        milli = sum(cgroups.cpu_request_milli(c.get("resources") or {}) for c in _containers(self.pod, "containers"))
        if self._boost_held and not self._boost_over:
            milli = max(milli, self._boost_milli)
        if milli != self._cpu_weight:
            self._cpu_weight = milli
            cgroups.set_pod_cpu(self.uid, milli)

    def _boost_expired(self) -> None:
        log.info("pod %s/%s: not Ready after %.0f s: its startup boost ends and its slot passes on",
                 self.namespace, self.name, STARTUP_BOOST_SECONDS)
        self._boost_timer = None
        self._end_boost()

    def _end_boost(self) -> None:
        if self._boost_timer is not None:
            self._boost_timer.cancel()
            self._boost_timer = None
        if not self._boost_over:
            self._boost_over = True
            if self._boost_held and self.sandbox_ready and not self.finished:
                self._weigh_cpu()
        self._boost_held = False
        self.ctx.startup.release(self.uid)

    @property
    def _host_network(self) -> bool:
        return bool((self.pod.get("spec") or {}).get("hostNetwork"))

    def _issue_token(self, namespace: str, service_account: str, pod: Mapping[str, Any], audience: str | None,
                     seconds: int) -> str:
        token = self.ctx.api.request_token(namespace, service_account, dict(pod), audience, seconds)
        # Without the TokenRequest API the pod gets the node agent's own credentials.
        return token or self.ctx.api.token

    def _facts(self) -> PodFacts:
        ip = self.sandbox.ip if self.sandbox else ""
        return PodFacts(pod_ip=ip or "", host_ip=self.ctx.node_ip, node_allocatable=self.ctx.allocatable)

    # -- containers -----------------------------------------------------------------------

    def _init_done(self) -> bool:
        assert self.sandbox is not None
        for container in _containers(self.pod, "initContainers"):
            latest = self.sandbox.latest(container["name"])
            if latest is None or latest.running or describe_exit(latest.exit or {})[0] != 0:
                return False
        return True

    async def _run_init_containers(self) -> bool:
        """Run init containers one after the other; True when one failed for good (restartPolicy Never)."""
        assert self.sandbox is not None
        for container in _containers(self.pod, "initContainers"):
            latest = self.sandbox.latest(container["name"])
            if latest is not None and not latest.running and describe_exit(latest.exit or {})[0] == 0:
                continue
            if (latest is not None and not latest.running
                    and (self.pod.get("spec") or {}).get("restartPolicy") == "Never"):
                return True
            await self._keep_running(container, init=True)
            return False
        return False

    def _should_restart(self, instance: Instance, init: bool) -> bool:
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        code = describe_exit(instance.exit or {})[0]
        if init:
            return code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and code != 0)

    async def _keep_running(self, container: dict, init: bool) -> None:
        assert self.sandbox is not None
        name = container["name"]
        latest = self.sandbox.latest(name)
        if latest is None:
            await self._start(container, init)
        elif not latest.running:
            if not self._should_restart(latest, init):
                self.waiting.pop(name, None)
            elif self._backoff_allows(name, latest):
                await self._start(container, init)

    def _backoff_allows(self, name: str, latest: Instance) -> bool:
        """The kubelet's crash-loop back-off: the first restart is immediate, later ones wait 10 s,
        20 s, 40 s ... up to 5 minutes after the previous run ended."""
        now = time.time()
        delay, since = self.backoff.get(name, (0.0, 0.0))
        if delay and now - since > BACKOFF_RESET:
            delay = 0.0
        finished = _finished_at(latest)
        if delay and now - finished < delay:
            pod = f"{self.name}_{self.namespace}({self.uid})"
            self.waiting[name] = ("CrashLoopBackOff",
                                  f"back-off {go_duration(delay)} restarting failed container={name} pod={pod}")
            self._announce(name, latest.index, "BackOff", "Warning",
                           f"Back-off restarting failed container {name} in pod {pod}")
            self.retry_in(max(0.05, finished + delay - now))
            return False
        self.backoff[name] = (min(delay * 2, self.ctx.backoff_max) if delay else self.ctx.backoff_initial, now)
        return True

    def _field_path(self, name: str) -> str:
        kind = "initContainers" if any(c["name"] == name for c in _containers(self.pod, "initContainers")) \
            else "containers"
        return f"spec.{kind}{{{name}}}"

    async def _start(self, container: dict, init: bool) -> None:
        assert self.sandbox is not None
        ctx, name = self.ctx, container["name"]
        image_ref = container.get("image") or ""
        try:
            image = ctx.images.resolve(image_ref)
        except ImageNotLocal as exc:
            self._wait(name, "ImageNotLocal", str(exc))
            return
        argv = image.argv(container.get("command"), container.get("args"))
        if not argv:
            self._wait(name, "CreateContainerError",
                       f'image "{image_ref}" runs the container\'s command as given, and {self._field_path(name)} '
                       "has no command: set command (and args)")
            return
        services = service_env(ctx.service_host, ctx.service_port)
        try:
            env = await ctx.call(container_env, self.pod, container, facts=self._facts(), lookup=ctx.api.read,
                                 image_env=image.env, services=services)
            mounts = volumes.container_mounts(name, self.mounts, self.paths)
        except (ConfigError, volumes.VolumeError) as exc:
            self._wait(name, "CreateContainerConfigError", str(exc))
            self.retry_in(CONFIG_RETRY_SECONDS)
            return
        if not self._host_network:  # host-network pods see the host's /etc/hosts, as with the kubelet
            mounts.append(volumes.Mount(str(self.sandbox.dir / "_etc" / "hosts"), "/etc/hosts", False))
        spec = ContainerSpec(argv=[expand(a, env) for a in argv], env=env, working_dir=container.get("workingDir"),
                             mounts=[m.as_spec() for m in mounts], resources=container.get("resources") or {},
                             hostname="" if self._host_network else self.name[:63],
                             stdin=bool(container.get("stdin")))
        ctx.event(self.pod, "Normal", "Pulled", f'Container image "{image_ref}" already present on machine', name)
        self.ready[name] = not container.get("readinessProbe")
        self.started[name] = not container.get("startupProbe")
        instance = await ctx.runtime.start(self.sandbox, name, spec)
        self.waiting.pop(name, None)
        self.exits[(name, instance.index)] = asyncio.Event()
        if instance.exit is not None:
            self.exits[(name, instance.index)].set()
            ctx.event(self.pod, "Warning", "Failed", f"Error: {describe_exit(instance.exit)[2]}", name)
            return
        ctx.event(self.pod, "Normal", "Created", f"Created container: {name}", name)
        ctx.event(self.pod, "Normal", "Started", f"Started container {name}", name)
        if not init:
            self._start_probes(container, instance)

    def _wait(self, name: str, reason: str, message: str) -> None:
        if self.waiting.get(name) != (reason, message):
            self.ctx.event(self.pod, "Warning", "Failed", f"Error: {message}", name)
        self.waiting[name] = (reason, message)

    def _announce(self, container: str, index: int, reason: str, type_: str, message: str,
                  once: bool = True) -> None:
        key = (container, index, reason)
        if once and key in self.announced:
            return
        self.announced.add(key)
        self.ctx.event(self.pod, type_, reason, message, container or None)

    # -- probes ---------------------------------------------------------------------------

    def _start_probes(self, container: dict, instance: Instance) -> None:
        tasks = []
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            if container.get(kind):
                tasks.append(asyncio.create_task(self._probe_loop(container, instance, kind, container[kind])))
        self.probes[container["name"]] = tasks

    def _stop_probes(self, name: str | None = None) -> None:
        for key in [name] if name else list(self.probes):
            for task in self.probes.pop(key, []):
                task.cancel()

    async def _probe_loop(self, container: dict, instance: Instance, kind: str, probe: Mapping[str, Any]) -> None:
        name = container["name"]
        period = float(probe.get("periodSeconds") or 10)
        success_needed = int(probe.get("successThreshold") or 1)
        failures_allowed = int(probe.get("failureThreshold") or 3)
        successes = failures = 0
        word = {"startupProbe": "Startup", "readinessProbe": "Readiness", "livenessProbe": "Liveness"}[kind]
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        while instance.running and not self._sigterm_sent:
            if kind != "startupProbe" and not self.started.get(name, True):
                await asyncio.sleep(min(period, 1.0))
                continue
            argv = None
            if probe.get("exec") and instance.pid:
                argv = ["nsenter", "-t", str(instance.pid), "-n", "-m", "-u", "--wd", "--",
                        *(probe["exec"].get("command") or [])]
            result = await run_probe(probe, container, self.sandbox.netns if self.sandbox else None,
                                     self.sandbox.ip if self.sandbox else "", argv, instance.env)
            if not instance.running:
                return
            if result.success:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                self.ctx.event(self.pod, "Warning", "Unhealthy", f"{word} probe failed: {result.message}", name)
            if kind == "readinessProbe":
                ready = self.ready.get(name, False)
                if not ready and successes >= success_needed:
                    self._set_flag(self.ready, name, True)
                elif ready and failures >= failures_allowed:
                    self._set_flag(self.ready, name, False)
            elif kind == "startupProbe" and successes >= 1:
                self._set_flag(self.started, name, True)
                return
            elif failures >= failures_allowed:
                why = "startup" if kind == "startupProbe" else "liveness"
                grace = probe.get("terminationGracePeriodSeconds")
                await self._kill_for_restart(instance, f"Container {name} failed {why} probe, will be restarted",
                                             grace)
                return
            await asyncio.sleep(period)

    def _set_flag(self, flags: dict[str, bool], name: str, value: bool) -> None:
        if flags.get(name) != value:
            flags[name] = value
            self.kick()

    async def _kill_for_restart(self, instance: Instance, message: str, grace: Any) -> None:
        self.ctx.event(self.pod, "Normal", "Killing", message, instance.container)
        seconds = float(grace if grace is not None else
                        (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        self.ctx.runtime.signal(instance, signal.SIGTERM)
        if not await self._wait_exit([instance], seconds):
            self.ctx.runtime.signal(instance, signal.SIGKILL)

    async def _wait_exit(self, instances: list[Instance], timeout: float) -> bool:
        """Wait until all the instances ended; False when the time ran out first."""
        events = [self.exits.setdefault((i.container, i.index), asyncio.Event()) for i in instances if i.running]
        if not events:
            return True
        waiters = [asyncio.create_task(e.wait()) for e in events]
        await asyncio.wait(waiters, timeout=max(0.0, timeout))
        for waiter in waiters:
            waiter.cancel()
        return all(i.exit is not None for i in instances)

    # -- status ---------------------------------------------------------------------------

    def _view(self, container: dict) -> ContainerView:
        name = container["name"]
        runs = (self.sandbox.instances.get(name) if self.sandbox else None) or []
        image_ref = container.get("image") or ""
        try:
            image_id = self.ctx.images.resolve(image_ref).image_id
        except ImageNotLocal:
            image_id = ""
        return ContainerView(name, image_ref, image_id, runs, self.waiting.get(name),
                             ready=self.ready.get(name, True) and self.started.get(name, True),
                             started=self.started.get(name, True))

    def compute_status(self, *, init_failed: bool = False, deleting: bool = False) -> dict:
        spec = self.pod.get("spec") or {}
        init_statuses = [container_status(self._view(c), "PodInitializing")
                         for c in _containers(self.pod, "initContainers")]
        initialising = any(not ((s["state"].get("terminated") or {}).get("exitCode") == 0) for s in init_statuses)
        statuses = [container_status(self._view(c), "PodInitializing" if initialising else "ContainerCreating")
                    for c in _containers(self.pod, "containers")]
        phase = self.terminal_phase or pod_phase(spec.get("restartPolicy") or "Always", init_statuses, statuses,
                                                 init_failed=init_failed, deleting=deleting)
        existing = (self.pod.get("status") or {}).get("conditions") or []
        gates = [g.get("conditionType", "") for g in spec.get("readinessGates") or []]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": pod_conditions(phase, self.sandbox_ready, init_statuses, statuses, gates, existing, now),
            "hostIP": self.ctx.node_ip, "hostIPs": [{"ip": self.ctx.node_ip}], "startTime": self.start_time,
            "containerStatuses": statuses,
        }
        if self.sandbox is not None and self.sandbox.ip:
            status["podIP"], status["podIPs"] = self.sandbox.ip, [{"ip": self.sandbox.ip}]
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        if (self.pod.get("status") or {}).get("qosClass"):
            status["qosClass"] = self.pod["status"]["qosClass"]
        return status

    async def _write_status(self, *, init_failed: bool = False, deleting: bool = False) -> None:
        status = self.compute_status(init_failed=init_failed, deleting=deleting)
        self.status = status
        if not self._boost_over and (status["phase"] != "Pending" and any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status["conditions"])
                or status["phase"] in ("Succeeded", "Failed") or deleting):
            self._end_boost()
        if status["phase"] in ("Succeeded", "Failed") and self.terminal_phase is None and not deleting:
            self.terminal_phase = status["phase"]
            await self._release_sandbox()
        if status == self.written:
            return
        try:
            await self.ctx.call(self.ctx.api.patch_pod_status, self.namespace, self.name, status)
            self.written = status
        except ApiException as exc:
            if exc.status == 404:
                return  # deleted meanwhile; the watch tells us
            log.warning("pod %s/%s: status write failed (%s); retrying", self.namespace, self.name, exc.status)
            self.retry_in(2.0)

    # -- the end --------------------------------------------------------------------------

    async def _release_sandbox(self) -> None:
        """A finished pod keeps its status (and IP in it) but no longer needs its namespace."""
        self._stop_probes()
        if self.sandbox is not None and not self._host_network:
            await self.ctx.call(network.tear_down_pod_network, self.uid, self.ctx.pool)

    async def _terminate(self) -> None:
        """Graceful deletion: SIGTERM, the grace period, SIGKILL, final status, DELETE with grace 0."""
        loop = asyncio.get_running_loop()
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        deadline = loop.time() + float(grace)
        self._kill_deadline = deadline if self._kill_deadline is None else min(self._kill_deadline, deadline)
        self._stop_probes()
        running = self.sandbox.running() if self.sandbox else []
        if not self._sigterm_sent:
            self._sigterm_sent = True
            for instance in running:
                self.ctx.event(self.pod, "Normal", "Killing", f"Stopping container {instance.container}",
                               instance.container)
                self.ctx.runtime.signal(instance, signal.SIGTERM)
        while any(i.running for i in running) and loop.time() < self._kill_deadline:
            self._wake.clear()
            waiter = asyncio.create_task(self._wake.wait())
            await asyncio.wait([waiter], timeout=self._kill_deadline - loop.time())
            waiter.cancel()
            new_grace = (self.pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
            if new_grace is not None:  # a second delete with a shorter grace period wins
                self._kill_deadline = min(self._kill_deadline, loop.time() + float(new_grace))
            if self.gone:
                break
        for instance in running:
            if instance.running:
                self.ctx.runtime.signal(instance, signal.SIGKILL)
        await self._wait_exit(running, KILL_WAIT_SECONDS)
        if not self.gone:
            await self._write_status(deleting=True)
            try:
                await self.ctx.call(self.ctx.api.delete_pod_now, self.namespace, self.name, self.uid)
            except ApiException as exc:
                if exc.status not in (404, 409):
                    log.warning("pod %s/%s: final delete failed (%s); retrying", self.namespace, self.name,
                                exc.status)
                    self.retry_in(2.0)
                    return
        await self._forget()

    async def _stop_gone(self) -> None:
        running = self.sandbox.running() if self.sandbox else []
        self._stop_probes()
        for instance in running:
            self.ctx.runtime.signal(instance, signal.SIGTERM)
        if not await self._wait_exit(running, FORCE_DELETE_GRACE):
            for instance in running:
                self.ctx.runtime.signal(instance, signal.SIGKILL)
            await self._wait_exit(running, KILL_WAIT_SECONDS)
        await self._forget()

    async def _forget(self) -> None:
        self.finished = True
        self._end_boost()
        if self._timer is not None:
            self._timer.cancel()
        await self.ctx.call(network.tear_down_pod_network, self.uid, self.ctx.pool)
        self.ctx.runtime.drop(self.uid)
        await self.ctx.call(self.ctx.runtime.remove_leftovers, self.uid)   # waits for the cgroups to empty
        self.ctx.on_done(self.uid)
