"""What the streaming server needs from the node agent's pod runtime (`cluster/nodeagent/runtime.py`
provides it); tests hand in a fake that satisfies the same shape."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class RunningPod(Protocol):
    uid: str
    namespace: str
    name: str
    netns: str | None  # an `ip netns` name (or a path to a netns file); None is the host's namespace

    def container_names(self) -> list[str]: ...

    def log_files(self, container: str, previous: bool) -> list[Path]:
        """The container's CRI-format log files, oldest first; `previous` for its last terminated run."""
        ...

    def is_running(self, container: str) -> bool: ...

    def exec_argv(self, container: str, command: list[str], tty: bool) -> tuple[list[str], dict[str, str]]:
        """The argv that runs `command` inside the container's namespaces, and its environment."""
        ...

    # Optional: `stdin_fifo(container) -> Path | None`, the FIFO feeding the container's stdin; attach
    # writes the client's input there when the runtime has it.


class PodRuntime(Protocol):
    def find(self, namespace: str, pod: str) -> RunningPod | None: ...
