"""The `kvtui` command line: the embedded cluster today; VM verbs and the terminal app build on it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cluster.embedded import ClusterError, EmbeddedCluster, default_data_dir
from launcher.images.commands import add_images_command

from .app.launch import add_ui_arguments, add_ui_command, run_ui
from .vm_commands import add_vm_commands


def _cluster(args: argparse.Namespace) -> EmbeddedCluster:
    return EmbeddedCluster(args.data_dir)


def cmd_cluster_start(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    before = cluster.status()
    if not before.running:
        print(f"starting the embedded cluster in {cluster.data_dir} ...", file=sys.stderr)
    status = cluster.start(port=args.port, nodes=args.nodes, reconciler=True)
    word = "already running" if before.running else "ready"
    print(f"kvtui cluster {word} at {status.url} (pid {status.pid})", file=sys.stderr)
    print(f"  reconciler: {'running' if status.reconciler else 'stopped'}", file=sys.stderr)
    for node in status.nodes:
        print(f"  {node.name}: {'running' if node.running else 'stopped'} (log {node.log})", file=sys.stderr)
    print(f"use it with:  export KUBECONFIG={status.kubeconfig}", file=sys.stderr)
    print(status.kubeconfig)
    return 0


def cmd_cluster_stop(args: argparse.Namespace) -> int:
    if _cluster(args).stop(kill_pods=args.kill_pods):
        print("kvtui cluster stopped", file=sys.stderr)
    else:
        print("kvtui cluster was not running", file=sys.stderr)
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    status = _cluster(args).status()
    if status.running:
        print(f"running: {status.url} (pid {status.pid})")
    else:
        print("stopped")
    print(f"reconciler: {'running' if status.reconciler else 'stopped'}")
    for node in status.nodes:
        state = f"running (pid {node.pid})" if node.running else "stopped"
        print(f"{node.name}:     {state}, log {node.log}")
    print(f"data dir:   {status.data_dir}")
    print(f"kubeconfig: {status.kubeconfig}")
    print(f"log:        {status.log}")
    return 0 if status.running else 3


def cmd_cluster_kubeconfig(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if not cluster.kubeconfig.exists():
        print(f"no kubeconfig yet in {cluster.data_dir}: run 'kvtui cluster start' first", file=sys.stderr)
        return 1
    if args.raw:
        sys.stdout.write(cluster.kubeconfig.read_text())
    else:
        print(cluster.kubeconfig)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Everything a newcomer needs: the cluster with a node, the demo image, the demo VM, the app."""
    from launcher.images.demo import DemoBuildError, build_demo_image

    cluster = _cluster(args)
    print(f"starting the embedded cluster in {cluster.data_dir} ...", file=sys.stderr)
    status = cluster.start(port=args.port, nodes=args.nodes, reconciler=True)
    print(f"kvtui cluster ready at {status.url}; export KUBECONFIG={status.kubeconfig}", file=sys.stderr)
    try:
        build_demo_image(progress=lambda line: print(f"demo image: {line}", file=sys.stderr, flush=True))
    except DemoBuildError as exc:
        print(f"kvtui: {exc}", file=sys.stderr)
        return 1
    _ensure_demo_vm(status.kubeconfig)
    if args.no_ui:
        print("  kubectl get vms,vmis,pods -A")
        return 0
    args.kubeconfig = str(status.kubeconfig)
    args.context = None
    return run_ui(args)


def _ensure_demo_vm(kubeconfig: Path) -> None:
    import yaml

    from cluster.client import APIError, Client, load_api_client
    from cluster.embedded import REPO_ROOT

    client = Client(load_api_client(str(kubeconfig)))
    manifest = yaml.safe_load((REPO_ROOT / "manifests" / "examples" / "vm-demo.yaml").read_text())
    name = manifest["metadata"]["name"]
    try:
        client.create("/apis/kubevirt.io/v1/namespaces/default/virtualmachines", manifest)
        print(f"created the demo VM: virtualmachine.kubevirt.io/{name}", file=sys.stderr)
    except APIError as exc:
        if exc.status != 409:
            raise ClusterError(f"cannot create the demo VM: {exc.message}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvtui", description="Virtual machines on Kubernetes, managed from the terminal.")
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", type=Path, default=None,
                          help=f"the embedded cluster's state directory (default {default_data_dir()})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    up = sub.add_parser("up", parents=[data_dir],
                        help="start the embedded cluster, build the demo image, create the demo VM, open the app")
    up.add_argument("--port", type=int, default=6443, help="API server port (default 6443)")
    up.add_argument("--nodes", type=int, default=1, help="node agents to run (default 1; they need root)")
    up.add_argument("--no-ui", action="store_true", help="set everything up but do not open the terminal app")
    add_ui_arguments(up)
    up.set_defaults(func=cmd_up)

    cluster = sub.add_parser("cluster", help="the embedded single-machine cluster")
    csub = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    start = csub.add_parser("start", parents=[data_dir],
                            help="start the control plane in the background and print the kubeconfig path")
    start.add_argument("--port", type=int, default=6443, help="API server port (default 6443; 0 = any free port)")
    start.add_argument("--nodes", type=int, default=1,
                       help="node agents to run, node-0 ... (default 1; they need root; 0 = control plane only)")
    start.set_defaults(func=cmd_cluster_start)
    stop = csub.add_parser("stop", parents=[data_dir], help="stop the control plane and node agents (state is "
                           "kept; running pods keep running unless --kill-pods)")
    stop.add_argument("--kill-pods", action="store_true", help="also stop every pod's processes and network")
    stop.set_defaults(func=cmd_cluster_stop)
    csub.add_parser("status", parents=[data_dir], help="say whether the control plane runs, and where") \
        .set_defaults(func=cmd_cluster_status)
    kc = csub.add_parser("kubeconfig", parents=[data_dir], help="print the kubeconfig path (or --raw its content)")
    kc.add_argument("--raw", action="store_true", help="print the file's content instead of its path")
    kc.set_defaults(func=cmd_cluster_kubeconfig)
    add_vm_commands(sub)
    add_images_command(sub)
    add_ui_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    trailing: list[str] = []
    if "--" in argv:   # `kvtui ssh VM -- COMMAND ...`: what follows -- is the remote command, verbatim
        cut = argv.index("--")
        argv, trailing = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if trailing:
        if not hasattr(args, "remote_command"):
            parser.error("'--' is only for 'kvtui ssh VM -- COMMAND'")
        args.remote_command = [*args.remote_command, *trailing]
    if not getattr(args, "func", None):
        if args.command is None:   # plain `kvtui` starts the terminal app
            return run_ui(args)
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ClusterError as exc:
        print(f"kvtui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
