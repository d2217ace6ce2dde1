"""Domain identity: name, UUID, title and the kvtui metadata block."""

import xml.etree.ElementTree as ET

import pytest

from launcher.domain import SpecError
from launcher.domain.metadata import KVTUI_XMLNS, build_identity, domain_name


def test_seed_identity(seed_vmi, seed_ctx, golden):
    golden("metadata_seed", build_identity(seed_vmi, seed_ctx))


def test_name_is_namespace_underscore_name(seed_vmi):
    seed_vmi["metadata"]["namespace"] = "prod"
    assert domain_name(seed_vmi) == "prod_testvm"


def test_missing_namespace_means_default(seed_vmi):
    del seed_vmi["metadata"]["namespace"]
    assert domain_name(seed_vmi) == "default_testvm"


def test_firmware_uuid_wins_over_the_launcher_uuid(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["firmware"] = {"uuid": "5D307CA9-B3EF-428C-8861-06E72D69F223"}
    uuid = build_identity(seed_vmi, seed_ctx)[1]
    assert uuid.text == "5d307ca9-b3ef-428c-8861-06e72d69f223"


def test_malformed_firmware_uuid(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["firmware"] = {"uuid": "not-a-uuid"}
    with pytest.raises(SpecError) as caught:
        build_identity(seed_vmi, seed_ctx)
    assert str(caught.value) == ('spec.domain.firmware.uuid: must be a UUID like '
                                 '"5d307ca9-b3ef-428c-8861-06e72d69f223", not "not-a-uuid"')


def test_missing_name(seed_vmi, seed_ctx):
    del seed_vmi["metadata"]["name"]
    with pytest.raises(SpecError, match=r"^metadata.name: required: the VirtualMachineInstance has no name$"):
        build_identity(seed_vmi, seed_ctx)


def test_slash_in_name_is_refused(seed_vmi, seed_ctx):
    seed_vmi["metadata"]["name"] = "a/b"
    with pytest.raises(SpecError, match=r'^metadata.name: must not contain "/": "a/b"$'):
        build_identity(seed_vmi, seed_ctx)


@pytest.mark.parametrize("text", ["<vm>", "it's", "a&b", "x]]>y", '"q"'])
def test_names_and_labels_with_xml_characters_round_trip(seed_vmi, seed_ctx, text):
    seed_vmi["metadata"]["name"] = f"vm{text}"
    seed_vmi["metadata"]["labels"] = {f"key{text}": f"value{text}"}
    root = ET.Element("domain")
    root.extend(build_identity(seed_vmi, seed_ctx))
    parsed = ET.fromstring(ET.tostring(root, encoding="unicode"))
    assert parsed.findtext("name") == f"default_vm{text}"
    label = parsed.find(f"metadata/{{{KVTUI_XMLNS}}}instance/{{{KVTUI_XMLNS}}}labels/{{{KVTUI_XMLNS}}}label")
    assert label.get("key") == f"key{text}"
    assert label.text == f"value{text}"


def test_control_character_in_label_value(seed_vmi, seed_ctx):
    seed_vmi["metadata"]["labels"] = {"app": "a\x01b"}
    with pytest.raises(SpecError) as caught:
        build_identity(seed_vmi, seed_ctx)
    assert str(caught.value) == ('metadata.labels["app"]: must not contain control characters '
                                 '(found "\\u0001" in "a\\u0001b")')
