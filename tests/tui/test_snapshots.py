"""Layout snapshots (pytest-textual-snapshot) at 80×24 and 160×48: a fixed model, a frozen clock, no
animations, no cursor blink. `pytest tests/tui/test_snapshots.py --snapshot-update` rewrites them."""

from __future__ import annotations

import pytest

from kvtui.app.main import Connection, KvtuiApp
from kvtui.core.keymap import Settings

from .snapshot_data import FROZEN, INFO, StillClient, demo_model

SIZES = [(80, 24), (160, 48)]


def still_app(read_only: bool = False) -> KvtuiApp:
    return KvtuiApp(Connection(StillClient(), INFO), Settings(read_only=read_only), clock=lambda: FROZEN,
                    watch=False, model=demo_model())


async def settle(pilot) -> None:
    pilot.app._flush()
    await pilot.pause()
    for widget in pilot.app.query("Input"):
        widget.cursor_blink = False


@pytest.mark.parametrize("size", SIZES)
def test_vm_list(snap_compare, size):
    assert snap_compare(still_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_vm_list_read_only(snap_compare, size):
    assert snap_compare(still_app(read_only=True), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_detail_overview(snap_compare, size):
    async def open_detail(pilot):
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(still_app(), terminal_size=size, run_before=open_detail)


@pytest.mark.parametrize("size", SIZES)
def test_create_form(snap_compare, size):
    async def open_form(pilot):
        await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        for widget in pilot.app.screen.query("Input"):
            widget.cursor_blink = False

    assert snap_compare(still_app(), terminal_size=size, run_before=open_form)


@pytest.mark.parametrize("size", SIZES)
def test_filtered_and_sorted(snap_compare, size):
    async def filter_rows(pilot):
        await settle(pilot)
        pilot.app.apply_filter("d")
        pilot.app.action_sort("NAME")
        pilot.app.action_sort("NAME")
        await pilot.pause()

    assert snap_compare(still_app(), terminal_size=size, run_before=filter_rows)
