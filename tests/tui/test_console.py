"""The serial console screens through Pilot: keys to the guest (Ctrl+C/Q/P too), Ctrl+] detach,
take-over and reconnect. The console goes to a fake control endpoint reached directly (the
pods/portforward hop is skipped, because no launcher pod runs in these tests)."""

from __future__ import annotations

import pytest

from kvtui.core.console_transport import DirectEndpoint

from .conftest import create_vm, until_listed, wait_for
from .fake_launcher import FakeLauncher

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("fresh_vms")]


async def test_console_tab_passes_every_key_to_the_guest_and_detaches(make_app, client):
    create_vm(client, "alpha")
    with FakeLauncher() as fake:
        app = make_app(endpoint_for=lambda c, ns, name: DirectEndpoint("127.0.0.1", fake.port))
        async with app.run_test(size=(120, 40)) as pilot:
            await until_listed(pilot, app, "alpha")
            await pilot.press("a")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConsolesScreen" and app.screen.consoles())
            console = app.screen.consoles()[0]
            await wait_for(pilot, lambda: console.state == "connected" and "/ #" in console.text())
            assert console.text().startswith("boot log\n/ #")
            await pilot.press(*"echo hi", "enter")
            await wait_for(pilot, lambda: "hi\n/ #" in console.text())
            await pilot.press("ctrl+c", "ctrl+q", "ctrl+p", "escape", "q")
            await wait_for(pilot, lambda: bytes(fake.received).endswith(b"\x03\x11\x10\x1bq"))
            assert type(app.screen).__name__ == "ConsolesScreen"       # nothing quit, no palette opened
            await pilot.press("ctrl+right_square_bracket")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "Screen")


async def test_console_shows_take_over_and_reconnects(make_app, client):
    from kvtui.core.console_transport import ConsoleSession
    create_vm(client, "alpha")
    with FakeLauncher() as fake:
        app = make_app(endpoint_for=lambda c, ns, name: DirectEndpoint("127.0.0.1", fake.port))
        async with app.run_test(size=(120, 40)) as pilot:
            await until_listed(pilot, app, "alpha")
            await pilot.press("a")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConsolesScreen" and app.screen.consoles())
            console = app.screen.consoles()[0]
            await wait_for(pilot, lambda: console.state == "connected")
            other = ConsoleSession(DirectEndpoint("127.0.0.1", fake.port))
            other.connect()
            await wait_for(pilot, lambda: console.state == "taken over")
            assert "taken over by another client — press r to take it back" in str(
                app.screen.query_one("#consoles-state").content)
            await pilot.press("r")
            await wait_for(pilot, lambda: console.state == "connected")
            other.close()
