"""The whole domain: the seed VM and the kernelBoot demo end to end, and XML safety."""

import xml.etree.ElementTree as ET

import pytest

from launcher.domain import DiskImage, SpecError, build_domain, domain_xml

from .conftest import seed_context


def test_seed_vmi_domain(seed_vmi, seed_ctx, golden):
    golden("domain_seed", build_domain(seed_vmi, seed_ctx))


def test_kernel_boot_demo_domain_under_tcg(demo_vmi, demo_ctx, golden):
    golden("domain_kernel_boot_demo", build_domain(demo_vmi, demo_ctx))


def test_domain_xml_is_a_parseable_document(seed_vmi, seed_ctx):
    parsed = ET.fromstring(domain_xml(seed_vmi, seed_ctx))
    assert parsed.get("type") == "kvm"
    assert parsed.findtext("name") == "default_testvm"
    assert parsed.findtext("memory") == "2048000000"


def test_xml_characters_everywhere_round_trip(seed_vmi):
    text = "<x & 'y' ]]>"
    seed_vmi["metadata"]["namespace"] = f"ns{text}"
    seed_vmi["metadata"]["labels"] = {"note": text}
    path = "/images/<vm> & 'disk'.img"
    ctx = seed_context(disk_paths={"disk0": DiskImage(path)}, console_log="/run/log/<a&b>'")
    parsed = ET.fromstring(domain_xml(seed_vmi, ctx))
    assert parsed.findtext("name") == f"ns{text}_testvm"
    assert parsed.findtext("title") == f"ns{text}/testvm"
    assert parsed.find("devices/disk/source").get("file") == path
    assert parsed.find("devices/serial/log").get("file") == "/run/log/<a&b>'"
    assert [label.text for label in parsed.iter() if label.tag.endswith("}label")] == [text]


def test_control_character_in_a_name_never_reaches_the_xml(seed_vmi, seed_ctx):
    seed_vmi["metadata"]["name"] = "vm\x1b[31m"
    with pytest.raises(SpecError, match=r"^metadata.name: must not contain control characters"):
        domain_xml(seed_vmi, seed_ctx)


@pytest.mark.parametrize("field", ["ioThreadsPolicy", "launchSecurity", "chassis"])
def test_unsupported_domain_fields_are_refused(seed_vmi, seed_ctx, field):
    seed_vmi["spec"]["domain"][field] = {}
    with pytest.raises(SpecError) as caught:
        build_domain(seed_vmi, seed_ctx)
    assert str(caught.value) == f"spec.domain.{field}: not supported by this launcher: remove it"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["devices"]["disks"][0]["disk"].update(bus="ide"), "spec.domain.devices.disks[0].disk.bus"),
        (lambda d: d.update(memory={"guest": "1Mi"}), "spec.domain.memory.guest"),
        (lambda d: d["cpu"].update(model="486"), "spec.domain.cpu.model"),
        (lambda d: d.update(machine={"type": "isapc"}), "spec.domain.machine.type"),
        (lambda d: d["devices"].update(tpm={}), "spec.domain.devices.tpm"),
    ],
)
def test_each_spec_error_names_its_field(seed_vmi, seed_ctx, change, field):
    change(seed_vmi["spec"]["domain"])
    with pytest.raises(SpecError) as caught:
        build_domain(seed_vmi, seed_ctx)
    assert caught.value.field == field
