"""The VM actions through Textual's Pilot against a real embedded API server: each action with the
messages it posts and the API objects it changes. No reconciler runs here, so VMs keep the state the
tests give them; launcher verbs go to a fake control endpoint reached directly (the pods/portforward
hop is skipped, because no launcher pod runs in these tests)."""

from __future__ import annotations

import pytest
import yaml

from kvtui.core.console_transport import DirectEndpoint
from kvtui.core.keymap import Settings

from .conftest import VMS, Recorder, create_vm, on_screen, strategy, until_listed, wait_for
from .fake_launcher import FakeLauncher

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("fresh_vms")]


async def test_start_patches_run_strategy_and_reports(make_app, client):
    create_vm(client, "beta", run_strategy="Halted")
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 30), message_hook=heard) as pilot:
        await until_listed(pilot, app, "beta")
        await pilot.press("s")
        await wait_for(pilot, lambda: heard.done)
        assert (heard.done[0].ok, heard.done[0].message) == (True, "VM beta was scheduled to start")
        assert strategy(client, "beta") == "Always"
        await pilot.press("s")
        await wait_for(pilot, lambda: len(heard.done) == 2)
        assert not heard.done[1].ok
        assert heard.done[1].message == ('VirtualMachine "beta": runStrategy Always does not support manual start '
                                         "requests; it starts on its own")
        assert [n.title for n in app._notifications][-1] == "Start failed"


@pytest.mark.parametrize("key,verb,expected", [("t", "Stop", "Halted"), ("ctrl+k", "Force stop", "Halted")])
async def test_stop_and_force_stop_ask_first(make_app, client, key, verb, expected):
    create_vm(client, "alpha")
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 30), message_hook=heard) as pilot:
        await until_listed(pilot, app, "alpha")
        await pilot.press(key)
        await on_screen(pilot, app, "ConfirmScreen", "#question")
        assert str(app.screen.query_one("#question").content) == f"{verb} VM alpha?"
        await pilot.press("y")
        await wait_for(pilot, lambda: heard.done)
        assert heard.done[0].message == "VM alpha was scheduled to stop"
        assert strategy(client, "alpha") == expected


async def test_cancelled_delete_keeps_the_vm_and_confirmed_delete_removes_it(make_app, client):
    create_vm(client, "alpha")
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 30), message_hook=heard) as pilot:
        await until_listed(pilot, app, "alpha")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert client.get(f"{VMS}/alpha")["metadata"]["name"] == "alpha"
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.click("#yes")
        await wait_for(pilot, lambda: heard.done)
        assert heard.done[0].message == "VM alpha was deleted"
        await wait_for(pilot, lambda: not app._shown)
        assert not client.get(VMS).get("items")


async def test_restart_of_a_vm_without_vmi_says_use_start(make_app, client):
    create_vm(client, "alpha")
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 30), message_hook=heard) as pilot:
        await until_listed(pilot, app, "alpha")
        await pilot.press("r", "y")
        await wait_for(pilot, lambda: heard.done)
        assert (heard.done[0].ok, heard.done[0].message) == (False, 'VirtualMachine "alpha" is not running; use start')


async def test_pause_and_unpause_go_to_the_launcher(make_app, client):
    create_vm(client, "alpha")
    heard = Recorder()
    with FakeLauncher() as fake:
        app = make_app(endpoint_for=lambda c, ns, name: DirectEndpoint("127.0.0.1", fake.port))
        async with app.run_test(size=(120, 30), message_hook=heard) as pilot:
            await until_listed(pilot, app, "alpha")
            await pilot.press("p")
            await wait_for(pilot, lambda: heard.done)
            assert heard.done[0].message == "VM alpha was scheduled to pause"
            await pilot.press("p")       # the VM's status is not Paused (no launcher reports), so: pause again
            await wait_for(pilot, lambda: len(heard.done) == 2)
            assert heard.done[1].message == 'cannot pause VirtualMachine "alpha": VM is already paused'
            assert fake.calls == ["pause", "pause"]


async def test_marks_apply_an_action_to_every_marked_vm(make_app, client):
    for name in ("a1", "a2", "a3"):
        create_vm(client, name, run_strategy="Halted")
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 30), message_hook=heard) as pilot:
        await until_listed(pilot, app, "a1", "a2", "a3")
        await pilot.press("space", "space")           # marks a1, moves down, marks a2
        assert app.marks == {("default", "a1"), ("default", "a2")}
        assert "marked: 2" in str(app.query_one("#crumbs").content)
        await pilot.press("s")
        await wait_for(pilot, lambda: len(heard.done) == 2)
        assert sorted(m.target for m in heard.done) == ["a1", "a2"]
        assert [strategy(client, n) for n in ("a1", "a2", "a3")] == ["Always", "Always", "Halted"]
        await pilot.press("ctrl+backslash")
        assert not app.marks


async def test_read_only_mode_hides_and_refuses_dangerous_actions(make_app, client):
    create_vm(client, "alpha")
    app = make_app(Settings(read_only=True))
    async with app.run_test(size=(120, 30)) as pilot:
        await until_listed(pilot, app, "alpha")
        await pilot.press("ctrl+d", "t")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "Screen"
        assert strategy(client, "alpha") == "Always"
        assert "READ-ONLY" in str(app.query_one("#header").content)
        await pilot.press("question_mark")
        text = str(app.screen.query_one("#help-text").content)
        assert "read-only mode: dangerous ones hidden" in text and "Delete the VM" not in text


async def test_create_form_creates_the_vm_and_keeps_errors_in_the_form(make_app, client):
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await pilot.press("c")
        await on_screen(pilot, app, "CreateVMScreen", "#name")
        app.screen.query_one("#name").value = "Bad_Name"
        await pilot.press("ctrl+s")
        assert str(app.screen.query_one("#error").content).startswith('name "Bad_Name" is not valid')
        app.screen.query_one("#name").value = "fresh"
        app.screen.query_one("#cpu").value = "2"
        app.screen.query_one("#ssh-key").value = "ssh-ed25519 AAAA test"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: heard.done)
        assert heard.done[0].message == "virtualmachine.kubevirt.io/fresh created"
        vm = client.get(f"{VMS}/fresh")
        assert vm["spec"]["template"]["spec"]["domain"]["cpu"]["cores"] == 2
        volumes = vm["spec"]["template"]["spec"]["volumes"]
        assert "ssh-ed25519 AAAA test" in volumes[-1]["cloudInitNoCloud"]["userData"]


async def test_yaml_create_shows_validation_errors_at_the_field_and_keeps_the_edit(make_app, client):
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await pilot.press("C")
        await on_screen(pilot, app, "YamlEditScreen", "#yaml")
        area = app.screen.query_one("#yaml")
        doc = yaml.safe_load(area.text)
        del doc["spec"]["template"]["spec"]["domain"]["devices"]
        broken = yaml.safe_dump(doc, sort_keys=False)
        area.text = broken
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: heard.done)
        errors = str(app.screen.query_one("#errors").content)
        domain_line = broken.splitlines().index("      domain:") + 1
        assert errors == f"line {domain_line}: spec.template.spec.domain.devices: Required value"
        assert area.text == broken and area.cursor_location == (domain_line - 1, 0)
        doc["spec"]["template"]["spec"]["domain"]["devices"] = {}
        area.text = yaml.safe_dump(doc, sort_keys=False)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(heard.done) == 2)
        assert heard.done[1].message == "virtualmachine.kubevirt.io/my-vm created"


async def test_edit_yaml_in_app_replaces_the_vm(make_app, client):
    create_vm(client, "alpha")
    heard = Recorder()
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await until_listed(pilot, app, "alpha")
        await pilot.press("e")
        await on_screen(pilot, app, "YamlEditScreen", "#yaml")
        area = app.screen.query_one("#yaml")
        area.text = area.text.replace("runStrategy: Always", "runStrategy: Manual")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: heard.done)
        assert heard.done[0].message == "virtualmachine.kubevirt.io/alpha edited"
        assert strategy(client, "alpha") == "Manual"
