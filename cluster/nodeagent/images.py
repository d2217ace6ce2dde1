"""The image map: what a container image means on this machine, which has no container runtime.

A YAML file (`--image-map FILE`) lists entries tried in order before the built-in ones:

    images:
      - image: "kvtui/launcher:*"            # fnmatch pattern on the image reference
        entrypoint: ["{python}", "-m", "launcher"]   # the program; the container's args follow it
        env: {PYTHONPATH: "{repo}"}
      - image: "local/host"                  # no entrypoint: the container's command and args as given

`{python}` is this interpreter and `{repo}` the directory holding the kvtui sources.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BUILT_IN: list[dict] = [
    {"image": "kvtui/launcher", "entrypoint": ["{python}", "-m", "launcher"], "env": {"PYTHONPATH": "{repo}"}},
    {"image": "kvtui/launcher:*", "entrypoint": ["{python}", "-m", "launcher"], "env": {"PYTHONPATH": "{repo}"}},
    {"image": "local/host"},
    {"image": "local/host:*"},
]


class ImageNotLocal(Exception):
    """The image has no local meaning; the message names the image and where to map it."""


class ImageMapError(Exception):
    """The map file cannot be used; the message says which entry is wrong and how."""


@dataclass(frozen=True)
class LocalImage:
    reference: str
    entrypoint: tuple[str, ...] | None
    env: dict[str, str] = field(default_factory=dict)
    image_id: str = ""

    def argv(self, command: list[str] | None, args: list[str] | None) -> list[str]:
        """The process to run, with Kubernetes' rule: the container's command replaces the image's
        entrypoint; its args follow whichever runs."""
        if command:
            return [*command, *(args or [])]
        if self.entrypoint is not None:
            return [*self.entrypoint, *(args or [])]
        return [*(args or [])]


def _expand(text: str) -> str:
    return text.replace("{python}", sys.executable).replace("{repo}", str(REPO_ROOT))


class ImageMap:
    def __init__(self, path: Path | None = None):
        self.path = path
        entries = list(BUILT_IN)
        if path is not None:
            entries = self._load(path) + entries
        self.entries = entries

    @staticmethod
    def _load(path: Path) -> list[dict]:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ImageMapError(f"cannot read the image map {path}: {exc}") from exc
        entries = doc.get("images") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise ImageMapError(f"{path}: expected a top-level 'images:' list of {{image, entrypoint, env}} entries")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
                raise ImageMapError(f"{path}: images[{index}] needs an 'image' pattern (a string)")
            entrypoint = entry.get("entrypoint")
            if entrypoint is not None and (not isinstance(entrypoint, list) or not entrypoint
                                           or not all(isinstance(a, str) for a in entrypoint)):
                raise ImageMapError(f"{path}: images[{index}].entrypoint must be a non-empty list of strings")
            if not isinstance(entry.get("env") or {}, dict):
                raise ImageMapError(f"{path}: images[{index}].env must be a mapping of names to values")
        return entries

    def resolve(self, image: str) -> LocalImage:
        for entry in self.entries:
            if fnmatch.fnmatchcase(image, entry["image"]):
                entrypoint = entry.get("entrypoint")
                env = {str(k): _expand(str(v)) for k, v in (entry.get("env") or {}).items()}
                digest = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
                return LocalImage(image, tuple(_expand(a) for a in entrypoint) if entrypoint else None, env,
                                  f"{image.split(':')[0]}@sha256:{digest}")
        where = f"the image map {self.path}" if self.path else "the built-in image map (give one with --image-map FILE)"
        raise ImageNotLocal(f'image "{image}" has no local meaning on this node: add it to {where}, or use '
                            f'image "local/host" to run the container\'s command as given')
