"""The header: context, cluster, user, server version, nodes ready and VMs running/total."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kvtui.core.cluster_info import ClusterInfo


class ClusterHeader(Static):
    DEFAULT_CSS = "ClusterHeader { height: 2; padding: 0 1; background: $panel; }"

    def show(self, info: ClusterInfo, nodes: tuple[int, int], vms: tuple[int, int], namespace: str | None,
             read_only: bool) -> None:
        mode = "  [bold yellow]READ-ONLY[/]" if read_only else ""
        self.update(Text.from_markup(
            f"[b]Context:[/] {info.context or '-'}   [b]Cluster:[/] {info.cluster or '-'}   "
            f"[b]User:[/] {info.user or '-'}{mode}\n"
            f"[b]Server:[/] {info.server_version or '-'}   [b]Nodes ready:[/] {nodes[0]}/{nodes[1]}   "
            f"[b]VMs running:[/] {vms[0]}/{vms[1]}   [b]Namespace:[/] {namespace or 'all'}"))
