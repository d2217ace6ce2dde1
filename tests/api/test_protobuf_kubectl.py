"""kubectl 1.37's typed clients send protobuf bodies; what they create must equal what JSON would create."""

from __future__ import annotations

import copy
import json
import ssl
import urllib.error
import urllib.request

import pytest

PROTOBUF_REQUEST = "Content-Type: application/vnd.kubernetes.protobuf"

# (resource, name, kubectl arguments); "{bin}" is replaced by a file holding non-UTF-8 bytes.
CASES = [
    ("configmap", "cm-pb", ["create", "configmap", "cm-pb", "--from-literal=a=b", "--from-literal=empty=",
                            "--from-file=bin={bin}"]),
    ("secret", "secret-pb", ["create", "secret", "generic", "secret-pb", "--from-literal=p=q",
                             "--from-file=bin={bin}"]),
    ("namespace", "ns-pb", ["create", "namespace", "ns-pb"]),
    ("serviceaccount", "sa-pb", ["create", "serviceaccount", "sa-pb"]),
    ("deployment", "deploy-pb", ["create", "deployment", "deploy-pb", "--image=x", "--replicas=0", "--port=80"]),
    ("service", "svc-pb", ["create", "service", "clusterip", "svc-pb", "--tcp=80:8080", "--tcp=443:https"]),
    ("role", "role-pb", ["create", "role", "role-pb", "--verb=get,list", "--resource=pods,deployments.apps"]),
    ("rolebinding", "rb-pb", ["create", "rolebinding", "rb-pb", "--role=role-pb", "--user=bob",
                              "--serviceaccount=default:sa-pb"]),
    ("clusterrole", "cr-pb", ["create", "clusterrole", "cr-pb", "--verb=get", "--non-resource-url=/logs/*"]),
    ("clusterrolebinding", "crb-pb", ["create", "clusterrolebinding", "crb-pb", "--clusterrole=cr-pb",
                                      "--group=devs"]),
    ("poddisruptionbudget", "pdb-pb", ["create", "pdb", "pdb-pb", "--selector=a=b", "--max-unavailable=0"]),
]


@pytest.fixture(scope="module")
def binary_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("protobuf") / "blob"
    path.write_bytes(b"\x00\x01\xff")
    return str(path)


def _contains(expected, stored, where="") -> None:
    """Every field of `expected` is in `stored` with the same value; the server may add defaults."""
    if isinstance(expected, dict):
        assert isinstance(stored, dict), f"{where}: {stored!r} is not an object"
        for key, value in expected.items():
            assert key in stored, f"{where}.{key} is missing from the stored object"
            _contains(value, stored[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(stored, list) and len(stored) == len(expected), f"{where}: {stored!r} != {expected!r}"
        for i, (e, s) in enumerate(zip(expected, stored, strict=True)):
            _contains(e, s, f"{where}[{i}]")
    else:
        assert stored == expected, f"{where}: stored {stored!r}, kubectl meant {expected!r}"


def _user_fields(obj: dict) -> dict:
    """The object without what the server fills in per object: identity, timestamps, status, allocations."""
    obj = copy.deepcopy(obj)
    meta = obj.get("metadata", {})
    for key in ("name", "uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"):
        meta.pop(key, None)
    meta.get("labels", {}).pop("kubernetes.io/metadata.name", None)  # a namespace's own name
    meta.get("annotations", {}).pop("deployment.kubernetes.io/revision", None)  # written by a controller
    obj.pop("status", None)
    for key in ("clusterIP", "clusterIPs", "nodeName"):
        obj.get("spec", {}).pop(key, None)
    return obj


@pytest.mark.parametrize(("resource", "name", "args"), CASES, ids=[c[0] for c in CASES])
def test_protobuf_create_stores_what_kubectl_meant(cluster, binary_file, resource, name, args):
    args = [a.replace("{bin}", binary_file) for a in args]
    meant = cluster.kubectl_json(*args, "--dry-run=client")

    created = cluster.kubectl(*args, "-v=8")
    assert PROTOBUF_REQUEST in created.stderr  # the typed client really sent protobuf
    stored = cluster.kubectl_json("get", resource, name)
    _contains(meant, stored)

    # The same object sent as JSON must be stored identically, so protobuf adds nothing either.
    twin = copy.deepcopy(meant)
    twin["metadata"]["name"] = f"{name}-json"
    cluster.kubectl("create", "-f", "-", input=json.dumps(twin))
    assert _user_fields(stored) == _user_fields(cluster.kubectl_json("get", resource, f"{name}-json"))


def test_kubectl_run_pod_is_stored_as_meant(cluster):
    # kubectl run posts through its generic helper, which still sends JSON; the pod path is checked anyway.
    run = ["run", "p-pb", "--image=local/host", "--env=A=B", "--labels=a=b", "--port=8080"]
    command = ["--", "sleep", "1000"]
    meant = json.loads(cluster.kubectl(*run, "--dry-run=client", "-o", "json", *command).stdout)
    cluster.kubectl(*run, *command)
    stored = cluster.kubectl_json("get", "pod", "p-pb")
    meant.pop("status")
    _contains(meant, stored)


def test_auth_commands_send_protobuf_reviews(cluster):
    can_i = cluster.kubectl("auth", "can-i", "list", "deployments.apps", "-n", "kube-system", "-v=8")
    assert PROTOBUF_REQUEST in can_i.stderr
    assert can_i.stdout.strip() == "yes"
    whoami = cluster.kubectl("auth", "whoami")
    assert whoami.stdout.split()[:4] == ["ATTRIBUTE", "VALUE", "Username", "admin"]


def test_unknown_protobuf_field_is_refused_with_415(cluster):
    meta = bytes.fromhex("0a03") + b"bad"
    configmap = bytes.fromhex("0a05") + meta + bytes.fromhex("4801")  # metadata, then unknown field 9 = 1
    envelope = (b"k8s\x00" + bytes.fromhex("0a0f0a02") + b"v1" + bytes.fromhex("1209") + b"ConfigMap"
                + bytes([0x12, len(configmap)]) + configmap)
    request = urllib.request.Request(
        f"{cluster.url}/api/v1/namespaces/default/configmaps", data=envelope, method="POST",
        headers={"Authorization": f"Bearer {cluster.token}",
                 "Content-Type": "application/vnd.kubernetes.protobuf", "Accept": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(cluster.ca)), timeout=10)
    status = json.loads(err.value.read())
    assert err.value.code == 415
    assert status["reason"] == "UnsupportedMediaType"
    assert status["message"] == ("ConfigMap (v1) in protobuf: field 9 of k8s.io.api.core.v1.ConfigMap is not "
                                 "known to this server; send the object as JSON, e.g. kubectl apply -f")
    assert cluster.kubectl("get", "configmap", "bad", check=False).returncode != 0
