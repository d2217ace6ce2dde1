"""`python -m launcher --vmi FILE`: the VMI file, YAML or JSON."""

from __future__ import annotations

import json
import sys

import pytest

from launcher.__main__ import UsageError, load_vmi_file

VMI = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": "a"}}


def test_json_is_read_without_the_yaml_parser(tmp_path, monkeypatch) -> None:
    path = tmp_path / "vmi.json"
    path.write_text(json.dumps(VMI))
    monkeypatch.setitem(sys.modules, "yaml", None)  # importing yaml now raises ImportError
    vmi = load_vmi_file(path)
    assert vmi["metadata"]["name"] == "a"
    assert vmi["metadata"]["namespace"] == "default"
    assert vmi["metadata"]["uid"]


def test_yaml_is_read(tmp_path) -> None:
    path = tmp_path / "vmi.yaml"
    path.write_text("kind: VirtualMachineInstance\nmetadata:\n  name: b\n  namespace: team\n")
    assert load_vmi_file(path)["metadata"]["namespace"] == "team"


@pytest.mark.parametrize(("name", "text", "message"), [
    ("vmi.json", "{not json", "cannot read the VMI from"),
    ("vmi.yaml", "a: [unclosed", "cannot read the VMI from"),
    ("vmi.json", '{"kind": "Pod"}', "must hold one VirtualMachineInstance"),
])
def test_bad_files_are_named(tmp_path, name, text, message) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        load_vmi_file(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(UsageError, match="cannot read the VMI from .*missing.json"):
        load_vmi_file(tmp_path / "missing.json")
