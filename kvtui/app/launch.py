"""`kvtui` / `kvtui ui`: connect to the current kubeconfig context (or offer the embedded cluster) and
run the app. Textual is imported only here, after argument parsing, to keep `kvtui --help` fast."""

from __future__ import annotations

import argparse
import sys


def add_ui_command(sub: argparse._SubParsersAction) -> None:
    ui = sub.add_parser("ui", help="the terminal app (also what plain `kvtui` starts)")
    add_ui_arguments(ui)
    ui.set_defaults(func=run_ui)


def add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")
    parser.add_argument("-n", "--namespace", default=None, help="show only this namespace (default: all)")
    parser.add_argument("--read-only", action="store_true", default=None,
                        help="hide and refuse actions that change anything")


def run_ui(args: argparse.Namespace) -> int:
    from kvtui.core.cluster_info import read_info
    from kvtui.core.connection import NoCluster, connect, kubeconfig_path
    from kvtui.core.keymap import ConfigError, load_settings

    try:
        settings = load_settings(read_only=getattr(args, "read_only", None))
    except ConfigError as exc:
        print(f"kvtui: {exc}", file=sys.stderr)
        return 2
    connection = None
    try:
        path = kubeconfig_path(getattr(args, "kubeconfig", None))
        client = connect(path, getattr(args, "context", None))
        from .main import Connection
        connection = Connection(client, read_info(path, getattr(args, "context", None)))
    except NoCluster:
        connection = None
    from .main import KvtuiApp
    app = KvtuiApp(connection, settings, namespace=getattr(args, "namespace", None))
    app.run()
    if app.return_code:
        return app.return_code
    return 0
