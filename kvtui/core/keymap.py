"""Key bindings and settings from `$XDG_CONFIG_HOME/kvtui/config.yaml`, with read-only mode.

    readOnly: true
    theme: nord
    keys:
      start: s
      console: a

Unknown actions or keys bound twice are reported with the file and the fix, never ignored."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Action:
    name: str
    key: str
    description: str
    dangerous: bool = False     # hidden and refused in read-only mode
    vm: bool = True             # acts on the selected VM(s)


ACTIONS = (
    Action("detail", "enter", "Open the VM's detail screen", vm=True),
    Action("start", "s", "Start the VM"),
    Action("stop", "t", "Stop the VM (graceful shutdown)", dangerous=True),
    Action("restart", "r", "Restart the VM", dangerous=True),
    Action("force_stop", "ctrl+k", "Force stop: the VMI goes at once, without waiting for the guest", dangerous=True),
    Action("pause", "p", "Pause or unpause the VM", dangerous=True),
    Action("delete", "ctrl+d", "Delete the VM (asks first)", dangerous=True),
    Action("console", "a", "Attach the serial console in the app"),
    Action("passthrough", "ctrl+o", "Full-screen console: the app steps aside until Ctrl+]"),
    Action("logs", "l", "Launcher pod logs"),
    Action("describe", "d", "Describe the VM"),
    Action("yaml", "y", "Show the VM's YAML"),
    Action("edit", "e", "Edit the VM's YAML in the app", dangerous=True),
    Action("edit_external", "E", "Edit the VM's YAML in $EDITOR", dangerous=True),
    Action("create", "c", "Create a VM from a form", dangerous=True, vm=False),
    Action("create_yaml", "C", "Create a VM from YAML", dangerous=True, vm=False),
    Action("mark", "space", "Mark the VM for a bulk action"),
    Action("clear_marks", "ctrl+backslash", "Clear all marks"),
)
ACTION_NAMES = {a.name for a in ACTIONS}


class ConfigError(Exception):
    """The config file is wrong; the message names the file, the entry and the fix."""


@dataclass
class Settings:
    keys: dict[str, str] = field(default_factory=lambda: {a.name: a.key for a in ACTIONS})
    read_only: bool = False
    theme: str = "textual-dark"
    path: Path | None = None

    def allowed(self, action: str) -> bool:
        spec = next((a for a in ACTIONS if a.name == action), None)
        return not (self.read_only and spec is not None and spec.dangerous)

    def visible_actions(self) -> list[Action]:
        return [Action(a.name, self.keys[a.name], a.description, a.dangerous, a.vm)
                for a in ACTIONS if self.allowed(a.name)]


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kvtui" / "config.yaml"


def load_settings(path: Path | None = None, read_only: bool | None = None) -> Settings:
    path = path or config_path()
    settings = Settings(path=path)
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc}); fix or remove the file") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping with keys, readOnly and theme")
        _apply(settings, data, path)
    if read_only is not None:
        settings.read_only = read_only
    return settings


def _apply(settings: Settings, data: dict, path: Path) -> None:
    settings.read_only = bool(data.get("readOnly", settings.read_only))
    settings.theme = str(data.get("theme", settings.theme))
    for action, key in (data.get("keys") or {}).items():
        if action not in ACTION_NAMES:
            raise ConfigError(f"{path}: keys.{action} is not an action; use one of " + ", ".join(sorted(ACTION_NAMES)))
        settings.keys[action] = str(key)
    seen: dict[str, str] = {}
    for action, key in settings.keys.items():
        if key in seen:
            raise ConfigError(f'{path}: key "{key}" is bound to both {seen[key]} and {action}; give one another key')
        seen[key] = action
