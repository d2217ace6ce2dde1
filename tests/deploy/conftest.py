"""What the deploy tests share: the manifests as `kubectl kustomize` renders them, and lookups in them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"


def kustomize(directory: Path) -> list[dict]:
    proc = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True)
    assert proc.returncode == 0, f"kubectl kustomize {directory} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def find(objects: list[dict], kind: str, name: str, namespace: str | None = None) -> dict:
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == kind and meta.get("name") == name and (namespace is None or
                                                                    meta.get("namespace") == namespace):
            return obj
    raise AssertionError(f"{kind} {name} is not in the rendered manifests")


def rule_set(role: dict) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """(group, resource[/subresource], verb, resourceNames) for every verb a Role/ClusterRole grants."""
    out = set()
    for rule in role.get("rules") or []:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for verb in rule.get("verbs") or []:
                    out.add((group, resource, verb, tuple(sorted(rule.get("resourceNames") or []))))
    return out


@pytest.fixture(scope="session")
def manifests() -> list[dict]:
    return kustomize(MANIFESTS)


@pytest.fixture(scope="session")
def config() -> list[dict]:
    return kustomize(MANIFESTS / "config")
