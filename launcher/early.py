"""The health port, bound the moment the launcher's process starts.

Imported first by `python -m launcher`, before libvirt and the rest: from then on the pod's startup
probe connects and waits for its answer (the kernel queues the connection until the health server
accepts it) instead of being refused while the launcher is still loading, which would count as a
failed probe and a Warning event every second.
"""

from __future__ import annotations

import os
import socket


def _listen(value: str | None) -> socket.socket | None:
    if not value:
        return None
    try:
        port = int(value)
    except ValueError:
        return None  # settings report the bad value
    if not 0 <= port <= 65535:
        return None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(64)
    except OSError:
        sock.close()
        return None  # the health server binds again later and reports why it cannot
    return sock


HEALTH_SOCKET = _listen(os.environ.get("KVTUI_HEALTH_PORT"))


def take_health_socket(port: int) -> socket.socket | None:
    """The socket bound at start-up for `port`, once (None if there is none, or for another port)."""
    global HEALTH_SOCKET
    sock = HEALTH_SOCKET
    if sock is None or (port and sock.getsockname()[1] != port):
        return None
    HEALTH_SOCKET = None
    return sock
