"""The real kubectl against a freshly started embedded API server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import KUBECTL

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture(scope="module", autouse=True)
def widgets(cluster):
    cluster.kubectl("apply", "-f", str(TESTDATA / "widgets-crd.yaml"))
    cluster.kubectl("wait", "--for", "condition=established", "crd/widgets.example.com", "--timeout=20s")


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_get_namespaces_prints_columns_like_a_real_cluster(cluster):
    out = cluster.kubectl("get", "namespaces").stdout
    rows = _lines(out)
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    names = {r[0]: r[1] for r in rows[1:]}
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert names[ns] == "Active"


def test_configmap_create_get_yaml_json_jsonpath(cluster):
    cluster.kubectl("create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=level=3")
    rows = _lines(cluster.kubectl("get", "configmap", "settings").stdout)
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert rows[1][:2] == ["settings", "2"]
    obj = cluster.kubectl_json("get", "cm", "settings")
    assert obj["data"] == {"mode": "fast", "level": "3"}
    assert obj["metadata"]["uid"] and obj["metadata"]["resourceVersion"].isdigit()
    assert "mode: fast" in cluster.kubectl("get", "cm", "settings", "-o", "yaml").stdout
    assert cluster.kubectl("get", "cm", "settings", "-o", "jsonpath={.data.level}").stdout == "3"


def test_apply_twice_configmap_uses_strategic_path(cluster, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: applied, labels: {tier: web}}
        data: {a: "1", b: "2"}
        """))
    assert "configmap/applied created" in cluster.kubectl("apply", "-f", str(manifest)).stdout
    manifest.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: applied, labels: {tier: db}}
        data: {a: "1", c: "3"}
        """))
    assert "configmap/applied configured" in cluster.kubectl("apply", "-f", str(manifest)).stdout
    obj = cluster.kubectl_json("get", "cm", "applied")
    assert obj["data"] == {"a": "1", "c": "3"}           # b removed by the three-way patch
    assert obj["metadata"]["labels"] == {"tier": "db"}
    assert "unchanged" in cluster.kubectl("apply", "-f", str(manifest)).stdout


def test_custom_resource_apply_twice_merge_path_defaults_and_columns(cluster, tmp_path):
    manifest = tmp_path / "w.yaml"
    manifest.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {color: red}\n")
    cluster.kubectl("apply", "-f", str(manifest))
    obj = cluster.kubectl_json("get", "widget", "w1")
    assert obj["spec"] == {"color": "red", "size": "medium", "replicas": 1}   # schema defaults
    assert obj["metadata"]["generation"] == 1
    manifest.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\n"
                        "spec: {size: large, replicas: 3}\n")
    assert "widget.example.com/w1 configured" in cluster.kubectl("apply", "-f", str(manifest)).stdout
    obj = cluster.kubectl_json("get", "wd", "w1")
    assert obj["spec"] == {"size": "large", "replicas": 3}
    assert obj["metadata"]["generation"] == 2
    rows = _lines(cluster.kubectl("get", "widgets").stdout)
    assert rows[0] == ["NAME", "SIZE", "REPLICAS", "READY", "AGE"]
    assert rows[1][:3] == ["w1", "large", "3"]


def test_get_watch_prints_each_change_once(cluster):
    cluster.kubectl("create", "configmap", "watched", "--from-literal=k=v0")
    proc = subprocess.Popen([KUBECTL, "get", "configmap", "watched", "-w", "-o", "jsonpath={.data.k}{'\\n'}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env())
    try:
        time.sleep(1.5)
        for i in (1, 2, 3):
            cluster.kubectl("patch", "configmap", "watched", "-p", json.dumps({"data": {"k": f"v{i}"}}))
            time.sleep(0.3)
        time.sleep(1.0)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert out.split() == ["v0", "v1", "v2", "v3"]


def test_edit_through_scripted_editor(cluster, tmp_path):
    cluster.kubectl("create", "configmap", "edited", "--from-literal=color=blue")
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\np = sys.argv[1]\ns = open(p).read().replace('color: blue', 'color: green')\n"
                      "open(p, 'w').write(s)\n")
    out = cluster.kubectl("edit", "configmap", "edited",
                          env={"KUBE_EDITOR": f"{sys.executable} {editor}"}).stdout
    assert "configmap/edited edited" in out
    assert cluster.kubectl_json("get", "cm", "edited")["data"] == {"color": "green"}


def test_label_annotate_and_selectors(cluster):
    cluster.kubectl("create", "configmap", "lab1")
    cluster.kubectl("create", "configmap", "lab2")
    cluster.kubectl("label", "configmap", "lab1", "app=web", "tier=front")
    cluster.kubectl("label", "configmap", "lab2", "app=db")
    cluster.kubectl("annotate", "configmap", "lab1", "note=hello world")
    obj = cluster.kubectl_json("get", "cm", "lab1")
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert obj["metadata"]["annotations"]["note"] == "hello world"
    names = cluster.kubectl("get", "cm", "-l", "app in (web,db)", "-o", "name").stdout.split()
    assert names == ["configmap/lab1", "configmap/lab2"]
    assert cluster.kubectl("get", "cm", "-l", "app!=web,app", "-o", "name").stdout.split() == ["configmap/lab2"]
    assert cluster.kubectl("get", "cm", "--field-selector", "metadata.name=lab2", "-o", "name").stdout.split() == \
        ["configmap/lab2"]
    cluster.kubectl("label", "configmap", "lab1", "tier-")
    assert cluster.kubectl_json("get", "cm", "lab1")["metadata"]["labels"] == {"app": "web"}
    rows = _lines(cluster.kubectl("get", "cm", "lab1", "lab2", "-L", "app").stdout)
    assert rows[0][-1] == "APP" and rows[1][-1] == "web" and rows[2][-1] == "db"


def test_patch_json_merge_strategic_and_status(cluster):
    cluster.kubectl("create", "configmap", "patched", "--from-literal=a=1")
    cluster.kubectl("patch", "cm", "patched", "--type", "json", "-p",
                    '[{"op":"test","path":"/data/a","value":"1"},{"op":"add","path":"/data/b","value":"2"}]')
    cluster.kubectl("patch", "cm", "patched", "--type", "merge", "-p", '{"data":{"a":null}}')
    cluster.kubectl("patch", "cm", "patched", "-p", '{"data":{"c":"3"}}')   # strategic is the default
    assert cluster.kubectl_json("get", "cm", "patched")["data"] == {"b": "2", "c": "3"}
    failed = cluster.kubectl("patch", "cm", "patched", "--type", "json", "-p",
                             '[{"op":"test","path":"/data/b","value":"nope"}]', check=False)
    assert failed.returncode != 0 and "test" in failed.stderr.lower()

    cluster.kubectl("apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: st}\n"
                                               "spec: {replicas: 2}\n")
    smp = cluster.kubectl("patch", "widget", "st", "-p", '{"spec":{"replicas":4}}', check=False)
    assert smp.returncode != 0 and "application/strategic-merge-patch+json is not supported" in smp.stderr
    cluster.kubectl("patch", "widget", "st", "--type", "merge", "--subresource=status",
                    "-p", '{"status":{"replicas":2,"conditions":[{"type":"Ready","status":"True"}]},'
                          '"spec":{"replicas":9}}')
    obj = cluster.kubectl_json("get", "widget", "st")
    assert obj["status"]["replicas"] == 2
    assert obj["spec"]["replicas"] == 2          # spec is not written through /status
    assert obj["metadata"]["generation"] == 1    # nor does a status write bump the generation
    rows = _lines(cluster.kubectl("get", "widget", "st").stdout)
    assert rows[1][:4] == ["st", "medium", "2", "True"]


def test_scale_subresource(cluster):
    cluster.kubectl("apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: sc}\n")
    out = cluster.kubectl("scale", "widget", "sc", "--replicas=5").stdout
    assert "scaled" in out
    assert cluster.kubectl_json("get", "widget", "sc")["spec"]["replicas"] == 5


def test_describe_shows_events(cluster):
    cluster.kubectl("create", "configmap", "described", "--from-literal=x=y")
    uid = cluster.kubectl_json("get", "cm", "described")["metadata"]["uid"]
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "described.17a0"},
        "involvedObject": {"kind": "ConfigMap", "name": "described", "namespace": "default", "uid": uid,
                           "apiVersion": "v1"},
        "reason": "Checked", "message": "the config was checked", "type": "Normal",
        "source": {"component": "tester"},
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(event))
    out = cluster.kubectl("describe", "configmap", "described").stdout
    assert "Name:" in out and "described" in out
    assert "Checked" in out and "the config was checked" in out
    rows = _lines(cluster.kubectl("get", "events").stdout)
    assert rows[0][:5] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT"]


def test_delete_waits_for_finalizer(cluster):
    cluster.kubectl("apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Widget\n"
                                               "metadata: {name: held, finalizers: [example.com/hold]}\n")
    proc = subprocess.Popen([KUBECTL, "delete", "widget", "held", "--timeout=30s"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cluster.env())
    time.sleep(2)
    assert proc.poll() is None, "delete returned while the finalizer still holds the object"
    obj = cluster.kubectl_json("get", "widget", "held")
    assert obj["metadata"]["deletionTimestamp"]
    cluster.kubectl("patch", "widget", "held", "--type", "json", "-p",
                    '[{"op":"remove","path":"/metadata/finalizers"}]')
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert 'widget.example.com "held" deleted' in out
    assert cluster.kubectl("get", "widget", "held", check=False).returncode != 0


def test_wait_for_condition_and_delete(cluster):
    cluster.kubectl("apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: waited}\n")
    waiter = subprocess.Popen([KUBECTL, "wait", "--for=condition=Ready", "widget/waited", "--timeout=30s"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env())
    time.sleep(1)
    cluster.kubectl("patch", "widget", "waited", "--type", "merge", "--subresource=status",
                    "-p", '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}')
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert "condition met" in out
    deleter = subprocess.Popen([KUBECTL, "wait", "--for=delete", "widget/waited", "--timeout=30s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env())
    time.sleep(1)
    cluster.kubectl("delete", "widget", "waited", "--wait=false")
    out, err = deleter.communicate(timeout=30)
    assert deleter.returncode == 0, err


def test_api_resources_get_all_and_explain(cluster):
    out = cluster.kubectl("api-resources").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {r[0]: r for r in _lines(out)[1:]}
    assert rows["virtualmachines"][1:] == ["vm,vms", "kubevirt.io/v1", "true", "VirtualMachine"]
    assert rows["pods"][1:] == ["po", "v1", "true", "Pod"]
    cluster.kubectl("apply", "-f", "-", input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: inall}\n")
    assert "widget.example.com/inall" in cluster.kubectl("get", "all").stdout
    explained = cluster.kubectl("explain", "widgets.spec.size").stdout
    assert "How big the widget is." in explained
    vm = cluster.kubectl("explain", "virtualmachine.spec").stdout
    assert "runStrategy" in vm


def test_namespace_lifecycle_deletes_contents(cluster):
    cluster.kubectl("create", "namespace", "doomed")
    cluster.kubectl("-n", "doomed", "create", "configmap", "inside")
    cluster.kubectl("-n", "doomed", "apply", "-f", "-",
                    input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: wi}\n")
    assert cluster.kubectl_json("-n", "doomed", "get", "serviceaccount", "default")["metadata"]["name"] == "default"
    out = cluster.kubectl("delete", "namespace", "doomed", "--timeout=30s").stdout
    assert 'namespace "doomed" deleted' in out
    assert cluster.kubectl("get", "namespace", "doomed", check=False).returncode != 0


def test_server_side_dry_run_does_not_persist(cluster):
    out = cluster.kubectl("create", "configmap", "dry", "--dry-run=server", "-o", "name").stdout
    assert out.strip() == "configmap/dry"
    assert cluster.kubectl("get", "cm", "dry", check=False).returncode != 0


def test_kubectl_errors_read_like_kubernetes(cluster):
    missing = cluster.kubectl("get", "cm", "nope", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): configmaps "nope" not found' in missing.stderr
    dup = cluster.kubectl("create", "namespace", "default", check=False)
    assert 'Error from server (AlreadyExists): namespaces "default" already exists' in dup.stderr
    bad = cluster.kubectl("apply", "-f", "-", check=False,
                          input="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: badw}\n"
                                "spec: {size: huge, replicas: -1}\n")
    assert bad.returncode != 0
    assert 'The Widget "badw" is invalid' in bad.stderr
    assert 'spec.size: Unsupported value: "huge"' in bad.stderr
    assert "spec.replicas" in bad.stderr
    unknown = cluster.kubectl("apply", "-f", "-", check=False,
                              input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unk}\nbogus: 1\n")
    assert unknown.returncode != 0 and 'unknown field "bogus"' in unknown.stderr


def test_unauthenticated_kubectl_is_refused(cluster, tmp_path):
    config = tmp_path / "anon.yaml"
    text = cluster.kubeconfig.read_text()
    import yaml

    doc = yaml.safe_load(text)
    doc["users"][0]["user"] = {"token": "not-a-valid-token"}
    config.write_text(yaml.safe_dump(doc))
    proc = cluster.kubectl("get", "pods", check=False, env={"KUBECONFIG": str(config)})
    assert proc.returncode != 0
    assert "must be logged in" in proc.stderr or "Unauthorized" in proc.stderr
    assert os.environ.get("KUBECONFIG") != str(config)


def test_create_token_for_a_service_account_authenticates_as_it(cluster, tmp_path):
    token = cluster.kubectl("create", "token", "default").stdout.strip()
    assert len(token) > 20
    import yaml

    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    doc["users"][0]["user"] = {"token": token}
    config = tmp_path / "sa.yaml"
    config.write_text(yaml.safe_dump(doc))
    who = cluster.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}",
                          env={"KUBECONFIG": str(config)}).stdout
    assert who == "system:serviceaccount:default:default"
