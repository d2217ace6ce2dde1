"""What the header shows about the connection: kubeconfig context, cluster, user and server version."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import config as k8s_config

from cluster.client import APIError, Client


@dataclass
class ClusterInfo:
    context: str = ""
    cluster: str = ""
    user: str = ""
    server_version: str = ""
    kubeconfig: str = ""


def contexts(kubeconfig: str) -> tuple[list[str], str]:
    """All context names in the kubeconfig and the current one."""
    try:
        all_contexts, active = k8s_config.list_kube_config_contexts(kubeconfig)
    except (k8s_config.ConfigException, OSError):
        return [], ""
    return [c["name"] for c in all_contexts], (active or {}).get("name", "")


def read_info(kubeconfig: str, context: str | None = None) -> ClusterInfo:
    try:
        all_contexts, active = k8s_config.list_kube_config_contexts(kubeconfig)
    except (k8s_config.ConfigException, OSError):
        return ClusterInfo(kubeconfig=kubeconfig)
    if context:
        active = next((c for c in all_contexts if c["name"] == context), active)
    ctx = (active or {}).get("context") or {}
    return ClusterInfo((active or {}).get("name", ""), ctx.get("cluster", ""), ctx.get("user", ""), "", kubeconfig)


def server_version(client: Client) -> str:
    try:
        return client.get("/version").get("gitVersion", "")
    except (APIError, OSError):
        return ""
