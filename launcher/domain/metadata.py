"""Who the domain is: libvirt name `<namespace>_<name>`, UUID, title, and a kvtui metadata block
that ties the domain back to its VirtualMachineInstance (name, namespace, uid, labels).

The UUID is `spec.domain.firmware.uuid` when set (so the guest keeps its SMBIOS identity across
restarts), else the one the launcher chose (`DomainContext.uuid`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from launcher.domain.context import DomainContext
from launcher.domain.errors import SpecError, as_mapping, domain_spec, quoted, xml_text

KVTUI_XMLNS = "https://kvtui.dev/xmlns/domain/v1"
ET.register_namespace("kvtui", KVTUI_XMLNS)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _kvtui(tag: str) -> str:
    return f"{{{KVTUI_XMLNS}}}{tag}"


def vmi_name(vmi: Mapping[str, Any]) -> str:
    meta = as_mapping(vmi.get("metadata"), "metadata")
    name = meta.get("name")
    if not name:
        raise SpecError("metadata.name", "required: the VirtualMachineInstance has no name")
    return _name_part(name, "metadata.name")


def vmi_namespace(vmi: Mapping[str, Any]) -> str:
    meta = as_mapping(vmi.get("metadata"), "metadata")
    return _name_part(meta.get("namespace") or "default", "metadata.namespace")


def _name_part(value: object, field: str) -> str:
    text = xml_text(value, field)
    # libvirt refuses '/' in domain names (they become file names under /run/libvirt).
    if "/" in text:
        raise SpecError(field, f"must not contain \"/\": {quoted(text)}")
    return text


def domain_name(vmi: Mapping[str, Any]) -> str:
    return f"{vmi_namespace(vmi)}_{vmi_name(vmi)}"


def domain_uuid(vmi: Mapping[str, Any], ctx: DomainContext) -> str:
    firmware = as_mapping(domain_spec(vmi).get("firmware"), "spec.domain.firmware")
    if "uuid" not in firmware:
        return ctx.uuid.lower()
    field = "spec.domain.firmware.uuid"
    value = xml_text(firmware["uuid"], field)
    if not _UUID.match(value):
        raise SpecError(field, f"must be a UUID like \"5d307ca9-b3ef-428c-8861-06e72d69f223\", not {quoted(value)}")
    return value.lower()


def build_identity(vmi: Mapping[str, Any], ctx: DomainContext) -> list[ET.Element]:
    """`<name>`, `<uuid>`, `<title>` and `<metadata>`."""
    name = ET.Element("name")
    name.text = domain_name(vmi)
    uuid = ET.Element("uuid")
    uuid.text = domain_uuid(vmi, ctx)
    title = ET.Element("title")
    title.text = f"{vmi_namespace(vmi)}/{vmi_name(vmi)}"
    return [name, uuid, title, _build_metadata(vmi)]


def _build_metadata(vmi: Mapping[str, Any]) -> ET.Element:
    meta = as_mapping(vmi.get("metadata"), "metadata")
    metadata = ET.Element("metadata")
    instance = ET.SubElement(metadata, _kvtui("instance"))
    ET.SubElement(instance, _kvtui("name")).text = vmi_name(vmi)
    ET.SubElement(instance, _kvtui("namespace")).text = vmi_namespace(vmi)
    if meta.get("uid"):
        ET.SubElement(instance, _kvtui("uid")).text = xml_text(meta["uid"], "metadata.uid")
    labels = as_mapping(meta.get("labels"), "metadata.labels")
    if labels:
        labels_el = ET.SubElement(instance, _kvtui("labels"))
        for key in sorted(labels):
            field = f"metadata.labels[{quoted(key)}]"
            label = ET.SubElement(labels_el, _kvtui("label"), key=xml_text(key, field))
            label.text = xml_text(labels[key], field)
    return metadata
