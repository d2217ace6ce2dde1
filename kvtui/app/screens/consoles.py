"""Several serial consoles as tabs (`a` on a VM adds one). Keys go to the guest of the active tab;
Ctrl+] detaches it, Ctrl+PageUp/PageDown switch tabs; the last detach returns to the list."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from kvtui.core.console_transport import ConsoleSession

from ..widgets.console import STATE_TEXT, SerialConsole


def pane_id(key: tuple[str, str]) -> str:
    return f"console--{key[0]}--{key[1]}"


class ConsolesScreen(Screen[None]):
    DEFAULT_CSS = """
    ConsolesScreen #consoles-state { height: 1; background: $panel; padding: 0 1; }
    ConsolesScreen TabbedContent, ConsolesScreen TabPane { height: 1fr; }
    ConsolesScreen TabPane { padding: 0; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="consoles-state")
        yield TabbedContent(id="consoles")
        yield Footer()

    def open(self, key: tuple[str, str]) -> None:
        tabs = self.query_one("#consoles", TabbedContent)
        pid = pane_id(key)
        if not tabs.query(f"#{pid}"):
            app = self.app
            client = app.connection.client if app.connection else None
            endpoint_for = app.endpoint_for

            def session() -> ConsoleSession:
                return ConsoleSession(endpoint_for(client, key[0], key[1]))

            console = SerialConsole(key[1], session, id=f"{pid}-term")
            tabs.add_pane(TabPane(key[1], console, id=pid))
        tabs.active = pid
        self.call_after_refresh(self._focus_active)

    def _focus_active(self) -> None:
        tabs = self.query_one("#consoles", TabbedContent)
        if tabs.active:
            self.query_one(f"#{tabs.active}-term", SerialConsole).focus()

    def consoles(self) -> list[SerialConsole]:
        return list(self.query(SerialConsole))

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.call_after_refresh(self._focus_active)

    def on_serial_console_state_changed(self, message: SerialConsole.StateChanged) -> None:
        text = STATE_TEXT.get(message.state, message.state)
        if message.reason and message.state != "connected":
            text += f" ({message.reason})"
        self.query_one("#consoles-state", Static).update(f"console {message.console.vm}: {text}")
        if message.state in ("taken over", "disconnected"):
            self.notify(f"console {message.console.vm}: {text}", severity="warning")

    def on_serial_console_switch_tab(self, message: SerialConsole.SwitchTab) -> None:
        tabs = self.query_one("#consoles", TabbedContent)
        ids = [pane.id for pane in tabs.query(TabPane)]
        if tabs.active in ids and len(ids) > 1:
            tabs.active = ids[(ids.index(tabs.active) + message.step) % len(ids)]

    async def on_serial_console_detached(self, message: SerialConsole.Detached) -> None:
        message.console.disconnect()
        tabs = self.query_one("#consoles", TabbedContent)
        pid = (message.console.id or "").removesuffix("-term")
        await tabs.remove_pane(pid)
        if tabs.tab_count == 0:
            self.app._consoles = None    # a popped screen is not reused; the next `a` builds a fresh one
            self.app.pop_screen()
