"""Schemas as kube-apiserver applies them: built-in kind schemas, the CRD structural check, pruning,
defaulting and validation, with the error wording apiextensions-apiserver uses."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from cluster.apiserver.schema import (
    FieldError,
    apply_defaults,
    builtin_schema,
    check_structural,
    invalid_message,
    prune,
    unknown_fields,
    validate,
)

ROOT = "spec.versions[0].schema.openAPIV3Schema"
CRD_DIR = Path(__file__).resolve().parents[2] / "manifests" / "crds"

BUILTIN_KINDS = [
    ("", "v1", "Namespace"), ("", "v1", "Node"), ("", "v1", "Pod"), ("", "v1", "Event"), ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"), ("", "v1", "ServiceAccount"), ("", "v1", "Service"), ("", "v1", "Endpoints"),
    ("", "v1", "PersistentVolumeClaim"), ("", "v1", "PersistentVolume"), ("", "v1", "Binding"),
    ("coordination.k8s.io", "v1", "Lease"), ("rbac.authorization.k8s.io", "v1", "Role"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole"), ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"), ("apps", "v1", "Deployment"),
    ("apps", "v1", "DaemonSet"), ("apps", "v1", "StatefulSet"), ("apps", "v1", "ReplicaSet"),
    ("policy", "v1", "PodDisruptionBudget"), ("policy", "v1", "Eviction"), ("events.k8s.io", "v1", "Event"),
]


def rendered(errors: list[FieldError]) -> list[str]:
    return [e.render() for e in errors]


def spec_schema(**properties: dict) -> dict:
    """A CR schema whose spec has the given properties."""
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}


def check(**properties: dict) -> list[str]:
    return rendered(validate({"spec": properties.pop("value")}, spec_schema(**properties)))


# -- built-in kinds --------------------------------------------------------------------------------------


@pytest.mark.parametrize("gvk", BUILTIN_KINDS, ids=lambda gvk: f"{gvk[0] or 'core'}/{gvk[2]}")
def test_builtin_schemas_are_structural(gvk):
    assert check_structural(builtin_schema(*gvk)) == []


def test_builtin_schema_of_an_unknown_kind_is_none():
    assert builtin_schema("", "v1", "VirtualMachine") is None
    assert builtin_schema("apps", "v2", "Deployment") is None


def test_builtin_pod_schema_describes_fields_as_kubectl_explain_shows_them():
    pod = builtin_schema("", "v1", "Pod")
    assert pod["description"].startswith("Pod is a collection of containers that can run on a host.")
    container = pod["properties"]["spec"]["properties"]["containers"]
    assert container["type"] == "array"
    assert container["x-kubernetes-patch-merge-key"] == "name"
    assert container["items"]["required"] == ["name"]
    assert container["items"]["properties"]["image"]["description"].startswith("Container image name.")


def test_builtin_crd_schema_knows_every_json_schema_keyword():
    crd = builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    props = crd["properties"]["spec"]["properties"]["versions"]["items"]["properties"]["schema"]["properties"]
    keywords = props["openAPIV3Schema"]["properties"]
    assert {"$ref", "not", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"} <= set(keywords)


def test_int_or_string_and_quantity_fields_accept_what_manifests_write():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"},
                                                                "requests": {"cpu": 0.5}}}]}}
    assert validate(pod, builtin_schema("", "v1", "Pod")) == []
    service = {"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}}
    assert validate(service, builtin_schema("", "v1", "Service")) == []
    service["spec"]["ports"][0]["targetPort"] = True
    assert rendered(validate(service, builtin_schema("", "v1", "Service"))) == [
        'spec.ports[0].targetPort: Invalid value: "boolean": spec.ports[0].targetPort in body must be of type '
        'integer,string: "boolean"']


# -- unknown fields and pruning --------------------------------------------------------------------------


def test_unknown_fields_of_a_configmap_are_reported_with_their_paths():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "dta": {"a": "b"},
          "metadata": {"name": "x", "colour": "red", "ownerReferences": [{"uid": "u", "extra": 1}]}}
    assert unknown_fields(cm, builtin_schema("", "v1", "ConfigMap")) == [
        "dta", "metadata.colour", "metadata.ownerReferences[0].extra"]


def test_unknown_field_in_spec_is_reported_and_pruned():
    schema = spec_schema(running={"type": "boolean"})
    obj = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "vm1"},
           "spec": {"running": True, "foo": {"bar": 1}}}
    assert unknown_fields(obj, schema) == ["spec.foo"]
    pruned, paths = prune(obj, schema)
    assert paths == ["spec.foo"]
    assert pruned == {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "vm1"},
                      "spec": {"running": True}}
    assert obj["spec"]["foo"] == {"bar": 1}, "prune works on a copy"


def test_unknown_field_inside_a_list_item_of_a_pod():
    pod = {"spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d", "imagePullPolicyy": "Always"}]}}
    assert unknown_fields(pod, builtin_schema("", "v1", "Pod")) == ["spec.containers[1].imagePullPolicyy"]


def test_pruning_keeps_preserve_unknown_subtrees_but_prunes_their_known_fields():
    schema = spec_schema(template={
        "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}})
    obj = {"spec": {"template": {"anything": {"goes": [1, 2]}, "known": {"a": "x", "b": "y"}}}}
    pruned, paths = prune(obj, schema)
    assert paths == ["spec.template.known.b"]
    assert pruned == {"spec": {"template": {"anything": {"goes": [1, 2]}, "known": {"a": "x"}}}}


def test_additional_properties_schema_prunes_map_values():
    schema = spec_schema(disks={"type": "object", "additionalProperties": {
        "type": "object", "properties": {"size": {"type": "string"}}}})
    pruned, paths = prune({"spec": {"disks": {"root": {"size": "1Gi", "colour": "red"}}}}, schema)
    assert paths == ["spec.disks.root.colour"]
    assert pruned == {"spec": {"disks": {"root": {"size": "1Gi"}}}}


def test_embedded_resources_keep_type_meta_and_prune_metadata_to_object_meta():
    schema = spec_schema(template={"type": "object", "x-kubernetes-embedded-resource": True,
                                   "x-kubernetes-preserve-unknown-fields": True})
    obj = {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}, "bogus": 1},
                                 "spec": {"x": 1}}}}
    pruned, paths = prune(obj, schema)
    assert paths == ["spec.template.metadata.bogus"]
    assert pruned["spec"]["template"] == {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}},
                                          "spec": {"x": 1}}


def test_root_keeps_api_version_kind_and_object_meta_fields():
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "labels": {"a": "b"}}, "status": {}}
    pruned, paths = prune(obj, {"type": "object", "properties": {}})
    assert paths == ["status"]
    assert pruned == {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "labels": {"a": "b"}}}


# -- defaulting ------------------------------------------------------------------------------------------

DEFAULTED = spec_schema(
    runStrategy={"type": "string", "default": "Halted"},
    domain={"type": "object", "properties": {"cpu": {"type": "object", "default": {},
                                                     "properties": {"cores": {"type": "integer", "default": 1}}}}},
    disks={"type": "array", "items": {"type": "object", "properties": {"bus": {"type": "string", "default": "virtio"}}}},
    note={"type": "string"},
)


def test_defaults_fill_missing_fields_of_objects_that_exist():
    assert apply_defaults({"spec": {}}, DEFAULTED) == {"spec": {"runStrategy": "Halted"}}
    assert apply_defaults({}, DEFAULTED) == {}, "no spec, so nothing inside it is defaulted"


def test_a_defaulted_object_gets_its_own_defaults():
    assert apply_defaults({"spec": {"runStrategy": "Always", "domain": {}}}, DEFAULTED) == {
        "spec": {"runStrategy": "Always", "domain": {"cpu": {"cores": 1}}}}


def test_defaults_apply_to_every_list_item():
    obj = {"spec": {"runStrategy": "Always", "disks": [{}, {"bus": "sata"}]}}
    assert apply_defaults(obj, DEFAULTED)["spec"]["disks"] == [{"bus": "virtio"}, {"bus": "sata"}]
    assert obj["spec"]["disks"][0] == {}, "apply_defaults works on a copy"


def test_null_takes_the_default_or_is_dropped_unless_nullable():
    assert apply_defaults({"spec": {"runStrategy": None, "note": None}}, DEFAULTED) == {"spec": {"runStrategy": "Halted"}}
    nullable = spec_schema(note={"type": "string", "nullable": True})
    assert apply_defaults({"spec": {"note": None}}, nullable) == {"spec": {"note": None}}


# -- validation messages ---------------------------------------------------------------------------------


def test_type_mismatch():
    assert check(running={"type": "boolean"}, value={"running": "yes"}) == [
        'spec.running: Invalid value: "string": spec.running in body must be of type boolean: "string"']
    errors = validate({"spec": {"running": "yes"}}, spec_schema(running={"type": "boolean"}))
    assert errors[0].reason == "FieldValueTypeInvalid"
    assert errors[0].message == 'Invalid value: "string": spec.running in body must be of type boolean: "string"'


def test_integer_versus_number():
    assert check(cpus={"type": "integer"}, value={"cpus": 1.5}) == [
        'spec.cpus: Invalid value: "number": spec.cpus in body must be of type integer: "number"']
    assert check(cpus={"type": "integer"}, value={"cpus": 2.0}) == []
    assert check(ratio={"type": "number"}, value={"ratio": 2}) == []


def test_null_needs_nullable():
    assert check(template={"type": "object"}, value={"template": None}) == [
        'spec.template: Invalid value: "null": spec.template in body must be of type object: "null"']
    assert check(template={"type": "object", "nullable": True}, value={"template": None}) == []


def test_int_or_string():
    assert check(port={"x-kubernetes-int-or-string": True}, value={"port": 1.5}) == [
        'spec.port: Invalid value: "number": spec.port in body must be of type integer,string: "number"']
    assert check(port={"x-kubernetes-int-or-string": True}, value={"port": "http"}) == []


def test_required():
    schema = {"type": "object", "required": ["spec"],
              "properties": {"spec": {"type": "object", "required": ["template"]}}}
    assert rendered(validate({}, schema)) == ["spec: Required value"]
    errors = validate({"spec": {}}, schema)
    assert rendered(errors) == ["spec.template: Required value"]
    assert errors[0].reason == "FieldValueRequired"


def test_enum():
    assert check(runStrategy={"type": "string", "enum": ["Always", "Halted"]}, value={"runStrategy": "z"}) == [
        'spec.runStrategy: Unsupported value: "z": supported values: "Always", "Halted"']


def test_enum_of_integers_and_a_wrong_type_report_both_errors():
    # The case from apiextensions' own validation tests.
    schema = {"type": "object", "properties": {"field": {
        "type": "object", "required": ["nestedint", "nestedstring"],
        "properties": {"nestedint": {"type": "integer", "enum": [1, 2]},
                       "nestedstring": {"type": "string", "enum": ["a", "b"]}}}}}
    assert rendered(validate({"field": {}}, schema)) == [
        "field.nestedint: Required value", "field.nestedstring: Required value"]
    assert rendered(validate({"field": {"nestedint": "x", "nestedstring": True}}, schema)) == [
        'field.nestedint: Invalid value: "string": field.nestedint in body must be of type integer: "string"',
        'field.nestedint: Unsupported value: "x": supported values: "1", "2"',
        'field.nestedstring: Invalid value: "boolean": field.nestedstring in body must be of type string: "boolean"',
        'field.nestedstring: Unsupported value: true: supported values: "a", "b"',
    ]


def test_pattern_and_lengths():
    name = {"type": "string", "pattern": "^[a-z]+$", "minLength": 3, "maxLength": 5}
    assert check(name=name, value={"name": "ABCD"}) == [
        "spec.name: Invalid value: \"ABCD\": spec.name in body should match '^[a-z]+$'"]
    assert check(name=name, value={"name": "ab"}) == [
        'spec.name: Invalid value: "ab": spec.name in body should be at least 3 chars long']
    errors = validate({"spec": {"name": "abcdef"}}, spec_schema(name=name))
    assert rendered(errors) == ["spec.name: Too long: may not be more than 5 bytes"]
    assert errors[0].reason == "FieldValueTooLong"


def test_minimum_and_maximum():
    cpus = {"type": "integer", "minimum": 1, "maximum": 8}
    assert check(cpus=cpus, value={"cpus": 0}) == [
        "spec.cpus: Invalid value: 0: spec.cpus in body should be greater than or equal to 1"]
    assert check(cpus=cpus, value={"cpus": 9}) == [
        "spec.cpus: Invalid value: 9: spec.cpus in body should be less than or equal to 8"]
    exclusive = {"type": "integer", "minimum": 1, "exclusiveMinimum": True, "maximum": 8, "exclusiveMaximum": True}
    assert check(cpus=exclusive, value={"cpus": 1}) == [
        "spec.cpus: Invalid value: 1: spec.cpus in body should be greater than 1"]
    assert check(cpus=exclusive, value={"cpus": 8}) == [
        "spec.cpus: Invalid value: 8: spec.cpus in body should be less than 8"]
    assert check(ratio={"type": "number", "maximum": 1.5}, value={"ratio": 2.5}) == [
        "spec.ratio: Invalid value: 2.5: spec.ratio in body should be less than or equal to 1.5"]


def test_multiple_of():
    assert check(cpus={"type": "integer", "multipleOf": 2}, value={"cpus": 3}) == [
        "spec.cpus: Invalid value: 3: spec.cpus in body should be a multiple of 2"]


def test_array_rules():
    disks = {"type": "array", "minItems": 1, "maxItems": 1, "items": {
        "type": "object", "properties": {"name": {"type": "string"}}}}
    assert check(disks=disks, value={"disks": []}) == [
        "spec.disks: Invalid value: 0: spec.disks in body should have at least 1 items"]
    errors = validate({"spec": {"disks": [{}, {}]}}, spec_schema(disks=disks))
    assert rendered(errors) == ["spec.disks: Too many: 2: must have at most 1 item"]
    assert errors[0].reason == "FieldValueTooMany"
    assert check(disks=disks, value={"disks": [{"name": 1}]}) == [
        'spec.disks[0].name: Invalid value: "integer": spec.disks[0].name in body must be of type string: "integer"']
    assert check(ports={"type": "array", "uniqueItems": True, "items": {"type": "integer"}}, value={"ports": [1, 1]}) == [
        "spec.ports: Invalid value: \"\": spec.ports in body shouldn't contain duplicates"]


def test_property_counts_and_map_values():
    labels = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": {"type": "string"}}
    assert check(labels=labels, value={"labels": {}}) == [
        "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"]
    assert check(labels=labels, value={"labels": {"a": "1", "b": "2"}}) == [
        "spec.labels: Too many: 2: must have at most 1 item"]
    assert check(labels=labels, value={"labels": {"a": 1}}) == [
        'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"']


def test_formats_apiextensions_checks():
    at = {"type": "string", "format": "date-time"}
    assert check(at=at, value={"at": "yesterday"}) == [
        'spec.at: Invalid value: "yesterday": spec.at in body must be of type date-time: "yesterday"']
    assert check(at=at, value={"at": "2024-01-02T03:04:05Z"}) == []
    assert check(data={"type": "string", "format": "byte"}, value={"data": "not base64!"}) == [
        'spec.data: Invalid value: "not base64!": spec.data in body must be of type byte: "not base64!"']
    assert check(ip={"type": "string", "format": "ipv4"}, value={"ip": "10.0.0.300"}) == [
        'spec.ip: Invalid value: "10.0.0.300": spec.ip in body must be of type ipv4: "10.0.0.300"']
    # int32 and other formats apiextensions does not support are ignored, as there.
    assert check(n={"type": "integer", "format": "int32"}, value={"n": 2**40}) == []


def test_any_of_reports_the_junctor_and_the_closest_branch():
    # The case from apiextensions' own validation tests.
    schema = {"type": "object", "properties": {"field": {
        "x-kubernetes-int-or-string": True, "nullable": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}}}
    assert validate({"field": None}, schema) == []
    assert validate({"field": 42}, schema) == []
    assert rendered(validate({"field": True}, schema)) == [
        'field: Invalid value: "boolean": field in body must be of type integer,string: "boolean"',
        '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)',
        'field: Invalid value: "boolean": field in body must be of type integer: "boolean"',
    ]


def test_all_of_one_of_and_not():
    all_of = {"allOf": [{"minLength": 2}, {"maxLength": 3}]}
    assert check(name={"type": "string", **all_of}, value={"name": "a"}) == [
        'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long',
        '<nil>: Invalid value: "": "spec.name" must validate all the schemas (allOf)']
    one_of = {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]}
    assert check(src=one_of, value={"src": {"a": 1, "b": 2}}) == [
        '<nil>: Invalid value: "": "spec.src" must validate one and only one schema (oneOf). Found 2 valid alternatives']
    assert check(src=one_of, value={"src": {}}) == [
        '<nil>: Invalid value: "": "spec.src" must validate one and only one schema (oneOf). Found none valid',
        "spec.src.a: Required value"]
    assert check(name={"type": "string", "not": {"enum": ["default"]}}, value={"name": "default"}) == [
        '<nil>: Invalid value: "": "spec.name" must not validate the schema (not)']


def test_list_type_set_and_map_duplicates():
    tags = {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
    errors = validate({"spec": {"tags": ["a", "b", "a", "a"]}}, spec_schema(tags=tags))
    assert rendered(errors) == ['spec.tags[2]: Duplicate value: "a"']
    assert errors[0].reason == "FieldValueDuplicate"
    disks = {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
             "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}
    assert check(disks=disks, value={"disks": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}) == [
        'spec.disks[2]: Duplicate value: {"name":"a"}']


def test_invalid_message_is_the_status_message_kube_apiserver_sends():
    running = validate({"spec": {"running": "yes"}}, spec_schema(running={"type": "boolean"}))
    assert invalid_message("VirtualMachine", "kubevirt.io", "vm1", running) == (
        'VirtualMachine.kubevirt.io "vm1" is invalid: spec.running: Invalid value: "string": spec.running in body '
        'must be of type boolean: "string"')
    two = running + validate({}, {"type": "object", "required": ["spec"]}) + running
    assert invalid_message("VirtualMachine", "kubevirt.io", "vm1", two) == (
        'VirtualMachine.kubevirt.io "vm1" is invalid: [spec.running: Invalid value: "string": spec.running in body '
        'must be of type boolean: "string", spec: Required value]')
    assert invalid_message("Pod", "", "p", []) == 'Pod "p" is invalid'


# -- the structural check on CRD schemas -----------------------------------------------------------------


def structural(schema: dict) -> list[str]:
    return rendered(check_structural(schema))


def test_a_structural_schema_passes():
    schema = {"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 63}}},
        "spec": {"type": "object", "properties": {
            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "disks": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
        }}}}
    assert structural(schema) == []


def test_a_field_without_type_is_rejected_naming_it():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"foo": {"description": "x"}}}}}
    errors = check_structural(schema)
    assert rendered(errors) == [
        f"{ROOT}.properties[spec].properties[foo].type: Required value: must not be empty for specified object fields"]
    assert errors[0].field == f"{ROOT}.properties[spec].properties[foo].type"
    assert errors[0].reason == "FieldValueRequired"


def test_types_at_the_root_and_in_arrays():
    assert structural({"properties": {}}) == [f"{ROOT}.type: Required value: must not be empty at the root"]
    assert structural({"type": "string"}) == [f'{ROOT}.type: Invalid value: "string": must be object at the root']
    assert structural({"type": "object", "properties": {"list": {"type": "array"}}}) == [
        f"{ROOT}.properties[list].items: Required value: must be specified"]
    assert structural({"type": "object", "properties": {"list": {"type": "array", "items": {}}}}) == [
        f"{ROOT}.properties[list].items.type: Required value: must not be empty for specified array items"]
    assert structural({"type": "object", "properties": {"x": {"type": "foo"}}}) == [
        f'{ROOT}.properties[x].type: Unsupported value: "foo": supported values: "array", "boolean", "integer", '
        '"number", "object", "string"']


def test_unsupported_keywords_are_forbidden():
    assert structural({"type": "object", "properties": {"spec": {"$ref": "#/definitions/Spec"}}}) == [
        f"{ROOT}.properties[spec].$ref: Forbidden: $ref is not supported"]
    assert structural({"type": "object", "definitions": {"a": {"type": "string"}}}) == [
        f"{ROOT}.definitions: Forbidden: definitions is not supported"]
    assert structural({"type": "object", "properties": {"l": {"type": "array", "uniqueItems": True,
                                                               "items": {"type": "string"}}}}) == [
        f"{ROOT}.properties[l].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime "
        "complexity becomes quadratic"]


def test_properties_and_additional_properties_are_exclusive():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}},
                                                        "additionalProperties": {"type": "string"}}}}
    assert structural(schema) == [
        f"{ROOT}.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"]


def test_metadata_may_restrict_only_name_and_generate_name():
    schema = {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
    assert structural(schema) == [
        f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
        "but metadata is implicitly specified"]
    defaulted = {"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}}
    assert structural(defaulted) == [f"{ROOT}.properties[metadata].default: Forbidden: must not be set in top-level metadata"]


def test_value_validations_may_not_declare_structure():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "anyOf": [{"type": "object"}]}}}
    assert structural(schema) == [f"{ROOT}.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural"]
    undeclared = {"type": "object", "properties": {"spec": {"type": "object"}},
                  "anyOf": [{"required": ["spec"]}, {"properties": {"bar": {"minLength": 1}}}]}
    assert structural(undeclared) == [
        f"{ROOT}.properties[bar]: Required value: because it is defined in {ROOT}.anyOf[1].properties[bar]"]


def test_extension_rules():
    assert structural({"type": "object", "x-kubernetes-preserve-unknown-fields": False}) == [
        f"{ROOT}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"]
    assert structural({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map",
                                                               "items": {"type": "object"}}}}) == [
        f"{ROOT}.properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if "
        "x-kubernetes-list-type is map"]


def test_errors_come_sorted_and_carry_the_given_path():
    schema = {"type": "object", "properties": {"b": {}, "a": {}}}
    assert rendered(check_structural(schema, "spec.versions[1].schema.openAPIV3Schema")) == [
        "spec.versions[1].schema.openAPIV3Schema.properties[a].type: Required value: must not be empty for specified "
        "object fields",
        "spec.versions[1].schema.openAPIV3Schema.properties[b].type: Required value: must not be empty for specified "
        "object fields",
    ]


@pytest.mark.skipif(not CRD_DIR.is_dir(), reason="no manifests/crds in this tree")
def test_the_project_crds_are_structural():
    for path in sorted(CRD_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        crd = yaml.safe_load(path.read_text())
        for i, version in enumerate(crd["spec"]["versions"]):
            where = f"spec.versions[{i}].schema.openAPIV3Schema"
            assert rendered(check_structural(version["schema"]["openAPIV3Schema"], where)) == [], path.name


def test_validate_leaves_the_object_alone():
    obj = {"spec": {"running": "yes"}}
    before = copy.deepcopy(obj)
    validate(obj, spec_schema(running={"type": "boolean"}))
    assert obj == before
