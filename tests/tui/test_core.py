"""The TUI core without Textual: rows, the joined live model, describe, events, logs, key bindings,
and the launcher control/console transport against a fake control endpoint."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from kvtui.core import launcher_control
from kvtui.core.console_transport import ConsoleSession, DirectEndpoint, TransportError
from kvtui.core.describe import describe, title
from kvtui.core.events import merge_events
from kvtui.core.keymap import ConfigError, load_settings
from kvtui.core.logs import LogBuffer, LogOptions
from kvtui.core.model import ClusterModel
from kvtui.core.rows import human_duration, vm_row
from kvtui.core.vm_templates import VMOptions, vm_manifest

from .fake_launcher import FakeLauncher

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def vm(name: str, status: str = "Running", ns: str = "default") -> dict:
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "creationTimestamp": "2026-01-01T11:00:00Z"},
            "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {"cpu": {"cores": 2},
                                                                                 "memory": {"guest": "256Mi"}}}}},
            "status": {"printableStatus": status, "conditions": [{"type": "Ready", "status": "True"}]}}


def vmi(name: str, uid: str = "vmi-1") -> dict:
    return {"kind": "VirtualMachineInstance", "metadata": {"name": name, "namespace": "default", "uid": uid},
            "status": {"phase": "Running", "nodeName": "node-1", "interfaces": [{"ipAddress": "10.0.0.5"}]}}


def pod(name: str, vm_name: str, uid: str, created: str = "2026-01-01T11:00:00Z") -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default", "creationTimestamp": created,
                                        "labels": {"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": vm_name,
                                                   "kubevirt.io/created-by": uid}},
            "spec": {"nodeName": "node-1"}, "status": {"phase": "Running"}}


def test_vm_row_joins_vm_vmi_and_pod():
    row = vm_row(vm("demo"), vmi("demo"), None, NOW)
    assert row.cells == ("demo", "default", "Running", "True", "node-1", "10.0.0.5", "2", "256Mi", "Always", "60m")
    assert row.style == "ok"
    assert vm_row(vm("x", "CrashLoopBackOff"), now=NOW).style == "error"


@pytest.mark.parametrize("seconds,text", [(45, "45s"), (310, "5m10s"), (2520, "42m"), (12000, "3h20m"),
                                          (108000, "30h"), (277200, "3d5h"), (86400 * 120, "120d")])
def test_human_duration_matches_kubectl(seconds, text):
    assert human_duration(seconds) == text


def test_model_joins_current_launcher_pod_and_notifies():
    model = ClusterModel(client=None)
    heard = []
    model.subscribe(heard.append)
    model.apply("vm", "ADDED", vm("demo"))
    model.apply("vmi", "ADDED", vmi("demo", uid="new"))
    model.apply("pod", "ADDED", pod("virt-launcher-demo-old", "demo", "old", "2026-01-01T11:30:00Z"))
    model.apply("pod", "ADDED", pod("virt-launcher-demo-new", "demo", "new", "2026-01-01T11:10:00Z"))
    entry = model.entry(("default", "demo"))
    assert entry.pod["metadata"]["name"] == "virt-launcher-demo-new"
    assert [c.kind for c in heard] == ["vm", "vmi", "pod", "pod"]
    assert all(c.key == ("default", "demo") for c in heard)
    assert model.vms_running() == (1, 1)


def test_relist_drops_objects_deleted_while_not_watching():
    model = ClusterModel(client=None)
    model.apply("vm", "ADDED", vm("a"))
    model.apply("vm", "ADDED", vm("b"))
    model.replace_all("vm", [vm("b")])
    assert [e.key for e in model.entries()] == [("default", "b")]


def test_describe_prints_kubectl_outline_with_events():
    obj = vm("demo")
    events = [{"type": "Normal", "reason": "SuccessfulCreate", "lastTimestamp": "2026-01-01T11:59:00Z",
               "source": {"component": "virtualmachine-controller"}, "message": "Started the virtual machine"}]
    text = describe(obj, events, NOW)
    assert text.startswith("Name:         demo\nNamespace:    default\nLabels:       <none>\n")
    assert "Spec:\n  Run Strategy:  Always\n" in text
    assert "Status:\n  Printable Status:  Running\n" in text
    assert text.rstrip().endswith("Normal  SuccessfulCreate  60s   virtualmachine-controller  Started the virtual machine")
    assert title("guestOSInfo") == "Guest OS Info"


def test_events_of_vm_vmi_and_pod_merge_in_time_order():
    objs = [vm("demo"), vmi("demo", uid="vmi-1")]
    events = [
        {"reason": "Late", "involvedObject": {"uid": "vmi-1"}, "lastTimestamp": "2026-01-01T11:50:00Z"},
        {"reason": "Other", "involvedObject": {"uid": "someone-else"}, "lastTimestamp": "2026-01-01T11:00:00Z"},
        {"reason": "Early", "involvedObject": {"uid": "uid-demo"}, "lastTimestamp": "2026-01-01T11:10:00Z"},
    ]
    assert [e["reason"] for e in merge_events(events, objs)] == ["Early", "Late"]


def test_log_buffer_filters_text_and_regex_and_saves(tmp_path):
    buf = LogBuffer()
    buf.append([f"line {i}" for i in range(100_000)])
    assert len(buf) == 100_000
    buf.set_filter("/line 9999[0-9]/")
    assert [buf.line(i) for i in range(len(buf))] == [f"line {i}" for i in range(99990, 100_000)]
    buf.append(["line 99991 again", "nope"])
    assert len(buf) == 11
    assert buf.save(tmp_path / "out.log") == 11
    with pytest.raises(ValueError, match=r'filter "/\(/" is not a valid regular expression'):
        buf.set_filter("/(/")
    assert LogOptions(container="guest-console-log", tail_lines=10, previous=True).query() == {
        "container": "guest-console-log", "follow": "true", "tailLines": "10", "previous": "true"}


def test_key_bindings_from_config_and_read_only(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("readOnly: true\nkeys:\n  start: S\n")
    settings = load_settings(path)
    assert settings.keys["start"] == "S"
    assert not settings.allowed("delete") and settings.allowed("start")
    assert "delete" not in {a.name for a in settings.visible_actions()}
    path.write_text("keys:\n  launch: x\n")
    with pytest.raises(ConfigError, match="keys.launch is not an action; use one of"):
        load_settings(path)
    path.write_text("keys:\n  start: t\n")
    with pytest.raises(ConfigError, match='key "t" is bound to both start and stop'):
        load_settings(path)


def test_launcher_verbs_and_refusals():
    # The real path goes through pods/portforward; the fake endpoint is reached directly.
    with FakeLauncher() as fake:
        endpoint = DirectEndpoint("127.0.0.1", fake.port)
        assert launcher_control.act(endpoint, "pause", "demo") == "pause done"
        with pytest.raises(launcher_control.LauncherError,
                           match='cannot pause VirtualMachine "demo": VM is already paused'):
            launcher_control.act(endpoint, "pause", "demo")
        assert launcher_control.act(endpoint, "unpause", "demo") == "unpause done"
        assert launcher_control.act(endpoint, "soft_reboot", "demo") == "soft-reboot done"
        assert launcher_control.guest_info(endpoint)["hostname"] == "demo"
        assert fake.calls == ["pause", "pause", "unpause", "soft-reboot"]
    with pytest.raises(launcher_control.LauncherError, match="cannot connect to the launcher at 127.0.0.1"):
        launcher_control.act(DirectEndpoint("127.0.0.1", 1), "reset", "demo")


def test_console_history_typing_and_take_over():
    # Direct connection to the fake endpoint: the pods/portforward hop is skipped in this test.
    with FakeLauncher() as fake:
        first = ConsoleSession(DirectEndpoint("127.0.0.1", fake.port))
        first.connect()
        assert first.receive().data == b"boot log\r\n/ # "
        first.send(b"echo hi\r")
        seen = b""
        while b"hi\r\n/ # " not in seen:
            seen += first.receive().data
        assert bytes(fake.received) == b"echo hi\r"
        second = ConsoleSession(DirectEndpoint("127.0.0.1", fake.port))
        second.connect()
        notice = first.receive()
        assert notice.kind == "notice" and notice.taken_over
        assert notice.text == "kvtui: console taken over by another client"
        closed = first.receive()
        assert closed.kind == "closed" and closed.taken_over
        second.close()
    with pytest.raises(TransportError, match="cannot connect to the launcher at 127.0.0.1:1"):
        ConsoleSession(DirectEndpoint("127.0.0.1", 1)).connect()


def test_model_watches_a_real_api_server(tmp_path):
    from kvtui.core.connection import connect
    from tests.api.conftest import start_cluster

    cluster = start_cluster(tmp_path)
    try:
        client = connect(str(cluster.kubeconfig))
        model = ClusterModel(client)
        stop = threading.Event()
        seen = threading.Event()
        model.subscribe(lambda c: seen.set() if c.kind == "vm" and c.key == ("default", "w1") else None)
        worker = threading.Thread(target=model.watch_forever, args=("vm", stop, 5), daemon=True)
        worker.start()
        doc = vm_manifest(VMOptions(name="w1"))
        client.create("/apis/kubevirt.io/v1/namespaces/default/virtualmachines", doc)
        assert seen.wait(10)
        assert model.entry(("default", "w1")).vm["spec"]["runStrategy"] == "Always"
        stop.set()
    finally:
        cluster.handle.stop()


class ScriptedClient:
    """Stands in for the API at the watch boundary, to replay a compaction (410) that a real server
    produces only after its log has been compacted."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.lists = [[vm("a"), vm("b")], [vm("b"), vm("c")]]
        self.watches: list[dict] = []

    def request(self, method, path, query=None, **kwargs):
        items = self.lists.pop(0) if self.lists else []
        if not self.lists and not items:
            self.stop.set()
        return {"items": items, "metadata": {"resourceVersion": str(10 + len(self.watches))}}

    def watch(self, path, query, timeout):
        self.watches.append(query)
        if len(self.watches) == 1:
            yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
        else:
            self.stop.set()
            return


def test_watch_expiry_relists_and_drops_what_was_deleted_meanwhile():
    stop = threading.Event()
    client = ScriptedClient(stop)
    model = ClusterModel(client)
    model.watch_forever("vm", stop, timeout=1)
    assert sorted(e.key[1] for e in model.entries()) == ["b", "c"]
    assert [q["resourceVersion"] for q in client.watches] == ["10", "11"]


def test_problem_messages_say_what_to_do():
    from cluster.client import APIError
    from kvtui.core.model import SOURCES, problem_message

    source = SOURCES[0]
    assert problem_message(source, APIError(403, "Forbidden", 'virtualmachines is forbidden: User "bob"'), 4) == (
        'forbidden to watch virtualmachines: virtualmachines is forbidden: User "bob"; ask an admin for list/watch '
        "on virtualmachines (retrying in 4s)")
    assert problem_message(source, ConnectionRefusedError(), 2) == (
        "cannot reach the API server watching virtualmachines (ConnectionRefusedError); retrying in 2s — check that "
        "the cluster runs ('kvtui cluster start')")
