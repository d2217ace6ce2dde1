"""Messages the app's workers post back to the UI (harlequin-style: tests assert on them)."""

from __future__ import annotations

from textual.message import Message

from kvtui.core.model import Change


class ModelChanged(Message):
    """A watch delivered a change (or a problem, or recovered)."""

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change


class ActionDone(Message):
    """An action on a VM finished: `ok` False means `message` explains the failure and the fix."""

    def __init__(self, action: str, target: str, message: str, ok: bool = True) -> None:
        super().__init__()
        self.action, self.target, self.message, self.ok = action, target, message, ok


class ListLoaded(Message):
    """A one-shot list for the events, namespaces or contexts view."""

    def __init__(self, view: str, items: list[dict]) -> None:
        super().__init__()
        self.view, self.items = view, items


class ServerVersion(Message):
    def __init__(self, version: str) -> None:
        super().__init__()
        self.version = version
