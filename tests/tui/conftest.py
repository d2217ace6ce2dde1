"""Fixtures for the TUI tests: a real embedded API server (tests/api's start_cluster) per module, a
client on it, and an app factory with a frozen clock, no user config and animations off."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from kvtui.app.messages import ActionDone
from kvtui.core.cluster_info import read_info
from kvtui.core.connection import connect
from kvtui.core.keymap import Settings
from kvtui.core.vm_templates import VMOptions, vm_manifest
from tests.api.conftest import start_cluster

FROZEN = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(scope="module")
def tui_cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("tui"))
    yield c
    c.handle.stop()


@pytest.fixture
def client(tui_cluster):
    return connect(str(tui_cluster.kubeconfig))


def create_vm(client, name: str, namespace: str = "default", **options) -> dict:
    manifest = vm_manifest(VMOptions(name=name, namespace=namespace, **options))
    return client.create(f"/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachines", manifest)


@pytest.fixture
def make_app(tui_cluster, client):
    from kvtui.app.main import Connection, KvtuiApp

    def make(settings: Settings | None = None, **kwargs) -> KvtuiApp:
        info = read_info(str(tui_cluster.kubeconfig))
        return KvtuiApp(Connection(client, info), settings or Settings(), clock=lambda: FROZEN, **kwargs)

    return make


VMS = "/apis/kubevirt.io/v1/namespaces/default/virtualmachines"


class Recorder:
    def __init__(self) -> None:
        self.done: list[ActionDone] = []

    def __call__(self, message) -> None:
        if isinstance(message, ActionDone):
            self.done.append(message)


async def wait_for(pilot, condition, tries: int = 100) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def on_screen(pilot, app, name: str, selector: str) -> None:
    """Wait until screen `name` is on top and has composed the widget `selector` (a pushed screen
    is current a frame or two before its children are mounted)."""

    def ready() -> bool:
        return type(app.screen).__name__ == name and bool(app.screen.query(selector))

    await wait_for(pilot, ready)


async def until_listed(pilot, app, *names: str) -> None:
    await wait_for(pilot, lambda: {n for _, n in app._shown} >= set(names))


async def select(pilot, app, name: str) -> None:
    table = app.query_one("#table")
    table.move_cursor(row=[n for _, n in app._shown].index(name))
    await pilot.pause()


@pytest.fixture
def fresh_vms(client):
    for vm in client.get(VMS).get("items") or []:
        client.delete(f"{VMS}/{vm['metadata']['name']}")
    yield


def strategy(client, name: str) -> str:
    return client.get(f"{VMS}/{name}")["spec"]["runStrategy"]


