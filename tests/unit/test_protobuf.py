"""The protobuf body decoder: real kubectl 1.37 bodies, and hand-built bytes for each wire-format case."""

from __future__ import annotations

import pytest

from cluster.apiserver import protobuf, protobuf_messages
from cluster.apiserver.protobuf import ProtobufError, decode_object, go_duration

# Request bodies captured from `kubectl -v=8` (client v1.37.1) against the embedded API server.
KUBECTL_CONFIGMAP = (  # kubectl create configmap x --from-literal=a=b
    "6b3873000a0f0a0276311209436f6e6669674d6170121b0a110a017812001a0022002a00320038004200120"
    "60a0161120162" "1a002200")
KUBECTL_DEPLOYMENT = (  # kubectl create deployment d3 --image=nginx --replicas=0
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412a7010a1d0a02643312001a0022002a003200380042005a"
    "090a036170701202643312780800120b0a090a03617070120264331a5f0a1b0a0012001a0022002a003200380042005a090a03"
    "61707012026433124012220a056e67696e7812056e67696e782a0042006a007200800100880100900100a201001a0032004200"
    "4a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200")
KUBECTL_SERVICE = (  # kubectl create service clusterip svc9 --tcp=80:8080 --tcp=443:https
    "6b3873000a0d0a0276311207536572766963651290010a210a047376633912001a0022002a003200380042005a0b0a036170"
    "7012047376633912670a1b0a0738302d38303830120354435018502207080010903f1a0028000a220a093434332d68747470"
    "73120354435018bb03220b080110001a0568747470732800120b0a036170701204737663391a002209436c75737465724950"
    "3a00420052005a00600068001a020a001a002200")
KUBECTL_SECRET = (  # kubectl create secret generic s9 --from-file=bin=<the bytes 00 01 ff>
    "6b3873000a0c0a027631120653656372657412220a120a02733912001a0022002a00320038004200120a0a0362696e120300"
    "01ff1a001a002200")
KUBECTL_TOKEN_REQUEST = (  # kubectl create token sa1 --duration=10m --audience=a --bound-object-kind=Pod ...
    "6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565737412300a10"
    "0a0012001a0022002a0032003800420012160a01611a0e0a03506f64120276311a0170220020d8041a040a0012001a002200")
KUBECTL_ACCESS_REVIEW = (  # kubectl auth can-i list deployments.apps --subresource=scale -n kube-system
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a6563744163636573"
    "7352657669657712510a100a0012001a0022002a0032003800420012330a310a0b6b7562652d73797374656d12046c6973"
    "741a046170707322002a0b6465706c6f796d656e747332057363616c653a001a08080012001a0020001a002200")

FIX = "send the object as JSON, e.g. kubectl apply -f"


# -- a tiny encoder, to hand-build bodies ---------------------------------------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative numbers travel as 10-byte two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def ld(number: int, *parts: bytes | str) -> bytes:
    """A length-delimited field: a string, bytes, or a message built from parts."""
    data = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes) -> bytes:
    return ld(number, ld(1, key), value)


def body(api_version: str, kind: str, *fields: bytes) -> bytes:
    return b"k8s\x00" + ld(1, ld(1, api_version), ld(2, kind)) + ld(2, *fields) + ld(3, "") + ld(4, "")


def empty_meta(name: str) -> bytes:
    """ObjectMeta as gogo-protobuf writes it: every value field present, even when empty."""
    return ld(1, ld(1, name), ld(2, ""), ld(3, ""), ld(4, ""), ld(5, ""), ld(6, ""), num(7, 0), ld(8))


# -- real kubectl bodies ------------------------------------------------------------------

def test_kubectl_configmap_decodes_to_what_kubectl_would_send_as_json():
    assert decode_object(bytes.fromhex(KUBECTL_CONFIGMAP)) == {
        "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"}, "data": {"a": "b"}}


def test_kubectl_deployment_keeps_zero_replicas_and_drops_empty_value_fields():
    assert decode_object(bytes.fromhex(KUBECTL_DEPLOYMENT)) == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "d3", "labels": {"app": "d3"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "d3"}},
            "template": {"metadata": {"labels": {"app": "d3"}},
                         "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
            "strategy": {},
        },
        "status": {},
    }


def test_kubectl_service_ports_carry_int_and_named_target_ports():
    assert decode_object(bytes.fromhex(KUBECTL_SERVICE)) == {
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "svc9", "labels": {"app": "svc9"}},
        "spec": {
            "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                      {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"}],
            "selector": {"app": "svc9"},
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    }


def test_kubectl_secret_bytes_become_base64():
    assert decode_object(bytes.fromhex(KUBECTL_SECRET)) == {
        "kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s9"}, "data": {"bin": "AAH/"}}


def test_kubectl_token_request():
    assert decode_object(bytes.fromhex(KUBECTL_TOKEN_REQUEST)) == {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
        "spec": {"audiences": ["a"], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"},
                 "expirationSeconds": 600},
        "status": {"token": ""},
    }


def test_kubectl_self_subject_access_review():
    assert decode_object(bytes.fromhex(KUBECTL_ACCESS_REVIEW)) == {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "kube-system", "verb": "list", "group": "apps",
                                        "resource": "deployments", "subresource": "scale"}},
        "status": {"allowed": False},
    }


# -- wire format on hand-built bytes -------------------------------------------------------

def test_varints_multi_byte_and_negative():
    container = ld(2, ld(1, "c"), ld(6, num(3, 8080)))
    status = ld(3, ld(8, ld(1, "c"), ld(2, ld(3, num(1, -1))), num(4, 0), num(5, 0)))
    pod = decode_object(body("v1", "Pod", empty_meta("p"), ld(2, container, num(4, 2**40)), status))
    assert pod["spec"] == {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}],
                           "terminationGracePeriodSeconds": 2**40}
    # exitCode -1 arrives as a 10-byte varint; ready and restartCount print even when zero.
    assert pod["status"] == {"containerStatuses": [
        {"name": "c", "state": {"terminated": {"exitCode": -1}}, "ready": False, "restartCount": 0}]}


def test_packed_and_unpacked_repeated_scalars_decode_alike():
    packed = ld(14, ld(4, varint(1000) + varint(2000)))
    unpacked = ld(14, num(4, 1000), num(4, 2000))
    for security in (packed, unpacked):
        pod = decode_object(body("v1", "Pod", empty_meta("p"), ld(2, security)))
        assert pod["spec"] == {"securityContext": {"supplementalGroups": [1000, 2000]}}


def test_nested_messages_maps_quantities_and_int_or_string():
    probe = ld(10, ld(1, ld(2, ld(1, "/healthz"), ld(2, num(1, 1), ld(3, "http")))), num(2, 0), num(3, 5))
    env = ld(7, ld(1, "A"), ld(3, ld(3, ld(1, ld(1, "cm")), ld(2, "k"))))
    resources = ld(8, entry(1, "cpu", ld(2, ld(1, "500m"))), entry(2, "memory", ld(2, ld(1, "64Mi"))))
    container = ld(2, ld(1, "c"), ld(2, "img"), ld(3, "sleep"), ld(3, "10"), env, resources, probe,
                   ld(15, num(2, 0)))
    volume = ld(1, ld(1, "data"), ld(2, ld(2, ld(1, ""))))
    meta = ld(1, ld(1, "p"), entry(11, "app", ld(2, "web")), entry(12, "note", ld(2, "")))
    pod = decode_object(body("v1", "Pod", meta, ld(2, volume, container, num(11, 0))))
    assert pod == {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "p", "labels": {"app": "web"}, "annotations": {"note": ""}},
        "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],  # VolumeSource is inlined into Volume
            "containers": [{
                "name": "c", "image": "img", "command": ["sleep", "10"],
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
                "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "timeoutSeconds": 5},
                "securityContext": {"privileged": False},  # a pointer: false was set on purpose
            }],
        },
    }


def test_times_pointers_and_bytes():
    lease_spec = ld(2, ld(1, ""), num(2, 0), ld(4, num(1, 1700000000), num(2, 123456789)), ld(3))
    lease = decode_object(body("coordination.k8s.io/v1", "Lease", empty_meta("l"), lease_spec))
    assert lease["spec"] == {"holderIdentity": "", "leaseDurationSeconds": 0,
                             "renewTime": "2023-11-14T22:13:20.123456Z"}  # the empty acquireTime is zero
    secret = decode_object(body("v1", "Secret", ld(1, ld(1, "s"), ld(9, num(1, 1700000000))),
                                entry(2, "k", ld(2, b"\x00\xff")), ld(3, "Opaque"), num(5, 0)))
    assert secret == {"kind": "Secret", "apiVersion": "v1",
                      "metadata": {"name": "s", "deletionTimestamp": "2023-11-14T22:13:20Z"},
                      "data": {"k": "AP8="}, "type": "Opaque", "immutable": False}


@pytest.mark.parametrize("api_version", ["v1", "meta.k8s.io/v1", "policy/v1"])
def test_delete_options_under_any_api_version(api_version):
    options = decode_object(body(api_version, "DeleteOptions", num(1, 0), ld(4, "Foreground"),
                                 ld(2, ld(1, "uid-1"))))
    assert options == {"kind": "DeleteOptions", "apiVersion": api_version, "gracePeriodSeconds": 0,
                       "propagationPolicy": "Foreground", "preconditions": {"uid": "uid-1"}}


def test_eviction_embeds_delete_options():
    eviction = decode_object(body("policy/v1", "Eviction", ld(1, ld(1, "p"), ld(3, "default")),
                                  ld(2, num(1, 30))))
    assert eviction == {"kind": "Eviction", "apiVersion": "policy/v1",
                        "metadata": {"name": "p", "namespace": "default"},
                        "deleteOptions": {"gracePeriodSeconds": 30}}


# -- errors --------------------------------------------------------------------------------

def test_unknown_field_is_refused_with_its_message_and_path():
    with pytest.raises(ProtobufError) as err:
        decode_object(body("v1", "Pod", empty_meta("p"), ld(2, num(99, 1))))
    assert str(err.value) == ("Pod (v1) in protobuf: field 99 of k8s.io.api.core.v1.PodSpec (at spec) is not "
                              f"known to this server; {FIX}")


def test_unknown_field_deep_in_a_list_names_the_element():
    containers = ld(2, ld(1, "a")) + ld(2, ld(1, "b"), num(77, 1))
    with pytest.raises(ProtobufError) as err:
        decode_object(body("apps/v1", "Deployment", empty_meta("d"), ld(2, ld(3, ld(2, containers)))))
    assert str(err.value) == ("Deployment (apps/v1) in protobuf: field 77 of k8s.io.api.core.v1.Container "
                              f"(at spec.template.spec.containers[1]) is not known to this server; {FIX}")


def test_unsupported_kind():
    with pytest.raises(ProtobufError) as err:
        decode_object(body("batch/v1", "CronJob", empty_meta("c")))
    assert str(err.value) == f"protobuf bodies of kind CronJob (batch/v1) are not supported by this server; {FIX}"


def test_wrong_wire_type_names_field_and_message():
    with pytest.raises(ProtobufError) as err:
        decode_object(body("v1", "ConfigMap", ld(1, num(1, 5))))
    assert str(err.value) == ("ConfigMap (v1) in protobuf: field 1 (name) of k8s.io.apimachinery.pkg.apis.meta.v1."
                              f"ObjectMeta arrived as varint, but this server expects length-delimited; {FIX}")


def test_missing_prefix_and_truncation():
    with pytest.raises(ProtobufError) as err:
        decode_object(b'{"kind": "ConfigMap"}')
    assert str(err.value) == ("the request body is not a Kubernetes protobuf message (it lacks the k8s\\x00 "
                              f"prefix); {FIX}")
    truncated = b"k8s\x00" + ld(1, ld(1, "v1"), ld(2, "ConfigMap")) + varint(2 << 3 | 2) + varint(100) + b"abc"
    with pytest.raises(ProtobufError) as err:
        decode_object(truncated)
    assert str(err.value) == ("field 2 of k8s.io.apimachinery.pkg.runtime.Unknown is truncated (100 bytes "
                              f"announced, 3 left); {FIX}")


def test_groups_are_refused():
    with pytest.raises(ProtobufError) as err:
        decode_object(body("v1", "ConfigMap", varint(5 << 3 | 3)))
    assert str(err.value) == ("ConfigMap (v1) in protobuf: field 5 of k8s.io.api.core.v1.ConfigMap uses wire "
                              f"type 3 (group start), which Kubernetes never sends; {FIX}")


# -- the table itself ----------------------------------------------------------------------

def test_every_message_type_the_table_names_is_in_the_table():
    for package, messages in protobuf_messages.MESSAGES.items():
        for name in messages:
            for field in protobuf.schema(f"{package}.{name}").values():
                if field.message:
                    protobuf.schema(field.message)  # raises ProtobufError if missing
    for message in protobuf_messages.KINDS.values():
        assert protobuf.schema(message)


@pytest.mark.parametrize(("ns", "text"), [(0, "0s"), (1, "1ns"), (1_500, "1.5µs"), (1_500_000, "1.5ms"),
                                          (90_000_000_000, "1m30s"), (3_723_500_000_000, "1h2m3.5s"),
                                          (-2_000_000_000, "-2s"), (3_600_000_000_000, "1h0m0s")])
def test_go_duration(ns, text):
    assert go_duration(ns) == text
