"""The kvtui App: k9s's grammar (`:` views, `/` filter, esc back, `?` help, crumbs, marks) over a
live VM list kept current by watches. Workers do the blocking I/O; widgets change on messages only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Footer, Input, Static

from cluster.client import APIError, Client, resource_path
from kvtui.core import launcher_control, vm_actions
from kvtui.core.cluster_info import ClusterInfo, contexts, read_info, server_version
from kvtui.core.console_transport import Endpoint
from kvtui.core.filters import FilterError, RowFilter, sort_key
from kvtui.core.keymap import ACTIONS, Settings
from kvtui.core.model import ClusterModel
from kvtui.core.rows import (
    EVENT_COLUMNS,
    NAMESPACE_COLUMNS,
    POD_COLUMNS,
    VM_COLUMNS,
    VMI_COLUMNS,
    Row,
    event_row,
    namespace_row,
    pod_row,
    printable_status,
    vm_row,
    vmi_row,
)

from .commands import KvtuiCommands
from .messages import ActionDone, ListLoaded, ModelChanged, ServerVersion
from .widgets.header import ClusterHeader

CONTEXT_COLUMNS = ("NAME", "CLUSTER", "USER", "CURRENT")
VIEWS = {
    "vm": ("VirtualMachines", VM_COLUMNS),
    "vmi": ("VirtualMachineInstances", VMI_COLUMNS),
    "pods": ("Pods (virt-launcher)", POD_COLUMNS),
    "events": ("Events", EVENT_COLUMNS),
    "ns": ("Namespaces", NAMESPACE_COLUMNS),
    "ctx": ("Contexts", CONTEXT_COLUMNS),
}
ALIASES = {
    "vm": "vm", "vms": "vm", "virtualmachine": "vm", "virtualmachines": "vm",
    "vmi": "vmi", "vmis": "vmi", "virtualmachineinstance": "vmi", "virtualmachineinstances": "vmi",
    "po": "pods", "pod": "pods", "pods": "pods",
    "ev": "events", "event": "events", "events": "events",
    "ns": "ns", "namespace": "ns", "namespaces": "ns",
    "ctx": "ctx", "context": "ctx", "contexts": "ctx",
}
COMMANDS = sorted({*ALIASES, "q", "quit", "help", "readonly"})
STYLE_COLOURS = {"ok": "success", "progress": "accent", "warning": "warning", "error": "error"}
CONFIRM = {"stop": "Stop", "restart": "Restart", "force_stop": "Force stop", "delete": "Delete"}
FLASH_SECONDS = 1.0
COALESCE_SECONDS = 0.2   # watch events within this window repaint the table once


@dataclass
class Connection:
    """A working client and what the header says about it."""
    client: Client
    info: ClusterInfo = field(default_factory=ClusterInfo)


def api_message(exc: Exception) -> str:
    if isinstance(exc, APIError):
        if exc.status == 403:
            return f"forbidden: {exc.message}; ask an admin for the permission, or use another context (:ctx)"
        return exc.message or str(exc)
    return (f"cannot reach the API server ({type(exc).__name__}: {exc}); check that the cluster runs "
            "('kvtui cluster start') and try again")


class KvtuiApp(App):
    TITLE = "kvtui"
    COMMANDS = App.COMMANDS | {KvtuiCommands}
    CSS = """
    #crumbs { height: 1; background: $primary-background; color: $text; padding: 0 1; }
    #command { display: none; height: 3; }
    #command.open { display: block; }
    #table { height: 1fr; }
    """
    BINDINGS = [
        Binding("colon", "open_command(':')", ":cmd", key_display=":"),
        Binding("slash", "open_command('/')", "/filter", key_display="/"),
        Binding("escape", "back", "Back", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("0", "all_namespaces", "All ns", show=False),
        Binding("N", "sort('NAME')", "Sort name", show=False),
        Binding("A", "sort('AGE')", "Sort age", show=False),
        Binding("S", "sort('STATUS')", "Sort status", show=False),
        Binding("P", "sort('NAMESPACE')", "Sort namespace", show=False),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        *[Binding(a.key, f"vm_action('{a.name}')", a.name.replace("_", " ").capitalize(),
                  id=a.name, show=a.name in ("start", "stop", "console", "logs", "create")) for a in ACTIONS
          if a.name != "detail"],
    ]

    def __init__(self, connection: Connection | None, settings: Settings | None = None, *,
                 namespace: str | None = None, clock: Callable[[], datetime] | None = None,
                 watch: bool = True, model: ClusterModel | None = None, offer_embedded: bool = True,
                 endpoint_for: Callable[[Client, str, str], Endpoint] | None = None) -> None:
        super().__init__()
        self.endpoint_for = endpoint_for or launcher_control.endpoint_for_vm
        self.connection = connection
        self.settings = settings or Settings()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.watching = watch
        self.namespace = namespace
        self.model = model or ClusterModel(connection.client if connection else None)
        self.offer_embedded = offer_embedded
        self.view = "vm"
        self.history: list[str] = []
        self.row_filter = RowFilter()
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.marks: set[tuple[str, str]] = set()
        self.lists: dict[str, list[dict]] = {"events": [], "ns": [], "ctx": []}
        self._stop = threading.Event()
        self._dirty = False
        self._shown: list[tuple[str, str]] = []
        self._cells: dict[tuple[str, str], tuple[str, ...]] = {}
        self._flashing: dict[tuple[tuple[str, str], int], float] = {}
        self._command_mode = ":"
        self._offered = False
        self._unflash_armed = False
        self._row_cache: dict[tuple[str, str], tuple[tuple, Row]] = {}
        self._last_rows: dict[tuple[str, str], Row] = {}
        self._consoles = None
        self.first_full_list_at: float | None = None
        self.model.subscribe(lambda change: self.post_message(ModelChanged(change)))
        self.set_keymap({a.name: self.settings.keys[a.name] for a in ACTIONS if a.name != "detail"})

    # -- layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ClusterHeader(id="header")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=False)
        yield Input(id="command", suggester=SuggestFromList(COMMANDS, case_sensitive=False))
        yield Static(id="crumbs")
        yield Footer()

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self._show_view("vm", remember=False)
        self._update_header()
        if self.connection is None:
            from .screens.dialogs import NoClusterScreen
            self.push_screen(NoClusterScreen(offer_embedded=self.offer_embedded), self._connected)
            return
        self._start_watches()

    def _start_watches(self) -> None:
        if not self.watching or self.connection is None:
            return
        self._stop = self.model.start()
        self._fetch_version()

    def on_unmount(self) -> None:
        self._stop.set()

    @work(thread=True, exclusive=True, group="version", exit_on_error=False)
    def _fetch_version(self) -> None:
        if self.connection is not None:
            self.post_message(ServerVersion(server_version(self.connection.client)))

    def on_server_version(self, message: ServerVersion) -> None:
        if self.connection is not None:
            self.connection.info.server_version = message.version
        self._update_header()

    def _update_header(self) -> None:
        info = self.connection.info if self.connection else ClusterInfo()
        self.screen_stack[0].query_one(ClusterHeader).show(info, self.model.nodes_ready(), self.model.vms_running(),
                                          self.namespace, self.settings.read_only)

    # -- watches → table -----------------------------------------------------------------------------

    def on_model_changed(self, message: ModelChanged) -> None:
        change = message.change
        if change.kind == "problem":
            if not self.model.synced and not self._offered and "cannot reach" in change.message:
                from .screens.dialogs import NoClusterScreen
                self._offered = True   # the context does not work at all: offer the embedded cluster once
                self.push_screen(NoClusterScreen(change.message, self.offer_embedded), self._connected_or_stay)
                return
            self.notify(change.message, title="API problem", severity="error", timeout=8)
            return
        if change.kind == "recovered":
            self.notify(change.message, title="Connected")
            return
        if not self._dirty:   # coalesce a burst of watch events into one repaint
            self._dirty = True
            self.set_timer(COALESCE_SECONDS, self._flush)

    def _flush(self) -> None:
        self._dirty = False
        if not self.screen_stack or not self.screen_stack[0].query(ClusterHeader):
            return      # shutting down: the watches may still deliver a change or two
        self._update_header()
        self.refresh_table()
        follow = getattr(self.screen, "refresh_from_model", None)
        if follow is not None:
            follow()
        if self.first_full_list_at is None and {"vm", "vmi", "pod"} <= self.model.synced:
            self.first_full_list_at = time.perf_counter()

    def _items(self) -> list[tuple[Row, dict]]:
        now = self.clock()
        if self.view == "vm":
            return [(self._vm_row(e, now), e.vm) for e in self.model.entries()]
        if self.view == "vmi":
            return [(vmi_row(o, now), o) for o in self.model.objects("vmi")]
        if self.view == "pods":
            return [(pod_row(o, now), o) for o in self.model.objects("pod")]
        if self.view == "events":
            return [(event_row(o, now), o) for o in self.lists["events"]]
        if self.view == "ns":
            return [(namespace_row(o, now), o) for o in self.lists["ns"]]
        return [(Row(("", c["name"]), (c["name"], c["cluster"], c["user"], "*" if c["current"] else "")), c)
                for c in self.lists["ctx"]]

    def _vm_row(self, entry, now: datetime) -> Row:
        # Watch events replace objects, never mutate them: identical objects give identical rows, until
        # the AGE column moves on (rebuilt every 10 s at most).
        stamp = (id(entry.vm), id(entry.vmi), id(entry.pod), int(now.timestamp()) // 10)
        cached = self._row_cache.get(entry.key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        row = vm_row(entry.vm, entry.vmi, entry.pod, now)
        self._row_cache[entry.key] = (stamp, row)
        return row

    def visible_rows(self) -> list[Row]:
        rows = []
        for row, obj in self._items():
            if self.namespace and self.view in ("vm", "vmi", "pods", "events") and row.key[0] != self.namespace:
                continue
            labels = ((obj.get("metadata") or {}).get("labels")) or {}
            if self.row_filter.matches(row, labels):
                rows.append(row)
        columns = VIEWS[self.view][1]
        if self.sort_column in columns:
            i = columns.index(self.sort_column)
            rows.sort(key=lambda r: sort_key(self.sort_column, r.cells[i]), reverse=self.sort_reverse)
        elif self.view == "events":
            rows.reverse()     # newest first, as k9s shows them
        else:
            rows.sort(key=lambda r: r.key)
        return rows

    def _cell(self, row: Row, index: int, flash: bool) -> Text:
        value = row.cells[index]
        style = ""
        columns = VIEWS[self.view][1]
        if columns[index] in ("STATUS", "PHASE", "TYPE") and row.style:
            style = "dim" if row.style == "muted" else (getattr(self.current_theme, STYLE_COLOURS[row.style], "")
                                                        or "") if row.style in STYLE_COLOURS else ""
        if flash:
            style = f"{style} reverse".strip()
        return Text(value, style=style)

    def refresh_table(self) -> None:
        table = self.screen_stack[0].query_one("#table", DataTable)
        rows = self.visible_rows()
        self._last_rows = {r.key: r for r in rows}
        keys = [r.key for r in rows]
        now = time.monotonic()
        if keys != self._shown:
            selected = self.selected_key()
            table.clear()
            self._cells = {}
            for row in rows:
                mark = "●" if row.key in self.marks else " "
                table.add_row(mark, *[self._cell(row, i, False) for i in range(len(row.cells))],
                              key="/".join(row.key))
                self._cells[row.key] = row.cells
            self._shown = keys
            if selected in keys:
                table.move_cursor(row=keys.index(selected), animate=False)
        else:
            for row in rows:
                old = self._cells.get(row.key)
                if old == row.cells:
                    continue
                for i, value in enumerate(row.cells):
                    if old is not None and old[i] != value:
                        self._flashing[(row.key, i)] = now + FLASH_SECONDS
                        table.update_cell("/".join(row.key), f"c{i}", self._cell(row, i, True))
                self._cells[row.key] = row.cells
            if self._flashing and not self._unflash_armed:
                self._unflash_armed = True    # one timer for all flashing cells: each repaint of the table costs
                self.set_timer(FLASH_SECONDS, self._unflash)
        self._update_crumbs(len(rows))

    def _unflash(self) -> None:
        self._unflash_armed = False
        tables = self.screen_stack[0].query("#table") if self.screen_stack else []
        if not tables:
            return
        table = tables.first(DataTable)
        now = time.monotonic()
        rows = self._last_rows
        for (key, i), until in list(self._flashing.items()):
            if until <= now + COALESCE_SECONDS:
                del self._flashing[(key, i)]
                if key in rows and key in self._cells:
                    table.update_cell("/".join(key), f"c{i}", self._cell(rows[key], i, False))
        if self._flashing:
            self._unflash_armed = True
            self.set_timer(max(min(self._flashing.values()) - now, COALESCE_SECONDS), self._unflash)

    def _update_crumbs(self, count: int) -> None:
        trail = " > ".join(VIEWS[v][0] for v in [*self.history, self.view])
        parts = [trail, f"({count})", f"ns: {self.namespace or 'all'}"]
        if self.row_filter.text:
            parts.append(f"filter: {self.row_filter.text}")
        if self.sort_column:
            parts.append(f"sort: {self.sort_column}{' ↓' if self.sort_reverse else ' ↑'}")
        if self.marks:
            parts.append(f"marked: {len(self.marks)}")
        self.screen_stack[0].query_one("#crumbs", Static).update("  ".join(parts))

    def _show_view(self, view: str, remember: bool = True) -> None:
        if remember and view != self.view:
            self.history.append(self.view)
        self.view = view
        self.row_filter = RowFilter()
        self.sort_column = None
        table = self.query_one("#table", DataTable)
        table.clear(columns=True)
        table.add_column(" ", key="mark", width=1)
        for i, column in enumerate(VIEWS[view][1]):
            table.add_column(column, key=f"c{i}")
        self._shown = []
        if view in ("events", "ns", "ctx"):
            self._load_list(view)
        self.refresh_table()
        table.focus()

    # -- one-shot lists ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def _load_list(self, view: str) -> None:
        if view == "ctx":
            path = self.connection.info.kubeconfig if self.connection else ""
            names, current = contexts(path) if path else ([], "")
            items = []
            for name in names:
                info = read_info(path, name)
                items.append({"name": name, "cluster": info.cluster, "user": info.user, "current": name == current})
            self.post_message(ListLoaded(view, items))
            return
        if self.connection is None:
            return
        try:
            if view == "events":
                path = resource_path("", "v1", "events", self.namespace)
            else:
                path = resource_path("", "v1", "namespaces")
            self.post_message(ListLoaded(view, self.connection.client.get(path).get("items") or []))
        except Exception as exc:
            self.post_message(ActionDone("list", VIEWS[view][0], api_message(exc), ok=False))

    def on_list_loaded(self, message: ListLoaded) -> None:
        self.lists[message.view] = message.items
        if message.view == self.view:
            self.refresh_table()

    # -- selection -----------------------------------------------------------------------------------

    def selected_key(self) -> tuple[str, str] | None:
        table = self.query_one("#table", DataTable)
        if table.row_count == 0 or table.cursor_row < 0 or table.cursor_row >= table.row_count:
            return None
        row_key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value or ""
        ns, _, name = row_key.partition("/")
        return ns, name

    def targets(self) -> list[tuple[str, str]]:
        """The marked VMs, else the selected one."""
        if self.marks:
            return sorted(self.marks)
        key = self.selected_key()
        return [key] if key else []

    @on(DataTable.RowSelected, "#table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        key = self.selected_key()
        if key is None:
            return
        if self.view == "vm":
            self.open_detail(key)
        elif self.view == "vmi":
            self.open_detail(key)
        elif self.view == "ns":
            self.namespace = key[1]
            self._show_view("vm")
            self._update_header()
        elif self.view == "ctx":
            self.switch_context(key[1])

    @on(DataTable.HeaderSelected, "#table")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        if str(event.column_key.value).startswith("c"):
            self.action_sort(VIEWS[self.view][1][int(str(event.column_key.value)[1:])])

    # -- the command bar -----------------------------------------------------------------------------

    def action_open_command(self, mode: str) -> None:
        bar = self.query_one("#command", Input)
        self._command_mode = mode
        bar.placeholder = "view: vm, vmi, pods, events, ns, ctx (Tab completes)" if mode == ":" else \
            "filter: text, regex or -l label=selector"
        bar.value = self.row_filter.text if mode == "/" else ""
        bar.add_class("open")
        bar.border_title = mode
        bar.focus()

    def _close_command(self) -> None:
        bar = self.query_one("#command", Input)
        bar.remove_class("open")
        self.query_one("#table", DataTable).focus()

    def on_key(self, event) -> None:
        bar = self.query_one("#command", Input)
        if bar.has_focus and event.key == "tab" and bar._suggestion:
            bar.value = bar._suggestion
            bar.cursor_position = len(bar.value)
            event.stop()
            event.prevent_default()

    @on(Input.Submitted, "#command")
    def _command_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self._close_command()
        if self._command_mode == "/":
            self.apply_filter(text)
        else:
            self.run_command(text)

    def apply_filter(self, text: str) -> None:
        try:
            self.row_filter = RowFilter.parse(text)
        except FilterError as exc:
            self.notify(str(exc), title="Filter", severity="error")
            return
        self._shown = []
        self.refresh_table()

    def run_command(self, text: str) -> None:
        word, _, rest = text.partition(" ")
        word = word.lower()
        if word in ("q", "quit"):
            self.exit()
        elif word == "help":
            self.action_help()
        elif word in ALIASES:
            view = ALIASES[word]
            if view == "ctx" and rest:
                self.switch_context(rest.strip())
                return
            if rest and view in ("vm", "vmi", "pods", "events"):
                self.namespace = None if rest.strip() in ("all", "-A") else rest.strip()
                self._update_header()
            self._show_view(view)
        elif word:
            self.notify(f'unknown command ":{word}": use one of :vm, :vmi, :pods, :events, :ns, :ctx, :q',
                        title="Command", severity="error")

    # -- navigation ----------------------------------------------------------------------------------

    def action_back(self) -> None:
        if self.query_one("#command", Input).has_class("open"):
            self._close_command()
        elif self.row_filter.text:
            self.apply_filter("")
        elif self.history:
            self._show_view(self.history.pop(), remember=False)

    def action_help(self) -> None:
        from .screens.dialogs import HelpScreen
        self.push_screen(HelpScreen(self.settings))

    def action_all_namespaces(self) -> None:
        self.namespace = None
        self._shown = []
        self._update_header()
        self.refresh_table()

    def action_sort(self, column: str) -> None:
        if column not in VIEWS[self.view][1]:
            return
        self.sort_reverse = not self.sort_reverse if self.sort_column == column else False
        self.sort_column = column
        self._shown = []
        self.refresh_table()

    def action_refresh(self) -> None:
        if self.view in ("events", "ns", "ctx"):
            self._load_list(self.view)
        self._shown = []
        self.refresh_table()

    def switch_context(self, name: str) -> None:
        self._switch_context(name)

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def _switch_context(self, name: str) -> None:
        from kvtui.core.connection import NoCluster, connect
        path = self.connection.info.kubeconfig if self.connection else None
        try:
            client = connect(path, name)
            info = read_info(path or "", name)
        except NoCluster as exc:
            self.post_message(ActionDone("context", name, str(exc), ok=False))
            return
        self.call_from_thread(self._use_connection, Connection(client, info))
        self.post_message(ActionDone("context", name, f"switched to context {name}"))

    def _use_connection(self, connection: Connection) -> None:
        self._stop.set()
        self.connection = connection
        self.model = ClusterModel(connection.client)
        self.model.subscribe(lambda change: self.post_message(ModelChanged(change)))
        self._shown = []
        self._show_view("vm", remember=False)
        self._update_header()
        self._start_watches()

    def _connected_or_stay(self, connection: Connection | None) -> None:
        if connection is not None:
            self._use_connection(connection)

    def _connected(self, connection: Connection | None) -> None:
        if connection is None:
            self.exit(message="no cluster: run 'kvtui cluster start' or set KUBECONFIG, then start kvtui again")
            return
        self._use_connection(connection)

    # -- actions on VMs ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        from .widgets.console import SerialConsole
        if isinstance(self.focused, SerialConsole):
            return False     # every key belongs to the guest while a console has focus
        if action == "vm_action" and parameters and not self.settings.allowed(str(parameters[0])):
            return False     # hidden in read-only mode
        return True

    def action_vm_action(self, name: str) -> None:
        if not self.settings.allowed(name):
            self.notify(f"{name.replace('_', ' ')} is not available in read-only mode", severity="warning")
            return
        if name == "create":
            from .screens.dialogs import CreateVMScreen
            self.push_screen(CreateVMScreen(self.namespace or "default"))
            return
        if name == "create_yaml":
            from .screens.yaml_edit import YamlEditScreen
            self.push_screen(YamlEditScreen.for_create(self.namespace or "default"))
            return
        if name == "clear_marks":
            self.marks.clear()
            self._shown = []
            self.refresh_table()
            return
        if self.view not in ("vm", "vmi"):
            self.notify("this acts on VMs: open the VM list with :vm", severity="warning")
            return
        targets = self.targets()
        if not targets:
            self.notify("no VM selected", severity="warning")
            return
        if name == "mark":
            self.toggle_mark(self.selected_key())
            return
        if name == "console":
            self.open_console(targets[0])
            return
        if name in ("logs", "describe", "yaml"):
            self.open_detail(targets[0], tab=name)
            return
        if name == "passthrough":
            self.console_passthrough(targets[0])
            return
        if name in ("edit", "edit_external"):
            self.edit_vm(targets[0], external=name == "edit_external")
            return
        if name in CONFIRM:
            from .screens.dialogs import ConfirmScreen
            names = ", ".join(n for _, n in targets)
            question = f"{CONFIRM[name]} {'VMs' if len(targets) > 1 else 'VM'} {names}?"
            self.push_screen(ConfirmScreen(question, CONFIRM[name]),
                             lambda yes: self.run_vm_action(name, targets) if yes else None)
            return
        self.run_vm_action(name, targets)

    def toggle_mark(self, key: tuple[str, str] | None) -> None:
        if key is None:
            return
        self.marks.symmetric_difference_update({key})
        self._shown = []
        self.refresh_table()
        table = self.query_one("#table", DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)

    @work(thread=True, group="actions", exit_on_error=False)
    def run_vm_action(self, name: str, targets: list[tuple[str, str]]) -> None:
        client = self.connection.client if self.connection else None
        for namespace, vm in targets:
            try:
                message = perform(client, name, namespace, vm, self.model, self.endpoint_for)
            except (vm_actions.ActionError, launcher_control.LauncherError) as exc:
                self.post_message(ActionDone(name, vm, str(exc), ok=False))
            except Exception as exc:
                self.post_message(ActionDone(name, vm, api_message(exc), ok=False))
            else:
                self.post_message(ActionDone(name, vm, message))

    def on_action_done(self, message: ActionDone) -> None:
        if message.ok:
            self.notify(message.message, title=message.action.replace("_", " ").capitalize())
        else:
            self.notify(message.message, title=f"{message.action.replace('_', ' ').capitalize()} failed",
                        severity="error", timeout=10)
        if message.ok and message.action == "delete":
            self.marks.discard(next((k for k in self.marks if k[1] == message.target), ("", "")))

    def open_console(self, key: tuple[str, str]) -> None:
        from .screens.consoles import ConsolesScreen
        if self._consoles is None:
            self._consoles = ConsolesScreen()
        if self.screen is not self._consoles:
            self.push_screen(self._consoles)
        self._consoles.call_after_refresh(self._consoles.open, key)

    def open_detail(self, key: tuple[str, str], tab: str = "overview") -> None:
        from .screens.detail import DetailScreen
        self.push_screen(DetailScreen(key, tab))

    def edit_vm(self, key: tuple[str, str], external: bool = False) -> None:
        from .screens.yaml_edit import YamlEditScreen
        entry = self.model.entry(key)
        if entry is None:
            self.notify(f'VirtualMachine "{key[1]}" is gone', severity="warning")
            return
        screen = YamlEditScreen.for_edit(entry.vm)
        self.push_screen(screen)
        if external:
            screen.call_after_refresh(screen.action_external_editor)

    def console_passthrough(self, key: tuple[str, str]) -> None:
        from .passthrough import run_passthrough
        run_passthrough(self, key)


def perform(client: Client | None, name: str, namespace: str, vm: str, model: ClusterModel | None = None,
            endpoint_for: Callable[[Client, str, str], Endpoint] = launcher_control.endpoint_for_vm) -> str:
    """Run one VM action against the API (or the launcher); returns the message for the user."""
    if client is None:
        raise vm_actions.ActionError("not connected to a cluster")
    if name == "start":
        return vm_actions.start(client, namespace, vm)
    if name == "stop":
        return vm_actions.stop(client, namespace, vm)
    if name == "force_stop":
        return vm_actions.stop(client, namespace, vm, force=True)
    if name == "restart":
        return vm_actions.restart(client, namespace, vm)
    if name == "delete":
        client.delete(resource_path("kubevirt.io", "v1", "virtualmachines", namespace, vm))
        return f"VM {vm} was deleted"
    if name == "pause":
        entry = model.entry((namespace, vm)) if model else None
        paused = entry is not None and printable_status(entry.vm) == "Paused"
        verb = "unpause" if paused else "pause"
        launcher_control.act(endpoint_for(client, namespace, vm), verb, vm)
        return f"VM {vm} was scheduled to {verb}"
    raise vm_actions.ActionError(f"unknown action {name}")
