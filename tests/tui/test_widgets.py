"""The app's own widgets in a bare Textual app: the virtualised log view at 100,000 lines and the
console's key encoding and pyte rendering."""

from __future__ import annotations

import pytest
from textual.app import App

from kvtui.app.widgets.console import SerialConsole, key_bytes
from kvtui.app.widgets.log_view import LogView


class LogApp(App):
    def compose(self):
        yield LogView(id="log")


@pytest.mark.asyncio
async def test_log_view_follows_100k_lines_filters_and_wraps():
    app = LogApp()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(LogView)
        view.append([f"line {i} " + "x" * (i % 50) for i in range(100_000)])
        await pilot.pause()
        assert view.virtual_size.height == 100_000
        assert view.visible_text()[-1].startswith("line 99999")      # following the tail
        view.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        assert not view.follow and view.visible_text()[0] == "line 0"
        view.append(["line 100000 new"])
        await pilot.pause()
        assert view.visible_text()[0] == "line 0"                  # scrolled up: the view stays put
        view.follow = True
        view.set_filter("/^line 4242 /")
        await pilot.pause()
        assert [t for t in view.visible_text() if t] == ["line 4242 " + "x" * 30]     # cut at 40 columns
        view.toggle_wrap()
        await pilot.pause()
        assert [t for t in view.visible_text() if t] == ["line 4242 " + "x" * 30, "x" * 12]


def test_keys_become_the_bytes_a_terminal_sends():
    assert key_bytes("ctrl+c", "\x03") == b"\x03"
    assert key_bytes("ctrl+q", None) == b"\x11"
    assert key_bytes("up", None) == b"\x1b[A"
    assert key_bytes("alt+x", "x") == b"\x1bx"
    assert key_bytes("enter", "\r") == b"\r"
    assert key_bytes("f5", None) == b"\x1b[15~"
    assert key_bytes("é", "é") == "é".encode()


class ConsoleApp(App):
    def compose(self):
        yield SerialConsole("vm", lambda: None, id="c")


@pytest.mark.asyncio
async def test_console_renders_ansi_colours_and_reports_a_failed_connect():
    app = ConsoleApp()
    async with app.run_test(size=(40, 6)) as pilot:
        console = app.query_one(SerialConsole)
        await pilot.pause(0.2)
        assert console.state == "disconnected"        # the factory gave no session
        console.feed(b"\x1b[31mred\x1b[0m plain\r\nsecond")
        await pilot.pause(0.1)
        first = console.render_line(0)
        assert first.text.startswith("red plain")
        assert first._segments[0].style.color.name == "red"
        assert console.text().splitlines()[:2] == ["red plain", "second"]


@pytest.mark.asyncio
async def test_changed_cells_flash_then_settle():
    # A fixed model fed by hand (no server): what matters is the table's reaction to a watch event.
    from kvtui.app.main import Connection, KvtuiApp

    from .snapshot_data import FROZEN, INFO, StillClient, demo_model

    model = demo_model()
    app = KvtuiApp(Connection(StillClient(), INFO), clock=lambda: FROZEN, watch=False, model=model)
    async with app.run_test(size=(120, 20)) as pilot:
        app._flush()
        await pilot.pause()
        table = app.query_one("#table")
        vm = model.entry(("default", "db")).vm
        model.apply("vm", "MODIFIED", {**vm, "status": {**vm["status"], "printableStatus": "Starting"}})
        await pilot.pause(0.3)
        cell = table.get_cell("default/db", "c2")
        assert (cell.plain, "reverse" in str(cell.style)) == ("Starting", True)
        assert "reverse" not in str(table.get_cell("default/db", "c0").style)   # unchanged cells stay calm
        await pilot.pause(1.3)
        assert "reverse" not in str(table.get_cell("default/db", "c2").style)
