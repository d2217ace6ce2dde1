"""`python -m cluster.nodeagent`: parse the flags, check the host, run the agent until SIGTERM.

Stopping the agent leaves its pods running (as stopping a kubelet does); the next agent with the same
--root adopts them. `--cleanup` instead stops every pod the root knows and removes their namespaces and cgroups.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

from . import cgroups, network
from .images import ImageMap, ImageMapError
from .runtime import PodRuntime, process_alive


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cluster.nodeagent",
                                description="The kvtui node agent: runs the pods bound to one node as host processes.")
    p.add_argument("--node-name", required=True, help="the Node to register and serve")
    p.add_argument("--kubeconfig", type=Path, help="credentials for the API server (required unless --cleanup)")
    p.add_argument("--root", type=Path, required=True, help="state directory: pods, logs, volumes, addresses")
    p.add_argument("--port", type=int, default=10250,
                   help="port of the streaming server (logs, exec, port-forward); 0 picks a free one")
    p.add_argument("--pod-cidr", default="10.244.0.0/24",
                   help="this node's pod addresses, 10.244.N.0/24 for node index N (default 10.244.0.0/24)")
    p.add_argument("--node-ip", default=network.BRIDGE_ADDRESS,
                   help=f"the node's InternalIP, where the streaming server listens (default {network.BRIDGE_ADDRESS})")
    p.add_argument("--service-host", default=network.BRIDGE_ADDRESS,
                   help="KUBERNETES_SERVICE_HOST for pods: an address of the API server reachable from pods "
                        f"(default {network.BRIDGE_ADDRESS}, the pod network's gateway)")
    p.add_argument("--image-map", type=Path, help="YAML file saying what container images mean on this machine")
    p.add_argument("--tls-cert-file", type=Path, help="serving certificate of the streaming server")
    p.add_argument("--tls-private-key-file", type=Path, help="its private key")
    p.add_argument("--streaming-token-file", type=Path,
                   help="file with the bearer token callers of the streaming server (the API server) present")
    p.add_argument("--crash-loop-backoff-initial", type=float, default=10.0,
                   help="seconds before the second restart of a crashing container, doubled for each further one")
    p.add_argument("--crash-loop-backoff-max", type=float, default=300.0, help="the longest back-off in seconds")
    p.add_argument("--startup-boost-slots", type=_positive_int, default=None, metavar="N",
                   help="how many starting pods hold their startup CPU boost (annotation kvtui.io/startup-cpu-boost) "
                        "at once, the others waiting their turn (default: 3 per CPU)")
    p.add_argument("--no-fork-server", dest="fork_server", action="store_false",
                   help="start every container's monitor as a new process, and Python containers (the launcher) "
                        "as new interpreters, instead of forking them from a fork server that has their imports done")
    p.add_argument("--cleanup", action="store_true",
                   help="stop every pod recorded under --root (every process in its cgroups), remove their network "
                        "namespaces and cgroups, and exit")
    return p.parse_args(argv)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def host_problems() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("the node agent must run as root: it creates a bridge (kvtui0), a network namespace per "
                        "pod and a mount namespace per container; run it with sudo")
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            problems.append(f"'{tool}' is not installed; run scripts/setup.sh (it installs iproute2 and util-linux)")
    return problems


def cleanup(root: Path, pod_cidr: str) -> int:
    """Kill every container recorded under the root and undo each pod's network and cgroups;
    returns the pod count."""
    runtime = PodRuntime(root)
    pool = network.AddressPool(pod_cidr, agent_root=root)
    sandboxes = runtime.adopt()
    for sandbox in sandboxes:   # all of them first: their processes leave while the others are killed
        for instance in sandbox.running():
            if instance.pid and process_alive(instance.pid, instance.start_ticks):
                try:
                    os.killpg(instance.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        cgroups.kill_pod(sandbox.uid)
    for sandbox in sandboxes:
        network.tear_down_pod_network(sandbox.uid, pool)
        shutil.rmtree(sandbox.dir, ignore_errors=True)
        if not cgroups.remove_pod(sandbox.uid):
            print(f"nodeagent: the cgroups of pod {sandbox.namespace}/{sandbox.name} are still busy after "
                  f"{cgroups.REMOVE_WAIT_SECONDS:.0f} s; once their processes are gone, remove them with "
                  f"rmdir: /sys/fs/cgroup/*/{cgroups.PARENT}/{sandbox.uid}", file=sys.stderr)
    return len(sandboxes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {args.node_name} %(name)s: %(message)s")
    problems = host_problems()
    if problems:
        for problem in problems:
            print(f"nodeagent: {problem}", file=sys.stderr)
        return 1
    try:
        if args.cleanup:
            count = cleanup(args.root, args.pod_cidr)
            print(f"nodeagent: stopped {count} pod(s) recorded under {args.root}", file=sys.stderr)
            return 0
        if args.kubeconfig is None:
            print("nodeagent: --kubeconfig is required to run the agent", file=sys.stderr)
            return 2
        ImageMap(args.image_map)  # a broken map is reported now, not at the first pod
    except (ImageMapError, network.NetworkError) as exc:
        print(f"nodeagent: {exc}", file=sys.stderr)
        return 1
    from .agent import Agent, AgentOptions, install_signal_handlers

    options = AgentOptions(
        node_name=args.node_name, kubeconfig=args.kubeconfig, root=args.root.resolve(), port=args.port,
        pod_cidr=args.pod_cidr, node_ip=args.node_ip, service_host=args.service_host, image_map=args.image_map,
        tls_cert_file=args.tls_cert_file, tls_key_file=args.tls_private_key_file,
        streaming_token_file=args.streaming_token_file, backoff_initial=args.crash_loop_backoff_initial,
        backoff_max=args.crash_loop_backoff_max, startup_slots=args.startup_boost_slots,
        fork_server=args.fork_server)

    async def run() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await Agent(options).run(stop)

    try:
        asyncio.run(run())
    except network.NetworkError as exc:
        print(f"nodeagent: {exc}", file=sys.stderr)
        return 1
    return 0
