"""The `kubernetes` Python client against the embedded API server: CRUD, watch, errors."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from .conftest import start_cluster

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture(scope="module", autouse=True)
def widgets(cluster):
    cluster.kubectl("apply", "-f", str(TESTDATA / "widgets-crd.yaml"))
    cluster.kubectl("wait", "--for", "condition=established", "crd/widgets.example.com", "--timeout=20s")


def test_core_crud(api):
    v1 = client.CoreV1Api(api)
    created = v1.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="py-cm", labels={"app": "py"}), data={"k": "v"}))
    assert created.metadata.uid and created.metadata.resource_version
    got = v1.read_namespaced_config_map("py-cm", "default")
    assert got.data == {"k": "v"}
    got.data["k"] = "v2"
    replaced = v1.replace_namespaced_config_map("py-cm", "default", got)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = v1.patch_namespaced_config_map("py-cm", "default", {"data": {"extra": "1"}})
    assert patched.data == {"k": "v2", "extra": "1"}
    listed = v1.list_namespaced_config_map("default", label_selector="app=py")
    assert [i.metadata.name for i in listed.items] == ["py-cm"]
    v1.delete_namespaced_config_map("py-cm", "default")
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_config_map("py-cm", "default")
    assert err.value.status == 404


def test_custom_objects_crud(api):
    co = client.CustomObjectsApi(api)
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "pyw"}, "spec": {"size": "small"}}
    created = co.create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    assert created["spec"] == {"size": "small", "replicas": 1}
    patched = co.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "pyw",
                                                {"spec": {"color": "blue"}})
    assert patched["spec"]["color"] == "blue"
    old = co.get_namespaced_custom_object("example.com", "v1beta1", "default", "widgets", "pyw")
    assert old["apiVersion"] == "example.com/v1beta1"
    items = co.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["items"]
    assert "pyw" in [i["metadata"]["name"] for i in items]
    co.delete_namespaced_custom_object("example.com", "v1", "default", "widgets", "pyw")


def test_stale_update_conflicts(api):
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "race"}, "data": {"n": "0"}})
    first = v1.read_namespaced_config_map("race", "default")
    second = v1.read_namespaced_config_map("race", "default")
    first.data["n"] = "1"
    v1.replace_namespaced_config_map("race", "default", first)
    second.data["n"] = "2"
    with pytest.raises(ApiException) as err:
        v1.replace_namespaced_config_map("race", "default", second)
    assert err.value.status == 409
    assert "the object has been modified" in err.value.body
    assert v1.read_namespaced_config_map("race", "default").data == {"n": "1"}


def test_schema_violation_is_422_listing_each_field(api):
    co = client.CustomObjectsApi(api)
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"},
            "spec": {"size": "huge", "replicas": "many"}}
    with pytest.raises(ApiException) as err:
        co.create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    assert err.value.status == 422
    assert "spec.size" in err.value.body and "spec.replicas" in err.value.body
    with pytest.raises(ApiException):
        co.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "bad")


def _watch_until_deleted(v1, writes, **selector) -> list[tuple[str, str, str]]:
    """Watch ConfigMaps in "default" with `selector` from the current version while `writes` runs
    in a thread, until a DELETED event: each event's (type, name, resourceVersion)."""
    start = v1.list_namespaced_config_map("default").metadata.resource_version

    def writer() -> None:
        time.sleep(0.5)
        writes()

    threading.Thread(target=writer).start()
    seen = []
    w = watch.Watch()
    for event in w.stream(v1.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=10,
                          **selector):
        seen.append((event["type"], event["object"].metadata.name, event["object"].metadata.resource_version))
        if event["type"] == "DELETED":
            w.stop()
    return seen


def test_watch_stream_and_resume(api):
    v1 = client.CoreV1Api(api)

    def writes() -> None:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "w-a", "labels": {"w": "1"}}})
        v1.patch_namespaced_config_map("w-a", "default", {"data": {"x": "1"}})
        v1.delete_namespaced_config_map("w-a", "default")

    seen = _watch_until_deleted(v1, writes, label_selector="w=1")
    assert [s[:2] for s in seen] == [("ADDED", "w-a"), ("MODIFIED", "w-a"), ("DELETED", "w-a")]
    # Resume after the first event: the rest is replayed exactly once.
    replay = []
    for event in watch.Watch().stream(v1.list_namespaced_config_map, "default", label_selector="w=1",
                                      resource_version=seen[0][2], timeout_seconds=2):
        replay.append(event["type"])
    assert replay == ["MODIFIED", "DELETED"]


def test_a_watch_by_name_sees_that_object_alone(api):
    v1 = client.CoreV1Api(api)

    def writes() -> None:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "byname-other"}})
        v1.create_namespaced_config_map("default", {"metadata": {"name": "byname"}})
        v1.patch_namespaced_config_map("byname-other", "default", {"data": {"x": "1"}})
        v1.patch_namespaced_config_map("byname", "default", {"data": {"x": "1"}})
        v1.delete_namespaced_config_map("byname", "default")

    seen = _watch_until_deleted(v1, writes, field_selector="metadata.name=byname")
    assert [s[:2] for s in seen] == [("ADDED", "byname"), ("MODIFIED", "byname"), ("DELETED", "byname")]
    # Cluster-scoped objects too, and a name combined with a label selector.
    v1.create_namespace({"metadata": {"name": "byname-ns", "labels": {"t": "1"}}})
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        v1.list_namespace, field_selector="metadata.name=byname-ns", label_selector="t=1",
        resource_version="0", timeout_seconds=1)]
    assert events == [("ADDED", "byname-ns")]


def test_watch_from_zero_sends_synthetic_added(api):
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "synth", "labels": {"s": "1"}}})
    events = [e["type"] for e in watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                                       label_selector="s=1", resource_version="0",
                                                       timeout_seconds=1)]
    assert events == ["ADDED"]


def test_watch_label_transition_is_added_then_deleted(api):
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "trans"}})
    start = v1.list_namespaced_config_map("default").metadata.resource_version

    def writer() -> None:
        time.sleep(0.3)
        v1.patch_namespaced_config_map("trans", "default", {"metadata": {"labels": {"pick": "me"}}})
        v1.patch_namespaced_config_map("trans", "default", {"metadata": {"labels": {"pick": None}}})

    threading.Thread(target=writer).start()
    events = []
    for e in watch.Watch().stream(v1.list_namespaced_config_map, "default", label_selector="pick=me",
                                  resource_version=start, timeout_seconds=3):
        events.append(e["type"])
    assert events == ["ADDED", "DELETED"]


def test_watch_below_compaction_floor_is_410(tmp_path):
    from kubernetes import config

    c = start_cluster(tmp_path, ["--compact-interval", "0.2", "--compact-retain", "5"])
    try:
        api_client = config.new_client_from_config(str(c.kubeconfig))
        v1 = client.CoreV1Api(api_client)
        first = v1.create_namespaced_config_map("default", {"metadata": {"name": "c0"}}).metadata.resource_version
        for i in range(1, 20):
            v1.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        time.sleep(1.0)   # several compaction rounds
        with pytest.raises(ApiException) as err:
            for _ in watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=first,
                                          timeout_seconds=2):
                pass
        assert err.value.status == 410
        # A list is never too old: it serves the current state.
        assert len(v1.list_namespaced_config_map("default").items) >= 20
        api_client.close()
    finally:
        c.handle.stop()


def _raw(cluster, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
         token: str | None = "admin") -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(cluster.ca))
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {cluster.token if token == 'admin' else token}"
    req = urllib.request.Request(cluster.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode()
        try:   # a Status body: return its message and reason, unescaped, for the assertions
            status = json.loads(text)
            return exc.code, f"{status['reason']}: {status['message']}"
        except (ValueError, KeyError):
            return exc.code, text


def _state(cluster) -> str:
    return cluster.kubectl("get", "cm", "-o", "jsonpath={.items[*].metadata.name}").stdout


def test_bad_input_gets_clear_errors_and_changes_nothing(cluster):
    before = _state(cluster)
    path = "/api/v1/namespaces/default/configmaps"
    code, body = _raw(cluster, "POST", path, b'{"metadata": {"name": "x"')
    assert code == 400 and "not valid JSON" in body
    code, body = _raw(cluster, "POST", path, b"metadata: [unclosed", "application/yaml")
    assert code == 400 and "not valid YAML" in body
    code, body = _raw(cluster, "POST", path + "?fieldValidation=Strict",
                      b'{"metadata": {"name": "strict"}, "dataa": {}}')
    assert code == 400 and 'unknown field "dataa"' in body
    code, body = _raw(cluster, "POST", path, b'{"metadata": {"name": "x", "namespace": "kube-system"}}')
    assert code == 400 and "does not match the namespace" in body
    code, body = _raw(cluster, "POST", path, b'{"metadata": {"name": "x"}}', token=None)
    assert code == 401 and body.startswith("Unauthorized")
    code, body = _raw(cluster, "POST", path, b'{"metadata": {"name": "x"}}', token="wrong-token")
    assert code == 401
    big = b'{"metadata": {"name": "big"}, "data": {"k": "' + b"x" * (4 * 1024 * 1024) + b'"}}'
    code, body = _raw(cluster, "POST", path, big)
    assert code == 413
    code, body = _raw(cluster, "POST", "/apis/example.com/v1/namespaces/default/widgets",
                      b'{"metadata": {"name": "inv"}, "spec": {"replicas": -3, "size": 1}}')
    assert code == 422 and "spec.replicas" in body and "spec.size" in body
    assert _state(cluster) == before


def test_health_and_version_endpoints(cluster):
    ctx = ssl.create_default_context(cafile=str(cluster.ca))
    with urllib.request.urlopen(cluster.url + "/readyz", context=ctx) as resp:
        assert resp.read() == b"ok"
    code, body = _raw(cluster, "GET", "/version")
    assert code == 200 and '"gitVersion":"v1.37.0-kvtui"' in body
    code, _ = _raw(cluster, "GET", "/openapi/v2")
    assert code == 404
