"""The app's screens through Textual's Pilot against a real embedded API server: list and header,
command bar, filter, sort, detail tabs, consoles and failures. Consoles go to a fake control endpoint
reached directly (the pods/portforward hop is skipped, because no launcher pod runs in these tests)."""

from __future__ import annotations

import pytest

from kvtui.app.main import KvtuiApp

from .conftest import VMS, create_vm, on_screen, select, until_listed, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("fresh_vms")]


async def test_vm_list_and_header_show_the_cluster(make_app, client):
    create_vm(client, "alpha")
    create_vm(client, "beta", run_strategy="Halted")
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await until_listed(pilot, app, "alpha", "beta")
        header = str(app.query_one("#header").content)
        assert "Context: kvtui" in header and "User: admin" in header and "VMs running: 0/2" in header
        await wait_for(pilot, lambda: "Server: v1" in str(app.query_one("#header").content))
        rows = app.visible_rows()
        assert [r.cells[:3] for r in rows] == [("alpha", "default", "Unknown"), ("beta", "default", "Stopped")]
        assert rows[1].cells[8] == "Halted"
        assert "VirtualMachines  (2)  ns: all" in str(app.query_one("#crumbs").content)


async def command(pilot, app, text: str) -> None:
    """Type a `:` command (the value is set at once: typing it key by key is tested above)."""
    await pilot.press("colon")
    app.query_one("#command").value = text
    await pilot.press("enter")


async def test_command_bar_completes_and_switches_views(make_app, client):
    create_vm(client, "alpha")
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until_listed(pilot, app, "alpha")
        await pilot.press("colon", "p", "o", "d", "tab")
        assert app.query_one("#command").value == "pod"
        await pilot.press("enter")
        assert app.view == "pods"
        await command(pilot, app, "vmi")
        assert app.view == "vmi"
        assert "VirtualMachines > Pods (virt-launcher) > VirtualMachineInstances" in str(app.query_one("#crumbs").content)
        await pilot.press("escape")
        assert app.view == "pods"
        await command(pilot, app, "bogus")
        assert app._notifications and list(app._notifications)[-1].message.startswith('unknown command ":bogus"')
        await command(pilot, app, "events")
        await wait_for(pilot, lambda: app.lists["events"] is not None and app.view == "events")
        await command(pilot, app, "ns")
        await wait_for(pilot, lambda: ("", "default") in app._shown)
        await select(pilot, app, "default")
        await pilot.press("enter")
        assert app.view == "vm" and app.namespace == "default"
        await pilot.press("0")
        assert app.namespace is None
        await command(pilot, app, "ctx")
        await wait_for(pilot, lambda: app._shown == [("", "kvtui")])
        assert app.visible_rows()[0].cells == ("kvtui", "kvtui", "admin", "*")


async def test_filter_by_text_regex_and_label_selector(make_app, client):
    create_vm(client, "web-1")
    create_vm(client, "web-2", run_strategy="Halted")
    create_vm(client, "db-1")
    client.merge_patch(f"{VMS}/db-1", {"metadata": {"labels": {"tier": "db"}}})
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until_listed(pilot, app, "web-1", "web-2", "db-1")
        await pilot.press("slash", *"web", "enter")
        assert [n for _, n in app._shown] == ["web-1", "web-2"]
        await pilot.press("slash")
        app.query_one("#command").value = "^(db|web-2)"
        await pilot.press("enter")
        assert [n for _, n in app._shown] == ["db-1", "web-2"]
        await pilot.press("slash")
        app.query_one("#command").value = "-l tier=db"
        await pilot.press("enter")
        assert [n for _, n in app._shown] == ["db-1"]
        await pilot.press("escape")
        assert len(app._shown) == 3
        await pilot.press("slash")
        app.query_one("#command").value = "-l tier=(x"
        await pilot.press("enter")
        assert list(app._notifications)[-1].message.startswith('label selector "tier=(x" is not valid')


async def test_sort_by_column_and_reverse(make_app, client):
    for name in ("b", "c", "a"):
        create_vm(client, name)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until_listed(pilot, app, "a", "b", "c")
        await pilot.press("N")
        assert [n for _, n in app._shown] == ["a", "b", "c"]
        await pilot.press("N")
        assert [n for _, n in app._shown] == ["c", "b", "a"]
        assert "sort: NAME ↓" in str(app.query_one("#crumbs").content)


async def test_detail_tabs_describe_yaml_events_and_logs(make_app, client):
    create_vm(client, "alpha")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until_listed(pilot, app, "alpha")
        await pilot.press("enter")
        await on_screen(pilot, app, "DetailScreen", "#overview-text")
        overview = str(app.screen.query_one("#overview-text").content)
        assert "Run strategy:  Always" in overview and "the VM is not running" in overview
        describe = app.screen.query_one("#describe-text").text
        assert describe.startswith("Name:         alpha\nNamespace:    default\n")
        assert "Events:       <none>" in describe
        assert "runStrategy: Always" in app.screen.query_one("#yaml-text").text
        app.screen.query_one("#tabs").active = "logs"
        await wait_for(pilot, lambda: any(n.title == "Logs" for n in app._notifications))
        assert list(app._notifications)[-1].message == "no launcher pod: start the VM to see its logs"
        await pilot.press("escape")
        assert type(app.screen).__name__ == "Screen"


async def test_unreachable_api_server_offers_the_embedded_cluster(tmp_path):
    from kubernetes import client as k8s

    from cluster.client import Client
    from kvtui.app.main import Connection

    config = k8s.Configuration(host="https://127.0.0.1:1")
    config.retries = 0
    app = KvtuiApp(Connection(Client(k8s.ApiClient(config))), offer_embedded=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await on_screen(pilot, app, "NoClusterScreen", "#reason")
        assert "cannot reach the API server watching" in str(app.screen.query_one("#reason").content)
        await pilot.click("#quit")
        assert type(app.screen).__name__ == "Screen"

