"""The image map: what a container image means on this machine, which has no container runtime.

A YAML file (`--image-map FILE`) lists entries tried in order before the built-in ones:

    images:
      - image: "kvtui/launcher:*"            # fnmatch pattern on the image reference
        entrypoint: ["{python}", "-OO", "-m", "launcher"]   # the program; the container's args follow it
        env: {PYTHONPATH: "{repo}"}
        preload: launcher.preload            # optional, with an entrypoint "{python} [-O|-OO] -m MODULE" only
      - image: "local/host"                  # no entrypoint: the container's command and args as given

`{python}` is this interpreter and `{repo}` the directory holding the kvtui sources. `preload` names a
module the node's fork server imports once (with PYTHONPATH from `env`), so that a container running
the entry point's module starts from those imports instead of a new interpreter (see shim.py). The
fork server runs at one optimisation level (-O, -OO or neither), the first preload entry's: entries
at another level are not preloaded, and their containers start new interpreters.

The launcher runs as `python -OO`: without docstrings every launcher pod keeps some 2 MiB less
resident.
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
_LAUNCHER = {"entrypoint": ["{python}", "-OO", "-m", "launcher"], "env": {"PYTHONPATH": "{repo}"},
             "preload": "launcher.preload"}
BUILT_IN: list[dict] = [
    {"image": "kvtui/launcher", **_LAUNCHER},
    {"image": "kvtui/launcher:*", **_LAUNCHER},
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


_OPTIMIZE_FLAGS = {"-O": 1, "-OO": 2}


def _python_module(entrypoint: object) -> tuple[str, int] | None:
    """(MODULE, optimisation level) when the entrypoint is ["{python}", "-m", MODULE], or that with
    -O or -OO before the -m."""
    if not isinstance(entrypoint, list) or not entrypoint or entrypoint[0] != "{python}":
        return None
    level = _OPTIMIZE_FLAGS.get(entrypoint[1]) if len(entrypoint) == 4 else 0
    if level is None or len(entrypoint) != 3 + (level > 0) or entrypoint[-2] != "-m":
        return None
    return (entrypoint[-1], level) if isinstance(entrypoint[-1], str) else None


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
            preload = entry.get("preload")
            if preload is not None:
                if not isinstance(preload, str) or not preload:
                    raise ImageMapError(f"{path}: images[{index}].preload must be a module name (a string)")
                if _python_module(entrypoint) is None:
                    raise ImageMapError(f'{path}: images[{index}].preload needs an entrypoint of the form '
                                        f'["{{python}}", "-m", MODULE] (or with "-O" or "-OO" before "-m"); '
                                        'remove preload or change the entrypoint')
        return entries

    def fork_server_modules(self) -> tuple[list[str], list[str], list[str], int]:
        """What the fork server needs: (modules to preload, entry-point modules to run in-process,
        directories for sys.path, optimisation level), from the entries that name `preload` and
        run at the first such entry's level."""
        preload: list[str] = []
        modules: list[str] = []
        paths: list[str] = []
        optimize: int | None = None
        for entry in self.entries:
            program = _python_module(entry.get("entrypoint"))
            if not entry.get("preload") or program is None:
                continue
            module, level = program
            if optimize is None:
                optimize = level
            elif level != optimize:
                continue
            for value, into in ((entry["preload"], preload), (module, modules)):
                if value not in into:
                    into.append(value)
            python_path = _expand(str((entry.get("env") or {}).get("PYTHONPATH", "")))
            paths += [p for p in python_path.split(":") if p and p not in paths]
        return preload, modules, paths, optimize or 0

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
