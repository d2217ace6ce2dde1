"""Full-screen console passthrough: the app steps aside (App.suspend) and the terminal talks to the
guest byte for byte, as `virtctl console` does, until Ctrl+] (0x1d)."""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from typing import TYPE_CHECKING

from kvtui.core.console_transport import ConsoleSession

if TYPE_CHECKING:
    from .main import KvtuiApp

DETACH = 0x1D


def pump(session: ConsoleSession, stdin_fd: int, stdout_fd: int) -> str:
    """Copy stdin → guest and guest → stdout until Ctrl+] or the console closes; returns why it ended."""
    ended = threading.Event()
    reason = ["detached"]

    def guest_to_terminal() -> None:
        while not ended.is_set():
            event = session.receive()
            if event.kind == "data":
                os.write(stdout_fd, event.data)
            elif event.kind == "closed" or event.taken_over:
                reason[0] = event.text or "the console closed"
                ended.set()

    threading.Thread(target=guest_to_terminal, daemon=True).start()
    while not ended.is_set():
        ready, _, _ = select.select([stdin_fd], [], [], 0.2)
        if not ready:
            continue
        data = os.read(stdin_fd, 4096)
        if not data:
            break
        if DETACH in data:
            head = data[:data.index(DETACH)]
            if head:
                session.send(head)
            break
        session.send(data)
    ended.set()
    session.close()
    return reason[0]


def resync_size(app) -> None:
    """After App.suspend() Textual can come back with a stale size (seen in tmux): ask the tty itself."""
    from textual import events
    from textual.geometry import Size
    try:
        columns, lines = os.get_terminal_size(sys.__stdout__.fileno())
    except (OSError, ValueError, AttributeError):
        return
    size = Size(columns, lines)
    app.post_message(events.Resize(size, size))


def run_passthrough(app: KvtuiApp, key: tuple[str, str]) -> None:
    namespace, name = key

    def connect() -> None:
        client = app.connection.client if app.connection else None
        try:
            session = ConsoleSession(app.endpoint_for(client, namespace, name))
            session.connect()
        except Exception as exc:
            app.call_from_thread(app.notify, f"cannot open the console of {name}: {exc}", severity="error")
            return
        app.call_from_thread(_suspended, app, session, name)

    app.run_worker(connect, thread=True, exclusive=True, group="passthrough", exit_on_error=False)


def _suspended(app: KvtuiApp, session: ConsoleSession, name: str) -> None:
    try:
        with app.suspend():
            fd = sys.stdin.fileno()
            saved = termios.tcgetattr(fd)
            os.write(sys.stdout.fileno(), f"\r\n[console {name}: Ctrl+] returns to kvtui]\r\n".encode())
            try:
                tty.setraw(fd)
                why = pump(session, fd, sys.stdout.fileno())
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    except Exception as exc:   # SuspendNotSupported (headless, web) or a terminal error
        session.close()
        app.notify(f"full-screen console not possible here: {exc}; use the Console tab (a)", severity="warning")
        return
    resync_size(app)
    app.notify(f"console {name}: {why}", title="Console")
