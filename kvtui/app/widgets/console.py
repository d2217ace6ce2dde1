"""The serial console inside the app: a pyte screen fed by the launcher's console WebSocket. Every key
goes to the guest (Ctrl+C, Ctrl+Q and Ctrl+P too); only Ctrl+] detaches."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyte
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from kvtui.core.console_transport import ConsoleSession

DETACH = "\x1d"   # Ctrl+]
FEED_SLICE = 8 * 1024   # bytes parsed per turn of the event loop
KEY_BYTES = {
    "enter": b"\r", "tab": b"\t", "backspace": b"\x7f", "escape": b"\x1b", "delete": b"\x1b[3~",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "home": b"\x1b[H", "end": b"\x1b[F", "pageup": b"\x1b[5~", "pagedown": b"\x1b[6~", "insert": b"\x1b[2~",
    "shift+tab": b"\x1b[Z",
    "f1": b"\x1bOP", "f2": b"\x1bOQ", "f3": b"\x1bOR", "f4": b"\x1bOS", "f5": b"\x1b[15~", "f6": b"\x1b[17~",
    "f7": b"\x1b[18~", "f8": b"\x1b[19~", "f9": b"\x1b[20~", "f10": b"\x1b[21~", "f11": b"\x1b[23~",
    "f12": b"\x1b[24~",
}
STATE_TEXT = {
    "connecting": "connecting…",
    "connected": "connected — Ctrl+] detaches, Ctrl+PgUp/PgDn switch consoles",
    "taken over": "taken over by another client — press r to take it back",
    "disconnected": "disconnected — press r to reconnect",
}
PYTE_COLOURS = {"default": None, "black": "black", "red": "red", "green": "green", "brown": "yellow",
                "blue": "blue", "magenta": "magenta", "cyan": "cyan", "white": "white"}


def key_bytes(key: str, character: str | None) -> bytes | None:
    """What a terminal would send the guest for this Textual key."""
    if key in KEY_BYTES:
        return KEY_BYTES[key]
    if key.startswith("ctrl+") and len(key) == 6 and key[5].isalpha():
        return bytes([ord(key[5]) & 0x1F])
    if key.startswith("alt+") and character:
        return b"\x1b" + character.encode()
    if character:
        return character.encode()
    return None


class SerialConsole(Widget, can_focus=True):
    """One VM's serial console. Its connection runs in a worker thread and talks back by messages."""

    DEFAULT_CSS = "SerialConsole { height: 1fr; width: 1fr; }"

    state: reactive[str] = reactive("connecting")

    class Output(Message):
        def __init__(self, console: SerialConsole, data: bytes) -> None:
            super().__init__()
            self.console, self.data = console, data

    class StateChanged(Message):
        def __init__(self, console: SerialConsole, state: str, reason: str = "") -> None:
            super().__init__()
            self.console, self.state, self.reason = console, state, reason

    class SwitchTab(Message):
        """Ctrl+PageUp/PageDown: the next or previous console tab (`step` is -1 or 1)."""

        def __init__(self, console: SerialConsole, step: int) -> None:
            super().__init__()
            self.console, self.step = console, step

    class Detached(Message):
        def __init__(self, console: SerialConsole) -> None:
            super().__init__()
            self.console = console

    def __init__(self, vm: str, session_factory: Callable[[], ConsoleSession], columns: int = 80, rows: int = 24,
                 *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.vm = vm
        self.session_factory = session_factory
        self.session: ConsoleSession | None = None
        self.pyte_screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.pyte_screen)
        self.pyte_screen.write_process_input = self._answer_terminal_query
        self.received = 0
        self.detached = False
        self._inbox = bytearray()
        self._inbox_lock = threading.Lock()
        self._posted = False
        self._styles: dict[tuple, Style] = {}
        self._refresh_pending = False

    # -- connection --------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.connect()

    def connect(self) -> None:
        self.state = "connecting"
        self.run_worker(self._pump, thread=True, exclusive=True, group=f"console:{self.vm}:{id(self)}")

    def _pump(self) -> None:
        try:
            session = self.session_factory()
            session.connect()
        except Exception as exc:   # TransportError, LauncherError (no running pod), API errors
            self.post_message(self.StateChanged(self, "disconnected", str(exc)))
            return
        self.session = session
        self.post_message(self.StateChanged(self, "connected"))
        while True:
            event = session.receive()
            if event.kind == "data":
                if event.data:
                    self.deliver(event.data)
            elif event.kind == "notice":
                if event.taken_over:
                    self.post_message(self.StateChanged(self, "taken over", event.text))
            else:
                state = "taken over" if event.taken_over else "disconnected"
                self.post_message(self.StateChanged(self, state, event.text))
                session.close()
                return

    def disconnect(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def on_unmount(self) -> None:
        self.disconnect()

    def deliver(self, data: bytes) -> None:
        """Called from the reader thread: queue the bytes; at most one message is in flight, so a flood
        of output never buries the keys and timers waiting on the event loop."""
        with self._inbox_lock:
            self._inbox.extend(data)
            if self._posted:
                return
            self._posted = True
        self.post_message(self.Output(self, b""))

    def on_serial_console_output(self, message: Output) -> None:
        if message.console is not self:
            return
        message.stop()
        if message.data:
            self.feed(message.data)
        self._drain()

    def _drain(self) -> None:
        with self._inbox_lock:
            take = bytes(self._inbox[:FEED_SLICE])
            del self._inbox[:FEED_SLICE]
            more = bool(self._inbox)
            if not more:
                self._posted = False
        if take:
            self.feed(take)
        if more:   # a timer (not call_later) truly yields to the loop, so keys and other widgets go first
            self.set_timer(0.001, self._drain)

    def on_serial_console_state_changed(self, message: StateChanged) -> None:
        if message.console is not self or self.detached:
            message.stop()
            return
        if self.state == "taken over" and message.state == "disconnected":
            return    # the close that follows a take-over says nothing new
        self.state = message.state
        if message.state != "connected":
            self.session = None

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        self.stream.feed(data)
        if not self._refresh_pending:   # coalesce: a boot flood repaints at most ~30 times a second
            self._refresh_pending = True
            self.set_timer(1 / 30, self._repaint)

    def _repaint(self) -> None:
        self._refresh_pending = False
        self.pyte_screen.dirty.clear()
        self.refresh()

    def on_resize(self) -> None:
        # The guest cannot learn our size over a serial line, but our screen should fill the widget.
        if self.size.width > 0 and self.size.height > 0:
            self.pyte_screen.resize(self.size.height, self.size.width)

    def _answer_terminal_query(self, data: str) -> None:
        if self.session is not None:
            self.session.send(data.encode())

    # -- input -------------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if event.key in ("ctrl+right_square_bracket", "ctrl+5") or event.character == DETACH:
            self.detached = True
            self.post_message(self.Detached(self))
            return
        if event.key in ("ctrl+pageup", "ctrl+pagedown"):
            self.post_message(self.SwitchTab(self, -1 if event.key == "ctrl+pageup" else 1))
            return
        if self.session is None:
            if event.key in ("r", "enter") and self.state != "connecting":
                self.connect()
            return
        data = key_bytes(event.key, event.character)
        if data:
            self.session.send(data)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.session is not None:
            self.session.send(event.text.replace("\n", "\r").encode())

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.pyte_screen.display)

    # -- rendering ---------------------------------------------------------------------------------

    def _style(self, char: pyte.screens.Char) -> Style:
        key = (char.fg, char.bg, char.bold, char.italics, char.underscore, char.reverse)
        style = self._styles.get(key)
        if style is None:
            fg = PYTE_COLOURS.get(char.fg, f"#{char.fg}" if len(char.fg) == 6 else None)
            bg = PYTE_COLOURS.get(char.bg, f"#{char.bg}" if len(char.bg) == 6 else None)
            style = Style(color=fg, bgcolor=bg, bold=char.bold, italic=char.italics, underline=char.underscore,
                          reverse=char.reverse)
            self._styles[key] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        screen = self.pyte_screen
        if y >= screen.lines:
            return Strip.blank(width, self.rich_style)
        row = screen.buffer[y]
        cursor_x = screen.cursor.x if (self.has_focus and y == screen.cursor.y and not screen.cursor.hidden) else -1
        segments: list[Segment] = []
        run, run_style = [], None
        for x in range(min(screen.columns, width)):
            char = row[x]
            style = self._style(char)
            if x == cursor_x:
                style = style + Style(reverse=not char.reverse)
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(char.data or " ")
        if run:
            segments.append(Segment("".join(run), run_style))
        return Strip(segments).adjust_cell_length(width, self.rich_style)
