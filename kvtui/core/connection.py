"""Which cluster kvtui talks to: --kubeconfig, $KUBECONFIG, ~/.kube/config, else the embedded one."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import config as k8s_config

from cluster.client import Client
from cluster.embedded import EmbeddedCluster


class NoCluster(Exception):
    """No kubeconfig works; the message says how to get one."""


def kubeconfig_path(explicit: str | None = None, data_dir: Path | None = None) -> str:
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    home = Path.home() / ".kube" / "config"
    if home.exists():
        return str(home)
    embedded = EmbeddedCluster(data_dir)
    if embedded.status().running:
        return str(embedded.kubeconfig)
    raise NoCluster("no cluster configured: no --kubeconfig, $KUBECONFIG or ~/.kube/config, and the embedded "
                    "cluster is not running; start it with 'kvtui cluster start'")


def connect(kubeconfig: str | None = None, context: str | None = None, data_dir: Path | None = None) -> Client:
    path = kubeconfig_path(kubeconfig, data_dir)
    try:
        return Client(k8s_config.new_client_from_config(path, context=context))
    except (k8s_config.ConfigException, OSError) as exc:
        raise NoCluster(f"cannot use kubeconfig {path}: {exc}") from exc


def current_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    try:
        path = kubeconfig_path(kubeconfig)
        _, active = k8s_config.list_kube_config_contexts(path)
        if context:
            contexts, _ = k8s_config.list_kube_config_contexts(path)
            active = next((c for c in contexts if c["name"] == context), active)
        return (active.get("context") or {}).get("namespace") or "default"
    except (NoCluster, k8s_config.ConfigException, OSError):
        return "default"
