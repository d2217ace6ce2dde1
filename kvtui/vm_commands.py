"""The virtctl-style verbs of the `kvtui` command: start, stop, restart, create vm."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from cluster.client import APIError

from .core.connection import NoCluster, connect, current_namespace
from .core.vm_actions import ActionError, restart, start, stop
from .core.vm_templates import VMOptions, vm_manifest
from .guest_commands import add_guest_commands


def _target(args: argparse.Namespace) -> tuple:
    client = connect(args.kubeconfig, args.context)
    namespace = args.namespace or current_namespace(args.kubeconfig, args.context)
    return client, namespace


def _run(fn, args: argparse.Namespace, **kwargs) -> int:
    try:
        client, namespace = _target(args)
        print(fn(client, namespace, args.name, **kwargs))
        return 0
    except (ActionError, NoCluster) as exc:
        print(f"kvtui: {exc}", file=sys.stderr)
        return 1
    except APIError as exc:
        print(f"kvtui: {exc.message}", file=sys.stderr)
        return 1


def cmd_start(args: argparse.Namespace) -> int:
    return _run(start, args)


def cmd_stop(args: argparse.Namespace) -> int:
    return _run(stop, args, grace_period=args.grace_period, force=args.force)


def cmd_restart(args: argparse.Namespace) -> int:
    return _run(restart, args, grace_period=args.grace_period, force=args.force)


def cmd_create_vm(args: argparse.Namespace) -> int:
    ssh_keys = []
    for key in args.ssh_key or []:
        path = Path(key).expanduser()
        ssh_keys.append(path.read_text().strip() if path.exists() else key)
    user_data = Path(args.user_data).read_text() if args.user_data else None
    try:
        manifest = vm_manifest(VMOptions(name=args.name, image=args.image, cpu=args.cpu, memory=args.memory,
                                         run_strategy=args.run_strategy, ssh_keys=ssh_keys, user_data=user_data,
                                         namespace=args.namespace))
    except ValueError as exc:
        print(f"kvtui: {exc}", file=sys.stderr)
        return 2
    if not args.apply:
        sys.stdout.write(yaml.safe_dump(manifest, sort_keys=False))
        return 0
    try:
        client, namespace = _target(args)
        manifest["metadata"]["namespace"] = namespace
        client.create(f"/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachines", manifest)
    except NoCluster as exc:
        print(f"kvtui: {exc}", file=sys.stderr)
        return 1
    except APIError as exc:
        print(f"kvtui: {exc.message}", file=sys.stderr)
        return 1
    print(f"virtualmachine.kubevirt.io/{args.name} created")
    return 0


def add_vm_commands(sub: argparse._SubParsersAction) -> None:
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    conn.add_argument("--kubeconfig", help="kubeconfig file (default $KUBECONFIG, ~/.kube/config, or the embedded "
                      "cluster's)")
    conn.add_argument("--context", help="kubeconfig context")

    p = sub.add_parser("start", parents=[conn], help="start a VirtualMachine")
    p.add_argument("name", metavar="VM")
    p.set_defaults(func=cmd_start)
    for verb, fn, helptext in (("stop", cmd_stop, "stop a VirtualMachine"),
                               ("restart", cmd_restart, "restart a VirtualMachine")):
        p = sub.add_parser(verb, parents=[conn], help=helptext)
        p.add_argument("name", metavar="VM")
        p.add_argument("--force", action="store_true", help="do not wait for the guest to shut down")
        p.add_argument("--grace-period", type=int, metavar="N", help="seconds the guest gets to shut down")
        p.set_defaults(func=fn)

    add_guest_commands(sub, conn)

    create = sub.add_parser("create", help="create resources")
    csub = create.add_subparsers(dest="create_kind", metavar="KIND", required=True)
    vm = csub.add_parser("vm", parents=[conn], help="print (or --apply) a VirtualMachine manifest")
    vm.add_argument("--name", required=True, help="the VM's name")
    vm.add_argument("--image", default="demo",
                    help="'demo' (the built-in demo guest), 'containerdisk:IMAGE' or 'hostdisk:PATH' (default demo)")
    vm.add_argument("--cpu", type=int, default=1, help="virtual CPUs (default 1)")
    vm.add_argument("--memory", default="128Mi", help="guest memory (default 128Mi)")
    vm.add_argument("--run-strategy", default="Always", help="Always, RerunOnFailure, Manual, Halted or Once")
    vm.add_argument("--ssh-key", action="append", help="an authorized SSH public key, or a file holding one")
    vm.add_argument("--user-data", help="a cloud-init user-data file")
    vm.add_argument("--apply", action="store_true", help="create it in the cluster instead of printing it")
    vm.set_defaults(func=cmd_create_vm)
