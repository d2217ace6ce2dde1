"""Modal dialogs: confirm, help, the create-VM form, and the no-cluster offer to start the embedded one."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from cluster.client import resource_path
from kvtui.core.keymap import ACTIONS, Settings
from kvtui.core.vm_templates import VMOptions, vm_manifest

from ..messages import ActionDone

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 72; height: auto; max-height: 90%; border: thick $primary; background: $surface;
    padding: 1 2; }}
{name} .buttons {{ height: auto; margin-top: 1; align-horizontal: right; }}
{name} Button {{ margin-left: 1; }}
{name} .error {{ color: $error; height: auto; }}
"""

GLOBAL_KEYS = (
    (":", "command: :vm :vmi :pods :events :ns :ctx :q (Tab completes)"),
    ("/", "filter rows: text, regex or -l label=selector"),
    ("esc", "back: close the bar, clear the filter, previous view, leave a screen"),
    ("0", "all namespaces"),
    ("N A S P", "sort by name, age, status, namespace (again: reverse)"),
    ("ctrl+r", "refresh"),
    ("ctrl+p", "command palette: every action"),
    ("?", "this help"),
    ("ctrl+q", "quit"),
)


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmScreen")
    BINDINGS = [Binding("escape", "dismiss(False)", "Cancel"), Binding("y", "dismiss(True)", "Yes")]

    def __init__(self, question: str, verb: str) -> None:
        super().__init__()
        self.question, self.verb = question, verb

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="no")
                yield Button(self.verb, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = DIALOG_CSS.format(name="HelpScreen")
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        lines = ["[b]Global[/b]"] + [f"  {k:<10} {v}" for k, v in GLOBAL_KEYS]
        lines += ["", "[b]VM actions[/b]" + ("  (read-only mode: dangerous ones hidden)" if self.settings.read_only
                                              else "")]
        lines += [f"  {self.settings.keys[a.name]:<10} {a.description}" for a in ACTIONS
                  if self.settings.allowed(a.name)]
        lines += ["", "[b]Console[/b]", "  every key goes to the guest; ctrl+] detaches; r reconnects"]
        with Vertical():
            with VerticalScroll():
                yield Static(Text.from_markup("\n".join(lines)), id="help-text")


class NoClusterScreen(ModalScreen["object | None"]):
    """Shown when no kubeconfig context works: offer the embedded cluster."""
    DEFAULT_CSS = DIALOG_CSS.format(name="NoClusterScreen")

    def __init__(self, reason: str = "", offer_embedded: bool = True) -> None:
        super().__init__()
        self.reason, self.offer_embedded = reason, offer_embedded

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("No cluster could be reached.", id="title")
            yield Static(self.reason or "No --kubeconfig, $KUBECONFIG or ~/.kube/config works.", id="reason")
            yield Static("", id="progress", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Quit", id="quit")
                if self.offer_embedded:
                    yield Button("Start the embedded cluster", id="start", variant="primary")

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        self.query_one("#progress", Static).update("starting the embedded cluster …")
        self._start_embedded()

    @work(thread=True, exclusive=True, group="embedded", exit_on_error=False)
    def _start_embedded(self) -> None:
        from cluster.embedded import ClusterError, EmbeddedCluster
        from kvtui.core.cluster_info import read_info
        from kvtui.core.connection import connect

        from ..main import Connection
        try:
            status = EmbeddedCluster().start(port=0)
            client = connect(str(status.kubeconfig))
        except (ClusterError, Exception) as exc:   # show any failure: this dialog is the user's way out
            self.app.call_from_thread(self.query_one("#progress", Static).update,
                                      f"could not start it: {exc}; see 'kvtui cluster status'")
            return
        self.app.call_from_thread(self.dismiss, Connection(client, read_info(str(status.kubeconfig))))


IMAGES = [("demo (built-in guest)", "demo"), ("containerDisk", "containerdisk"), ("hostDisk", "hostdisk")]


def _field(label: str, widget) -> ComposeResult:
    with Horizontal(classes="field"):
        yield Label(label)
        yield widget


class CreateVMScreen(ModalScreen[None]):
    """The create form: name, image, cpu, memory, cloud-init user data, SSH key."""
    DEFAULT_CSS = DIALOG_CSS.format(name="CreateVMScreen") + """
    CreateVMScreen .field { height: 1; margin-bottom: 0; }
    CreateVMScreen .field Label { width: 12; }
    CreateVMScreen .field Input, CreateVMScreen .field Select { width: 1fr; }
    CreateVMScreen #fields { height: auto; max-height: 16; }
    CreateVMScreen TextArea { height: 4; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Cancel"), Binding("ctrl+s", "create", "Create")]

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.namespace = namespace

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Create a VirtualMachine[/b] in namespace {self.namespace}")
            with VerticalScroll(id="fields"):
                yield from _field("Name", Input(placeholder="lower-case name", id="name", compact=True))
                yield from _field("Image", Select(IMAGES, value="demo", allow_blank=False, id="image", compact=True))
                yield from _field("Image ref", Input(placeholder="containerDisk image or hostDisk path",
                                                     id="image-ref", compact=True))
                yield from _field("vCPUs", Input(value="1", id="cpu", type="integer", compact=True))
                yield from _field("Memory", Input(value="128Mi", id="memory", compact=True))
                yield from _field("SSH key", Input(placeholder="ssh-ed25519 AAAA…", id="ssh-key", compact=True))
                yield Label("cloud-init user data (optional)")
                yield TextArea(id="user-data", compact=True)
            yield Static("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Create", id="create", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def options(self) -> VMOptions:
        image = str(self.query_one("#image", Select).value)
        ref = self.query_one("#image-ref", Input).value.strip()
        if image != "demo":
            if not ref:
                raise ValueError(f"{image}: give the {'image reference' if image == 'containerdisk' else 'host path'}"
                                 " in the field under the image choice")
            image = f"{image}:{ref}"
        cpu_text = self.query_one("#cpu", Input).value.strip() or "1"
        if not cpu_text.isdigit():
            raise ValueError(f'cpu "{cpu_text}" is not valid: give a whole number of vCPUs such as 2')
        key = self.query_one("#ssh-key", Input).value.strip()
        user_data = self.query_one("#user-data", TextArea).text.strip() or None
        return VMOptions(name=self.query_one("#name", Input).value.strip(), image=image, cpu=int(cpu_text),
                         memory=self.query_one("#memory", Input).value.strip(), ssh_keys=[key] if key else [],
                         user_data=user_data, namespace=self.namespace)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#create")
    def action_create(self) -> None:
        try:
            manifest = vm_manifest(self.options())
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.query_one("#error", Static).update("")
        self._create(manifest)

    @work(thread=True, exclusive=True, group="create", exit_on_error=False)
    def _create(self, manifest: dict) -> None:
        from ..main import api_message
        name = manifest["metadata"]["name"]
        try:
            self.app.connection.client.create(
                resource_path("kubevirt.io", "v1", "virtualmachines", self.namespace), manifest)
        except Exception as exc:
            self.app.call_from_thread(self.query_one("#error", Static).update, api_message(exc))
            self.app.post_message(ActionDone("create", name, api_message(exc), ok=False))
            return
        self.app.post_message(ActionDone("create", name, f"virtualmachine.kubevirt.io/{name} created"))
        self.app.call_from_thread(self.dismiss, None)
