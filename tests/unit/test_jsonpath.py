"""Kubernetes JSONPath as CRD printer columns use it, KubeVirt's real column paths first."""

import pytest

from cluster.apiserver.jsonpath import JSONPathError, compile_path

VM = {
    "apiVersion": "kubevirt.io/v1",
    "kind": "VirtualMachine",
    "metadata": {
        "name": "testvm",
        "namespace": "default",
        "creationTimestamp": "2026-03-01T10:00:00Z",
        "labels": {"kubevirt.io/domain": "testvm", "app": "demo"},
    },
    "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {"cpu": {"cores": 2}}}}},
    "status": {
        "printableStatus": "Running",
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Paused", "status": "False"},
        ],
    },
}

VMI = {
    "metadata": {"name": "testvm", "namespace": "default"},
    "status": {
        "phase": "Running",
        "nodeName": "node01",
        "interfaces": [
            {"name": "default", "ipAddress": "10.244.0.15", "ipAddresses": ["10.244.0.15", "fd10::f"]},
            {"name": "secondary", "ipAddress": "192.168.1.5"},
        ],
        "conditions": [
            {"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable"},
            {"type": "Ready", "status": "True"},
        ],
    },
}


@pytest.mark.parametrize(
    ("path", "obj", "expected"),
    [
        (".metadata.creationTimestamp", VM, ["2026-03-01T10:00:00Z"]),
        (".status.printableStatus", VM, ["Running"]),
        (".status.conditions[?(@.type=='Ready')].status", VM, ["True"]),
        (".status.phase", VMI, ["Running"]),
        (".status.interfaces[0].ipAddress", VMI, ["10.244.0.15"]),
        (".status.nodeName", VMI, ["node01"]),
        (".status.conditions[?(@.type=='Ready')].status", VMI, ["True"]),
        (".status.conditions[?(@.type=='LiveMigratable')].status", VMI, ["False"]),
        (".status.conditions[?(@.type=='Paused')].status", VMI, []),
    ],
)
def test_kubevirt_printer_column_paths(path, obj, expected):
    assert compile_path(path)(obj) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type != 'Ready')].type", ["LiveMigratable"]),
        (".status.conditions[?(@.reason)].type", ["LiveMigratable"]),
        (".status.interfaces[-1].ipAddress", ["192.168.1.5"]),
        (".status.interfaces[0:2].name", ["default", "secondary"]),
        (".status.interfaces[1:].name", ["secondary"]),
        (".status.interfaces[::2].name", ["default"]),
        (".status.interfaces[*].name", ["default", "secondary"]),
        (".status.interfaces[0,1].name", ["default", "secondary"]),
        (".status.interfaces[0].ipAddresses[1]", ["fd10::f"]),
        ("..ipAddress", ["10.244.0.15", "192.168.1.5"]),
        ("['status']['nodeName']", ["node01"]),
        ("$.status.nodeName", ["node01"]),
        ("{.status.nodeName}", ["node01"]),
        (".metadata.*", ["testvm", "default"]),
    ],
)
def test_path_forms(path, expected):
    assert compile_path(path)(VMI) == expected


def test_escaped_dots_reach_keys_that_contain_dots():
    assert compile_path(r".metadata.labels.kubevirt\.io/domain")(VM) == ["testvm"]
    # as in client-go, bracketed keys are read as paths, so their dots need escaping too
    assert compile_path(r".metadata.labels['kubevirt\.io/domain']")(VM) == ["testvm"]
    assert compile_path(".metadata.labels['kubevirt.io/domain']")(VM) == []


def test_nested_spec_values_keep_their_json_type():
    assert compile_path(".spec.template.spec.domain.cpu.cores")(VM) == [2]
    assert compile_path(".status.conditions[0]")(VM) == [{"type": "Ready", "status": "True"}]


def test_filters_compare_numbers_and_booleans():
    ports = {"spec": {"ports": [{"name": "http", "port": 80, "tls": False}, {"name": "https", "port": 443, "tls": True}]}}
    assert compile_path(".spec.ports[?(@.port==443)].name")(ports) == ["https"]
    assert compile_path(".spec.ports[?(@.port>100)].name")(ports) == ["https"]
    assert compile_path(".spec.ports[?(@.port<=80)].name")(ports) == ["http"]
    assert compile_path(".spec.ports[?(@.tls==true)].name")(ports) == ["https"]


@pytest.mark.parametrize(
    "path",
    [
        ".status.nope",
        ".status.phase.deeper",
        ".status.interfaces[7].ipAddress",  # out of range
        ".status.phase[0]",  # not a list
        ".status[?(@.type=='Ready')]",  # filter over a map
        ".status.conditions[?(@.status==1)].type",  # string compared with a number
        ".status.interfaces.ipAddress",  # field of a list
    ],
)
def test_evaluation_never_raises_and_yields_nothing(path):
    assert compile_path(path)(VMI) == []


def test_evaluation_on_objects_without_status():
    for path in (".status.interfaces[0].ipAddress", ".status.conditions[?(@.type=='Ready')].status", "..name"):
        assert compile_path(path)({}) == []
    assert compile_path(".status.phase")(None) == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (".status.interfaces[0", 'invalid JSONPath ".status.interfaces[0": unterminated array'),
        (".status.conditions[?(@.type=='Ready'", """invalid JSONPath ".status.conditions[?(@.type=='Ready'": unterminated filter"""),
        (".status.interfaces[a]", 'invalid JSONPath ".status.interfaces[a]": invalid array index a'),
        (".status.phase bogus", 'invalid JSONPath ".status.phase bogus": unrecognized identifier bogus'),
        ("{.status.phase", 'invalid JSONPath "{.status.phase": unclosed action'),
        (".status.conditions[0]#", 'invalid JSONPath ".status.conditions[0]#": unrecognized character in action: U+0023 \'#\''),
        ("....name", 'invalid JSONPath "....name": invalid multiple recursive descent'),
        (".a[?(@.x=~'y')]", "invalid JSONPath \".a[?(@.x=~'y')]\": unrecognized filter operator ="),
        (".a['unterminated]", "invalid JSONPath \".a['unterminated]\": invalid array index 'unterminated"),
    ],
)
def test_bad_paths_are_rejected_at_compile_time(path, message):
    with pytest.raises(JSONPathError) as error:
        compile_path(path)
    assert str(error.value) == message
