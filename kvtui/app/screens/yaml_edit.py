"""Edit a VM's YAML in the app (or in $EDITOR) and apply it; the API's validation errors are shown
per field, with the cursor on the offending line, and the edit is kept until it is accepted."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile

import yaml
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static, TextArea

from cluster.client import APIError, resource_path
from kvtui.core.field_errors import FieldError, field_errors
from kvtui.core.vm_templates import VMOptions, vm_manifest

from ..messages import ActionDone
from ..passthrough import resync_size


class YamlEditScreen(Screen[None]):
    DEFAULT_CSS = """
    YamlEditScreen #title { height: 1; background: $primary-background; padding: 0 1; }
    YamlEditScreen TextArea { height: 1fr; }
    YamlEditScreen #errors { height: auto; max-height: 8; color: $error; padding: 0 1; }
    """
    BINDINGS = [Binding("ctrl+s", "apply", "Apply"), Binding("escape", "close", "Cancel"),
                Binding("ctrl+e", "external_editor", "$EDITOR")]

    def __init__(self, text: str, namespace: str, name: str | None) -> None:
        super().__init__()
        self.text, self.namespace, self.vm_name = text, namespace, name
        self.errors: list[FieldError] = []

    @classmethod
    def for_edit(cls, vm: dict) -> YamlEditScreen:
        clean = {k: v for k, v in vm.items() if k != "status"}
        meta = {k: v for k, v in (clean.get("metadata") or {}).items() if k != "managedFields"}
        clean["metadata"] = meta
        return cls(yaml.safe_dump(clean, sort_keys=False), meta.get("namespace", "default"), meta.get("name"))

    @classmethod
    def for_create(cls, namespace: str) -> YamlEditScreen:
        manifest = vm_manifest(VMOptions(name="my-vm", namespace=namespace))
        return cls(yaml.safe_dump(manifest, sort_keys=False), namespace, None)

    def compose(self) -> ComposeResult:
        what = f"Edit VirtualMachine {self.namespace}/{self.vm_name}" if self.vm_name else \
            f"Create a VirtualMachine in {self.namespace} from YAML"
        with Vertical():
            yield Static(f"{what} — ctrl+s applies, ctrl+e opens $EDITOR, esc cancels", id="title")
            yield TextArea(self.text, id="yaml", show_line_numbers=True, tab_behavior="indent")
            yield Static("", id="errors")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#yaml", TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_apply(self) -> None:
        text = self.query_one("#yaml", TextArea).text
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line if mark is not None else None
            self.show_errors([FieldError("", f"not valid YAML: {getattr(exc, 'problem', exc)}", line)])
            return
        if not isinstance(doc, dict) or doc.get("kind") != "VirtualMachine":
            self.show_errors([FieldError("kind", "the document must be one VirtualMachine (kind: VirtualMachine)",
                                         0)])
            return
        self._apply(doc, text)

    @work(thread=True, exclusive=True, group="apply", exit_on_error=False)
    def _apply(self, doc: dict, text: str) -> None:
        from ..main import api_message
        meta = doc.setdefault("metadata", {})
        namespace = meta.setdefault("namespace", self.namespace)
        name = meta.get("name", "")
        client = self.app.connection.client
        try:
            if self.vm_name:
                client.replace(resource_path("kubevirt.io", "v1", "virtualmachines", namespace, self.vm_name), doc)
                done = f"virtualmachine.kubevirt.io/{name} edited"
            else:
                client.create(resource_path("kubevirt.io", "v1", "virtualmachines", namespace), doc)
                done = f"virtualmachine.kubevirt.io/{name} created"
        except APIError as exc:
            errors = field_errors(exc.message, text) if exc.status == 422 else [FieldError("", api_message(exc), None)]
            if exc.status == 409:
                errors = [FieldError("", f"{exc.message}; someone changed the VM meanwhile: copy your edit, "
                                         "reopen the editor and apply again", None)]
            self.app.call_from_thread(self.show_errors, errors)
            self.app.post_message(ActionDone("edit" if self.vm_name else "create", name, exc.message, ok=False))
            return
        except Exception as exc:
            self.app.call_from_thread(self.show_errors, [FieldError("", api_message(exc), None)])
            return
        self.app.post_message(ActionDone("edit" if self.vm_name else "create", name, done))
        self.app.call_from_thread(self.dismiss, None)

    def show_errors(self, errors: list[FieldError]) -> None:
        self.errors = errors
        lines = []
        for e in errors:
            where = f"line {e.line + 1}: " if e.line is not None else ""
            lines.append(f"{where}{e.field + ': ' if e.field else ''}{e.message}")
        self.query_one("#errors", Static).update("\n".join(lines))
        area = self.query_one("#yaml", TextArea)
        first = next((e.line for e in errors if e.line is not None), None)
        if first is not None:
            area.move_cursor((first, 0))
        area.focus()

    def action_external_editor(self) -> None:
        area = self.query_one("#yaml", TextArea)
        editor = os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi"
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="kvtui-", delete=False) as f:
            f.write(area.text)
            path = f.name
        try:
            with self.app.suspend():
                result = subprocess.run([*shlex.split(editor), path])
            resync_size(self.app)
            if result.returncode != 0:
                self.notify(f"{editor} exited with {result.returncode}; the edit was not applied", severity="warning")
                return
            with open(path) as f:
                area.text = f.read()
        except (OSError, subprocess.SubprocessError) as exc:
            self.notify(f"cannot run the editor {editor!r}: {exc}; set $EDITOR", severity="error")
            return
        finally:
            os.unlink(path)
        self.action_apply()
