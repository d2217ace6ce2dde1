"""SpecError and the readers that turn bad VMI values into it."""

import pytest

from launcher.domain.errors import SpecError, as_int, choice, reject_unsupported, xml_path, xml_text


def test_spec_error_names_the_field_then_the_fix():
    error = SpecError("spec.domain.devices.disks[1].disk.bus",
                      'unsupported value "ide": supported values: "virtio", "sata", "scsi", "usb"')
    assert str(error) == ('spec.domain.devices.disks[1].disk.bus: unsupported value "ide": '
                          'supported values: "virtio", "sata", "scsi", "usb"')
    assert error.field == "spec.domain.devices.disks[1].disk.bus"
    assert isinstance(error, ValueError)


def test_choice_lists_the_supported_values():
    with pytest.raises(SpecError) as caught:
        choice("ide", "f", ("virtio", "sata"))
    assert caught.value.message == 'unsupported value "ide": supported values: "virtio", "sata"'


def test_unknown_field_is_refused_not_ignored():
    with pytest.raises(SpecError) as caught:
        reject_unsupported({"model": "x", "gpus": []}, "spec.domain.devices", ("model",))
    assert str(caught.value) == "spec.domain.devices.gpus: not supported by this launcher: remove it"


def test_booleans_are_not_integers():
    with pytest.raises(SpecError, match=r"^f: must be an integer, not true$"):
        as_int(True, "f")


@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "a\x1bb", "a\x7fb", "a\x85b"])
def test_control_characters_are_refused(bad):
    with pytest.raises(SpecError, match="must not contain control characters"):
        xml_text(bad, "metadata.name")


def test_xml_special_characters_are_kept_for_escaping():
    assert xml_text("<a & 'b'> ]]>", "f") == "<a & 'b'> ]]>"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/images/a]]>b.img", 'must not contain "]]>": rename "/images/a]]>b.img"'),
        ("/images/a\x00b.img", 'must not contain control characters (found "\\u0000" in "/images/a\\u0000b.img")'),
        ("images/a.img", 'must be an absolute path, not "images/a.img"'),
    ],
)
def test_paths_refuse_cdata_end_nul_and_relative(path, message):
    with pytest.raises(SpecError) as caught:
        xml_path(path, "spec.volumes[0].hostDisk.path")
    assert caught.value.message == message
