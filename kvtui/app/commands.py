"""The command palette (Ctrl+P): every action and view, searchable by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

VIEW_COMMANDS = (("vm", "Show VirtualMachines"), ("vmi", "Show VirtualMachineInstances"),
                 ("pods", "Show launcher pods"), ("events", "Show events"), ("ns", "Choose a namespace"),
                 ("ctx", "Choose a kubeconfig context"))


class KvtuiCommands(Provider):
    def _entries(self) -> list[tuple[str, str, object]]:
        from kvtui.core.keymap import ACTIONS
        app = self.app
        entries: list[tuple[str, str, object]] = []
        for action in ACTIONS:
            if action.name == "detail" or not app.settings.allowed(action.name):
                continue
            label = f"{action.description} [{app.settings.keys[action.name]}]"
            entries.append((label, action.name, partial(app.action_vm_action, action.name)))
        for view, text in VIEW_COMMANDS:
            entries.append((f"{text} [:{view}]", view, partial(app.run_command, view)))
        entries.append(("Show all namespaces [0]", "all", app.action_all_namespaces))
        entries.append(("Help: every key binding [?]", "help", app.action_help))
        return entries

    async def discover(self) -> Hits:
        for label, help_text, callback in self._entries():
            yield DiscoveryHit(label, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._entries():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)
