"""The serial console: a unix socket QEMU listens on, logged to a file."""

import xml.etree.ElementTree as ET

from launcher.domain.console import build_serial_console

from .conftest import seed_context


def test_seed_serial_console(seed_vmi, seed_ctx, golden):
    golden("console_seed", build_serial_console(seed_vmi, seed_ctx))


def test_no_console_when_autoattach_is_false(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["autoattachSerialConsole"] = False
    assert build_serial_console(seed_vmi, seed_ctx) == []


def test_log_serial_console_false_drops_the_log(seed_vmi, seed_ctx):
    seed_vmi["spec"]["domain"]["devices"]["logSerialConsole"] = False
    serial, _ = build_serial_console(seed_vmi, seed_ctx)
    assert serial.find("log") is None
    assert serial.find("source").get("path") == seed_ctx.serial_socket


def test_no_log_when_the_launcher_has_no_log_file(seed_vmi):
    serial, _ = build_serial_console(seed_vmi, seed_context(console_log=None))
    assert serial.find("log") is None


def test_socket_path_with_xml_characters_round_trips(seed_vmi):
    path = "/run/kvtui/<a&b'c>/virt-serial0"
    serial, console = build_serial_console(seed_vmi, seed_context(serial_socket=path))
    for element in (serial, console):
        assert ET.fromstring(ET.tostring(element)).find("source").get("path") == path
