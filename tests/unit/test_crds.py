"""The KubeVirt CRDs in manifests/crds/ and the example manifests: names, columns and schemas as KubeVirt's,
schemas structural, examples valid against them, and the committed YAML equal to what generate.py writes."""

from __future__ import annotations

import copy
import functools
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "manifests" / "crds"
EXAMPLES_DIR = REPO / "manifests" / "examples"
CRD_FILES = ["virtualmachines.yaml", "virtualmachineinstances.yaml", "kubevirts.yaml"]
STRUCTURAL_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
# Keywords a structural schema may not use in the form we write (they need the apiserver's special handling).
NON_STRUCTURAL_KEYWORDS = {
    "$ref",
    "definitions",
    "dependencies",
    "additionalItems",
    "patternProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
}


# The C loader and one parse per file keep the suite fast; tests treat the loaded CRDs as read-only.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_crd(file_name: str) -> dict[str, Any]:
    return yaml.load((CRD_DIR / file_name).read_text(), Loader=SafeLoader)


def crd_for_kind(kind: str) -> dict[str, Any]:
    for name in CRD_FILES:
        crd = load_crd(name)
        if crd["spec"]["names"]["kind"] == kind:
            return crd
    raise AssertionError(f"no CRD defines kind {kind}")


def version(crd: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in crd["spec"]["versions"] if v["name"] == name)


def root_schema(crd: dict[str, Any], version_name: str = "v1") -> dict[str, Any]:
    return version(crd, version_name)["schema"]["openAPIV3Schema"]


def schema_at(node: dict[str, Any], path: str) -> dict[str, Any]:
    """Schema node at a dotted path; `[]` steps into array items, e.g. spec.volumes[].hostDisk.type."""
    for step in path.split("."):
        name, arrays = step.rstrip("[]"), step.count("[]")
        node = node["properties"][name]
        for _ in range(arrays):
            node = node["items"]
    return node


def schema_nodes(node: dict[str, Any], path: str = ""):
    """Every schema node with its path, depth first."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from schema_nodes(node["items"], f"{path}[]")


def structural_problems(root: dict[str, Any]) -> list[str]:
    problems = []
    for path, node in schema_nodes(root):
        where = path or "<root>"
        int_or_string = node.get("x-kubernetes-int-or-string") is True
        preserve_unknown = node.get("x-kubernetes-preserve-unknown-fields") is True
        if int_or_string and "type" in node:
            problems.append(f"{where}: x-kubernetes-int-or-string must not also set type")
        if not int_or_string and not preserve_unknown and node.get("type") not in STRUCTURAL_TYPES:
            problems.append(f"{where}: missing or unknown type {node.get('type')!r}")
        if node.get("x-kubernetes-preserve-unknown-fields") is False:
            problems.append(f"{where}: x-kubernetes-preserve-unknown-fields may only be true")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: properties and additionalProperties together")
        if node.get("type") == "array" and "items" not in node:
            problems.append(f"{where}: array without items")
        for keyword in NON_STRUCTURAL_KEYWORDS & node.keys():
            problems.append(f"{where}: uses {keyword}")
    metadata = root["properties"]["metadata"]
    if set(metadata.get("properties", {})) - {"name", "generateName"}:
        problems.append("metadata: may only constrain name and generateName")
    return problems


def value_problems(value: Any, node: dict[str, Any], path: str) -> list[str]:
    """What the apiserver would prune or reject in `value`, one message per field path."""
    if path == "metadata":
        return []  # ObjectMeta is validated by the apiserver itself, not by the CRD schema.
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            return [f"{path}: must be an integer or a string"]
        if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
            return [f"{path}: {value!r} does not match {node['pattern']}"]
        return []
    if value is None:
        return [] if node.get("nullable") else [f"{path}: must not be null"]
    problems = type_problems(value, node, path)
    if problems:
        return problems
    if "enum" in node and value not in node["enum"]:
        return [f"{path}: {value!r} is not one of {node['enum']}"]
    if isinstance(value, dict):
        return object_problems(value, node, path)
    if isinstance(value, list):
        return [
            p for i, item in enumerate(value) for p in value_problems(item, node["items"], f"{path}[{i}]")
        ]
    if isinstance(value, int) and not node.get("minimum", value) <= value <= node.get("maximum", value):
        return [f"{path}: {value} is outside {node.get('minimum')}..{node.get('maximum')}"]
    return []


def type_problems(value: Any, node: dict[str, Any], path: str) -> list[str]:
    expected = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}.get(
        node.get("type")
    )
    if expected is None:
        return []
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return [f"{path}: must be of type {node['type']}"]
    return []


def object_problems(value: dict[str, Any], node: dict[str, Any], path: str) -> list[str]:
    problems = [
        f"{join(path, name)}: required field missing"
        for name in node.get("required", [])
        if name not in value
    ]
    properties = node.get("properties", {})
    for key, child in value.items():
        if key in properties:
            problems += value_problems(child, properties[key], join(path, key))
        elif isinstance(node.get("additionalProperties"), dict):
            problems += value_problems(child, node["additionalProperties"], join(path, key))
        elif not node.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{join(path, key)}: field not declared in the schema")
    return problems


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES_DIR / name).read_text())


def example_problems(manifest: dict[str, Any]) -> list[str]:
    group, _, version_name = manifest["apiVersion"].partition("/")
    crd = crd_for_kind(manifest["kind"])
    assert group == crd["spec"]["group"]
    served = [v["name"] for v in crd["spec"]["versions"] if v["served"]]
    assert version_name in served, f"{manifest['apiVersion']} is not served; served: {served}"
    return value_problems(manifest, root_schema(crd, version_name), "")


def load_generator():
    spec = importlib.util.spec_from_file_location("crd_generator", CRD_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- files ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", CRD_FILES)
def test_each_file_is_one_customresourcedefinition(file_name: str) -> None:
    documents = list(yaml.safe_load_all((CRD_DIR / file_name).read_text()))

    assert len(documents) == 1
    assert documents[0]["apiVersion"] == "apiextensions.k8s.io/v1"
    assert documents[0]["kind"] == "CustomResourceDefinition"
    assert documents[0]["metadata"]["name"] == f"{file_name.removesuffix('.yaml')}.kubevirt.io"


def test_kustomization_lists_the_three_crds() -> None:
    kustomization = yaml.safe_load((CRD_DIR / "kustomization.yaml").read_text())

    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == CRD_FILES


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_exactly_the_committed_crds() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(CRD_DIR)], capture_output=True, text=True, check=True, timeout=60
    ).stdout

    by_name = {doc["metadata"]["name"]: doc for doc in yaml.load_all(built, Loader=SafeLoader)}
    assert by_name == {load_crd(f)["metadata"]["name"]: load_crd(f) for f in CRD_FILES}


def test_generator_output_equals_committed_yaml() -> None:
    generator = load_generator()

    assert generator.stale_files() == [], "run: python manifests/crds/generate.py"
    assert sorted(generator.generated_files()) == sorted([*CRD_FILES, "kustomization.yaml"])


# --- names, scope, versions, columns as KubeVirt ----------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "names"),
    [
        (
            "virtualmachines.yaml",
            {
                "kind": "VirtualMachine",
                "listKind": "VirtualMachineList",
                "plural": "virtualmachines",
                "singular": "virtualmachine",
                "shortNames": ["vm", "vms"],
                "categories": ["all"],
            },
        ),
        (
            "virtualmachineinstances.yaml",
            {
                "kind": "VirtualMachineInstance",
                "listKind": "VirtualMachineInstanceList",
                "plural": "virtualmachineinstances",
                "singular": "virtualmachineinstance",
                "shortNames": ["vmi", "vmis"],
                "categories": ["all"],
            },
        ),
        (
            "kubevirts.yaml",
            {
                "kind": "KubeVirt",
                "listKind": "KubeVirtList",
                "plural": "kubevirts",
                "singular": "kubevirt",
                "shortNames": ["kv", "kvs"],
                "categories": ["all"],
            },
        ),
    ],
)
def test_names_and_scope_match_kubevirt(file_name: str, names: dict[str, Any]) -> None:
    crd = load_crd(file_name)

    assert crd["spec"]["group"] == "kubevirt.io"
    assert crd["spec"]["names"] == names
    assert crd["spec"]["scope"] == "Namespaced"


@pytest.mark.parametrize("file_name", CRD_FILES)
def test_v1_is_storage_and_v1alpha3_is_served_deprecated_with_kubevirts_warning(file_name: str) -> None:
    versions = load_crd(file_name)["spec"]["versions"]

    assert [(v["name"], v["served"], v["storage"]) for v in versions] == [
        ("v1", True, True),
        ("v1alpha3", True, False),
    ]
    assert "deprecated" not in versions[0]
    assert versions[1]["deprecated"] is True
    assert versions[1]["deprecationWarning"] == (
        "kubevirt.io/v1alpha3 is now deprecated and will be removed in a future release."
    )


@pytest.mark.parametrize("file_name", CRD_FILES)
def test_v1alpha3_has_the_same_schema_columns_and_subresources_as_v1(file_name: str) -> None:
    crd = load_crd(file_name)
    v1, v1alpha3 = version(crd, "v1"), version(crd, "v1alpha3")

    for field in ("schema", "additionalPrinterColumns", "subresources"):
        assert v1.get(field) == v1alpha3.get(field), field


def columns(file_name: str) -> list[tuple[str, str, str, int]]:
    return [
        (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
        for c in version(load_crd(file_name), "v1")["additionalPrinterColumns"]
    ]


def test_vm_columns_are_age_status_ready() -> None:
    assert columns("virtualmachines.yaml") == [
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Status", "string", ".status.printableStatus", 0),
        ("Ready", "string", ".status.conditions[?(@.type=='Ready')].status", 0),
    ]


def test_vmi_columns_are_age_phase_ip_nodename_ready_and_wide_migratable_paused() -> None:
    assert columns("virtualmachineinstances.yaml") == [
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Phase", "string", ".status.phase", 0),
        ("IP", "string", ".status.interfaces[0].ipAddress", 0),
        ("NodeName", "string", ".status.nodeName", 0),
        ("Ready", "string", ".status.conditions[?(@.type=='Ready')].status", 0),
        ("Live-Migratable", "string", ".status.conditions[?(@.type=='LiveMigratable')].status", 1),
        ("Paused", "string", ".status.conditions[?(@.type=='Paused')].status", 1),
    ]


def test_kubevirt_columns_are_age_phase() -> None:
    assert columns("kubevirts.yaml") == [
        ("Age", "date", ".metadata.creationTimestamp", 0),
        ("Phase", "string", ".status.phase", 0),
    ]


def test_status_subresource_on_vm_and_kubevirt_but_not_vmi() -> None:
    assert version(load_crd("virtualmachines.yaml"), "v1")["subresources"] == {"status": {}}
    assert version(load_crd("kubevirts.yaml"), "v1")["subresources"] == {"status": {}}
    assert "subresources" not in version(load_crd("virtualmachineinstances.yaml"), "v1")


# --- schema shape -------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", CRD_FILES)
def test_schema_is_structural(file_name: str) -> None:
    assert structural_problems(root_schema(load_crd(file_name))) == []


def test_structural_check_names_the_offending_node() -> None:
    broken = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {"size": {"description": "no type"}},
                "additionalProperties": {"type": "string"},
            },
        },
    }

    assert structural_problems(broken) == [
        "spec: properties and additionalProperties together",
        "spec.size: missing or unknown type None",
    ]


@pytest.mark.parametrize("file_name", CRD_FILES)
def test_crd_uses_only_fields_the_apiextensions_api_defines(file_name: str) -> None:
    crd = load_crd(file_name)
    known = {
        model: set(model.attribute_map.values())
        for model in (
            client.V1CustomResourceDefinitionSpec,
            client.V1CustomResourceDefinitionNames,
            client.V1CustomResourceDefinitionVersion,
            client.V1CustomResourceColumnDefinition,
            client.V1JSONSchemaProps,
        )
    }

    assert set(crd["spec"]) <= known[client.V1CustomResourceDefinitionSpec]
    assert set(crd["spec"]["names"]) <= known[client.V1CustomResourceDefinitionNames]
    for v in crd["spec"]["versions"]:
        assert set(v) <= known[client.V1CustomResourceDefinitionVersion]
        for c in v["additionalPrinterColumns"]:
            assert set(c) <= known[client.V1CustomResourceColumnDefinition]
    unknown = [
        (path, set(node) - known[client.V1JSONSchemaProps])
        for path, node in schema_nodes(root_schema(crd))
        if set(node) - known[client.V1JSONSchemaProps]
    ]
    assert unknown == []


@pytest.mark.parametrize("file_name", CRD_FILES)
def test_every_field_has_a_description_for_kubectl_explain(file_name: str) -> None:
    root = root_schema(load_crd(file_name))
    undocumented = [
        path
        for path, node in schema_nodes(root)
        if path and path != "metadata" and not path.endswith(("[]", ".*")) and not node.get("description")
    ]

    assert undocumented == []


@pytest.mark.parametrize("file_name", CRD_FILES)
def test_defaults_and_enum_values_are_valid_for_their_field(file_name: str) -> None:
    problems = []
    for path, node in schema_nodes(root_schema(load_crd(file_name))):
        if "default" in node:
            problems += value_problems(node["default"], node, f"{path} default")
        for value in node.get("enum", []):
            problems += type_problems(value, node, f"{path} enum")

    assert problems == []


def test_vm_template_spec_is_exactly_the_vmi_spec() -> None:
    vm = root_schema(crd_for_kind("VirtualMachine"))
    vmi = root_schema(crd_for_kind("VirtualMachineInstance"))

    vm_template_spec = copy.deepcopy(schema_at(vm, "spec.template.spec"))
    vmi_spec = copy.deepcopy(schema_at(vmi, "spec"))
    vm_template_spec.pop("description")
    vmi_spec.pop("description")
    assert vm_template_spec == vmi_spec


def test_vm_template_metadata_and_data_volume_templates_are_kept_as_written() -> None:
    vm = root_schema(crd_for_kind("VirtualMachine"))

    assert schema_at(vm, "spec.template.metadata")["x-kubernetes-preserve-unknown-fields"] is True
    assert schema_at(vm, "spec.dataVolumeTemplates[]")["x-kubernetes-preserve-unknown-fields"] is True
    assert schema_at(vm, "spec")["required"] == ["template"]


def test_no_preserve_unknown_fields_on_vm_or_vmi_spec_so_typos_are_pruned() -> None:
    for kind in ("VirtualMachine", "VirtualMachineInstance"):
        root = root_schema(crd_for_kind(kind))
        assert "x-kubernetes-preserve-unknown-fields" not in root
        assert "x-kubernetes-preserve-unknown-fields" not in schema_at(root, "spec")
    assert "x-kubernetes-preserve-unknown-fields" not in schema_at(
        root_schema(crd_for_kind("VirtualMachine")), "spec.template.spec.domain"
    )


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("spec.runStrategy", ["Always", "RerunOnFailure", "Manual", "Halted", "Once"]),
        ("spec.template.spec.domain.devices.disks[].disk.bus", ["virtio", "sata", "scsi", "usb"]),
        ("spec.template.spec.volumes[].hostDisk.type", ["Disk", "DiskOrCreate"]),
        ("spec.template.spec.evictionStrategy", ["None", "LiveMigrate", "LiveMigrateIfPossible", "External"]),
        ("status.stateChangeRequests[].action", ["Start", "Stop"]),
        (
            "status.printableStatus",
            [
                "Stopped",
                "Provisioning",
                "Starting",
                "Running",
                "Paused",
                "Stopping",
                "Terminating",
                "CrashLoopBackOff",
                "Migrating",
                "Unknown",
                "ErrorUnschedulable",
                "ErrImagePull",
                "ImagePullBackOff",
                "ErrorPvcNotFound",
                "DataVolumeError",
                "WaitingForVolumeBinding",
                "WaitingForReceiver",
            ],
        ),
    ],
)
def test_vm_closed_sets_are_enums(path: str, values: list[str]) -> None:
    assert schema_at(root_schema(crd_for_kind("VirtualMachine")), path)["enum"] == values


@pytest.mark.parametrize(
    "path",
    [
        "spec.domain.memory.guest",
        "spec.domain.resources.requests.*",
        "spec.domain.resources.limits.*",
        "spec.volumes[].hostDisk.capacity",
        "spec.volumes[].emptyDisk.capacity",
    ],
)
def test_quantities_accept_integers_and_strings(path: str) -> None:
    vmi = root_schema(crd_for_kind("VirtualMachineInstance"))
    *parent, last = path.split(".")
    node = schema_at(vmi, ".".join(parent))
    node = node["additionalProperties"] if last == "*" else node["properties"][last]

    assert node["x-kubernetes-int-or-string"] is True
    assert value_problems("2048M", node, path) == []
    assert value_problems(1073741824, node, path) == []
    assert value_problems("2GB", node, path) == [f"{path}: '2GB' does not match {node['pattern']}"]


def test_kubevirt_server_side_defaults() -> None:
    vm = root_schema(crd_for_kind("VirtualMachine"))
    vmi = root_schema(crd_for_kind("VirtualMachineInstance"))

    assert schema_at(vmi, "spec.terminationGracePeriodSeconds")["default"] == 30
    assert schema_at(vmi, "spec.domain.devices.disks[].cdrom.readonly")["default"] is True
    assert schema_at(vmi, "spec.domain.devices.disks[].cdrom.tray")["default"] == "closed"
    assert schema_at(vmi, "spec.domain.devices.interfaces[].ports[].protocol")["default"] == "TCP"
    assert schema_at(vmi, "spec.domain.devices.watchdog.i6300esb.action")["default"] == "reset"
    assert schema_at(vmi, "spec.domain.features.acpi.enabled")["default"] is True
    assert schema_at(vm, "status.printableStatus")["default"] == "Stopped"


def test_kubevirt_configuration_types_feature_gates_and_keeps_the_rest() -> None:
    kv = root_schema(crd_for_kind("KubeVirt"))
    developer = schema_at(kv, "spec.configuration.developerConfiguration")

    assert schema_at(kv, "spec.configuration")["x-kubernetes-preserve-unknown-fields"] is True
    assert developer["properties"]["featureGates"]["items"]["type"] == "string"
    assert developer["properties"]["useEmulation"]["type"] == "boolean"
    assert schema_at(kv, "status.phase")["enum"] == ["Deploying", "Deployed", "Deleting", "Deleted"]
    config = {
        "spec": {
            "configuration": {
                "developerConfiguration": {"featureGates": ["HostDisk"], "useEmulation": True},
                "machineType": "q35",
            }
        }
    }
    assert value_problems(config, kv, "") == []


# --- examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", ["vm-demo.yaml", "vmi-seed.yaml"])
def test_every_field_of_the_example_exists_in_the_schema(file_name: str) -> None:
    assert example_problems(example(file_name)) == []


def test_schema_check_names_each_unknown_or_invalid_field() -> None:
    manifest = example("vmi-seed.yaml")
    manifest["spec"]["domain"]["cpu"]["core"] = 2
    manifest["spec"]["domain"]["devices"]["disks"][0]["disk"]["bus"] = "ide"
    del manifest["spec"]["volumes"][0]["hostDisk"]["type"]

    assert example_problems(manifest) == [
        "spec.domain.cpu.core: field not declared in the schema",
        "spec.domain.devices.disks[0].disk.bus: 'ide' is not one of ['virtio', 'sata', 'scsi', 'usb']",
        "spec.volumes[0].hostDisk.type: required field missing",
    ]


def test_demo_vm_boots_from_the_demo_images_disk() -> None:
    vm = example("vm-demo.yaml")
    spec = vm["spec"]["template"]["spec"]

    assert (vm["apiVersion"], vm["kind"], vm["metadata"]["name"]) == (
        "kubevirt.io/v1",
        "VirtualMachine",
        "demo",
    )
    assert vm["spec"]["runStrategy"] == "Always"
    assert spec["domain"]["cpu"] == {"cores": 1}
    assert spec["domain"]["memory"] == {"guest": "128Mi"}
    assert "firmware" not in spec["domain"]  # BIOS, from the first disk
    assert spec["domain"]["devices"]["disks"][0] == {"name": "rootdisk", "disk": {"bus": "virtio"}}
    sources = {v["name"]: {k: s for k, s in v.items() if k != "name"} for v in spec["volumes"]}
    assert sources["rootdisk"] == {"containerDisk": {"image": "kvtui/demo:latest"}}
    assert sources["cloudinitdisk"]["cloudInitNoCloud"]["userData"].startswith("#cloud-config\n")
    assert spec["domain"]["devices"]["interfaces"] == [{"name": "default", "masquerade": {},
                                                       "ports": [{"name": "ssh", "port": 22}]}]
    assert spec["networks"] == [{"name": "default", "pod": {}}]


def test_seed_vmi_is_the_v1alpha3_hostdisk_masquerade_example() -> None:
    vmi = example("vmi-seed.yaml")
    spec = vmi["spec"]

    assert (vmi["apiVersion"], vmi["kind"]) == ("kubevirt.io/v1alpha3", "VirtualMachineInstance")
    assert spec["domain"]["cpu"]["model"] == "Nehalem-IBRS"
    assert spec["domain"]["resources"]["requests"]["memory"] == "2048M"
    assert spec["terminationGracePeriodSeconds"] == 0
    assert spec["domain"]["devices"]["disks"] == [{"name": "disk0", "disk": {"bus": "virtio"}}]
    assert spec["volumes"] == [
        {
            "name": "disk0",
            "hostDisk": {"path": "/var/lib/kvtui/seed/disk.img", "type": "Disk", "shared": True},
        }
    ]
    assert spec["domain"]["devices"]["interfaces"] == [
        {"name": "default", "masquerade": {}, "ports": [{"port": 80}]}
    ]
    assert spec["networks"] == [{"name": "default", "pod": {}}]
