"""`python -m launcher`: run one VirtualMachineInstance (what it does: DESCRIPTION)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import launcher.early  # noqa: F401 - before the slow imports below: binds the health port
from launcher import hypervisor
from launcher.acceleration import choose_acceleration
from launcher.domain.context import random_uuid
from launcher.kubeapi import ApiError, ApiUnreachable, ConfigError, KubeAPI
from launcher.lifecycle import Launcher
from launcher.reporting import ClusterReporter, Reporter, StandaloneReporter, VmiGone
from launcher.settings import LauncherSettings, SettingsError

# Not the module's docstring: pods run the launcher as `python -OO`, which drops docstrings.
DESCRIPTION = """Run one VirtualMachineInstance.

In a pod: the VMI named by VMI_NAME in POD_NAMESPACE, through in-cluster config (or
--kubeconfig). Standalone, for debugging: `--vmi FILE`, no API server; status and events are
printed as JSON lines and kept in the state directory.
"""


class UsageError(Exception):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m launcher", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--vmi", type=Path, help="run this VirtualMachineInstance (YAML or JSON), no API server"
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="reach the API server with this kubeconfig (default: in-cluster config)",
    )
    parser.add_argument(
        "--name",
        "--vmi-name",
        dest="name",
        default=os.environ.get("VMI_NAME"),
        help="the VMI's name (default $VMI_NAME)",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE"),
        help="the VMI's namespace (default $POD_NAMESPACE)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where the VM's files go (default $KVTUI_STATE_DIR, else "
        "'state' beside $KVTUI_CONSOLE_LOG, else a new temporary "
        "directory)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        help="control endpoint port (default $KVTUI_CONTROL_PORT or 8777; 0 picks a free one)",
    )
    parser.add_argument(
        "--warm-node",
        action="store_true",
        help="fill the node's caches (KVM verdict, QEMU capabilities) and exit",
    )
    return parser.parse_args(argv)


def warm_node(settings: LauncherSettings) -> int:
    """Probe KVM and QEMU once for the node, so the first VM does not wait for either."""
    acceleration = choose_acceleration(settings.node_dir, use_emulation=settings.use_emulation)
    print(f"acceleration: {acceleration.accelerator} ({acceleration.message})")
    root = settings.state_dir / "libvirt"
    conn = hypervisor.open_embedded(root, settings.node_dir)
    try:
        capabilities = hypervisor.host_capabilities(conn, root, settings.node_dir)
    finally:
        conn.close()
    print(
        f"qemu: {len(capabilities.machine_types)} machine types, {len(capabilities.cpu_models)} CPU models, "
        f"passt {'usable' if capabilities.passt else 'not usable (slirp with monitor port forwards)'}"
    )
    print(f"node caches in {settings.node_dir}")
    return 0


def load_vmi_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the VMI from {path}: {exc}") from None
    if path.suffix == ".json":  # without YAML's parser, as a launcher in a pod runs
        try:
            vmi = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"cannot read the VMI from {path}: {exc}") from None
    else:
        import yaml  # only the standalone path reads YAML; a launcher in a pod never loads it

        try:
            vmi = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"cannot read the VMI from {path}: {exc}") from None
    if not isinstance(vmi, dict) or vmi.get("kind") not in (None, "VirtualMachineInstance"):
        raise UsageError(f"{path} must hold one VirtualMachineInstance")
    metadata = vmi.setdefault("metadata", {})
    metadata.setdefault("namespace", "default")
    metadata.setdefault("uid", random_uuid())
    return vmi


def make_reporter(args: argparse.Namespace, settings: LauncherSettings) -> Reporter:
    if args.vmi is not None:
        return StandaloneReporter(load_vmi_file(args.vmi), settings.state_dir)
    if not args.name or not args.namespace:
        raise UsageError("no VMI: pass --vmi FILE, or set VMI_NAME and POD_NAMESPACE (or --name/--namespace)")
    kubeconfig = args.kubeconfig or (
        None if os.environ.get("KUBERNETES_SERVICE_HOST") else os.environ.get("KUBECONFIG")
    )
    try:
        api = KubeAPI.from_kubeconfig(kubeconfig) if kubeconfig else KubeAPI.from_incluster()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return ClusterReporter(api, args.namespace, args.name, settings.node_name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = LauncherSettings.from_environment(state_dir=args.state_dir, control_port=args.control_port)
        if args.warm_node:
            return warm_node(settings)
        reporter = make_reporter(args, settings)
        print(f"launcher: state directory {settings.state_dir}", file=sys.stderr)
        return asyncio.run(Launcher(settings, reporter).run())
    except (
        UsageError,
        SettingsError,
        ConfigError,
        VmiGone,
        ApiUnreachable,
        hypervisor.HypervisorError,
    ) as exc:
        print(f"launcher: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:  # e.g. 401 or 403 reading the VMI: the Status message says what to fix
        print(f"launcher: the API server refused: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
