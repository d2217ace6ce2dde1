"""A VM's detail screen: tabs Overview, Console, Logs, Events, Describe and YAML. Data is fetched in
workers; the console connects only when its tab is opened."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import yaml
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane, TextArea

from kvtui.core import launcher_control
from kvtui.core.console_transport import ConsoleSession
from kvtui.core.describe import describe
from kvtui.core.events import events_for
from kvtui.core.logs import SINCE_WINDOWS, LogError, LogOptions, LogStream
from kvtui.core.model import VMEntry
from kvtui.core.rows import (
    EVENT_COLUMNS,
    event_row,
    printable_status,
    run_strategy,
    vm_cpu,
    vm_memory,
    vmi_ip,
)

from ..widgets.console import STATE_TEXT, SerialConsole
from ..widgets.log_view import LogView

TABS = ("overview", "console", "logs", "events", "describe", "yaml")
SINCE_KEYS = dict(zip("012345", SINCE_WINDOWS, strict=False))


class EventsLoaded(Message):
    def __init__(self, events: list[dict], error: str = "") -> None:
        super().__init__()
        self.events, self.error = events, error


class LogLines(Message):
    def __init__(self, generation: int, lines: list[str], error: str = "", ended: bool = False) -> None:
        super().__init__()
        self.generation, self.lines, self.error, self.ended = generation, lines, error, ended


class GuestInfo(Message):
    def __init__(self, info: dict | None, error: str = "") -> None:
        super().__init__()
        self.info, self.error = info, error


def overview_text(entry: VMEntry, guest: dict | None, guest_error: str) -> str:
    vm, vmi, pod = entry.vm, entry.vmi, entry.pod
    meta = vm["metadata"]
    lines = [
        f"[b]{meta['name']}[/b]  in {meta.get('namespace', '')}",
        f"Status:        {printable_status(vm)}",
        f"Run strategy:  {run_strategy(vm)}",
        f"vCPU / memory: {vm_cpu(vm)} / {vm_memory(vm) or '-'}",
        f"Node:          {((vmi or {}).get('status') or {}).get('nodeName') or '-'}",
        f"IP:            {vmi_ip(vmi) or '-'}",
        f"VMI phase:     {((vmi or {}).get('status') or {}).get('phase') or '-'}",
        f"Launcher pod:  {(pod or {}).get('metadata', {}).get('name', '-')}",
        "",
        "[b]Conditions[/b]",
    ]
    conditions = ((vmi or {}).get("status") or {}).get("conditions") or (vm.get("status") or {}).get("conditions") or []
    for c in conditions:
        lines.append(f"  {c.get('type', ''):<22} {c.get('status', ''):<6} {c.get('reason', '')} {c.get('message', '')}")
    if not conditions:
        lines.append("  <none>")
    lines += ["", "[b]Guest[/b]"]
    if guest:
        os_info = guest.get("os") or {}
        lines.append(f"  hostname: {guest.get('hostname', '-')}   OS: {os_info.get('prettyName') or os_info.get('name', '-')}")
        lines.append(f"  kernel:   {os_info.get('kernelRelease', '-')}")
    else:
        lines.append(f"  {guest_error or 'no guest information'}")
    return "\n".join(lines)


class DetailScreen(Screen[None]):
    DEFAULT_CSS = """
    DetailScreen #title { height: 1; background: $primary-background; padding: 0 1; }
    DetailScreen #console-state, DetailScreen #log-state { height: 1; background: $panel; padding: 0 1; }
    DetailScreen #log-filter { display: none; }
    DetailScreen #log-filter.open { display: block; }
    DetailScreen TextArea { height: 1fr; }
    DetailScreen TabbedContent, DetailScreen TabPane { height: 1fr; }
    DetailScreen TabPane { padding: 0; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "log_follow", "Follow", show=False),
        Binding("w", "log_wrap", "Wrap", show=False),
        Binding("t", "log_timestamps", "Timestamps", show=False),
        Binding("p", "log_previous", "Previous", show=False),
        Binding("c", "log_container", "Container", show=False),
        Binding("slash", "log_filter", "Filter", show=False),
        Binding("ctrl+s", "log_save", "Save", show=False),
        Binding("e", "edit", "Edit", show=False),
        *[Binding(k, f"log_since('{k}')", show=False) for k in SINCE_KEYS],
    ]

    def __init__(self, key: tuple[str, str], tab: str = "overview") -> None:
        super().__init__()
        self.key = key
        self.initial_tab = tab if tab in TABS else "overview"
        self.log_options = LogOptions()
        self.log_generation = 0
        self.guest: dict | None = None
        self.guest_error = ""
        self.events: list[dict] = []
        self._log_stream: LogStream | None = None

    @property
    def namespace(self) -> str:
        return self.key[0]

    @property
    def vm_name(self) -> str:
        return self.key[1]

    def compose(self) -> ComposeResult:
        yield Static(f"VirtualMachine {self.namespace}/{self.vm_name}", id="title")
        with TabbedContent(initial=self.initial_tab, id="tabs"):
            with TabPane("Overview", id="overview"):
                yield Static("", id="overview-text")
            with TabPane("Console", id="console"):
                yield Static("not attached", id="console-state")
            with TabPane("Logs", id="logs"):
                yield Static("", id="log-state")
                yield Input(placeholder="filter: text or /regex/", id="log-filter")
                yield LogView(id="log-view")
            with TabPane("Events", id="events"):
                yield DataTable(id="events-table", cursor_type="row")
            with TabPane("Describe", id="describe"):
                yield TextArea("", id="describe-text", read_only=True)
            with TabPane("YAML", id="yaml"):
                yield TextArea("", id="yaml-text", read_only=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#events-table", DataTable)
        for column in EVENT_COLUMNS:
            table.add_column(column)
        self.refresh_from_model()
        self._load_events()
        self._load_guest_info()
        self._activate(self.initial_tab)

    def entry(self) -> VMEntry | None:
        return self.app.model.entry(self.key)

    def refresh_from_model(self) -> None:
        entry = self.entry()
        if entry is None:
            self.query_one("#overview-text", Static).update(f"VirtualMachine {self.namespace}/{self.vm_name} is gone")
            return
        self.query_one("#overview-text", Static).update(Text.from_markup(overview_text(entry, self.guest,
                                                                                    self.guest_error)))
        yaml_area = self.query_one("#yaml-text", TextArea)
        text = yaml.safe_dump(entry.vm, sort_keys=False)
        if yaml_area.text != text:
            yaml_area.load_text(text)
        self._render_describe()

    def _render_describe(self) -> None:
        entry = self.entry()
        if entry is None:
            return
        now: datetime = self.app.clock()
        parts = [describe(entry.vm, [e for e in self.events if _about(e, entry.vm)], now)]
        if entry.vmi:
            parts.append(describe(entry.vmi, [e for e in self.events if _about(e, entry.vmi)], now))
        if entry.pod:
            parts.append(describe(entry.pod, [e for e in self.events if _about(e, entry.pod)], now))
        text = "\n".join(parts)
        area = self.query_one("#describe-text", TextArea)
        if area.text != text:
            area.load_text(text)

    # -- tabs ----------------------------------------------------------------------------------------

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._activate(event.pane.id or "")

    def _activate(self, tab: str) -> None:
        if tab == "console":
            self.attach_console()
        elif tab == "logs" and self.log_generation == 0:
            self.restart_logs()
            self.query_one(LogView).focus()
        elif tab == "events":
            self._load_events()

    def action_back(self) -> None:
        view = self.query_one("#log-filter", Input)
        if view.has_class("open"):
            view.remove_class("open")
            self.query_one(LogView).focus()
            return
        self.dismiss(None)

    # -- console -------------------------------------------------------------------------------------

    def attach_console(self) -> None:
        existing = list(self.query(SerialConsole))
        if existing:
            existing[0].focus()
            return
        client = self.app.connection.client if self.app.connection else None
        namespace, name, endpoint_for = self.namespace, self.vm_name, self.app.endpoint_for

        def session() -> ConsoleSession:
            return ConsoleSession(endpoint_for(client, namespace, name))

        console = SerialConsole(name, session, id="serial")
        self.query_one("#console", TabPane).mount(console)
        console.focus()

    def on_serial_console_state_changed(self, message: SerialConsole.StateChanged) -> None:
        if message.console.detached:
            return
        text = STATE_TEXT.get(message.state, message.state)
        if message.reason and message.state != "connected":
            text += f" ({message.reason})"
        self.query_one("#console-state", Static).update(f"console {self.vm_name}: {text}")
        if message.state == "taken over":
            self.notify(f"the console of {self.vm_name} was taken over by another client; press r in it to take "
                        "it back", severity="warning")
        elif message.state == "disconnected":
            self.notify(f"console of {self.vm_name} closed: {message.reason or 'the launcher went away'}; press r "
                        "in it to reconnect", severity="warning")

    def on_serial_console_detached(self, message: SerialConsole.Detached) -> None:
        message.console.disconnect()
        message.console.remove()
        self.query_one("#console-state", Static).update("detached — open the Console tab again to attach")
        self.query_one("#tabs", TabbedContent).active = "overview"

    # -- logs ----------------------------------------------------------------------------------------

    def restart_logs(self) -> None:
        self.log_generation += 1
        self.query_one(LogView).clear()
        self._update_log_state("")
        self._stream_logs(self.log_generation, LogOptions(**vars(self.log_options)))

    def _stream_logs(self, generation: int, opts: LogOptions) -> None:
        # A followed log blocks in a socket read for as long as the pod lives: it runs in a daemon thread
        # (a Textual worker would hold up the app's exit) and is closed when replaced or left.
        if self._log_stream is not None:
            self._log_stream.close()
        entry = self.entry()
        if entry is None or entry.pod is None:
            self.post_message(LogLines(generation, [], "no launcher pod: start the VM to see its logs"))
            return
        stream = self._log_stream = LogStream(self.app.connection.client, self.namespace,
                                              entry.pod["metadata"]["name"], opts)
        threading.Thread(target=self._read_logs, args=(generation, stream), name="logs", daemon=True).start()

    def _read_logs(self, generation: int, stream: LogStream) -> None:
        try:
            for batch in stream.batches():
                if stream.closed or generation != self.log_generation:
                    return
                self.post_message(LogLines(generation, batch))
            self.post_message(LogLines(generation, [], ended=not stream.closed))
        except LogError as exc:
            self.post_message(LogLines(generation, [], str(exc)))
        except Exception as exc:
            from ..main import api_message
            if not stream.closed:
                self.post_message(LogLines(generation, [], api_message(exc)))

    def on_unmount(self) -> None:
        if self._log_stream is not None:
            self._log_stream.close()

    def on_log_lines(self, message: LogLines) -> None:
        if message.generation != self.log_generation:
            return
        view = self.query_one(LogView)
        if message.lines:
            view.append(message.lines)
        if message.error:
            self.notify(message.error, title="Logs", severity="error")
        self._update_log_state("ended" if message.ended else "")

    def _update_log_state(self, note: str) -> None:
        o = self.log_options
        since = next((k for k, v in SINCE_WINDOWS.items() if v == o.since_seconds), "tail")
        view = self.query_one(LogView)
        flags = [f"container: {o.container}", f"follow: {'on' if view.follow else 'off'}",
                 f"wrap: {'on' if view.wrap else 'off'}", f"timestamps: {'on' if o.timestamps else 'off'}",
                 f"since: {since}", f"lines: {len(view.buffer)}"]
        if o.previous:
            flags.append("previous")
        if view.buffer.pattern is not None:
            flags.append(f"filter: {view.buffer.pattern.pattern}")
        if note:
            flags.append(note)
        self.query_one("#log-state", Static).update("  ".join(flags))

    def _on_logs_tab(self) -> bool:
        return self.query_one("#tabs", TabbedContent).active == "logs"

    def action_log_follow(self) -> None:
        if self._on_logs_tab():
            view = self.query_one(LogView)
            view.follow = not view.follow
            if view.follow:
                view.scroll_end(animate=False)
            self._update_log_state("")

    def action_log_wrap(self) -> None:
        if self._on_logs_tab():
            self.query_one(LogView).toggle_wrap()
            self._update_log_state("")

    def action_log_timestamps(self) -> None:
        if self._on_logs_tab():
            self.log_options.timestamps = not self.log_options.timestamps
            self.restart_logs()

    def action_log_previous(self) -> None:
        if self._on_logs_tab():
            self.log_options.previous = not self.log_options.previous
            self.log_options.follow = not self.log_options.previous
            self.restart_logs()

    def action_log_container(self) -> None:
        if self._on_logs_tab():
            self.log_options.container = "guest-console-log" if self.log_options.container == "compute" else "compute"
            self.restart_logs()

    def action_log_since(self, key: str) -> None:
        if self._on_logs_tab():
            self.log_options.since_seconds = SINCE_WINDOWS[SINCE_KEYS[key]]
            self.log_options.tail_lines = 1000 if self.log_options.since_seconds is None else None
            self.restart_logs()

    def action_log_filter(self) -> None:
        if self._on_logs_tab():
            box = self.query_one("#log-filter", Input)
            box.add_class("open")
            box.focus()

    @on(Input.Submitted, "#log-filter")
    def _log_filter(self, event: Input.Submitted) -> None:
        event.input.remove_class("open")
        try:
            self.query_one(LogView).set_filter(event.value.strip())
        except ValueError as exc:
            self.notify(str(exc), title="Filter", severity="error")
        self.query_one(LogView).focus()
        self._update_log_state("")

    def action_log_save(self) -> None:
        if self._on_logs_tab():
            path = Path.cwd() / f"{self.vm_name}-{self.log_options.container}.log"
            count = self.query_one(LogView).buffer.save(path)
            self.notify(f"saved {count} lines to {path}", title="Logs")

    # -- events, guest info, edit -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="events", exit_on_error=False)
    def _load_events(self) -> None:
        entry = self.entry()
        if entry is None or self.app.connection is None:
            return
        try:
            self.post_message(EventsLoaded(events_for(self.app.connection.client, self.namespace,
                                                      [entry.vm, entry.vmi, entry.pod])))
        except Exception as exc:
            from ..main import api_message
            self.post_message(EventsLoaded([], api_message(exc)))

    def on_events_loaded(self, message: EventsLoaded) -> None:
        if message.error:
            self.notify(message.error, title="Events", severity="error")
        self.events = message.events
        table = self.query_one("#events-table", DataTable)
        table.clear()
        now = self.app.clock()
        for event in message.events:
            table.add_row(*event_row(event, now).cells)
        self._render_describe()

    @work(thread=True, exclusive=True, group="guest", exit_on_error=False)
    def _load_guest_info(self) -> None:
        entry = self.entry()
        if entry is None or entry.pod is None or (entry.vmi or {}).get("status", {}).get("phase") != "Running":
            self.post_message(GuestInfo(None, "the VM is not running"))
            return
        try:
            endpoint = self.app.endpoint_for(self.app.connection.client, self.namespace, self.vm_name)
            self.post_message(GuestInfo(launcher_control.guest_info(endpoint, self.vm_name)))
        except Exception as exc:
            self.post_message(GuestInfo(None, str(exc)))

    def on_guest_info(self, message: GuestInfo) -> None:
        self.guest, self.guest_error = message.info, message.error
        self.refresh_from_model()

    def action_edit(self) -> None:
        if self.query_one("#tabs", TabbedContent).active in ("yaml", "overview", "describe"):
            if self.app.settings.allowed("edit"):
                self.app.edit_vm(self.key)
            else:
                self.notify("editing is not available in read-only mode", severity="warning")


def _about(event: dict, obj: dict) -> bool:
    involved = event.get("involvedObject") or {}
    return involved.get("uid") == obj["metadata"].get("uid") or (
        not involved.get("uid") and involved.get("name") == obj["metadata"].get("name")
        and involved.get("kind") == obj.get("kind"))
