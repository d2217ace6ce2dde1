"""The serial console: serial0 as a unix socket that QEMU listens on (mode `bind`), which the
launcher's console endpoint connects to, with every byte also appended to the console log
(`DomainContext.console_log`) so late joiners and `kubectl logs` can see boot output.

The `<console>` aliases serial0 (libvirt copies the first serial port into it), so guests that
write to the console and to ttyS0 reach the same socket. Nothing is attached when
`devices.autoattachSerialConsole` is false; `devices.logSerialConsole: false` keeps the socket
but drops the log.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.errors import as_bool, devices_spec

FIELD = "spec.domain.devices"


def serial_console_attached(vmi: Mapping[str, Any]) -> bool:
    return as_bool(devices_spec(vmi).get("autoattachSerialConsole"), f"{FIELD}.autoattachSerialConsole",
                   default=True)


def build_serial_console(vmi: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    """`<serial>` and `<console>`, or nothing when the serial console is not attached."""
    log = as_bool(devices_spec(vmi).get("logSerialConsole"), f"{FIELD}.logSerialConsole", default=True)
    if not serial_console_attached(vmi):
        return []
    serial = ET.Element("serial", type="unix")
    ET.SubElement(serial, "source", mode="bind", path=ctx.serial_socket)
    if log and ctx.console_log is not None:
        ET.SubElement(serial, "log", file=ctx.console_log, append="on")
    ET.SubElement(serial, "target", port="0")
    console = ET.Element("console", type="unix")
    ET.SubElement(console, "source", mode="bind", path=ctx.serial_socket)
    ET.SubElement(console, "target", type="serial", port="0")
    return [serial, console]
